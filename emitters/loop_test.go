package emitters

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/streamhub/streamhub/kafka"
	"github.com/streamhub/streamhub/topology"
)

// objectSink is a stand-in for a lake sink: it groups a batch's records by their "bucket"
// header (as the lake groups by hour, which need not follow offsets) and writes one object
// per group named by the group's first offset, replacing any object of that name. A redo
// that cut the partition differently than the lost flush would leave overlapping objects.
type objectSink struct {
	mu      sync.Mutex
	objects map[string][]int64 // name → offsets
	reject  func(*kgo.Record) bool
	// failOnce makes the next Flush write only its first group, then fail.
	failOnce bool
	flushes  int
	ranges   []flushRange // every Flush call's batch
}

type flushRange struct {
	part        int32
	first, last int64
}

func newObjectSink() *objectSink { return &objectSink{objects: map[string][]int64{}} }

func (s *objectSink) Flush(_ context.Context, b *Batch) ([]Reject, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.flushes++
	s.ranges = append(s.ranges, flushRange{b.Partition, b.First(), b.Last()})
	groups := map[string][]int64{}
	var order []string
	var rejects []Reject
	for _, r := range b.Records {
		if s.reject != nil && s.reject(r) {
			rejects = append(rejects, Reject{Record: r, Reason: "bad_value", Err: errors.New("value is not writable")})
			continue
		}
		g := headerOf(r, "bucket")
		if _, ok := groups[g]; !ok {
			order = append(order, g)
		}
		groups[g] = append(groups[g], r.Offset)
	}
	for i, g := range order {
		offs := groups[g]
		s.objects[fmt.Sprintf("%s/%s+%d+%020d", g, b.Topic, b.Partition, offs[0])] = offs
		if s.failOnce && i == 0 {
			s.failOnce = false
			return nil, errors.New("connection reset in the middle of an upload")
		}
	}
	return rejects, nil
}

func (s *objectSink) Close() error { return nil }

// offsets returns, per partition, how many times each offset appears across objects.
func (s *objectSink) count() map[string]map[int64]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]map[int64]int{}
	for name, offs := range s.objects {
		var topic string
		var part int
		// name: bucket/topic+part+first
		for i := len(name) - 1; i >= 0; i-- {
			if name[i] == '/' {
				fmt.Sscanf(name[i+1:], "%s", &topic)
				break
			}
		}
		_ = part
		key := topic[:len(topic)-21] // drop "+<first>"
		if out[key] == nil {
			out[key] = map[int64]int{}
		}
		for _, o := range offs {
			out[key][o]++
		}
	}
	return out
}

func headerOf(r *kgo.Record, k string) string {
	for _, h := range r.Headers {
		if h.Key == k {
			return string(h.Value)
		}
	}
	return ""
}

type env struct {
	t     *testing.T
	conn  *kafka.Conn
	topic string
	parts int
	sent  map[int32]int64 // records produced per partition
}

func newEnv(t *testing.T, parts int) *env {
	t.Helper()
	cfg, err := topology.Parse("t.yaml", []byte("kafka: {brokers: embedded, embedded_listen: \"127.0.0.1:0\"}\ntables: [{name: t, keys: [k]}]\n"))
	if err != nil {
		t.Fatal(err)
	}
	conn, err := kafka.Connect(context.Background(), cfg.Kafka)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(conn.Close)
	e := &env{t: t, conn: conn, topic: "events", parts: parts, sent: map[int32]int64{}}
	if _, err := conn.EnsureTopics(context.Background(), []topology.TopicSpec{
		{Name: e.topic, Partitions: parts}, {Name: "dlq", Partitions: 1},
	}); err != nil {
		t.Fatal(err)
	}
	return e
}

// produce writes n records round-robin over the partitions, each with a "bucket" header
// that jumps back and forth, as record times do.
func (e *env) produce(n int) {
	e.t.Helper()
	cl, err := e.conn.Client(kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		e.t.Fatal(err)
	}
	defer cl.Close()
	recs := make([]*kgo.Record, n)
	for i := range recs {
		p := int32(i % e.parts)
		recs[i] = &kgo.Record{Topic: e.topic, Partition: p, Key: []byte(strconv.Itoa(i)),
			Value:   []byte(fmt.Sprintf(`{"i":%d}`, i)),
			Headers: []kgo.RecordHeader{{Key: "bucket", Value: []byte(fmt.Sprintf("b%d", (i*7)%3))}}}
		e.sent[p]++
	}
	if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) total() int64 {
	var n int64
	for _, c := range e.sent {
		n += c
	}
	return n
}

type running struct {
	l    *Loop
	stop context.CancelFunc
	done chan struct{}
	err  error
}

