package kafka

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"syscall"
	"testing"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/streamhub/streamhub/topology"
)

func TestConnectEmbeddedStartsABrokerAndCloseStopsIt(t *testing.T) {
	ctx := testContext(t)
	k := testKafka("embedded")
	k.TLS = &topology.TLS{CAFile: "/nonexistent/ca.pem"} // ignored: the embedded broker is plaintext
	conn, err := Connect(ctx, k)
	if err != nil {
		t.Fatal(err)
	}
	brokers := conn.Brokers()
	if len(brokers) != 1 || strings.HasSuffix(brokers[0], ":0") || conn.Embedded() == nil {
		t.Fatalf("Brokers = %v, Embedded = %v", brokers, conn.Embedded())
	}
	if err := conn.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	conn.Close()
	if c, err := net.Dial("tcp", brokers[0]); err == nil {
		c.Close()
		t.Fatal("the embedded broker still listens after Close")
	}
}

func TestConnectEmbeddedOnTakenPortFails(t *testing.T) {
	e := startEmbedded(t)
	k := testKafka("embedded")
	k.EmbeddedListen = e.Addrs()[0]
	_, err := Connect(testContext(t), k)
	if !errors.Is(err, syscall.EADDRINUSE) || !strings.Contains(err.Error(), "is another streamhub dev running?") {
		t.Fatalf("err = %v", err)
	}
}

func TestConnectToRealBrokersDoesNotDial(t *testing.T) {
	conn, err := Connect(testContext(t), testKafka("kafka-1.invalid:9092", "kafka-2.invalid:9092"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if conn.Embedded() != nil || len(conn.Brokers()) != 2 {
		t.Fatalf("Brokers = %v, Embedded = %v", conn.Brokers(), conn.Embedded())
	}
}

func TestPingUnreachableBrokerNamesAddressAndCause(t *testing.T) {
	// A port that was free a moment ago: nothing listens there.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()

	conn, err := Connect(testContext(t), testKafka(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	err = conn.Ping(testContext(t))
	var pe *PingError
	if !errors.As(err, &pe) || !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("err = %v, want a *PingError wrapping ECONNREFUSED", err)
	}
	msg := err.Error()
	for _, want := range []string{"kafka: no broker reachable at " + addr + ": ", "connection refused", " — is the address right? is the broker running?"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q lacks %q", msg, want)
		}
	}
}

func TestPingHints(t *testing.T) {
	sasl := testKafka("b:9092")
	sasl.SASL = &topology.SASL{Mechanism: topology.SASLScram512, Username: "u", Password: "p"}
	tests := []struct {
		name string
		err  error
		k    topology.Kafka
		want string
	}{
		{"SASL refused by a real broker", kerr.SaslAuthenticationFailed, sasl, saslHint},
		{"mechanism not enabled", kerr.UnsupportedSaslMechanism, sasl, "does the broker accept this kafka.sasl mechanism"},
		{"hang-up with SASL configured (kfake's wrong password)", io.EOF, sasl, saslHint},
		{"hang-up without SASL", io.EOF, testKafka("b:9092"), "is SASL needed?"},
		{"anything else", &net.OpError{Op: "read", Err: errors.New("x")}, sasl, "is the address right? is TLS/SASL needed?"},
		{"timeout", context.DeadlineExceeded, testKafka("b:9092"), "is a firewall or security group in the way?"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := pingHint(tt.err, tt.k); !strings.Contains(got, tt.want) {
				t.Fatalf("hint %q, want %q", got, tt.want)
			}
		})
	}
}

func TestConnSaramaReturnsIndependentCopies(t *testing.T) {
	pki := newTestPKI(t)
	k := testKafka("b:9092")
	k.TLS = &topology.TLS{CAFile: pki.caFile}
	conn, err := Connect(testContext(t), k)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	a, b := conn.Sarama(), conn.Sarama()
	// What goka's builders do to the config they are given:
	a.ClientID = "processor-a"
	a.Producer.Partitioner = sarama.NewRandomPartitioner
	a.Net.TLS.Config.ServerName = "mutated"
	if b.ClientID != "streamhub-test" || b.Net.TLS.Config.ServerName != "" || a.MetricRegistry == b.MetricRegistry {
		t.Fatal("Sarama() copies share state")
	}
	if err := b.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestConnClientAppliesExtraOptionsAfterOurs(t *testing.T) {
	ctx := testContext(t)
	conn := connectEmbedded(ctx, t)
	if _, err := conn.EnsureTopics(ctx, specs(spec("extra", 3, false))); err != nil {
		t.Fatal(err)
	}
	cl, err := conn.Client(kgo.DefaultProduceTopic("extra"))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	key := []byte("21")
	r, err := cl.ProduceSync(ctx, &kgo.Record{Key: key, Value: []byte("v")}).First()
	if err != nil {
		t.Fatal(err)
	}
	if r.Partition != Partition(key, 3) {
		t.Fatalf("franz-go put %q in partition %d, murmur2 says %d", key, r.Partition, Partition(key, 3))
	}
}

// Without kfake.DataDir a restarted embedded broker is empty, and goka's local
// storage (which outlives it) refuses to start on a table that lost its
// records. With it, topics and records survive.
func TestEmbeddedWithDataDirKeepsTopicsAndRecordsAcrossRestarts(t *testing.T) {
	dir := t.TempDir()
	ctx := testContext(t)
	k := testKafka("embedded")
	for i := range 2 {
		conn, err := Connect(ctx, k, WithEmbeddedOptions(kfake.DataDir(dir)))
		if err != nil {
			t.Fatal(err)
		}
		k.EmbeddedListen = conn.Brokers()[0] // restart on the same address
		created, err := conn.EnsureTopics(ctx, specs(spec("kept", 2, true)))
		if err != nil {
			t.Fatal(err)
		}
		if wantCreated := i == 0; (len(created) == 1) != wantCreated {
			t.Fatalf("start %d: created %v", i, created)
		}
		cl, err := conn.Client(kgo.ConsumeTopics("kept"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "kept", Key: []byte("k"), Value: []byte("before restart")}).FirstErr(); err != nil {
				t.Fatal(err)
			}
		} else {
			fs := cl.PollFetches(ctx)
			if recs := fs.Records(); len(recs) != 1 || string(recs[0].Value) != "before restart" {
				t.Fatalf("after restart: records %v, errors %v", recs, fs.Errors())
			}
		}
		cl.Close()
		conn.Close()
	}
}
