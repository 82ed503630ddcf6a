package postgres

import (
	"context"
	"fmt"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/streamhub/streamhub/state"
	"github.com/streamhub/streamhub/topology"
)

// TestDirectCopy runs one sequence of flushes through a sink that may take the direct
// COPY and through one held to the staged upsert: after every flush the two tables must
// be equal row by row, and each flush must have taken the path the rules say.
func TestDirectCopy(t *testing.T) {
	t.Parallel()
	for _, deletes := range []string{topology.DeletesSoft, topology.DeletesHard} {
		t.Run(deletes, func(t *testing.T) {
			t.Parallel()
			pool, schema := testDB(t)
			refSchema := schema + "_ref"
			if _, err := pool.Exec(context.Background(), "CREATE SCHEMA "+refSchema); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { pool.Exec(context.Background(), "DROP SCHEMA "+refSchema+" CASCADE") })
			s := newSink(t, Options{Schema: schema, Deletes: deletes, Tables: []topology.Table{itemsTable}})
			ref := newSink(t, Options{Schema: refSchema, Deletes: deletes, Tables: []topology.Table{itemsTable}})
			topic := itemsTable.TableTopic()

			var offset int64
			rec := func(k, seq int, deleted bool) *kgo.Record {
				v := state.Value{Deleted: deleted, Version: state.Version{Seq: fmt.Sprintf("4%029d", seq), Stream: "s", CreatedAt: 1767225600000 + int64(seq)}}
				if !deleted {
					v.Item = fmt.Appendf(nil, `{"id":"u%d","n":%d,"name":"item %d","sk":"s"}`, k, seq, k)
				}
				offset++
				return stateRecord(t, topic, itemKey(k), v, offset)
			}
			keys := func(from, to, seq int, deleted func(k int) bool) []*kgo.Record {
				var out []*kgo.Record
				for k := from; k < to; k++ {
					out = append(out, rec(k, seq, deleted(k)))
				}
				return out
			}
			none := func(int) bool { return false }
			every7th := func(k int) bool { return k%7 == 0 }

			type flush struct {
				name   string
				recs   []*kgo.Record
				direct bool
			}
			first := keys(0, 500, 1, none)
			steps := []flush{
				{"new keys into an empty table", first, true},
				// Hard-delete tombstones remove rows: they never take the direct path.
				{"more new keys, some tombstones of absent keys", keys(500, 1000, 1, every7th), deletes == topology.DeletesSoft},
				{"the first flush redone", first, false},
				{"new keys after a staged flush that found only stale rows", keys(1000, 1200, 1, none), true},
				// The one present key is the last row: everything copied before it is undone.
				{"new keys and, last, an update", append(keys(1200, 1400, 1, none), rec(3, 2, false)), false},
				{"new keys after a staged flush that updated", keys(1400, 1500, 1, none), false},
				{"new keys after a staged flush of new keys only", keys(1500, 1600, 1, none), true},
				{"updates and deletes of present keys", keys(0, 300, 3, every7th), false},
			}
			for _, f := range steps {
				beforeDirect, beforeStaged := s.direct.Load(), s.stagedN.Load()
				mustFlush(t, s, batch(topic, 0, f.recs...))
				ref.mu.Lock()
				ref.staging[topic] = true
				ref.mu.Unlock()
				mustFlush(t, ref, batch(topic, 0, f.recs...))
				direct := s.direct.Load() > beforeDirect
				if direct == (s.stagedN.Load() > beforeStaged) {
					t.Fatalf("%s: direct %d→%d, staged %d→%d", f.name, beforeDirect, s.direct.Load(), beforeStaged, s.stagedN.Load())
				}
				if direct != f.direct {
					t.Errorf("%s: direct %v, want %v", f.name, direct, f.direct)
				}
				got, want := readRows(t, pool, schema, "items"), readRows(t, pool, refSchema, "items")
				if len(got) != len(want) {
					t.Errorf("%s: %d rows, the staged sink has %d", f.name, len(got), len(want))
				}
				for k, w := range want {
					if g := got[k]; g.String() != w.String() {
						t.Errorf("%s: %s\n got %s\nwant %s", f.name, k, g, w)
					}
				}
			}
			if offs, _ := s.Offsets(context.Background(), topic, ""); offs[0] != offset+1 {
				t.Errorf("offsets %v, want %d", offs, offset+1)
			}
		})
	}
}
