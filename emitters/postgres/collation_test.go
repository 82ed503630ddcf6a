package postgres

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/streamhub/streamhub/emitters/warehouse"
	"github.com/streamhub/streamhub/state"
	"github.com/streamhub/streamhub/topology"
)

// createLegacyTable creates tb's state table as the DDL did before the key column was
// COLLATE "C" (warehouse.TypeKey): its key has the database's default collation.
func createLegacyTable(t *testing.T, pool *pgxpool.Pool, schema string, tb topology.Table, deletes string) {
	t.Helper()
	ddl := warehouse.DDL(warehouse.Postgres, warehouse.StateTable(tb, schema, deletes))
	const now, before = `"key" text COLLATE "C" NOT NULL`, `"key" text NOT NULL`
	if !strings.Contains(ddl[0], now) {
		t.Fatalf("the DDL no longer declares %s:\n%s", now, ddl[0])
	}
	ddl[0] = strings.Replace(ddl[0], now, before, 1)
	for _, q := range ddl {
		if _, err := pool.Exec(context.Background(), q); err != nil {
			t.Fatal(err)
		}
	}
	if c := keyCollation(t, pool, schema, warehouse.Sanitize(tb.Name)); c != "default" {
		t.Fatalf("legacy table's key collation %q, want default", c)
	}
}

// keyCollation is the collation of a table's key column.
func keyCollation(t *testing.T, pool *pgxpool.Pool, schema, table string) string {
	t.Helper()
	var c string
	if err := pool.QueryRow(context.Background(), `SELECT coalesce(c.collname, '') FROM pg_attribute a
JOIN pg_class r ON r.oid = a.attrelid JOIN pg_namespace n ON n.oid = r.relnamespace
LEFT JOIN pg_collation c ON c.oid = a.attcollation
WHERE n.nspname = $1 AND r.relname = $2 AND a.attname = 'key'`, schema, table).Scan(&c); err != nil {
		t.Fatal(err)
	}
	return c
}

// TestKeyCollation: a new state table's key is COLLATE "C"; a table created before keeps
// its collation. Against both, every upsert statement, MERGE and portable, must look the
// stage's keys up in the primary key: a stage key whose collation differed from the
// target's would make the comparison one the index cannot answer (a scan of the whole
// table per flush, still correct, so only the plan shows it).
func TestKeyCollation(t *testing.T) {
	t.Parallel()
	pool, schema := testDB(t)
	ctx := context.Background()
	legacy := itemsTable
	legacy.Name, legacy.Group = "legacy", "dev.legacy.state"
	createLegacyTable(t, pool, schema, legacy, topology.DeletesSoft)
	for _, deletes := range []string{topology.DeletesSoft, topology.DeletesHard} {
		s := newSink(t, Options{Schema: schema, Deletes: deletes, Tables: []topology.Table{itemsTable, legacy}})
		for _, tt := range []struct {
			tb        topology.Table
			collation string
		}{{itemsTable, "C"}, {legacy, "default"}} {
			tbl, _ := s.Table(tt.tb.TableTopic())
			if c := keyCollation(t, pool, schema, tbl.Name); c != tt.collation {
				t.Errorf("%s: key collation %q, want %q", tbl.Name, c, tt.collation)
			}
			m := upsertMerge(tbl, stageName)
			stmts := []string{m.live, m.dead}
			for _, st := range warehouse.UpsertSteps(warehouse.Postgres, tbl, stageName) {
				stmts = append(stmts, st.SQL)
			}
			tx, err := pool.Begin(ctx)
			if err != nil {
				t.Fatal(err)
			}
			// With sequential scans priced out, the target is scanned whole only when its
			// index cannot serve the join.
			if _, err := tx.Exec(ctx, joinSettings+"SET LOCAL enable_seqscan = off; "+warehouse.StageDDL(warehouse.Postgres, tbl, stageName)); err != nil {
				t.Fatal(err)
			}
			for _, q := range stmts {
				rows, err := tx.Query(ctx, "EXPLAIN "+q)
				if err != nil {
					t.Fatalf("%s: %v", q, err)
				}
				lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
				if err != nil {
					t.Fatal(err)
				}
				plan := strings.Join(lines, "\n")
				if !strings.Contains(plan, "using "+tbl.Name+"_pkey on "+tbl.Name) || strings.Contains(plan, "Seq Scan on "+tbl.Name) {
					t.Errorf("%s (%s deletes, key collation %s) does not look keys up in the primary key:\n%s\n%s", tbl.Name, deletes, tt.collation, q, plan)
				}
			}
			tx.Rollback(ctx)
		}
	}
}

