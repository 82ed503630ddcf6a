// Package postgres is the PostgreSQL warehouse sink: each flush is one transaction that
// COPYs the batch into a temporary stage table, applies it with the portable,
// version-guarded upsert of package warehouse (or appends it to an event table, each
// offset once) and writes the sink's next offset to _streamhub_offsets. A flush redone
// after a crash therefore changes nothing, and the loop resumes from the offsets
// committed with the rows (emitters.OffsetKeeper).
package postgres

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/streamhub/streamhub/emitters"
	"github.com/streamhub/streamhub/emitters/warehouse"
	"github.com/streamhub/streamhub/topology"
)

// ReasonUnsupported rejects a record holding a value PostgreSQL cannot store: a NUL byte
// in text, or \u0000 in JSON (jsonb refuses it).
const ReasonUnsupported = "unsupported_value"

// stageName is the temporary stage table of a flush; it is dropped at commit.
const stageName = "_streamhub_stage"

// Options configure a sink.
type Options struct {
	// Name is the sink's name: the offsets' sink column and the metrics label.
	Name string
	// DSN is a pgx connection string (URL or key=value).
	DSN string
	// Schema holds the tables; it is created when missing. Empty: the connection's
	// default (search_path).
	Schema string
	// Deletes is soft (default) or hard.
	Deletes string
	// Tables are written from their table topics (Table.TableTopic()) as state tables.
	Tables []topology.Table
	// Topics are raw topics appended to event tables.
	Topics []string
	Logger *slog.Logger
	// Registry receives the metrics; sinks may share one. Nil: a private registry.
	Registry prometheus.Registerer
	// AfterStep, when set, runs inside each flush's transaction after each of its steps
	// (warehouse.StepStage, StepCopy, StepUpsert, StepOffsets: the last one runs just
	// before the commit). An error fails the flush there and rolls it back; tests crash a
	// sink at each step with it (emitters.Crash).
	AfterStep func(ctx context.Context, step string, b *emitters.Batch) error
}

// Sink writes batches to PostgreSQL. It implements emitters.OffsetKeeper.
type Sink struct {
	opts    Options
	log     *slog.Logger
	pool    *pgxpool.Pool
	tables  map[string]warehouse.Table // by topic
	metrics *warehouse.Metrics
	offsets string

	mu sync.Mutex
	// staging lists the tables whose flushes skip the direct COPY (direct.go).
	staging map[string]bool
	// direct and stagedN count the flushes loaded by each path.
	direct, stagedN atomic.Int64

	// merges are the MERGE upserts of the state tables, by topic (merge.go).
	merges map[string]mergeSQL
	// portable makes the staged flush of state tables run the portable upsert instead
	// (tests hold a sink to it; a connection with track_counts off takes it anyway).
	portable bool
}

var _ emitters.OffsetKeeper = (*Sink)(nil)

