package warehouse

import (
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/streamhub/streamhub/emitters"
)

// Prepared is a batch made ready for one target's stage.
type Prepared struct {
	// Rows are what the stage receives: for a state table the newest row per key
	// (UpsertSteps needs keys unique), for an event table every row.
	Rows []Row
	// Rejects go to the DLQ: records Rows could not convert and rows the target refused.
	Rejects []emitters.Reject
	// Accepted counts the rows the target accepted, before the newest-per-key cut: the
	// stale count is Accepted minus what the statements applied.
	Accepted int
	// Bytes are the key and value bytes of the accepted records.
	Bytes int64
	// Live and Deleted say whether the stage holds live rows and tombstones, so a sink
	// skips the statements that would read none (Step.Reads).
	Live, Deleted bool
}

// Prepare converts recs into stage rows (Rows), lets check refuse rows the target cannot
// store (rejected with reason; check may also encode the row and keep the encoding), and
// keeps the newest row per key (Newest). Every warehouse sink loads its stage from it.
func Prepare(t Table, recs []*kgo.Record, now time.Time, reason string, check func(Row) error) Prepared {
	rows, rejects := Rows(t, recs, now)
	p := Prepared{Rejects: rejects}
	kept := rows[:0]
	for _, row := range rows {
		if check != nil {
			if err := check(row); err != nil {
				p.Rejects = append(p.Rejects, emitters.Reject{Record: row.Record, Reason: reason, Err: err})
				continue
			}
		}
		p.Bytes += int64(len(row.Record.Key) + len(row.Record.Value))
		kept = append(kept, row)
	}
	p.Accepted = len(kept)
	p.Rows, _ = Newest(t, kept)
	if t.Kind == KindState {
		di := t.StageIndex(ColDeleted)
		for _, row := range p.Rows {
			if row.Values[di].(bool) {
				p.Deleted = true
			} else {
				p.Live = true
			}
		}
	}
	return p
}

// RecordFlush adds a committed flush to the metrics: counts by kind from the
// statements (insert, update, delete), stale as accepted minus applied, and the bytes.
func (m *Metrics) RecordFlush(sink, table string, counts map[string]int64, accepted int, bytes int64) {
	applied := counts[KindInsert] + counts[KindUpdate] + counts[KindDelete]
	counts[KindStale] = int64(accepted) - applied
	for _, k := range []string{KindInsert, KindUpdate, KindDelete, KindStale} {
		if counts[k] > 0 {
			m.Rows.WithLabelValues(sink, table, k).Add(float64(counts[k]))
		}
	}
	m.LoadBytes.WithLabelValues(sink, table).Add(float64(bytes))
}