func (e *env) start(sink Sink, buf topology.Buffer, hooks Hooks) *running {
	e.t.Helper()
	l, err := New(Options{
		Name: "test", Conn: e.conn, Topics: []string{e.topic}, Buffer: buf, DLQTopic: "dlq", Sink: sink,
		Logger: testLogger(), Hooks: hooks,
		GroupOptions: []kgo.Opt{kgo.SessionTimeout(6 * time.Second), kgo.HeartbeatInterval(300 * time.Millisecond)},
	})
	if err != nil {
		e.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{l: l, stop: cancel, done: make(chan struct{})}
	go func() { r.err = l.Run(ctx); close(r.done) }()
	e.t.Cleanup(func() { cancel(); <-r.done })
	return r
}

func (r *running) wait(t *testing.T) error {
	t.Helper()
	select {
	case <-r.done:
		return r.err
	case <-time.After(60 * time.Second):
		t.Fatal("loop did not stop within 60s")
		return nil
	}
}

func testLogger() *slog.Logger {
	level := slog.LevelWarn
	if os.Getenv("STREAMHUB_TEST_DEBUG") != "" {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
}

// exactlyOnce requires every produced offset in exactly one object (rejected offsets
// excepted).
func (e *env) exactlyOnce(s *objectSink, rejected map[int64]bool) {
	e.t.Helper()
	counts := s.count()
	for p := int32(0); p < int32(e.parts); p++ {
		key := fmt.Sprintf("%s+%d", e.topic, p)
		got := counts[key]
		var missing, dup []int64
		for o := int64(0); o < e.sent[p]; o++ {
			switch n := got[o]; {
			case n == 0 && !rejected[o]:
				missing = append(missing, o)
			case n > 1:
				dup = append(dup, o)
			}
		}
		if len(missing)+len(dup) > 0 {
			sort.Slice(missing, func(i, j int) bool { return missing[i] < missing[j] })
			e.t.Fatalf("partition %d: missing %v, duplicated %v", p, head(missing), head(dup))
		}
	}
}

func head(s []int64) []int64 {
	if len(s) > 10 {
		return s[:10]
	}
	return s
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

func TestEveryOffsetIsFlushedOnceAndCommitted(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 3)
	s := newObjectSink()
	r := e.start(s, topology.Buffer{CountRecords: 100, SizeBytes: 1 << 20, FlushTime: 200 * time.Millisecond}, Hooks{})
	e.produce(1000)
	waitFor(t, "every record flushed", 30*time.Second, func() bool { return r.l.Flushed() == e.total() })
	e.produce(55) // below count_records: flushed by flush_time
	waitFor(t, "the tail flushed by time", 30*time.Second, func() bool { return r.l.Flushed() == e.total() })
	r.stop()
	if err := r.wait(t); err != nil {
		t.Fatal(err)
	}
	e.exactlyOnce(s, nil)
}

func TestCrashAfterFlushIsRedoneExactlyEvenWithOtherLimits(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 2)
	s := newObjectSink()
	e.produce(2000)
	var n int
	var lost flushRange
	crash := errors.New("killed after the upload, before the commit")
	first := e.start(s, topology.Buffer{CountRecords: 300, SizeBytes: 1 << 20, FlushTime: time.Hour}, Hooks{
		BeforeCommit: func(b *Batch) error {
			if n++; n == 3 {
				lost = flushRange{b.Partition, b.First(), b.Last()}
				return crash
			}
			return nil
		},
	})
	if err := first.wait(t); !errors.Is(err, crash) {
		t.Fatalf("Run returned %v, want the crash", err)
	}
	s.mu.Lock()
	before := len(s.ranges)
	s.mu.Unlock()
	// The restarted sink cuts differently (count 77): had it not redone the lost flush's
	// exact range, objects named by a group's first offset would overlap.
	second := e.start(s, topology.Buffer{CountRecords: 77, SizeBytes: 1 << 20, FlushTime: 100 * time.Millisecond}, Hooks{})
	waitFor(t, "the rest flushed", 30*time.Second, func() bool { return second.l.Flushed() >= e.total()-600 })
	e.produce(100)
	waitFor(t, "the new records flushed", 30*time.Second, func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		var c int
		for _, o := range s.objects {
			c += len(o)
		}
		return int64(c) >= e.total()
	})
	second.stop()
	if err := second.wait(t); err != nil {
		t.Fatal(err)
	}
	e.exactlyOnce(s, nil)
	// The restarted sink's first flush of that partition is the lost flush's range.
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range s.ranges[before:] {
		if r.part == lost.part {
			if r != lost {
				t.Errorf("first flush of partition %d after the crash: %+v, want the lost range %+v", lost.part, r, lost)
			}
			break
		}
	}
}

func TestAFlushFailingMidUploadIsRetriedWhole(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 1)
	s := newObjectSink()
	s.failOnce = true
	r := e.start(s, topology.Buffer{CountRecords: 50, SizeBytes: 1 << 20, FlushTime: 100 * time.Millisecond}, Hooks{})
	e.produce(500)
	waitFor(t, "every record flushed", 30*time.Second, func() bool { return r.l.Flushed() == e.total() })
	r.stop()
	if err := r.wait(t); err != nil {
		t.Fatal(err)
	}
	e.exactlyOnce(s, nil)
	if n := counterValue(t, r.l.opts.Metrics.retries.WithLabelValues("test")); n != 1 {
		t.Errorf("retries %v, want 1", n)
	}
}

