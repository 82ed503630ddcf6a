package kafka

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kgo"
)

func TestSaramaConfigOverridesGokaDefaults(t *testing.T) {
	c, err := SaramaConfig(testKafka("b:9092"))
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"Version", c.Version, sarama.V2_8_0_0},
		{"ClientID", c.ClientID, "streamhub-test"},
		{"Consumer.Offsets.Initial", c.Consumer.Offsets.Initial, sarama.OffsetOldest},
		{"Consumer.IsolationLevel", c.Consumer.IsolationLevel, sarama.ReadCommitted},
		{"Producer.RequiredAcks", c.Producer.RequiredAcks, sarama.WaitForAll},
		{"Producer.Idempotent", c.Producer.Idempotent, true},
		{"Net.MaxOpenRequests", c.Net.MaxOpenRequests, 1},
		{"Producer.Retry.Max", c.Producer.Retry.Max, producerRetries},
		{"Producer.Compression", c.Producer.Compression, sarama.CompressionLZ4},
		{"Producer.Flush.Bytes", c.Producer.Flush.Bytes, 1 << 20},
		{"Producer.Flush.Frequency", c.Producer.Flush.Frequency, 5 * time.Millisecond},
		{"Producer.Return.Successes (goka needs it)", c.Producer.Return.Successes, true},
		{"Net.TLS.Enable", c.Net.TLS.Enable, false},
		{"Net.SASL.Enable", c.Net.SASL.Enable, false},
	}
	for _, ch := range checks {
		if ch.got != ch.want {
			t.Errorf("%s = %v, want %v", ch.name, ch.got, ch.want)
		}
	}
	p := c.Producer.Partitioner("t")
	key := []byte("21") // murmur2's top bit is set for this key
	got, err := p.Partition(&sarama.ProducerMessage{Key: sarama.ByteEncoder(key)}, 7)
	if err != nil || got != Partition(key, 7) {
		t.Errorf("partitioner put %q in %d (%v), murmur2 says %d", key, got, err, Partition(key, 7))
	}
}

func TestProducerBackoffDoublesToTwoSeconds(t *testing.T) {
	want := []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond, 800 * time.Millisecond, 1600 * time.Millisecond, 2 * time.Second, 2 * time.Second}
	var total time.Duration
	for i, w := range want {
		if got := producerBackoff(i, producerRetries); got != w {
			t.Errorf("backoff(%d) = %v, want %v", i, got, w)
		}
	}
	for i := range producerRetries {
		total += producerBackoff(i, producerRetries)
	}
	if total < 2*time.Minute || total > 5*time.Minute {
		t.Errorf("a record is retried for %v in all; want a few minutes", total)
	}
}

func TestSaramaTuningApplies(t *testing.T) {
	tests := []struct {
		name    string
		tuning  SaramaTuning
		wantErr bool
	}{
		{"defaults", DefaultSaramaTuning(), false},
		{"no compression, count trigger", SaramaTuning{FlushBytes: 64 << 10, FlushMessages: 500, FlushFrequency: 50 * time.Millisecond, Compression: "none", ChannelBufferSize: 1024}, false},
		{"unknown compression", SaramaTuning{Compression: "brotli"}, true},
		{"negative", SaramaTuning{Compression: "lz4", FlushBytes: -1}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := SaramaConfig(testKafka("b:9092"))
			if err != nil {
				t.Fatal(err)
			}
			err = tt.tuning.Apply(c)
			if (err != nil) != tt.wantErr {
				t.Fatalf("Apply: err = %v, wantErr %v", err, tt.wantErr)
			}
			if err != nil {
				return
			}
			if c.Producer.Flush.Bytes != tt.tuning.FlushBytes || c.Producer.Flush.Messages != tt.tuning.FlushMessages ||
				c.Producer.Flush.Frequency != tt.tuning.FlushFrequency || c.ChannelBufferSize != tt.tuning.ChannelBufferSize ||
				c.Producer.Compression != compressionCodecs[tt.tuning.Compression] {
				t.Fatalf("config does not carry %+v", tt.tuning)
			}
			if err := c.Validate(); err != nil {
				t.Fatalf("tuned config invalid: %v", err)
			}
		})
	}
}

func TestGokaTopicManagerConfigUsesTopologyReplication(t *testing.T) {
	tm := GokaTopicManagerConfig(testKafka("embedded"))
	if tm.Table.Replication != 1 || tm.Stream.Replication != 1 {
		t.Fatalf("replication table %d stream %d, want 1", tm.Table.Replication, tm.Stream.Replication)
	}
}

