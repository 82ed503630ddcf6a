package bench

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/streamhub/streamhub/internal/pgtest"
)

// TestLatencySeesEveryWrite runs the latency benchmark small, through PostgreSQL too: every
// write must be seen in the view API and in PostgreSQL, and the percentiles must be in
// order. It asserts no timing.
func TestLatencySeesEveryWrite(t *testing.T) {
	dsn := pgtest.DSN()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	conn, err := pgx.Connect(ctx, dsn)
	cancel()
	if err != nil {
		pgtest.Unreachable(t, err, t.Name())
	}
	conn.Close(context.Background())

	ctx, cancel = context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var progress strings.Builder
	o := LatencyOptions{Rate: 40, Duration: 3 * time.Second, Items: 50, Shards: 2, PostgresDSN: dsn, Progress: &progress}
	res, err := Latency(ctx, o)
	t.Logf("progress:\n%s", progress.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("\n%s", res)
	if want := 120; res.Writes != want {
		t.Errorf("writes %d, want %d (40/s for 3s)", res.Writes, want)
	}
	for _, c := range []struct {
		name string
		p    Percentiles
	}{{"view API", res.View}, {"PostgreSQL", res.Postgres}} {
		if c.p.N != res.Writes {
			t.Errorf("%s: %d writes seen, want all %d", c.name, c.p.N, res.Writes)
		}
		if !(0 <= c.p.P50 && c.p.P50 <= c.p.P99 && c.p.P99 <= c.p.Max) {
			t.Errorf("%s: percentiles out of order: %+v", c.name, c.p)
		}
	}
	if res.Rate <= 0 {
		t.Errorf("achieved rate %v not measured", res.Rate)
	}
	if !strings.Contains(res.String(), "every "+o.withDefaultsOrZero().ViewPoll.String()) {
		t.Errorf("String() does not state the view poll interval:\n%s", res)
	}
}

func (o LatencyOptions) withDefaultsOrZero() LatencyOptions {
	d, _ := o.withDefaults()
	return d
}

func TestLatencyProbeSeesOlderVersionsWithANewerOne(t *testing.T) {
	t0 := time.Unix(1000, 0)
	ms := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Millisecond) }
	type obs struct {
		item int
		seq  int64
		at   int // ms
	}
	tests := []struct {
		name      string
		observed  []obs
		wantLeft  int
		wantItems int             // items still polled
		wantLat   []time.Duration // by write index; -1 unseen
	}{
		{"nothing seen", nil, 3, 2, []time.Duration{-1, -1, -1}},
		{"the newest version of item 0 sees both its writes",
			[]obs{{0, 3, 50}}, 1, 1, []time.Duration{50 * time.Millisecond, -1, 40 * time.Millisecond}},
		{"an older version sees only itself",
			[]obs{{0, 2, 30}, {1, 2, 25}}, 1, 1, []time.Duration{30 * time.Millisecond, 20 * time.Millisecond, -1}},
		{"a version seen before its write was recorded counts as zero",
			[]obs{{0, 3, 5}}, 1, 1, []time.Duration{5 * time.Millisecond, -1, 0}},
		{"a stale answer sees nothing", []obs{{0, 1, 40}, {1, 1, 40}}, 3, 2, []time.Duration{-1, -1, -1}},
		{"everything seen", []obs{{1, 2, 20}, {0, 3, 20}}, 0, 0, []time.Duration{20 * time.Millisecond, 15 * time.Millisecond, 10 * time.Millisecond}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := newLatProbe(3)
			p.add(0, 0, 2, ms(0))  // write 0: item 0 version 2
			p.add(1, 1, 2, ms(5))  // write 1: item 1 version 2
			p.add(0, 2, 3, ms(10)) // write 2: item 0 version 3
			for _, o := range tc.observed {
				p.observe(o.item, o.seq, ms(o.at), false)
			}
			if got := p.remaining(); got != tc.wantLeft {
				t.Errorf("remaining %d, want %d", got, tc.wantLeft)
			}
			for i, want := range tc.wantLat {
				if seen := p.seen[i]; seen != (want >= 0) || seen && p.lat[i] != want {
					t.Errorf("write %d: seen %v latency %v, want %v", i, seen, p.lat[i], want)
				}
			}
			if got := len(p.items(nil, nil)); got != tc.wantItems {
				t.Errorf("%d items still polled, want %d", got, tc.wantItems)
			}
		})
	}
}

// TestLatencyProbeReadyItems checks the view watcher's gate: an item is polled once the
// oldest version not seen yet is ready, and a write seen at the item's first poll counts.
func TestLatencyProbeReadyItems(t *testing.T) {
	p := newLatProbe(3)
	p.add(0, 0, 2, time.Unix(0, 0))
	p.add(0, 1, 3, time.Unix(1, 0))
	p.add(1, 2, 2, time.Unix(2, 0))
	inKafka := map[int]int64{0: 2, 1: 1} // item 0 version 2 arrived; item 1 only its warm-up version
	ready := func(item int, seq int64) bool { return inKafka[item] >= seq }
	if got := p.items(nil, ready); len(got) != 1 || got[0] != (latReady{0, 2}) {
		t.Fatalf("ready items %v, want only item 0 at version 2", got)
	}
	p.observe(0, 2, time.Unix(5, 0), true)
	if got := p.items(nil, ready); len(got) != 0 {
		t.Errorf("ready items %v after version 2 of item 0 was seen, want none (its version 3 is not in Kafka)", got)
	}
	if got := p.firstPolls(); got != 1 {
		t.Errorf("first-poll sightings %d, want 1", got)
	}
	if got := len(p.items(nil, nil)); got != 2 {
		t.Errorf("%d items with unseen writes, want 2", got)
	}
}

func TestPercentilesOfNearestRank(t *testing.T) {
	ms := func(ns ...int) []time.Duration {
		var out []time.Duration
		for _, n := range ns {
			out = append(out, time.Duration(n)*time.Millisecond)
		}
		return out
	}
	hundred := make([]int, 100)
	for i := range hundred {
		hundred[i] = 100 - i // 100 .. 1, unsorted
	}
	tests := []struct {
		name string
		in   []time.Duration
		want Percentiles
	}{
		{"none", nil, Percentiles{}},
		{"one", ms(7), Percentiles{N: 1, P50: 7 * time.Millisecond, P99: 7 * time.Millisecond, Max: 7 * time.Millisecond}},
		{"two", ms(9, 3), Percentiles{N: 2, P50: 3 * time.Millisecond, P99: 9 * time.Millisecond, Max: 9 * time.Millisecond}},
		{"1..100", ms(hundred...), Percentiles{N: 100, P50: 50 * time.Millisecond, P99: 99 * time.Millisecond, Max: 100 * time.Millisecond}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := percentilesOf(tc.in); got != tc.want {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestLatencyOptionsRefuseNegativeFields(t *testing.T) {
	for _, o := range []LatencyOptions{{Rate: -1}, {Duration: -time.Second}, {Items: -3}, {Shards: -1}, {ViewPoll: -1}} {
		_, err := Latency(context.Background(), o)
		if err == nil || !strings.Contains(err.Error(), "must not be negative") {
			t.Errorf("%+v: error %v, want a refusal naming the field", o, err)
		}
	}
	if _, err := Latency(context.Background(), LatencyOptions{Rate: 1, Duration: time.Millisecond}); err == nil || !strings.Contains(err.Error(), "not one write") {
		t.Errorf("1 write/s for 1ms: error %v, want a refusal", err)
	}
}
