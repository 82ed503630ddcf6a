package bench

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/jackc/pgx/v5"

	"github.com/streamhub/streamhub/emitters/warehouse"
	"github.com/streamhub/streamhub/pipeline"
	"github.com/streamhub/streamhub/sources/dynamodb"
	"github.com/streamhub/streamhub/sources/dynamodb/ddbtest"
	"github.com/streamhub/streamhub/topology"
)

// LatencyOptions shape the end-to-end latency benchmark. A zero field takes its default.
//
// The pipeline runs with the settings a user who wants low latency would configure, not
// settings tuned for this benchmark:
//   - the source's poll_interval stays at its default, 1s: a shard that returned records
//     is asked again after poll_interval/4 = 250ms, i.e. 4 GetRecords calls a second per
//     shard, which is what AWS Lambda's own poller does and stays under the DynamoDB
//     Streams limit of 5 calls a second per shard (a lower poll_interval would be
//     throttled on AWS); this wait is most of the view API's latency;
//   - the processor and the view API have no latency settings (the processor's producer
//     lingers 5ms, kafka.GokaProducerBuilder);
//   - the PostgreSQL sink flushes on time, buffer.flush_time 500ms (count_records and
//     size_bytes at their defaults are never reached at these rates): one transaction
//     every half second is cheap for PostgreSQL and keeps the warehouse within a second.
//
// Visibility is watched the way a client would see it, with a resolution of one poll
// interval: the view API by GET /v1/tables/{table}/item for each item with an unseen
// write, every ViewPoll (5ms), from the moment the write's record is in the CDC topic
// (before that the view cannot have it, and polling sooner would cost as much CPU as the
// pipeline); PostgreSQL by one SELECT of the seq column of every row with an unseen
// write, every PostgresPoll (25ms).
type LatencyOptions struct {
	// Rate is the DynamoDB writes per second, steady: write i is due at i/Rate after the
	// start (a late write is made at once, the next ones keep their schedule). Default 500.
	Rate int
	// Duration is how long to write at Rate. Default 20s.
	Duration time.Duration
	// Items is the number of distinct items, written round robin, so one item is
	// rewritten every Items/Rate seconds. Default 2000.
	Items int
	// Shards of the ddbtest stream. Default 4.
	Shards int
	// PostgresDSN, when set, also runs the PostgreSQL sink (into a fresh schema, dropped at
	// the end) and measures visibility there; "" measures the view API only.
	PostgresDSN string
	// Progress, when set, receives a line per phase. May be nil.
	Progress io.Writer

	// PollInterval is the source's poll_interval. Default 1s (see above).
	PollInterval time.Duration
	// FlushTime is the PostgreSQL sink's buffer.flush_time. Default 500ms.
	FlushTime time.Duration
	// ViewPoll is how often the watcher asks the view API for every item with a write
	// not yet seen there (once the write is in the CDC topic): the resolution of the view
	// figures. Default 5ms.
	ViewPoll time.Duration
	// PostgresPoll is how often the watcher runs its one query for the rows with a write
	// not yet seen in PostgreSQL: the resolution of the PostgreSQL figures. Default 25ms.
	PostgresPoll time.Duration
	// Drain bounds the wait, after the last write, for every write to be seen. Default 60s.
	Drain time.Duration
	// Logger receives the pipeline's logs. Default: warnings and errors to stderr.
	Logger *slog.Logger
}

// Percentiles summarize the latencies of N writes (nearest rank).
type Percentiles struct {
	N             int
	P50, P99, Max time.Duration
}

