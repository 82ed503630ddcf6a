package snapshot

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"path"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/streamhub/streamhub/state"
)

// fixedNow is a clock that always says t.
func fixedNow(t time.Time) func() time.Time { return func() time.Time { return t } }

// latestState fills the table topic with several versions per key, tombstones, deleted
// values, corrupt values, a committed and an aborted transaction, and returns the rows a
// snapshot must hold (sorted by key) with and without deleted items.
func latestState(t *testing.T, ctx context.Context, p, tx *producer) (live, withDeleted []Row) {
	t.Helper()
	const (
		k1 = `["user#1","profile"]`
		k2 = `["user#2","profile"]`
		k3 = `["user#3","profile"]`
		k4 = `["user#4","profile"]`
		k5 = `["user#5","profile"]`
		k6 = `["user#6","orders"]`
		k7 = `["user#7","profile"]`
		k8 = `["a<b>&\"c","x"]`
	)
	p.plain(ctx,
		put(k1, value("user#1", "profile", 1, false)),
		put(k1, value("user#1", "profile", 2, false)),
		put(k2, value("user#2", "profile", 3, false)),
		tombstone(k2), // removed from the topic
		put(k3, value("user#3", "profile", 4, false)),
		put(k3, value("user#3", "profile", 5, true)), // deleted item (versioned tombstone)
		corrupt(k4, []byte{1, 2, 3, 4, 5, 6, 7}),     // latest value corrupt
		corrupt(k5, []byte("not a state value")),     // superseded below
		put(k5, value("user#5", "profile", 6, false)),
		put(k8, value(`a<b>&"c`, "x", 7, false)),
	)
	tx.txn(ctx, true,
		put(k1, value("user#1", "profile", 8, false)),
		put(k6, value("user#6", "orders", 9, false)),
		put(k2, value("user#2", "profile", 10, false)), // re-created after the tombstone
	)
	tx.txn(ctx, false, // aborted: none of this may appear
		put(k1, value("user#1", "profile", 11, false)),
		put(k7, value("user#7", "profile", 12, false)),
		tombstone(k6),
		put(k5, value("user#5", "profile", 13, true)),
	)
	live = []Row{
		expected(k8, `{"pk":"a<b>&\"c","sk":"x"}`, value(`a<b>&"c`, "x", 7, false)),
		expected(k1, `{"pk":"user#1","sk":"profile"}`, value("user#1", "profile", 8, false)),
		expected(k2, `{"pk":"user#2","sk":"profile"}`, value("user#2", "profile", 10, false)),
		expected(k5, `{"pk":"user#5","sk":"profile"}`, value("user#5", "profile", 6, false)),
		expected(k6, `{"pk":"user#6","sk":"orders"}`, value("user#6", "orders", 9, false)),
	}
	withDeleted = slices.Clone(live)
	withDeleted = slices.Insert(withDeleted, 3,
		expected(k3, `{"pk":"user#3","sk":"profile"}`, value("user#3", "profile", 5, true)))
	return live, withDeleted
}

