package kafka

import (
	"errors"
	"net"
	"strings"
	"syscall"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

func TestEmbeddedOnPortZeroReportsItsRealAddress(t *testing.T) {
	e := startEmbedded(t)
	addrs := e.Addrs()
	if len(addrs) != 1 {
		t.Fatalf("Addrs = %v, want one broker", addrs)
	}
	host, port, err := net.SplitHostPort(addrs[0])
	if err != nil || host != "127.0.0.1" || port == "0" {
		t.Fatalf("Addrs = %v, want 127.0.0.1:<real port>", addrs)
	}
}

func TestEmbeddedIsReachableFromASeparateClient(t *testing.T) {
	e := startEmbedded(t)
	cl, err := kgo.NewClient(kgo.SeedBrokers(e.Addrs()...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ctx := testContext(t)
	if _, err := adm.CreateTopic(ctx, 3, 1, nil, "reach"); err != nil {
		t.Fatal(err)
	}
	brokers, err := adm.ListBrokers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(brokers) != 1 {
		t.Fatalf("brokers = %v, want one", brokers)
	}
	franzRoundTrip(t, []kgo.Opt{kgo.SeedBrokers(e.Addrs()...)}, "reach")
}

func TestEmbeddedOnUnspecifiedHostAdvertisesLoopback(t *testing.T) {
	for _, listen := range []string{":0", "0.0.0.0:0"} {
		t.Run(listen, func(t *testing.T) {
			e, err := StartEmbedded(listen)
			if err != nil {
				t.Fatal(err)
			}
			defer e.Close()
			addr := e.Addrs()[0]
			if !strings.HasPrefix(addr, "127.0.0.1:") || strings.HasSuffix(addr, ":0") {
				t.Fatalf("Addrs = %v, want 127.0.0.1:<port>", e.Addrs())
			}
			cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Close()
			if err := cl.Ping(testContext(t)); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestEmbeddedOnTakenPortSaysWhoMightHoldIt(t *testing.T) {
	e := startEmbedded(t)
	_, err := StartEmbedded(e.Addrs()[0])
	if !errors.Is(err, syscall.EADDRINUSE) {
		t.Fatalf("err = %v, want EADDRINUSE", err)
	}
	want := "kafka: embedded broker: listen " + e.Addrs()[0] + ": address already in use — is another streamhub dev running?"
	if err.Error() != want {
		t.Fatalf("err = %q\nwant  %q", err, want)
	}
}

func TestEmbeddedRefusesAListenAddressWithoutPort(t *testing.T) {
	if _, err := StartEmbedded("localhost"); err == nil || !strings.Contains(err.Error(), `listen address "localhost"`) {
		t.Fatalf("err = %v", err)
	}
}

func TestEmbeddedCloseTwiceIsSafe(t *testing.T) {
	e, err := StartEmbedded("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e.Close()
	e.Close()
	if c, err := net.Dial("tcp", e.Addrs()[0]); err == nil {
		c.Close()
		t.Fatal("the listener still accepts after Close")
	}
}
