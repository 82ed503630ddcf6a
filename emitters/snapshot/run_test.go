package snapshot

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// fakeClock is a clock that only moves when Run sleeps on it.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	sleeps []time.Duration
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// sleeper advances the clock by d at once; at the n-th sleep it ends the run instead.
func (c *fakeClock) sleeper(n int, cancel context.CancelFunc) func(context.Context, time.Duration) error {
	return func(ctx context.Context, d time.Duration) error {
		c.mu.Lock()
		c.sleeps = append(c.sleeps, d)
		c.now = c.now.Add(d)
		done := len(c.sleeps) >= n
		c.mu.Unlock()
		if done {
			cancel()
			return ctx.Err()
		}
		return nil
	}
}

// successes lists the _SUCCESS markers in the store.
func successes(t *testing.T, st *memStore) []string {
	t.Helper()
	keys, err := st.List(t.Context(), "")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, k := range keys {
		if strings.HasSuffix(k, "/"+SuccessName) {
			out = append(out, k)
		}
	}
	return out
}

// TestRunFakeClock: a snapshot at start, then at the next whole hour, each in its own
// folder; a failed snapshot in between is counted and the schedule goes on.
func TestRunFakeClock(t *testing.T) {
	ctx := testContext(t)
	tb := testTable("users", 2)
	conn := startConn(t, tb)
	newProducer(t, conn, tb, "").plain(ctx, put(`["a","1"]`, value("a", "1", 1, false)))

	clock := &fakeClock{now: time.Date(2026, 3, 1, 10, 17, 23, 500_000_000, time.UTC)}
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	st := newMemStore()
	reg := prometheus.NewRegistry()
	opts := Options{Conn: conn, Table: tb, Store: st, Prefix: "lake", Now: clock.Now, Logger: testLogger(t), Registry: reg}
	opts.sleep = clock.sleeper(3, cancel)

	// The second snapshot (11:00) fails: its first Put is refused.
	var once sync.Once
	st.onPut = func(key string) {
		if strings.HasSuffix(key, SuccessName) {
			once.Do(func() {
				st.mu.Lock()
				st.failPuts = 1
				st.mu.Unlock()
			})
		}
	}
	if err := Run(runCtx, opts, time.Hour); err != nil {
		t.Fatalf("Run: %v", err)
	}
	want := []string{
		"lake/state/users/snapshot=2026-03-01T10-17-23Z/_SUCCESS",
		"lake/state/users/snapshot=2026-03-01T12-00-00Z/_SUCCESS",
	}
	if got := successes(t, st); !slices.Equal(got, want) {
		t.Errorf("snapshots %q, want %q", got, want)
	}
	if want := []time.Duration{42*time.Minute + 36*time.Second + 500*time.Millisecond, time.Hour, time.Hour}; !slices.Equal(clock.sleeps, want) {
		t.Errorf("sleeps %v, want %v", clock.sleeps, want)
	}
	m := newMetrics(reg)
	if ok, failed := testutil.ToFloat64(m.runs.WithLabelValues("users", "ok")), testutil.ToFloat64(m.runs.WithLabelValues("users", "error")); ok != 2 || failed != 1 {
		t.Errorf("runs ok=%v error=%v, want 2 and 1", ok, failed)
	}
	if n := testutil.CollectAndCount(m.seconds); n != 1 {
		t.Errorf("%d histogram series, want 1", n)
	}
}

// TestRunRealClock: with the real clock and a one-second interval, two snapshots land in
// two folders, and Run returns when its context ends.
func TestRunRealClock(t *testing.T) {
	ctx := testContext(t)
	tb := testTable("events", 1)
	conn := startConn(t, tb)
	newProducer(t, conn, tb, "").plain(ctx, put(`["a","1"]`, value("a", "1", 1, false)))

	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	st := newMemStore()
	var mu sync.Mutex
	n := 0
	st.onPut = func(key string) {
		if strings.HasSuffix(key, SuccessName) {
			mu.Lock()
			if n++; n == 2 {
				cancel()
			}
			mu.Unlock()
		}
	}
	done := make(chan error, 1)
	go func() {
		done <- Run(runCtx, Options{Conn: conn, Table: tb, Store: st, Logger: testLogger(t)}, time.Second)
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-ctx.Done():
		t.Fatal("Run did not return")
	}
	got := successes(t, st)
	if len(got) != 2 || got[0] == got[1] {
		t.Fatalf("snapshots %q, want two folders", got)
	}
	for _, k := range got {
		if !strings.HasPrefix(k, "state/events/snapshot=") {
			t.Errorf("snapshot %s outside state/events/", k)
		}
	}
}
