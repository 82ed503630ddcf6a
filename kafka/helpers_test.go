package kafka

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/streamhub/streamhub/topology"
)

// testTimeout bounds each wait on the broker.
const testTimeout = 30 * time.Second

func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
	t.Cleanup(cancel)
	return ctx
}

// startEmbedded starts an embedded broker on a free port, closed at cleanup.
func startEmbedded(t *testing.T, opts ...kfake.Opt) *Embedded {
	t.Helper()
	e, err := StartEmbedded("127.0.0.1:0", opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	return e
}

// connectEmbedded connects to a new embedded broker on a free port, closed at cleanup.
func connectEmbedded(ctx context.Context, t *testing.T) *Conn {
	t.Helper()
	conn, err := Connect(ctx, testKafka("embedded"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(conn.Close)
	return conn
}

// readRecords reads topic from its start with franz-go until n records have
// been passed to each.
func readRecords(ctx context.Context, t *testing.T, conn *Conn, topic string, n int, each func(*kgo.Record)) {
	t.Helper()
	cl, err := conn.Client(kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	for seen := 0; seen < n; {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("%s: read %d of %d records: %v", topic, seen, n, err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			seen++
			each(r)
		})
	}
}

// testKafka is a topology kafka section for brokers, with the defaults the
// topology package applies for an embedded broker.
func testKafka(brokers ...string) topology.Kafka {
	return topology.Kafka{
		Brokers:           brokers,
		EmbeddedListen:    "127.0.0.1:0",
		ClientID:          "streamhub-test",
		ReplicationFactor: 1,
		MinInsyncReplicas: 1,
	}
}

// franzRoundTrip produces one record with franz-go and reads it back.
func franzRoundTrip(t *testing.T, opts []kgo.Opt, topic string) {
	t.Helper()
	ctx := testContext(t)
	value := fmt.Sprintf("franz-%d", time.Now().UnixNano())
	cl, err := kgo.NewClient(append(opts, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Key: []byte("k"), Value: []byte(value)}).FirstErr(); err != nil {
		t.Fatalf("franz-go produce: %v", err)
	}
	for {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("franz-go consume: %q not read back: %v", value, err)
		}
		if errs := fs.Errors(); len(errs) > 0 {
			t.Fatalf("franz-go consume: %v", errs[0].Err)
		}
		for _, r := range fs.Records() {
			if string(r.Value) == value {
				return
			}
		}
	}
}

// saramaRoundTrip produces one record with a sarama SyncProducer (idempotent,
// acks=all per cfg) and reads it back with a sarama consumer.
func saramaRoundTrip(t *testing.T, cfg *sarama.Config, brokers []string, topic string) {
	t.Helper()
	value := fmt.Sprintf("sarama-%d", time.Now().UnixNano())
	p, err := sarama.NewSyncProducer(brokers, cfg)
	if err != nil {
		t.Fatalf("sarama producer: %v", err)
	}
	defer p.Close()
	part, off, err := p.SendMessage(&sarama.ProducerMessage{Topic: topic, Key: sarama.StringEncoder("k"), Value: sarama.StringEncoder(value)})
	if err != nil {
		t.Fatalf("sarama produce: %v", err)
	}
	c, err := sarama.NewConsumer(brokers, cfg)
	if err != nil {
		t.Fatalf("sarama consumer: %v", err)
	}
	defer c.Close()
	pc, err := c.ConsumePartition(topic, part, off)
	if err != nil {
		t.Fatalf("sarama consume partition: %v", err)
	}
	defer pc.Close()
	select {
	case m := <-pc.Messages():
		if string(m.Value) != value {
			t.Fatalf("sarama read %q at offset %d, want %q", m.Value, off, value)
		}
	case err := <-pc.Errors():
		t.Fatalf("sarama consume: %v", err)
	case <-time.After(testTimeout):
		t.Fatalf("sarama consume: %q not read back", value)
	}
}