// The bridge writes CDC records in transactions (franz-go); goka consumes them
// with sarama. A sarama consumer group must see the committed records, the
// idempotent sarama producer's records, and none of an aborted transaction.
func TestSaramaIdempotentProducerAndReadCommittedGroupOnEmbedded(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	conn := connectEmbedded(ctx, t)
	const topic = "orders.cdc"
	if _, err := conn.EnsureTopics(ctx, specs(spec(topic, 4, false))); err != nil {
		t.Fatal(err)
	}

	// Transactions with franz-go: one aborted, one committed.
	tx, err := conn.Client(kgo.TransactionalID("bridge-test"), kgo.DefaultProduceTopic(topic))
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Close()
	want := map[string]bool{}
	for _, commit := range []bool{false, true} {
		if err := tx.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		for i := range 20 {
			v := fmt.Sprintf("aborted-%d", i)
			if commit {
				v = fmt.Sprintf("committed-%d", i)
				want[v] = true
			}
			if err := tx.ProduceSync(ctx, &kgo.Record{Key: fmt.Appendf(nil, "k%d", i), Value: []byte(v)}).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
		if err := tx.EndTransaction(ctx, kgo.TransactionEndTry(commit)); err != nil {
			t.Fatal(err)
		}
	}

	// The idempotent sarama producer, acks=all.
	p, err := sarama.NewSyncProducer(conn.Brokers(), conn.Sarama())
	if err != nil {
		t.Fatalf("sarama idempotent producer (InitProducerID): %v", err)
	}
	for i := range 20 {
		v := fmt.Sprintf("sarama-%d", i)
		want[v] = true
		if _, _, err := p.SendMessage(&sarama.ProducerMessage{Topic: topic, Key: sarama.StringEncoder(fmt.Sprint(i)), Value: sarama.StringEncoder(v)}); err != nil {
			t.Fatalf("sarama produce: %v", err)
		}
	}
	p.Close()

	// A sarama consumer group from the oldest offset, read_committed.
	group, err := sarama.NewConsumerGroup(conn.Brokers(), "readers", conn.Sarama())
	if err != nil {
		t.Fatal(err)
	}
	defer group.Close()
	h := &collect{want: len(want), done: make(chan struct{}), seen: map[string]bool{}}
	gctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, 1)
	go func() {
		for gctx.Err() == nil {
			if err := group.Consume(gctx, []string{topic}, h); err != nil {
				errc <- err
				return
			}
		}
		errc <- nil
	}()
	select {
	case <-h.done:
	case err := <-errc:
		t.Fatalf("consumer group: %v", err)
	case <-ctx.Done():
		t.Fatalf("consumer group read %d of %d records", h.count(), len(want))
	}
	cancel()
	<-errc
	for v := range h.seen {
		if !want[v] {
			t.Errorf("read %q: an aborted record reached a read_committed consumer", v)
		}
	}

	// The test means something only if the aborted records are in the log:
	// read_uncommitted sees them.
	if n := countUncommitted(t, conn.Brokers(), conn.Sarama(), topic, "aborted-"); n != 20 {
		t.Errorf("read_uncommitted saw %d aborted records, want 20", n)
	}

	// The group committed its offsets (OffsetCommit / OffsetFetch).
	adm, err := conn.Admin()
	if err != nil {
		t.Fatal(err)
	}
	defer adm.Close()
	offsets, err := adm.FetchOffsets(ctx, "readers")
	if err != nil {
		t.Fatal(err)
	}
	if len(offsets[topic]) == 0 {
		t.Fatalf("group committed no offsets: %v", offsets)
	}
}

// countUncommitted reads every partition of topic with read_uncommitted and
// counts the values with prefix, until the partitions stay quiet.
func countUncommitted(t *testing.T, brokers []string, cfg *sarama.Config, topic, prefix string) int {
	t.Helper()
	cfg.Consumer.IsolationLevel = sarama.ReadUncommitted
	c, err := sarama.NewConsumer(brokers, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	parts, err := c.Partitions(topic)
	if err != nil {
		t.Fatal(err)
	}
	msgs, done := make(chan *sarama.ConsumerMessage), make(chan struct{})
	defer close(done)
	for _, p := range parts {
		pc, err := c.ConsumePartition(topic, p, sarama.OffsetOldest)
		if err != nil {
			t.Fatal(err)
		}
		defer pc.AsyncClose()
		go func() {
			for m := range pc.Messages() {
				select {
				case msgs <- m:
				case <-done:
					return
				}
			}
		}()
	}
	n := 0
	for {
		select {
		case m := <-msgs:
			if strings.HasPrefix(string(m.Value), prefix) {
				n++
			}
		case <-time.After(time.Second):
			return n
		}
	}
}

// collect is a sarama consumer group handler that records values and marks
// them consumed.
type collect struct {
	mu   sync.Mutex
	seen map[string]bool
	want int
	done chan struct{}
	once sync.Once
}

func (c *collect) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.seen)
}

func (*collect) Setup(sarama.ConsumerGroupSession) error   { return nil }
func (*collect) Cleanup(sarama.ConsumerGroupSession) error { return nil }
func (c *collect) ConsumeClaim(s sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim) error {
	for m := range claim.Messages() {
		c.mu.Lock()
		c.seen[string(m.Value)] = true
		n := len(c.seen)
		c.mu.Unlock()
		s.MarkMessage(m, "")
		if n >= c.want {
			s.Commit()
			c.once.Do(func() { close(c.done) })
		}
	}
	return nil
}
