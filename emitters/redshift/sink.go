// Package redshift is the Amazon Redshift warehouse sink. A flush writes the batch's
// stage rows as one gzip JSON Lines object to an S3 stage, with a COPY manifest next to
// it, then runs ONE transaction: create a temporary stage table, COPY the manifest into
// it, apply it with the portable version-guarded upsert of package warehouse (or append
// it to an event table, each offset once), drop the stage, and replace the sink's offsets
// row (DELETE then INSERT: Redshift has no ON CONFLICT). Statements run through the
// Redshift Data API (BatchExecuteStatement runs a list of statements as one
// transaction, polled with DescribeStatement) or over a direct PostgreSQL-protocol
// connection. A flush redone after a crash overwrites the same stage objects and changes
// nothing in the tables; the loop resumes from the offsets committed with the rows
// (emitters.OffsetKeeper).
//
// Staged objects stay in the bucket after the flush (a redone flush overwrites them);
// expire <prefix>/_stage/ with an S3 lifecycle rule.
package redshift

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/streamhub/streamhub/emitters"
	"github.com/streamhub/streamhub/emitters/lake"
	"github.com/streamhub/streamhub/emitters/warehouse"
	"github.com/streamhub/streamhub/topology"
)

// ReasonUnsupported rejects a record holding a value Redshift cannot load: text longer
// than VARCHAR(65535), a JSON line above COPY's 4 MB, a NUL byte in text or \u0000 in
// JSON.
const ReasonUnsupported = "unsupported_value"

// Formats of the staged file.
const (
	// FormatJSON stages gzip JSON Lines, loaded with COPY … FORMAT AS JSON 'auto' GZIP.
	FormatJSON = "json"
	// FormatParquet is reserved: not implemented (New refuses it).
	FormatParquet = "parquet"
)

// StageTable is the temporary stage table of a flush.
const StageTable = "_streamhub_stage"

// Options configure a sink.
type Options struct {
	// Name is the sink's name: the offsets' sink column, the stage folder, the metrics
	// label. [a-z0-9_-].
	Name string
	// Schema holds the tables; it is created when missing. Empty: the connection's
	// default (search_path).
	Schema string
	// Deletes is soft (default) or hard.
	Deletes string
	// Tables are written from their table topics as state tables.
	Tables []topology.Table
	// Topics are raw topics appended to event tables.
	Topics []string

	// Stage is where the flush's files go: an *lake.S3Store in production (a
	// lake.FileStore cannot be COPYed from).
	Stage lake.Store
	// Bucket is the stage's bucket as COPY names it (s3://<Bucket>/…); empty takes
	// Stage's Bucket() (lake.S3Store has one).
	Bucket string
	// Prefix is the key prefix of staged files: <Prefix>/_stage/<sink>/<table>/….
	Prefix string
	// IAMRole is the role ARN COPY reads the stage with (IAM_ROLE '…'); empty writes
	// IAM_ROLE default (the cluster's default role).
	IAMRole string
	// Format of the staged file: FormatJSON (default).
	Format string

	// DataAPI or Direct: how statements reach the warehouse; exactly one.
	DataAPI *DataAPI
	Direct  *Direct

	Logger *slog.Logger
	// Registry receives the metrics; sinks may share one. Nil: a private registry.
	Registry prometheus.Registerer
}

// Sink writes batches to Redshift. It implements emitters.OffsetKeeper.
type Sink struct {
	opts    Options
	log     *slog.Logger
	exec    executor
	tables  map[string]warehouse.Table // by topic
	metrics *warehouse.Metrics
	offsets string
	bucket  string
	role    string // the IAM_ROLE clause's argument
	nameLit string
}

var _ emitters.OffsetKeeper = (*Sink)(nil)

