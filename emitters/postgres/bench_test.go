package postgres

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/streamhub/streamhub/emitters/warehouse"
	"github.com/streamhub/streamhub/state"
	"github.com/streamhub/streamhub/topology"
)

// BenchmarkFlush compares, on N rows per iteration: a raw COPY into a plain table (the
// medium's speed), the sink's flush of N inserts, a flush mixing inserts, updates and
// deletes, and a row-by-row INSERT … ON CONFLICT DO UPDATE baseline. Ratios to the raw
// COPY are what travel between machines.
//
//	go test -run '^$' -bench BenchmarkFlush -benchtime 5x ./emitters/postgres
func BenchmarkFlush(b *testing.B) {
	const n = 5000
	pool, schema := testDB(b)
	s := newSink(b, Options{Schema: schema, Tables: []topology.Table{itemsTable}})
	topic := itemsTable.TableTopic()
	ctx := context.Background()
	tbl, _ := s.Table(topic)
	plain := warehouse.StageDDL(warehouse.Postgres, tbl, "raw_copy")
	plain = "CREATE TABLE " + schema + ".raw_copy" + plain[len(`CREATE TEMP TABLE "raw_copy"`):len(plain)-len(" ON COMMIT DROP")]
	if _, err := pool.Exec(ctx, plain); err != nil {
		b.Fatal(err)
	}
	if _, err := pool.Exec(ctx, fmt.Sprintf(`CREATE TABLE %s.rowbyrow (key text PRIMARY KEY, doc jsonb, version_key text COLLATE "C", name text)`, schema)); err != nil {
		b.Fatal(err)
	}
	value := func(k, seq int, deleted bool) state.Value {
		v := state.Value{Deleted: deleted, Version: state.Version{Seq: fmt.Sprint(seq), Stream: "s", CreatedAt: 1767225600000 + int64(seq)}}
		if !deleted {
			v.Item = fmt.Appendf(nil, `{"id":"u%d","n":%d,"name":"item %d with some text","sk":"s"}`, k, seq, k)
		}
		return v
	}
	var offset int64
	records := func(keys []int, seq int, deleted func(int) bool) []*kgo.Record {
		out := make([]*kgo.Record, len(keys))
		for i, k := range keys {
			out[i] = stateRecord(b, topic, itemKey(k), value(k, seq, deleted(i)), offset)
			offset++
		}
		return out
	}
	never := func(int) bool { return false }
	var tCopy, tInsert, tMix, tRow time.Duration
	next := 0
	b.ResetTimer()
	for range b.N {
		keys := make([]int, n)
		for i := range keys {
			keys[i] = next
			next++
		}
		recs := records(keys, 1, never)

		// Raw COPY of the same rows.
		rows, _ := warehouse.Rows(tbl, recs, time.Now())
		start := time.Now()
		if _, err := pool.CopyFrom(ctx, pgx.Identifier{schema, "raw_copy"}, tbl.StageColumnNames(), copySource(rows)); err != nil {
			b.Fatal(err)
		}
		tCopy += time.Since(start)

		// The sink: N inserts.
		start = time.Now()
		mustFlush(b, s, batch(topic, 0, recs...))
		tInsert += time.Since(start)

		// A mix over those keys and new ones: a third updates, a third deletes, a third inserts.
		mix := make([]int, n)
		for i := range mix {
			if i%3 == 2 {
				mix[i] = next
				next++
			} else {
				mix[i] = keys[i]
			}
		}
		mixRecs := records(mix, 2, func(i int) bool { return i%3 == 1 })
		start = time.Now()
		mustFlush(b, s, batch(topic, 0, mixRecs...))
		tMix += time.Since(start)

		// Row by row, one transaction.
		start = time.Now()
		tx, err := pool.Begin(ctx)
		if err != nil {
			b.Fatal(err)
		}
		for _, r := range rows {
			v := r.Values
			if _, err := tx.Exec(ctx, fmt.Sprintf(`INSERT INTO %s.rowbyrow (key, doc, version_key, name) VALUES ($1, $2, $3, $4)
ON CONFLICT (key) DO UPDATE SET doc = EXCLUDED.doc, version_key = EXCLUDED.version_key, name = EXCLUDED.name
WHERE EXCLUDED.version_key > rowbyrow.version_key`, schema), v[2], v[3], v[5], v[9]); err != nil {
				b.Fatal(err)
			}
		}
		if err := tx.Commit(ctx); err != nil {
			b.Fatal(err)
		}
		tRow += time.Since(start)
	}
	b.StopTimer()
	rate := func(d time.Duration) float64 { return float64(n*b.N) / d.Seconds() }
	b.ReportMetric(rate(tCopy), "copy_rows/s")
	b.ReportMetric(rate(tInsert), "insert_rows/s")
	b.ReportMetric(rate(tMix), "mix_rows/s")
	b.ReportMetric(rate(tRow), "rowbyrow_rows/s")
	b.ReportMetric(rate(tInsert)/rate(tCopy), "insert/copy")
	b.ReportMetric(rate(tMix)/rate(tCopy), "mix/copy")
	b.ReportMetric(rate(tRow)/rate(tCopy), "rowbyrow/copy")
	b.ReportMetric(0, "ns/op")
}
