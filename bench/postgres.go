package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/streamhub/streamhub/emitters"
	"github.com/streamhub/streamhub/emitters/postgres"
	"github.com/streamhub/streamhub/emitters/warehouse"
	"github.com/streamhub/streamhub/internal/pgdsn"
	"github.com/streamhub/streamhub/state"
	"github.com/streamhub/streamhub/topology"
)

// ErrPostgresUnreachable is returned (wrapped) when the benchmark cannot reach
// PostgreSQL at all, so that a suite can skip the stage instead of failing.
var ErrPostgresUnreachable = errors.New("PostgreSQL is not reachable")

// connectPostgres connects and pings within 5 s; failing that, the error wraps
// ErrPostgresUnreachable.
func connectPostgres(ctx context.Context, dsn string) (*pgxpool.Pool, error) {
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	pool, err := pgxpool.New(pctx, dsn)
	if err == nil {
		if err = pool.Ping(pctx); err != nil {
			pool.Close()
		}
	}
	if err != nil {
		return nil, fmt.Errorf("bench: %w: %v", ErrPostgresUnreachable, err)
	}
	return pool, nil
}

// postgresReachable is nil when dsn reaches a PostgreSQL.
func postgresReachable(ctx context.Context, dsn string) error {
	pool, err := connectPostgres(ctx, dsn)
	if err == nil {
		pool.Close()
	}
	return err
}

// PostgresOptions shape the PostgreSQL sink benchmark.
type PostgresOptions struct {
	// DSN of the PostgreSQL to use; default pgdsn.Get(). The benchmark works in a
	// schema of its own, dropped at the end.
	DSN string
	// Batch is the rows per flush (default 10,000, the flush loop's default
	// buffer.count_records); Preload the rows the state tables hold before the first
	// measured flush (default 100,000); Iterations the measured flushes of each kind
	// (default 10); RowByRow the rows per iteration of each row-by-row baseline
	// (default 500, at most Batch/2).
	Batch, Preload, Iterations, RowByRow int
	// Progress, when set, receives a line per phase.
	Progress io.Writer
	Logger   *slog.Logger
}

// PostgresResult is one run of the PostgreSQL benchmark. Rates are rows per second.
type PostgresResult struct {
	Batch, Preload, Iterations, RowByRow int
	// Schema is the schema the run worked in, dropped at its end.
	Schema string
	// CopyPerSec is the medium: a raw COPY of the very stage rows of both sink batches
	// into a plain table without indexes. CopyKeyedPerSec is a raw COPY of the insert
	// batch's rows, as the state table stores them, into a table of the state table's own
	// definition (its primary key) holding the same preloaded rows: the medium a state
	// table is, since no state table can go without its key.
	CopyPerSec, CopyKeyedPerSec float64
	// InsertPerSec is the sink flushing Batch new keys; MixPerSec the sink flushing a
	// third updates, a third deletes of existing rows and a third new keys into a second
	// state table holding the same preloaded rows (the staged upsert).
	InsertPerSec, MixPerSec float64
	// RowByRowPerSec is what an application without the sink does: one INSERT … ON
	// CONFLICT (key) DO UPDATE … WHERE newer per row of the mix, each its own
	// transaction; RowByRowTxPerSec the same statements in one transaction.
	RowByRowPerSec, RowByRowTxPerSec float64
	// What was counted in the tables afterwards (not what the code meant to write):
	// Copied rows COPY reported, Inserted and Mixed rows of the state tables carrying a
	// measured flush's version, RowByRowApplied rows the statements changed.
	Copied, Inserted, Mixed, RowByRowApplied, RowByRowTxApplied int64
	// p99 of one flush, and of one row-by-row statement (autocommit).
	InsertP99, MixP99, RowByRowP99 time.Duration
	// InsertSteps and MixSteps are the mean time per flush of each step of the sink
	// (warehouse.StepPrepare, …), from its streamhub_warehouse_flush_step_seconds.
	InsertSteps, MixSteps map[string]time.Duration
}

// InsertRatio is the sink's insert flush as a fraction of raw COPY.
func (r PostgresResult) InsertRatio() float64 { return r.InsertPerSec / r.CopyPerSec }

// MixRatio is the sink's mixed flush as a fraction of raw COPY.
func (r PostgresResult) MixRatio() float64 { return r.MixPerSec / r.CopyPerSec }

