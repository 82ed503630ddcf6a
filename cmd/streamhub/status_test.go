package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"
)

// fixtureScrape builds one endpoint's answer from Prometheus text, as if scraped at at.
func fixtureScrape(t *testing.T, base string, at time.Time, text string) *scrape {
	t.Helper()
	values, err := parseMetrics(strings.NewReader(text))
	if err != nil {
		t.Fatalf("fixture: %v", err)
	}
	return &scrape{ep: statusEndpoint{role: "ops", base: base}, at: at, values: values, print: fingerprint("h", values)}
}

var t0 = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

const scrapeA1 = `# TYPE streamhub_processor_events_total counter
streamhub_processor_events_total{table="users",outcome="applied"} 100
streamhub_processor_events_total{table="users",outcome="stale"} 10
streamhub_processor_events_total{table="orders",outcome="applied"} 50
# TYPE streamhub_processor_consumer_lag_records gauge
streamhub_processor_consumer_lag_records{table="users"} 7
# TYPE streamhub_sink_flushes_total counter
streamhub_sink_flushes_total{sink="lake",outcome="ok"} 3
# TYPE streamhub_bridge_iterator_age_seconds gauge
streamhub_bridge_iterator_age_seconds{table="users",shard="a"} 1.5
streamhub_bridge_iterator_age_seconds{table="users",shard="b"} 4
# TYPE streamhub_sink_flush_seconds histogram
streamhub_sink_flush_seconds_bucket{sink="lake",le="+Inf"} 3
streamhub_sink_flush_seconds_sum{sink="lake"} 0.3
streamhub_sink_flush_seconds_count{sink="lake"} 3
`

// scrapeA2 is endpoint A two seconds later: users +40 applied, +2 stale, a new invalid
// series, orders unchanged, and a flush.
const scrapeA2 = `# TYPE streamhub_processor_events_total counter
streamhub_processor_events_total{table="users",outcome="applied"} 140
streamhub_processor_events_total{table="users",outcome="stale"} 12
streamhub_processor_events_total{table="users",outcome="invalid"} 4
streamhub_processor_events_total{table="orders",outcome="applied"} 50
# TYPE streamhub_processor_consumer_lag_records gauge
streamhub_processor_consumer_lag_records{table="users"} 3
# TYPE streamhub_sink_flushes_total counter
streamhub_sink_flushes_total{sink="lake",outcome="ok"} 4
streamhub_sink_flushes_total{sink="lake",outcome="error"} 1
# TYPE streamhub_bridge_iterator_age_seconds gauge
streamhub_bridge_iterator_age_seconds{table="users",shard="a"} 0.5
# TYPE streamhub_sink_flush_seconds histogram
streamhub_sink_flush_seconds_bucket{sink="lake",le="+Inf"} 4
streamhub_sink_flush_seconds_sum{sink="lake"} 0.4
streamhub_sink_flush_seconds_count{sink="lake"} 4
`

// Endpoint B restarted between the scrapes: its counter went from 500 to 20.
const scrapeB1 = `streamhub_processor_events_total{table="users",outcome="applied"} 500
streamhub_processor_consumer_lag_records{table="users"} 1
`
const scrapeB2 = `streamhub_processor_events_total{table="users",outcome="applied"} 20
streamhub_processor_consumer_lag_records{table="users"} 2
`

func fixtureRounds(t *testing.T) (*round, *round) {
	prev := &round{at: t0, scrapes: []*scrape{
		fixtureScrape(t, "http://a:1", t0, scrapeA1),
		fixtureScrape(t, "http://b:1", t0, scrapeB1),
	}}
	t1 := t0.Add(2 * time.Second)
	cur := &round{at: t1, scrapes: []*scrape{
		fixtureScrape(t, "http://a:1", t1, scrapeA2),
		fixtureScrape(t, "http://b:1", t1, scrapeB2),
		{ep: statusEndpoint{role: "ops", base: "http://c:1"}, at: t1, err: "down: connection refused"},
	}}
	return prev, cur
}

