package interop

import (
	"context"
	"encoding/json"
	"fmt"
	"math/big"
	"net/url"
	"sort"
	"testing"

	ddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/streamhub/streamhub/state"
)

// diffPostgres compares a full Scan of the table with the PostgreSQL sink's state table,
// item by item and attribute by attribute (numbers as exact decimals: jsonb keeps a
// number's value, not its spelling), and checks that every other key ever written is
// absent or soft-deleted; a re-created table's keys that only the old table had hold what
// the old table left.
func diffPostgres(ctx context.Context, t *testing.T, db *ddb.Client, pg *pgxpool.Pool, schema string, tb *interopTable) []string {
	t.Helper()
	type row struct {
		doc     *string
		deleted bool
	}
	rows, err := pg.Query(ctx, fmt.Sprintf(`SELECT key, doc::text, deleted_at IS NOT NULL FROM %q.%q`, schema, tb.name))
	if err != nil {
		return []string{fmt.Sprintf("%s: PostgreSQL: %v", tb.name, err)}
	}
	got := map[string]row{}
	for rows.Next() {
		var k string
		var r row
		if err := rows.Scan(&k, &r.doc, &r.deleted); err != nil {
			rows.Close()
			return []string{fmt.Sprintf("%s: PostgreSQL: %v", tb.name, err)}
		}
		got[k] = r
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return []string{fmt.Sprintf("%s: PostgreSQL: %v", tb.name, err)}
	}

	var diffs []string
	check := func(what, key string, item map[string]state.AttributeValue) {
		r, ok := got[key]
		switch {
		case !ok:
			diffs = append(diffs, fmt.Sprintf("%s %s%s: no row in PostgreSQL", tb.name, key, what))
		case r.deleted || r.doc == nil:
			diffs = append(diffs, fmt.Sprintf("%s %s%s: deleted in PostgreSQL", tb.name, key, what))
		default:
			diffs = append(diffs, diffAttr("postgres "+tb.name+" "+key+what, state.MapValue(item), decodeAny([]byte(*r.doc)), true)...)
		}
	}
	gone := func(what, key string) {
		if r, ok := got[key]; ok && !r.deleted {
			diffs = append(diffs, fmt.Sprintf("%s %s%s: live in PostgreSQL, not in the table: %v", tb.name, key, what, deref(r.doc)))
		}
	}
	live := map[string]bool{}
	for _, raw := range scan(ctx, t, db, tb.name) {
		item := toImage(t, raw)
		key, err := state.EncodeKey(item, tb.keys)
		if err != nil {
			t.Fatal(err)
		}
		live[key] = true
		check("", key, item)
	}
	seen := map[string]bool{}
	for _, written := range []map[string]url.Values{tb.written, tb.oldWritten} {
		for key := range written {
			if live[key] || seen[key] {
				continue
			}
			seen[key] = true
			if tb.written[key] == nil {
				if old, ok := tb.oldLive[key]; ok {
					check(" (old table only)", key, toImage(t, old))
					continue
				}
			}
			gone("", key)
		}
	}
	for key := range got {
		if !live[key] && !seen[key] {
			diffs = append(diffs, fmt.Sprintf("%s %s: in PostgreSQL, never written by the test", tb.name, key))
		}
	}
	sort.Strings(diffs)
	return diffs
}

func deref(s *string) string {
	if s == nil {
		return "<nil>"
	}
	return *s
}

// exactDecimals replaces every json.Number in v with its exact value as a fraction, so
// 1.500, 1.5 and 15E-1 compare equal and 38-digit numbers lose nothing.
func exactDecimals(v any) any {
	switch x := v.(type) {
	case json.Number:
		r, ok := new(big.Rat).SetString(string(x))
		if !ok {
			return "not a number: " + string(x)
		}
		return "decimal " + r.RatString()
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = exactDecimals(e)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = exactDecimals(e)
		}
		return out
	}
	return v
}