func (r PostgresResult) String() string {
	return fmt.Sprintf("batches of %d rows over state tables of %d rows, %d iterations\n"+
		"  raw COPY, plain table          %9.0f rows/s\n"+
		"  raw COPY, keyed table          %9.0f rows/s   (%.2f of plain)\n"+
		"  sink, inserts                  %9.0f rows/s   ratio %.3f, %.2f of keyed COPY (p99 flush %s)\n"+
		"  sink, mix                      %9.0f rows/s   ratio %.3f, %.1f× row-by-row (p99 flush %s)\n"+
		"  row-by-row, autocommit         %9.0f rows/s   (p99 statement %s)\n"+
		"  row-by-row, one transaction    %9.0f rows/s",
		r.Batch, r.Preload, r.Iterations, r.CopyPerSec, r.CopyKeyedPerSec, r.CopyKeyedPerSec/r.CopyPerSec,
		r.InsertPerSec, r.InsertRatio(), r.InsertPerSec/r.CopyKeyedPerSec, r.InsertP99.Round(time.Millisecond),
		r.MixPerSec, r.MixRatio(), r.MixPerSec/r.RowByRowPerSec, r.MixP99.Round(time.Millisecond),
		r.RowByRowPerSec, r.RowByRowP99.Round(10*time.Microsecond), r.RowByRowTxPerSec)
}

// benchItems is the state table of the PostgreSQL benchmark: two key attributes, two
// projected columns.
var benchItems = topology.Table{
	Name: "items", Keys: []string{"id", "sk"}, Group: "bench.items.state",
	Columns: []topology.Column{{Name: "name", Path: "name", Type: "string"}, {Name: "n", Path: "n", Type: "int"}},
}