// New connects and creates what is missing: the schema, the tables (with any projected
// column added to the topology since), the offsets table.
func New(ctx context.Context, opts Options) (*Sink, error) {
	if opts.Name == "" {
		return nil, errors.New("postgres: a sink needs a name")
	}
	if opts.Deletes == "" {
		opts.Deletes = topology.DeletesSoft
	}
	if opts.Deletes != topology.DeletesSoft && opts.Deletes != topology.DeletesHard {
		return nil, fmt.Errorf("postgres: deletes must be soft or hard, not %q", opts.Deletes)
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	s := &Sink{
		opts: opts, log: opts.Logger.With("sink", opts.Name),
		tables: map[string]warehouse.Table{}, staging: map[string]bool{}, merges: map[string]mergeSQL{},
		metrics: warehouse.NewMetrics(opts.Registry),
		offsets: warehouse.Qualified(opts.Schema, warehouse.OffsetsTable),
	}
	for _, t := range opts.Tables {
		wt := warehouse.StateTable(t, opts.Schema, opts.Deletes)
		if _, dup := s.tables[wt.Topic]; dup {
			return nil, fmt.Errorf("postgres: topic %s is fed to two tables", wt.Topic)
		}
		s.tables[wt.Topic] = wt
		s.merges[wt.Topic] = upsertMerge(wt, stageName)
	}
	for _, topic := range opts.Topics {
		if _, dup := s.tables[topic]; dup {
			return nil, fmt.Errorf("postgres: topic %s is fed to two tables", topic)
		}
		s.tables[topic] = warehouse.EventTable(topic, opts.Schema)
	}
	cfg, err := pgxpool.ParseConfig(opts.DSN)
	if err != nil {
		return nil, fmt.Errorf("postgres: DSN: %w", err) // pgx's message omits the password
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: connect: %w", err)
	}
	s.pool = pool
	if err := s.migrate(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	return s, nil
}

// migrate runs the DDL in one transaction under an advisory lock, so instances starting
// together do not race on CREATE TABLE IF NOT EXISTS.
func (s *Sink) migrate(ctx context.Context) error {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("postgres: connect: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock(hashtext('streamhub.warehouse.ddl'))"); err != nil {
		return fmt.Errorf("postgres: lock for DDL: %w", err)
	}
	var stmts []string
	if s.opts.Schema != "" {
		stmts = append(stmts, "CREATE SCHEMA IF NOT EXISTS "+warehouse.Quote(s.opts.Schema))
	}
	stmts = append(stmts, warehouse.OffsetsDDL(warehouse.Postgres, s.opts.Schema)...)
	for _, t := range s.tables {
		stmts = append(stmts, warehouse.DDL(warehouse.Postgres, t)...)
	}
	for _, q := range stmts {
		if _, err := tx.Exec(ctx, q); err != nil {
			return fmt.Errorf("postgres: DDL %q: %w", firstLine(q), err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("postgres: DDL commit: %w", err)
	}
	return nil
}

func firstLine(s string) string {
	for i := range len(s) {
		if s[i] == '\n' {
			return s[:i]
		}
	}
	return s
}

// Table returns the warehouse table fed by topic.
func (s *Sink) Table(topic string) (warehouse.Table, bool) {
	t, ok := s.tables[topic]
	return t, ok
}

// Flush applies the batch and its next offset in one transaction; on any error the
// transaction is rolled back and nothing of the batch is stored.
func (s *Sink) Flush(ctx context.Context, b *emitters.Batch) ([]emitters.Reject, error) {
	rejects, err := s.flush(ctx, b)
	if err != nil {
		s.metrics.Errors.WithLabelValues(s.opts.Name).Inc()
		return nil, err
	}
	return rejects, nil
}

func (s *Sink) flush(ctx context.Context, b *emitters.Batch) ([]emitters.Reject, error) {
	t, ok := s.tables[b.Topic]
	if !ok {
		return nil, fmt.Errorf("postgres: sink %s has no table for topic %s", s.opts.Name, b.Topic)
	}
	if len(b.Records) == 0 {
		return nil, nil
	}
	step := func(name string, start time.Time) {
		s.metrics.StepSeconds.WithLabelValues(s.opts.Name, name).Observe(time.Since(start).Seconds())
	}
	after := func(step string) error {
		if s.opts.AfterStep == nil {
			return nil
		}
		return s.opts.AfterStep(ctx, step, b)
	}

	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return nil, fmt.Errorf("postgres: begin: %w", err)
	}
	defer func() { tx.Rollback(context.WithoutCancel(ctx)) }() // the last transaction begun

	counts := map[string]int64{}
	var prep warehouse.Prepared
	loaded, tried := false, false
	if s.tryDirect(t, false) && (t.Kind != warehouse.KindState || t.Deletes != topology.DeletesHard) && distinctKeys(t, b.Records) {
		// Every row is its key's newest: convert the records while the COPY runs.
		tried = true
		if prep, loaded, err = s.streamDirect(ctx, tx, t, b.Records, counts, step, after); err != nil {
			return nil, err
		}
	} else {
		start := time.Now()
		prep = s.prepare(t, b.Records)
		step(warehouse.StepPrepare, start)
		if len(prep.Rows) > 0 && s.tryDirect(t, prep.Deleted) {
			tried = true
			if loaded, err = s.copyDirect(ctx, tx, t, slices.Values(prep.Rows), counts, step, after); err != nil {
				return nil, err
			}
		}
	}
	if tried && !loaded {
		// The direct COPY met a present row, which aborted the transaction. It held
		// nothing else (the COPY is its first statement), so the staged path starts a new
		// one. That costs the rare flush that falls back a round trip, where a savepoint
		// before the COPY cost every direct flush one.
		if err := tx.Rollback(ctx); err != nil {
			return nil, fmt.Errorf("postgres: rollback of the direct copy: %w", err)
		}
		if tx, err = s.pool.Begin(ctx); err != nil {
			return nil, fmt.Errorf("postgres: begin: %w", err)
		}
	}
	rows, rejects, accepted, bytes := prep.Rows, prep.Rejects, prep.Accepted, prep.Bytes
	if len(rows) > 0 {
		if !loaded {
			if err := s.staged(ctx, tx, t, rows, prep.Live, prep.Deleted, counts, step, after); err != nil {
				return nil, err
			}
		}
		defer func() {
			if loaded {
				s.direct.Add(1)
			} else {
				s.stagedN.Add(1)
			}
		}()
	}

	start := time.Now()
	if _, err := tx.Exec(ctx, `INSERT INTO `+s.offsets+` ("sink", "topic", "topic_id", "partition", "next_offset", "updated_at")
VALUES ($1, $2, NULLIF($3, ''), $4, $5, now())
ON CONFLICT ("sink", "topic", "partition") DO UPDATE SET "topic_id" = EXCLUDED."topic_id", "next_offset" = EXCLUDED."next_offset", "updated_at" = EXCLUDED."updated_at"`,
		s.opts.Name, b.Topic, b.TopicID, b.Partition, b.Last()+1); err != nil {
		return nil, fmt.Errorf("postgres: offsets: %w", err)
	}
	step(warehouse.StepOffsets, start)
	if err := after(warehouse.StepOffsets); err != nil {
		return nil, err
	}

	start = time.Now()
	if err := tx.Commit(ctx); err != nil {
		return nil, fmt.Errorf("postgres: commit: %w", err)
	}
	step(warehouse.StepCommit, start)

	s.metrics.RecordFlush(s.opts.Name, t.Name, counts, accepted, bytes)
	s.log.Debug("flushed", "table", t.Name, "partition", b.Partition, "first", b.First(), "last", b.Last(),
		"rows", len(rows), "rejects", len(rejects), "insert", counts[warehouse.KindInsert],
		"update", counts[warehouse.KindUpdate], "delete", counts[warehouse.KindDelete], "stale", counts[warehouse.KindStale])
	return rejects, nil
}

// prepare converts records into stage rows PostgreSQL can store.
func (s *Sink) prepare(t warehouse.Table, recs []*kgo.Record) warehouse.Prepared {
	return warehouse.Prepare(t, recs, time.Now().UTC(), ReasonUnsupported,
		func(row warehouse.Row) error { return warehouse.CheckPostgres(row.Values) })
}

// staged is the flush of the design (DESIGN.md, "Warehouse upsert"): COPY into a
// temporary stage, then the version-guarded upsert (or the append of an event table).
// It stores a batch whatever the target already holds.
func (s *Sink) staged(ctx context.Context, tx pgx.Tx, t warehouse.Table, rows []warehouse.Row, live, deleted bool,
	counts map[string]int64, step func(string, time.Time), after func(string) error) error {
	start := time.Now()
	if _, err := tx.Exec(ctx, joinSettings+warehouse.StageDDL(warehouse.Postgres, t, stageName)); err != nil {
		return fmt.Errorf("postgres: stage: %w", err)
	}
	step(warehouse.StepStage, start)
	if err := after(warehouse.StepStage); err != nil {
		return err
	}

	start = time.Now()
	if t.Kind == warehouse.KindState {
		sortByKey(t, rows)
	}
	n, err := tx.CopyFrom(ctx, pgx.Identifier{stageName}, t.StageColumnNames(), copySource(rows))
	if err != nil {
		return fmt.Errorf("postgres: copy into stage of %s: %w", t.Name, err)
	}
	if n != int64(len(rows)) {
		return fmt.Errorf("postgres: copied %d rows of %d", n, len(rows))
	}
	step(warehouse.StepCopy, start)
	if err := after(warehouse.StepCopy); err != nil {
		return err
	}

	start = time.Now()
	merged := false
	if t.Kind == warehouse.KindState && !s.portable {
		if merged, err = mergeState(ctx, tx, t, s.merges[t.Topic], live, deleted, counts); err != nil {
			return err
		}
	}
	var steps []warehouse.Step
	switch {
	case merged:
	case t.Kind == warehouse.KindState:
		steps = warehouse.UpsertSteps(warehouse.Postgres, t, stageName)
	default:
		steps = warehouse.AppendSteps(warehouse.Postgres, t, stageName)
	}
	for _, st := range steps {
		if st.Reads == warehouse.ReadsLive && !live || st.Reads == warehouse.ReadsDeleted && !deleted {
			continue // it would read no row of the stage
		}
		tag, err := tx.Exec(ctx, st.SQL)
		if err != nil {
			return fmt.Errorf("postgres: apply to %s: %w", t.Name, err)
		}
		if st.Kind != "" {
			counts[st.Kind] += tag.RowsAffected()
		}
	}
	step(warehouse.StepUpsert, start)
	if err := after(warehouse.StepUpsert); err != nil {
		return err
	}
	s.setDirect(t, counts)
	return nil
}

// joinSettings make the planner join the stage to the target by looking up each stage
// row's key in the target's primary key (a nested loop over the index), for this
// transaction only. Without them it hashes the whole target table once per statement
// whenever the batch is not tiny next to it: a sequential scan of every row, spilling to
// disk past work_mem, four times per flush, whose cost grows with the table rather than
// the batch (BenchmarkFlush; TestExplainFlush prints the plans). The stage holds one
// flush (about 10,000 rows), the lookups are bounded by it.
const joinSettings = "SET LOCAL enable_hashjoin = off; SET LOCAL enable_mergejoin = off; "

// sortByKey orders a state table's stage rows by key, bytewise: the upsert then looks
// the keys up in the target's primary key in its own order (COLLATE "C"), each lookup
// next to the last one in the index, instead of all over it.
func sortByKey(t warehouse.Table, rows []warehouse.Row) {
	ki := t.StageIndex(warehouse.ColKey)
	slices.SortFunc(rows, func(a, b warehouse.Row) int {
		return strings.Compare(a.Values[ki].(string), b.Values[ki].(string))
	})
}

// copySource feeds stage rows to CopyFrom.
func copySource(rows []warehouse.Row) pgx.CopyFromSource {
	return pgx.CopyFromSlice(len(rows), func(i int) ([]any, error) { return rows[i].Values, nil })
}

// Offsets returns the next offset per partition of topic committed by this sink.
func (s *Sink) Offsets(ctx context.Context, topic, topicID string) (map[int32]int64, error) {
	rows, err := s.pool.Query(ctx, `SELECT "partition", "next_offset" FROM `+s.offsets+` WHERE "sink" = $1 AND "topic" = $2
AND ($3 = '' OR "topic_id" IS NULL OR "topic_id" = $3)`, s.opts.Name, topic, topicID)
	if err != nil {
		return nil, fmt.Errorf("postgres: offsets: %w", err)
	}
	out := map[int32]int64{}
	var p int32
	var o int64
	if _, err := pgx.ForEachRow(rows, []any{&p, &o}, func() error {
		out[p] = o
		return nil
	}); err != nil {
		return nil, fmt.Errorf("postgres: offsets: %w", err)
	}
	return out, nil
}

// Close closes the connection pool.
func (s *Sink) Close() error {
	s.pool.Close()
	return nil
}
