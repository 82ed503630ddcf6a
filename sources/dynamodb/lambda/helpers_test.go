package lambda

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/streamhub/streamhub/kafka"
	"github.com/streamhub/streamhub/topology"
)

// testTimeout bounds each wait on the broker; it is a failure bound, not a measurement.
const testTimeout = 60 * time.Second

const (
	cdcTopic = "dev.orders.cdc"
	dlqTopic = "dev.streamhub.dlq"
)

func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
	t.Cleanup(cancel)
	return ctx
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// startBroker starts the embedded broker with the given topics of `partitions`
// partitions each.
func startBroker(t *testing.T, partitions int32, topics ...string) []string {
	t.Helper()
	e, err := kafka.StartEmbedded("127.0.0.1:0", kfake.SeedTopics(partitions, topics...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	return e.Addrs()
}

func testConfig(brokers []string) Config {
	return Config{
		Kafka:   topology.Kafka{Brokers: brokers, ClientID: "streamhub-lambda-test", Compression: "lz4"},
		Topic:   cdcTopic,
		Keys:    []string{"Id"},
		Timeout: 20 * time.Second,
	}
}

func newHandler(t *testing.T, cfg Config, opts ...kgo.Opt) *Handler {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = testLogger(t)
	}
	h, err := NewHandler(t.Context(), cfg, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	return h
}

func readFile(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// rawRecords splits an event into its records' raw bytes.
func rawRecords(t *testing.T, event []byte) []json.RawMessage {
	t.Helper()
	var ev struct{ Records []json.RawMessage }
	if err := json.Unmarshal(event, &ev); err != nil {
		t.Fatal(err)
	}
	return ev.Records
}

func makeEvent(records ...string) json.RawMessage {
	return json.RawMessage(`{"Records":[` + strings.Join(records, ",") + `]}`)
}

const testARN = "arn:aws:dynamodb:eu-west-1:123456789012:table/orders/stream/2026-01-01T00:00:00.000"

// streamRecord is one INSERT of the item id with the given sequence number, as Lambda
// delivers it.
func streamRecord(id, seq string) string {
	return fmt.Sprintf(`{"eventID":"e%[2]s","eventName":"INSERT","eventVersion":"1.1","eventSource":"aws:dynamodb",`+
		`"awsRegion":"eu-west-1","dynamodb":{"ApproximateCreationDateTime":1.7672256E9,"Keys":{"Id":{"S":%[1]q}},`+
		`"NewImage":{"Id":{"S":%[1]q},"n":{"N":"%[2]s"}},"SequenceNumber":%[2]q,"SizeBytes":20,`+
		`"StreamViewType":"NEW_AND_OLD_IMAGES"},"eventSourceARN":%[3]q}`, id, seq, testARN)
}

// readTopic reads every committed record of topic, as a read_committed consumer sees it,
// and checks that there are want of them.
func readTopic(t *testing.T, brokers []string, topic string, want int) []*kgo.Record {
	t.Helper()
	got := readCommitted(t, brokers, topic)
	if len(got) != want {
		t.Fatalf("topic %s holds %d committed records, want %d", topic, len(got), want)
	}
	return got
}

const sentinelHeader = "streamhub.test.sentinel"

// readCommitted reads every committed record of topic. Transactions leave control
// records and aborted records behind, so end offsets do not count records: a sentinel
// produced into each partition marks the end, and a read_committed consumer that has
// seen every sentinel has seen everything committed before it (and nothing aborted).
func readCommitted(t *testing.T, brokers []string, topic string) []*kgo.Record {
	t.Helper()
	ctx := testContext(t)
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	nonce := fmt.Sprint(time.Now().UnixNano())
	var sentinels []*kgo.Record
	ends.Each(func(o kadm.ListedOffset) {
		if o.Err != nil {
			t.Fatalf("end offset of %s/%d: %v", o.Topic, o.Partition, o.Err)
		}
		sentinels = append(sentinels, &kgo.Record{Topic: topic, Partition: o.Partition,
			Headers: []kgo.RecordHeader{{Key: sentinelHeader, Value: []byte(nonce)}}})
	})
	if len(sentinels) == 0 {
		t.Fatalf("topic %s has no partitions", topic)
	}
	if err := cl.ProduceSync(ctx, sentinels...).FirstErr(); err != nil {
		t.Fatalf("sentinels into %s: %v", topic, err)
	}
	var out []*kgo.Record
	for seen := 0; seen < len(sentinels); {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("read %s: %d of %d partitions read to their end: %v", topic, seen, len(sentinels), err)
		}
		fs.EachError(func(_ string, _ int32, err error) { t.Fatalf("fetch %s: %v", topic, err) })
		for _, r := range fs.Records() {
			if v, ok := header(r, sentinelHeader); ok {
				if v == nonce {
					seen++
				}
				continue
			}
			out = append(out, r)
		}
	}
	return out
}

func header(r *kgo.Record, key string) (string, bool) {
	for _, h := range r.Headers {
		if h.Key == key {
			return string(h.Value), true
		}
	}
	return "", false
}

// failedSeqs are the reported ItemIdentifiers, in order.
func failedSeqs(resp events.DynamoDBEventResponse) []string {
	out := []string{}
	for _, f := range resp.BatchItemFailures {
		out = append(out, f.ItemIdentifier)
	}
	return out
}