// Postgres measures the PostgreSQL sink (inserts, and a mix of updates, deletes and
// inserts) against raw COPY of the same rows and against row-by-row upserts, in one run,
// in a schema of its own.
func Postgres(ctx context.Context, o PostgresOptions) (res PostgresResult, err error) {
	if o.DSN == "" {
		o.DSN = pgdsn.Get()
	}
	if o.Batch <= 0 {
		o.Batch = 10_000
	}
	if o.Preload <= 0 {
		o.Preload = 100_000
	}
	if o.Iterations <= 0 {
		o.Iterations = 10
	}
	if o.RowByRow <= 0 {
		o.RowByRow = 500
	}
	if o.RowByRow > o.Batch/2 || o.Batch > o.Preload {
		return res, fmt.Errorf("bench: postgres wants row-by-row ≤ batch/2 ≤ preload/2, got row-by-row %d, batch %d, preload %d", o.RowByRow, o.Batch, o.Preload)
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	res = PostgresResult{Batch: o.Batch, Preload: o.Preload, Iterations: o.Iterations, RowByRow: o.RowByRow}

	pool, err := connectPostgres(ctx, o.DSN)
	if err != nil {
		return res, err
	}
	defer pool.Close()
	schema := fmt.Sprintf("streamhub_bench_%016x", rand.Uint64())
	res.Schema = schema
	if _, err := pool.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		return res, err
	}
	defer func() {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		if _, derr := pool.Exec(dctx, "DROP SCHEMA "+schema+" CASCADE"); derr != nil && err == nil {
			err = fmt.Errorf("bench: drop schema %s: %w", schema, derr)
		}
	}()

	reg := prometheus.NewRegistry()
	mixedTable := benchItems
	mixedTable.Name, mixedTable.Group = "mixed", "bench.mixed.state"
	sink, err := postgres.New(ctx, postgres.Options{Name: "bench", DSN: o.DSN, Schema: schema,
		Tables: []topology.Table{benchItems, mixedTable}, Registry: reg, Logger: o.Logger})
	if err != nil {
		return res, err
	}
	defer sink.Close()
	topic, mixedTopic := benchItems.TableTopic(), mixedTable.TableTopic()
	tbl, _ := sink.Table(topic)
	mixed, _ := sink.Table(mixedTopic)
	p := &pgBench{o: o, pool: pool, sink: sink, tbl: tbl, res: &res}

	var cols []string
	for _, c := range tbl.StageColumns() {
		typ, err := warehouse.TypeOf(warehouse.Postgres, c.Type)
		if err != nil {
			return res, err
		}
		cols = append(cols, warehouse.Quote(c.Name)+" "+typ)
	}
	rbr, keyed := tbl, tbl
	rbr.Name, keyed.Name = "rowbyrow", "raw_keyed"
	ddl := []string{fmt.Sprintf("CREATE TABLE %s (%s)", warehouse.Qualified(schema, "raw_copy"), strings.Join(cols, ", "))}
	ddl = append(ddl, warehouse.DDL(warehouse.Postgres, rbr)...)
	ddl = append(ddl, warehouse.DDL(warehouse.Postgres, keyed)...)
	for _, q := range ddl {
		if _, err := pool.Exec(ctx, q); err != nil {
			return res, err
		}
	}
	if err := p.mapTarget(rbr); err != nil {
		return res, err
	}

	fmt.Fprintf(o.Progress, "postgres: preloading %d rows...\n", o.Preload)
	never := func(int) bool { return false }
	for p.next < o.Preload {
		recs, err := p.records(topic, p.newKeys(min(o.Batch, o.Preload-p.next)), 1, never)
		if err != nil {
			return res, err
		}
		if err := p.flush(ctx, topic, recs); err != nil {
			return res, err
		}
	}
	for _, q := range []string{
		"INSERT INTO %[1]s.rowbyrow SELECT * FROM %[1]s.items",
		"INSERT INTO %[1]s.mixed SELECT * FROM %[1]s.items",
		"INSERT INTO %[1]s.raw_keyed SELECT * FROM %[1]s.items",
		"VACUUM ANALYZE %[1]s.items", "VACUUM ANALYZE %[1]s.mixed",
		"VACUUM ANALYZE %[1]s.rowbyrow", "VACUUM ANALYZE %[1]s.raw_keyed",
	} {
		if _, err := pool.Exec(ctx, fmt.Sprintf(q, schema)); err != nil {
			return res, err
		}
	}
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return res, err
	}
	defer conn.Release()

	r := rand.New(rand.NewPCG(1, 2))
	var tCopy, tKeyed, tInsert, tMix, tRow, tRowTx time.Duration
	var inserts, mixes, statements []time.Duration
	stepsInsert, stepsMix := map[string]float64{}, map[string]float64{}
	for it := range o.Iterations {
		fmt.Fprintf(o.Progress, "postgres: iteration %d of %d...\n", it+1, o.Iterations)
		seq := 2 + it
		recs, err := p.records(topic, p.newKeys(o.Batch), seq, never)
		if err != nil {
			return res, err
		}
		// The mix: existing keys (distinct, from the preloaded rows) updated or deleted,
		// new keys inserted.
		keys := make([]int, o.Batch)
		perm := r.Perm(o.Preload)
		for i := range keys {
			if i%3 == 2 {
				keys[i] = p.next
				p.next++
			} else {
				keys[i] = perm[i]
			}
		}
		mixRecs, err := p.records(mixedTopic, keys, seq, func(i int) bool { return i%3 == 1 })
		if err != nil {
			return res, err
		}

		for _, rs := range [][]*kgo.Record{recs, mixRecs} {
			d, err := p.rawCopy(ctx, schema, rs)
			if err != nil {
				return res, err
			}
			tCopy += d
		}
		d, err := p.keyedCopy(ctx, schema, recs)
		if err != nil {
			return res, err
		}
		tKeyed += d

		for _, f := range []struct {
			topic string
			recs  []*kgo.Record
			total *time.Duration
			each  *[]time.Duration
			steps map[string]float64
			table warehouse.Table
			count *int64
		}{
			{topic, recs, &tInsert, &inserts, stepsInsert, tbl, &res.Inserted},
			{mixedTopic, mixRecs, &tMix, &mixes, stepsMix, mixed, &res.Mixed},
		} {
			before, err := flushStepSums(reg)
			if err != nil {
				return res, err
			}
			start := time.Now()
			if err := p.flush(ctx, f.topic, f.recs); err != nil {
				return res, err
			}
			d := time.Since(start)
			*f.total += d
			*f.each = append(*f.each, d)
			after, err := flushStepSums(reg)
			if err != nil {
				return res, err
			}
			for k, v := range after {
				f.steps[k] += v - before[k]
			}
			var n int64
			if err := pool.QueryRow(ctx, fmt.Sprintf(`SELECT count(*) FROM %s WHERE %s = $1`, f.table.QualifiedName(),
				warehouse.Quote(warehouse.ColVersionSeq)), fmt.Sprint(seq)).Scan(&n); err != nil {
				return res, err
			}
			*f.count += n
		}

		rows, rejects := warehouse.Rows(tbl, mixRecs, time.Now())
		if len(rejects) > 0 {
			return res, fmt.Errorf("bench: postgres: %d rows rejected, the first: %s", len(rejects), rejects[0].Reason)
		}
		d, n, each, err := p.rowByRow(ctx, conn, rows[:o.RowByRow], false)
		if err != nil {
			return res, err
		}
		tRow, res.RowByRowApplied, statements = tRow+d, res.RowByRowApplied+n, append(statements, each...)
		d, n, _, err = p.rowByRow(ctx, conn, rows[o.RowByRow:2*o.RowByRow], true)
		if err != nil {
			return res, err
		}
		tRowTx, res.RowByRowTxApplied = tRowTx+d, res.RowByRowTxApplied+n
	}
	rate := func(n int, d time.Duration) float64 { return float64(n) / d.Seconds() }
	res.CopyPerSec = rate(2*o.Batch*o.Iterations, tCopy)
	res.CopyKeyedPerSec = rate(o.Batch*o.Iterations, tKeyed)
	res.InsertPerSec, res.MixPerSec = rate(o.Batch*o.Iterations, tInsert), rate(o.Batch*o.Iterations, tMix)
	res.RowByRowPerSec, res.RowByRowTxPerSec = rate(o.RowByRow*o.Iterations, tRow), rate(o.RowByRow*o.Iterations, tRowTx)
	res.InsertP99, res.MixP99 = durationQuantile(inserts, 0.99), durationQuantile(mixes, 0.99)
	res.RowByRowP99 = durationQuantile(statements, 0.99)
	perFlush := func(m map[string]float64) map[string]time.Duration {
		out := map[string]time.Duration{}
		for k, v := range m {
			out[k] = time.Duration(v / float64(o.Iterations) * float64(time.Second))
		}
		return out
	}
	res.InsertSteps, res.MixSteps = perFlush(stepsInsert), perFlush(stepsMix)
	return res, nil
}

