package bench

import (
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/streamhub/streamhub/kafka"
	"github.com/streamhub/streamhub/topology"
)

// stubCollector stands in for the collector when the load generator is tested on its own:
// it speaks the protocol and answers 200 only after Kafka acknowledged the batch, with
// none of the real one's validation, routing or transactions. It remembers the event IDs
// it took, so the test can check that the generator sent each event once.
type stubCollector struct {
	cl    *kgo.Client
	topic string
	mu    sync.Mutex
	ids   map[string]int
}

func (s *stubCollector) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var body io.Reader = r.Body
	if r.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		body = zr
	}
	var evs []json.RawMessage
	if err := json.NewDecoder(body).Decode(&evs); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	recs := make([]*kgo.Record, len(evs))
	ids := make([]string, len(evs))
	for i, e := range evs {
		var env struct {
			EventID string `json:"event_id"`
			User    struct {
				ID string `json:"id"`
			} `json:"user"`
		}
		json.Unmarshal(e, &env)
		ids[i] = env.EventID
		recs[i] = &kgo.Record{Topic: s.topic, Key: []byte(env.User.ID), Value: e}
	}
	if err := s.cl.ProduceSync(r.Context(), recs...).FirstErr(); err != nil {
		w.Header().Set("Retry-After", "1")
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
		return
	}
	s.mu.Lock()
	for _, id := range ids {
		s.ids[id]++
	}
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"accepted": len(evs), "rejected": 0})
}

func embeddedKafka(t testing.TB) *kafka.Conn {
	t.Helper()
	cfg, err := topology.Parse("bench.yaml", []byte("env: bench\nkafka: {brokers: embedded, embedded_listen: \"127.0.0.1:0\"}\ncollector: {listen: \"127.0.0.1:0\"}\n"))
	if err != nil {
		t.Fatal(err)
	}
	conn, err := kafka.Connect(context.Background(), cfg.Kafka)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(conn.Close)
	return conn
}

func startStub(t testing.TB, conn *kafka.Conn) (*stubCollector, *httptest.Server) {
	t.Helper()
	if _, err := conn.EnsureTopics(context.Background(), []topology.TopicSpec{{Name: "bench.bench.bench_event", Partitions: 3}}); err != nil {
		t.Fatal(err)
	}
	cl, err := conn.Client()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	stub := &stubCollector{cl: cl, topic: "bench.bench.bench_event", ids: map[string]int{}}
	srv := httptest.NewServer(stub)
	t.Cleanup(srv.Close)
	return stub, srv
}

// TestCollectorLoadGeneratorSendsEachEventOnce keeps the load generator honest: against a
// stub collector on the embedded broker, every event is sent and accepted once and both
// rates are measured.
func TestCollectorLoadGeneratorSendsEachEventOnce(t *testing.T) {
	for _, gz := range []bool{false, true} {
		conn := embeddedKafka(t)
		stub, srv := startStub(t, conn)
		res, err := Collector(context.Background(), CollectorOptions{URL: srv.URL, Kafka: conn.Kafka(), Events: 3000, Clients: 3, Gzip: gz})
		if err != nil {
			t.Fatal(err)
		}
		if res.Stats.Accepted != 3000 || res.Stats.Requests < 30 || res.Stats.Retried != 0 {
			t.Errorf("gzip %v: stats %+v", gz, res.Stats)
		}
		if len(stub.ids) != 3000 {
			t.Errorf("gzip %v: the stub took %d distinct events, want 3000", gz, len(stub.ids))
		}
		for id, n := range stub.ids {
			if n != 1 {
				t.Errorf("event %s taken %d times", id, n)
			}
		}
		if res.RawPerSec <= 0 || res.RawBatchedPerSec <= 0 || res.CollectorPerSec <= 0 || res.EventBytes < 200 {
			t.Errorf("not measured: %+v", res)
		}
		t.Logf("gzip %v:\n%s", gz, res)
	}
}

// TestCollectorInProcess runs the benchmark end to end at a small size: a real collector,
// the Go clients, the embedded broker. Every event must be in its topic exactly once for
// a read_committed reader.
func TestCollectorInProcess(t *testing.T) {
	conn := embeddedKafka(t)
	const n = 3000
	res, err := CollectorInProcess(context.Background(), CollectorOptions{Kafka: conn.Kafka(), Events: n, Clients: 2}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("\n%s", res)
	if res.Stats.Accepted != n || res.Stats.Failed != 0 || res.Stats.Rejected != 0 {
		t.Errorf("stats %+v", res.Stats)
	}
	cl, err := conn.Client(kgo.ConsumeTopics("bench.bench.bench_event"), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ids := map[string]int{}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	total := 0
	for total < n && ctx.Err() == nil {
		fs := cl.PollFetches(ctx)
		fs.EachRecord(func(r *kgo.Record) {
			var e struct {
				EventID string `json:"event_id"`
			}
			if err := json.Unmarshal(r.Value, &e); err != nil {
				t.Errorf("record %s: %v", r.Value, err)
			}
			ids[e.EventID]++
			total++
		})
	}
	if total != n || len(ids) != n {
		t.Errorf("%d records, %d distinct events in the topic, want %d", total, len(ids), n)
	}
}

// BenchmarkCollector runs the load generator against a real collector in process, on the
// embedded broker. `streamhub bench collector` runs the same with flags.
func BenchmarkCollector(b *testing.B) {
	for b.Loop() {
		res, err := CollectorInProcess(context.Background(), CollectorOptions{Events: 200_000}, nil)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(res.CollectorPerSec, "events/s")
		b.ReportMetric(res.RawPerSec, "raw-events/s")
		b.ReportMetric(res.Ratio(), "ratio")
	}
}

// BenchmarkCollectorStub runs the load generator against the stub collector: the
// client and HTTP share of the cost, without the real collector's validation and
// transactions.
func BenchmarkCollectorStub(b *testing.B) {
	conn := embeddedKafka(b)
	_, srv := startStub(b, conn)
	for b.Loop() {
		res, err := Collector(context.Background(), CollectorOptions{URL: srv.URL, Kafka: conn.Kafka(), Events: 200_000})
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(res.CollectorPerSec, "events/s")
		b.ReportMetric(res.RawPerSec, "raw-events/s")
		b.ReportMetric(res.Ratio(), "ratio")
	}
}
