// Package warehouse is the target-independent core of the warehouse sinks (PostgreSQL,
// Redshift, Snowflake): the model of a warehouse table, its DDL, the portable
// version-guarded upsert (DESIGN.md, "Warehouse upsert (portable form)"), the conversion of
// a flush's records into stage rows, the byte-sortable encoding of the version order, and
// the sinks' metrics. Only loading the stage differs per target; everything here is plain
// SQL text and Go values.
package warehouse

import (
	"fmt"
	"strings"

	"github.com/streamhub/streamhub/topology"
)

// Targets.
const (
	Postgres  = topology.SinkPostgres
	Redshift  = topology.SinkRedshift
	Snowflake = topology.SinkSnowflake
)

// Kinds of warehouse tables.
const (
	// KindState is a table of latest state, upserted from a table topic ("<group>-table").
	KindState = "state"
	// KindEvent is an append-only table of a raw topic, one row per offset.
	KindEvent = "event"
)

// Logical column types. TypeOf maps them to a target's SQL type.
const (
	TypeText      = "text"
	TypeJSON      = "json"
	TypeTimestamp = "timestamp"
	TypeBigint    = "bigint"
	TypeInt       = "int"
	TypeDouble    = "double"
	TypeBool      = "bool"
	// TypeVersionKey is text compared bytewise (COLLATE "C" on PostgreSQL).
	TypeVersionKey = "version_key"
	// TypeKey is the item key of a state table, its primary key: text, COLLATE "C" on
	// PostgreSQL. Every flush compares it in the primary key's btree, about 17 times per
	// row inserted into a table of 100,000 rows and once more per lookup. A database
	// whose collation is not C or POSIX (C.UTF-8 and en_US.UTF-8 included) makes each of
	// those comparisons a strcoll call on copies of both strings; "C" is a memcmp. The
	// order of item keys means nothing to anyone, so bytewise costs nothing
	// (BenchmarkFlush in emitters/postgres). Other targets compare bytewise already.
	TypeKey = "key"
)

// Columns streamhub writes in every state table.
const (
	ColKey              = "key"
	ColDoc              = "doc"
	ColDeletedAt        = "deleted_at"
	ColVersionKey       = "version_key"
	ColVersionSeq       = "version_seq"
	ColVersionCreatedAt = "version_created_at"
	ColUpdatedAt        = "_streamhub_updated_at"
	// ColDeleted exists only in the stage: the change is a tombstone.
	ColDeleted = "deleted"
)

// OffsetsTable is the table where a sink keeps its Kafka offsets, written in the same
// transaction as the rows.
const OffsetsTable = "_streamhub_offsets"

// Column is one column of a warehouse table.
type Column struct {
	// Name is the column's name: [a-z0-9_], always quoted in SQL.
	Name string
	// Type is a logical type (TypeText, …).
	Type string
	// Path is, for a projected column, the dotted path into the item's plain JSON.
	Path string
	// Source is, for a projected column, the topology type (string, int, …).
	Source string
	// Attr is, for a key attribute column, the attribute's name.
	Attr string
	// NotNull marks columns that always hold a value.
	NotNull bool
}

// Table is the model of one warehouse table.
type Table struct {
	// Name is the table's name, [a-z0-9_].
	Name string
	// Schema is the schema it lives in; empty means the connection's default.
	Schema string
	// Kind is KindState or KindEvent.
	Kind string
	// Topic is the Kafka topic that feeds the table: the table topic of a state table, the
	// raw topic of an event table.
	Topic string
	// Deletes is topology.DeletesSoft or topology.DeletesHard (state tables).
	Deletes string
	// KeyColumns hold the key attributes, in key-schema order (state tables).
	KeyColumns []Column
	// Projected are the configured columns taken from the item (state tables).
	Projected []Column
	// Fixed are the columns streamhub itself writes, in table order, after KeyColumns
	// and before Projected.
	Fixed []Column
	// PrimaryKey names the primary key's columns.
	PrimaryKey []string
}

