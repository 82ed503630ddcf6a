package snowflake

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/streamhub/streamhub/emitters"
	"github.com/streamhub/streamhub/emitters/warehouse"
	"github.com/streamhub/streamhub/state"
	"github.com/streamhub/streamhub/topology"
)

func stateRecord(t testing.TB, topic, key string, v state.Value, offset int64) *kgo.Record {
	t.Helper()
	b, err := v.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	return &kgo.Record{Topic: topic, Key: []byte(key), Value: b, Offset: offset, Timestamp: time.UnixMilli(1767225600000 + offset)}
}

func batch(topic string, part int32, recs ...*kgo.Record) *emitters.Batch {
	return &emitters.Batch{Topic: topic, Partition: part, Records: recs}
}

func mustFlush(t testing.TB, s *Sink, b *emitters.Batch) []emitters.Reject {
	t.Helper()
	rej, err := s.Flush(context.Background(), b)
	if err != nil {
		t.Fatalf("flush %s[%d] %d-%d: %v", b.Topic, b.Partition, b.First(), b.Last(), err)
	}
	return rej
}

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

func readRows(t *testing.T, pool *sql.DB, schema, table string) map[string]row {
	t.Helper()
	rows, err := pool.QueryContext(context.Background(), fmt.Sprintf(
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
// model, row by row, for soft and hard deletes: the sink's statements (PUT, COPY INTO from
// the gzip JSON Lines file, the upsert, the offsets) run on PostgreSQL through pgSession.
func TestModel(t *testing.T) {
	for _, deletes := range []string{topology.DeletesSoft, topology.DeletesHard} {
		for seed := range uint64(2) {
			t.Run(fmt.Sprintf("%s/%d", deletes, seed), func(t *testing.T) {
				t.Parallel()
				pool, schema := testDB(t)
				s := newPGSink(t, pool, Options{Schema: schema, Deletes: deletes, Tables: []topology.Table{itemsTable}})
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

// TestFailedFlushLeavesNothing: a statement that fails inside the transaction (a trigger
// raising on a marker row) fails the flush naming the statement, rolls back, and stores
// neither rows nor offsets; the session is usable afterwards.
func TestFailedFlushLeavesNothing(t *testing.T) {
	t.Parallel()
	db, schema := testDB(t)
	s := newPGSink(t, db, Options{Schema: schema, Tables: []topology.Table{itemsTable}})
	ctx := context.Background()
	for _, q := range []string{
		fmt.Sprintf(`CREATE FUNCTION %s.boom() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN IF NEW.doc->>'name' = 'boom' THEN RAISE EXCEPTION 'boom row'; END IF; RETURN NEW; END $$`, schema),
		fmt.Sprintf(`CREATE TRIGGER boom BEFORE INSERT OR UPDATE ON %s.items FOR EACH ROW EXECUTE FUNCTION %s.boom()`, schema, schema),
	} {
		if _, err := db.ExecContext(ctx, q); err != nil {
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
	if !errors.As(err, &se) || !strings.Contains(err.Error(), "boom row") || !strings.HasPrefix(se.SQL, `INSERT INTO "`+schema+`"."items"`) {
		t.Fatalf("flush error %v, want the trigger's from the insert", err)
	}
	var n int
	if err := db.QueryRowContext(ctx, fmt.Sprintf(`SELECT count(*) FROM %s.items`, schema)).Scan(&n); err != nil || n != 0 {
		t.Errorf("%d rows (%v)", n, err)
	}
	if offs, err := s.Offsets(ctx, topic, ""); err != nil || len(offs) != 0 {
		t.Errorf("offsets %v (%v)", offs, err)
	}
	if testutil.ToFloat64(s.metrics.Errors.WithLabelValues("sf")) != 1 {
		t.Errorf("errors_total %v", testutil.ToFloat64(s.metrics.Errors.WithLabelValues("sf")))
	}
	mustFlush(t, s, batch(topic, 0, recs[:37]...))
	if offs, _ := s.Offsets(ctx, topic, ""); offs[0] != 37 {
		t.Errorf("offsets %v", offs)
	}
	for kind, want := range map[string]float64{"insert": 37, "update": 0, "delete": 0, "stale": 0} {
		if got := testutil.ToFloat64(s.metrics.Rows.WithLabelValues("sf", "items", kind)); got != want {
			t.Errorf("rows_total{kind=%s} = %v, want %v", kind, got, want)
		}
	}
}

// TestEvents appends a raw topic to a table renamed with TopicToTable; redone and
// overlapping flushes store each offset once.
func TestEvents(t *testing.T) {
	t.Parallel()
	db, schema := testDB(t)
	topic := "dev.web.page-view"
	m, err := ParseTopicToTable(" dev.web.page-view : Page_Views ")
	if err != nil {
		t.Fatal(err)
	}
	s := newPGSink(t, db, Options{Schema: schema, Topics: []string{topic}, TopicToTable: m})
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
	rows, err := db.QueryContext(context.Background(), fmt.Sprintf(
		`SELECT "topic", "partition", "offset", coalesce("key", '-'), coalesce("headers"::text, '-'), "value"::text, coalesce("event_name", '-'), "occurred_at" FROM %s.page_views ORDER BY "offset"`, schema))
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var got []string
	for rows.Next() {
		var tp, k, h, v, name string
		var p int32
		var o int64
		var occ *time.Time
		if err := rows.Scan(&tp, &p, &o, &k, &h, &v, &name, &occ); err != nil {
			t.Fatal(err)
		}
		o2 := "<nil>"
		if occ != nil {
			o2 = occ.UTC().Format(time.RFC3339Nano)
		}
		got = append(got, fmt.Sprintf("%s %d %d %s %s %s %s %s", tp, p, o, k, h, v, name, o2))
	}
	want := []string{
		`dev.web.page-view 1 0 u1 {"h": "v"} {"payload": {"p": 1}, "event_id": "e1", "event_name": "page_view", "occurred_at": "2026-01-02T03:04:00Z"} page_view 2026-01-02T03:04:00Z`,
		`dev.web.page-view 1 2 - - "not json" - <nil>`,
		`dev.web.page-view 1 3 /w== - "/wA=" - <nil>`,
		`dev.web.page-view 1 4 - - {"dynamodb": {"ApproximateCreationDateTime": 1767225600.5}, "eventName": "MODIFY"} MODIFY 2026-01-01T00:00:00.5Z`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("rows\n got %s\nwant %s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if offs, _ := s.Offsets(context.Background(), topic, ""); offs[1] != 5 {
		t.Errorf("offsets %v", offs)
	}
}

func TestOptions(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := &sql.DB{}
	for name, o := range map[string]Options{
		"no name":        {DB: db},
		"bad name":       {Name: "S F", DB: db},
		"no db":          {Name: "x"},
		"deletes":        {Name: "x", DB: db, Deletes: "maybe"},
		"unknown topic":  {Name: "x", DB: db, Topics: []string{"a"}, TopicToTable: map[string]string{"b": "t"}},
		"upper table":    {Name: "x", DB: db, Topics: []string{"a"}, TopicToTable: map[string]string{"a": "T"}},
		"same table":     {Name: "x", DB: db, Topics: []string{"a", "b"}, TopicToTable: map[string]string{"a": "b"}},
		"topic twice":    {Name: "x", DB: db, Topics: []string{"a", "a"}},
		"backslash name": {Name: "x", DB: db, Topics: []string{`a\b`}},
	} {
		if _, err := New(ctx, o); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	var _ emitters.OffsetKeeper = (*Sink)(nil)
	_ = warehouse.KindInsert
}
