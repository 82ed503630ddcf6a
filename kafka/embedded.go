package kafka

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"syscall"

	"github.com/twmb/franz-go/pkg/kfake"
)

// Embedded is an in-process Kafka broker (franz-go's kfake) listening on a
// real TCP port, so any client can use it: goka and sarama, franz-go, kcat,
// another process. It keeps everything in memory unless started with
// kfake.DataDir.
//
// It is one broker: topics need replication factor 1, and goka's topic
// manager must be built from GokaTopicManagerConfig. Topics are not created
// on first use (like MSK's default auto.create.topics.enable=false): create
// them with EnsureTopics.
type Embedded struct {
	cluster *kfake.Cluster
	addrs   []string
}

// StartEmbedded starts the embedded broker on listen (host:port; port 0 picks
// a free port, which Addrs reports). A listen address without a host or with
// an unspecified one (":9092", "0.0.0.0:9092") accepts connections on every
// interface but tells clients to come back on 127.0.0.1.
//
// opts are passed to kfake after streamhub's own (kfake.DataDir to keep the
// data across restarts, kfake.EnableSASL, kfake.TLS, kfake.SeedTopics,
// kfake.WithLogger, ...). NumBrokers, Ports and ListenFn are streamhub's to
// set.
func StartEmbedded(listen string, opts ...kfake.Opt) (*Embedded, error) {
	ln, err := listenEmbedded(listen)
	if err != nil {
		return nil, err
	}
	var used bool
	base := []kfake.Opt{
		kfake.NumBrokers(1),
		kfake.ClusterID("streamhub-embedded"),
		// kfake asks for 127.0.0.1:<port>; it gets the listener we opened,
		// so the error for a taken port is ours and the address is the
		// operator's.
		kfake.ListenFn(func(string, string) (net.Listener, error) {
			if used {
				return nil, errors.New("kafka: embedded broker: only one broker")
			}
			used = true
			return ln, nil
		}),
	}
	c, err := kfake.NewCluster(append(base, opts...)...)
	if err != nil {
		ln.Close()
		return nil, fmt.Errorf("kafka: embedded broker: %w", err)
	}
	return &Embedded{cluster: c, addrs: c.ListenAddrs()}, nil
}

func listenEmbedded(listen string) (net.Listener, error) {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return nil, fmt.Errorf("kafka: embedded broker: listen address %q: %w", listen, err)
	}
	ln, err := net.Listen("tcp", listen)
	switch {
	case errors.Is(err, syscall.EADDRINUSE):
		return nil, fmt.Errorf("kafka: embedded broker: listen %s: %w — is another streamhub dev running?", listen, syscall.EADDRINUSE)
	case errors.Is(err, syscall.EACCES):
		return nil, fmt.Errorf("kafka: embedded broker: listen %s: %w — ports below 1024 need privileges; pick another kafka.embedded_listen", listen, syscall.EACCES)
	case err != nil:
		return nil, fmt.Errorf("kafka: embedded broker: listen %s: %w", listen, err)
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		// The broker advertises its listener's address in metadata, and
		// clients connect to what is advertised: "[::]:9092" is no place
		// to connect to.
		p := port
		if tcp, ok := ln.Addr().(*net.TCPAddr); ok {
			p = strconv.Itoa(tcp.Port)
		}
		ln = advertised{ln, advertisedAddr(net.JoinHostPort("127.0.0.1", p))}
	}
	return ln, nil
}

// advertised is a listener that reports another address than it listens on.
type advertised struct {
	net.Listener
	addr net.Addr
}

func (a advertised) Addr() net.Addr { return a.addr }

type advertisedAddr string

func (advertisedAddr) Network() string  { return "tcp" }
func (a advertisedAddr) String() string { return string(a) }

// Addrs are the broker addresses clients connect to.
func (e *Embedded) Addrs() []string { return append([]string(nil), e.addrs...) }

// Cluster is the kfake cluster, for tests that inject faults
// (Cluster().ControlKey) or move partitions.
func (e *Embedded) Cluster() *kfake.Cluster { return e.cluster }

// Close stops the broker and closes its listener. With kfake.DataDir it saves
// its state first. Close is safe to call more than once.
func (e *Embedded) Close() { e.cluster.Close() }
