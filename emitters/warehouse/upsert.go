package warehouse

import (
	"fmt"
	"strings"

	"github.com/streamhub/streamhub/topology"
)

// Step is one statement of an upsert or append, with the kind of row change its row
// count measures ("insert", "update", "delete"; "" for bookkeeping statements) and the
// stage rows it reads.
type Step struct {
	SQL  string
	Kind string
	// Reads says which stage rows the statement reads: ReadsAll, ReadsLive (live
	// changes only) or ReadsDeleted (tombstones only). A sink may skip a statement whose
	// rows the stage does not hold: it would change nothing.
	Reads string
}

// What a Step reads of the stage.
const (
	ReadsAll     = ""
	ReadsLive    = "live"
	ReadsDeleted = "deleted"
)

// Row change kinds (the kind label of streamhub_warehouse_rows_total).
const (
	KindInsert = "insert"
	KindUpdate = "update"
	KindDelete = "delete"
	// KindStale counts the rows of a flush that changed nothing: not newer than the stored
	// version (late or duplicate deliveries), superseded inside the flush, or, with hard
	// deletes, tombstones of absent keys.
	KindStale = "stale"
)

// Upsert returns the statements that apply a stage table (one flush's rows, StageColumns,
// at most one per key: see Newest) to a state table; UpsertSteps says what each one
// counts. Run them in the transaction that also writes the offsets.
func Upsert(target string, t Table, stage string) []string {
	steps := UpsertSteps(target, t, stage)
	out := make([]string, len(steps))
	for i, s := range steps {
		out[i] = s.SQL
	}
	return out
}

