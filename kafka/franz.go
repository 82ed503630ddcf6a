package kafka

import (
	"context"
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/oauth"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/streamhub/streamhub/topology"
)

// ClientOpts are the franz-go options for the topology's brokers: the seed
// brokers, the client ID, TLS and SASL, acks from all in-sync replicas
// (franz-go's producer is idempotent by default), read_committed fetches, and
// Kafka's partitioner: keyed records go to murmur2(key) & 0x7fffffff % n,
// like Java's, so Partition and goka with Murmur2Hasher find them.
//
// brokers is passed separately because an embedded topology only learns its
// broker address once the broker listens (see Connect). Add more options
// after these; a later option of the same kind wins.
func ClientOpts(k topology.Kafka, brokers []string) ([]kgo.Opt, error) {
	opts, err := connectionOpts(k, brokers)
	if err != nil {
		return nil, err
	}
	comp, err := compressionOpt(k.Compression)
	if err != nil {
		return nil, err
	}
	return append(opts, comp), nil
}

// compressionOpt builds the producer compression option. Each client needs its own: kgo
// writes into the option's codec slice when a client applies it.
func compressionOpt(name string) (kgo.Opt, error) {
	switch name {
	case "", "none":
		return kgo.ProducerBatchCompression(kgo.NoCompression()), nil
	case "lz4":
		return kgo.ProducerBatchCompression(kgo.Lz4Compression()), nil
	case "snappy":
		return kgo.ProducerBatchCompression(kgo.SnappyCompression()), nil
	case "zstd":
		return kgo.ProducerBatchCompression(kgo.ZstdCompression()), nil
	case "gzip":
		return kgo.ProducerBatchCompression(kgo.GzipCompression()), nil
	}
	return nil, fmt.Errorf("kafka: compression %q: want none, lz4, snappy, zstd or gzip", name)
}

// connectionOpts are ClientOpts without the per-client compression option.
func connectionOpts(k topology.Kafka, brokers []string) ([]kgo.Opt, error) {
	if len(brokers) == 0 {
		return nil, errors.New("kafka: no brokers")
	}
	opts := []kgo.Opt{
		kgo.SeedBrokers(brokers...),
		kgo.ClientID(k.ClientID),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		// franz-go's default, spelled out because the partitioning is a
		// contract with every other client (DESIGN.md): keyed records by
		// murmur2 exactly as Java, keyless ones in sticky 64 KiB batches.
		kgo.RecordPartitioner(kgo.UniformBytesPartitioner(64<<10, true, true, nil)),
	}
	tc, err := tlsConfig(k)
	if err != nil {
		return nil, err
	}
	if tc != nil {
		opts = append(opts, kgo.DialTLSConfig(tc))
	}
	if k.SASL != nil {
		mech, err := franzSASL(k.SASL)
		if err != nil {
			return nil, err
		}
		opts = append(opts, kgo.SASL(mech))
	}
	return opts, nil
}

func franzSASL(s *topology.SASL) (sasl.Mechanism, error) {
	if err := checkSASL(s); err != nil {
		return nil, err
	}
	switch s.Mechanism {
	case topology.SASLPlain:
		return plain.Auth{User: s.Username, Pass: s.Password}.AsMechanism(), nil
	case topology.SASLScram512:
		return scram.Auth{User: s.Username, Pass: s.Password}.AsSha512Mechanism(), nil
	default: // topology.SASLAWSMSKIAM; checkSASL refused the rest
		tokens, err := newMSKTokens(context.Background(), s)
		if err != nil {
			return nil, err
		}
		return oauth.Oauth(func(ctx context.Context) (oauth.Auth, error) {
			tok, err := tokens.token(ctx)
			return oauth.Auth{Token: tok}, err
		}), nil
	}
}
