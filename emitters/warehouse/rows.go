package warehouse

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
	"unsafe"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/streamhub/streamhub/emitters"
	"github.com/streamhub/streamhub/state"
)

// Reasons a record is rejected (emitters.Reject.Reason); the loop sends it to the DLQ.
const (
	// ReasonBadColumn: a projected column's value has the wrong type for the column.
	ReasonBadColumn = "bad_column"
	// ReasonBadValue: a table topic record whose value is not a state.Value.
	ReasonBadValue = "bad_value"
	// ReasonBadKey: a table topic record whose key is not an item key.
	ReasonBadKey = "bad_key"
)

// Row is one stage row: its values in the order of Table.StageColumns(), and the record
// it came from.
type Row struct {
	Record *kgo.Record
	Values []any
}

// Rows converts a flush's records into stage rows, one per accepted record, and the
// records it rejects. now is written to
// _streamhub_updated_at.
//
// State tables take records of the table topic: key = item key, value = a state.Value
// (MarshalBinary). A nil value is a Kafka tombstone of compaction, not a change, and is
// skipped. doc is the item's plain JSON ([]byte, nil for a tombstone), deleted the
// tombstone flag, version_key VersionKey(value.Version), version_seq the sequence number,
// version_created_at ApproximateCreationDateTime. Projected columns are read from the
// doc by dotted path; a missing path or JSON null is NULL; a value of the wrong type
// rejects the record (ReasonBadColumn). Column values are Go values: string, int64,
// float64, bool, time.Time, []byte (JSON) or nil.
//
// Event tables take any record: topic, partition, offset, key (text: UTF-8 as it is,
// other bytes as base64; nil stays NULL), the Kafka timestamp, headers (a JSON object
// of name → value as text, the last of repeated names wins), value (JSON as it is; other
// UTF-8 text as a JSON string; other bytes as a JSON string of their base64), event_name
// and occurred_at (a collector envelope's event_name and occurred_at, or a DynamoDB
// Streams record's eventName and dynamodb.ApproximateCreationDateTime; else NULL).
//
// Large batches are converted by up to GOMAXPROCS goroutines, each on a contiguous part;
// the result is the same as converting them in order.
func Rows(t Table, recs []*kgo.Record, now time.Time) (rows []Row, rejects []emitters.Reject) {
	parts := min(runtime.GOMAXPROCS(0), len(recs)/rowsPerWorker)
	if parts < 2 {
		return rowsOf(t, recs, now)
	}
	type result struct {
		rows    []Row
		rejects []emitters.Reject
	}
	res := make([]result, parts)
	var wg sync.WaitGroup
	for i := range parts {
		part := recs[i*len(recs)/parts : (i+1)*len(recs)/parts]
		wg.Go(func() { res[i].rows, res[i].rejects = rowsOf(t, part, now) })
	}
	wg.Wait()
	rows = make([]Row, 0, len(recs))
	for _, r := range res {
		rows = append(rows, r.rows...)
		rejects = append(rejects, r.rejects...)
	}
	return rows, rejects
}

// rowsPerWorker is the least number of records Rows gives a goroutine.
const rowsPerWorker = 1024

func rowsOf(t Table, recs []*kgo.Record, now time.Time) (rows []Row, rejects []emitters.Reject) {
	rows = make([]Row, 0, len(recs))
	var c *converter
	if t.Kind == KindState {
		c = newConverter(t, now, len(recs))
	}
	for _, r := range recs {
		var row []any
		var reason string
		var err error
		if t.Kind == KindState {
			if r.Value == nil {
				continue
			}
			row, reason, err = c.stateRow(r)
		} else {
			row = eventRow(r, now)
		}
		if err != nil {
			rejects = append(rejects, emitters.Reject{Record: r, Reason: reason, Err: err})
			continue
		}
		rows = append(rows, Row{Record: r, Values: row})
	}
	return rows, rejects
}