// TestUpsertCounts: one flush holding each kind of change is counted the same by the
// MERGE upsert, by the portable one, and by a sink whose connection does not count rows
// (track_counts off: it takes the portable upsert), on a table of either key collation.
func TestUpsertCounts(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name             string
		portable, legacy bool
		dsnParams        string
		deletes          string
	}{
		{name: "merge", deletes: topology.DeletesSoft},
		{name: "merge hard", deletes: topology.DeletesHard},
		{name: "portable", portable: true, deletes: topology.DeletesSoft},
		{name: "portable hard", portable: true, deletes: topology.DeletesHard},
		{name: "track_counts off", dsnParams: "track_counts=off", deletes: topology.DeletesSoft},
		{name: "legacy key", legacy: true, deletes: topology.DeletesSoft},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			pool, schema := testDB(t)
			if tt.legacy {
				createLegacyTable(t, pool, schema, itemsTable, tt.deletes)
			}
			dsn := testDSN()
			if tt.dsnParams != "" {
				dsn = withParams(dsn, tt.dsnParams)
			}
			s := newSink(t, Options{DSN: dsn, Schema: schema, Deletes: tt.deletes, Tables: []topology.Table{itemsTable}})
			s.portable = tt.portable
			if tt.dsnParams != "" {
				var on string
				if err := s.pool.QueryRow(context.Background(), "SHOW track_counts").Scan(&on); err != nil || on != "off" {
					t.Fatalf("track_counts %q (%v), want off", on, err)
				}
			}
			topic := itemsTable.TableTopic()
			v := func(k, seq int, deleted bool) state.Value {
				val := state.Value{Deleted: deleted, Version: state.Version{Seq: fmt.Sprint(seq), Stream: "s", CreatedAt: 1767225600000 + int64(seq)}}
				if !deleted {
					val.Item = fmt.Appendf(nil, `{"id":"u%d","n":%d,"name":"v%d","sk":"s"}`, k, seq, seq)
				}
				return val
			}
			var off int64
			rec := func(k, seq int, deleted bool) *kgo.Record {
				off++
				return stateRecord(t, topic, itemKey(k), v(k, seq, deleted), off)
			}
			// Keys 1-4 present; then, staged (an update makes the table stage): 1 updated, 2
			// deleted, 3 older (stale), 4 older tombstone (stale), 5 inserted, 6 a tombstone of
			// an absent key (soft: a deleted row; hard: stale).
			mustFlush(t, s, batch(topic, 0, rec(1, 10, false), rec(2, 10, false), rec(3, 10, false), rec(4, 10, false)))
			mustFlush(t, s, batch(topic, 0, rec(1, 11, false), rec(2, 11, true), rec(3, 9, false), rec(4, 9, true),
				rec(5, 11, false), rec(6, 11, true)))
			want := map[string]float64{"insert": 5, "update": 1, "delete": 2, "stale": 2}
			rows := 6
			if tt.deletes == topology.DeletesHard {
				want["delete"], want["stale"], rows = 1, 3, 4
			}
			for kind, w := range want {
				if got := testutil.ToFloat64(s.metrics.Rows.WithLabelValues("pg", "items", kind)); got != w {
					t.Errorf("rows_total{kind=%s} = %v, want %v", kind, got, w)
				}
			}
			got := readRows(t, pool, schema, "items")
			if len(got) != rows {
				t.Errorf("%d rows, want %d: %v", len(got), rows, got)
			}
			if r := got[itemKey(1)]; r.name == nil || *r.name != "v11" {
				t.Errorf("key 1 not updated: %v", r)
			}
			if r := got[itemKey(3)]; r.name == nil || *r.name != "v10" {
				t.Errorf("key 3 changed by an older change: %v", r)
			}
			if r, ok := got[itemKey(2)]; tt.deletes == topology.DeletesSoft && (!ok || r.deletedAt == nil || r.doc != nil) {
				t.Errorf("key 2 not soft-deleted: %v", r)
			}
		})
	}
}

// withParams adds runtime parameters ("k=v&k2=v2") to a DSN, URL or key=value.
func withParams(dsn, params string) string {
	if strings.Contains(dsn, "://") {
		if strings.Contains(dsn, "?") {
			return dsn + "&" + params
		}
		return dsn + "?" + params
	}
	return dsn + " " + strings.ReplaceAll(params, "&", " ")
}
