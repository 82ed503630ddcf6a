package dynamodb

import (
	"context"
	"fmt"
	"log/slog"
	"math/big"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/streamhub/streamhub/kafka"
	"github.com/streamhub/streamhub/sources/dynamodb/ddbtest"
	"github.com/streamhub/streamhub/state"
	"github.com/streamhub/streamhub/topology"
)

// env is one test's world: an embedded broker, a ddbtest server with a "users" table
// (hash key pk, range key sk) and a topology bridging it.
type env struct {
	t      *testing.T
	cfg    *topology.Config
	conn   *kafka.Conn
	ddb    *ddbtest.Server
	arn    string
	aws    aws.Config
	mu     sync.Mutex
	writes []ddbtest.Change // every stream record ddbtest emitted, in write order
}

func newEnv(t *testing.T, shards, leases int) *env {
	t.Helper()
	return newEnvWith(t, shards, leases, "endpoint: {{url}}\n    region: us-east-1\n    poll_interval: 20ms")
}

// newEnvWith is newEnv with the source's settings after its table given as YAML;
// {{url}} stands for the ddbtest server's URL.
func newEnvWith(t *testing.T, shards, leases int, source string) *env {
	t.Helper()
	return newEnvTable(t, ddbtest.TableSpec{Name: "users", HashKey: "pk", RangeKey: "sk", Shards: shards}, leases, source)
}

// newEnvTable is newEnvWith with the DynamoDB table's own spec (the topology keys it
// [pk, sk] whatever the spec says).
func newEnvTable(t *testing.T, spec ddbtest.TableSpec, leases int, source string) *env {
	t.Helper()
	srv := ddbtest.New(ddbtest.WithSeed(1))
	t.Cleanup(srv.Close)
	arn, err := srv.CreateTable(spec)
	if err != nil {
		t.Fatal(err)
	}
	yaml := fmt.Sprintf(`
env: test
kafka:
  brokers: embedded
  embedded_listen: 127.0.0.1:0
tables:
  - name: users
    keys: [pk, sk]
    partitions: 4
sources:
  - type: dynamodb
    table: users
    %s
bridge:
  leases: %d
  discovery_interval: 100ms
  max_backoff: 200ms
`, strings.ReplaceAll(source, "{{url}}", srv.URL()), leases)
	cfg, err := topology.Parse("bridge-test.yaml", []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	conn, err := kafka.Connect(context.Background(), cfg.Kafka)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(conn.Close)
	if _, err := conn.EnsureTopics(context.Background(), cfg.Topics()); err != nil {
		t.Fatal(err)
	}
	return &env{
		t: t, cfg: cfg, conn: conn, ddb: srv, arn: arn,
		aws: aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("AKIDTEST", "secret", "")},
	}
}

