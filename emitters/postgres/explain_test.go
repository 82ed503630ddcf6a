package postgres

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/streamhub/streamhub/emitters/warehouse"
	"github.com/streamhub/streamhub/state"
	"github.com/streamhub/streamhub/topology"
)

// TestExplainFlush prints EXPLAIN ANALYZE of every statement of a mixed flush of
// benchBatch rows over benchPreload rows, as the sink runs them (the MERGE upsert, or
// with STREAMHUB_PG_EXPLAIN_PORTABLE=1 the portable one). It runs only with
// STREAMHUB_PG_EXPLAIN=1 (or =insert: new keys only):
//
//	STREAMHUB_PG_EXPLAIN=1 go test -run TestExplainFlush -v ./emitters/postgres
func TestExplainFlush(t *testing.T) {
	if os.Getenv("STREAMHUB_PG_EXPLAIN") == "" {
		t.Skip("set STREAMHUB_PG_EXPLAIN=1 to print the plans of a flush")
	}
	pool, schema := testDB(t)
	s := newSink(t, Options{Schema: schema, Tables: []topology.Table{itemsTable}})
	topic := itemsTable.TableTopic()
	ctx := context.Background()
	tbl, _ := s.Table(topic)
	var offset int64
	rec := func(k, seq int, deleted bool) *kgo.Record {
		v := state.Value{Deleted: deleted, Version: state.Version{Seq: fmt.Sprint(seq), Stream: "s", CreatedAt: 1767225600000 + int64(seq)}}
		if !deleted {
			v.Item = fmt.Appendf(nil, `{"id":"u%d","n":%d,"name":"item %d with some text","sk":"s"}`, k, seq, k)
		}
		offset++
		return stateRecord(t, topic, itemKey(k), v, offset)
	}
	next := 0
	for next < benchPreload {
		var recs []*kgo.Record
		for range benchBatch {
			recs = append(recs, rec(next, 1, false))
			next++
		}
		mustFlush(t, s, batch(topic, 0, recs...))
	}
	if _, err := pool.Exec(ctx, fmt.Sprintf("VACUUM ANALYZE %s.items", schema)); err != nil {
		t.Fatal(err)
	}
	var recs []*kgo.Record
	for i := range benchBatch {
		mode := i % 3
		if os.Getenv("STREAMHUB_PG_EXPLAIN") == "insert" {
			mode = 2
		}
		switch mode {
		case 0:
			recs = append(recs, rec(i*7%benchPreload, 2, false))
		case 1:
			recs = append(recs, rec(i*7%benchPreload, 2, true))
		default:
			recs = append(recs, rec(next, 2, false))
			next++
		}
	}
	start := time.Now()
	rows, _ := warehouse.Rows(tbl, recs, time.Now())
	rows, _ = warehouse.Newest(tbl, rows)
	sortByKey(tbl, rows)
	t.Logf("rows: %v", time.Since(start))
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	exec := func(q string) {
		start := time.Now()
		r, err := tx.Query(ctx, "EXPLAIN (ANALYZE, BUFFERS, WAL) "+q)
		if err != nil {
			t.Fatal(err)
		}
		lines, err := pgx.CollectRows(r, pgx.RowTo[string])
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		t.Logf("%v %s\n%s", time.Since(start), q, strings.Join(lines, "\n"))
	}
	for _, q := range strings.Split(os.Getenv("STREAMHUB_PG_EXPLAIN_PRE"), ";") {
		if q != "" {
			if _, err := tx.Exec(ctx, q); err != nil {
				t.Fatal(err)
			}
		}
	}
	start = time.Now()
	if _, err := tx.Exec(ctx, joinSettings+warehouse.StageDDL(warehouse.Postgres, tbl, stageName)); err != nil {
		t.Fatal(err)
	}
	t.Logf("stage DDL: %v", time.Since(start))
	start = time.Now()
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{stageName}, tbl.StageColumnNames(), copySource(rows)); err != nil {
		t.Fatal(err)
	}
	t.Logf("copy: %v", time.Since(start))
	for _, q := range strings.Split(os.Getenv("STREAMHUB_PG_EXPLAIN_POST"), ";") {
		if q != "" {
			start = time.Now()
			if _, err := tx.Exec(ctx, q); err != nil {
				t.Fatal(err)
			}
			t.Logf("%v %s", time.Since(start), q)
		}
	}
	if os.Getenv("STREAMHUB_PG_EXPLAIN_PORTABLE") == "" {
		m := upsertMerge(tbl, stageName)
		exec(m.live)
		exec(m.dead)
		return
	}
	for _, st := range warehouse.UpsertSteps(warehouse.Postgres, tbl, stageName) {
		exec(st.SQL)
	}
}
