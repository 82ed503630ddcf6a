package postgres

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"iter"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/streamhub/streamhub/emitters/warehouse"
	"github.com/streamhub/streamhub/topology"
)

// The direct COPY. When no key of a flush is in the state table yet (a table being
// loaded, a backfill, an append-mostly table) or no offset of an event table is, the
// staged flush only inserts: it writes every row twice, into the stage and then from it.
// COPY straight into the target writes them once, which is about twice as fast
// (BenchmarkFlush). The target's primary key checks the assumption for free: a key or
// offset already there fails the COPY with a unique violation, which aborts the
// transaction; the COPY is its first statement, so nothing else is lost, and the flush
// takes the staged path in a new transaction, which is correct whatever the target
// holds. A flush redone after a crash finds its rows and takes the staged path too.
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

// copyDirect copies the rows into the target itself, as the first statement of tx. It
// reports false when a row was already there: tx is then aborted, and the caller must
// roll it back and store the rows in a new transaction.
func (s *Sink) copyDirect(ctx context.Context, tx pgx.Tx, t warehouse.Table, rows iter.Seq[warehouse.Row],
	counts map[string]int64, step func(string, time.Time), after func(string) error) (bool, error) {
	// There is no stage; the hook still sees the step, so a test that kills the sink
	// after it kills it on this path too.
	if err := after(warehouse.StepStage); err != nil {
		return false, err
	}

	start := time.Now()
	names := make([]string, 0, len(t.Columns()))
	for _, c := range t.Columns() {
		names = append(names, c.Name)
	}
	// A state row's "deleted" flag becomes deleted_at (the target column in the same
	// place), as the staged upsert's INSERTs of absent keys write it.
	state := t.Kind == warehouse.KindState
	di, ci := t.StageIndex(warehouse.ColDeleted), t.StageIndex(warehouse.ColVersionCreatedAt)
	next, stop := iter.Pull(rows)
	defer stop()
	buf := make([]any, len(names))
	var live, dead int64
	src := pgx.CopyFromFunc(func() ([]any, error) {
		r, ok := next()
		if !ok {
			return nil, nil
		}
		if !state {
			return r.Values, nil
		}
		copy(buf, r.Values)
		buf[di] = nil
		if r.Values[di].(bool) {
			buf[di] = r.Values[ci]
			dead++
		} else {
			live++
		}
		return buf, nil
	})
	target := pgx.Identifier{t.Name} // no schema: the search_path decides
	if t.Schema != "" {
		target = pgx.Identifier{t.Schema, t.Name}
	}
	n, err := tx.CopyFrom(ctx, target, names, src)
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == uniqueViolation {
		s.mu.Lock()
		s.staging[t.Topic] = true
		s.mu.Unlock()
		s.log.Debug("direct copy met a present row; staging", "table", t.Name)
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("postgres: copy into %s: %w", t.Name, err)
	}
	if state && n != live+dead {
		return false, fmt.Errorf("postgres: copied %d rows of %d", n, live+dead)
	}
	step(warehouse.StepCopy, start)
	if err := after(warehouse.StepCopy); err != nil {
		return false, err
	}
	if state {
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

// streamChunk is how many records are converted at a time while the COPY runs: small
// enough that the COPY never waits long, large enough that the hand-off costs nothing.
// The first chunk is smaller, so that the COPY starts at once instead of after the
// conversion of a whole chunk (BenchmarkFlush: about 2 ms of a 50 ms flush).
const (
	streamChunk = 1000
	firstChunk  = 100
)

// distinctKeys says whether no two records of a state table's batch change the same
// item (an event table's records are distinct offsets): then every row is its key's
// newest and the rows can go to the COPY as they are converted. The record key is the
// item key, the stage's key column.
func distinctKeys(t warehouse.Table, recs []*kgo.Record) bool {
	if t.Kind != warehouse.KindState {
		return true
	}
	// Hashes, not the keys: no copy of each key. Two keys of one hash (about one batch in
	// 10^11 of 10,000 records) read as a duplicate, which only sends the batch the staged
	// way, correct for any batch.
	seed := maphash.MakeSeed()
	seen := make(map[uint64]struct{}, len(recs))
	for _, r := range recs {
		if r.Value == nil {
			continue // a compaction tombstone: no row
		}
		h := maphash.Bytes(seed, r.Key)
		if _, dup := seen[h]; dup {
			return false
		}
		seen[h] = struct{}{}
	}
	return true
}

// streamDirect is copyDirect fed by a goroutine that converts the records a chunk at a
// time, so that converting them (Go, one core) and storing them (the PostgreSQL backend,
// the other) overlap instead of following each other. It returns the whole batch
// prepared, which the staged path takes over when the COPY meets a present row.
func (s *Sink) streamDirect(ctx context.Context, tx pgx.Tx, t warehouse.Table, recs []*kgo.Record,
	counts map[string]int64, step func(string, time.Time), after func(string) error) (warehouse.Prepared, bool, error) {
	chunks := make(chan warehouse.Prepared, (len(recs)+streamChunk-1)/streamChunk+1) // never blocks the converter
	var prepTime time.Duration
	go func() {
		defer close(chunks)
		start := time.Now()
		for i, n := 0, firstChunk; i < len(recs); i, n = i+n, streamChunk {
			chunks <- s.prepare(t, recs[i:min(i+n, len(recs))])
		}
		prepTime = time.Since(start)
	}()
	var all warehouse.Prepared
	rows := func(yield func(warehouse.Row) bool) {
		for c := range chunks {
			merge(&all, c)
			for _, r := range c.Rows {
				if !yield(r) {
					return
				}
			}
		}
	}
	loaded, err := s.copyDirect(ctx, tx, t, rows, counts, step, after)
	// Whatever the COPY did, the staged path or the caller needs every chunk.
	for c := range chunks {
		merge(&all, c)
	}
	s.metrics.StepSeconds.WithLabelValues(s.opts.Name, warehouse.StepPrepare).Observe(prepTime.Seconds())
	return all, loaded, err
}

// merge adds a chunk's prepared rows to the batch's.
func merge(all *warehouse.Prepared, c warehouse.Prepared) {
	all.Rows = append(all.Rows, c.Rows...)
	all.Rejects = append(all.Rejects, c.Rejects...)
	all.Accepted += c.Accepted
	all.Bytes += c.Bytes
	all.Live = all.Live || c.Live
	all.Deleted = all.Deleted || c.Deleted
}