// LatencyResult is one run of the latency benchmark. Each latency runs from the moment a
// PutItem returned to the start of the first poll that saw that write's version or a
// newer one, so it is at most one poll interval (plus a round of polls) above the true
// latency.
type LatencyResult struct {
	// Rate is the achieved writes per second.
	Rate float64
	// View is the latency to the view API (GET /v1/tables/{table}/item); Postgres to the
	// PostgreSQL state table (N is 0 without a DSN).
	View, Postgres Percentiles

	// Writes is the number of measured writes (Rate × Duration of the options).
	Writes, Items, Shards int
	TargetRate            int
	Duration              time.Duration
	// The settings: the source's poll_interval, the sink's flush_time (0 without a DSN),
	// the watchers' poll intervals.
	PollInterval, FlushTime, ViewPoll, PostgresPoll time.Duration
	// ViewRound is the mean time a round of view polls took, PostgresQuery that of a
	// PostgreSQL poll; ViewRequests and PostgresQueries count them.
	ViewRound, PostgresQuery      time.Duration
	ViewRequests, PostgresQueries int64
	// ViewFirstPoll counts the writes the view watcher saw at its first request for them
	// (after they reached the CDC topic). Close to Writes, it would mean the watcher's
	// start was late, not the view; see latWatch.inKafka.
	ViewFirstPoll int
}

func (r LatencyResult) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "end-to-end latency, DynamoDB PutItem → visible: %d writes/s for %s (achieved %.1f/s, %d writes over %d items, %d shards)\n",
		r.TargetRate, r.Duration, r.Rate, r.Writes, r.Items, r.Shards)
	line := func(name string, p Percentiles) {
		fmt.Fprintf(&b, "  %-11s n %6d   p50 %8s   p99 %8s   max %8s\n", name, p.N, latMillis(p.P50), latMillis(p.P99), latMillis(p.Max))
	}
	line("view API", r.View)
	pg := r.FlushTime > 0
	if pg {
		line("PostgreSQL", r.Postgres)
	} else {
		b.WriteString("  PostgreSQL  not measured (no DSN)\n")
	}
	fmt.Fprintf(&b, "  settings: source poll_interval %s (GetRecords every %s on a busy shard)", r.PollInterval, r.PollInterval/4)
	if pg {
		fmt.Fprintf(&b, ", postgres buffer.flush_time %s", r.FlushTime)
	}
	fmt.Fprintf(&b, "\n  resolution: view API polled every %s per item once its write is in the CDC topic (%d requests, a round took %s, %.0f%% of the writes seen at the first request)",
		r.ViewPoll, r.ViewRequests, latMillis(r.ViewRound), 100*float64(r.ViewFirstPoll)/float64(max(r.View.N, 1)))
	if pg {
		fmt.Fprintf(&b, ";\n  PostgreSQL by one SELECT of the unseen rows every %s (%d queries, %s each)", r.PostgresPoll, r.PostgresQueries, latMillis(r.PostgresQuery))
	}
	b.WriteString("\n  a latency runs from PutItem's return to the start of the first poll that saw the write or a newer one: at most one poll interval above the true value")
	return b.String()
}

// latMillis prints a duration in milliseconds with one decimal.
func latMillis(d time.Duration) string {
	return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 1, 64) + "ms"
}

// latencyTable is the benchmark's table: items "item#<n>", hash key only, versioned by
// seq, which the PostgreSQL table also has as a column.
const latencyTable = "latency"

