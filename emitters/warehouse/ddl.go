package warehouse

import (
	"fmt"
	"strings"
)

// DDL returns the statements that create the table on a target (postgres, redshift,
// snowflake), idempotent: CREATE TABLE IF NOT EXISTS with every column, then one
// ALTER TABLE … ADD COLUMN per projected column, so a column added to the topology later
// appears in an existing table. PostgreSQL and Snowflake get ADD COLUMN IF NOT EXISTS;
// Redshift has no IF NOT EXISTS for columns, so its statements are plain ADD COLUMN and a
// Redshift sink must run only those whose column is missing from the catalog
// (SVV_COLUMNS / information_schema.columns). Columns are never dropped or retyped. An
// unknown target panics: targets come from a validated topology.
func DDL(target string, t Table) []string {
	var b strings.Builder
	fmt.Fprintf(&b, "CREATE TABLE IF NOT EXISTS %s (\n", t.QualifiedName())
	for _, c := range t.Columns() {
		fmt.Fprintf(&b, "  %s %s", Quote(c.Name), mustType(target, c.Type))
		if c.NotNull {
			b.WriteString(" NOT NULL")
		}
		b.WriteString(",\n")
	}
	fmt.Fprintf(&b, "  PRIMARY KEY (%s)\n)", quoteList(t.PrimaryKey))
	if target == Redshift {
		if t.Kind == KindState {
			// The upsert joins on key: distributed by it, the join stays node-local.
			fmt.Fprintf(&b, "\nDISTSTYLE KEY DISTKEY (%s) SORTKEY (%s)", Quote(ColKey), Quote(ColKey))
		} else {
			// A topic has few partitions: distributing by one would skew the nodes.
			fmt.Fprintf(&b, "\nDISTSTYLE EVEN SORTKEY (%s)", quoteList(t.PrimaryKey))
		}
	}
	out := []string{b.String()}
	for _, c := range t.Projected {
		typ := mustType(target, c.Type)
		ifNot := "IF NOT EXISTS "
		if target == Redshift {
			ifNot = ""
		}
		out = append(out, fmt.Sprintf("ALTER TABLE %s ADD COLUMN %s%s %s", t.QualifiedName(), ifNot, Quote(c.Name), typ))
	}
	return out
}

// OffsetsDDL creates the offsets table: per sink, topic and partition the next offset to
// flush, written in the same transaction as the rows. topic_id is the topic's ID when
// the sink knows it (DESIGN.md: a re-created topic must not be mistaken for the old one).
func OffsetsDDL(target, schema string) []string {
	text, ts := mustType(target, TypeText), mustType(target, TypeTimestamp)
	return []string{fmt.Sprintf(`CREATE TABLE IF NOT EXISTS %s (
  "sink" %[2]s NOT NULL,
  "topic" %[2]s NOT NULL,
  "topic_id" %[2]s,
  "partition" integer NOT NULL,
  "next_offset" bigint NOT NULL,
  "updated_at" %[3]s NOT NULL,
  PRIMARY KEY ("sink", "topic", "partition")
)`, Qualified(schema, OffsetsTable), text, ts)}
}

// StageDDL creates the stage table of one flush: a temporary table with the stage
// columns (StageColumns) typed for the target. On PostgreSQL it is dropped at commit,
// and its key column is plain text, of the database's default collation: compared with a
// target's key it then takes the target's collation (a column's own collation wins over
// the default), so the upsert looks keys up in the target's primary key both in tables
// whose key is COLLATE "C" (TypeKey) and in tables created before it was. A stage key of
// "C" would make the comparisons against an older table's key bytewise, which its
// primary key index cannot answer.
func StageDDL(target string, t Table, stage string) string {
	var cols []string
	for _, c := range t.StageColumns() {
		typ := mustType(target, c.Type)
		if target == Postgres && c.Type == TypeKey {
			typ = mustType(target, TypeText)
		}
		cols = append(cols, Quote(c.Name)+" "+typ)
	}
	s := fmt.Sprintf("CREATE TEMP TABLE %s (%s)", Quote(stage), strings.Join(cols, ", "))
	if target == Postgres {
		s += " ON COMMIT DROP"
	}
	return s
}

func mustType(target, logical string) string {
	s, err := TypeOf(target, logical)
	if err != nil {
		panic(err)
	}
	return s
}

func quoteList(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = Quote(n)
	}
	return strings.Join(q, ", ")
}
