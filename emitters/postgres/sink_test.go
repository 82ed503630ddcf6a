package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/streamhub/streamhub/emitters"
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
// model, row by row, for soft and hard deletes; with the sink's MERGE upsert and with the
// portable one (merge.go), and into a table created before its key was COLLATE "C".
func TestModel(t *testing.T) {
	type variant struct {
		name             string
		seed             uint64
		portable, legacy bool
	}
	var variants []variant
	for seed := range uint64(3) {
		variants = append(variants, variant{name: fmt.Sprint(seed), seed: seed})
	}
	variants = append(variants, variant{"portable/0", 0, true, false}, variant{"portable/1", 1, true, false},
		variant{"legacy-key/0", 0, false, true}, variant{"legacy-key-portable/1", 1, true, true})
	for _, deletes := range []string{topology.DeletesSoft, topology.DeletesHard} {
		for _, vr := range variants {
			seed := vr.seed
			t.Run(deletes+"/"+vr.name, func(t *testing.T) {
				t.Parallel()
				pool, schema := testDB(t)
				if vr.legacy {
					createLegacyTable(t, pool, schema, itemsTable, deletes)
				}
				s := newSink(t, Options{Schema: schema, Deletes: deletes, Tables: []topology.Table{itemsTable}})
				s.portable = vr.portable
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

func TestRedoAndOffsets(t *testing.T) {
	t.Parallel()
	pool, schema := testDB(t)
	reg := prometheus.NewRegistry()
	s := newSink(t, Options{Schema: schema, Tables: []topology.Table{itemsTable}, Registry: reg})
	topic := itemsTable.TableTopic()
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
	before := readRows(t, pool, schema, "items")
	var updated1 time.Time
	pool.QueryRow(context.Background(), fmt.Sprintf(`SELECT "_streamhub_updated_at" FROM %s.items WHERE key = $1`, schema), itemKey(1)).Scan(&updated1)
	mustFlush(t, s, b1) // the same batch again, as after a crash before the loop's commit
	after := readRows(t, pool, schema, "items")
	if fmt.Sprint(before) != fmt.Sprint(after) || len(after) != 2 {
		t.Errorf("a redone flush changed the table:\n%v\n%v", before, after)
	}
	var updated2 time.Time
	pool.QueryRow(context.Background(), fmt.Sprintf(`SELECT "_streamhub_updated_at" FROM %s.items WHERE key = $1`, schema), itemKey(1)).Scan(&updated2)
	if !updated1.Equal(updated2) {
		t.Errorf("a redone flush touched the row: %v → %v", updated1, updated2)
	}
	if *after[itemKey(1)].name != "a2" {
		t.Errorf("u1 name %q", *after[itemKey(1)].name)
	}
	offs, err := s.Offsets(context.Background(), topic, "")
	if err != nil || len(offs) != 1 || offs[3] != 10 {
		t.Errorf("offsets %v, %v; want {3: 10}", offs, err)
	}
	// An older change and a tombstone.
	mustFlush(t, s, batch(topic, 3,
		stateRecord(t, topic, itemKey(1), v(11, `{"id":"u1","name":"old","sk":"s"}`), 10),
		stateRecord(t, topic, itemKey(2), v(20, ""), 11)))
	got := readRows(t, pool, schema, "items")
	if *got[itemKey(1)].name != "a2" || got[itemKey(2)].deletedAt == nil {
		t.Errorf("after stale + delete: %+v", got)
	}
	if offs, _ := s.Offsets(context.Background(), topic, ""); offs[3] != 12 {
		t.Errorf("offsets %v", offs)
	}
	if offs, _ := s.Offsets(context.Background(), "other", ""); len(offs) != 0 {
		t.Errorf("offsets of another topic: %v", offs)
	}
	// Metrics: 2 inserts and 1 update (u1 twice in one batch: one stale); the redo is
	// 3 stale; then 1 stale (old) and 1 delete.
	for kind, want := range map[string]float64{"insert": 2, "update": 0, "delete": 1, "stale": 1 + 3 + 1} {
		if got := testutil.ToFloat64(s.metrics.Rows.WithLabelValues("pg", "items", kind)); got != want {
			t.Errorf("rows_total{kind=%s} = %v, want %v", kind, got, want)
		}
	}
	if n, err := testutil.GatherAndCount(reg, "streamhub_warehouse_flush_step_seconds"); err != nil || n == 0 {
		t.Errorf("step metrics: %d, %v", n, err)
	}
	// A second sink on the same registry shares the metrics.
	newSink(t, Options{Name: "pg2", Schema: schema, Tables: []topology.Table{itemsTable}, Registry: reg})
}

// TestFailedFlushLeavesNothing: a transaction that fails half-way, by a trigger that
// raises on a marker row or by a cancelled context, stores neither rows nor offsets.
func TestFailedFlushLeavesNothing(t *testing.T) {
	t.Parallel()
	pool, schema := testDB(t)
	s := newSink(t, Options{Schema: schema, Tables: []topology.Table{itemsTable}})
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
	if _, err := s.Flush(ctx, batch(topic, 0, recs...)); err == nil || !strings.Contains(err.Error(), "boom row") {
		t.Fatalf("flush error %v, want the trigger's", err)
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
	if testutil.ToFloat64(s.metrics.Errors.WithLabelValues("pg")) != 2 {
		t.Errorf("errors_total %v", testutil.ToFloat64(s.metrics.Errors.WithLabelValues("pg")))
	}
	// Without the marker the same range goes through.
	mustFlush(t, s, batch(topic, 0, recs[:37]...))
	if offs, _ := s.Offsets(ctx, topic, ""); offs[0] != 37 {
		t.Errorf("offsets %v", offs)
	}
}

func TestEvents(t *testing.T) {
	t.Parallel()
	pool, schema := testDB(t)
	topic := "dev.web.page-view"
	s := newSink(t, Options{Schema: schema, Topics: []string{topic}})
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
	rows, err := pool.Query(context.Background(), fmt.Sprintf(
		`SELECT "topic", "partition", "offset", coalesce("key", '-'), coalesce("headers"::text, '-'), "value"::text, coalesce("event_name", '-'), "occurred_at" FROM %s.dev_web_page_view ORDER BY "offset"`, schema))
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

func TestProjectedColumns(t *testing.T) {
	t.Parallel()
	pool, schema := testDB(t)
	tbl := topology.Table{Name: "users", Keys: []string{"userId"}, Group: "g", Columns: []topology.Column{
		{Name: "name", Path: "profile.name"},
		{Name: "age", Path: "age", Type: "int"},
		{Name: "score", Path: "score", Type: "float"},
		{Name: "active", Path: "active", Type: "bool"},
		{Name: "seen", Path: "seen", Type: "timestamp"},
		{Name: "ttl", Path: "ttl", Type: "timestamp"},
		{Name: "meta", Path: "meta", Type: "json"},
	}}
	s := newSink(t, Options{Schema: schema, Tables: []topology.Table{tbl}})
	topic := tbl.TableTopic()
	val := func(seq int, item string) state.Value {
		return state.Value{Item: []byte(item), Version: state.Version{Seq: fmt.Sprint(seq), Stream: "s"}}
	}
	good := stateRecord(t, topic, `["a"]`, val(1, `{"active":true,"age":42,"meta":{"x":[1,2]},"profile":{"name":"Ann"},"score":1.5,"seen":"2026-01-02T03:04:05.123Z","ttl":1767225600,"userId":"a"}`), 0)
	sparse := stateRecord(t, topic, `["b"]`, val(1, `{"age":7.0,"profile":null,"userId":"b"}`), 1)
	bad := stateRecord(t, topic, `["c"]`, val(1, `{"age":"x","userId":"c"}`), 2)
	frac := stateRecord(t, topic, `["d"]`, val(1, `{"age":1.5,"userId":"d"}`), 3)
	nul := stateRecord(t, topic, `["e"]`, val(1, `{"profile":{"name":"a\u0000b"},"userId":"e"}`), 4)
	rej := mustFlush(t, s, batch(topic, 0, good, sparse, bad, frac, nul))
	reasons := map[string]string{}
	for _, r := range rej {
		reasons[string(r.Record.Key)] = r.Reason
	}
	if len(rej) != 3 || reasons[`["c"]`] != warehouse.ReasonBadColumn || reasons[`["d"]`] != warehouse.ReasonBadColumn || reasons[`["e"]`] != ReasonUnsupported {
		t.Errorf("rejects %v", reasons)
	}
	var name *string
	var age *int64
	var score *float64
	var active *bool
	var seen, ttl *time.Time
	var meta *string
	q := fmt.Sprintf(`SELECT "name", "age", "score", "active", "seen", "ttl", "meta"::text FROM %s.users WHERE "userid" = $1`, schema)
	if err := pool.QueryRow(context.Background(), q, "a").Scan(&name, &age, &score, &active, &seen, &ttl, &meta); err != nil {
		t.Fatal(err)
	}
	if *name != "Ann" || *age != 42 || *score != 1.5 || !*active || !seen.Equal(time.Date(2026, 1, 2, 3, 4, 5, 123e6, time.UTC)) ||
		!ttl.Equal(time.Unix(1767225600, 0)) || *meta != `{"x": [1, 2]}` {
		t.Errorf("a: %v %v %v %v %v %v %v", *name, *age, *score, *active, seen, ttl, *meta)
	}
	if err := pool.QueryRow(context.Background(), q, "b").Scan(&name, &age, &score, &active, &seen, &ttl, &meta); err != nil {
		t.Fatal(err)
	}
	if name != nil || age == nil || *age != 7 || score != nil || active != nil || seen != nil || meta != nil {
		t.Errorf("b: %v %v %v", name, age, score)
	}
	if offs, _ := s.Offsets(context.Background(), topic, ""); offs[0] != 5 {
		t.Errorf("offsets %v", offs)
	}
}

func TestDDLIdempotentAndNewColumn(t *testing.T) {
	t.Parallel()
	pool, schema := testDB(t)
	newSink(t, Options{Schema: schema, Tables: []topology.Table{itemsTable}, Topics: []string{"raw"}})
	s := newSink(t, Options{Schema: schema, Tables: []topology.Table{itemsTable}, Topics: []string{"raw"}})
	topic := itemsTable.TableTopic()
	mustFlush(t, s, batch(topic, 0, stateRecord(t, topic, itemKey(1), state.Value{
		Item: []byte(`{"id":"u1","name":"x","sk":"s","color":"red"}`), Version: state.Version{Seq: "1", Stream: "s"}}, 0)))

	wider := itemsTable
	wider.Columns = append(append([]topology.Column(nil), itemsTable.Columns...), topology.Column{Name: "color", Path: "color"})
	s2 := newSink(t, Options{Schema: schema, Tables: []topology.Table{wider}})
	var typ string
	if err := pool.QueryRow(context.Background(), `SELECT data_type FROM information_schema.columns WHERE table_schema = $1 AND table_name = 'items' AND column_name = 'color'`, schema).Scan(&typ); err != nil || typ != "text" {
		t.Fatalf("new column: %q, %v", typ, err)
	}
	// The old row keeps its data; a newer change fills the new column.
	mustFlush(t, s2, batch(topic, 0, stateRecord(t, topic, itemKey(1), state.Value{
		Item: []byte(`{"id":"u1","name":"x","sk":"s","color":"blue"}`), Version: state.Version{Seq: "2", Stream: "s"}}, 1)))
	var color string
	if err := pool.QueryRow(context.Background(), fmt.Sprintf(`SELECT color FROM %s.items`, schema)).Scan(&color); err != nil || color != "blue" {
		t.Errorf("color %q %v", color, err)
	}
}

func TestUnknownTopic(t *testing.T) {
	t.Parallel()
	_, schema := testDB(t)
	s := newSink(t, Options{Schema: schema, Topics: []string{"raw"}})
	if _, err := s.Flush(context.Background(), batch("nope", 0, &kgo.Record{Topic: "nope"})); err == nil {
		t.Error("a batch of an unknown topic was accepted")
	}
	var _ emitters.OffsetKeeper = s
}

// Offsets are stored with the topic's ID: a topic deleted and created again under the
// same name starts again at offset 0, and the old topic's offsets must not apply to it.
func TestOffsetsOfARecreatedTopicDoNotApply(t *testing.T) {
	t.Parallel()
	_, schema := testDB(t)
	s := newSink(t, Options{Schema: schema, Tables: []topology.Table{itemsTable}})
	topic := itemsTable.TableTopic()
	val := state.Value{Version: state.Version{Seq: "1", Stream: "s", CreatedAt: 1767225600000}, Item: []byte(`{"id":"u1","sk":"s"}`)}
	b := batch(topic, 0, stateRecord(t, topic, itemKey(1), val, 41))
	b.TopicID = "0123456789abcdef0123456789abcdef"
	mustFlush(t, s, b)
	for _, tt := range []struct {
		id   string
		want int
	}{{b.TopicID, 1}, {"", 1}, {"fedcba9876543210fedcba9876543210", 0}} {
		offs, err := s.Offsets(context.Background(), topic, tt.id)
		if err != nil || len(offs) != tt.want || (tt.want == 1 && offs[0] != 42) {
			t.Errorf("Offsets(%q) = %v, %v; want %d partition(s) at 42", tt.id, offs, err, tt.want)
		}
	}
}
