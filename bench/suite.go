package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/streamhub/streamhub/internal/pgdsn"
)

// Stages of the suite, in the order it runs them: the pipeline's order.
const (
	StageProcessor = "processor"
	StageBridge    = "bridge"
	StageCollector = "collector"
	StageLake      = "lake"
	StagePostgres  = "postgres"
	StageLatency   = "latency"
)

// SuiteStage is one stage of the suite: what it measures and against which medium.
type SuiteStage struct {
	Name string
	// Help says what runs and what the raw medium is, for `streamhub bench --help`.
	Help string
	run  func(ctx context.Context, o SuiteOptions) ([]SuiteRow, error)
}

// SuiteStages lists the stages in the order the suite runs them.
func SuiteStages() []SuiteStage { return slices.Clone(suiteStages) }

var suiteStages = []SuiteStage{
	{StageProcessor, "the CDC latest-state processor (goka, goleveldb) over DynamoDB Streams records (~900 bytes, MODIFY with both images) " +
		"on an embedded broker; medium: raw franz-go consumption of the same topic (median of three passes). " +
		"The full run adds a plain goka processor (goka's defaults, encoding/json) as a yardstick.", suiteProcessor},
	{StageBridge, "the bridge draining a 4-shard in-process DynamoDB Streams server (ddbtest) through the AWS SDK into Kafka " +
		"transactions with its checkpoints; medium: the same record bytes produced by one transactional franz-go client, " +
		"1000 records per transaction.", suiteBridge},
	{StageCollector, "the event collector in this process, fed over loopback HTTP by 4 Go clients (batches of 100, 2 in flight), " +
		"each event committed to Kafka before its 200; medium: raw franz-go produce (acks=all) of the same events.", suiteCollector},
	{StageLake, "the lake sink flushing CDC records (~630 bytes) in batches of 10k, JSON Lines + gzip and Parquet (zstd, snappy), " +
		"into a directory and into gofakes3 through the real S3 client; medium: the same value bytes written raw " +
		"through the same store, one object per batch.", suiteLake},
	{StagePostgres, "the PostgreSQL sink flushing batches of 10k into state tables of 100k rows: new keys (the direct COPY) and " +
		"a mix of ⅓ updates, ⅓ deletes, ⅓ new keys (the staged upsert), and the row-by-row INSERT … ON CONFLICT baseline; " +
		"medium: raw COPY of the same rows into a plain table. Needs --postgres; skipped when it is not reachable.", suitePostgres},
	{StageLatency, "end to end: DynamoDB writes at a steady rate (500/s for 20 s over 2000 items) into ddbtest, through the bridge, " +
		"the processor, the view API and the PostgreSQL sink, all in this process; p50/p99/max from each write to its " +
		"visibility in the view API and in PostgreSQL. No raw medium: the rate is the load the latencies were taken under. " +
		"Without PostgreSQL only the view is measured.", suiteLatency},
}

// SuiteOptions shape a run of the suite.
type SuiteOptions struct {
	// Stages to run, by name; empty runs every stage.
	Stages []string
	// Quick runs small sizes: seconds per stage, for tests and smoke runs. Its rates
	// measure start-up as much as throughput.
	Quick bool
	// PostgresDSN is the PostgreSQL of the postgres (and latency) stages; default
	// pgdsn.Get().
	PostgresDSN string
	// Command is how the run was started, recorded with the result.
	Command string
	// Progress, when set, receives a line per stage and phase.
	Progress io.Writer
	Logger   *slog.Logger
}

// SuiteResult is one run of the suite.
type SuiteResult struct {
	Command string    `json:"command"`
	Date    time.Time `json:"date"`
	Quick   bool      `json:"quick"`
	Go      string    `json:"go"`
	// Platform is GOOS/GOARCH; CPUs the cores Go may use.
	Platform string `json:"platform"`
	CPUs     int    `json:"cpus"`
	// LoadAverage is the machine's 1-minute load average when the run started (Linux): a
	// figure taken under load is a different figure.
	LoadAverage float64 `json:"load_average"`
	// LoadAverageEnd is the same when the run ended; the run itself adds up to the number
	// of CPUs, so more than that means other work shared the machine.
	LoadAverageEnd float64    `json:"load_average_end,omitempty"`
	Seconds        float64    `json:"seconds"`
	Rows           []SuiteRow `json:"rows"`
}

// Failed reports whether a stage failed (a skipped stage did not).
func (r SuiteResult) Failed() bool {
	return slices.ContainsFunc(r.Rows, func(row SuiteRow) bool { return row.Error != "" })
}

