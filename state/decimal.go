package state

import (
	"math"
	"strings"
)

// DynamoDB numbers travel as decimal strings of up to 38 significant digits, more than a
// float64 holds (and sequence numbers exceed 64 bits), so this file works on the digits
// themselves and never converts to a binary number.

// numParts locates the pieces of a DynamoDB number: [+-] digits [. digits] [eE [+-] digits],
// where either the integer or the fraction digits may be missing (".5", "5.") but not both.
type numParts struct {
	neg      bool
	plus     bool  // an explicit '+' sign, which JSON does not allow
	ip0, ip1 int   // integer digits s[ip0:ip1]
	fp0, fp1 int   // fraction digits s[fp0:fp1]
	dot      bool  // a decimal point was written
	e0       int   // index of the exponent marker, len(s) when there is none
	exp      int64 // exponent value, clamped to ±maxExp so absurd exponents cannot overflow
}

const maxExp = 1 << 40

func scanNum[T string | []byte](s T) (p numParts, ok bool) {
	i := 0
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		p.neg, p.plus = s[i] == '-', s[i] == '+'
		i++
	}
	p.ip0 = i
	for i < len(s) && isDigit(s[i]) {
		i++
	}
	p.ip1, p.fp0, p.fp1 = i, i, i
	if i < len(s) && s[i] == '.' {
		p.dot = true
		i++
		p.fp0 = i
		for i < len(s) && isDigit(s[i]) {
			i++
		}
		p.fp1 = i
	}
	if p.ip1 == p.ip0 && p.fp1 == p.fp0 {
		return p, false
	}
	p.e0 = i
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		eneg := false
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			eneg = s[i] == '-'
			i++
		}
		d0 := i
		for i < len(s) && isDigit(s[i]) {
			if p.exp < maxExp {
				p.exp = p.exp*10 + int64(s[i]-'0')
			}
			i++
		}
		if i == d0 {
			return p, false
		}
		p.exp = min(p.exp, maxExp)
		if eneg {
			p.exp = -p.exp
		}
	}
	return p, i == len(s)
}

// isJSON reports whether the number as written is already a valid JSON number.
func isJSONNumber[T string | []byte](s T, p *numParts) bool {
	ip := p.ip1 - p.ip0
	return !p.plus && ip > 0 && (ip == 1 || s[p.ip0] != '0') && (!p.dot || p.fp1 > p.fp0)
}

// isJSONNumberText reports whether s is exactly one JSON number.
func isJSONNumberText[T string | []byte](s T) bool {
	p, ok := scanNum(s)
	return ok && isJSONNumber(s, &p)
}

// appendPlainNumber appends a DynamoDB number as a JSON number with the same digits:
// "1.50" stays "1.50", and only what JSON forbids is rewritten ("+1" → "1", ".5" → "0.5",
// "5." → "5", "007" → "7"). The value never changes.
func appendPlainNumber[T string | []byte](dst []byte, s T) ([]byte, bool) {
	p, ok := scanNum(s)
	if !ok {
		return dst, false
	}
	if isJSONNumber(s, &p) {
		return append(dst, s...), true
	}
	if p.neg {
		dst = append(dst, '-')
	}
	ip := s[p.ip0:p.ip1]
	for len(ip) > 1 && ip[0] == '0' {
		ip = ip[1:]
	}
	if len(ip) == 0 {
		dst = append(dst, '0')
	}
	dst = append(dst, ip...)
	if p.fp1 > p.fp0 {
		dst = append(dst, '.')
		dst = append(dst, s[p.fp0:p.fp1]...)
	}
	return append(dst, s[p.e0:]...), true
}

// decimal is a number as 0.DIGITS × 10^pos, where DIGITS are the significant digits: the
// integer digits followed by the fraction digits, indexes lo..hi with leading and trailing
// zeros cut off. It points into the original string instead of copying it.
type decimal struct {
	zero   bool
	neg    bool
	lo, hi int
	pos    int64
	ip     int // number of integer digits, where the fraction starts in DIGITS
	p      numParts
}

func toDecimal[T string | []byte](s T, p numParts) decimal {
	d := decimal{neg: p.neg, ip: p.ip1 - p.ip0, p: p}
	n := d.ip + p.fp1 - p.fp0
	d.lo = 0
	for d.lo < n && digitAt(s, &d, d.lo) == '0' {
		d.lo++
	}
	if d.lo == n {
		d.zero = true
		return d
	}
	d.hi = n
	for digitAt(s, &d, d.hi-1) == '0' {
		d.hi--
	}
	d.pos = int64(d.ip-d.lo) + p.exp
	return d
}

func digitAt[T string | []byte](s T, d *decimal, k int) byte {
	if k < d.ip {
		return s[d.p.ip0+k]
	}
	return s[d.p.fp0+k-d.ip]
}

