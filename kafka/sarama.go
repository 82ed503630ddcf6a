package kafka

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/IBM/sarama"
	"github.com/lovoo/goka"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/streamhub/streamhub/topology"
)

// saramaVersion is the protocol version streamhub's sarama (goka) clients
// speak. sarama does not negotiate most request versions: it sends the ones
// of the configured Kafka version, so this must be no newer than the oldest
// broker streamhub talks to, and no older than what idempotent produce,
// read_committed fetches and the embedded broker need. Kafka 2.8 is both: any
// MSK cluster from 2.8 on and Kafka 4.x (which, like kfake, refuses pre-2.1
// request versions, KIP-896) accept it, and kfake's checks pass with it (the
// tests run sarama's producer, consumer group, admin and SASL against kfake).
var saramaVersion = sarama.V2_8_0_0

// SaramaConfig is the sarama configuration goka processors, views and
// emitters use: goka.DefaultConfig() with streamhub's overrides.
//
//   - Version saramaVersion.
//   - Consumer.Offsets.Initial = OffsetOldest: a CDC input stream is read from
//     its first record, not from the records produced after the processor's
//     first claim (goka's default).
//   - Consumer.IsolationLevel = ReadCommitted: records of aborted
//     transactions (the bridge writes transactionally) are never processed.
//   - An idempotent producer with acks=all (WaitForAll) and
//     Net.MaxOpenRequests = 1 (sarama's requirement for idempotence); see
//     producerRetries for how long a record is retried.
//   - Producer.Partitioner = murmur2 (Murmur2Hasher), the partitioning of
//     Java, franz-go and librdkafka. goka replaces the partitioner with the
//     hasher given to WithHasher / WithViewHasher / WithEmitterHasher, so pass
//     Murmur2Hasher there too.
//   - TLS and SASL (PLAIN, SCRAM-SHA-512, AWS_MSK_IAM) from the topology.
//   - Producer batching and compression from DefaultSaramaTuning; change them
//     with SaramaTuning.Apply. They apply to sarama producers (goka emitters);
//     streamhub's processors produce through GokaProducerBuilder, which has
//     the same guarantees on franz-go.
//
// goka's own topic manager creates tables with replication 2, which a
// one-broker cluster refuses: build it from GokaTopicManagerConfig.
func SaramaConfig(k topology.Kafka) (*sarama.Config, error) {
	c := goka.DefaultConfig()
	c.Version = saramaVersion
	c.ClientID = k.ClientID

	c.Consumer.Offsets.Initial = sarama.OffsetOldest
	c.Consumer.IsolationLevel = sarama.ReadCommitted

	c.Producer.RequiredAcks = sarama.WaitForAll
	c.Producer.Idempotent = true
	c.Net.MaxOpenRequests = 1
	c.Producer.Retry.Max = producerRetries
	c.Producer.Retry.BackoffFunc = producerBackoff
	c.Producer.Partitioner = sarama.NewCustomHashPartitioner(Murmur2Hasher)

	tuning := DefaultSaramaTuning()
	if k.Compression != "" {
		tuning.Compression = k.Compression
	}
	if err := tuning.Apply(c); err != nil {
		return nil, err
	}

	tc, err := tlsConfig(k)
	if err != nil {
		return nil, err
	}
	if tc != nil {
		c.Net.TLS.Enable = true
		c.Net.TLS.Config = tc
	}
	if k.SASL != nil {
		if err := saramaSASL(c, k.SASL); err != nil {
			return nil, err
		}
	}
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("kafka: sarama config: %w", err)
	}
	return c, nil
}

// producerRetries and producerBackoff retry a failed produce for about three
// minutes (100ms doubling to a 2s cap), in the spirit of Java's
// delivery.timeout.ms (2 minutes) with retries=MAX_INT: long enough to ride
// out a broker restart or a leader election, short enough that a dead cluster
// surfaces as an error. Idempotence makes the retries safe: no duplicates, no
// reordering.
const (
	producerRetries    = 100
	producerBackoffMin = 100 * time.Millisecond
	producerBackoffMax = 2 * time.Second
)

func producerBackoff(retries, _ int) time.Duration {
	d := producerBackoffMin
	for i := 0; i < retries && d < producerBackoffMax; i++ {
		d *= 2
	}
	return min(d, producerBackoffMax)
}

// SaramaTuning is the tuning of a sarama producer (a goka emitter, or a goka
// processor built with goka's own ProducerBuilder) for throughput. Every field is applied as is; start from DefaultSaramaTuning.
//
// A sarama producer sends a broker's buffered records when any one trigger
// fires: FlushBytes buffered, FlushMessages buffered, or FlushFrequency since
// the first buffered record. With idempotence only one request is in flight
// per broker, so records also accumulate while the previous request waits for
// its acks.
type SaramaTuning struct {
	// FlushBytes sends once this many bytes are buffered for one broker.
	// Default 1 MiB (goka's default is 64 KiB). Per partition a batch is
	// still capped by Producer.MaxMessageBytes (1 MB, the broker's
	// message.max.bytes).
	FlushBytes int
	// FlushMessages sends once this many records are buffered; 0 turns the
	// trigger off. Default 0.
	FlushMessages int
	// FlushFrequency is the longest a record waits for its batch to fill.
	// Default 5ms, Java's linger.ms since Kafka 4.0 (goka's default is 100ms,
	// which caps a low-rate pipeline's latency at 100ms per hop).
	FlushFrequency time.Duration
	// Compression is none, lz4, snappy, zstd or gzip. Default lz4: cheap on
	// CPU, and JSON records shrink several times on the wire to MSK.
	Compression string
	// ChannelBufferSize is the depth of sarama's internal channels, per
	// partition for consumers. Default 256 (sarama's and goka's).
	ChannelBufferSize int
}

