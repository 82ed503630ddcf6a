package warehouse

import (
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/streamhub/streamhub/state"
	"github.com/streamhub/streamhub/topology"
)

func rowsTable() Table {
	return StateTable(topology.Table{
		Name: "items", Keys: []string{"id"}, Group: "g",
		Columns: []topology.Column{{Name: "name", Path: "name", Type: "string"}, {Name: "n", Path: "a.n", Type: "int"}},
	}, "", "")
}

func stateRec(t testing.TB, key string, seq int64, deleted bool, offset int64) *kgo.Record {
	v := state.Value{Deleted: deleted, Version: state.Version{Seq: fmt.Sprint(seq), Stream: "s", CreatedAt: 1767225600000 + seq}}
	if !deleted {
		v.Item = fmt.Appendf(nil, `{"id":%q,"name":"v%d","a":{"n":%d}}`, key, seq, seq)
	}
	b, err := v.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	return &kgo.Record{Key: fmt.Appendf(nil, `[%q]`, key), Value: b, Offset: offset}
}

// TestNewest: the greatest version per key wins, tombstones included, whatever the
// order of the batch; kept rows come in the order of their keys' first appearance.
func TestNewest(t *testing.T) {
	tb := rowsTable()
	type in struct {
		key     string
		seq     int64
		deleted bool
	}
	batch := []in{
		{"a", 5, false}, {"b", 3, false}, {"a", 7, true}, {"c", 1, false}, {"a", 6, false},
		{"b", 2, true}, {"c", 1, false}, {"d", 9, true}, {"b", 4, false},
	}
	var recs []*kgo.Record
	for i, x := range batch {
		recs = append(recs, stateRec(t, x.key, x.seq, x.deleted, int64(i)))
	}
	rows, rejects := Rows(tb, recs, time.Now())
	if len(rejects) != 0 || len(rows) != len(batch) {
		t.Fatalf("rows %d rejects %v", len(rows), rejects)
	}
	kept, superseded := Newest(tb, rows)
	if superseded != 5 {
		t.Errorf("superseded %d, want 5", superseded)
	}
	var got []string
	for _, r := range kept {
		got = append(got, fmt.Sprintf("%s@%d/%v", r.Values[tb.StageIndex("id")], r.Record.Offset, r.Values[tb.StageIndex(ColDeleted)]))
	}
	want := []string{"a@2/true", "b@8/false", "c@6/false", "d@7/true"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("kept %v, want %v", got, want)
	}
	// Event tables are not deduplicated.
	ev := EventTable("raw", "")
	rows, _ = Rows(ev, recs, time.Now())
	if kept, n := Newest(ev, rows); len(kept) != len(recs) || n != 0 {
		t.Errorf("event rows: kept %d superseded %d", len(kept), n)
	}
}

// TestRowsParallel: a batch big enough for several goroutines converts as it would in
// order, rejects included.
func TestRowsParallel(t *testing.T) {
	tb := rowsTable()
	var recs []*kgo.Record
	for i := range 5000 {
		r := stateRec(t, fmt.Sprint("k", i%1700), int64(i), i%5 == 0, int64(i))
		switch i % 97 {
		case 3:
			r.Value = []byte("junk") // bad_value
		case 5:
			r.Key = []byte("not a key") // bad_key
		case 7:
			r.Value = nil // skipped
		}
		recs = append(recs, r)
	}
	now := time.Now()
	rows, rejects := Rows(tb, recs, now)
	seqRows, seqRejects := rowsOf(tb, recs, now)
	if !reflect.DeepEqual(rows, seqRows) || !reflect.DeepEqual(rejects, seqRejects) {
		t.Fatal("parallel conversion differs from the sequential one")
	}
	if len(rejects) == 0 || len(rows)+len(rejects) >= len(recs) {
		t.Fatalf("rows %d rejects %d of %d", len(rows), len(rejects), len(recs))
	}
}