// UpsertSteps is the portable, version-guarded upsert (DESIGN.md). The same text runs
// on PostgreSQL, Redshift and Snowflake (target only selects nothing today; it is there
// for the day one needs a dialect).
//
// The stage must hold at most one row per key, the newest change of the flush: every
// sink loads it with the rows Newest keeps, which is cheaper than ranking the stage in
// SQL (an extra table the size of the batch) and leaves the statements plain joins on
// key, which every target runs as a lookup of the target's key per stage row. A stage
// holding two changes of one key would make the UPDATEs pick one arbitrarily and the
// INSERTs fail on the primary key (PostgreSQL) or insert the key twice (Redshift and
// Snowflake do not enforce it). In order:
//
//  1. UPDATE the rows whose key has a newer live change (a re-created, soft-deleted row
//     comes back: deleted_at is cleared) — "update";
//  2. tombstones newer than the row: soft deletes UPDATE it (doc and projected columns
//     null, deleted_at = the change's ApproximateCreationDateTime, version kept), hard
//     deletes DELETE … USING — "delete";
//  3. INSERT the live changes of absent keys — "insert";
//  4. soft deletes only: INSERT the tombstones of absent keys as soft-deleted rows, so
//     that their version keeps a late, older change from resurrecting the item —
//     "delete". Hard deletes cannot do that: once a row is deleted its version is gone,
//     and a change older than the delete that arrives after it (a re-delivery from
//     before the sink's offsets, a replay from another stream) inserts the item again.
//     Choose soft deletes where that matters.
//
// Every change is guarded by version_key, so a flush applied twice, or an older flush
// applied after a newer one, changes nothing. Statements 1 and 3 read only live
// changes, 2 and 4 only tombstones (Step.Reads): a sink may skip those whose rows the
// batch lacks.
func UpsertSteps(target string, t Table, stage string) []Step {
	mustType(target, TypeText)
	T := t.QualifiedName()
	src := Quote(stage)
	key := Quote(ColKey)

	var steps []Step
	guard := fmt.Sprintf("%s.%s = \"n\".%s AND \"n\".%s > %s.%s", T, key, key, Quote(ColVersionKey), T, Quote(ColVersionKey))

	// The values of the target's non-key columns for a live change and for a tombstone.
	type set struct{ col, live, dead string }
	var sets []set
	for _, c := range t.Fixed {
		n := `"n".` + Quote(c.Name)
		switch c.Name {
		case ColKey:
			continue
		case ColDoc:
			sets = append(sets, set{c.Name, n, "NULL"})
		case ColDeletedAt:
			sets = append(sets, set{c.Name, "NULL", `"n".` + Quote(ColVersionCreatedAt)})
		default:
			sets = append(sets, set{c.Name, n, n})
		}
	}
	for _, c := range t.Projected {
		sets = append(sets, set{c.Name, `"n".` + Quote(c.Name), "NULL"})
	}
	assign := func(dead bool) string {
		parts := make([]string, len(sets))
		for i, s := range sets {
			v := s.live
			if dead {
				v = s.dead
			}
			parts[i] = Quote(s.col) + " = " + v
		}
		return strings.Join(parts, ", ")
	}
	steps = append(steps, Step{Kind: KindUpdate, Reads: ReadsLive, SQL: fmt.Sprintf(
		"UPDATE %s SET %s FROM %s AS \"n\" WHERE %s AND NOT \"n\".%s",
		T, assign(false), src, guard, Quote(ColDeleted))})
	if t.Deletes == topology.DeletesHard {
		steps = append(steps, Step{Kind: KindDelete, Reads: ReadsDeleted, SQL: fmt.Sprintf(
			"DELETE FROM %s USING %s AS \"n\" WHERE %s AND \"n\".%s",
			T, src, guard, Quote(ColDeleted))})
	} else {
		steps = append(steps, Step{Kind: KindDelete, Reads: ReadsDeleted, SQL: fmt.Sprintf(
			"UPDATE %s SET %s FROM %s AS \"n\" WHERE %s AND \"n\".%s",
			T, assign(true), src, guard, Quote(ColDeleted))})
	}

	// INSERT of absent keys: every target column.
	insert := func(dead bool) string {
		var cols, vals []string
		for _, c := range t.KeyColumns {
			cols = append(cols, Quote(c.Name))
			vals = append(vals, `"n".`+Quote(c.Name))
		}
		cols = append(cols, key)
		vals = append(vals, `"n".`+key)
		for _, s := range sets {
			cols = append(cols, Quote(s.col))
			if dead {
				vals = append(vals, s.dead)
			} else {
				vals = append(vals, s.live)
			}
		}
		not := "NOT "
		if dead {
			not = ""
		}
		return fmt.Sprintf("INSERT INTO %s (%s) SELECT %s FROM %s AS \"n\" WHERE %s\"n\".%s AND NOT EXISTS (SELECT 1 FROM %s AS \"t\" WHERE \"t\".%s = \"n\".%s)",
			T, strings.Join(cols, ", "), strings.Join(vals, ", "), src, not, Quote(ColDeleted), T, key, key)
	}
	steps = append(steps, Step{Kind: KindInsert, Reads: ReadsLive, SQL: insert(false)})
	if t.Deletes != topology.DeletesHard {
		steps = append(steps, Step{Kind: KindDelete, Reads: ReadsDeleted, SQL: insert(true)})
	}
	return steps
}

// AppendSteps returns the statement that appends a stage table to an event table, each
// offset once: PostgreSQL uses ON CONFLICT (partition, offset) DO NOTHING; Redshift and
// Snowflake, which do not enforce primary keys, skip the offsets already present with
// NOT EXISTS. Its row count is the rows inserted.
func AppendSteps(target string, t Table, stage string) []Step {
	mustType(target, TypeText)
	T := t.QualifiedName()
	cols := quoteList(t.StageColumnNames())
	if target == Postgres {
		return []Step{{Kind: KindInsert, SQL: fmt.Sprintf("INSERT INTO %s (%s) SELECT %s FROM %s ON CONFLICT (%s) DO NOTHING",
			T, cols, cols, Quote(stage), quoteList(t.PrimaryKey))}}
	}
	var sel, cond []string
	for _, c := range t.StageColumnNames() {
		sel = append(sel, `"s".`+Quote(c))
	}
	for _, c := range t.PrimaryKey {
		cond = append(cond, fmt.Sprintf(`"t".%s = "s".%s`, Quote(c), Quote(c)))
	}
	return []Step{{Kind: KindInsert, SQL: fmt.Sprintf("INSERT INTO %s (%s) SELECT %s FROM %s AS \"s\" WHERE NOT EXISTS (SELECT 1 FROM %s AS \"t\" WHERE %s)",
		T, cols, strings.Join(sel, ", "), Quote(stage), T, strings.Join(cond, " AND "))}}
}