func TestTakeLatestState(t *testing.T) {
	ctx := testContext(t)
	tb := testTable("users", 3)
	conn := startConn(t, tb)
	live, withDeleted := latestState(t, ctx, newProducer(t, conn, tb, ""), newProducer(t, conn, tb, "snapshot-test-txn"))

	st := newMemStore()
	reg := prometheus.NewRegistry()
	now := time.Date(2026, 5, 6, 7, 8, 9, 999_000_000, time.FixedZone("CEST", 2*3600))
	opts := Options{Conn: conn, Table: tb, Store: st, Prefix: "/lake/", Now: fixedNow(now), Logger: testLogger(t), Registry: reg}
	res, err := Take(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	folder := "lake/state/users/snapshot=2026-05-06T05-08-09Z"
	if res.Table != "users" || !res.Timestamp.Equal(time.Date(2026, 5, 6, 5, 8, 9, 0, time.UTC)) ||
		res.Rows != len(live) || res.Corrupt != 1 || res.Deleted != 1 {
		t.Errorf("result %+v, want table users, timestamp 05:08:09Z, %d rows, 1 corrupt, 1 deleted", res, len(live))
	}
	if want := []string{folder + "/part-00000.parquet"}; !slices.Equal(res.Parts, want) {
		t.Errorf("parts %q, want %q", res.Parts, want)
	}
	compareRows(t, readSnapshot(t, st, res), live)

	// _SUCCESS comes last, after every part, and describes the snapshot.
	order := st.putOrder()
	if want := append(slices.Clone(res.Parts), folder+"/_SUCCESS"); !slices.Equal(order, want) {
		t.Errorf("puts %q, want %q", order, want)
	}
	var man manifest
	body, err := st.Get(ctx, folder+"/_SUCCESS")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(body, &man); err != nil {
		t.Fatalf("_SUCCESS: %v\n%s", err, body)
	}
	if man.Table != "users" || man.Topic != tb.TableTopic() || man.Timestamp != "2026-05-06T05:08:09Z" ||
		man.Rows != len(live) || man.Corrupt != 1 || len(man.Parts) != 1 || man.Parts[0].Name != "part-00000.parquet" ||
		man.Parts[0].Rows != len(live) || len(man.Offsets) != 3 {
		t.Errorf("_SUCCESS manifest:\n%s", body)
	}

	if got := testutil.ToFloat64(newMetrics(reg).runs.WithLabelValues("users", "ok")); got != 1 {
		t.Errorf("runs ok = %v, want 1", got)
	}
	if got := testutil.ToFloat64(newMetrics(reg).rows.WithLabelValues("users")); got != float64(len(live)) {
		t.Errorf("rows gauge = %v, want %d", got, len(live))
	}
	if got := testutil.ToFloat64(newMetrics(reg).corrupt.WithLabelValues("users")); got != 1 {
		t.Errorf("corrupt = %v, want 1", got)
	}

	// The same second again: the folder is written once.
	if _, err := Take(ctx, opts); !errors.Is(err, ErrSnapshotExists) {
		t.Errorf("second Take in the same second: %v, want ErrSnapshotExists", err)
	}
	if got := testutil.ToFloat64(newMetrics(reg).runs.WithLabelValues("users", "error")); got != 1 {
		t.Errorf("runs error = %v, want 1", got)
	}

	// Deleted items on request; the same content gives byte-identical parts.
	opts.IncludeDeleted = true
	opts.Now = fixedNow(now.Add(time.Hour))
	resDel, err := Take(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	compareRows(t, readSnapshot(t, st, resDel), withDeleted)

	opts.IncludeDeleted = false
	opts.Now = fixedNow(now.Add(2 * time.Hour))
	again, err := Take(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := st.Get(ctx, res.Parts[0])
	b, _ := st.Get(ctx, again.Parts[0])
	if res.Parts[0] == again.Parts[0] || !bytes.Equal(a, b) {
		t.Errorf("snapshots of the same content differ: %s (%d bytes) and %s (%d bytes)", res.Parts[0], len(a), again.Parts[0], len(b))
	}
}

func TestTakeRowsPerPart(t *testing.T) {
	ctx := testContext(t)
	tb := testTable("orders", 4)
	conn := startConn(t, tb)
	p := newProducer(t, conn, tb, "")
	var want []Row
	var ops []op
	for i := range 7 {
		pk := "order#" + string(rune('a'+i))
		key, err := state.KeyFromStrings([]string{pk, "line"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		v := value(pk, "line", 20+i, false)
		ops = append(ops, put(key, v))
		want = append(want, expected(key, `{"pk":"`+pk+`","sk":"line"}`, v))
	}
	p.plain(ctx, ops...)

	st := newMemStore()
	res, err := Take(ctx, Options{Conn: conn, Table: tb, Store: st, RowsPerPart: 3, Compression: "snappy",
		Now: fixedNow(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)), Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	folder := "state/orders/snapshot=2026-01-01T00-00-00Z/"
	wantParts := []string{folder + "part-00000.parquet", folder + "part-00001.parquet", folder + "part-00002.parquet"}
	if !slices.Equal(res.Parts, wantParts) || res.Rows != 7 {
		t.Fatalf("parts %q rows %d, want %q and 7 rows", res.Parts, res.Rows, wantParts)
	}
	for i, key := range res.Parts {
		b, _ := st.Get(ctx, key)
		if n := len(readPart(t, b)); n != []int{3, 3, 1}[i] {
			t.Errorf("%s: %d rows", key, n)
		}
		f, err := parquet.OpenFile(bytes.NewReader(b), int64(len(b)))
		if err != nil {
			t.Fatal(err)
		}
		for _, rg := range f.Metadata().RowGroups {
			for _, c := range rg.Columns {
				if c.MetaData.Codec.String() != "SNAPPY" {
					t.Fatalf("%s: column %v compressed with %v", key, c.MetaData.PathInSchema, c.MetaData.Codec)
				}
			}
		}
	}
	compareRows(t, readSnapshot(t, st, res), want)
	if order := st.putOrder(); order[len(order)-1] != folder+"_SUCCESS" || len(order) != 4 {
		t.Errorf("puts %q: want the 3 parts, then _SUCCESS", order)
	}
}

func TestTakeEmptyTable(t *testing.T) {
	ctx := testContext(t)
	empty := testTable("empty", 2)
	aborted := testTable("aborted", 2)
	conn := startConn(t, empty, aborted)
	// A table whose only records were aborted: its end offsets are past records that a
	// read_committed fetch never returns, followed by the abort markers.
	newProducer(t, conn, aborted, "snapshot-test-aborted").txn(ctx, false,
		put(`["x","1"]`, value("x", "1", 1, false)), put(`["y","2"]`, value("y", "2", 2, false)))

	for _, tb := range []struct {
		name string
		ends int64
	}{{"empty", 0}, {"aborted", -1}} { // -1: past the aborted records and markers
		t.Run(tb.name, func(t *testing.T) {
			table := empty
			if tb.name == "aborted" {
				table = aborted
			}
			st := newMemStore()
			res, err := Take(ctx, Options{Conn: conn, Table: table, Store: st, Logger: testLogger(t),
				Now: fixedNow(time.Date(2026, 2, 3, 4, 5, 6, 0, time.UTC))})
			if err != nil {
				t.Fatal(err)
			}
			folder := "state/" + table.Name + "/snapshot=2026-02-03T04-05-06Z/"
			if res.Rows != 0 || !slices.Equal(res.Parts, []string{folder + "part-00000.parquet"}) {
				t.Fatalf("result %+v: want one part without rows", res)
			}
			b, _ := st.Get(ctx, res.Parts[0])
			if rows := readPart(t, b); len(rows) != 0 {
				t.Errorf("empty part holds %d rows", len(rows))
			}
			f, err := parquet.OpenFile(bytes.NewReader(b), int64(len(b)))
			if err != nil {
				t.Fatal(err)
			}
			if got := len(f.Schema().Fields()); got != 13 {
				t.Errorf("empty part has %d columns, want 13", got)
			}
			if _, err := st.Get(ctx, folder+"_SUCCESS"); err != nil {
				t.Error(err)
			}
			body, _ := st.Get(ctx, folder+"_SUCCESS")
			var man manifest
			if err := json.Unmarshal(body, &man); err != nil {
				t.Fatal(err)
			}
			var end int64
			for _, r := range man.Offsets {
				end += r.End
			}
			if (tb.ends < 0 && end < 3) || (tb.ends >= 0 && end != tb.ends) {
				t.Errorf("end offsets sum to %d, want %d: %+v", end, tb.ends, man.Offsets)
			}
		})
	}
}

// TestSchema pins the parquet schema that SCHEMA.md documents.
func TestSchema(t *testing.T) {
	got := parquet.SchemaOf(Row{}).String()
	want := `message Row {
	required binary key (STRING);
	optional binary keys (STRING);
	optional binary item (STRING);
	required boolean deleted;
	optional binary version_attr (STRING);
	required binary version_seq (STRING);
	required binary version_stream (STRING);
	optional int64 version_created_at (TIMESTAMP(isAdjustedToUTC=true,unit=MILLIS));
	required binary event_id (STRING);
	optional int64 updated_at (TIMESTAMP(isAdjustedToUTC=true,unit=MILLIS));
	optional binary source_topic (STRING);
	optional int32 source_partition (INT(32,true));
	optional int64 source_offset (INT(64,true));
}`
	if strings.TrimSpace(got) != want {
		t.Errorf("schema:\n%s\nwant:\n%s", got, want)
	}
}

func TestKeysBuilder(t *testing.T) {
	var kb keysBuilder
	for _, c := range []struct {
		key   string
		names []string
		want  string // "" for null
	}{
		{`["user#1","profile"]`, []string{"pk", "sk"}, `{"pk":"user#1","sk":"profile"}`},
		{`[42,"x"]`, []string{"id", "sk"}, `{"id":42,"sk":"x"}`},
		{`[1.50]`, []string{"n"}, `{"n":1.50}`},
		{`["a\u00e9\n<&>"]`, []string{"p<k>"}, `{"p<k>":"aé\n<&>"}`},
		{`["one"]`, []string{"pk", "sk"}, ""},
		{`not a key`, []string{"pk"}, ""},
		{``, []string{"pk"}, ""},
	} {
		got := kb.build(c.key, c.names)
		switch {
		case c.want == "" && got != nil:
			t.Errorf("build(%s, %q) = %s, want null", c.key, c.names, *got)
		case c.want != "" && (got == nil || *got != c.want):
			t.Errorf("build(%s, %q) = %v, want %s", c.key, c.names, got, c.want)
		}
	}
}

func TestOptionsValidation(t *testing.T) {
	good := Options{Conn: nil, Table: testTable("t", 1), Store: newMemStore()}
	for _, c := range []struct {
		name string
		edit func(*Options)
		want string
	}{
		{"no conn", func(o *Options) {}, "Conn is nil"},
		{"no store", func(o *Options) { o.Store = nil }, "Store is nil"},
		{"no keys", func(o *Options) { o.Table.Keys = nil }, "Table.Keys is empty"},
		{"no group", func(o *Options) { o.Table.Group = "" }, "Table.Group is empty"},
		{"bad name", func(o *Options) { o.Table.Name = "a/b" }, "cannot be a path segment"},
		{"compression", func(o *Options) { o.Compression = "gzip" }, `Compression "gzip"`},
		{"rows", func(o *Options) { o.RowsPerPart = -1 }, "RowsPerPart -1"},
	} {
		o := good
		c.edit(&o)
		_, err := Take(t.Context(), o)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error with %q", c.name, err, c.want)
		}
	}
	if err := Run(t.Context(), good, 500*time.Millisecond); err == nil || !strings.Contains(err.Error(), "under a second") {
		t.Errorf("Run every 500ms: %v", err)
	}
}

func TestFolderAndTicks(t *testing.T) {
	ts := time.Date(2026, 12, 31, 23, 59, 58, 0, time.FixedZone("X", -5*3600))
	if got, want := Folder("", "users", ts), "state/users/snapshot=2027-01-01T04-59-58Z"; got != want {
		t.Errorf("Folder = %s, want %s", got, want)
	}
	if got, want := Folder("/a/b/", "users", ts), "a/b/state/users/snapshot=2027-01-01T04-59-58Z"; got != want {
		t.Errorf("Folder = %s, want %s", got, want)
	}
	if got := path.Base(Folder("", "t", ts)); strings.Contains(got, ":") {
		t.Errorf("folder %s has a colon", got)
	}
	for _, c := range []struct {
		now   time.Time
		every time.Duration
		want  time.Time
	}{
		{time.Date(2026, 3, 1, 10, 17, 23, 0, time.UTC), time.Hour, time.Date(2026, 3, 1, 11, 0, 0, 0, time.UTC)},
		{time.Date(2026, 3, 1, 11, 0, 0, 0, time.UTC), time.Hour, time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)},
		{time.Date(2026, 3, 1, 10, 17, 23, 0, time.UTC), 24 * time.Hour, time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)},
		// 7h multiples since the Unix epoch, not since year 1 (time.Truncate's origin).
		{time.Unix(7*3600*100+5, 0), 7 * time.Hour, time.Unix(7*3600*101, 0)},
		{time.Unix(-5, 0), 10 * time.Second, time.Unix(0, 0)},
	} {
		if got := nextTick(c.now, c.every); !got.Equal(c.want) {
			t.Errorf("nextTick(%v, %v) = %v, want %v", c.now, c.every, got, c.want)
		}
	}
}
