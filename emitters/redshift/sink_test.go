package redshift

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/redshiftdata"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/streamhub/streamhub/emitters"
	"github.com/streamhub/streamhub/emitters/lake"
	"github.com/streamhub/streamhub/emitters/warehouse"
	"github.com/streamhub/streamhub/state"
	"github.com/streamhub/streamhub/topology"
)

var itemsTable = topology.Table{
	Name: "items", Keys: []string{"id", "sk"}, Group: "dev.items.state",
	Columns: []topology.Column{{Name: "name", Path: "name", Type: "string"}, {Name: "n", Path: "n", Type: "int"}},
}

func itemKey(k int) string { return fmt.Sprintf(`["u%d","s"]`, k) }

// row is one warehouse row as the tests read it.
type row struct {
	id, sk    string
	doc       []byte
	deletedAt *time.Time
	vkey, seq string
	created   *time.Time
	name      *string
	n         *int64
}

func (r row) String() string {
	str := func(p any) string {
		switch p := p.(type) {
		case *time.Time:
			if p != nil {
				return p.UTC().Format(time.RFC3339Nano)
			}
		case *string:
			if p != nil {
				return *p
			}
		case *int64:
			if p != nil {
				return fmt.Sprint(*p)
			}
		}
		return "NULL"
	}
	return fmt.Sprintf("{%s %s %s %s %s %s %s %s %s}", r.id, r.sk, r.doc, str(r.deletedAt), r.vkey, r.seq, str(r.created), str(r.name), str(r.n))
}