// New checks the options, connects, and creates what is missing: the schema, the
// tables, columns added to the topology since (those absent from
// information_schema.columns: Redshift has no ADD COLUMN IF NOT EXISTS), the offsets
// table.
func New(ctx context.Context, opts Options) (*Sink, error) {
	if opts.Name == "" {
		return nil, errors.New("redshift: a sink needs a name")
	}
	if opts.Deletes == "" {
		opts.Deletes = topology.DeletesSoft
	}
	if opts.Deletes != topology.DeletesSoft && opts.Deletes != topology.DeletesHard {
		return nil, fmt.Errorf("redshift: deletes must be soft or hard, not %q", opts.Deletes)
	}
	switch opts.Format {
	case "", FormatJSON:
		opts.Format = FormatJSON
	case FormatParquet:
		return nil, errors.New("redshift: the parquet stage format is not implemented; use json")
	default:
		return nil, fmt.Errorf("redshift: unknown stage format %q", opts.Format)
	}
	if opts.Stage == nil {
		return nil, errors.New("redshift: a sink needs an S3 stage")
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	s := &Sink{
		opts: opts, log: opts.Logger.With("sink", opts.Name),
		tables:  map[string]warehouse.Table{},
		metrics: warehouse.NewMetrics(opts.Registry),
		offsets: warehouse.Qualified(opts.Schema, warehouse.OffsetsTable),
		bucket:  opts.Bucket,
	}
	if s.bucket == "" {
		if b, ok := opts.Stage.(interface{ Bucket() string }); ok {
			s.bucket = b.Bucket()
		}
	}
	if s.bucket == "" {
		return nil, errors.New("redshift: the stage's bucket is unknown: set Bucket")
	}
	var err error
	if s.nameLit, err = literal(opts.Name); err != nil {
		return nil, err
	}
	s.role = "default"
	if opts.IAMRole != "" {
		if s.role, err = literal(opts.IAMRole); err != nil {
			return nil, err
		}
	}
	for _, v := range append([]string{s.bucket, opts.Prefix}, opts.Topics...) {
		if _, err := literal(v); err != nil {
			return nil, err
		}
	}
	for _, t := range opts.Tables {
		wt := warehouse.StateTable(t, opts.Schema, opts.Deletes)
		if _, dup := s.tables[wt.Topic]; dup {
			return nil, fmt.Errorf("redshift: topic %s is fed to two tables", wt.Topic)
		}
		if _, err := literal(wt.Topic); err != nil {
			return nil, err
		}
		s.tables[wt.Topic] = wt
	}
	for _, topic := range opts.Topics {
		if _, dup := s.tables[topic]; dup {
			return nil, fmt.Errorf("redshift: topic %s is fed to two tables", topic)
		}
		s.tables[topic] = warehouse.EventTable(topic, opts.Schema)
	}
	switch {
	case (opts.DataAPI == nil) == (opts.Direct == nil):
		return nil, errors.New("redshift: set either DataAPI or Direct")
	case opts.DataAPI != nil:
		if s.exec, err = newDataAPI(*opts.DataAPI, opts.Name); err != nil {
			return nil, err
		}
	default:
		if s.exec, err = newDirect(ctx, *opts.Direct); err != nil {
			return nil, err
		}
	}
	if err := s.migrate(ctx); err != nil {
		s.exec.close()
		return nil, err
	}
	return s, nil
}

// migrate creates the schema and tables in one transaction, then adds the missing
// projected columns in another. Redshift has no advisory locks: two instances starting
// together may both try; CREATE … IF NOT EXISTS makes that harmless, and a lost ADD
// COLUMN race fails New, which the caller retries.
func (s *Sink) migrate(ctx context.Context) error {
	var stmts []string
	if s.opts.Schema != "" {
		stmts = append(stmts, "CREATE SCHEMA IF NOT EXISTS "+warehouse.Quote(s.opts.Schema))
	}
	stmts = append(stmts, warehouse.OffsetsDDL(warehouse.Redshift, s.opts.Schema)...)
	var adds []struct {
		table, column, sql string
	}
	for _, t := range s.tables {
		ddl := warehouse.DDL(warehouse.Redshift, t)
		stmts = append(stmts, ddl[0])
		for i, c := range t.Projected {
			adds = append(adds, struct{ table, column, sql string }{t.Name, c.Name, ddl[1+i]})
		}
	}
	if _, err := s.exec.batch(ctx, stmts); err != nil {
		return fmt.Errorf("redshift: DDL: %w", err)
	}
	if len(adds) == 0 {
		return nil
	}
	schema := "current_schema()"
	if s.opts.Schema != "" {
		lit, err := literal(s.opts.Schema)
		if err != nil {
			return err
		}
		schema = lit
	}
	rows, err := s.exec.query(ctx, `SELECT "table_name", "column_name" FROM information_schema.columns WHERE "table_schema" = `+schema)
	if err != nil {
		return fmt.Errorf("redshift: read columns: %w", err)
	}
	have := map[[2]string]bool{}
	for _, r := range rows {
		if len(r) == 2 && r[0] != nil && r[1] != nil {
			have[[2]string{*r[0], *r[1]}] = true
		}
	}
	var missing []string
	for _, a := range adds {
		if !have[[2]string{a.table, a.column}] {
			missing = append(missing, a.sql)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	if _, err := s.exec.batch(ctx, missing); err != nil {
		return fmt.Errorf("redshift: add columns: %w", err)
	}
	return nil
}

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
		return nil, fmt.Errorf("redshift: sink %s has no table for topic %s", s.opts.Name, b.Topic)
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
		if err == nil && len(line) > MaxJSONRecordBytes {
			err = fmt.Errorf("the stage row is %d bytes, more than COPY's %d for a JSON record", len(line), MaxJSONRecordBytes)
		}
		lines[row.Record] = line
		return err
	})
	rows, rejects, accepted, bytes := prep.Rows, prep.Rejects, prep.Accepted, prep.Bytes
	live, deleted := prep.Live, prep.Deleted
	var body []byte
	for _, row := range rows {
		body = append(body, lines[row.Record]...)
	}
	staged := len(rows)
	step(warehouse.StepPrepare, start)

	var stmts []string
	var kinds []string
	add := func(sql, kind string) {
		stmts = append(stmts, sql)
		kinds = append(kinds, kind)
	}
	if staged > 0 {
		start = time.Now()
		gz, err := gzipBytes(body)
		if err != nil {
			return nil, fmt.Errorf("redshift: gzip: %w", err)
		}
		key := stageKey(s.opts.Prefix, s.opts.Name, t.Name, b.Topic, b.Partition, b.First(), "json.gz")
		mkey := stageKey(s.opts.Prefix, s.opts.Name, t.Name, b.Topic, b.Partition, b.First(), "manifest")
		if err := s.opts.Stage.Put(ctx, key, gz); err != nil {
			return nil, fmt.Errorf("redshift: stage %s: %w", key, err)
		}
		if err := s.opts.Stage.Put(ctx, mkey, manifest(s.bucket, key, len(gz))); err != nil {
			return nil, fmt.Errorf("redshift: stage manifest %s: %w", mkey, err)
		}
		step(warehouse.StepStage, start)

		add(warehouse.StageDDL(warehouse.Redshift, t, StageTable), "")
		url, err := literal("s3://" + s.bucket + "/" + mkey)
		if err != nil {
			return nil, err
		}
		add(fmt.Sprintf("COPY %s FROM %s IAM_ROLE %s MANIFEST FORMAT AS JSON 'auto' GZIP TIMEFORMAT 'auto'",
			warehouse.Quote(StageTable), url, s.role), "copy")
		steps := warehouse.AppendSteps(warehouse.Redshift, t, StageTable)
		if t.Kind == warehouse.KindState {
			steps = warehouse.UpsertSteps(warehouse.Redshift, t, StageTable)
		}
		for _, st := range steps {
			if st.Reads == warehouse.ReadsLive && !live || st.Reads == warehouse.ReadsDeleted && !deleted {
				continue // it would read no row of the stage
			}
			add(st.SQL, st.Kind)
		}
		// Redshift has no ON COMMIT DROP; a direct connection returns to the pool.
		add("DROP TABLE "+warehouse.Quote(StageTable), "")
	}
	topic, err := literal(b.Topic)
	if err != nil {
		return nil, err
	}
	where := fmt.Sprintf(`"sink" = %s AND "topic" = %s AND "partition" = %d`, s.nameLit, topic, b.Partition)
	add(`DELETE FROM `+s.offsets+` WHERE `+where, "")
	topicID := "NULL"
	if b.TopicID != "" {
		if topicID, err = literal(b.TopicID); err != nil {
			return nil, err
		}
	}
	add(fmt.Sprintf(`INSERT INTO %s ("sink", "topic", "topic_id", "partition", "next_offset", "updated_at") VALUES (%s, %s, %s, %d, %d, '%s')`,
		s.offsets, s.nameLit, topic, topicID, b.Partition, b.Last()+1, now.Format("2006-01-02T15:04:05.000000Z")), "")

	start = time.Now()
	counts, err := s.exec.batch(ctx, stmts)
	if err != nil {
		return nil, err
	}
	step(warehouse.StepCommit, start)

	byKind := map[string]int64{}
	for i, k := range kinds {
		if k != "" && counts[i] > 0 {
			byKind[k] += counts[i]
		}
	}
	if staged > 0 && counts[1] >= 0 && counts[1] != int64(staged) {
		// COPY fails on a missing mandatory file or a bad record (MAXERROR 0), so this
		// should not happen; the transaction has committed, so say it loudly.
		s.log.Error("COPY loaded a different number of rows than were staged", "table", t.Name,
			"partition", b.Partition, "first", b.First(), "copied", counts[1], "staged", staged)
	}
	s.metrics.RecordFlush(s.opts.Name, t.Name, byKind, accepted, bytes)
	s.log.Debug("flushed", "table", t.Name, "partition", b.Partition, "first", b.First(), "last", b.Last(),
		"rows", accepted, "staged", staged, "rejects", len(rejects), "insert", byKind[warehouse.KindInsert],
		"update", byKind[warehouse.KindUpdate], "delete", byKind[warehouse.KindDelete], "stale", byKind[warehouse.KindStale])
	return rejects, nil
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
	rows, err := s.exec.query(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("redshift: offsets: %w", err)
	}
	out := map[int32]int64{}
	for _, r := range rows {
		if len(r) != 2 || r[0] == nil || r[1] == nil {
			return nil, fmt.Errorf("redshift: offsets: unexpected row %v", r)
		}
		p, err1 := strconv.ParseInt(strings.TrimSpace(*r[0]), 10, 32)
		o, err2 := strconv.ParseInt(strings.TrimSpace(*r[1]), 10, 64)
		if err := errors.Join(err1, err2); err != nil {
			return nil, fmt.Errorf("redshift: offsets: %w", err)
		}
		out[int32(p)] = o
	}
	return out, nil
}

// Close closes a direct connection pool; the Data API client has nothing to close.
func (s *Sink) Close() error {
	s.exec.close()
	return nil
}
