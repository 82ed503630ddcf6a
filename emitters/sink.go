// Package emitters is the buffered flush loop every sink shares: a franz-go consumer group
// over the sink's topics, per-partition buffers flushed when buffer.count_records,
// buffer.size_bytes or buffer.flush_time is reached, offsets committed only after the sink
// confirms the flush, and the flush's offset range recorded before it is written, so a
// flush redone after a crash covers exactly the same records (DESIGN.md, "Delivery
// guarantees"). One sub-package per target implements Sink.
package emitters

import (
	"context"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Batch is one flush: consecutive records of one topic partition, in offset order.
// Offsets may have gaps (transaction markers, compaction), never repeats.
type Batch struct {
	Topic string
	// TopicID is the topic's ID (base64, as Kafka prints it), "" when the broker did
	// not say. Offsets kept outside Kafka are stored with it, so a re-created topic,
	// which starts again at offset 0, is not mistaken for the old one.
	TopicID   string
	Partition int32
	Records   []*kgo.Record
}

// First and Last are the offsets of the batch's first and last records.
func (b *Batch) First() int64 { return b.Records[0].Offset }
func (b *Batch) Last() int64  { return b.Records[len(b.Records)-1].Offset }

// Reject is a record a sink could not encode; the loop sends it to the DLQ with Reason
// (a short machine word, e.g. "bad_json") and Err, and the flush carries on without it.
type Reject struct {
	Record *kgo.Record
	Reason string
	Err    error
}

// Sink writes batches to one target.
type Sink interface {
	// Flush makes the batch durable in the target and returns the records it could not
	// encode. It must be idempotent: flushing the same batch again (after a crash before
	// the offsets were committed) leaves the target as one flush would. An error means
	// nothing of the batch may be relied on; the loop retries it with backoff.
	Flush(ctx context.Context, b *Batch) ([]Reject, error)
	// Close releases the sink's resources.
	Close() error
}

// OffsetKeeper is a Sink that stores its own offsets atomically with the data (the
// warehouse sinks); the loop then starts each partition at the sink's offset instead of
// the consumer group's.
type OffsetKeeper interface {
	Sink
	// Offsets returns, per partition of topic, the next offset to flush; a partition
	// without one is absent, and so is one stored for another topic ID than topicID (a
	// topic of the same name deleted and created again). topicID "" matches any.
	Offsets(ctx context.Context, topic, topicID string) (map[int32]int64, error)
}