// Latency writes to a ddbtest table at a steady rate for a while and measures how long
// each write takes to become visible in the view API and, with a DSN, in PostgreSQL,
// through the whole pipeline in one process: the embedded broker, the bridge, the CDC
// processor, the view API and the PostgreSQL sink.
func Latency(ctx context.Context, o LatencyOptions) (LatencyResult, error) {
	o, err := o.withDefaults()
	if err != nil {
		return LatencyResult{}, err
	}
	res := LatencyResult{
		TargetRate: o.Rate, Duration: o.Duration, Items: o.Items, Shards: o.Shards,
		PollInterval: o.PollInterval, ViewPoll: o.ViewPoll,
	}
	if o.PostgresDSN != "" {
		res.FlushTime, res.PostgresPoll = o.FlushTime, o.PostgresPoll
	}

	srv := ddbtest.New()
	defer srv.Close()
	if _, err := srv.CreateTable(ddbtest.TableSpec{Name: latencyTable, HashKey: "pk", Shards: o.Shards}); err != nil {
		return res, err
	}
	cfg, schema, err := latencyConfig(srv.URL(), o)
	if err != nil {
		return res, err
	}
	if schema == "" {
		fmt.Fprintf(o.Progress, "starting the pipeline (embedded broker, bridge, processor, view API)...\n")
	} else {
		fmt.Fprintf(o.Progress, "starting the pipeline (embedded broker, bridge, processor, view API, PostgreSQL sink into schema %s)...\n", schema)
	}
	var db *pgx.Conn
	if schema != "" {
		if db, err = pgx.Connect(ctx, o.PostgresDSN); err != nil {
			return res, fmt.Errorf("bench: latency: PostgreSQL: %w", err)
		}
		defer func() {
			if _, err := db.Exec(context.WithoutCancel(ctx), "DROP SCHEMA IF EXISTS "+warehouse.Quote(schema)+" CASCADE"); err != nil {
				o.Logger.Warn("drop the benchmark schema", "schema", schema, "error", err)
			}
			db.Close(context.WithoutCancel(ctx))
		}()
	}
	p, err := pipeline.New(ctx, pipeline.Options{
		Config:        cfg,
		Roles:         pipeline.Roles{Bridge: true, Process: true, Serve: true, Emit: schema != ""},
		MemoryStorage: true,
		Logger:        o.Logger,
		Bridge: dynamodb.Options{AWS: &aws.Config{
			Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("bench", "bench", ""),
		}},
	})
	if err != nil {
		return res, err
	}
	pctx, stop := context.WithCancel(ctx)
	runErr := make(chan error, 1)
	go func() { runErr <- p.Run(pctx) }()
	defer func() { stop(); <-runErr }()
	for p.API.Addr() == "" || !p.Ready() {
		select {
		case err := <-runErr:
			runErr <- err
			return res, fmt.Errorf("bench: latency: the pipeline stopped while starting: %v", err)
		case <-ctx.Done():
			return res, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}

	items := newLatItems(o.Items)
	w := &latWatch{
		base: "http://" + p.API.Addr() + "/v1/tables/" + latencyTable + "/item?",
		http: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: latViewWorkers}, Timeout: 10 * time.Second},
		db:   db, items: items, o: o,
		pgTable: warehouse.StateTable(cfg.Tables[0], schema, "").QualifiedName(),
		cdcSeq:  make([]atomic.Int64, o.Items),
	}
	defer w.http.CloseIdleConnections()
	// The phases run under the CDC follower's context: its failure ends them.
	fctx, stopFollow := context.WithCancelCause(ctx)
	followed := make(chan struct{})
	go func() {
		defer close(followed)
		if err := w.followCDC(fctx, p.Conn(), cfg.Tables[0].Topic); err != nil {
			stopFollow(err)
		}
	}()
	defer func() { stopFollow(nil); <-followed }()

	// Warm-up: one version of every item, seen everywhere, so the measured writes are
	// updates of a pipeline in its steady state (every shard leased and being read, every
	// partition assigned, the sink's first flush done), not its start.
	fmt.Fprintf(o.Progress, "warm-up: writing version 1 of %d items and waiting until they are visible...\n", o.Items)
	warm := w.probes(o.Items)
	phase, endPhase := w.start(fctx, warm)
	for i := range o.Items {
		if err := w.put(srv, warm, i, i, 1); err != nil {
			endPhase()
			return res, err
		}
	}
	if err := w.drain(phase, warm, runErr); err != nil {
		endPhase()
		return res, fmt.Errorf("bench: latency: warm-up: %w", err)
	}
	endPhase()

	n := int(int64(o.Rate) * int64(o.Duration) / int64(time.Second))
	fmt.Fprintf(o.Progress, "writing %d writes/s for %s (%d writes)...\n", o.Rate, o.Duration, n)
	probes := w.probes(n)
	phase, endPhase = w.start(fctx, probes)
	defer endPhase()
	start := time.Now()
	for i := range n {
		due := start.Add(time.Duration(int64(i) * int64(time.Second) / int64(o.Rate)))
		if d := time.Until(due); d > 0 {
			select {
			case <-phase.Done():
				return res, w.failure(phase, runErr)
			case <-time.After(d):
			}
		}
		// Versions 2, 3, ... per item; version 1 was the warm-up.
		if err := w.put(srv, probes, i, i%o.Items, int64(i/o.Items)+2); err != nil {
			return res, err
		}
	}
	res.Writes = n
	res.Rate = float64(n) / max(o.Duration, time.Since(start)).Seconds()
	fmt.Fprintf(o.Progress, "waiting for the last writes to be seen...\n")
	err = w.drain(phase, probes, runErr)
	endPhase()
	res.View = probes[0].percentiles()
	res.ViewFirstPoll = probes[0].firstPolls()
	res.ViewRound, res.ViewRequests = w.viewStats()
	if len(probes) > 1 {
		res.Postgres = probes[1].percentiles()
		res.PostgresQuery, res.PostgresQueries = w.pgStats()
	}
	return res, err
}