func (d *decimal) sign() int {
	switch {
	case d.zero:
		return 0
	case d.neg:
		return -1
	}
	return 1
}

func compareDecimals(a string, da decimal, b string, db decimal) int {
	sa, sb := da.sign(), db.sign()
	if sa != sb || sa == 0 {
		return cmpInt(sa, sb)
	}
	// Same sign, both non-zero: compare magnitudes, then flip for negatives.
	m := 0
	if da.pos != db.pos {
		m = cmpInt(da.pos, db.pos)
	} else {
		i, j := da.lo, db.lo
		for ; i < da.hi && j < db.hi; i, j = i+1, j+1 {
			if x, y := digitAt(a, &da, i), digitAt(b, &db, j); x != y {
				m = cmpInt(x, y)
				break
			}
		}
		if m == 0 {
			// The longer digit string is larger: its remaining digits end in a non-zero.
			m = cmpInt(da.hi-i, db.hi-j)
		}
	}
	return m * sa
}

func cmpInt[T int | int64 | uint64 | byte](a, b T) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// CompareDecimal compares two decimal numbers exactly and returns -1, 0 or +1: any length,
// sign, fraction or exponent ("-1.5" < "2", "10" > "9", "1.50" == "1.5", "1e2" == "100",
// "-0" == "0"). It accepts the DynamoDB number syntax. It is a total order on all strings:
// a string that is not a number sorts before every number, and two such strings compare
// bytewise.
func CompareDecimal(a, b string) int {
	pa, oka := scanNum(a)
	pb, okb := scanNum(b)
	switch {
	case !oka && !okb:
		return strings.Compare(a, b)
	case !oka:
		return -1
	case !okb:
		return 1
	}
	return compareDecimals(a, toDecimal(a, pa), b, toDecimal(b, pb))
}

// maxKeyPos bounds the decimal exponent of a key number. DynamoDB numbers lie between
// 1e-130 and 9.99e125; the bound leaves room and stops "1e999999999" from being spelled
// out as a billion zeros.
const maxKeyPos = 1000

// appendCanonicalNumber appends the one spelling of a number that DynamoDB treats as the
// same key: plain notation without exponent, no leading zeros, no trailing fraction
// zeros, "-0" → "0" ("01", "1.0", "1e0" and "10e-1" all become "1").
func appendCanonicalNumber[T string | []byte](dst []byte, s T) ([]byte, bool) {
	p, ok := scanNum(s)
	if !ok {
		return dst, false
	}
	d := toDecimal(s, p)
	if d.zero {
		return append(dst, '0'), true
	}
	if d.pos > maxKeyPos || d.pos < -maxKeyPos {
		return dst, false
	}
	if d.neg {
		dst = append(dst, '-')
	}
	n := int64(d.hi - d.lo)
	if d.pos <= 0 {
		dst = append(dst, '0', '.')
		for range -d.pos {
			dst = append(dst, '0')
		}
	}
	for k := d.lo; k < d.hi; k++ {
		if int64(k-d.lo) == d.pos && d.pos > 0 {
			dst = append(dst, '.')
		}
		dst = append(dst, digitAt(s, &d, k))
	}
	for i := n; i < d.pos; i++ {
		dst = append(dst, '0')
	}
	return dst, true
}

// epochMillis converts ApproximateCreationDateTime (epoch seconds, maybe with a fraction
// or an exponent, e.g. 1767225600.123 or 1.7672256E9) to milliseconds, truncating finer
// digits toward zero.
func epochMillis[T string | []byte](s T) (int64, bool) {
	p, ok := scanNum(s)
	if !ok {
		return 0, false
	}
	d := toDecimal(s, p)
	if d.zero {
		return 0, true
	}
	k := d.pos + 3 // integer digits of the value in milliseconds
	if k <= 0 {
		return 0, true
	}
	if k > 19 {
		return 0, false
	}
	var v uint64
	for i := int64(0); i < k; i++ {
		c := byte('0')
		if j := d.lo + int(i); j < d.hi {
			c = digitAt(s, &d, j)
		}
		v = v*10 + uint64(c-'0')
	}
	if v > math.MaxInt64 {
		return 0, false
	}
	if d.neg {
		return -int64(v), true
	}
	return int64(v), true
}

// isDigits reports whether s is a non-empty string of decimal digits.
func isDigits[T string | []byte](s T) bool {
	if len(s) == 0 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return false
		}
	}
	return true
}

// compareUint compares two strings of decimal digits as unbounded integers: DynamoDB
// sequence numbers run past 2^64. Leading zeros do not count. On strings that are not
// digits it still gives a total order (length, then bytes).
func compareUint(a, b string) int {
	a = strings.TrimLeft(a, "0")
	b = strings.TrimLeft(b, "0")
	if len(a) != len(b) {
		return cmpInt(len(a), len(b))
	}
	return strings.Compare(a, b)
}