// Columns returns every column of the target table, in table order.
func (t Table) Columns() []Column {
	out := make([]Column, 0, len(t.KeyColumns)+len(t.Fixed)+len(t.Projected))
	out = append(out, t.KeyColumns...)
	out = append(out, t.Fixed...)
	return append(out, t.Projected...)
}

// StageColumns returns the columns of the stage table, in the order of the values Rows
// produces: for a state table the target's columns except deleted_at, plus "deleted"
// (the change is a tombstone); for an event table the target's columns.
func (t Table) StageColumns() []Column {
	if t.Kind != KindState {
		return t.Columns()
	}
	var out []Column
	out = append(out, t.KeyColumns...)
	for _, c := range t.Fixed {
		if c.Name == ColDeletedAt {
			out = append(out, Column{Name: ColDeleted, Type: TypeBool, NotNull: true})
			continue
		}
		out = append(out, c)
	}
	return append(out, t.Projected...)
}

// StageIndex is the position of the named column in StageColumns (and in Row.Values),
// or -1.
func (t Table) StageIndex(name string) int {
	for i, c := range t.StageColumns() {
		if c.Name == name {
			return i
		}
	}
	return -1
}

// StageColumnNames is StageColumns' names.
func (t Table) StageColumnNames() []string {
	cs := t.StageColumns()
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.Name
	}
	return out
}

// QualifiedName is the table's quoted, schema-qualified name.
func (t Table) QualifiedName() string { return Qualified(t.Schema, t.Name) }

// Qualified quotes a name and prefixes the quoted schema when there is one.
func Qualified(schema, name string) string {
	if schema == "" {
		return Quote(name)
	}
	return Quote(schema) + "." + Quote(name)
}

// Quote quotes an identifier with double quotes (doubling any inside), the SQL standard
// every target understands. Names are lower case, so on Snowflake, where quoted names are
// case-sensitive, queries must quote them too ("doc", not DOC).
func Quote(name string) string { return `"` + strings.ReplaceAll(name, `"`, `""`) + `"` }

// Sanitize lower-cases a name and replaces every character outside [a-z0-9_] with '_';
// a name starting with a digit (or empty) gets a leading '_'.
func Sanitize(name string) string {
	b := []byte(strings.ToLower(name))
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			b[i] = '_'
		}
	}
	if len(b) == 0 || b[0] >= '0' && b[0] <= '9' {
		b = append([]byte{'_'}, b...)
	}
	return string(b)
}

var stateFixed = []Column{
	{Name: ColKey, Type: TypeKey, NotNull: true},
	{Name: ColDoc, Type: TypeJSON},
	{Name: ColDeletedAt, Type: TypeTimestamp},
	{Name: ColVersionKey, Type: TypeVersionKey, NotNull: true},
	{Name: ColVersionSeq, Type: TypeText},
	{Name: ColVersionCreatedAt, Type: TypeTimestamp},
	{Name: ColUpdatedAt, Type: TypeTimestamp, NotNull: true},
}

// projectedTypes maps topology column types to logical types.
var projectedTypes = map[string]string{
	topology.ColumnString:    TypeText,
	"":                       TypeText,
	topology.ColumnInt:       TypeBigint,
	topology.ColumnFloat:     TypeDouble,
	topology.ColumnBool:      TypeBool,
	topology.ColumnTimestamp: TypeTimestamp,
	topology.ColumnJSON:      TypeJSON,
}

