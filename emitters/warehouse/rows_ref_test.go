package warehouse

// The conversion of state table records as it was before it was made cheaper
// (2026-12-08), kept as the reference TestRowsSameAsReference compares the conversion
// with: any difference in rows, values, reasons or errors is a change of output.

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/streamhub/streamhub/emitters"
	"github.com/streamhub/streamhub/state"
)

func refRowsOf(t Table, recs []*kgo.Record, now time.Time) (rows []Row, rejects []emitters.Reject) {
	rows = make([]Row, 0, len(recs))
	for _, r := range recs {
		var row []any
		var reason string
		var err error
		if t.Kind == KindState {
			if r.Value == nil {
				continue
			}
			row, reason, err = refStateRow(t, r, now)
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

func refStateRow(t Table, r *kgo.Record, now time.Time) ([]any, string, error) {
	var v state.Value
	// The record's value is not changed while its rows are in use: no copies.
	if err := v.UnmarshalBinaryShared(r.Value); err != nil {
		return nil, ReasonBadValue, err
	}
	key := string(r.Key)
	parts, err := state.DecodeKey(key)
	if err != nil {
		return nil, ReasonBadKey, err
	}
	if len(parts) != len(t.KeyColumns) {
		return nil, ReasonBadKey, fmt.Errorf("item key %s has %d values, the table %d key attributes", key, len(parts), len(t.KeyColumns))
	}
	row := make([]any, 0, len(t.KeyColumns)+len(t.Fixed)+len(t.Projected))
	for _, p := range parts {
		switch p := p.(type) {
		case json.Number:
			row = append(row, string(p))
		default:
			row = append(row, p)
		}
	}
	var doc any
	if !v.Deleted && v.Item != nil {
		doc = v.Item
	}
	var created any
	if v.Version.CreatedAt != 0 || v.Version.Seq != "" {
		created = v.Version.CreatedTime()
	}
	row = append(row, key, doc, v.Deleted, refVersionKey(v.Version), v.Version.Seq, created, now)
	if len(t.Projected) == 0 {
		return row, "", nil
	}
	if doc != nil && refIsObject(v.Item) {
		// The common case, without decoding the whole item: same results as below.
		for _, c := range t.Projected {
			val, err := refExtractRaw(v.Item, c.Path, c.Source)
			if err != nil {
				return nil, ReasonBadColumn, fmt.Errorf("column %s (path %s): %w", c.Name, c.Path, err)
			}
			row = append(row, val)
		}
		return row, "", nil
	}
	var item map[string]any
	if doc != nil {
		dec := json.NewDecoder(bytes.NewReader(v.Item))
		dec.UseNumber()
		if err := dec.Decode(&item); err != nil {
			return nil, ReasonBadValue, fmt.Errorf("item is not a JSON object: %w", err)
		}
	}
	for _, c := range t.Projected {
		if item == nil {
			row = append(row, nil)
			continue
		}
		val, err := refExtract(item, c.Path, c.Source)
		if err != nil {
			return nil, ReasonBadColumn, fmt.Errorf("column %s (path %s): %w", c.Name, c.Path, err)
		}
		row = append(row, val)
	}
	return row, "", nil
}

func refExtract(item map[string]any, path, typ string) (any, error) {
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
	return refConvert(cur, typ)
}

func refConvert(cur any, typ string) (any, error) {
	if cur == nil {
		return nil, nil
	}
	switch typ {
	case "string", "":
		if s, ok := cur.(string); ok {
			return s, nil
		}
	case "int":
		if n, ok := cur.(json.Number); ok {
			if i, err := strconv.ParseInt(string(n), 10, 64); err == nil {
				return i, nil
			}
			f, err := strconv.ParseFloat(string(n), 64)
			if err == nil && f == math.Trunc(f) && f >= -(1<<63) && f < 1<<63 {
				return int64(f), nil
			}
			return nil, fmt.Errorf("%s is not an integer within 64 bits", n)
		}
	case "float":
		if n, ok := cur.(json.Number); ok {
			f, err := strconv.ParseFloat(string(n), 64)
			if err != nil {
				return nil, fmt.Errorf("%s does not fit a double", n)
			}
			return f, nil
		}
	case "bool":
		if b, ok := cur.(bool); ok {
			return b, nil
		}
	case "timestamp":
		switch x := cur.(type) {
		case string:
			ts, err := time.Parse(time.RFC3339Nano, x)
			if err != nil {
				return nil, fmt.Errorf("%q is not an RFC 3339 time", x)
			}
			if ts.Year() < 1 || ts.Year() > 9999 {
				return nil, fmt.Errorf("%q is out of range", x)
			}
			return ts.UTC(), nil
		case json.Number:
			f, err := strconv.ParseFloat(string(x), 64)
			if err != nil || math.Abs(f) > 253402300799 {
				return nil, fmt.Errorf("%s is not a time in epoch seconds", x)
			}
			sec, frac := math.Modf(f)
			return time.Unix(int64(sec), int64(math.Round(frac*1e6))*1e3).UTC(), nil
		}
	case "json":
		b, err := json.Marshal(cur)
		if err != nil {
			return nil, err
		}
		return b, nil
	default:
		return nil, fmt.Errorf("unknown column type %q", typ)
	}
	return nil, fmt.Errorf("a JSON %s is not a %s", refJsonKind(cur), typ)
}

func refJsonKind(v any) string {
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

func refIsObject(doc []byte) bool {
	i := refSkipSpace(doc, 0)
	return i < len(doc) && doc[i] == '{' && json.Valid(doc)
}

func refExtractRaw(doc []byte, path, typ string) (any, error) {
	cur := doc
	for rest := path; ; {
		seg := rest
		dot := strings.IndexByte(rest, '.')
		if dot >= 0 {
			seg = rest[:dot]
		}
		i := refSkipSpace(cur, 0)
		if cur[i] != '{' {
			return nil, nil // not an object: the path is missing
		}
		v, ok := refMember(cur, seg)
		if !ok {
			return nil, nil
		}
		cur = v
		if dot < 0 {
			break
		}
		rest = rest[dot+1:]
	}
	var val any
	switch c := cur[0]; {
	case c == 'n':
		return nil, nil
	case c == 't' || c == 'f':
		val = c == 't'
	case c == '"':
		if s, ok := refPlainString(cur); ok {
			val = s
			break
		}
		var s string
		if err := json.Unmarshal(cur, &s); err != nil {
			return nil, err
		}
		val = s
	case c == '{' || c == '[':
		dec := json.NewDecoder(bytes.NewReader(cur))
		dec.UseNumber()
		if err := dec.Decode(&val); err != nil {
			return nil, err
		}
	default:
		val = json.Number(cur)
	}
	return refConvert(val, typ)
}

func refMember(doc []byte, name string) (val []byte, found bool) {
	i := refSkipSpace(doc, 0) + 1 // past '{'
	for {
		i = refSkipSpace(doc, i)
		if doc[i] == '}' {
			return val, found
		}
		if doc[i] == ',' {
			i = refSkipSpace(doc, i+1)
		}
		kEnd := refSkipString(doc, i)
		key := doc[i:kEnd]
		i = refSkipSpace(doc, kEnd)
		i = refSkipSpace(doc, i+1) // past ':'
		vEnd := refSkipValue(doc, i)
		if refKeyIs(key, name) {
			val, found = doc[i:vEnd], true
		}
		i = vEnd
	}
}

func refKeyIs(quoted []byte, name string) bool {
	if s, ok := refPlainString(quoted); ok {
		return s == name
	}
	var s string
	return json.Unmarshal(quoted, &s) == nil && s == name
}

func refPlainString(quoted []byte) (string, bool) {
	in := quoted[1 : len(quoted)-1]
	ascii := true
	for _, c := range in {
		if c == '\\' {
			return "", false
		}
		if c >= utf8.RuneSelf {
			ascii = false
		}
	}
	if !ascii && !utf8.Valid(in) {
		return "", false
	}
	return string(in), true
}

func refSkipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

func refSkipString(b []byte, i int) int {
	for i++; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return i
}

func refSkipValue(b []byte, i int) int {
	switch b[i] {
	case '"':
		return refSkipString(b, i)
	case '{', '[':
		depth := 0
		for ; i < len(b); i++ {
			switch b[i] {
			case '"':
				i = refSkipString(b, i) - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			}
		}
		return i
	}
	for ; i < len(b); i++ {
		switch b[i] {
		case ',', '}', ']', ' ', '\t', '\n', '\r':
			return i
		}
	}
	return i
}

func refVersionKey(v state.Version) string {
	b := make([]byte, 0, 96+len(v.Stream)+2*len(v.Attr))
	b = refAppendAttrKey(b, v)
	b = append(b, '~')
	ms := max(v.CreatedAt, 0)
	b = refAppendPadded(b, strconv.FormatInt(ms, 10), 19)
	b = append(b, '~')
	seq := strings.TrimLeft(v.Seq, "0")
	b = refAppendPadded(b, seq, 48)
	b = append(b, '~')
	b = append(b, v.Stream...)
	return string(b)
}

func refAppendPadded(b []byte, s string, width int) []byte {
	for i := len(s); i < width; i++ {
		b = append(b, '0')
	}
	return append(b, s...)
}

func refAppendAttrKey(b []byte, v state.Version) []byte {
	if !v.HasAttr || v.Attr == "" {
		return append(b, '0')
	}
	if v.Attr[0] == '"' {
		var s string
		if err := json.Unmarshal([]byte(v.Attr), &s); err != nil {
			s = strings.TrimSuffix(strings.TrimPrefix(v.Attr, `"`), `"`)
		}
		if sec, frac, ok := state.RFC3339Instant(s); ok {
			b = append(b, 't')
			b = refAppendPadded(b, strconv.FormatInt(min(max(sec+instantBias, 0), maxInstant), 10), 12)
			b = append(b, frac...)
			return append(b, '.')
		}
		b = append(b, 's')
		b = hex.AppendEncode(b, []byte(s))
		return append(b, '.')
	}
	neg, digits, exp, ok := refDecimalParts(v.Attr)
	if !ok {
		// Not a number: state.CompareDecimal sorts it before every number.
		return append(b, '0')
	}
	if digits == "" {
		return append(b, '2')
	}
	e := min(max(exp+expBias, 0), 2*expBias-1)
	es := strconv.Itoa(e)
	if !neg {
		b = append(b, '3')
		b = refAppendPadded(b, es, 4)
		b = append(b, digits...)
		return append(b, '.')
	}
	b = append(b, '1')
	b = refAppendPadded(b, strconv.Itoa(2*expBias-1-e), 4)
	for i := 0; i < len(digits); i++ {
		b = append(b, '9'-(digits[i]-'0'))
	}
	return append(b, 'z')
}

func refDecimalParts(s string) (neg bool, digits string, exp int, ok bool) {
	i := 0
	if i < len(s) && (s[i] == '-' || s[i] == '+') {
		neg = s[i] == '-'
		i++
	}
	var ds []byte
	intDigits := 0
	seen := false
	for ; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
		ds = append(ds, s[i])
		intDigits++
		seen = true
	}
	if i < len(s) && s[i] == '.' {
		i++
		for ; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
			ds = append(ds, s[i])
			seen = true
		}
	}
	if !seen {
		return false, "", 0, false
	}
	e := 0
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		eneg := false
		if i < len(s) && (s[i] == '-' || s[i] == '+') {
			eneg = s[i] == '-'
			i++
		}
		d0 := i
		for ; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
			if e < 1<<30 {
				e = e*10 + int(s[i]-'0')
			}
		}
		if i == d0 {
			return false, "", 0, false
		}
		if eneg {
			e = -e
		}
	}
	if i != len(s) {
		return false, "", 0, false
	}
	lead := 0
	for lead < len(ds) && ds[lead] == '0' {
		lead++
	}
	if lead == len(ds) {
		return neg, "", 0, true
	}
	end := len(ds)
	for ds[end-1] == '0' {
		end--
	}
	return neg, string(ds[lead:end]), intDigits - lead + e, true
}
