package processors

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/streamhub/streamhub/kafka"
	"github.com/streamhub/streamhub/sources/collector"
	"github.com/streamhub/streamhub/topology"
)

// The DLQ headers the collector writes are the processors' own, so one DLQ reader
// understands both.
func TestCollectorDLQHeadersAreTheProcessors(t *testing.T) {
	if collector.HeaderDLQReason != HeaderDLQReason || collector.HeaderDLQError != HeaderDLQError {
		t.Fatalf("collector DLQ headers %q %q, processors %q %q", collector.HeaderDLQReason, collector.HeaderDLQError, HeaderDLQReason, HeaderDLQError)
	}
}

// Envelopes written to an input topic by another producer come out like the collector's:
// valid ones in their topics (enriched, keyed by user), invalid ones in the DLQ with the
// reason and their input position; each exactly once for read_committed readers.
func TestEventsProcessorValidatesAndRoutes(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	e, err := kafka.StartEmbedded("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	dir := t.TempDir()
	schema := filepath.Join(dir, "signup.json")
	if err := os.WriteFile(schema, []byte(`{"type":"object","required":["plan"]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := &topology.Config{
		Env:   "test",
		Kafka: topology.Kafka{Brokers: e.Addrs(), ReplicationFactor: 1, MinInsyncReplicas: 1, Compression: "none"},
		Collector: &topology.Collector{
			DLQTopic:    "test.events.dlq",
			InputTopics: []string{"test.raw.events"},
			Events:      []topology.EventType{{Name: "signup", Schema: schema}},
			Routes:      []topology.Route{{Source: "billing", Topic: "test.billing"}},
			Partitions:  2,
		},
	}
	cfg.EnsureDefaults()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	conn, err := kafka.Connect(ctx, cfg.Kafka)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.EnsureTopics(ctx, append(cfg.Topics(), topology.TopicSpec{Name: "test.raw.events", Partitions: 3})); err != nil {
		t.Fatal(err)
	}

	env := func(id int, name, source string, payload string) []byte {
		return fmt.Appendf(nil, `{"event_id":"00000000-0000-4000-8000-%012d","event_name":%q,"occurred_at":"2026-11-25T12:00:00Z","source":%q,"user":{"id":"u%d"},"payload":%s}`,
			id, name, source, id%3, payload)
	}
	var in []*kgo.Record
	wantSignup, wantBilling := 0, 0
	for i := range 60 {
		var v []byte
		switch i % 4 {
		case 0:
			v = env(i, "signup", "web", `{"plan":"pro"}`)
			wantSignup++
		case 1:
			v = env(i, "invoice", "billing", `{}`)
			wantBilling++
		case 2:
			v = env(i, "signup", "web", `{"nope":1}`) // schema
		case 3:
			v = []byte(`{"event_id": 1`) // not JSON
		}
		in = append(in, &kgo.Record{Topic: "test.raw.events", Key: []byte(fmt.Sprint(i)), Value: v})
	}
	prod, err := conn.Client()
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	if err := prod.ProduceSync(ctx, in...).FirstErr(); err != nil {
		t.Fatal(err)
	}

	p, err := NewEvents(EventsOptions{Config: cfg, Conn: conn, InstanceID: "t1"})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- p.Run(runCtx) }()

	signup := waitRecords(t, ctx, conn, "test.web.signup", wantSignup)
	waitRecords(t, ctx, conn, "test.billing", wantBilling)
	dlq := waitRecords(t, ctx, conn, "test.events.dlq", 30)
	// Everything routed: the input topic's lag, summed over its partitions, is 0, and it
	// was measured (the gauge exists for the topic).
	if n := testutil.CollectAndCount(p.m.Lag); n != 1 {
		t.Errorf("lag series: %d, want 1 (test.raw.events)", n)
	}
	if lag := testutil.ToFloat64(p.m.Lag.WithLabelValues("test.raw.events")); lag != 0 {
		t.Errorf("lag of test.raw.events: %v, want 0", lag)
	}
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	for _, r := range signup {
		var v map[string]any
		if err := json.Unmarshal(r.Value, &v); err != nil || v["received_at"] == nil || v["client"] != nil {
			t.Errorf("signup value %s: want received_at and no client", r.Value)
		}
		if u := v["user"].(map[string]any)["id"]; string(r.Key) != u {
			t.Errorf("key %q, want the user id %v", r.Key, u)
		}
	}
	reasons := map[string]int{}
	for _, r := range dlq {
		for _, h := range r.Headers {
			if h.Key == HeaderDLQReason {
				reasons[string(h.Value)]++
			}
		}
		if !hasHeader(r, HeaderSourceOffset) || !hasHeader(r, HeaderSourceTopic) {
			t.Errorf("DLQ record without its input position: %v", r.Headers)
		}
	}
	if reasons[collector.ReasonSchema] != 15 || reasons[collector.ReasonInvalidJSON] != 15 {
		t.Errorf("DLQ reasons %v, want 15 schema_violation and 15 invalid_json", reasons)
	}
	// Read again: still exactly once (nothing doubled by the processor's transactions).
	if n := len(readAll(t, ctx, conn, "test.web.signup")); n != wantSignup {
		t.Errorf("signup topic holds %d, want %d", n, wantSignup)
	}
}

func hasHeader(r *kgo.Record, key string) bool {
	for _, h := range r.Headers {
		if h.Key == key {
			return true
		}
	}
	return false
}

// waitRecords reads a topic (read_committed) until it holds n records; more is an error.
func waitRecords(t *testing.T, ctx context.Context, conn *kafka.Conn, topic string, n int) []*kgo.Record {
	t.Helper()
	for {
		recs := readAll(t, ctx, conn, topic)
		switch {
		case len(recs) == n:
			return recs
		case len(recs) > n:
			t.Fatalf("%s holds %d records, want %d", topic, len(recs), n)
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s holds %d records, want %d", topic, len(recs), n)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// readAll reads what read_committed consumers see in topic now (up to its last stable
// offset); a topic that does not exist yet is empty.
func readAll(t *testing.T, ctx context.Context, conn *kafka.Conn, topic string) []*kgo.Record {
	t.Helper()
	cl, err := conn.Client(kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var out []*kgo.Record
	for {
		pctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
		fs := cl.PollFetches(pctx)
		cancel()
		recs := fs.Records()
		if len(recs) == 0 {
			sort.Slice(out, func(i, j int) bool { return out[i].Offset < out[j].Offset })
			return out
		}
		out = append(out, recs...)
	}
}

// A stopped events processor's successor (another instance, same group) continues after
// the committed offsets: every input record routed once.
func TestEventsProcessorRestartRoutesEachRecordOnce(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	e, err := kafka.StartEmbedded("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	cfg := &topology.Config{
		Env:       "test",
		Kafka:     topology.Kafka{Brokers: e.Addrs(), ReplicationFactor: 1, MinInsyncReplicas: 1, Compression: "none"},
		Collector: &topology.Collector{InputTopics: []string{"test.raw"}, Partitions: 2},
	}
	cfg.EnsureDefaults()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	conn, err := kafka.Connect(ctx, cfg.Kafka)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.EnsureTopics(ctx, append(cfg.Topics(), topology.TopicSpec{Name: "test.raw", Partitions: 2})); err != nil {
		t.Fatal(err)
	}
	prod, err := conn.Client()
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	produce := func(from, to int) {
		var recs []*kgo.Record
		for i := from; i < to; i++ {
			recs = append(recs, &kgo.Record{Topic: "test.raw", Value: fmt.Appendf(nil,
				`{"event_id":"00000000-0000-4000-8000-%012d","event_name":"tick","occurred_at":"2026-11-25T12:00:00Z","source":"svc"}`, i)})
		}
		if err := prod.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	run := func(instance string, want int) {
		p, err := NewEvents(EventsOptions{Config: cfg, Conn: conn, InstanceID: instance})
		if err != nil {
			t.Fatal(err)
		}
		runCtx, stop := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- p.Run(runCtx) }()
		waitRecords(t, ctx, conn, "test.svc.tick", want)
		stop()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	produce(0, 50)
	run("a", 50)
	produce(50, 80)
	run("b", 80)
	seen := map[string]int{}
	for _, r := range readAll(t, ctx, conn, "test.svc.tick") {
		seen[string(r.Key)]++
	}
	if len(seen) != 80 {
		t.Fatalf("%d distinct events, want 80", len(seen))
	}
	for k, n := range seen {
		if n != 1 {
			t.Errorf("event %s routed %d times", k, n)
		}
	}
}