func (o LatencyOptions) withDefaults() (LatencyOptions, error) {
	for _, f := range []struct {
		name string
		neg  bool
		v    any
	}{
		{"Rate", o.Rate < 0, o.Rate}, {"Items", o.Items < 0, o.Items}, {"Shards", o.Shards < 0, o.Shards},
		{"Duration", o.Duration < 0, o.Duration}, {"PollInterval", o.PollInterval < 0, o.PollInterval},
		{"FlushTime", o.FlushTime < 0, o.FlushTime}, {"ViewPoll", o.ViewPoll < 0, o.ViewPoll},
		{"PostgresPoll", o.PostgresPoll < 0, o.PostgresPoll}, {"Drain", o.Drain < 0, o.Drain},
	} {
		if f.neg {
			return o, fmt.Errorf("bench: latency: %s must not be negative, got %v", f.name, f.v)
		}
	}
	if o.Rate > 100_000 {
		return o, fmt.Errorf("bench: latency: Rate must be at most 100000 writes/s, got %d", o.Rate)
	}
	o.Rate = cmp0(o.Rate, 500)
	o.Duration = cmp0(o.Duration, 20*time.Second)
	o.Items = cmp0(o.Items, 2000)
	o.Shards = cmp0(o.Shards, 4)
	o.PollInterval = cmp0(o.PollInterval, time.Second)
	o.FlushTime = cmp0(o.FlushTime, 500*time.Millisecond)
	o.ViewPoll = cmp0(o.ViewPoll, 5*time.Millisecond)
	o.PostgresPoll = cmp0(o.PostgresPoll, 25*time.Millisecond)
	o.Drain = cmp0(o.Drain, time.Minute)
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	if int64(o.Rate)*int64(o.Duration)/int64(time.Second) < 1 {
		return o, fmt.Errorf("bench: latency: Rate %d for Duration %s is not one write", o.Rate, o.Duration)
	}
	return o, nil
}

// cmp0 is v, or def when v is zero.
func cmp0[T int | time.Duration](v, def T) T {
	if v == 0 {
		return def
	}
	return v
}

// latencyConfig is the benchmark's topology; schema is "" without a DSN.
func latencyConfig(ddbURL string, o LatencyOptions) (*topology.Config, string, error) {
	cfg, err := topology.Parse("latency.yaml", []byte(fmt.Sprintf(`
env: bench
kafka: {brokers: embedded, embedded_listen: "127.0.0.1:0"}
api: {listen: "127.0.0.1:0"}
processor: {shutdown_timeout: 10s}
tables:
  - name: %s
    keys: [pk]
    version_attribute: seq
    columns: [{name: seq, path: seq, type: int}]
sources:
  - {type: dynamodb, table: %[1]s, endpoint: %q, region: us-east-1}
`, latencyTable, ddbURL)))
	if err != nil {
		return nil, "", err
	}
	cfg.Sources[0].PollInterval = o.PollInterval
	var schema string
	if o.PostgresDSN != "" {
		schema = fmt.Sprintf("bench_latency_%08x", rand.Uint32())
		cfg.Sinks = append(cfg.Sinks, topology.Sink{
			Name: "pg", Type: topology.SinkPostgres, DSN: o.PostgresDSN, Schema: schema,
			Tables: []string{latencyTable}, Buffer: topology.Buffer{FlushTime: o.FlushTime},
		})
	}
	cfg.EnsureDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, "", err
	}
	return cfg, schema, nil
}