func TestStatusRatesFromTwoScrapes(t *testing.T) {
	prev, cur := fixtureRounds(t)
	const ev = "streamhub_processor_events_total"
	tests := []struct {
		name  string
		got   agg
		key   string
		want  string
		exact float64
	}{
		// (140-100 + 12-10 + 4) / 2s on A, plus B's restarted counter: 20 / 2s.
		{"all outcomes of a table, a reset counted from zero", rate(prev, cur, ev, "table"), "users", "33", 33},
		{"one outcome", rate(prev, cur, ev, "table", "outcome", "applied"), "users", "30", 30},
		{"a series born between the scrapes", rate(prev, cur, ev, "table", "outcome", "invalid"), "users", "2", 2},
		{"a table without changes", rate(prev, cur, ev, "table"), "orders", "0", 0},
		{"an outcome that never counted is a known 0", rate(prev, cur, ev, "table", "outcome", "duplicate"), "users", "0", -1},
		{"no previous scrape, no rate", rate(nil, cur, ev, "table"), "users", "-", -1},
		{"gauge summed over instances", cur.sum("streamhub_processor_consumer_lag_records", "table"), "users", "5", 5},
		{"worst iterator age", cur.max("streamhub_bridge_iterator_age_seconds", "table"), "users", "0.5", 0.5},
		{"histogram count", rate(prev, cur, "streamhub_sink_flush_seconds_count", "sink"), "lake", "0.5", 0.5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := fmtRate(tt.got, tt.key); got != tt.want {
				t.Errorf("printed %q, want %q (values %v)", got, tt.want, tt.got)
			}
			if tt.exact >= 0 && tt.got[tt.key] != tt.exact {
				t.Errorf("value %v, want %v", tt.got[tt.key], tt.exact)
			}
		})
	}
}

func TestStatusFormatting(t *testing.T) {
	tests := []struct{ got, want string }{
		{fmtNum(0), "0"},
		{fmtNum(12), "12"},
		{fmtNum(47.66), "47.7"},
		{fmtNum(1234.5), "1234"},
		{fmtNum(0.04), "0.0"},
		{fmtDuration(250 * time.Millisecond), "250ms"},
		{fmtDuration(1500 * time.Millisecond), "1.5s"},
		{fmtDuration(125 * time.Second), "2m05s"},
		{fmtDuration(3*time.Hour + 4*time.Minute), "3h04m"},
		{fmtDuration(-time.Second), "0s"},
		{endpointBase("0.0.0.0:8080"), "http://127.0.0.1:8080"},
		{endpointBase(":9091"), "http://127.0.0.1:9091"},
		{endpointBase("[::]:9091"), "http://127.0.0.1:9091"},
		{endpointBase("api.internal:8080"), "http://api.internal:8080"},
		{endpointBase("http://10.0.0.5:9091/metrics"), "http://10.0.0.5:9091"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("got %q, want %q", tt.got, tt.want)
		}
	}
}

func TestStatusScreenFromFixtures(t *testing.T) {
	prev, cur := fixtureRounds(t)
	st := &statusState{title: "fixture.yaml", tables: []string{"users", "orders", "carts"}, sinks: []string{"lake", "pg"}}
	st.trackFlushes(prev)
	st.trackFlushes(cur)
	screen := st.render(prev, cur)
	for _, want := range []string{
		`(?m)^streamhub status · fixture\.yaml · 2026-11-25 12:00:02 · rates over 2\.0s$`,
		`(?m)^c:1\s+ops\s+down: connection refused$`,
		// table, events/s, applied/s, stale/s, duplicate/s, invalid/s, lag, keys, partitions
		`(?m)^users\s+33\s+30\s+1\s+0\s+2\s+5\s+-\s+-$`,
		`(?m)^orders\s+0\s+0\s+0\s+0\s+0\s+-\s+-\s+-$`,
		`(?m)^carts\s+0\s+0\s+0\s+0\s+0\s+-\s+-\s+-$`,
		// sink, records/s, last flush, flushes, flush errors, lag, buffered
		`(?m)^lake\s+0\s+<2\.0s ago\s+4\s+1\s+-\s+-$`,
		`(?m)^pg\s+0\s+none seen\s+0\s+0\s+-\s+-$`,
		`(?m)^BRIDGE\s+RECORDS/S.*\n^users\s+0\s+500ms\s+0\s+0\s+0\s+0$`,
		`(?m)^VIEW  no data: no endpoint exports streamhub_view_\*`,
		`(?m)^COLLECTOR  no data: no endpoint exports streamhub_collector_\*`,
	} {
		if !regexp.MustCompile(want).MatchString(screen) {
			t.Errorf("screen does not match %s:\n%s", want, screen)
		}
	}
}

