package postgres

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/streamhub/streamhub/emitters/warehouse"
	"github.com/streamhub/streamhub/state"
	"github.com/streamhub/streamhub/topology"
)

// Sizes of BenchmarkFlush: the flush loop's default batch (buffer.count_records), over a
// state table that already holds benchPreload rows, and the rows per iteration of each
// row-by-row baseline.
const (
	benchBatch    = 10000
	benchPreload  = 100000
	benchRowByRow = 500
)

// BenchmarkFlush measures, per iteration, on batches of benchBatch rows over a table that
// already holds benchPreload rows:
//
//   - copy: a raw COPY of the very stage rows of the two sink batches below into a plain
//     table without indexes (the medium's speed, the denominator of the ratios);
//   - copy_keyed: a raw COPY of the insert batch's rows, as the state table stores them,
//     into a table of the state table's own definition (its primary key) holding the
//     same preloaded rows: the speed of the medium a state table is, since no state
//     table can go without its key (insert/copy_keyed);
//   - insert: the sink's flush of benchBatch new keys (the direct COPY, direct.go);
//   - mix: the sink's flush of a third updates of existing rows, a third deletes of
//     existing rows, a third new keys, into a second state table holding the same
//     preloaded rows (the staged upsert: MERGE, merge.go);
//   - mix_portable: the same flush into a third such table by a sink held to the
//     portable upsert (warehouse.UpsertSteps), which Redshift and Snowflake run;
//   - rowbyrow: what an application without the sink does, on benchRowByRow rows of the
//     same mix against a copy of the preloaded table: one INSERT … ON CONFLICT (key) DO
//     UPDATE … WHERE excluded.version_key > version_key per row, each its own transaction
//     (autocommit); rowbyrow_tx: the same statements in one transaction.
//
// Rates are rows per second; the ratios (to copy, and mix to row-by-row) are what travel
// between machines. The per-step metrics of the sink are reported as ms per flush
// (insert_<step>_ms, mix_<step>_ms).
//
//	go test -run '^$' -bench BenchmarkFlush -benchtime 10x ./emitters/postgres
func BenchmarkFlush(b *testing.B) {
	pool, schema := testDB(b)
	reg := prometheus.NewRegistry()
	mixedTable := itemsTable
	mixedTable.Name, mixedTable.Group = "mixed", "dev.mixed.state"
	s := newSink(b, Options{Schema: schema, Tables: []topology.Table{itemsTable, mixedTable}, Registry: reg})
	portableTable := itemsTable
	portableTable.Name, portableTable.Group = "mixed_portable", "dev.mixed_portable.state"
	sp := newSink(b, Options{Name: "portable", Schema: schema, Tables: []topology.Table{portableTable}})
	sp.portable = true
	topic, mixedTopic, portableTopic := itemsTable.TableTopic(), mixedTable.TableTopic(), portableTable.TableTopic()
	ctx := context.Background()
	tbl, _ := s.Table(topic)

	var cols []string
	for _, c := range tbl.StageColumns() {
		typ, _ := warehouse.TypeOf(warehouse.Postgres, c.Type)
		cols = append(cols, warehouse.Quote(c.Name)+" "+typ)
	}
	if _, err := pool.Exec(ctx, fmt.Sprintf("CREATE TABLE %s.raw_copy (%s)", schema, strings.Join(cols, ", "))); err != nil {
		b.Fatal(err)
	}
	rbr := tbl
	rbr.Name = "rowbyrow"
	keyed := tbl
	keyed.Name = "raw_keyed"
	for _, q := range append(warehouse.DDL(warehouse.Postgres, rbr), warehouse.DDL(warehouse.Postgres, keyed)...) {
		if _, err := pool.Exec(ctx, q); err != nil {
			b.Fatal(err)
		}
	}

	value := func(k, seq int, deleted bool) state.Value {
		v := state.Value{Deleted: deleted, Version: state.Version{Seq: fmt.Sprint(seq), Stream: "s", CreatedAt: 1767225600000 + int64(seq)}}
		if !deleted {
			v.Item = fmt.Appendf(nil, `{"id":"u%d","n":%d,"name":"item %d with some text","sk":"s"}`, k, seq, k)
		}
		return v
	}
	var offset int64
	records := func(topic string, keys []int, seq int, deleted func(int) bool) []*kgo.Record {
		out := make([]*kgo.Record, len(keys))
		for i, k := range keys {
			out[i] = stateRecord(b, topic, itemKey(k), value(k, seq, deleted(i)), offset)
			offset++
		}
		return out
	}
	never := func(int) bool { return false }
	next := 0
	newKeys := func() []int {
		keys := make([]int, benchBatch)
		for i := range keys {
			keys[i] = next
			next++
		}
		return keys
	}

	// Preload, then copy the table for the row-by-row baseline.
	for next < benchPreload {
		mustFlush(b, s, batch(topic, 0, records(topic, newKeys(), 1, never)...))
	}
	for _, q := range []string{
		fmt.Sprintf("INSERT INTO %s.rowbyrow SELECT * FROM %s.items", schema, schema),
		fmt.Sprintf("INSERT INTO %s.mixed SELECT * FROM %s.items", schema, schema),
		fmt.Sprintf("INSERT INTO %s.mixed_portable SELECT * FROM %s.items", schema, schema),
		fmt.Sprintf("INSERT INTO %s.raw_keyed SELECT * FROM %s.items", schema, schema),
		fmt.Sprintf("VACUUM ANALYZE %s.items", schema),
		fmt.Sprintf("VACUUM ANALYZE %s.mixed", schema),
		fmt.Sprintf("VACUUM ANALYZE %s.mixed_portable", schema),
		fmt.Sprintf("VACUUM ANALYZE %s.rowbyrow", schema),
		fmt.Sprintf("VACUUM ANALYZE %s.raw_keyed", schema),
	} {
		if _, err := pool.Exec(ctx, q); err != nil {
			b.Fatal(err)
		}
	}

	// Row by row: the target's columns, deleted → deleted_at = the change's creation time.
	var tcols, params, sets []string
	for i, c := range rbr.Columns() {
		tcols = append(tcols, warehouse.Quote(c.Name))
		params = append(params, fmt.Sprintf("$%d", i+1))
		if c.Name != warehouse.ColKey && c.Attr == "" {
			sets = append(sets, fmt.Sprintf("%s = EXCLUDED.%[1]s", warehouse.Quote(c.Name)))
		}
	}
	rowSQL := fmt.Sprintf(`INSERT INTO %s.rowbyrow AS "t" (%s) VALUES (%s) ON CONFLICT ("key") DO UPDATE SET %s WHERE EXCLUDED."version_key" > "t"."version_key"`,
		schema, strings.Join(tcols, ", "), strings.Join(params, ", "), strings.Join(sets, ", "))
	stageCols := tbl.StageColumnNames()
	iDeleted, iCreated := -1, -1
	for i, c := range stageCols {
		switch c {
		case warehouse.ColDeleted:
			iDeleted = i
		case warehouse.ColVersionCreatedAt:
			iCreated = i
		}
	}
	targetValues := func(v []any) []any {
		out := append([]any(nil), v...)
		out[iDeleted] = nil
		if v[iDeleted].(bool) {
			out[iDeleted] = v[iCreated]
		}
		return out
	}
	conn, err := pool.Acquire(ctx)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Release()
	rowByRow := func(rows []warehouse.Row, oneTx bool) time.Duration {
		start := time.Now()
		if oneTx {
			tx, err := conn.Begin(ctx)
			if err != nil {
				b.Fatal(err)
			}
			for _, r := range rows {
				if _, err := tx.Exec(ctx, rowSQL, targetValues(r.Values)...); err != nil {
					b.Fatal(err)
				}
			}
			if err := tx.Commit(ctx); err != nil {
				b.Fatal(err)
			}
		} else {
			for _, r := range rows {
				if _, err := conn.Exec(ctx, rowSQL, targetValues(r.Values)...); err != nil {
					b.Fatal(err)
				}
			}
		}
		return time.Since(start)
	}
	rawCopy := func(recs []*kgo.Record) time.Duration {
		rows, _ := warehouse.Rows(tbl, recs, time.Now())
		start := time.Now()
		if _, err := pool.CopyFrom(ctx, pgx.Identifier{schema, "raw_copy"}, stageCols, copySource(rows)); err != nil {
			b.Fatal(err)
		}
		return time.Since(start)
	}

	var targetCols []string
	for _, c := range keyed.Columns() {
		targetCols = append(targetCols, c.Name)
	}
	keyedCopy := func(recs []*kgo.Record) time.Duration {
		rows, _ := warehouse.Rows(tbl, recs, time.Now())
		vals := make([][]any, len(rows))
		for i, r := range rows {
			vals[i] = targetValues(r.Values)
		}
		start := time.Now()
		if _, err := pool.CopyFrom(ctx, pgx.Identifier{schema, "raw_keyed"}, targetCols, pgx.CopyFromRows(vals)); err != nil {
			b.Fatal(err)
		}
		return time.Since(start)
	}

	steps := []string{warehouse.StepPrepare, warehouse.StepStage, warehouse.StepCopy, warehouse.StepUpsert, warehouse.StepOffsets, warehouse.StepCommit}
	stepInsert, stepMix := map[string]float64{}, map[string]float64{}
	addSteps := func(into map[string]float64, before map[string]float64) {
		for k, v := range stepSums(b, reg) {
			into[k] += v - before[k]
		}
	}

	r := rand.New(rand.NewPCG(1, 2))
	var tCopy, tKeyed, tInsert, tMix, tPortable, tRow, tRowTx time.Duration
	var nRow, nRowTx int
	b.ResetTimer()
	for it := range b.N {
		seq := 2 + it
		recs := records(topic, newKeys(), seq, never)
		// A mix: existing keys (distinct, from the preloaded rows) updated or deleted, new keys inserted.
		mix := make([]int, benchBatch)
		perm := r.Perm(benchPreload)
		for i := range mix {
			if i%3 == 2 {
				mix[i] = next
				next++
			} else {
				mix[i] = perm[i]
			}
		}
		mixRecs := records(mixedTopic, mix, seq, func(i int) bool { return i%3 == 1 })
		portableRecs := records(portableTopic, mix, seq, func(i int) bool { return i%3 == 1 })

		tCopy += rawCopy(recs) + rawCopy(mixRecs)
		tKeyed += keyedCopy(recs)

		before := stepSums(b, reg)
		start := time.Now()
		mustFlush(b, s, batch(topic, 0, recs...))
		tInsert += time.Since(start)
		addSteps(stepInsert, before)

		before = stepSums(b, reg)
		start = time.Now()
		mustFlush(b, s, batch(mixedTopic, 0, mixRecs...))
		tMix += time.Since(start)
		addSteps(stepMix, before)

		start = time.Now()
		mustFlush(b, sp, batch(portableTopic, 0, portableRecs...))
		tPortable += time.Since(start)

		mixRows, _ := warehouse.Rows(tbl, mixRecs, time.Now())
		tRow += rowByRow(mixRows[:benchRowByRow], false)
		nRow += benchRowByRow
		tRowTx += rowByRow(mixRows[benchRowByRow:2*benchRowByRow], true)
		nRowTx += benchRowByRow
	}
	b.StopTimer()
	rate := func(n int, d time.Duration) float64 { return float64(n) / d.Seconds() }
	copyRate := rate(2*benchBatch*b.N, tCopy)
	insertRate, mixRate := rate(benchBatch*b.N, tInsert), rate(benchBatch*b.N, tMix)
	rowRate, rowTxRate := rate(nRow, tRow), rate(nRowTx, tRowTx)
	keyedRate := rate(benchBatch*b.N, tKeyed)
	b.ReportMetric(copyRate, "copy_rows/s")
	b.ReportMetric(keyedRate, "copy_keyed_rows/s")
	b.ReportMetric(insertRate/keyedRate, "insert/copy_keyed")
	b.ReportMetric(insertRate, "insert_rows/s")
	b.ReportMetric(mixRate, "mix_rows/s")
	portableRate := rate(benchBatch*b.N, tPortable)
	b.ReportMetric(portableRate, "mix_portable_rows/s")
	b.ReportMetric(mixRate/portableRate, "mix/mix_portable")
	b.ReportMetric(rowRate, "rowbyrow_rows/s")
	b.ReportMetric(rowTxRate, "rowbyrow_tx_rows/s")
	b.ReportMetric(insertRate/copyRate, "insert/copy")
	b.ReportMetric(mixRate/copyRate, "mix/copy")
	b.ReportMetric(mixRate/rowRate, "mix/rowbyrow")
	b.ReportMetric(mixRate/rowTxRate, "mix/rowbyrow_tx")
	for _, st := range steps {
		b.ReportMetric(stepInsert[st]*1000/float64(b.N), "insert_"+st+"_ms")
		b.ReportMetric(stepMix[st]*1000/float64(b.N), "mix_"+st+"_ms")
	}
	b.ReportMetric(0, "ns/op")
}

// stepSums returns the sums of the flush step histogram per step.
func stepSums(t testing.TB, reg *prometheus.Registry) map[string]float64 {
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
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
	return out
}