// DefaultSaramaTuning is the tuning SaramaConfig applies.
func DefaultSaramaTuning() SaramaTuning {
	return SaramaTuning{
		FlushBytes:        1 << 20,
		FlushMessages:     0,
		FlushFrequency:    producerLinger,
		Compression:       "lz4",
		ChannelBufferSize: 256,
	}
}

var compressionCodecs = map[string]sarama.CompressionCodec{
	"none":   sarama.CompressionNone,
	"gzip":   sarama.CompressionGZIP,
	"snappy": sarama.CompressionSnappy,
	"lz4":    sarama.CompressionLZ4,
	"zstd":   sarama.CompressionZSTD,
}

// Apply writes the tuning into c.
func (t SaramaTuning) Apply(c *sarama.Config) error {
	codec, ok := compressionCodecs[t.Compression]
	if !ok {
		return fmt.Errorf("kafka: sarama tuning: unknown compression %q (want none, lz4, snappy, zstd or gzip)", t.Compression)
	}
	if t.FlushBytes < 0 || t.FlushMessages < 0 || t.FlushFrequency < 0 || t.ChannelBufferSize < 0 {
		return fmt.Errorf("kafka: sarama tuning: negative value in %+v", t)
	}
	c.Producer.Flush.Bytes = t.FlushBytes
	c.Producer.Flush.Messages = t.FlushMessages
	c.Producer.Flush.Frequency = t.FlushFrequency
	c.Producer.Compression = codec
	c.Producer.CompressionLevel = sarama.CompressionLevelDefault
	c.ChannelBufferSize = t.ChannelBufferSize
	return nil
}

func saramaSASL(c *sarama.Config, s *topology.SASL) error {
	if err := checkSASL(s); err != nil {
		return err
	}
	c.Net.SASL.Enable = true
	c.Net.SASL.Handshake = true
	c.Net.SASL.Version = sarama.SASLHandshakeV1
	switch s.Mechanism {
	case topology.SASLPlain:
		c.Net.SASL.Mechanism = sarama.SASLTypePlaintext
		c.Net.SASL.User, c.Net.SASL.Password = s.Username, s.Password
	case topology.SASLScram512:
		c.Net.SASL.Mechanism = sarama.SASLTypeSCRAMSHA512
		c.Net.SASL.User, c.Net.SASL.Password = s.Username, s.Password
		c.Net.SASL.SCRAMClientGeneratorFunc = func() sarama.SCRAMClient { return new(scramClient) }
	case topology.SASLAWSMSKIAM:
		tokens, err := newMSKTokens(context.Background(), s)
		if err != nil {
			return err
		}
		c.Net.SASL.Mechanism = sarama.SASLTypeOAuth
		c.Net.SASL.TokenProvider = saramaTokens{tokens}
	}
	return nil
}

// scramClient runs SCRAM-SHA-512 for sarama with franz-go's implementation,
// so both clients share one SCRAM (and the module needs no second one).
// sarama drives it as: Begin; Step("") for client-first; Step(server-first)
// for client-final; Step(server-final), which verifies the server's
// signature and ends the exchange.
type scramClient struct {
	user, pass, zid string
	session         sasl.Session
	done            bool
}

func (s *scramClient) Begin(user, pass, authzID string) error {
	s.user, s.pass, s.zid = user, pass, authzID
	return nil
}

func (s *scramClient) Step(challenge string) (string, error) {
	if s.session == nil {
		mech := scram.Auth{User: s.user, Pass: s.pass, Zid: s.zid}.AsSha512Mechanism()
		session, first, err := mech.Authenticate(context.Background(), "")
		if err != nil {
			return "", err
		}
		s.session = session
		return string(first), nil
	}
	done, resp, err := s.session.Challenge([]byte(challenge))
	if err != nil {
		return "", err
	}
	s.done = done
	return string(resp), nil
}

func (s *scramClient) Done() bool { return s.done }

// saramaTokens hands MSK IAM tokens to sarama's OAUTHBEARER.
type saramaTokens struct{ m *mskTokens }

func (t saramaTokens) Token() (*sarama.AccessToken, error) {
	tok, err := t.m.token(context.Background())
	if err != nil {
		return nil, err
	}
	if tok == "" {
		return nil, errors.New("kafka: sasl AWS_MSK_IAM: empty token")
	}
	return &sarama.AccessToken{Token: tok}, nil
}