func TestStatusCountsOneProcessOnce(t *testing.T) {
	text := "process_start_time_seconds 1.7e9\n" + scrapeB1
	r := &round{at: t0, scrapes: []*scrape{
		fixtureScrape(t, "http://127.0.0.1:8080", t0, text),
		fixtureScrape(t, "http://127.0.0.1:8081", t0, text),
	}}
	// what scrapeAll does after the scrapes
	r.scrapes[1].sameAs = r.scrapes[0].ep.base
	if got := r.sum("streamhub_processor_events_total", "table")["users"]; got != 500 {
		t.Errorf("sum %v, want 500: the second endpoint of one process must not count", got)
	}
	if fingerprint("127.0.0.1", r.scrapes[0].values) == "" {
		t.Error("no fingerprint with process_start_time_seconds")
	}
}

func TestStatusAgainstUnreachableAndWrongEndpoints(t *testing.T) {
	// A server that is not a metrics endpoint, and a port nobody listens on.
	notMetrics := &http.Server{Handler: http.NotFoundHandler()}
	ln, err := netListen()
	if err != nil {
		t.Fatal(err)
	}
	go notMetrics.Serve(ln)
	defer notMetrics.Close()
	dead, err := netListen()
	if err != nil {
		t.Fatal(err)
	}
	deadAddr := dead.Addr().String()
	dead.Close()

	code, stdout, stderr := runCmd(t, "status", "--endpoints", ln.Addr().String()+","+deadAddr, "--once", "--interval", "100ms")
	if code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	for _, want := range []string{
		regexp.QuoteMeta(ln.Addr().String()) + `\s+ops\s+unknown: /metrics answered 404`,
		regexp.QuoteMeta(deadAddr) + `\s+ops\s+down: `,
		`(?m)^PROCESSOR  no data`,
	} {
		if !regexp.MustCompile(want).MatchString(stdout) {
			t.Errorf("screen does not match %s:\n%s", want, stdout)
		}
	}
}

func TestStatusNeedsATopologyOrEndpoints(t *testing.T) {
	code, _, stderr := runCmd(t, "status", "--once")
	if code != 2 || !strings.Contains(stderr, "-c FILE or --endpoints is required") {
		t.Errorf("exit %d, stderr %q", code, stderr)
	}
}

