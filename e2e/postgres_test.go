package e2e

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/streamhub/streamhub/emitters"
	"github.com/streamhub/streamhub/emitters/postgres"
	"github.com/streamhub/streamhub/emitters/warehouse"
	"github.com/streamhub/streamhub/internal/pgtest"
	"github.com/streamhub/streamhub/kafka"
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

// TestTableToPostgresThroughSinkCrashes runs a DynamoDB table into PostgreSQL: ddbtest's
// stream, the bridge, the processor, the table topic and the PostgreSQL sink, which also
// appends the raw CDC topic to an event table. One sink after another is killed at each
// step of a flush: before the COPY into the stage, after it, after the upsert, after the
// offsets row and before the commit, and after the commit but before the Kafka commit. A
// kill is what PostgreSQL sees of a dead process: the test terminates the sink's server
// connections in the middle of the transaction, and the loop stops without another
// statement (emitters.Crash). Each restart resumes from the offsets PostgreSQL holds. At
// the end the state table equals the DynamoDB table row by row, the event table holds
// every offset of the CDC topic exactly once, and the offsets rows point at the topics'
// ends.
func TestTableToPostgresThroughSinkCrashes(t *testing.T) {
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
	topics := []string{table.TableTopic(), table.Topic}
	startSink := func(name string, afterStep func(context.Context, string, *emitters.Batch) error, hooks emitters.Hooks) (*emitters.Loop, chan error, context.CancelFunc) {
		sink, err := postgres.New(context.Background(), postgres.Options{
			Name: "pg", DSN: withAppName(dsn, "e2e-"+name), Schema: schema, Deletes: "soft",
			Tables: cfg.Tables, Topics: []string{table.Topic}, Logger: testLogger(t), AfterStep: afterStep,
		})
		if err != nil {
			t.Fatal(err)
		}
		l, err := emitters.New(emitters.Options{
			Name: "pg", Group: "e2e.streamhub.sink.pg", Conn: conn, Topics: topics,
			Buffer:   topology.Buffer{CountRecords: 300, SizeBytes: 1 << 20, FlushTime: 200 * time.Millisecond},
			DLQTopic: cfg.Processor.DLQTopic, Sink: sink, Logger: testLogger(t).With("instance", name), Hooks: hooks,
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
	// kill drops the instance's connections as the death of its process would; the
	// transaction it has open is rolled back by PostgreSQL, not by the sink.
	kill := func(name string) error {
		var n int
		if err := db.QueryRow(context.Background(), `SELECT count(*) FROM (
SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1) AS t`, "e2e-"+name).Scan(&n); err != nil {
			return err
		}
		return emitters.Crash(fmt.Errorf("%s killed with %d connections", name, n))
	}

	crashes := []string{warehouse.StepStage, warehouse.StepCopy, warehouse.StepUpsert, warehouse.StepOffsets, "kafka-commit"}
	for i, at := range crashes {
		name := "killed-at-" + at
		var flushes atomic.Int64
		// The second flush of the step dies, so each instance also commits one first.
		var afterStep func(context.Context, string, *emitters.Batch) error
		var hooks emitters.Hooks
		if at == "kafka-commit" {
			hooks.BeforeCommit = func(*emitters.Batch) error {
				if flushes.Add(1) == 2 {
					return errors.Unwrap(kill(name)) // the loop wraps a hook's error itself
				}
				return nil
			}
		} else {
			afterStep = func(_ context.Context, step string, _ *emitters.Batch) error {
				if step == at && flushes.Add(1) == 2 {
					return kill(name)
				}
				return nil
			}
		}
		_, errc, _ := startSink(name, afterStep, hooks)
		tb.write(uint64(i+1), 300, 800)
		select {
		case err := <-errc:
			if err == nil || !strings.Contains(err.Error(), name+" killed") {
				t.Fatalf("%s: %v, want its crash", name, err)
			}
			t.Logf("%s: %v", name, err)
		case <-time.After(90 * time.Second):
			t.Fatalf("%s never reached its second flush at %s", name, at)
		}
	}

	// The last sink runs to the end.
	tb.write(99, 300, 800)
	last, errc, stop := startSink("last", nil, emitters.Hooks{})
	waitFor(t, "the table processed", 90*time.Second, func() bool { return p.Status().Applied >= int64(tb.written()) })
	deadline := time.Now().Add(90 * time.Second)
	var diffs []string
	for time.Now().Before(deadline) {
		// Read the ends each round: Applied counts a change when the processor has handled
		// it, and its table write may still be on its way to the table topic.
		ends := endOffsets(t, conn, table.TableTopic())[table.TableTopic()]
		if diffs = diffPostgres(t, db, schema, tb); len(diffs) == 0 {
			diffs = diffOffsets(t, db, schema, table.TableTopic(), table.Topic, ends)
		}
		if len(diffs) == 0 {
			diffs = diffEvents(t, db, schema, table.Topic, tb)
		}
		if len(diffs) == 0 {
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
	stop()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	t.Logf("PostgreSQL equals the table (%d keys, %d stream records) after %d crashes; the last sink flushed %d records",
		len(tb.final()), tb.written(), len(crashes), last.Flushed())
}

// withAppName names the connections of one sink instance, so that the test can find and
// terminate them.
func withAppName(dsn, name string) string {
	sep := "?"
	if strings.Contains(dsn, "?") {
		sep = "&"
	}
	if !strings.Contains(dsn, "://") {
		return dsn + " application_name=" + name
	}
	return dsn + sep + "application_name=" + name
}

// endOffsets returns the end offset of every partition of the topics.
func endOffsets(t *testing.T, conn *kafka.Conn, topics ...string) map[string]map[int32]int64 {
	t.Helper()
	cl, err := conn.Client()
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ends, err := kadm.NewClient(cl).ListEndOffsets(context.Background(), topics...)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) {
		if out[o.Topic] == nil {
			out[o.Topic] = map[int32]int64{}
		}
		out[o.Topic][o.Partition] = o.Offset
	})
	return out
}

// diffOffsets compares the sink's offsets rows with what was flushed: with nothing left to
// flush, the state topic (no transactions, so no markers) must be consumed to its end
// in every partition that holds records; and the CDC topic's rows must agree with the
// event table: next offset = the partition's last appended offset + 1 (its end may lie
// past that by transaction markers).
func diffOffsets(t *testing.T, db *pgx.Conn, schema, stateTopic, eventTopic string, ends map[int32]int64) []string {
	t.Helper()
	stored := func(topic string) (map[int32]int64, error) {
		rows, err := db.Query(context.Background(), `SELECT "partition", "next_offset" FROM `+schema+`._streamhub_offsets WHERE sink = 'pg' AND topic = $1`, topic)
		if err != nil {
			return nil, err
		}
		got := map[int32]int64{}
		var p int32
		var o int64
		_, err = pgx.ForEachRow(rows, []any{&p, &o}, func() error { got[p] = o; return nil })
		return got, err
	}
	var diffs []string
	got, err := stored(stateTopic)
	if err != nil {
		return []string{err.Error()}
	}
	for p, end := range ends {
		if o, ok := got[p]; end > 0 && o != end {
			diffs = append(diffs, fmt.Sprintf("%s/%d: next offset %d (stored %v), end %d", stateTopic, p, o, ok, end))
		}
	}
	if got, err = stored(eventTopic); err != nil {
		return []string{err.Error()}
	}
	rows, err := db.Query(context.Background(), `SELECT "partition", max("offset") + 1 FROM `+warehouse.EventTable(eventTopic, schema).QualifiedName()+` GROUP BY 1`)
	if err != nil {
		return []string{err.Error()}
	}
	var p int32
	var next int64
	if _, err := pgx.ForEachRow(rows, []any{&p, &next}, func() error {
		if got[p] != next {
			diffs = append(diffs, fmt.Sprintf("%s/%d: next offset %d, the event table's last offset + 1 is %d", eventTopic, p, got[p], next))
		}
		return nil
	}); err != nil {
		return []string{err.Error()}
	}
	return diffs
}

// diffEvents checks the event table of the CDC topic: every stream record the table
// wrote once (by its sequence number), nothing else, and no offset twice.
func diffEvents(t *testing.T, db *pgx.Conn, schema, topic string, tb *table) []string {
	t.Helper()
	tbl := warehouse.EventTable(topic, schema)
	rows, err := db.Query(context.Background(), `SELECT "partition", "offset", "value"->'dynamodb'->>'SequenceNumber' FROM `+tbl.QualifiedName())
	if err != nil {
		return []string{err.Error()}
	}
	type at struct {
		p int32
		o int64
	}
	seen := map[string]at{}
	var diffs []string
	var p int32
	var o int64
	var seq string
	if _, err := pgx.ForEachRow(rows, []any{&p, &o, &seq}, func() error {
		if prev, dup := seen[seq]; dup {
			diffs = append(diffs, fmt.Sprintf("event %s twice: %d/%d and %d/%d", seq, prev.p, prev.o, p, o))
		}
		seen[seq] = at{p, o}
		return nil
	}); err != nil {
		return []string{err.Error()}
	}
	tb.mu.Lock()
	defer tb.mu.Unlock()
	for _, s := range tb.seqs {
		if _, ok := seen[s]; !ok {
			diffs = append(diffs, fmt.Sprintf("event %s missing from %s", s, tbl.Name))
		}
		delete(seen, s)
	}
	for s := range seen {
		diffs = append(diffs, fmt.Sprintf("event %s in %s, never written", s, tbl.Name))
	}
	return diffs
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
