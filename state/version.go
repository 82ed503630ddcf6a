package state

import (
	"strconv"
	"strings"
	"time"
)

// Version is the position of a change in the version order (DESIGN.md, "Idempotent CDC:
// the version order").
type Version struct {
	// Attr is the configured version attribute's value as plain JSON: a number with its
	// exact digits (1767225600123) or a JSON string ("2026-01-01T00:00:00.000Z"; a B value
	// is its base64 string). It comes from NewImage, or OldImage for a REMOVE. Only S, N
	// and B values count; any other type is treated as absent.
	Attr string
	// HasAttr is set when the change carries the version attribute.
	HasAttr bool
	// Seq is the SequenceNumber: decimal digits, often more than 64 bits' worth.
	Seq string
	// Stream identifies the stream: the record's eventSourceARN. A re-created table or a
	// global-table replica has another stream, whose sequence numbers are unrelated.
	Stream string
	// CreatedAt is ApproximateCreationDateTime in milliseconds since the Unix epoch.
	CreatedAt int64
}

// CreatedTime is CreatedAt as a time.Time in UTC.
func (v Version) CreatedTime() time.Time { return time.UnixMilli(v.CreatedAt).UTC() }

// String renders the version for logs.
func (v Version) String() string {
	var b strings.Builder
	if v.HasAttr {
		b.WriteString("attr=" + v.Attr + " ")
	}
	b.WriteString("seq=" + v.Seq + " created=" + strconv.FormatInt(v.CreatedAt, 10) + " stream=" + v.Stream)
	return b.String()
}

// Compare orders two changes of one item and returns -1, 0 or +1. Rules, in order:
//
//  1. the version attribute, when both carry it and both are numbers (compared as exact
//     decimals) or both strings (compared bytewise); different kinds skip this rule, and
//     equal values fall through;
//  2. within one stream, the SequenceNumber as an unbounded decimal integer;
//  3. across streams, CreatedAt, then the SequenceNumber, then the stream name.
//
// 0 means the same change (a duplicate delivery). The last rule is not in DESIGN.md: it
// only breaks ties between two different streams' changes with equal time and sequence
// number, so every processor keeps the same one whatever the arrival order.
func Compare(a, b Version) int {
	if a.HasAttr && b.HasAttr {
		if c := compareAttr(a.Attr, b.Attr); c != 0 {
			return c
		}
	}
	if a.Stream == b.Stream {
		return compareUint(a.Seq, b.Seq)
	}
	if c := cmpInt(a.CreatedAt, b.CreatedAt); c != 0 {
		return c
	}
	if c := compareUint(a.Seq, b.Seq); c != 0 {
		return c
	}
	return strings.Compare(a.Stream, b.Stream)
}

// compareAttr compares two version attributes in plain JSON; 0 when they are equal or of
// different kinds (a number and a string do not order each other).
func compareAttr(a, b string) int {
	sa, sb := strings.HasPrefix(a, `"`), strings.HasPrefix(b, `"`)
	switch {
	case sa != sb:
		return 0
	case sa:
		return compareJSONStrings(a, b)
	}
	return CompareDecimal(a, b)
}

// compareJSONStrings compares two JSON string literals by their decoded bytes.
func compareJSONStrings(a, b string) int {
	ca, cb := strings.TrimPrefix(a, `"`), strings.TrimPrefix(b, `"`)
	ca, cb = strings.TrimSuffix(ca, `"`), strings.TrimSuffix(cb, `"`)
	if !strings.Contains(ca, `\`) && !strings.Contains(cb, `\`) {
		return strings.Compare(ca, cb)
	}
	return strings.Compare(decodeJSONString(ca), decodeJSONString(cb))
}

// decodeJSONString decodes string content that may not have come from our lexer (a
// Version built by hand), so it checks each escape before decoding.
func decodeJSONString(s string) string {
	var b []byte
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) && validEscape(s[i:]) {
			n := 2
			if s[i+1] == 'u' {
				n = 6
				// A surrogate pair is two escapes; decode them together.
				if i+12 <= len(s) && s[i+6] == '\\' && s[i+7] == 'u' && validEscape(s[i+6:]) {
					n = 12
				}
			}
			b = unescape(b, []byte(s[i:i+n]))
			i += n - 1
			continue
		}
		b = append(b, s[i])
	}
	return string(b)
}
