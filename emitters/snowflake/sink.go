// Package snowflake is the Snowflake warehouse sink (gosnowflake, key-pair
// authentication). A flush writes the batch's stage rows (the newest change per key) as
// one gzip JSON Lines file in a temporary directory, PUTs it into the target table's
// stage (@%"<table>"/streamhub/<sink>/<topic>+<partition>+<first offset>.json.gz,
// overwriting the file of a redone flush), creates the session's temporary stage table,
// and runs ONE transaction: COPY INTO the stage table, the portable version-guarded
// upsert of package warehouse (or the append of an event table, each offset once), and
// the sink's offsets row (DELETE then INSERT), then COMMIT. A flush redone after a crash
// changes nothing in the tables; the loop resumes from the offsets committed with the
// rows (emitters.OffsetKeeper).
//
// The statements of a flush come from a pure function (Statements) and run, in order, on
// one session through a small Exec interface (a *sql.Conn of gosnowflake in production),
// so their text is pinned by golden files and their semantics proven on PostgreSQL
// without a Snowflake account (see the package's tests).
//
// Staged files stay in the table stage after the flush (a redone flush overwrites them);
// remove them with REMOVE @%"<table>"/streamhub/ or let a task purge them.
package snowflake

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/streamhub/streamhub/emitters"
	"github.com/streamhub/streamhub/emitters/warehouse"
	"github.com/streamhub/streamhub/topology"
)

// ReasonUnsupported rejects a record holding a value Snowflake cannot load (a value
// above MaxValueBytes).
const ReasonUnsupported = "unsupported_value"

// Exec runs one statement on a session; *sql.Conn, *sql.Tx and *sql.DB are Execs. The
// sink runs a flush's statements on one *sql.Conn: the temporary stage table and the
// transaction belong to the session.
type Exec interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// Options configure a sink.
type Options struct {
	// Name is the sink's name: the offsets' sink column, the stage folder, the metrics
	// label. [a-z0-9_-].
	Name string
	// Schema holds the tables; it is created when missing. Empty: the session's schema
	// (Config.Schema).
	Schema string
	// Deletes is soft (default) or hard.
	Deletes string
	// Tables are written from their table topics as state tables.
	Tables []topology.Table
	// Topics are raw topics appended to event tables.
	Topics []string
	// TopicToTable renames the table of a topic (a table topic "<group>-table" or a raw
	// topic), as the Kafka connector's snowflake.topic2table.map does; ParseTopicToTable
	// reads that syntax. Names are lower case [a-z_][a-z0-9_]*. A topic that is not one
	// of the sink's is an error.
	TopicToTable map[string]string

	// DB reaches Snowflake: Open(Config). Required.
	DB *sql.DB
	// TempDir holds the stage files while a flush runs; empty: os.TempDir().
	TempDir string
	// Wrap, when set, wraps the session every statement runs on (tests run them on
	// PostgreSQL through it).
	Wrap func(Exec) Exec

	Logger *slog.Logger
	// Registry receives the metrics; sinks may share one. Nil: a private registry.
	Registry prometheus.Registerer
}

// Sink writes batches to Snowflake. It implements emitters.OffsetKeeper.
type Sink struct {
	opts    Options
	log     *slog.Logger
	tables  map[string]warehouse.Table // by topic
	metrics *warehouse.Metrics
	offsets string
	nameLit string
}

var _ emitters.OffsetKeeper = (*Sink)(nil)