// SuiteRow is one line of the table: a stage (or one variant of it) and its medium.
type SuiteRow struct {
	Stage string `json:"stage"`
	// Name says which variant ran ("sink, file, JSON Lines + gzip").
	Name string `json:"name"`
	Unit string `json:"unit"`
	// Records is what the stage was given; Counted what the stage itself reported
	// handling (its counters, or rows found in the tables afterwards).
	Records int64   `json:"records"`
	Counted int64   `json:"counted"`
	Rate    float64 `json:"rate"`
	// Medium is the raw medium the stage is compared with, RawRate its rate in the
	// stage's unit measured in the same run, Ratio = Rate / RawRate.
	Medium  string  `json:"medium,omitempty"`
	RawRate float64 `json:"raw_rate,omitempty"`
	Ratio   float64 `json:"ratio,omitempty"`
	// Latency holds the stage's latencies where it has them.
	Latency []SuiteLatency `json:"latency,omitempty"`
	Notes   string         `json:"notes,omitempty"`
	// Skipped says why a stage did not run (PostgreSQL not reachable); Error why it
	// failed.
	Skipped string `json:"skipped,omitempty"`
	Error   string `json:"error,omitempty"`
}

// SuiteLatency is the distribution of one kind of latency of a stage, in milliseconds.
type SuiteLatency struct {
	// Of names what was timed: "flush", "statement", "write → view".
	Of    string  `json:"of"`
	N     int     `json:"n"`
	P50Ms float64 `json:"p50_ms,omitempty"`
	P99Ms float64 `json:"p99_ms"`
	MaxMs float64 `json:"max_ms,omitempty"`
}