// pgBench is the state of one PostgreSQL benchmark run.
type pgBench struct {
	o      PostgresOptions
	pool   *pgxpool.Pool
	sink   *postgres.Sink
	tbl    warehouse.Table
	res    *PostgresResult
	next   int   // the next new key
	offset int64 // the next Kafka offset
	// target maps the state table's columns to stage values: the index of each in a
	// stage row, deleted_at taken from the tombstone flag and the change's creation time.
	target                 []int
	iDeleted, iCreated     int
	targetCols, targetSQLs []string
	rowSQL                 string
}

func (p *pgBench) newKeys(n int) []int {
	keys := make([]int, n)
	for i := range keys {
		keys[i] = p.next
		p.next++
	}
	return keys
}

// records are state-table records of keys at version seq, as the processor writes them.
func (p *pgBench) records(topic string, keys []int, seq int, deleted func(int) bool) ([]*kgo.Record, error) {
	out := make([]*kgo.Record, len(keys))
	for i, k := range keys {
		v := state.Value{Deleted: deleted(i), Version: state.Version{Seq: fmt.Sprint(seq), Stream: "s", CreatedAt: 1767225600000 + int64(seq)}}
		if !v.Deleted {
			v.Item = fmt.Appendf(nil, `{"id":"u%d","n":%d,"name":"item %d with some text","sk":"s"}`, k, seq, k)
		}
		b, err := v.MarshalBinary()
		if err != nil {
			return nil, err
		}
		out[i] = &kgo.Record{Topic: topic, Key: fmt.Appendf(nil, `["u%d","s"]`, k), Value: b,
			Offset: p.offset, Timestamp: time.UnixMilli(1767225600000 + p.offset)}
		p.offset++
	}
	return out, nil
}

func (p *pgBench) flush(ctx context.Context, topic string, recs []*kgo.Record) error {
	rejects, err := p.sink.Flush(ctx, &emitters.Batch{Topic: topic, Partition: 0, Records: recs})
	if err != nil {
		return err
	}
	if len(rejects) > 0 {
		return fmt.Errorf("bench: postgres: %d records rejected, the first: %s", len(rejects), rejects[0].Reason)
	}
	return nil
}