// Newest keeps, of the rows of a state table, the newest change per key: the row with
// the greatest version_key, tombstones included (of equal version keys, the later
// row). It returns the kept rows in the order of their keys' first appearance, reusing
// rows' array, and how many rows it dropped (changes superseded inside the batch, "stale"
// rows). Rows of an event table are returned as they are. Every sink loads its stage
// with the rows Newest keeps: UpsertSteps needs at most one row per key.
func Newest(t Table, rows []Row) (kept []Row, superseded int) {
	if t.Kind != KindState || len(rows) < 2 {
		return rows, 0
	}
	ki, vi := t.StageIndex(ColKey), t.StageIndex(ColVersionKey)
	at := make(map[string]int, len(rows))
	kept = rows[:0]
	for _, r := range rows {
		k := r.Values[ki].(string)
		j, seen := at[k]
		if !seen {
			at[k] = len(kept)
			kept = append(kept, r)
			continue
		}
		superseded++
		if r.Values[vi].(string) >= kept[j].Values[vi].(string) {
			kept[j] = r
		}
	}
	clear(rows[len(kept):])
	return kept, superseded
}

// converter turns the records of one batch of a state table into rows. It holds what
// the records share, so a record costs few allocations: the rows' values are carved out
// of one array, version keys written into one buffer, now boxed once.
type converter struct {
	t     Table
	width int
	now   any
	// paths are the projected columns' paths split at the dots.
	paths [][]string
	// vals is where the next rows' values go; text where the next version keys go. Both
	// only grow: a row or string handed out is never written again.
	vals []any
	text []byte
	// Scratch of one record: the key's values, the projected columns' raw JSON.
	parts []string
	found [][]byte
	// The last creation time boxed, for records of the same millisecond.
	createdMs  int64
	createdVal any
}

// Sizes of the converter's arrays: the values of at most convRows rows, convText bytes
// of version keys (about 80 bytes each, plus the stream name).
const (
	convRows = 1024
	convText = 32 << 10
)

func newConverter(t Table, now time.Time, n int) *converter {
	c := &converter{t: t, width: len(t.KeyColumns) + len(t.Fixed) + len(t.Projected), now: now}
	c.vals = make([]any, 0, c.width*min(n, convRows))
	c.found = make([][]byte, len(t.Projected))
	for _, col := range t.Projected {
		c.paths = append(c.paths, strings.Split(col.Path, "."))
	}
	return c
}

// shared is b as a string without a copy. The records of a batch are not changed while
// their rows are in use (the value is decoded with UnmarshalBinaryShared for the same
// reason), so the strings of the rows may point into them.
func shared(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

func (c *converter) stateRow(r *kgo.Record) ([]any, string, error) {
	t := c.t
	var v state.Value
	if err := v.UnmarshalBinaryShared(r.Value); err != nil {
		return nil, ReasonBadValue, err
	}
	key := shared(r.Key)
	parts, err := state.AppendKeyText(c.parts[:0], key)
	c.parts = parts[:0]
	if err != nil {
		return nil, ReasonBadKey, err
	}
	if len(parts) != len(t.KeyColumns) {
		return nil, ReasonBadKey, fmt.Errorf("item key %s has %d values, the table %d key attributes", key, len(parts), len(t.KeyColumns))
	}
	if cap(c.vals)-len(c.vals) < c.width {
		c.vals = make([]any, 0, c.width*convRows)
	}
	row := c.vals[len(c.vals) : len(c.vals) : len(c.vals)+c.width]
	for _, p := range parts {
		row = append(row, p)
	}
	var doc any
	if !v.Deleted && v.Item != nil {
		doc = v.Item
	}
	var created any
	if v.Version.CreatedAt != 0 || v.Version.Seq != "" {
		if c.createdVal == nil || c.createdMs != v.Version.CreatedAt {
			c.createdMs, c.createdVal = v.Version.CreatedAt, v.Version.CreatedTime()
		}
		created = c.createdVal
	}
	row = append(row, key, doc, v.Deleted, c.versionKey(v.Version), v.Version.Seq, created, c.now)
	if len(t.Projected) > 0 {
		var reason string
		if row, reason, err = c.project(row, doc != nil, v.Item); err != nil {
			return nil, reason, err
		}
	}
	c.vals = c.vals[:len(c.vals)+c.width]
	return row, "", nil
}

// versionKey is VersionKey(v), written into the converter's text buffer.
func (c *converter) versionKey(v state.Version) string {
	if cap(c.text)-len(c.text) < 128+len(v.Stream)+2*len(v.Attr) {
		c.text = make([]byte, 0, max(convText, 128+len(v.Stream)+2*len(v.Attr)))
	}
	start := len(c.text)
	c.text = appendVersionKey(c.text, v)
	return shared(c.text[start:])
}

// Extract reads a dotted path from a decoded item (numbers as json.Number) and converts
// it to a projected column's topology type: string (a JSON string), int (an integral
// number within int64), float, bool, timestamp (an RFC 3339 string, or a number of
// seconds since the Unix epoch as DynamoDB TTL attributes hold), json (any value, as
// JSON bytes). A missing path or JSON null gives nil; any other mismatch an error.
func Extract(item map[string]any, path, typ string) (any, error) {
	var cur any = item
	for _, seg := range strings.Split(path, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, nil
		}
		if cur, ok = m[seg]; !ok {
			return nil, nil
		}
	}
	return convert(cur, typ)
}

