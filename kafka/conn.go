package kafka

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"

	"github.com/IBM/sarama"
	"github.com/rcrowley/go-metrics"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/streamhub/streamhub/topology"
)

// Conn is the pipeline's connection to Kafka: the broker addresses and the
// settings every client is built from, and the embedded broker when the
// topology asks for one.
type Conn struct {
	k        topology.Kafka
	brokers  []string
	sarama   *sarama.Config
	opts     []kgo.Opt
	embedded *Embedded
}

// ConnectOption changes how Connect connects.
type ConnectOption func(*connectConfig)

type connectConfig struct {
	embedded []kfake.Opt
}

// WithEmbeddedOptions passes options to the embedded broker when the topology
// asks for one (kfake.DataDir to keep topics and offsets across `dev`
// restarts, kfake.WithLogger, ...). It does nothing for real brokers.
func WithEmbeddedOptions(opts ...kfake.Opt) ConnectOption {
	return func(c *connectConfig) { c.embedded = append(c.embedded, opts...) }
}

// Connect prepares the connection to the topology's brokers. For "embedded"
// it starts the in-process broker on k.EmbeddedListen and owns it until
// Close; that broker speaks plaintext without authentication, so the tls and
// sasl blocks do not apply to it. Connect checks the settings (TLS files,
// SASL) but does not dial: call Ping for that.
func Connect(ctx context.Context, k topology.Kafka, opts ...ConnectOption) (*Conn, error) {
	var cc connectConfig
	for _, o := range opts {
		o(&cc)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	c := &Conn{k: k, brokers: k.Brokers}
	if k.Embedded() {
		e, err := StartEmbedded(k.EmbeddedListen, cc.embedded...)
		if err != nil {
			return nil, err
		}
		c.embedded = e
		c.brokers = e.Addrs()
		c.k.Brokers = c.brokers
		c.k.TLS, c.k.SASL = nil, nil
	}
	var err error
	if c.sarama, err = SaramaConfig(c.k); err == nil {
		c.opts, err = connectionOpts(c.k, c.brokers)
	}
	if err == nil {
		_, err = compressionOpt(c.k.Compression)
	}
	if err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// Brokers are the addresses clients connect to.
func (c *Conn) Brokers() []string { return append([]string(nil), c.brokers...) }

// Kafka is the topology's kafka section as clients see it: for an embedded
// broker, Brokers holds its real address and TLS and SASL are off.
func (c *Conn) Kafka() topology.Kafka { return c.k }

// Embedded is the embedded broker, or nil when the topology names real
// brokers.
func (c *Conn) Embedded() *Embedded { return c.embedded }

// Sarama returns a new copy of the sarama configuration (see SaramaConfig).
// goka's builders write ClientID and Partitioner into the config they are
// given, so each processor, view and emitter needs a copy of its own; each
// copy also gets its own metrics registry.
func (c *Conn) Sarama() *sarama.Config {
	cfg := *c.sarama
	cfg.MetricRegistry = metrics.NewRegistry()
	if cfg.Net.TLS.Config != nil {
		cfg.Net.TLS.Config = cfg.Net.TLS.Config.Clone()
	}
	return &cfg
}

// Client returns a new franz-go client (see ClientOpts); extra options are
// applied after streamhub's.
func (c *Conn) Client(extra ...kgo.Opt) (*kgo.Client, error) {
	comp, err := compressionOpt(c.k.Compression)
	if err != nil {
		return nil, err
	}
	opts := append(append(append([]kgo.Opt(nil), c.opts...), comp), extra...)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("kafka: new client: %w", err)
	}
	return cl, nil
}

// Admin returns a new kadm client; closing it closes its franz-go client.
func (c *Conn) Admin() (*kadm.Client, error) {
	cl, err := c.Client()
	if err != nil {
		return nil, err
	}
	return kadm.NewClient(cl), nil
}

// EnsureTopics creates the missing topics with the topology's replication
// factor and min.insync.replicas (see the package function EnsureTopics).
func (c *Conn) EnsureTopics(ctx context.Context, specs []topology.TopicSpec) ([]string, error) {
	adm, err := c.Admin()
	if err != nil {
		return nil, err
	}
	defer adm.Close()
	return EnsureTopics(ctx, adm, specs, c.k.ReplicationFactor, c.k.MinInsyncReplicas)
}

// Close stops the embedded broker if Connect started it. Clients made from
// the Conn are the caller's to close, before this.
func (c *Conn) Close() {
	if c.embedded != nil {
		c.embedded.Close()
	}
}

// Ping asks the brokers for metadata, trying each known address once, and
// explains a failure: the addresses tried, the cause, and what to check.
func (c *Conn) Ping(ctx context.Context) error {
	cl, err := c.Client()
	if err != nil {
		return err
	}
	defer cl.Close()
	// kgo.Client.Ping is a metadata request for no topics to each broker
	// in turn, without the retries a normal request gets: an unreachable
	// cluster fails now instead of after the retry budget.
	if err := cl.Ping(ctx); err != nil {
		return &PingError{Brokers: c.Brokers(), Err: err, hint: pingHint(err, c.k)}
	}
	return nil
}

// PingError is a failed Ping: no broker answered a metadata request.
type PingError struct {
	Brokers []string
	Err     error
	hint    string
}

func (e *PingError) Error() string {
	return fmt.Sprintf("kafka: no broker reachable at %s: %v — %s",
		strings.Join(e.Brokers, ", "), e.Err, e.hint)
}

func (e *PingError) Unwrap() error { return e.Err }

const saslHint = "are kafka.sasl mechanism, username and password right?"

// pingHint guesses what is wrong from how a connection failed and what the
// client was configured to do.
func pingHint(err error, k topology.Kafka) string {
	var (
		eof      *kgo.ErrFirstReadEOF
		header   tls.RecordHeaderError
		verify   *tls.CertificateVerificationError
		unknown  x509.UnknownAuthorityError
		hostname x509.HostnameError
		opErr    *net.OpError
	)
	switch {
	case errors.Is(err, kerr.SaslAuthenticationFailed):
		return saslHint
	case errors.Is(err, kerr.UnsupportedSaslMechanism), errors.Is(err, kerr.IllegalSaslState):
		return "does the broker accept this kafka.sasl mechanism on this port?"
	case errors.As(err, &header):
		return "the broker does not speak TLS on this port: remove kafka.tls or use its TLS port"
	case errors.As(err, &hostname):
		return "the broker's certificate is for another name: set kafka.tls.server_name?"
	case errors.As(err, &unknown), errors.As(err, &verify):
		return "the broker's certificate is not trusted: is kafka.tls.ca_file right?"
	case errors.As(err, &eof), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		// A broker hangs up on a request it cannot parse (TLS bytes on
		// a plaintext port, or the reverse) and on a client that skips
		// SASL. Some (kfake among them) also hang up on a wrong
		// password instead of answering SASL_AUTHENTICATION_FAILED.
		if k.SASL != nil {
			return "the broker hung up: " + saslHint + " is TLS needed (or not)?"
		}
		return "the broker hung up at once: is TLS needed (or not)? is SASL needed?"
	case errors.As(err, &opErr) && opErr.Op == "dial":
		return "is the address right? is the broker running?"
	case errors.Is(err, context.DeadlineExceeded):
		return "no answer in time: is the address right? is a firewall or security group in the way? is TLS/SASL needed?"
	}
	return "is the address right? is TLS/SASL needed?"
}
