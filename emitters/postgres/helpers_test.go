package postgres

import (
	"context"
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/streamhub/streamhub/emitters"
	"github.com/streamhub/streamhub/internal/pgtest"
	"github.com/streamhub/streamhub/state"
)

func testDSN() string { return pgtest.DSN() }

// testDB connects to the test PostgreSQL and creates a fresh schema, dropped at cleanup.
func testDB(t testing.TB) (*pgxpool.Pool, string) {
	t.Helper()
	return pgtest.Schema(t, "the PostgreSQL tests")
}

func newSink(t testing.TB, o Options) *Sink {
	t.Helper()
	if o.DSN == "" {
		o.DSN = testDSN()
	}
	if o.Name == "" {
		o.Name = "pg"
	}
	if o.Registry == nil {
		o.Registry = prometheus.NewRegistry()
	}
	s, err := New(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func stateRecord(t testing.TB, topic, key string, v state.Value, offset int64) *kgo.Record {
	t.Helper()
	b, err := v.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	return &kgo.Record{Topic: topic, Key: []byte(key), Value: b, Offset: offset, Timestamp: time.UnixMilli(1767225600000 + offset)}
}

func batch(topic string, part int32, recs ...*kgo.Record) *emitters.Batch {
	return &emitters.Batch{Topic: topic, Partition: part, Records: recs}
}

func mustFlush(t testing.TB, s *Sink, b *emitters.Batch) []emitters.Reject {
	t.Helper()
	rej, err := s.Flush(context.Background(), b)
	if err != nil {
		t.Fatalf("flush %s[%d] %d-%d: %v", b.Topic, b.Partition, b.First(), b.Last(), err)
	}
	return rej
}

func jsonEqual(a, b []byte) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	return reflect.DeepEqual(x, y)
}
