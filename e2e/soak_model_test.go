package e2e

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/streamhub/streamhub/sources/dynamodb/ddbtest"
	"github.com/streamhub/streamhub/state"
)

// soakTable is one ddbtest table of the soak test and the test's own model of it: what the
// writer did, item by item, kept apart from anything streamhub computes. The model's
// items are plain JSON built by the writer itself (json.Number for numbers), and the
// DynamoDB items it writes are derived from them, not the other way round.
type soakTable struct {
	name      string
	keys      []string // key attributes, hash key first
	numeric   bool     // the hash key is a number (orders: id)
	versioned bool     // items carry a growing updatedAt (the table's version_attribute)
	items     int
	srv       *ddbtest.Server

	mu      sync.Mutex
	rng     *rand.Rand
	model   map[string]*modelItem // item key (JSON array) → the item now
	changes map[string]soakChange // sequence number → the stream record the write made
	version int
	counts  map[string]int // insert, update, delete, recreate, ttl
}

// modelItem is one item as the writer left it: live with its plain JSON, or deleted.
type modelItem struct {
	plain   map[string]any
	deleted bool
}

// soakChange is one stream record the table wrote, as the writer saw it.
type soakChange struct {
	table, key, eventID, eventName, seq string
}

func newSoakTable(t *testing.T, srv *ddbtest.Server, spec ddbtest.TableSpec, items int, seed uint64) *soakTable {
	t.Helper()
	if _, err := srv.CreateTable(spec); err != nil {
		t.Fatal(err)
	}
	keys := []string{spec.HashKey}
	if spec.RangeKey != "" {
		keys = append(keys, spec.RangeKey)
	}
	return &soakTable{
		name: spec.Name, keys: keys, numeric: spec.HashKeyType == "N", versioned: spec.RangeKey != "",
		items: items, srv: srv, rng: rand.New(rand.NewPCG(seed, 0x50a4)),
		model: map[string]*modelItem{}, changes: map[string]soakChange{}, counts: map[string]int{},
	}
}

// keyOf is item i's key attributes (plain) and its item key: the key values in key-schema
// order as a JSON array, as the view API, the state topic and the warehouse name items.
func (tb *soakTable) keyOf(i int) (map[string]any, string) {
	var attrs map[string]any
	var vals []any
	if tb.numeric {
		id := json.Number(strconv.Itoa(1000 + i))
		attrs = map[string]any{"id": id}
		vals = []any{id}
	} else {
		pk, sk := fmt.Sprintf("user#%d", i/2), [2]string{"profile", "settings"}[i%2]
		attrs = map[string]any{"pk": pk, "sk": sk}
		vals = []any{pk, sk}
	}
	k, _ := json.Marshal(vals)
	return attrs, string(k)
}

// doc is a new version of item i: nested maps and lists, booleans, nulls and numbers
// whose exact digits must survive ("12.50" stays 12.50).
func (tb *soakTable) doc(attrs map[string]any) map[string]any {
	d := map[string]any{}
	for k, v := range attrs {
		d[k] = v
	}
	r := tb.rng
	if tb.versioned {
		d["updatedAt"] = json.Number(strconv.Itoa(tb.version))
		d["score"] = json.Number(strconv.Itoa(r.IntN(1_000_000)))
		d["profile"] = map[string]any{
			"name": fmt.Sprintf("n%d", r.IntN(10_000)), "active": r.IntN(2) == 0, "nickname": nil,
		}
		d["history"] = []any{json.Number(strconv.Itoa(r.IntN(100))), "login", map[string]any{"at": json.Number(strconv.Itoa(tb.version))}}
	} else {
		d["status"] = [3]string{"new", "paid", "shipped"}[r.IntN(3)]
		d["total"] = json.Number(fmt.Sprintf("%d.%d0", r.IntN(500), r.IntN(10)))
		d["lines"] = []any{map[string]any{"sku": fmt.Sprintf("sku-%d", r.IntN(50)), "qty": json.Number(strconv.Itoa(1 + r.IntN(5)))}}
	}
	return d
}