// New checks the options and creates what is missing: the schema, the offsets table, the
// tables and columns added to the topology since (ADD COLUMN IF NOT EXISTS).
func New(ctx context.Context, opts Options) (*Sink, error) {
	if !safeSinkName(opts.Name) {
		return nil, fmt.Errorf("snowflake: the sink name %q must be [a-z0-9_-] and not empty", opts.Name)
	}
	if opts.Deletes == "" {
		opts.Deletes = topology.DeletesSoft
	}
	if opts.Deletes != topology.DeletesSoft && opts.Deletes != topology.DeletesHard {
		return nil, fmt.Errorf("snowflake: deletes must be soft or hard, not %q", opts.Deletes)
	}
	if opts.DB == nil {
		return nil, errors.New("snowflake: a sink needs a DB (snowflake.Open)")
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.TempDir == "" {
		opts.TempDir = os.TempDir()
	}
	s := &Sink{
		opts: opts, log: opts.Logger.With("sink", opts.Name),
		tables:  map[string]warehouse.Table{},
		metrics: warehouse.NewMetrics(opts.Registry),
		offsets: warehouse.Qualified(opts.Schema, warehouse.OffsetsTable),
	}
	var err error
	if s.nameLit, err = literal(opts.Name); err != nil {
		return nil, err
	}
	var all []warehouse.Table
	for _, t := range opts.Tables {
		all = append(all, warehouse.StateTable(t, opts.Schema, opts.Deletes))
	}
	for _, topic := range opts.Topics {
		all = append(all, warehouse.EventTable(topic, opts.Schema))
	}
	names := map[string]string{}
	for _, wt := range all {
		if _, err := literal(wt.Topic); err != nil {
			return nil, err
		}
		if _, dup := s.tables[wt.Topic]; dup {
			return nil, fmt.Errorf("snowflake: topic %s is fed to two tables", wt.Topic)
		}
		if name, ok := opts.TopicToTable[wt.Topic]; ok {
			if !tableNameRe.MatchString(name) || name != strings.ToLower(name) {
				return nil, fmt.Errorf("snowflake: TopicToTable: table %q of topic %s: want [a-z_][a-z0-9_]*", name, wt.Topic)
			}
			wt.Name = name
		}
		if other, dup := names[wt.Name]; dup {
			return nil, fmt.Errorf("snowflake: topics %s and %s both write table %s", other, wt.Topic, wt.Name)
		}
		names[wt.Name] = wt.Topic
		s.tables[wt.Topic] = wt
	}
	for topic := range opts.TopicToTable {
		if _, ok := s.tables[topic]; !ok {
			return nil, fmt.Errorf("snowflake: TopicToTable names topic %s, which the sink does not read", topic)
		}
	}
	if err := s.migrate(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// migrate runs the DDL on one session. Every statement is idempotent (IF NOT EXISTS), so
// instances starting together are harmless; Snowflake commits each DDL statement itself.
func (s *Sink) migrate(ctx context.Context) error {
	var stmts []string
	if s.opts.Schema != "" {
		stmts = append(stmts, "CREATE SCHEMA IF NOT EXISTS "+warehouse.Quote(s.opts.Schema))
	}
	stmts = append(stmts, warehouse.OffsetsDDL(warehouse.Snowflake, s.opts.Schema)...)
	for _, t := range s.tables {
		stmts = append(stmts, warehouse.DDL(warehouse.Snowflake, t)...)
	}
	conn, err := s.opts.DB.Conn(ctx)
	if err != nil {
		return fmt.Errorf("snowflake: connect: %w", err)
	}
	defer conn.Close()
	ex := s.session(conn)
	for i, q := range stmts {
		if _, err := ex.ExecContext(ctx, q); err != nil {
			return &StatementError{Index: i + 1, SQL: q, Err: err}
		}
	}
	return nil
}

func (s *Sink) session(conn *sql.Conn) Exec {
	if s.opts.Wrap != nil {
		return s.opts.Wrap(conn)
	}
	return conn
}

// StatementError is a statement of a flush (or of the DDL) that failed; the flush's
// transaction was rolled back.
type StatementError struct {
	// Index is the statement's position, from 1.
	Index int
	SQL   string
	Err   error
}

func (e *StatementError) Error() string {
	sql := e.SQL
	if i := strings.IndexByte(sql, '\n'); i >= 0 {
		sql = sql[:i] + " …"
	}
	if len(sql) > 120 {
		sql = sql[:120] + "…"
	}
	return fmt.Sprintf("snowflake: statement %d (%s) failed: %v", e.Index, sql, e.Err)
}

func (e *StatementError) Unwrap() error { return e.Err }

// Table returns the warehouse table fed by topic.
func (s *Sink) Table(topic string) (warehouse.Table, bool) {
	t, ok := s.tables[topic]
	return t, ok
}

// Flush stages the batch and applies it with its next offset in one transaction; on any
// error the transaction is rolled back and nothing of the batch is stored.
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
		return nil, fmt.Errorf("snowflake: sink %s has no table for topic %s", s.opts.Name, b.Topic)
	}
	if len(b.Records) == 0 {
		return nil, nil
	}
	step := func(name string, start time.Time) {
		s.metrics.StepSeconds.WithLabelValues(s.opts.Name, name).Observe(time.Since(start).Seconds())
	}
	start := time.Now()
	now := time.Now().UTC()
	names := t.StageColumnNames()
	lines := make(map[*kgo.Record][]byte, len(b.Records))
	prep := warehouse.Prepare(t, b.Records, now, ReasonUnsupported, func(row warehouse.Row) error {
		if err := checkRow(row.Values); err != nil {
			return err
		}
		line, err := appendJSONLine(nil, names, row.Values)
		lines[row.Record] = line
		return err
	})
	rows, rejects, accepted, loaded := prep.Rows, prep.Rejects, prep.Accepted, prep.Bytes
	f := Flush{Sink: s.opts.Name, Topic: b.Topic, TopicID: b.TopicID, Partition: b.Partition, Next: b.Last() + 1, Now: now,
		Live: prep.Live, Deleted: prep.Deleted}
	var body []byte
	for _, row := range rows {
		body = append(body, lines[row.Record]...)
	}
	staged := len(rows)
	step(warehouse.StepPrepare, start)

	if staged > 0 {
		start = time.Now()
		gz, err := gzipBytes(body)
		if err != nil {
			return nil, fmt.Errorf("snowflake: gzip: %w", err)
		}
		dir, err := os.MkdirTemp(s.opts.TempDir, "streamhub-snowflake-")
		if err != nil {
			return nil, fmt.Errorf("snowflake: stage file: %w", err)
		}
		defer os.RemoveAll(dir)
		if dir, err = filepath.Abs(dir); err != nil {
			return nil, err
		}
		f.File = filepath.ToSlash(filepath.Join(dir, FileName(b.Topic, b.Partition, b.First())))
		if err := os.WriteFile(f.File, gz, 0o600); err != nil {
			return nil, fmt.Errorf("snowflake: stage file: %w", err)
		}
		step(warehouse.StepStage, start)
	}
	stmts, err := Statements(t, f)
	if err != nil {
		return nil, err
	}
	start = time.Now()
	counts, err := s.run(ctx, stmts)
	if err != nil {
		return nil, err
	}
	step(warehouse.StepCommit, start)

	byKind := map[string]int64{}
	for i, st := range stmts {
		if st.Kind != "" && counts[i] > 0 {
			byKind[st.Kind] += counts[i]
		}
	}
	s.metrics.RecordFlush(s.opts.Name, t.Name, byKind, accepted, loaded)
	s.log.Debug("flushed", "table", t.Name, "partition", b.Partition, "first", b.First(), "last", b.Last(),
		"rows", accepted, "staged", staged, "rejects", len(rejects), "insert", byKind[warehouse.KindInsert],
		"update", byKind[warehouse.KindUpdate], "delete", byKind[warehouse.KindDelete], "stale", byKind[warehouse.KindStale])
	return rejects, nil
}

// run executes the statements in order on one session and returns each one's row count
// (-1: none). On an error after BEGIN it rolls back; a session whose rollback fails is
// discarded rather than returned to the pool with a transaction open.
func (s *Sink) run(ctx context.Context, stmts []Statement) ([]int64, error) {
	conn, err := s.opts.DB.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("snowflake: connect: %w", err)
	}
	defer conn.Close()
	ex := s.session(conn)
	counts := make([]int64, len(stmts))
	inTx := false
	for i, st := range stmts {
		res, err := ex.ExecContext(ctx, st.SQL)
		if err != nil {
			if inTx {
				rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
				if _, rerr := ex.ExecContext(rctx, "ROLLBACK"); rerr != nil {
					s.log.Warn("rollback failed; discarding the session", "err", rerr)
					conn.Raw(func(any) error { return driver.ErrBadConn })
				}
				cancel()
			}
			if ctx.Err() != nil {
				return nil, fmt.Errorf("snowflake: statement %d: %w", i+1, errors.Join(ctx.Err(), err))
			}
			return nil, &StatementError{Index: i + 1, SQL: st.SQL, Err: err}
		}
		if st.SQL == "BEGIN" {
			inTx = true
		} else if st.SQL == "COMMIT" {
			inTx = false
		}
		counts[i] = -1
		if res != nil {
			if n, err := res.RowsAffected(); err == nil {
				counts[i] = n
			}
		}
	}
	return counts, nil
}

// Offsets returns the next offset per partition of topic committed by this sink.
func (s *Sink) Offsets(ctx context.Context, topic, topicID string) (map[int32]int64, error) {
	lit, err := literal(topic)
	if err != nil {
		return nil, err
	}
	q := `SELECT "partition", "next_offset" FROM ` + s.offsets + ` WHERE "sink" = ` + s.nameLit + ` AND "topic" = ` + lit
	if topicID != "" {
		idLit, err := literal(topicID)
		if err != nil {
			return nil, err
		}
		// Offsets of an earlier topic of the same name do not apply to this one.
		q += ` AND ("topic_id" IS NULL OR "topic_id" = ` + idLit + `)`
	}
	rows, err := s.opts.DB.QueryContext(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("snowflake: offsets: %w", err)
	}
	defer rows.Close()
	out := map[int32]int64{}
	for rows.Next() {
		var p int32
		var o int64
		if err := rows.Scan(&p, &o); err != nil {
			return nil, fmt.Errorf("snowflake: offsets: %w", err)
		}
		out[p] = o
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("snowflake: offsets: %w", err)
	}
	return out, nil
}

// Close does nothing: the DB belongs to the caller.
func (s *Sink) Close() error { return nil }