func testLogger() *slog.Logger {
	level := slog.LevelWarn
	if os.Getenv("STREAMHUB_TEST_DEBUG") != "" {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
}

// instance is a bridge running in the background.
type instance struct {
	b    *Bridge
	reg  *prometheus.Registry
	stop context.CancelFunc
	// exited is closed when Run has returned err.
	exited chan struct{}
	err    error
}

func (e *env) start(name string, hooks Hooks) *instance {
	e.t.Helper()
	reg := prometheus.NewRegistry()
	awsCfg := e.aws
	b, err := New(context.Background(), Options{
		Config: e.cfg, Conn: e.conn, InstanceID: name, AWS: &awsCfg, Registry: reg,
		Logger: testLogger().With("instance", name), Hooks: hooks,
		GroupOptions: []kgo.Opt{kgo.SessionTimeout(6 * time.Second), kgo.HeartbeatInterval(500 * time.Millisecond)},
	})
	if err != nil {
		e.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	in := &instance{b: b, reg: reg, stop: cancel, exited: make(chan struct{})}
	go func() { in.err = b.Run(ctx); close(in.exited) }()
	e.t.Cleanup(func() {
		cancel()
		select {
		case <-in.exited:
		case <-time.After(30 * time.Second):
			e.t.Error("bridge did not stop within 30s")
		}
	})
	return in
}

// shutdown stops an instance gracefully and returns Run's error.
func (in *instance) shutdown(t *testing.T) error {
	t.Helper()
	in.stop()
	return in.wait(t, 30*time.Second)
}

// wait returns Run's error once it has returned.
func (in *instance) wait(t *testing.T, timeout time.Duration) error {
	t.Helper()
	select {
	case <-in.exited:
		return in.err
	case <-time.After(timeout):
		t.Fatalf("bridge still running after %s", timeout)
		return nil
	}
}

func (in *instance) counter(t *testing.T, name string, labels ...string) float64 {
	t.Helper()
	mfs, err := in.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metric:
		for _, m := range mf.GetMetric() {
			for i := 0; i+1 < len(labels); i += 2 {
				found := false
				for _, lp := range m.GetLabel() {
					if lp.GetName() == labels[i] && lp.GetValue() == labels[i+1] {
						found = true
					}
				}
				if !found {
					continue metric
				}
			}
			if c := m.GetCounter(); c != nil {
				sum += c.GetValue()
			} else if g := m.GetGauge(); g != nil {
				sum += g.GetValue()
			}
		}
	}
	return sum
}

var _ = testutil.ToFloat64

// workload writes n changes over items items: puts (inserts and modifies) and deletes,
// re-creating deleted items. Each write's stream record is remembered.
func (e *env) workload(seed uint64, items, n int) {
	e.t.Helper()
	rng := rand.New(rand.NewPCG(seed, 7))
	for i := 0; i < n; i++ {
		k := rng.IntN(items)
		key := ddbtest.Item{"pk": state.StringValue(fmt.Sprintf("user#%d", k)), "sk": state.StringValue("profile")}
		var ch ddbtest.Change
		var ok = true
		var err error
		if rng.IntN(10) == 0 {
			ch, ok, err = e.ddb.DeleteItem("users", key)
		} else {
			item := ddbtest.Item{"pk": key["pk"], "sk": key["sk"], "n": state.NumberValue(strconv.Itoa(i)),
				"name": state.StringValue(fmt.Sprintf("name-%d", rng.IntN(1000)))}
			ch, err = e.ddb.PutItem("users", item)
		}
		if err != nil {
			e.t.Fatal(err)
		}
		if ok {
			e.mu.Lock()
			e.writes = append(e.writes, ch)
			e.mu.Unlock()
		}
	}
}

// topicRecord is one CDC record as read back.
type topicRecord struct {
	key, shard, seq string
	partition       int32
	offset          int64
	value           []byte
}

// readTopic reads the CDC topic (read_committed) until it holds want records, or fails
// after a while with what it found.
func (e *env) readTopic(want int) []topicRecord {
	e.t.Helper()
	cl, err := e.conn.Client(
		kgo.ConsumeTopics(e.cfg.Tables[0].Topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
	)
	if err != nil {
		e.t.Fatal(err)
	}
	defer cl.Close()
	var out []topicRecord
	deadline := time.Now().Add(90 * time.Second)
	for len(out) < want && time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		fs := cl.PollFetches(ctx)
		cancel()
		fs.EachRecord(func(r *kgo.Record) {
			tr := topicRecord{key: string(r.Key), partition: r.Partition, offset: r.Offset, value: r.Value}
			for _, h := range r.Headers {
				switch h.Key {
				case HeaderShard:
					tr.shard = string(h.Value)
				case HeaderSequence:
					tr.seq = string(h.Value)
				}
			}
			out = append(out, tr)
		})
	}
	// A little longer, to catch duplicates beyond the expected count.
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	cl.PollFetches(ctx).EachRecord(func(r *kgo.Record) {
		out = append(out, topicRecord{key: string(r.Key), seq: header(r, HeaderSequence), shard: header(r, HeaderShard), partition: r.Partition, offset: r.Offset})
	})
	cancel()
	return out
}

func header(r *kgo.Record, k string) string {
	for _, h := range r.Headers {
		if h.Key == k {
			return string(h.Value)
		}
	}
	return ""
}

// checkExactlyOnce asserts the topic holds every written record once, and that each
// item's records are in sequence-number order within their partition.
func (e *env) checkExactlyOnce(got []topicRecord) {
	e.t.Helper()
	e.mu.Lock()
	writes := append([]ddbtest.Change(nil), e.writes...)
	e.mu.Unlock()
	want := map[string]bool{}
	for _, w := range writes {
		want[w.SequenceNumber] = true
	}
	seen := map[string]int{}
	for _, r := range got {
		seen[r.seq]++
	}
	missing, dup, extra := 0, 0, 0
	for seq := range want {
		if seen[seq] == 0 {
			missing++
		}
	}
	for seq, n := range seen {
		if n > 1 {
			dup++
		}
		if !want[seq] {
			extra++
		}
	}
	if missing+dup+extra > 0 {
		e.t.Fatalf("topic holds %d records for %d writes: %d missing, %d duplicated, %d unknown", len(got), len(writes), missing, dup, extra)
	}
	last := map[string]*big.Int{}
	for _, r := range got {
		n, ok := new(big.Int).SetString(r.seq, 10)
		if !ok {
			e.t.Fatalf("sequence %q is not a number", r.seq)
		}
		if p := last[r.key]; p != nil && p.Cmp(n) >= 0 {
			e.t.Fatalf("item %s: sequence %s after %s", r.key, r.seq, p)
		}
		last[r.key] = n
	}
}

func waitFor(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

type kgoOpt = kgo.Opt

var (
	kgoTransactionalID = kgo.TransactionalID
	kgoPartitioner     = kgo.RecordPartitioner
)
