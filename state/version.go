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
	// is its base64 string, never taken for a date-time as base64 has no ':'). It comes
	// from NewImage, or OldImage for a REMOVE. Only S, N and B values count; any other
	// type is treated as absent.
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
//     decimals) or both strings; different kinds skip this rule, and equal values fall
//     through. Strings order by (class, value): any other string before every RFC 3339
//     date-time (see [RFC3339Instant]), other strings among themselves bytewise, date-times
//     by their instant, so "…:24.1Z" < "…:24.12Z" and "…T14:00:00+01:00" = "…T13:00:00Z";
//  2. within one stream, the SequenceNumber as an unbounded decimal integer;
//  3. across streams, CreatedAt, then the SequenceNumber, then the stream name.
//
// 0 means the same change (a duplicate delivery). The last rule is not in DESIGN.md: it
// only breaks ties between two different streams' changes with equal time and sequence
// number, so every processor keeps the same one whatever the arrival order.
//
// Date-times and other strings are ordered rather than skipped like a number meets a
// string: a skipped rule is not transitive (a time, a non-time and an older time with
// ascending sequence numbers would form a cycle, and a replay of the first could then
// overwrite the last), while a string attribute has always been totally ordered. A
// date-time wins over any other string so one malformed value cannot freeze an item
// against every later, well-formed one; it also makes warehouse keys written before
// date-times had their own order ("s…") sort below the new ones ("t…").
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

// compareJSONStrings compares two JSON string literals by their decoded contents.
func compareJSONStrings(a, b string) int {
	ca, cb := strings.TrimPrefix(a, `"`), strings.TrimPrefix(b, `"`)
	ca, cb = strings.TrimSuffix(ca, `"`), strings.TrimSuffix(cb, `"`)
	if strings.Contains(ca, `\`) {
		ca = decodeJSONString(ca)
	}
	if strings.Contains(cb, `\`) {
		cb = decodeJSONString(cb)
	}
	return CompareStrings(ca, cb)
}

// CompareStrings is the version order of two decoded string attributes: other strings
// bytewise, before RFC 3339 date-times, which compare by instant. The warehouse's
// version key mirrors it.
func CompareStrings(a, b string) int {
	sa, fa, ta := RFC3339Instant(a)
	sb, fb, tb := RFC3339Instant(b)
	switch {
	case ta && tb:
		if c := cmpInt(sa, sb); c != 0 {
			return c
		}
		// Trailing zeros are gone, so digit strings compare as fractions do.
		return strings.Compare(fa, fb)
	case ta:
		return 1
	case tb:
		return -1
	}
	return strings.Compare(a, b)
}

// RFC3339Instant parses s as an RFC 3339 date-time (section 5.6): YYYY-MM-DDThh:mm:ss,
// an optional fraction of any width, then Z or ±hh:mm. It returns the instant as whole
// seconds since the Unix epoch and the fraction's digits without trailing zeros ("" for
// none), so two spellings of one instant ("…T14:00:00.50+01:00", "…T13:00:00.5Z") give
// the same result. 't', 'z' and a space for 'T' are accepted, as the RFC allows; second
// 60 (a leap second) is the same instant as second 0 of the next minute. Anything else,
// including a local time without offset, is not a date-time.
//
// The processor calls it for every string attribute it compares, so it rejects
// non-date-times within a few byte tests and never allocates; time.Parse would do both
// less strictly (it takes ',' for '.') and more slowly.
func RFC3339Instant(s string) (sec int64, frac string, ok bool) {
	if len(s) < 20 || s[4] != '-' || s[7] != '-' || s[13] != ':' || s[16] != ':' {
		return 0, "", false
	}
	if t := s[10]; t != 'T' && t != 't' && t != ' ' {
		return 0, "", false
	}
	year, ok1 := digits(s, 0, 4)
	month, ok2 := digits(s, 5, 2)
	day, ok3 := digits(s, 8, 2)
	hour, ok4 := digits(s, 11, 2)
	minute, ok5 := digits(s, 14, 2)
	second, ok6 := digits(s, 17, 2)
	if !ok1 || !ok2 || !ok3 || !ok4 || !ok5 || !ok6 ||
		month < 1 || month > 12 || day < 1 || day > daysIn(year, month) ||
		hour > 23 || minute > 59 || second > 60 {
		return 0, "", false
	}
	i := 19
	if s[i] == '.' {
		j := i + 1
		for j < len(s) && isDigit(s[j]) {
			j++
		}
		if j == i+1 {
			return 0, "", false
		}
		frac = strings.TrimRight(s[i+1:j], "0")
		i = j
	}
	var offset int64
	switch {
	case i == len(s)-1 && (s[i] == 'Z' || s[i] == 'z'):
	case i == len(s)-6 && (s[i] == '+' || s[i] == '-') && s[i+3] == ':':
		oh, okh := digits(s, i+1, 2)
		om, okm := digits(s, i+4, 2)
		if !okh || !okm || oh > 23 || om > 59 {
			return 0, "", false
		}
		offset = int64(oh*3600 + om*60)
		if s[i] == '-' {
			offset = -offset
		}
	default:
		return 0, "", false
	}
	sec = daysFromCivil(year, month, day)*86400 + int64(hour*3600+minute*60+second) - offset
	return sec, frac, true
}

// digits reads s[i:i+n] as a decimal number.
func digits(s string, i, n int) (int, bool) {
	v := 0
	for j := i; j < i+n; j++ {
		d := s[j] - '0'
		if d > 9 {
			return 0, false
		}
		v = v*10 + int(d)
	}
	return v, true
}

func daysIn(year, month int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// daysFromCivil is the number of days from 1970-01-01 to the given proleptic Gregorian
// date (Howard Hinnant's algorithm); time.Date would also normalise invalid dates, which
// RFC3339Instant has already refused.
func daysFromCivil(year, month, day int) int64 {
	y := int64(year)
	if month <= 2 {
		y--
	}
	era := y / 400
	if y < 0 && y%400 != 0 {
		era--
	}
	yoe := y - era*400
	m := int64(month)
	if m > 2 {
		m -= 3
	} else {
		m += 9
	}
	doy := (153*m+2)/5 + int64(day) - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return era*146097 + doe - 719468
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
