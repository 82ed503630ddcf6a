package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"reflect"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/streamhub/streamhub/kafka"
	"github.com/streamhub/streamhub/pipeline"
	"github.com/streamhub/streamhub/sources/synthetic"
	"github.com/streamhub/streamhub/topology"
)

// testConfig is a one-table topology on an embedded broker; the API listens on a free port.
func testConfig(t *testing.T, partitions int) *topology.Config {
	t.Helper()
	yaml := fmt.Sprintf(`
env: e2e
kafka:
  brokers: embedded
  embedded_listen: 127.0.0.1:0
tables:
  - name: users
    keys: [pk, sk]
    version_attribute: updatedAt
    partitions: %d
api:
  listen: 127.0.0.1:0
processor:
  storage_dir: %s
  shutdown_timeout: 20s
`, partitions, t.TempDir())
	cfg, err := topology.Parse("e2e.yaml", []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// startBroker starts an embedded broker that outlives the pipelines of a test, with the
// topology's topics.
func startBroker(t *testing.T, cfg *topology.Config) *kafka.Conn {
	t.Helper()
	conn, err := kafka.Connect(context.Background(), cfg.Kafka)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(conn.Close)
	if _, err := pipeline.ApplyTopics(context.Background(), conn, cfg, testLogger(t)); err != nil {
		t.Fatal(err)
	}
	return conn
}

func testLogger(t *testing.T) *slog.Logger {
	level := slog.LevelWarn
	if os.Getenv("STREAMHUB_TEST_DEBUG") != "" {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
}

// running is a pipeline running in the background of a test.
type running struct {
	*pipeline.Pipeline
	stop func()
	done chan error
}

func startPipeline(t *testing.T, cfg *topology.Config, conn *kafka.Conn, roles pipeline.Roles, instance string, memory bool) *running {
	t.Helper()
	p, err := pipeline.New(context.Background(), pipeline.Options{
		Config: cfg, Roles: roles, Conn: conn, InstanceID: instance, MemoryStorage: memory, Logger: testLogger(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{Pipeline: p, done: make(chan error, 1)}
	go func() { r.done <- p.Run(ctx) }()
	stopped := false
	r.stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-r.done:
			if err != nil {
				t.Errorf("pipeline %s: %v", instance, err)
			}
		case <-time.After(60 * time.Second):
			t.Errorf("pipeline %s did not stop within 60s", instance)
		}
	}
	t.Cleanup(r.stop)
	return r
}

func produce(t *testing.T, conn *kafka.Conn, topic string, ds []synthetic.Delivery) {
	t.Helper()
	cl, err := conn.Client(kgo.DefaultProduceTopic(topic))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	recs := make([]*kgo.Record, len(ds))
	for i, d := range ds {
		recs[i] = &kgo.Record{Key: []byte(d.Key), Value: d.Value}
	}
	if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

// workload generates n changes over items and returns every delivery and the generator.
func workload(items, changes int, seed uint64) ([]synthetic.Delivery, *synthetic.Generator) {
	g := synthetic.New(synthetic.Options{Items: items, Seed: seed, Start: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)})
	var ds []synthetic.Delivery
	for range changes {
		ds = append(ds, g.Next()...)
	}
	return append(ds, g.Flush()...), g
}

func waitFor(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// processed waits until the processors have consumed n records in total.
func processed(t *testing.T, n int64, ps ...*running) {
	t.Helper()
	waitFor(t, fmt.Sprintf("%d records processed", n), 90*time.Second, func() bool {
		var in int64
		for _, p := range ps {
			s := p.Status()
			in += s.Applied + s.Stale + s.Duplicate + s.Invalid
		}
		return in >= n
	})
}

type apiResponse struct {
	Code   int
	Header http.Header
	Body   []byte
}

func get(t *testing.T, addr, path string, query url.Values, header ...string) apiResponse {
	t.Helper()
	u := "http://" + addr + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return apiResponse{Code: resp.StatusCode, Header: resp.Header, Body: body}
}

func decode(t *testing.T, b []byte) map[string]any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
	return m
}

// eventuallyFinalState waits (views are eventually consistent) until the view API agrees
// with the model, then reports every item that still differs.
func eventuallyFinalState(t *testing.T, addr string, final map[string]synthetic.Expected) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) && len(diffFinalState(t, addr, final)) > 0 {
		time.Sleep(200 * time.Millisecond)
	}
	checkFinalState(t, addr, final)
}

// checkFinalState asks the view API for every item of the model and compares, item by item.
func checkFinalState(t *testing.T, addr string, final map[string]synthetic.Expected) {
	t.Helper()
	diffs := diffFinalState(t, addr, final)
	for i, d := range diffs {
		if i == 10 {
			t.Errorf("... and %d more", len(diffs)-10)
			break
		}
		t.Error(d)
	}
}

func diffFinalState(t *testing.T, addr string, final map[string]synthetic.Expected) []string {
	t.Helper()
	var diffs []string
	for key, want := range final {
		var parts []string
		_ = json.Unmarshal([]byte(key), &parts)
		q := url.Values{"pk": {parts[0]}, "sk": {parts[1]}, "include_deleted": {"true"}}
		resp := get(t, addr, "/v1/tables/users/item", q)
		if resp.Code != http.StatusOK {
			diffs = append(diffs, fmt.Sprintf("%s: status %d: %s", key, resp.Code, resp.Body))
			continue
		}
		got := decode(t, resp.Body)
		if got["deleted"] != want.Deleted {
			diffs = append(diffs, fmt.Sprintf("%s: deleted = %v, want %v", key, got["deleted"], want.Deleted))
			continue
		}
		if !want.Deleted && !reflect.DeepEqual(got["item"], want.Item) {
			diffs = append(diffs, fmt.Sprintf("%s: item\n got %v\nwant %v", key, got["item"], want.Item))
		}
	}
	return diffs
}