// ParseStages checks a comma-separated list of stage names ("" or "all": every stage).
func ParseStages(list string) ([]string, error) {
	if list == "" || list == "all" {
		return nil, nil
	}
	var out []string
	for _, s := range strings.Split(list, ",") {
		s = strings.TrimSpace(s)
		if !slices.ContainsFunc(suiteStages, func(st SuiteStage) bool { return st.Name == s }) {
			return nil, fmt.Errorf("stage %q is not one of %s", s, strings.Join(stageNames(), ", "))
		}
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out, nil
}

func stageNames() []string {
	var names []string
	for _, st := range suiteStages {
		names = append(names, st.Name)
	}
	return names
}

// Suite runs the chosen stages one after another, each against its raw medium in the same
// run. A stage that fails is recorded in its row and the others still run; PostgreSQL
// stages without a reachable PostgreSQL are skipped.
func Suite(ctx context.Context, o SuiteOptions) (SuiteResult, error) {
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	if o.PostgresDSN == "" {
		o.PostgresDSN = pgdsn.Get()
	}
	if _, err := ParseStages(strings.Join(o.Stages, ",")); err != nil {
		return SuiteResult{}, fmt.Errorf("bench: %w", err)
	}
	res := SuiteResult{
		Command: o.Command, Date: time.Now().UTC().Truncate(time.Second), Quick: o.Quick,
		Go: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH, CPUs: runtime.GOMAXPROCS(0),
		LoadAverage: loadAverage(),
	}
	start := time.Now()
	var stages []SuiteStage
	for _, st := range suiteStages {
		if len(o.Stages) == 0 || slices.Contains(o.Stages, st.Name) {
			stages = append(stages, st)
		}
	}
	for i, st := range stages {
		fmt.Fprintf(o.Progress, "== %s (%d of %d) ==\n", st.Name, i+1, len(stages))
		t := time.Now()
		rows, err := st.run(ctx, o)
		switch {
		case errors.Is(err, ErrPostgresUnreachable):
			msg := fmt.Sprintf("skipped: %v (--postgres DSN)", err)
			fmt.Fprintf(o.Progress, "%s: %s\n", st.Name, msg)
			rows = append(rows, SuiteRow{Stage: st.Name, Skipped: msg})
		case err != nil:
			fmt.Fprintf(o.Progress, "%s: FAILED: %v\n", st.Name, err)
			rows = append(rows, SuiteRow{Stage: st.Name, Error: err.Error()})
		}
		for j := range rows {
			rows[j].Stage = st.Name
			if r := &rows[j]; r.Error == "" && r.Skipped == "" && r.Counted != r.Records {
				r.Error = fmt.Sprintf("counted %d of %d records", r.Counted, r.Records)
			}
		}
		res.Rows = append(res.Rows, rows...)
		fmt.Fprintf(o.Progress, "%s: %.1f s, load average %.2f\n", st.Name, time.Since(t).Seconds(), loadAverage())
		if ctx.Err() != nil {
			break
		}
	}
	res.Seconds = time.Since(start).Seconds()
	res.LoadAverageEnd = loadAverage()
	return res, ctx.Err()
}

func suiteProcessor(ctx context.Context, o SuiteOptions) ([]SuiteRow, error) {
	po := ProcessorOptions{Records: 1_000_000, Keys: 100_000, Partitions: 8, Baseline: true, Progress: o.Progress, Logger: o.Logger}
	if o.Quick {
		po = ProcessorOptions{Records: 2000, Keys: 200, Partitions: 4, Progress: o.Progress, Logger: o.Logger}
	}
	r, err := Processor(ctx, po)
	if err != nil {
		return nil, err
	}
	const medium = "raw consume (franz-go), same topic"
	rows := []SuiteRow{{
		Name: "CDC processor", Unit: "events/s", Records: int64(r.Records), Counted: r.Counts.In,
		Rate: r.ProcessorPerSec, Medium: medium, RawRate: r.RawConsumePerSec, Ratio: r.Ratio(),
		Notes: fmt.Sprintf("%.1f µs CPU per event, broker included; applied %d, stale %d, duplicate %d",
			micros(r.ProcessorCPUPerEvent), r.Counts.Applied, r.Counts.Stale, r.Counts.Duplicate),
	}}
	if r.PlainGokaPerSec > 0 {
		rows = append(rows, SuiteRow{
			// Processor returns only once the plain processor's own counter reached Records.
			Name: "plain goka processor (yardstick)", Unit: "events/s", Records: int64(r.Records), Counted: int64(r.Records),
			Rate: r.PlainGokaPerSec, Medium: medium, RawRate: r.RawConsumePerSec, Ratio: r.PlainGokaPerSec / r.RawConsumePerSec,
			Notes: fmt.Sprintf("goka's defaults, encoding/json; the CDC processor is %.1f× this", r.ProcessorPerSec/r.PlainGokaPerSec),
		})
	}
	return rows, nil
}

func suiteBridge(ctx context.Context, o SuiteOptions) ([]SuiteRow, error) {
	bo := BridgeOptions{Records: 200_000, Shards: 4, Items: 10_000, Progress: o.Progress, Logger: o.Logger}
	if o.Quick {
		bo = BridgeOptions{Records: 2000, Shards: 2, Items: 200, Progress: o.Progress, Logger: o.Logger}
	}
	r, err := Bridge(ctx, bo)
	if err != nil {
		return nil, err
	}
	return []SuiteRow{{
		Name: "GetRecords (SDK) → Kafka transactions", Unit: "records/s",
		Records: int64(r.Records), Counted: r.Committed,
		Rate: r.BridgePerSec, Medium: "raw transactional produce (franz-go, 1000 per txn)", RawRate: r.RawTxnPerSec, Ratio: r.Ratio(),
		Notes: fmt.Sprintf("%d shards, with the checkpoints; %.1f µs CPU per record, ddbtest and broker included", r.Shards, micros(r.CPUPerRecord)),
	}}, nil
}

func suiteCollector(ctx context.Context, o SuiteOptions) ([]SuiteRow, error) {
	co := CollectorOptions{Events: 200_000, Progress: o.Progress}
	if o.Quick {
		co = CollectorOptions{Events: 2000, Clients: 2, Progress: o.Progress}
	}
	r, err := CollectorInProcess(ctx, co, o.Logger)
	if err != nil {
		return nil, err
	}
	return []SuiteRow{{
		Name: fmt.Sprintf("loopback HTTP, %d clients × %d, batches of %d", r.Clients, r.InFlight, r.Batch),
		Unit: "events/s", Records: int64(r.Events), Counted: r.Stats.Accepted,
		Rate: r.CollectorPerSec, Medium: "raw produce (franz-go, acks=all)", RawRate: r.RawPerSec, Ratio: r.Ratio(),
		Notes: fmt.Sprintf("%d-byte events; raw produce %d per round trip %s; %.1f µs CPU per event, clients, collector and broker",
			r.EventBytes, r.Batch, fmtRate(r.RawBatchedPerSec, "events/s"), micros(r.CPUPerEvent)),
	}}, nil
}

var lakeFormatNames = map[string]string{
	"jsonl_gz": "JSON Lines + gzip", "parquet_zstd": "Parquet zstd", "parquet_snappy": "Parquet snappy",
}

func suiteLake(ctx context.Context, o SuiteOptions) ([]SuiteRow, error) {
	lo := LakeOptions{Progress: o.Progress}
	if o.Quick {
		lo = LakeOptions{Records: 2000, Batch: 500, Passes: 1, Progress: o.Progress}
	}
	r, err := Lake(ctx, lo)
	if err != nil {
		return nil, err
	}
	var rows []SuiteRow
	for _, run := range r.Runs {
		store := "file"
		if run.Store == LakeStoreS3 {
			store = "S3 (gofakes3)"
		}
		rows = append(rows, SuiteRow{
			Name: fmt.Sprintf("%s, %s", store, lakeFormatNames[run.Format]), Unit: "records/s",
			Records: int64(r.Records * r.Passes), Counted: run.Flushed,
			Rate: run.SinkPerSec, Medium: "raw writes, same bytes, same store", RawRate: run.RawPerSec(), Ratio: run.Ratio(),
			Latency: []SuiteLatency{{Of: "flush", N: r.Passes * ((r.Records + r.Batch - 1) / r.Batch), P99Ms: millis(run.FlushP99)}},
			Notes:   fmt.Sprintf("%.0f MB/s in, raw %.0f MB/s; batches of %d", run.SinkMBps, run.RawMBps, r.Batch),
		})
	}
	return rows, nil
}

func suitePostgres(ctx context.Context, o SuiteOptions) ([]SuiteRow, error) {
	po := PostgresOptions{DSN: o.PostgresDSN, Progress: o.Progress, Logger: o.Logger}
	if o.Quick {
		po = PostgresOptions{DSN: o.PostgresDSN, Batch: 300, Preload: 600, Iterations: 2, RowByRow: 30, Progress: o.Progress, Logger: o.Logger}
	}
	r, err := Postgres(ctx, po)
	if err != nil {
		return nil, err
	}
	const medium = "raw COPY, same rows, plain table"
	flushes := r.Iterations
	rows := []SuiteRow{
		{
			Name: "sink, inserts (new keys)", Unit: "rows/s",
			Records: int64(r.Batch * r.Iterations), Counted: r.Inserted,
			Rate: r.InsertPerSec, Medium: medium, RawRate: r.CopyPerSec, Ratio: r.InsertRatio(),
			Latency: []SuiteLatency{{Of: "flush", N: flushes, P99Ms: millis(r.InsertP99)}},
			Notes: fmt.Sprintf("direct COPY; %.2f of raw COPY into a keyed table (%s); batches of %d over %d rows",
				r.InsertPerSec/r.CopyKeyedPerSec, fmtRate(r.CopyKeyedPerSec, "rows/s"), r.Batch, r.Preload),
		},
		{
			Name: "sink, mix (⅓ updates, ⅓ deletes, ⅓ new)", Unit: "rows/s",
			Records: int64(r.Batch * r.Iterations), Counted: r.Mixed,
			Rate: r.MixPerSec, Medium: medium, RawRate: r.CopyPerSec, Ratio: r.MixRatio(),
			Latency: []SuiteLatency{{Of: "flush", N: flushes, P99Ms: millis(r.MixP99)}},
			Notes:   fmt.Sprintf("staged upsert; %.1f× row-by-row autocommit, %.1f× in one transaction", r.MixPerSec/r.RowByRowPerSec, r.MixPerSec/r.RowByRowTxPerSec),
		},
		{
			Name: "row-by-row upsert, autocommit", Unit: "rows/s",
			Records: int64(r.RowByRow * r.Iterations), Counted: r.RowByRowApplied,
			Rate: r.RowByRowPerSec, Medium: medium, RawRate: r.CopyPerSec, Ratio: r.RowByRowPerSec / r.CopyPerSec,
			Latency: []SuiteLatency{{Of: "statement", N: r.RowByRow * r.Iterations, P99Ms: millis(r.RowByRowP99)}},
			Notes:   "INSERT … ON CONFLICT (key) DO UPDATE … WHERE newer, one per row of the mix",
		},
		{
			Name: "row-by-row upsert, one transaction", Unit: "rows/s",
			Records: int64(r.RowByRow * r.Iterations), Counted: r.RowByRowTxApplied,
			Rate: r.RowByRowTxPerSec, Medium: medium, RawRate: r.CopyPerSec, Ratio: r.RowByRowTxPerSec / r.CopyPerSec,
		},
	}
	return rows, nil
}

// durationQuantile is the q-quantile of ds (nearest rank); ds is sorted in place.
func durationQuantile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	slices.Sort(ds)
	return sortedQuantile(ds, q)
}

// sortedQuantile is the nearest-rank q-quantile of sorted, non-empty ds: the smallest value
// with at least q of the values at or below it.
func sortedQuantile(ds []time.Duration, q float64) time.Duration {
	i := int(q*float64(len(ds))+0.999999) - 1
	return ds[min(max(i, 0), len(ds)-1)]
}

func micros(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e3 }
func millis(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e6 }

// loadAverage is the 1-minute load average from /proc/loadavg, or 0 where there is none.
func loadAverage() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0
	}
	v, _ := strconv.ParseFloat(f[0], 64)
	return v
}
