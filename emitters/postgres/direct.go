package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/streamhub/streamhub/emitters/warehouse"
	"github.com/streamhub/streamhub/topology"
)

// The direct COPY. When no key of a flush is in the state table yet (a table being
// loaded, a backfill, an append-mostly table) or no offset of an event table is, the
// staged flush only inserts: it writes every row twice, into the stage and then from it.
// COPY straight into the target writes them once, which is about twice as fast
// (BenchmarkFlush). The target's primary key checks the assumption for free: a key or
// offset already there fails the COPY with a unique violation, the transaction rolls
// back to a savepoint taken before it, and the flush takes the staged path, which is
// correct whatever the target holds. A flush redone after a crash finds its rows and
// takes the staged path too.
//
// A failed attempt costs the rows copied before the conflict, so a table whose staged
// flush applied an update or a delete of a present row does not try again until a
// staged flush of its finds only new keys.

// uniqueViolation is PostgreSQL's SQLSTATE for a duplicate key.
const uniqueViolation = "23505"

// tryDirect says whether the next flush of t tries the direct COPY. Hard-delete
// tombstones cannot be copied: they remove rows, not add them.
func (s *Sink) tryDirect(t warehouse.Table, tombstones bool) bool {
	if t.Kind == warehouse.KindState && t.Deletes == topology.DeletesHard && tombstones {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return !s.staging[t.Topic]
}

// setDirect records what a staged flush found: only new rows (try the direct COPY next
// time) or changes to present ones (keep staging).
func (s *Sink) setDirect(t warehouse.Table, counts map[string]int64) {
	onlyNew := counts[warehouse.KindUpdate] == 0 && counts[warehouse.KindDelete] == 0
	if t.Kind != warehouse.KindState {
		onlyNew = true // an event table's conflicts are redone offsets, a crash's leftovers
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.staging[t.Topic] = !onlyNew
}

// copyDirect copies the rows into the target itself. It reports false, having undone
// its work, when a row was already there.
func (s *Sink) copyDirect(ctx context.Context, tx pgx.Tx, t warehouse.Table, rows []warehouse.Row,
	counts map[string]int64, step func(string, time.Time), after func(string) error) (bool, error) {
	start := time.Now()
	if _, err := tx.Exec(ctx, "SAVEPOINT direct"); err != nil {
		return false, fmt.Errorf("postgres: savepoint: %w", err)
	}
	step(warehouse.StepStage, start)
	if err := after(warehouse.StepStage); err != nil {
		return false, err
	}

	start = time.Now()
	names := make([]string, 0, len(t.Columns()))
	for _, c := range t.Columns() {
		names = append(names, c.Name)
	}
	src := copySource(rows)
	var live, dead int64
	if t.Kind == warehouse.KindState {
		// The stage's "deleted" flag becomes deleted_at (the target column in the same
		// place), as the staged upsert's INSERTs of absent keys write it.
		di, ci := t.StageIndex(warehouse.ColDeleted), t.StageIndex(warehouse.ColVersionCreatedAt)
		buf := make([]any, len(names))
		src = pgx.CopyFromFunc(func() func() ([]any, error) {
			i := 0
			return func() ([]any, error) {
				if i == len(rows) {
					return nil, nil
				}
				v := rows[i].Values
				i++
				copy(buf, v)
				buf[di] = nil
				if v[di].(bool) {
					buf[di] = v[ci]
					dead++
				} else {
					live++
				}
				return buf, nil
			}
		}())
	}
	target := pgx.Identifier{t.Name} // no schema: the search_path decides
	if t.Schema != "" {
		target = pgx.Identifier{t.Schema, t.Name}
	}
	n, err := tx.CopyFrom(ctx, target, names, src)
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == uniqueViolation {
		if _, err := tx.Exec(ctx, "ROLLBACK TO SAVEPOINT direct"); err != nil {
			return false, fmt.Errorf("postgres: rollback to savepoint: %w", err)
		}
		s.mu.Lock()
		s.staging[t.Topic] = true
		s.mu.Unlock()
		s.log.Debug("direct copy met a present row; staging", "table", t.Name)
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("postgres: copy into %s: %w", t.Name, err)
	}
	if n != int64(len(rows)) {
		return false, fmt.Errorf("postgres: copied %d rows of %d", n, len(rows))
	}
	step(warehouse.StepCopy, start)
	if err := after(warehouse.StepCopy); err != nil {
		return false, err
	}
	if t.Kind == warehouse.KindState {
		counts[warehouse.KindInsert] += live
		counts[warehouse.KindDelete] += dead // soft-deleted rows of absent keys, as staged
	} else {
		counts[warehouse.KindInsert] += n
	}
	// There is no upsert to run; the hook still sees the step, so a test that kills the
	// sink after the upsert kills it on this path too.
	if err := after(warehouse.StepUpsert); err != nil {
		return false, err
	}
	return true, nil
}
