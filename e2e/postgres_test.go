package e2e

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sort"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/streamhub/streamhub/emitters"
	"github.com/streamhub/streamhub/emitters/postgres"
	"github.com/streamhub/streamhub/internal/pgtest"
	"github.com/streamhub/streamhub/pipeline"
	"github.com/streamhub/streamhub/sources/dynamodb"
	"github.com/streamhub/streamhub/topology"
)

// pgConn connects to the test PostgreSQL: skipped loudly on a laptop without one, a
// failure in CI (CI=true).
func pgConn(t *testing.T) (string, *pgx.Conn) {
	t.Helper()
	dsn := pgtest.DSN()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		pgtest.Unreachable(t, err, t.Name())
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return dsn, conn
}

// TestTableToPostgresThroughASinkCrash runs a DynamoDB table into PostgreSQL: ddbtest's
// stream, the bridge, the processor, the table topic and the PostgreSQL sink. The sink
// dies after a flush was committed in PostgreSQL and before its Kafka offsets were (its
// restart starts from the offsets PostgreSQL holds). The warehouse table must equal the
// table, row by row.
func TestTableToPostgresThroughASinkCrash(t *testing.T) {
	dsn, db := pgConn(t)
	schema := fmt.Sprintf("e2e_%d", rand.Uint32())
	t.Cleanup(func() { db.Exec(context.Background(), "DROP SCHEMA IF EXISTS "+schema+" CASCADE") })

	tb := newTable(t, 2)
	cfg := bridgeConfig(t, tb.srv.URL(), "embedded\n  embedded_listen: 127.0.0.1:0", "")
	conn := startBroker(t, cfg)
	p, err := pipeline.New(context.Background(), pipeline.Options{
		Config: cfg, Conn: conn, Roles: pipeline.Roles{Bridge: true, Process: true},
		MemoryStorage: true, Logger: testLogger(t), Bridge: dynamodb.Options{AWS: bridgeAWS()},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })

	table := cfg.Tables[0]
	startSink := func(name string, hooks emitters.Hooks) (*emitters.Loop, chan error, context.CancelFunc) {
		sink, err := postgres.New(context.Background(), postgres.Options{
			Name: "pg", DSN: dsn, Schema: schema, Deletes: "soft", Tables: cfg.Tables, Logger: testLogger(t),
		})
		if err != nil {
			t.Fatal(err)
		}
		l, err := emitters.New(emitters.Options{
			Name: "pg", Group: "e2e.streamhub.sink.pg", Conn: conn, Topics: []string{table.TableTopic()},
			Buffer: topology.Buffer{CountRecords: 300, SizeBytes: 1 << 20, FlushTime: 200 * time.Millisecond}, DLQTopic: cfg.Processor.DLQTopic, Sink: sink, Logger: testLogger(t).With("instance", name),
			Hooks: hooks, GroupOptions: nil,
		})
		if err != nil {
			t.Fatal(err)
		}
		sctx, scancel := context.WithCancel(context.Background())
		errc := make(chan error, 1)
		go func() { errc <- l.Run(sctx); sink.Close() }()
		t.Cleanup(func() { scancel() })
		return l, errc, scancel
	}

	// First sink: dies after its third flush is in PostgreSQL, before the Kafka commit.
	var flushes atomic.Int64
	crash := errors.New("killed between the warehouse commit and the Kafka commit")
	_, errc, _ := startSink("first", emitters.Hooks{BeforeCommit: func(*emitters.Batch) error {
		if flushes.Add(1) == 3 {
			return crash
		}
		return nil
	}})
	tb.write(1, 300, 2000)
	select {
	case err := <-errc:
		if !errors.Is(err, crash) {
			t.Fatalf("first sink: %v", err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("the first sink never reached its third flush")
	}

	// Second sink: its restart reads the offsets PostgreSQL holds; it runs to the end.
	tb.write(2, 300, 2000)
	second, errc2, stop2 := startSink("second", emitters.Hooks{})
	waitFor(t, "the table processed", 60*time.Second, func() bool { return p.Status().Applied >= int64(tb.written()) })
	deadline := time.Now().Add(60 * time.Second)
	var diffs []string
	for time.Now().Before(deadline) {
		if diffs = diffPostgres(t, db, schema, tb); len(diffs) == 0 {
			break
		}
		time.Sleep(300 * time.Millisecond)
	}
	for i, d := range diffs {
		if i == 10 {
			t.Errorf("... and %d more", len(diffs)-10)
			break
		}
		t.Error(d)
	}
	stop2()
	if err := <-errc2; err != nil {
		t.Fatal(err)
	}
	// The offsets row says where the table topic was consumed to, per partition.
	var parts int
	if err := db.QueryRow(context.Background(),
		`SELECT count(*) FROM `+schema+`._streamhub_offsets WHERE sink = 'pg' AND topic = $1 AND topic_id IS NOT NULL AND topic_id <> ''`, table.TableTopic()).Scan(&parts); err != nil {
		t.Fatal(err)
	}
	if parts == 0 {
		t.Error("no offsets rows with the topic's ID")
	}
	t.Logf("PostgreSQL equals the table (%d keys); the second sink flushed %d records", len(tb.final()), second.Flushed())
}

// diffPostgres compares the warehouse table with the DynamoDB table: every live item a row
// with its document and no deleted_at; every deleted item absent or soft-deleted.
func diffPostgres(t *testing.T, db *pgx.Conn, schema string, tb *table) []string {
	t.Helper()
	rows, err := db.Query(context.Background(), `SELECT key, doc::text, deleted_at IS NOT NULL FROM `+schema+`.users`)
	if err != nil {
		return []string{err.Error()}
	}
	type row struct {
		doc     *string
		deleted bool
	}
	got := map[string]row{}
	for rows.Next() {
		var k string
		var r row
		if err := rows.Scan(&k, &r.doc, &r.deleted); err != nil {
			t.Fatal(err)
		}
		got[k] = r
	}
	if err := rows.Err(); err != nil {
		return []string{err.Error()}
	}
	var diffs []string
	for k, want := range tb.final() {
		r, ok := got[k]
		switch {
		case want.Deleted && ok && !r.deleted:
			diffs = append(diffs, fmt.Sprintf("%s: live in PostgreSQL, deleted in the table", k))
		case !want.Deleted && !ok:
			diffs = append(diffs, fmt.Sprintf("%s: missing", k))
		case !want.Deleted && (r.deleted || r.doc == nil):
			diffs = append(diffs, fmt.Sprintf("%s: deleted in PostgreSQL, live in the table", k))
		case !want.Deleted && !equalJSON(decode(t, []byte(*r.doc)), want.Item):
			diffs = append(diffs, fmt.Sprintf("%s: doc %s, want %v", k, *r.doc, want.Item))
		}
		delete(got, k)
	}
	for k := range got {
		diffs = append(diffs, fmt.Sprintf("%s: in PostgreSQL, never in the table", k))
	}
	sort.Strings(diffs)
	return diffs
}
