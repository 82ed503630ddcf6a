package kafka

import (
	"context"
	"fmt"
	"hash"
	"sync"
	"time"

	"github.com/IBM/sarama"
	"github.com/lovoo/goka"
	"github.com/twmb/franz-go/pkg/kgo"
)

// GokaProducerBuilder builds goka's processor producer on franz-go instead of
// sarama's AsyncProducer. goka only needs Emit, EmitWithHeaders and Close from
// a producer, and sarama's spends most of its CPU handing every record through
// four goroutines and their channels (dispatcher, topic, partition and broker
// producers) with one request in flight per broker, which idempotence forces
// on sarama. In the processor benchmark that was ≈20% of the processor's CPU;
// franz-go batches under a per-partition lock and keeps up to five idempotent
// requests in flight.
//
// The guarantees are the ones SaramaConfig gives: acks from all in-sync
// replicas, idempotence, the topology's compression and TLS/SASL (ClientOpts),
// a 5 ms linger, and a record retried for up to producerDeliveryTimeout before
// its promise fails, so a dead cluster surfaces as an error. Records are
// partitioned with the hasher goka passes, exactly as sarama's
// NewCustomHashPartitioner does, so table writes land in the partition goka's
// views and the input stream expect. extra options are applied last.
func GokaProducerBuilder(c *Conn, extra ...kgo.Opt) goka.ProducerBuilder {
	return func(_ []string, clientID string, hasher func() hash.Hash32) (goka.Producer, error) {
		opts := []kgo.Opt{
			kgo.ClientID(clientID),
			kgo.RecordPartitioner(hashPartitioner(hasher)),
			kgo.ProducerLinger(producerLinger),
			kgo.RecordDeliveryTimeout(producerDeliveryTimeout),
		}
		cl, err := c.Client(append(opts, extra...)...)
		if err != nil {
			return nil, err
		}
		return &gokaProducer{cl: cl}, nil
	}
}

const (
	// producerLinger is how long a record waits for its batch to fill, in both
	// producers (DefaultSaramaTuning's FlushFrequency): Java's linger.ms since Kafka 4.0.
	producerLinger = 5 * time.Millisecond
	// producerDeliveryTimeout is about what producerRetries and producerBackoff
	// give sarama.
	producerDeliveryTimeout = 3 * time.Minute
	// producerCloseTimeout is how long Close waits for buffered records, as goka's own producer.
	producerCloseTimeout = 60 * time.Second
)

type gokaProducer struct {
	cl        *kgo.Client
	closeOnce sync.Once
}

func (p *gokaProducer) Emit(topic, key string, value []byte) *goka.Promise {
	return p.EmitWithHeaders(topic, key, value, nil)
}

// EmitWithHeaders hands the record to franz-go and finishes the promise from its
// produce callback with the record's partition and offset, which goka stores as
// the table offset once a table write is acknowledged. Produce blocks while
// franz-go's buffer is full: that is the processor's back-pressure, as sarama's
// input channel was.
func (p *gokaProducer) EmitWithHeaders(topic, key string, value []byte, headers goka.Headers) *goka.Promise {
	promise, finish := goka.NewPromiseWithFinisher()
	r := &kgo.Record{Topic: topic, Key: []byte(key), Value: value}
	if len(headers) > 0 {
		r.Headers = make([]kgo.RecordHeader, 0, len(headers))
		for k, v := range headers {
			r.Headers = append(r.Headers, kgo.RecordHeader{Key: k, Value: v})
		}
	}
	p.cl.Produce(context.Background(), r, func(r *kgo.Record, err error) {
		if err != nil {
			finish(nil, fmt.Errorf("kafka: produce to %s: %w", r.Topic, err))
			return
		}
		// Where the record landed is all goka reads from the message (the table offset);
		// Key and Value are left out, which saves two allocations per record.
		finish(&sarama.ProducerMessage{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset, Timestamp: r.Timestamp}, nil)
	})
	return promise
}

// Close waits for the buffered records (up to producerCloseTimeout); the ones
// still buffered then fail their promises.
func (p *gokaProducer) Close() error {
	var err error
	p.closeOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), producerCloseTimeout)
		defer cancel()
		if ferr := p.cl.Flush(ctx); ferr != nil {
			err = fmt.Errorf("kafka: producer close: %w", ferr)
		}
		p.cl.Close()
	})
	return err
}

// hashPartitioner is sarama's NewCustomHashPartitioner over franz-go: the
// partition is int32(hash(key)) % n, made non-negative. franz-go calls a
// topic's partitioner for one record at a time, so each topic keeps one hasher.
func hashPartitioner(hasher func() hash.Hash32) kgo.Partitioner {
	return kgo.BasicConsistentPartitioner(func(string) func(*kgo.Record, int) int {
		h := hasher()
		return func(r *kgo.Record, n int) int {
			h.Reset()
			h.Write(r.Key)
			p := int32(h.Sum32()) % int32(n)
			if p < 0 {
				p = -p
			}
			return int(p)
		}
	})
}