// step makes one change to a random item: an insert of a new item, an update (a put over
// a live item), a delete, a TTL expiry, or a re-create of a deleted item.
func (tb *soakTable) step() error {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	i := tb.rng.IntN(tb.items)
	attrs, key := tb.keyOf(i)
	cur := tb.model[key]
	live := cur != nil && !cur.deleted
	tb.version++
	var ch ddbtest.Change
	var op string
	var next *modelItem
	var err error
	switch p := tb.rng.IntN(100); {
	case live && p < 18:
		op, next = "delete", &modelItem{deleted: true}
		var ok bool
		ch, ok, err = tb.srv.DeleteItem(tb.name, toItem(attrs))
		if err == nil && !ok {
			err = fmt.Errorf("table %s: delete of live item %s wrote no record", tb.name, key)
		}
	case live && p < 21:
		op, next = "ttl", &modelItem{deleted: true}
		var ok bool
		ch, ok, err = tb.srv.ExpireItem(tb.name, toItem(attrs))
		if err == nil && !ok {
			err = fmt.Errorf("table %s: expiry of live item %s wrote no record", tb.name, key)
		}
	default:
		switch {
		case live:
			op = "update"
		case cur != nil:
			op = "recreate"
		default:
			op = "insert"
		}
		d := tb.doc(attrs)
		next = &modelItem{plain: d}
		ch, err = tb.srv.PutItem(tb.name, toItem(d))
	}
	if err != nil {
		return fmt.Errorf("table %s: %s %s: %w", tb.name, op, key, err)
	}
	var rec struct {
		EventID string `json:"eventID"`
	}
	if err := json.Unmarshal(ch.Record, &rec); err != nil || rec.EventID == "" {
		return fmt.Errorf("table %s: the record of %s %s has no eventID (%v): %s", tb.name, op, key, err, ch.Record)
	}
	tb.model[key] = next
	tb.changes[ch.SequenceNumber] = soakChange{table: tb.name, key: key, eventID: rec.EventID, eventName: ch.EventName, seq: ch.SequenceNumber}
	tb.counts[op]++
	return nil
}

// snapshot copies the model: every key ever written, live or deleted.
func (tb *soakTable) snapshot() map[string]modelItem {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	out := make(map[string]modelItem, len(tb.model))
	for k, v := range tb.model {
		out[k] = *v
	}
	return out
}

func (tb *soakTable) written() int {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	return len(tb.changes)
}

func (tb *soakTable) changeSet() map[string]soakChange {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	out := make(map[string]soakChange, len(tb.changes))
	for k, v := range tb.changes {
		out[k] = v
	}
	return out
}

func (tb *soakTable) countsText() string {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	live := 0
	for _, m := range tb.model {
		if !m.deleted {
			live++
		}
	}
	return fmt.Sprintf("%d records (%d inserts, %d updates, %d deletes, %d TTL expiries, %d re-creates), %d keys, %d live",
		len(tb.changes), tb.counts["insert"], tb.counts["update"], tb.counts["delete"], tb.counts["ttl"], tb.counts["recreate"],
		len(tb.model), live)
}

// checkModelAgainstTable proves the model right before it judges streamhub: the items it
// says are live are exactly ddbtest's items, attribute for attribute.
func (tb *soakTable) checkModelAgainstTable(t *testing.T) {
	t.Helper()
	want := map[string]ddbtest.Item{}
	for k, m := range tb.snapshot() {
		if !m.deleted {
			want[k] = toItem(m.plain)
		}
	}
	got := map[string]ddbtest.Item{}
	for _, it := range tb.srv.Items(tb.name) {
		vals := make([]any, len(tb.keys))
		for i, k := range tb.keys {
			if av := it[k]; av.Type == state.TypeN {
				vals[i] = json.Number(av.N)
			} else {
				vals[i] = av.S
			}
		}
		k, _ := json.Marshal(vals)
		got[string(k)] = it
	}
	if !reflect.DeepEqual(got, want) {
		var diff []string
		for k := range want {
			if !reflect.DeepEqual(got[k], want[k]) {
				diff = append(diff, k)
			}
		}
		for k := range got {
			if _, ok := want[k]; !ok {
				diff = append(diff, k)
			}
		}
		sort.Strings(diff)
		t.Fatalf("table %s: the test's model disagrees with ddbtest on %d items (%.5q): the model is wrong", tb.name, len(diff), diff)
	}
}

// toItem turns plain JSON into DynamoDB attribute values: string S, json.Number N, bool
// BOOL, nil NULL, map M, slice L.
func toItem(plain map[string]any) ddbtest.Item {
	out := make(ddbtest.Item, len(plain))
	for k, v := range plain {
		out[k] = toAV(v)
	}
	return out
}

func toAV(v any) state.AttributeValue {
	switch v := v.(type) {
	case string:
		return state.StringValue(v)
	case json.Number:
		return state.NumberValue(string(v))
	case bool:
		return state.BoolValue(v)
	case nil:
		return state.NullValue()
	case map[string]any:
		return state.MapValue(toItem(v))
	case []any:
		l := make([]state.AttributeValue, len(v))
		for i, e := range v {
			l[i] = toAV(e)
		}
		return state.ListValue(l...)
	}
	panic(fmt.Sprintf("toAV: %T", v))
}

// queryOf is the view API's query for an item key: the table's key attribute names.
func (tb *soakTable) queryOf(key string) map[string]string {
	var vals []any
	dec := json.NewDecoder(strings.NewReader(key))
	dec.UseNumber()
	_ = dec.Decode(&vals)
	q := map[string]string{}
	for i, k := range tb.keys {
		q[k] = fmt.Sprint(vals[i])
	}
	return q
}