// StateTable models the warehouse table of a topology table's latest state: named like
// the table (sanitized), fed from its table topic. Its columns: one text column per key
// attribute (named like the attribute, sanitized; a name taken by a streamhub column or a
// projected column, or by an earlier key column, gets the suffix "_key"), key (the item
// key JSON, primary key), doc, deleted_at, version_key, version_seq, version_created_at,
// _streamhub_updated_at, then the projected columns. deletes is soft (default) or hard.
func StateTable(t topology.Table, schema, deletes string) Table {
	if deletes == "" {
		deletes = topology.DeletesSoft
	}
	out := Table{
		Name: Sanitize(t.Name), Schema: schema, Kind: KindState, Topic: t.TableTopic(),
		Deletes: deletes, Fixed: stateFixed, PrimaryKey: []string{ColKey},
	}
	taken := map[string]bool{ColDeleted: true}
	for _, c := range stateFixed {
		taken[c.Name] = true
	}
	for _, c := range t.Columns {
		typ, ok := projectedTypes[c.Type]
		if !ok {
			typ = TypeText
		}
		src := c.Type
		if src == "" {
			src = topology.ColumnString
		}
		out.Projected = append(out.Projected, Column{Name: c.Name, Type: typ, Path: c.Path, Source: src})
		taken[c.Name] = true
	}
	for _, k := range t.Keys {
		name := Sanitize(k)
		for taken[name] {
			name += "_key"
		}
		taken[name] = true
		out.KeyColumns = append(out.KeyColumns, Column{Name: name, Type: TypeText, Attr: k})
	}
	return out
}

// Columns of event tables.
const (
	ColTopic      = "topic"
	ColPartition  = "partition"
	ColOffset     = "offset"
	ColTimestamp  = "timestamp"
	ColHeaders    = "headers"
	ColValue      = "value"
	ColEventName  = "event_name"
	ColOccurredAt = "occurred_at"
)

var eventFixed = []Column{
	{Name: ColTopic, Type: TypeText, NotNull: true},
	{Name: ColPartition, Type: TypeInt, NotNull: true},
	{Name: ColOffset, Type: TypeBigint, NotNull: true},
	{Name: ColKey, Type: TypeText},
	{Name: ColTimestamp, Type: TypeTimestamp},
	{Name: ColHeaders, Type: TypeJSON},
	{Name: ColValue, Type: TypeJSON},
	{Name: ColEventName, Type: TypeText},
	{Name: ColOccurredAt, Type: TypeTimestamp},
	{Name: ColUpdatedAt, Type: TypeTimestamp, NotNull: true},
}

// EventTable models the append-only table of a raw topic: named like the topic with
// every character outside [a-z0-9_] replaced by '_' (see Sanitize), one row per offset,
// primary key (partition, offset).
func EventTable(topic, schema string) Table {
	return Table{
		Name: Sanitize(topic), Schema: schema, Kind: KindEvent, Topic: topic,
		Fixed: eventFixed, PrimaryKey: []string{ColPartition, ColOffset},
	}
}

// TypeOf is the SQL type of a logical type on a target. Redshift text is VARCHAR(65535),
// since its TEXT is VARCHAR(256).
func TypeOf(target, logical string) (string, error) {
	m, ok := sqlTypes[target]
	if !ok {
		return "", fmt.Errorf("warehouse: unknown target %q", target)
	}
	s, ok := m[logical]
	if !ok {
		return "", fmt.Errorf("warehouse: unknown column type %q", logical)
	}
	return s, nil
}

var sqlTypes = map[string]map[string]string{
	Postgres: {
		TypeText: "text", TypeJSON: "jsonb", TypeTimestamp: "timestamptz", TypeBigint: "bigint",
		TypeInt: "integer", TypeDouble: "double precision", TypeBool: "boolean",
		TypeVersionKey: `text COLLATE "C"`, TypeKey: `text COLLATE "C"`,
	},
	Redshift: {
		TypeText: "varchar(65535)", TypeJSON: "super", TypeTimestamp: "timestamptz", TypeBigint: "bigint",
		TypeInt: "integer", TypeDouble: "double precision", TypeBool: "boolean",
		TypeVersionKey: "varchar(65535)", TypeKey: "varchar(65535)",
	},
	Snowflake: {
		TypeText: "varchar", TypeJSON: "variant", TypeTimestamp: "timestamp_tz", TypeBigint: "bigint",
		TypeInt: "integer", TypeDouble: "double precision", TypeBool: "boolean",
		TypeVersionKey: "varchar", TypeKey: "varchar",
	},
}
