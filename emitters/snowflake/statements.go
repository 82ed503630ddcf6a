package snowflake

import (
	"fmt"
	"strings"
	"time"

	"github.com/streamhub/streamhub/emitters/warehouse"
)

// StageTable is the temporary stage table of a flush (one per session, replaced by
// every flush).
const StageTable = "_streamhub_stage"

// StagePath is the folder of a sink's files in a table's stage: @%<table>/streamhub/<sink>/.
const StagePath = "streamhub"

// Statement is one statement of a flush, with what its row count measures: a
// warehouse.Kind* for the upsert and append statements, "" otherwise.
type Statement struct {
	SQL  string
	Kind string
}

// Flush describes one flush for Statements.
type Flush struct {
	// Sink is the sink's name (the offsets row, the stage folder).
	Sink string
	// Topic and Partition are the batch's; Next is the next offset to flush (the batch's
	// last offset + 1); TopicID the topic's ID when known ("": NULL).
	Topic     string
	Partition int32
	Next      int64
	TopicID   string
	// File is the absolute local path of the gzip JSON Lines file holding the stage rows;
	// empty when the batch left no row to stage (only the offsets are written).
	File string
	// Live and Deleted say whether the stage holds live changes and tombstones (state
	// tables): the upsert statements that would read no stage row are left out.
	Live, Deleted bool
	// Now is written to the offsets row's updated_at.
	Now time.Time
}

// Statements returns the statements of one flush, in the order they run on one session:
//
//  1. PUT 'file://<File>' @<schema>.%"<table>"/streamhub/<sink>/ AUTO_COMPRESS = FALSE
//     OVERWRITE = TRUE: the file keeps its name, <topic>+<partition>+<first offset, 20
//     digits>.json.gz, so a redone flush overwrites the same file;
//  2. CREATE OR REPLACE TEMPORARY TABLE "_streamhub_stage" (the stage columns). Snowflake
//     commits an open transaction on any DDL, so the stage is created before BEGIN; it is
//     empty and visible to this session only, so the transaction below is still the unit
//     of the flush;
//  3. BEGIN;
//  4. COPY INTO "_streamhub_stage" FROM the table stage's folder FILES = ('<name>')
//     FILE_FORMAT = (TYPE = JSON COMPRESSION = GZIP) MATCH_BY_COLUMN_NAME =
//     CASE_INSENSITIVE ON_ERROR = ABORT_STATEMENT FORCE = TRUE (FORCE: Snowflake's load
//     history must not skip a file a rolled-back or redone flush loaded before);
//  5. the portable upsert of a state table (warehouse.UpsertSteps, less the statements
//     that would read no stage row) or the append of an event table
//     (warehouse.AppendSteps);
//  6. DELETE then INSERT of the sink's offsets row for the partition;
//  7. COMMIT.
//
// Without a file (every record rejected or skipped), 1, 2, 4 and 5 are left out. The
// function is pure: the same arguments give the same text (the golden files pin it).
func Statements(t warehouse.Table, f Flush) ([]Statement, error) {
	var out []Statement
	add := func(sql, kind string) { out = append(out, Statement{sql, kind}) }
	if f.File != "" {
		name, err := fileName(f.File)
		if err != nil {
			return nil, err
		}
		file, err := literal("file://" + f.File)
		if err != nil {
			return nil, err
		}
		loc, err := stageLocation(t, f.Sink)
		if err != nil {
			return nil, err
		}
		nameLit, err := literal(name)
		if err != nil {
			return nil, err
		}
		add(fmt.Sprintf("PUT %s %s AUTO_COMPRESS = FALSE OVERWRITE = TRUE", file, loc), "")
		add(StageDDL(t), "")
		add("BEGIN", "")
		add(fmt.Sprintf("COPY INTO %s FROM %s FILES = (%s) FILE_FORMAT = (TYPE = JSON COMPRESSION = GZIP) MATCH_BY_COLUMN_NAME = CASE_INSENSITIVE ON_ERROR = ABORT_STATEMENT FORCE = TRUE",
			warehouse.Quote(StageTable), loc, nameLit), "copy")
		steps := warehouse.AppendSteps(warehouse.Snowflake, t, StageTable)
		if t.Kind == warehouse.KindState {
			steps = warehouse.UpsertSteps(warehouse.Snowflake, t, StageTable)
		}
		for _, st := range steps {
			if st.Reads == warehouse.ReadsLive && !f.Live || st.Reads == warehouse.ReadsDeleted && !f.Deleted {
				continue // it would read no row of the stage
			}
			add(st.SQL, st.Kind)
		}
	} else {
		add("BEGIN", "")
	}
	offsets, err := OffsetsStatements(t.Schema, f)
	if err != nil {
		return nil, err
	}
	for _, s := range offsets {
		add(s, "")
	}
	add("COMMIT", "")
	return out, nil
}