// mapTarget prepares the row-by-row statement and the stage-to-target mapping.
func (p *pgBench) mapTarget(t warehouse.Table) error {
	p.iDeleted, p.iCreated = p.tbl.StageIndex(warehouse.ColDeleted), p.tbl.StageIndex(warehouse.ColVersionCreatedAt)
	if p.iDeleted < 0 || p.iCreated < 0 {
		return fmt.Errorf("bench: postgres: the stage has no %s or %s column", warehouse.ColDeleted, warehouse.ColVersionCreatedAt)
	}
	var params, sets []string
	for i, c := range t.Columns() {
		idx := p.tbl.StageIndex(c.Name)
		if c.Name == warehouse.ColDeletedAt {
			idx = p.iDeleted
		} else if idx < 0 {
			return fmt.Errorf("bench: postgres: target column %s is not in the stage", c.Name)
		}
		p.target = append(p.target, idx)
		p.targetCols = append(p.targetCols, c.Name)
		p.targetSQLs = append(p.targetSQLs, warehouse.Quote(c.Name))
		params = append(params, fmt.Sprintf("$%d", i+1))
		if c.Name != warehouse.ColKey && c.Attr == "" {
			sets = append(sets, fmt.Sprintf("%s = EXCLUDED.%[1]s", warehouse.Quote(c.Name)))
		}
	}
	p.rowSQL = fmt.Sprintf(`INSERT INTO %s AS "t" (%s) VALUES (%s) ON CONFLICT (%s) DO UPDATE SET %s WHERE EXCLUDED.%s > "t".%[6]s`,
		t.QualifiedName(), strings.Join(p.targetSQLs, ", "), strings.Join(params, ", "), warehouse.Quote(warehouse.ColKey),
		strings.Join(sets, ", "), warehouse.Quote(warehouse.ColVersionKey))
	return nil
}

// targetValues is a stage row as the state table stores it: deleted → deleted_at = the
// change's creation time.
func (p *pgBench) targetValues(v []any) []any {
	out := make([]any, len(p.target))
	for i, idx := range p.target {
		if idx != p.iDeleted {
			out[i] = v[idx]
		} else if v[p.iDeleted].(bool) {
			out[i] = v[p.iCreated]
		}
	}
	return out
}

func (p *pgBench) rawCopy(ctx context.Context, schema string, recs []*kgo.Record) (time.Duration, error) {
	rows, _ := warehouse.Rows(p.tbl, recs, time.Now())
	start := time.Now()
	n, err := p.pool.CopyFrom(ctx, pgx.Identifier{schema, "raw_copy"}, p.tbl.StageColumnNames(),
		pgx.CopyFromSlice(len(rows), func(i int) ([]any, error) { return rows[i].Values, nil }))
	d := time.Since(start)
	p.res.Copied += n
	return d, err
}

func (p *pgBench) keyedCopy(ctx context.Context, schema string, recs []*kgo.Record) (time.Duration, error) {
	rows, _ := warehouse.Rows(p.tbl, recs, time.Now())
	vals := make([][]any, len(rows))
	for i, r := range rows {
		vals[i] = p.targetValues(r.Values)
	}
	start := time.Now()
	_, err := p.pool.CopyFrom(ctx, pgx.Identifier{schema, "raw_keyed"}, p.targetCols, pgx.CopyFromRows(vals))
	return time.Since(start), err
}

// rowByRow upserts rows one statement each, autocommit or in one transaction, and
// returns the time, the rows changed and each statement's time.
func (p *pgBench) rowByRow(ctx context.Context, conn *pgxpool.Conn, rows []warehouse.Row, oneTx bool) (time.Duration, int64, []time.Duration, error) {
	var applied int64
	each := make([]time.Duration, 0, len(rows))
	start := time.Now()
	exec := conn.Exec
	var tx pgx.Tx
	if oneTx {
		var err error
		if tx, err = conn.Begin(ctx); err != nil {
			return 0, 0, nil, err
		}
		defer tx.Rollback(ctx)
		exec = tx.Exec
	}
	for _, r := range rows {
		t := time.Now()
		tag, err := exec(ctx, p.rowSQL, p.targetValues(r.Values)...)
		if err != nil {
			return 0, 0, nil, err
		}
		each = append(each, time.Since(t))
		applied += tag.RowsAffected()
	}
	if tx != nil {
		if err := tx.Commit(ctx); err != nil {
			return 0, 0, nil, err
		}
	}
	return time.Since(start), applied, each, nil
}

// flushStepSums returns the sums of the sink's flush step histogram, in seconds per step.
func flushStepSums(reg *prometheus.Registry) (map[string]float64, error) {
	mfs, err := reg.Gather()
	if err != nil {
		return nil, err
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != "streamhub_warehouse_flush_step_seconds" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "step" {
					out[l.GetValue()] += m.GetHistogram().GetSampleSum()
				}
			}
		}
	}
	return out, nil
}