func TestTwoInstancesShareAndHandOverPartitions(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 4)
	s := newObjectSink()
	buf := topology.Buffer{CountRecords: 40, SizeBytes: 1 << 20, FlushTime: 100 * time.Millisecond}
	a := e.start(s, buf, Hooks{})
	var crashB sync.Once
	var dieB = make(chan struct{})
	b := e.start(s, buf, Hooks{BeforeCommit: func(*Batch) error {
		select {
		case <-dieB:
			var err error
			crashB.Do(func() { err = errors.New("b killed") })
			if err == nil {
				err = errors.New("b already dead")
			}
			return err
		default:
			return nil
		}
	}})
	for range 5 {
		e.produce(400)
		time.Sleep(100 * time.Millisecond)
	}
	waitFor(t, "b flushed some", 30*time.Second, func() bool { return b.l.Flushed() > 0 })
	close(dieB)
	e.produce(400) // b dies at its next flush
	if err := b.wait(t); err == nil {
		t.Fatal("b did not crash")
	}
	e.produce(400)
	// a takes b's partitions (after the session timeout) and redoes b's last flush.
	waitFor(t, "everything flushed", 60*time.Second, func() bool {
		return int64(len(s.count()[e.topic+"+0"])+len(s.count()[e.topic+"+1"])+len(s.count()[e.topic+"+2"])+len(s.count()[e.topic+"+3"])) >= e.total()
	})
	a.stop()
	if err := a.wait(t); err != nil {
		t.Fatal(err)
	}
	e.exactlyOnce(s, nil)
}

func TestRejectedRecordsGoToTheDLQAndTheRestFlows(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 1)
	s := newObjectSink()
	rejected := map[int64]bool{}
	s.reject = func(r *kgo.Record) bool { return r.Offset%10 == 3 }
	r := e.start(s, topology.Buffer{CountRecords: 30, SizeBytes: 1 << 20, FlushTime: 100 * time.Millisecond}, Hooks{})
	e.produce(100)
	for o := int64(3); o < 100; o += 10 {
		rejected[o] = true
	}
	waitFor(t, "every record handled", 30*time.Second, func() bool { return r.l.Flushed() == e.total() })
	r.stop()
	if err := r.wait(t); err != nil {
		t.Fatal(err)
	}
	e.exactlyOnce(s, rejected)
	cl, err := e.conn.Client(kgo.ConsumeTopics("dlq"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var got []*kgo.Record
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for len(got) < len(rejected) && ctx.Err() == nil {
		got = append(got, cl.PollFetches(ctx).Records()...)
	}
	if len(got) != len(rejected) {
		t.Fatalf("DLQ holds %d records, want %d", len(got), len(rejected))
	}
	for _, d := range got {
		off, _ := strconv.ParseInt(headerOf(d, HeaderSourceOffset), 10, 64)
		if !rejected[off] || headerOf(d, HeaderDLQReason) != "bad_value" || headerOf(d, HeaderDLQSink) != "test" ||
			headerOf(d, HeaderSourceTopic) != e.topic || headerOf(d, "bucket") == "" {
			t.Errorf("DLQ record headers %v", d.Headers)
		}
	}
}

// TestLagSumsOwnedPartitions: the lag gauge of a topic is the sum over the partitions the
// instance owns, not the last partition fetched, and a revoked partition leaves the sum.
func TestLagSumsOwnedPartitions(t *testing.T) {
	reg := prometheus.NewRegistry()
	l := &Loop{opts: Options{Name: "s", Metrics: NewMetrics(reg)}, bufs: map[tp]*buffer{}, pins: map[tp]intent{}, lags: map[tp]int64{}}
	fetch := func(topic string, part int32, hwm, last int64) kgo.Fetches {
		return kgo.Fetches{{Topics: []kgo.FetchTopic{{Topic: topic, Partitions: []kgo.FetchPartition{{
			Partition: part, HighWatermark: hwm,
			Records: []*kgo.Record{{Topic: topic, Partition: part, Offset: last}},
		}}}}}}
	}
	gauge := func(topic string) float64 {
		return testutil.ToFloat64(l.opts.Metrics.lag.WithLabelValues("s", topic))
	}
	l.add(fetch("a", 0, 100, 89)) // 10 behind
	l.add(fetch("a", 1, 50, 44))  // 5 behind
	l.add(fetch("b", 0, 10, 9))   // caught up
	if got := gauge("a"); got != 15 {
		t.Errorf("lag of a: %v, want 15", got)
	}
	if got := gauge("b"); got != 0 {
		t.Errorf("lag of b: %v, want 0", got)
	}
	l.revoked(context.Background(), nil, map[string][]int32{"a": {0}})
	if got := gauge("a"); got != 5 {
		t.Errorf("lag of a after revoking partition 0: %v, want 5", got)
	}
}