// convert turns a decoded JSON value (numbers as json.Number) into a projected column's
// value (see Extract).
func convert(cur any, typ string) (any, error) {
	switch x := cur.(type) {
	case nil:
		return nil, nil
	case string:
		return convertString(x, typ)
	case json.Number:
		return convertNumber(x, typ)
	}
	switch typ {
	case "bool":
		if b, ok := cur.(bool); ok {
			return b, nil
		}
	case "string", "", "int", "float", "timestamp":
	case "json":
		b, err := json.Marshal(cur)
		if err != nil {
			return nil, err
		}
		return b, nil
	default:
		return nil, fmt.Errorf("unknown column type %q", typ)
	}
	return nil, fmt.Errorf("a JSON %s is not a %s", jsonKind(cur), typ)
}

// convertString is convert of a JSON string.
func convertString(s, typ string) (any, error) {
	switch typ {
	case "string", "":
		return s, nil
	case "int", "float", "bool":
	case "timestamp":
		ts, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return nil, fmt.Errorf("%q is not an RFC 3339 time", s)
		}
		if ts.Year() < 1 || ts.Year() > 9999 {
			return nil, fmt.Errorf("%q is out of range", s)
		}
		return ts.UTC(), nil
	case "json":
		b, err := json.Marshal(s)
		if err != nil {
			return nil, err
		}
		return b, nil
	default:
		return nil, fmt.Errorf("unknown column type %q", typ)
	}
	return nil, fmt.Errorf("a JSON string is not a %s", typ)
}

// convertNumber is convert of a JSON number.
func convertNumber(n json.Number, typ string) (any, error) {
	switch typ {
	case "string", "", "bool":
	case "int":
		if i, err := strconv.ParseInt(string(n), 10, 64); err == nil {
			return i, nil
		}
		f, err := strconv.ParseFloat(string(n), 64)
		if err == nil && f == math.Trunc(f) && f >= -(1<<63) && f < 1<<63 {
			return int64(f), nil
		}
		return nil, fmt.Errorf("%s is not an integer within 64 bits", n)
	case "float":
		f, err := strconv.ParseFloat(string(n), 64)
		if err != nil {
			return nil, fmt.Errorf("%s does not fit a double", n)
		}
		return f, nil
	case "timestamp":
		f, err := strconv.ParseFloat(string(n), 64)
		if err != nil || math.Abs(f) > 253402300799 {
			return nil, fmt.Errorf("%s is not a time in epoch seconds", n)
		}
		sec, frac := math.Modf(f)
		return time.Unix(int64(sec), int64(math.Round(frac*1e6))*1e3).UTC(), nil
	case "json":
		b, err := json.Marshal(n)
		if err != nil {
			return nil, err
		}
		return b, nil
	default:
		return nil, fmt.Errorf("unknown column type %q", typ)
	}
	return nil, fmt.Errorf("a JSON number is not a %s", typ)
}