// OffsetsStatements replace the sink's offsets row of f.Topic and f.Partition: DELETE,
// then INSERT (portable: the same text runs on PostgreSQL).
func OffsetsStatements(schema string, f Flush) ([]string, error) {
	sink, err := literal(f.Sink)
	if err != nil {
		return nil, err
	}
	topic, err := literal(f.Topic)
	if err != nil {
		return nil, err
	}
	topicID := "NULL"
	if f.TopicID != "" {
		if topicID, err = literal(f.TopicID); err != nil {
			return nil, err
		}
	}
	offsets := warehouse.Qualified(schema, warehouse.OffsetsTable)
	return []string{
		fmt.Sprintf(`DELETE FROM %s WHERE "sink" = %s AND "topic" = %s AND "partition" = %d`, offsets, sink, topic, f.Partition),
		fmt.Sprintf(`INSERT INTO %s ("sink", "topic", "topic_id", "partition", "next_offset", "updated_at") VALUES (%s, %s, %s, %d, %d, '%s')`,
			offsets, sink, topic, topicID, f.Partition, f.Next, f.Now.UTC().Format("2006-01-02T15:04:05.000000Z")),
	}, nil
}

// StageDDL creates (or replaces) the session's temporary stage table with the stage
// columns of t, typed for Snowflake.
func StageDDL(t warehouse.Table) string {
	var cols []string
	for _, c := range t.StageColumns() {
		typ, err := warehouse.TypeOf(warehouse.Snowflake, c.Type)
		if err != nil {
			panic(err) // column types come from package warehouse
		}
		cols = append(cols, warehouse.Quote(c.Name)+" "+typ)
	}
	return fmt.Sprintf("CREATE OR REPLACE TEMPORARY TABLE %s (%s)", warehouse.Quote(StageTable), strings.Join(cols, ", "))
}

// stageLocation is the sink's folder in the table's stage:
// @"<schema>".%"<table>"/streamhub/<sink>/, or @%"<table>"/… without a schema.
func stageLocation(t warehouse.Table, sink string) (string, error) {
	if !safeSinkName(sink) {
		return "", fmt.Errorf("snowflake: sink name %q: want [a-z0-9_-]", sink)
	}
	var b strings.Builder
	b.WriteByte('@')
	if t.Schema != "" {
		b.WriteString(warehouse.Quote(t.Schema) + ".")
	}
	b.WriteString("%" + warehouse.Quote(t.Name) + "/" + StagePath + "/" + sink + "/")
	return b.String(), nil
}

func safeSinkName(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range []byte(s) {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// FileName is the name of a flush's stage file: <topic>+<partition>+<first offset, 20
// digits>.json.gz. Kafka topic names are [a-zA-Z0-9._-], so it needs no quoting.
func FileName(topic string, partition int32, first int64) string {
	return fmt.Sprintf("%s+%d+%020d.json.gz", topic, partition, first)
}

// fileName is the base name of an absolute path, which must be safe in the PUT and COPY
// statements.
func fileName(path string) (string, error) {
	if !strings.HasPrefix(path, "/") {
		return "", fmt.Errorf("snowflake: stage file %q is not an absolute path", path)
	}
	if strings.ContainsAny(path, "'\\\x00 *?") {
		return "", fmt.Errorf("snowflake: stage file path %q holds a quote, a backslash, a space, a wildcard or NUL", path)
	}
	return path[strings.LastIndexByte(path, '/')+1:], nil
}

// literal quotes s as an SQL string literal. Snowflake reads a backslash in a literal as
// an escape and PostgreSQL does not, so a value with one (or a NUL) is refused rather
// than written in a form the two read differently.
func literal(s string) (string, error) {
	if strings.ContainsAny(s, "\\\x00") {
		return "", fmt.Errorf("snowflake: %q holds a backslash or NUL, which no literal of both Snowflake and PostgreSQL spells alike", s)
	}
	return "'" + strings.ReplaceAll(s, "'", "''") + "'", nil
}