func readRows(t *testing.T, pool *pgxpool.Pool, schema, table string) map[string]row {
	t.Helper()
	rows, err := pool.Query(context.Background(), fmt.Sprintf(
		`SELECT "key", "id", "sk", "doc"::text, "deleted_at", "version_key", "version_seq", "version_created_at", "name", "n" FROM %s.%s`, schema, table))
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]row{}
	for rows.Next() {
		var k string
		var r row
		var doc *string
		if err := rows.Scan(&k, &r.id, &r.sk, &doc, &r.deletedAt, &r.vkey, &r.seq, &r.created, &r.name, &r.n); err != nil {
			t.Fatal(err)
		}
		if doc != nil {
			r.doc = []byte(*doc)
		}
		out[k] = r
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// change is one generated version of an item.
type change struct {
	key string
	v   state.Value
}

func genChanges(r *rand.Rand, keys, versions int, withAttr bool) []change {
	var out []change
	for k := range keys {
		seq := int64(r.IntN(1000))
		created := int64(1767225600000 + r.IntN(100000))
		for i := range versions {
			seq += 1 + int64(r.IntN(1000))
			created += int64(r.IntN(3))
			v := state.Value{Version: state.Version{
				Seq: fmt.Sprintf("4%029d", seq), Stream: "arn:aws:dynamodb:eu-west-1:1:table/items/stream/1", CreatedAt: created,
			}}
			if withAttr {
				v.Version.HasAttr, v.Version.Attr = true, fmt.Sprint(created*10+int64(i%2))
			}
			v.UpdatedAt = v.Version.CreatedTime()
			if i > 0 && r.IntN(4) == 0 {
				v.Deleted = true
			} else {
				v.Item = fmt.Appendf(nil, `{"id":"u%d","n":%d,"name":"item %d v%d","sk":"s"}`, k, i, k, i)
			}
			out = append(out, change{itemKey(k), v})
		}
	}
	return out
}

// TestModel flushes random changes — inserts, updates, deletes, re-creates, duplicates,
// out-of-order delivery across batches, redone batches — and compares the table with a
// model, row by row, for soft and hard deletes: through the Data API (the real SDK),
// redshifttest, gofakes3 as the S3 stage, and PostgreSQL.
func TestModel(t *testing.T) {
	for _, deletes := range []string{topology.DeletesSoft, topology.DeletesHard} {
		for seed := range uint64(2) {
			t.Run(fmt.Sprintf("%s/%d", deletes, seed), func(t *testing.T) {
				t.Parallel()
				e := newEnv(t)
				pool, schema := e.pool, e.schema
				s := e.newSink(t, Options{Deletes: deletes, Tables: []topology.Table{itemsTable}})
				topic := itemsTable.TableTopic()
				r := rand.New(rand.NewPCG(seed, 99))
				changes := genChanges(r, 40, 6, seed%2 == 1)
				// Delivery: every change, some twice, shuffled, over two partitions.
				var delivered []change
				for _, c := range changes {
					delivered = append(delivered, c)
					if r.IntN(5) == 0 {
						delivered = append(delivered, c)
					}
				}
				r.Shuffle(len(delivered), func(i, j int) { delivered[i], delivered[j] = delivered[j], delivered[i] })

				type stored struct {
					vk string
					v  state.Value
				}
				soft := map[string]stored{} // greatest version delivered
				hard := map[string]stored{} // the documented hard-delete semantics
				apply := func(batch []change) {
					newest := map[string]stored{}
					for _, c := range batch {
						vk := warehouse.VersionKey(c.v.Version)
						if cur, ok := newest[c.key]; !ok || vk > cur.vk {
							newest[c.key] = stored{vk, c.v}
						}
						if cur, ok := soft[c.key]; !ok || vk > cur.vk {
							soft[c.key] = stored{vk, c.v}
						}
					}
					for k, n := range newest {
						cur, present := hard[k]
						switch {
						case present && n.vk > cur.vk && n.v.Deleted:
							delete(hard, k)
						case present && n.vk > cur.vk:
							hard[k] = n
						case !present && !n.v.Deleted:
							hard[k] = n
						}
					}
				}
				next := map[int32]int64{}
				last := map[int32]int64{}
				var parts [2][]change
				for _, c := range delivered {
					p := int32(len(c.key) % 2)
					parts[p] = append(parts[p], c)
				}
				for p := range parts {
					cs := parts[p]
					for len(cs) > 0 {
						n := min(len(cs), 1+r.IntN(15))
						var recs []*kgo.Record
						for _, c := range cs[:n] {
							recs = append(recs, stateRecord(t, topic, c.key, c.v, next[int32(p)]))
							next[int32(p)] += 1 + int64(r.IntN(2)) // gaps, as compaction leaves
						}
						b := batch(topic, int32(p), recs...)
						last[int32(p)] = b.Last()
						if rej := mustFlush(t, s, b); len(rej) > 0 {
							t.Fatalf("rejects: %+v", rej)
						}
						if r.IntN(4) == 0 {
							mustFlush(t, s, b) // redone after a crash
						}
						apply(cs[:n])
						next[int32(p)]++ // the next batch does not start at last+1 always
						cs = cs[n:]
					}
				}
				model := soft
				if deletes == topology.DeletesHard {
					model = hard
				}
				got := readRows(t, pool, schema, "items")
				if len(got) != len(model) {
					t.Errorf("%d rows, model %d", len(got), len(model))
				}
				for k, m := range model {
					g, ok := got[k]
					if !ok {
						t.Errorf("%s: missing (model %v)", k, m.v.Version)
						continue
					}
					if g.vkey != m.vk || g.seq != m.v.Version.Seq || !g.created.Equal(m.v.Version.CreatedTime()) {
						t.Errorf("%s: version %s %s, model %s", k, g.vkey, g.seq, m.vk)
					}
					if m.v.Deleted {
						if g.doc != nil || g.deletedAt == nil || !g.deletedAt.Equal(m.v.Version.CreatedTime()) || g.name != nil || g.n != nil {
							t.Errorf("%s: want a soft-deleted row, got doc %s deleted_at %v", k, g.doc, g.deletedAt)
						}
						continue
					}
					var item struct {
						Name string `json:"name"`
						N    int64  `json:"n"`
					}
					json.Unmarshal(m.v.Item, &item)
					if !jsonEqual(g.doc, m.v.Item) || g.deletedAt != nil || g.name == nil || *g.name != item.Name || g.n == nil || *g.n != item.N {
						t.Errorf("%s: got doc %s deleted_at %v name %v, model %s", k, g.doc, g.deletedAt, g.name, m.v.Item)
					}
					if g.sk != "s" || !strings.HasPrefix(g.id, "u") {
						t.Errorf("%s: key columns %q %q", k, g.id, g.sk)
					}
				}
				offs, err := s.Offsets(context.Background(), topic, "")
				if err != nil {
					t.Fatal(err)
				}
				if len(offs) != len(last) {
					t.Errorf("offsets %v, want one per partition of %v", offs, last)
				}
				for p, l := range last {
					if offs[p] != l+1 {
						t.Errorf("partition %d: offset %d, want %d", p, offs[p], l+1)
					}
				}
			})
		}
	}
}

// TestDataAPIProtocol: a flush is one BatchExecuteStatement polled with
// DescribeStatement, Offsets an ExecuteStatement read with GetStatementResult (paged:
// the server's pages hold 2 rows); the staged object and its manifest are where the
// design says; a redone flush changes nothing.
func TestDataAPIProtocol(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	reg := prometheus.NewRegistry()
	s := e.newSink(t, Options{Tables: []topology.Table{itemsTable}, Registry: reg})
	topic := itemsTable.TableTopic()
	before := len(e.rs.Targets())
	v := func(seq int64, item string) state.Value {
		val := state.Value{Version: state.Version{Seq: fmt.Sprint(seq), Stream: "s", CreatedAt: 1767225600000 + seq}}
		if item == "" {
			val.Deleted = true
		} else {
			val.Item = []byte(item)
		}
		return val
	}
	b1 := batch(topic, 3,
		stateRecord(t, topic, itemKey(1), v(10, `{"id":"u1","name":"a","sk":"s"}`), 5),
		stateRecord(t, topic, itemKey(2), v(11, `{"id":"u2","name":"b","sk":"s"}`), 6),
		&kgo.Record{Topic: topic, Key: []byte(itemKey(3)), Offset: 7}, // compaction tombstone: skipped
		stateRecord(t, topic, itemKey(1), v(12, `{"id":"u1","name":"a2","sk":"s"}`), 9),
	)
	mustFlush(t, s, b1)
	targets := e.rs.Targets()[before:]
	if len(targets) < 2 || targets[0] != "BatchExecuteStatement" || targets[len(targets)-1] != "DescribeStatement" {
		t.Errorf("targets of a flush: %v", targets)
	}
	for _, tg := range targets[1:] {
		if tg != "DescribeStatement" {
			t.Errorf("targets of a flush: %v", targets)
		}
	}
	if len(targets) < 3 {
		t.Errorf("the statement was never seen running (SUBMITTED/STARTED): %v", targets)
	}
	batches := e.rs.Batches()
	last := batches[len(batches)-1]
	if !strings.HasPrefix(last[0], `CREATE TEMP TABLE "_streamhub_stage"`) || !strings.Contains(last[0], "super") ||
		!strings.HasPrefix(last[1], `COPY "_streamhub_stage" FROM 's3://stage/wh/_stage/rs/items/dev.items.state-table+3+00000000000000000005.manifest' IAM_ROLE 'arn:aws:iam::123456789012:role/streamhub-copy' MANIFEST FORMAT AS JSON 'auto' GZIP`) ||
		!strings.HasPrefix(last[len(last)-2], "DELETE FROM") || !strings.HasPrefix(last[len(last)-1], "INSERT INTO") {
		t.Errorf("statements:\n%s", strings.Join(last, "\n"))
	}
	obj, err := e.stage.Get(context.Background(), "wh/_stage/rs/items/dev.items.state-table+3+00000000000000000005.json.gz")
	if err != nil {
		t.Fatal(err)
	}
	man, err := e.stage.Get(context.Background(), "wh/_stage/rs/items/dev.items.state-table+3+00000000000000000005.manifest")
	if err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf(`{"entries":[{"url":"s3://stage/wh/_stage/rs/items/dev.items.state-table+3+00000000000000000005.json.gz","mandatory":true,"meta":{"content_length":%d}}]}`+"\n", len(obj)); string(man) != want {
		t.Errorf("manifest %s, want %s", man, want)
	}

	got := readRows(t, e.pool, e.schema, "items")
	if len(got) != 2 || *got[itemKey(1)].name != "a2" || *got[itemKey(2)].name != "b" {
		t.Errorf("rows %v", got)
	}
	mustFlush(t, s, b1) // redone
	if after := readRows(t, e.pool, e.schema, "items"); fmt.Sprint(after) != fmt.Sprint(got) {
		t.Errorf("a redone flush changed the table:\n%v\n%v", got, after)
	}
	// Offsets over three partitions: two pages of GetStatementResult.
	mustFlush(t, s, batch(topic, 0, stateRecord(t, topic, itemKey(4), v(1, `{"id":"u4","sk":"s"}`), 0)))
	mustFlush(t, s, batch(topic, 1, stateRecord(t, topic, itemKey(5), v(1, ""), 41)))
	before = len(e.rs.Targets())
	offs, err := s.Offsets(context.Background(), topic, "")
	if err != nil || len(offs) != 3 || offs[3] != 10 || offs[0] != 1 || offs[1] != 42 {
		t.Errorf("offsets %v, %v", offs, err)
	}
	targets = e.rs.Targets()[before:]
	if targets[0] != "ExecuteStatement" || targets[len(targets)-1] != "GetStatementResult" || targets[len(targets)-2] != "GetStatementResult" {
		t.Errorf("targets of Offsets: %v", targets)
	}
	if offs, err := s.Offsets(context.Background(), "other", ""); err != nil || len(offs) != 0 {
		t.Errorf("offsets of another topic: %v %v", offs, err)
	}
	// 2 inserts, 1 stale in the first flush; 3 stale in the redo; 1 insert; 1 delete
	// (soft: the tombstone of an absent key is kept).
	for kind, want := range map[string]float64{"insert": 3, "update": 0, "delete": 1, "stale": 4} {
		if got := testutil.ToFloat64(s.metrics.Rows.WithLabelValues("rs", "items", kind)); got != want {
			t.Errorf("rows_total{kind=%s} = %v, want %v", kind, got, want)
		}
	}
}

// TestFailedFlushLeavesNothing: a statement that fails half-way (a trigger raising on a
// marker row) fails the flush with the statement named and the warehouse's error text,
// and stores neither rows nor offsets; so does a cancelled context.
func TestFailedFlushLeavesNothing(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	pool, schema := e.pool, e.schema
	s := e.newSink(t, Options{Tables: []topology.Table{itemsTable}})
	ctx := context.Background()
	for _, q := range []string{
		fmt.Sprintf(`CREATE FUNCTION %s.boom() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN IF NEW.doc->>'name' = 'boom' THEN RAISE EXCEPTION 'boom row'; END IF; RETURN NEW; END $$`, schema),
		fmt.Sprintf(`CREATE TRIGGER boom BEFORE INSERT OR UPDATE ON %s.items FOR EACH ROW EXECUTE FUNCTION %s.boom()`, schema, schema),
	} {
		if _, err := pool.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	topic := itemsTable.TableTopic()
	var recs []*kgo.Record
	for i := range 50 {
		name := fmt.Sprintf("n%d", i)
		if i == 37 {
			name = "boom"
		}
		recs = append(recs, stateRecord(t, topic, itemKey(i), state.Value{
			Item:    fmt.Appendf(nil, `{"id":"u%d","name":%q,"sk":"s"}`, i, name),
			Version: state.Version{Seq: fmt.Sprint(100 + i), Stream: "s", CreatedAt: 1},
		}, int64(i)))
	}
	_, err := s.Flush(ctx, batch(topic, 0, recs...))
	var se *StatementError
	if !errors.As(err, &se) || !strings.Contains(err.Error(), "boom row") || !strings.HasPrefix(se.SQL, `INSERT INTO "`+schema+`"."items"`) || se.Index < 3 {
		t.Fatalf("flush error %v, want the trigger's from the insert", err)
	}
	if !strings.Contains(err.Error(), fmt.Sprintf(`statement %d (INSERT INTO "%s"."items"`, se.Index, schema)) {
		t.Errorf("the error does not name the statement: %v", err)
	}
	check := func(what string) {
		t.Helper()
		var n int
		if err := pool.QueryRow(ctx, fmt.Sprintf(`SELECT count(*) FROM %s.items`, schema)).Scan(&n); err != nil || n != 0 {
			t.Errorf("%s: %d rows (%v)", what, n, err)
		}
		if offs, err := s.Offsets(ctx, topic, ""); err != nil || len(offs) != 0 {
			t.Errorf("%s: offsets %v (%v)", what, offs, err)
		}
	}
	check("after the trigger")

	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := s.Flush(cctx, batch(topic, 0, recs[:10]...)); !errors.Is(err, context.Canceled) {
		t.Errorf("flush with a cancelled context: %v", err)
	}
	check("after the cancel")
	if testutil.ToFloat64(s.metrics.Errors.WithLabelValues("rs")) != 2 {
		t.Errorf("errors_total %v", testutil.ToFloat64(s.metrics.Errors.WithLabelValues("rs")))
	}
	mustFlush(t, s, batch(topic, 0, recs[:37]...))
	if offs, _ := s.Offsets(ctx, topic, ""); offs[0] != 37 {
		t.Errorf("offsets %v", offs)
	}
}

func TestEvents(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	topic := "dev.web.page-view"
	s := e.newSink(t, Options{Topics: []string{topic}})
	ts := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	recs := []*kgo.Record{
		{Topic: topic, Partition: 1, Offset: 0, Key: []byte("u1"), Timestamp: ts, Headers: []kgo.RecordHeader{{Key: "h", Value: []byte("v")}},
			Value: []byte(`{"event_id":"e1","event_name":"page_view","occurred_at":"2026-01-02T03:04:00Z","payload":{"p":1}}`)},
		{Topic: topic, Partition: 1, Offset: 2, Value: []byte("not json")},
		{Topic: topic, Partition: 1, Offset: 3, Key: []byte{0xff}, Value: []byte{0xff, 0}},
		{Topic: topic, Partition: 1, Offset: 4, Value: []byte(`{"eventName":"MODIFY","dynamodb":{"ApproximateCreationDateTime":1767225600.5}}`)},
	}
	b := batch(topic, 1, recs...)
	mustFlush(t, s, b)
	mustFlush(t, s, b)
	mustFlush(t, s, batch(topic, 1, recs[2:]...))
	rows, err := e.pool.Query(context.Background(), fmt.Sprintf(
		`SELECT "topic", "partition", "offset", coalesce("key", '-'), coalesce("headers"::text, '-'), "value"::text, coalesce("event_name", '-'), "occurred_at" FROM %s.dev_web_page_view ORDER BY "offset"`, e.schema))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for rows.Next() {
		var tp, k, h, v, name string
		var p int32
		var o int64
		var occ *time.Time
		if err := rows.Scan(&tp, &p, &o, &k, &h, &v, &name, &occ); err != nil {
			t.Fatal(err)
		}
		got = append(got, fmt.Sprintf("%s %d %d %s %s %s %s %v", tp, p, o, k, h, v, name, occ))
	}
	want := []string{
		`dev.web.page-view 1 0 u1 {"h": "v"} {"payload": {"p": 1}, "event_id": "e1", "event_name": "page_view", "occurred_at": "2026-01-02T03:04:00Z"} page_view 2026-01-02 03:04:00 +0000 UTC`,
		`dev.web.page-view 1 2 - - "not json" - <nil>`,
		`dev.web.page-view 1 3 /w== - "/wA=" - <nil>`,
		`dev.web.page-view 1 4 - - {"dynamodb": {"ApproximateCreationDateTime": 1767225600.5}, "eventName": "MODIFY"} MODIFY 2026-01-01 00:00:00.5 +0000 UTC`,
	}
	for i := range max(len(got), len(want)) {
		var g, w string
		if i < len(got) {
			g = got[i]
		}
		if i < len(want) {
			w = want[i]
		}
		if g != w {
			t.Errorf("row %d\n got %s\nwant %s", i, g, w)
		}
	}
	if offs, _ := s.Offsets(context.Background(), topic, ""); offs[1] != 5 {
		t.Errorf("offsets %v", offs)
	}
}

// TestNewColumn: a column added to the topology is added once (Redshift has no ADD
// COLUMN IF NOT EXISTS: the sink adds only what information_schema lacks).
func TestNewColumn(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.newSink(t, Options{Tables: []topology.Table{itemsTable}})
	s := e.newSink(t, Options{Tables: []topology.Table{itemsTable}})
	topic := itemsTable.TableTopic()
	mustFlush(t, s, batch(topic, 0, stateRecord(t, topic, itemKey(1), state.Value{
		Item: []byte(`{"id":"u1","name":"x","sk":"s","color":"red"}`), Version: state.Version{Seq: "1", Stream: "s"}}, 0)))
	wider := itemsTable
	wider.Columns = append(append([]topology.Column(nil), itemsTable.Columns...), topology.Column{Name: "color", Path: "color"})
	s2 := e.newSink(t, Options{Tables: []topology.Table{wider}})
	e.newSink(t, Options{Tables: []topology.Table{wider}})
	mustFlush(t, s2, batch(topic, 0, stateRecord(t, topic, itemKey(1), state.Value{
		Item: []byte(`{"id":"u1","name":"x","sk":"s","color":"blue"}`), Version: state.Version{Seq: "2", Stream: "s"}}, 1)))
	var color string
	if err := e.pool.QueryRow(context.Background(), fmt.Sprintf(`SELECT color FROM %s.items`, e.schema)).Scan(&color); err != nil || color != "blue" {
		t.Errorf("color %q %v", color, err)
	}
	adds := 0
	for _, b := range e.rs.Batches() {
		for _, q := range b {
			if strings.Contains(q, `ADD COLUMN "color"`) {
				adds++
			}
		}
	}
	if adds != 1 {
		t.Errorf("ADD COLUMN color sent %d times", adds)
	}
}

// TestDirect runs the direct-connection mode (BEGIN, statements, COMMIT over the
// PostgreSQL protocol) on PostgreSQL, with redshifttest's translation of COPY and DDL.
func TestDirect(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	s := e.newSink(t, Options{Tables: []topology.Table{itemsTable}, Direct: &Direct{DSN: testDSN(), Exec: e.rs.ExecTx}})
	topic := itemsTable.TableTopic()
	before := len(e.rs.Targets())
	val := func(seq int, item string) state.Value {
		return state.Value{Item: []byte(item), Version: state.Version{Seq: fmt.Sprint(seq), Stream: "s"}}
	}
	b := batch(topic, 2,
		stateRecord(t, topic, itemKey(1), val(1, `{"id":"u1","name":"a","n":1,"sk":"s"}`), 0),
		stateRecord(t, topic, itemKey(1), val(2, `{"id":"u1","name":"b","n":2,"sk":"s"}`), 1))
	mustFlush(t, s, b)
	mustFlush(t, s, b)
	mustFlush(t, s, batch(topic, 2, stateRecord(t, topic, itemKey(2), val(1, `{"id":"u2","name":"c","sk":"s"}`), 2)))
	got := readRows(t, e.pool, e.schema, "items")
	if len(got) != 2 || *got[itemKey(1)].name != "b" || *got[itemKey(1)].n != 2 || *got[itemKey(2)].name != "c" {
		t.Errorf("rows %v", got)
	}
	if offs, err := s.Offsets(context.Background(), topic, ""); err != nil || len(offs) != 1 || offs[2] != 3 {
		t.Errorf("offsets %v %v", offs, err)
	}
	if n := len(e.rs.Targets()) - before; n != 0 {
		t.Errorf("the direct mode made %d Data API calls", n)
	}
	// A failing statement names itself and leaves nothing.
	if _, err := e.pool.Exec(context.Background(), fmt.Sprintf(`ALTER TABLE %s.items ADD CONSTRAINT short CHECK (length("name") < 5)`, e.schema)); err != nil {
		t.Fatal(err)
	}
	_, err := s.Flush(context.Background(), batch(topic, 2, stateRecord(t, topic, itemKey(3), val(1, `{"id":"u3","name":"toolong","sk":"s"}`), 3)))
	var se *StatementError
	if !errors.As(err, &se) || !strings.Contains(err.Error(), "short") || !strings.HasPrefix(se.SQL, "INSERT INTO") {
		t.Errorf("flush error %v", err)
	}
	if offs, _ := s.Offsets(context.Background(), topic, ""); offs[2] != 3 {
		t.Errorf("offsets after a failed flush %v", offs)
	}
}

func TestOptions(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	stage := lake.NewFileStore(t.TempDir())
	for name, o := range map[string]Options{
		"no name":     {Stage: stage, Bucket: "b", DataAPI: &DataAPI{}},
		"no stage":    {Name: "x", DataAPI: &DataAPI{}},
		"no bucket":   {Name: "x", Stage: stage, DataAPI: &DataAPI{}},
		"parquet":     {Name: "x", Stage: stage, Bucket: "b", Format: FormatParquet, DataAPI: &DataAPI{}},
		"both execs":  {Name: "x", Stage: stage, Bucket: "b", DataAPI: &DataAPI{}, Direct: &Direct{}},
		"no exec":     {Name: "x", Stage: stage, Bucket: "b"},
		"no cluster":  {Name: "x", Stage: stage, Bucket: "b", DataAPI: &DataAPI{Client: &redshiftdata.Client{}, Database: "d"}},
		"no database": {Name: "x", Stage: stage, Bucket: "b", DataAPI: &DataAPI{Client: &redshiftdata.Client{}, WorkgroupName: "w"}},
		"backslash":   {Name: "x", Stage: stage, Bucket: "b", Prefix: `a\b`, DataAPI: &DataAPI{Client: &redshiftdata.Client{}, WorkgroupName: "w", Database: "d"}},
		"deletes":     {Name: "x", Deletes: "maybe", Stage: stage, Bucket: "b", DataAPI: &DataAPI{Client: &redshiftdata.Client{}, WorkgroupName: "w", Database: "d"}},
	} {
		if _, err := New(ctx, o); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	var _ emitters.OffsetKeeper = (*Sink)(nil)
}