// TestStatusOfARunningPipeline runs `streamhub dev` in-process (bridge, processor, view API,
// collector, file lake, one registry) and points status at it through a topology file, as
// an operator would; it also looks an item the pipeline wrote up on goka's query page.
func TestStatusOfARunningPipeline(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the whole dev pipeline")
	}
	ctx, cancel := context.WithCancel(context.Background())
	var devOut syncBuffer
	devDone := make(chan error, 1)
	go func() {
		devDone <- cmdDev(ctx, []string{"--kafka-listen", "127.0.0.1:0", "--api-listen", "127.0.0.1:0",
			"--dynamodb-listen", "127.0.0.1:0", "--collector-listen", "127.0.0.1:0", "--lake-dir", t.TempDir(),
			"--status-every", "1h", "--seed", "7", "--items", "20"}, &devOut, io.Discard)
	}()
	defer func() {
		cancel()
		select {
		case err := <-devDone:
			if err != nil {
				t.Errorf("dev: %v", err)
			}
		case <-time.After(2 * time.Minute):
			t.Error("dev did not stop")
		}
	}()

	apiRe := regexp.MustCompile(`View API\s+http://(127\.0\.0\.1:\d+)/v1/tables`)
	colRe := regexp.MustCompile(`curl -s http://(127\.0\.0\.1:\d+)/v1/events `)
	var apiAddr, colAddr string
	waitFor(t, "the dev banner", func() bool {
		a, c := apiRe.FindStringSubmatch(devOut.String()), colRe.FindStringSubmatch(devOut.String())
		if a == nil || c == nil {
			return false
		}
		apiAddr, colAddr = a[1], c[1]
		return true
	})
	// Records through every stage: bridged, applied and flushed to the lake at least once.
	waitFor(t, "records through the bridge, the processor and the lake", func() bool {
		m := get(apiAddr, "/metrics")
		return regexp.MustCompile(`streamhub_bridge_records_total\{table="users"\} [1-9]`).MatchString(m) &&
			regexp.MustCompile(`streamhub_processor_events_total\{outcome="applied",table="users"\} [1-9]`).MatchString(m) &&
			regexp.MustCompile(`streamhub_sink_flushes_total\{outcome="ok",sink="lake"\} [1-9]`).MatchString(m)
	})

	cfg := writeFile(t, "topology.yaml", fmt.Sprintf(`env: dev
kafka:
  brokers: embedded
tables:
  - name: users
    keys: [pk, sk]
api:
  listen: %s
collector:
  listen: %s
`, apiAddr, colAddr))
	code, stdout, stderr := runCmd(t, "status", "-c", cfg, "--once", "--interval", "1s", "--endpoints", "127.0.0.1:1")
	if code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	t.Logf("status screen:\n%s", stdout)
	num := `\d+(?:\.\d)?`
	for _, want := range []string{
		`(?m)^` + regexp.QuoteMeta(apiAddr) + `\s+api\s+up, (ready|recovering)$`,
		`(?m)^` + regexp.QuoteMeta(colAddr) + `\s+collector\s+up, same process as ` + regexp.QuoteMeta(apiAddr) + ` \(counted once\)$`,
		`(?m)^127\.0\.0\.1:1\s+ops\s+down: `,
		// bridge: records/s, iterator age, API errors/s, API errors, data loss, DLQ
		`(?m)^users\s+` + num + `\s+(` + num + `(ms|s)|-)\s+` + num + `\s+\d+\s+\d+\s+\d+$`,
		// processor: events/s, applied/s, stale/s, duplicate/s, invalid/s, lag, keys, partitions
		`(?m)^users\s+` + num + `\s+` + num + `\s+` + num + `\s+` + num + `\s+` + num + `\s+\d+\s+\d+\s+\d+$`,
		// view: ready, lag, lookups/s, not found/s
		`(?m)^users\s+(ready|recovering)\s+\d+\s+` + num + `\s+` + num + `$`,
		`(?m)^api requests/s ` + num + `, 5xx/s ` + num + `$`,
		`(?m)^all\s+` + num + `\s+` + num + `\s+` + num + `\s+` + num + `\s+\d+$`,
		// sink: records/s, last flush, flushes, flush errors, lag, buffered
		`(?m)^lake\s+` + num + `\s+(<\S+ ago|none seen)\s+[1-9]\d*\s+\d+\s+\d+\s+\d+$`,
	} {
		if !regexp.MustCompile(want).MatchString(stdout) {
			t.Errorf("screen does not match %s:\n%s", want, stdout)
		}
	}

	// goka's query page finds an item the bridge and the processor wrote (a deleted
	// one shows its tombstone, so it is found either way once written).
	waitFor(t, "user#1/profile on /ui/query", func() bool {
		page := get(apiAddr, "/ui/query/users/user%231/profile")
		return strings.Contains(page, `panel-success`) && strings.Contains(page, `user#1`)
	})
	if page := get(apiAddr, "/ui/monitor/"); !strings.Contains(page, "dev.users") || !strings.Contains(page, "/ui/monitor/processor/0") {
		t.Errorf("/ui/monitor/ does not name the users view and processor:\n%.1000s", page)
	}
}

func get(addr, path string) string {
	resp, err := http.Get("http://" + addr + path)
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// waitFor polls cond until it holds; the bound is a deadline, not a speed requirement.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func netListen() (net.Listener, error) { return net.Listen("tcp", "127.0.0.1:0") }