func jsonKind(v any) string {
	switch v.(type) {
	case string:
		return "string"
	case json.Number:
		return "number"
	case bool:
		return "boolean"
	case map[string]any:
		return "object"
	case []any:
		return "array"
	}
	return "value"
}

func eventRow(r *kgo.Record, now time.Time) []any {
	var key any
	if r.Key != nil {
		if utf8.Valid(r.Key) {
			key = string(r.Key)
		} else {
			key = base64.StdEncoding.EncodeToString(r.Key)
		}
	}
	var ts any
	if !r.Timestamp.IsZero() {
		ts = r.Timestamp.UTC()
	}
	var headers any
	if len(r.Headers) > 0 {
		h := make(map[string]string, len(r.Headers))
		for _, x := range r.Headers {
			if utf8.Valid(x.Value) {
				h[x.Key] = string(x.Value)
			} else {
				h[x.Key] = base64.StdEncoding.EncodeToString(x.Value)
			}
		}
		headers, _ = json.Marshal(h)
	}
	var value, name, occurred any
	if r.Value != nil {
		switch {
		case json.Valid(r.Value):
			value = r.Value
			name, occurred = eventFields(r.Value)
		case utf8.Valid(r.Value):
			value, _ = json.Marshal(string(r.Value))
		default:
			value, _ = json.Marshal(base64.StdEncoding.EncodeToString(r.Value))
		}
	}
	return []any{r.Topic, r.Partition, r.Offset, key, ts, headers, value, name, occurred, now}
}

// eventFields reads event_name and occurred_at of a collector envelope, or eventName and
// ApproximateCreationDateTime of a DynamoDB Streams record.
func eventFields(v []byte) (name, occurred any) {
	var e struct {
		EventName  *string `json:"event_name"`
		OccurredAt *string `json:"occurred_at"`
		CDCName    *string `json:"eventName"`
		DynamoDB   *struct {
			Created json.Number `json:"ApproximateCreationDateTime"`
		} `json:"dynamodb"`
	}
	if json.Unmarshal(v, &e) != nil {
		return nil, nil
	}
	switch {
	case e.EventName != nil:
		name = *e.EventName
	case e.CDCName != nil:
		name = *e.CDCName
	}
	switch {
	case e.OccurredAt != nil:
		if ts, err := time.Parse(time.RFC3339Nano, *e.OccurredAt); err == nil && ts.Year() >= 1 && ts.Year() <= 9999 {
			occurred = ts.UTC()
		}
	case e.DynamoDB != nil && e.DynamoDB.Created != "":
		if f, err := e.DynamoDB.Created.Float64(); err == nil && math.Abs(f) < 253402300799 {
			sec, frac := math.Modf(f)
			occurred = time.Unix(int64(sec), int64(math.Round(frac*1e3))*1e6).UTC()
		}
	}
	return name, occurred
}

// CheckPostgres reports the first value of a row that PostgreSQL cannot store: a string
// holding a NUL byte (text cannot), or JSON holding the escape \u0000 (jsonb cannot).
// Such a record must be rejected rather than fail the whole COPY forever.
func CheckPostgres(row []any) error {
	for i, v := range row {
		switch v := v.(type) {
		case string:
			if strings.IndexByte(v, 0) >= 0 {
				return fmt.Errorf("value %d holds a NUL byte, which PostgreSQL text cannot store", i)
			}
		case []byte:
			if hasNULEscape(v) {
				return fmt.Errorf("value %d holds \\u0000, which PostgreSQL jsonb cannot store", i)
			}
		}
	}
	return nil
}

// hasNULEscape finds a \u0000 escape that is not itself an escaped backslash.
func hasNULEscape(b []byte) bool {
	for i := 0; i < len(b); i++ {
		if b[i] != '\\' {
			continue
		}
		if i+1 < len(b) && b[i+1] == 'u' && i+6 <= len(b) && string(b[i+2:i+6]) == "0000" {
			return true
		}
		i++ // skip the escaped character
	}
	return false
}
