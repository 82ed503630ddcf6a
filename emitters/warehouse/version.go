package warehouse

import (
	"encoding/json"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/streamhub/streamhub/state"
)

// VersionKey encodes a version as text whose bytewise order is the version order, so a
// warehouse compares versions with a plain text comparison (version_key is COLLATE "C" on
// PostgreSQL; Redshift and Snowflake compare VARCHAR bytewise by default). It uses only
// ASCII letters, digits, '.' and '~' besides the stream name. The parts, each
// self-delimiting, then '~' between them:
//
//  1. the version attribute: "0" when absent (it sorts lowest); a number as its sign
//     class — "1" negative, "2" zero, "3" positive — then, for non-zero numbers, the
//     decimal exponent as 4 digits biased by 5000 and the significant digits, followed
//     by '.'; a negative number writes the nines' complement of the exponent and digits
//     and ends with 'z' instead, so bigger magnitudes sort lower (-1.5 = 0.15e1 → "1499884z");
//     a string as "s", the hex of its decoded bytes, then '.' (".", below every hex
//     digit, ends a shorter string first); an RFC 3339 date-time (state.RFC3339Instant)
//     as "t", its Unix seconds plus 62167305600 (a day before 0000-01-01, below any
//     offset) as 12 digits, the fraction's digits without trailing zeros, then '.', so
//     date-times sort after every other string and by instant among themselves, as
//     state.CompareStrings orders them ("…T14:00:00.50+01:00" and "…T13:00:00.5Z" give
//     one key);
//  2. ApproximateCreationDateTime as 19-digit zero-padded milliseconds (times before
//     1970 are written as 0);
//  3. the SequenceNumber without leading zeros, zero-padded to 48 digits (AWS's have at
//     most 40);
//  4. the stream (eventSourceARN), as the last tie-break of state.Compare.
//
// Agreement with state.Compare: within one stream, for versions that all carry the
// attribute as numbers, or all as strings (date-times or not), or none of them carries
// it, and whose creation times do not decrease as sequence numbers grow (AWS writes them so), the key
// order is state.Compare's. Across streams it orders by the attribute, then creation
// time, then sequence number, as DESIGN.md says. Where state.Compare skips the attribute
// (one change lacks it, or a number meets a string), the key still orders by it: an
// absent attribute lowest, numbers before strings. Exponents beyond ±4999 (DynamoDB
// numbers stay within ±130) are clamped.
func VersionKey(v state.Version) string {
	return string(appendVersionKey(make([]byte, 0, 96+len(v.Stream)+2*len(v.Attr)), v))
}

// appendVersionKey appends VersionKey(v) to b.
func appendVersionKey(b []byte, v state.Version) []byte {
	b = appendAttrKey(b, v)
	b = append(b, '~')
	var digits [20]byte
	b = appendPadded(b, strconv.AppendInt(digits[:0], max(v.CreatedAt, 0), 10), 19)
	b = append(b, '~')
	seq := strings.TrimLeft(v.Seq, "0")
	b = appendPadded(b, seq, 48)
	b = append(b, '~')
	return append(b, v.Stream...)
}

func appendPadded[S string | []byte](b []byte, s S, width int) []byte {
	for i := len(s); i < width; i++ {
		b = append(b, '0')
	}
	return append(b, s...)
}

const expBias = 5000

// instantBias makes the earliest RFC 3339 instant, 0000-01-01T00:00:00+23:59, non-negative;
// the latest, 9999-12-31T23:59:60-23:59, then stays within 12 digits, so fixed-width
// digits compare as the instants do.
const (
	instantBias = 62167219200 + 86400
	maxInstant  = 999999999999
)

func appendAttrKey(b []byte, v state.Version) []byte {
	if !v.HasAttr || v.Attr == "" {
		return append(b, '0')
	}
	if v.Attr[0] == '"' {
		s, ok := plainQuoted(v.Attr)
		if !ok {
			if err := json.Unmarshal([]byte(v.Attr), &s); err != nil {
				s = strings.TrimSuffix(strings.TrimPrefix(v.Attr, `"`), `"`)
			}
		}
		if sec, frac, ok := state.RFC3339Instant(s); ok {
			b = append(b, 't')
			b = appendPadded(b, strconv.FormatInt(min(max(sec+instantBias, 0), maxInstant), 10), 12)
			b = append(b, frac...)
			return append(b, '.')
		}
		b = append(b, 's')
		for i := 0; i < len(s); i++ {
			b = append(b, hexDigits[s[i]>>4], hexDigits[s[i]&15])
		}
		return append(b, '.')
	}
	neg, digits, exp, ok := decimalParts(v.Attr)
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
		b = appendPadded(b, es, 4)
		b = append(b, digits...)
		return append(b, '.')
	}
	b = append(b, '1')
	b = appendPadded(b, strconv.Itoa(2*expBias-1-e), 4)
	for i := 0; i < len(digits); i++ {
		b = append(b, '9'-(digits[i]-'0'))
	}
	return append(b, 'z')
}

const hexDigits = "0123456789abcdef"

// plainQuoted is the content of a quoted string of at least two bytes without
// backslashes and of valid UTF-8: what json.Unmarshal gives when it is valid JSON, and
// what trimming the quotes gives when it is not (a control character or an inner quote
// makes it invalid), so appendAttrKey takes it as it is.
func plainQuoted(q string) (string, bool) {
	if len(q) < 2 || q[0] != '"' || q[len(q)-1] != '"' {
		return "", false
	}
	in := q[1 : len(q)-1]
	if strings.IndexByte(in, '\\') >= 0 || !utf8.ValidString(in) {
		return "", false
	}
	return in, true
}

// decimalParts splits a JSON/DynamoDB number into its sign, significant digits (no
// leading or trailing zeros; empty for zero) and exponent: the value is
// 0.<digits> × 10^exp.
func decimalParts(s string) (neg bool, digits string, exp int, ok bool) {
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
