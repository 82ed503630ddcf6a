package state

import (
	"encoding/binary"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/streamhub/streamhub/internal/jsonstr"
)

// maxDepth bounds nesting. DynamoDB allows 32 levels of nested attributes; each level is
// two JSON objects ({"M":{...}}), and the record adds a few more. A deeper document is
// hostile or broken, and the bound keeps recursion shallow on any input.
const maxDepth = 80

// strSafe marks the bytes that may appear unescaped inside a JSON string and need no
// further thought: printable ASCII other than the quote and the backslash.
var strSafe = jsonstr.Safe

// lexer is a small JSON scanner over one document. It validates as it goes (string
// escapes, UTF-8, number grammar, structure) and never allocates on success: strings come
// back as slices of the input plus a flag saying whether they hold escapes. encoding/json
// costs several microseconds and many allocations per record; this is the reason the hot
// path can stay in the low microseconds.
type lexer struct {
	b []byte
	i int
}

// syntax is the error for malformed JSON at the current offset.
func (l *lexer) syntax(what string) *InvalidError {
	d := "offset " + strconv.Itoa(l.i) + ": " + what
	if l.i < len(l.b) {
		d += ", found " + strconv.QuoteRuneToASCII(rune(l.b[l.i]))
	} else {
		d += ", found end of input"
	}
	return invalid(ReasonBadJSON, "", d)
}

func (l *lexer) ws() {
	for l.i < len(l.b) {
		switch l.b[l.i] {
		case ' ', '\t', '\n', '\r':
			l.i++
		default:
			return
		}
	}
}

// peek returns the next non-space byte without consuming it, or 0 at the end. Records are
// mostly compact JSON, so it looks at the current byte before it looks for white space:
// the parser peeks several times per token, and this keeps each peek to one comparison.
func (l *lexer) peek() byte {
	if l.i < len(l.b) && l.b[l.i] > ' ' {
		return l.b[l.i]
	}
	l.ws()
	if l.i < len(l.b) {
		return l.b[l.i]
	}
	return 0
}

func (l *lexer) expect(c byte) error {
	if l.i < len(l.b) && l.b[l.i] == c {
		l.i++
		return nil
	}
	return l.expectSlow(c)
}

func (l *lexer) expectSlow(c byte) error {
	if l.peek() != c {
		return l.syntax("expected " + strconv.QuoteRune(rune(c)))
	}
	l.i++
	return nil
}

// end checks that only white space follows the document.
func (l *lexer) end() error {
	l.ws()
	if l.i != len(l.b) {
		return l.syntax("unexpected data after the JSON value")
	}
	return nil
}

// The structural helpers below test the current byte first, which in compact JSON is the
// byte they want, and leave white space and errors to a slow path: the parser calls them
// for every token, and skipping white space and building errors inline cost more than the
// token itself.

// objectStart consumes '{' and reports whether the object is empty (consuming its '}').
func (l *lexer) objectStart() (empty bool, err error) {
	if l.i+1 < len(l.b) && l.b[l.i] == '{' && l.b[l.i+1] > ' ' {
		l.i++
		if l.b[l.i] == '}' {
			l.i++
			return true, nil
		}
		return false, nil
	}
	return l.openSlow('{', '}')
}

// arrayStart consumes '[' and reports whether the array is empty (consuming its ']').
func (l *lexer) arrayStart() (empty bool, err error) {
	if l.i+1 < len(l.b) && l.b[l.i] == '[' && l.b[l.i+1] > ' ' {
		l.i++
		if l.b[l.i] == ']' {
			l.i++
			return true, nil
		}
		return false, nil
	}
	return l.openSlow('[', ']')
}

func (l *lexer) openSlow(open, close byte) (empty bool, err error) {
	if err := l.expectSlow(open); err != nil {
		return false, err
	}
	if l.peek() == close {
		l.i++
		return true, nil
	}
	return false, nil
}

// name reads a member name and the colon after it.
func (l *lexer) name() (raw []byte, esc bool, err error) {
	if raw, esc, err = l.str(); err != nil {
		return nil, false, err
	}
	if l.i < len(l.b) && l.b[l.i] == ':' {
		l.i++
		return raw, esc, nil
	}
	return raw, esc, l.expectSlow(':')
}

// objectNext consumes the ',' or '}' after a member's value; more reports a ','.
func (l *lexer) objectNext() (more bool, err error) {
	if l.i < len(l.b) {
		if c := l.b[l.i]; c == ',' || c == '}' {
			l.i++
			return c == ',', nil
		}
	}
	return l.nextSlow('}')
}

// arrayNext consumes the ',' or ']' after an element; more reports a ','.
func (l *lexer) arrayNext() (more bool, err error) {
	if l.i < len(l.b) {
		if c := l.b[l.i]; c == ',' || c == ']' {
			l.i++
			return c == ',', nil
		}
	}
	return l.nextSlow(']')
}

func (l *lexer) nextSlow(close byte) (more bool, err error) {
	switch l.peek() {
	case ',':
		l.i++
		return true, nil
	case close:
		l.i++
		return false, nil
	}
	return false, l.syntax("expected ',' or " + strconv.QuoteRune(rune(close)))
}

// null consumes a null literal if one is next.
func (l *lexer) null() bool {
	if l.peek() == 'n' && len(l.b)-l.i >= 4 && string(l.b[l.i:l.i+4]) == "null" {
		l.i += 4
		return true
	}
	return false
}

// boolean reads true or false.
func (l *lexer) boolean() (bool, error) {
	l.ws()
	rest := l.b[l.i:]
	if len(rest) >= 4 && string(rest[:4]) == "true" {
		l.i += 4
		return true, nil
	}
	if len(rest) >= 5 && string(rest[:5]) == "false" {
		l.i += 5
		return false, nil
	}
	return false, l.syntax("expected true or false")
}

// str reads a JSON string and returns its content between the quotes, still escaped, and
// whether it holds any escape. It checks escapes and UTF-8, so an escape-free result is
// valid UTF-8 without control characters and can be copied into JSON output verbatim.
func (l *lexer) str() (raw []byte, esc bool, err error) {
	if l.i >= len(l.b) || l.b[l.i] != '"' {
		if l.peek() != '"' {
			return nil, false, l.syntax("expected a string")
		}
	}
	b := l.b
	start := l.i + 1
	i := start
	for i < len(b) {
		c := b[i]
		if strSafe[c] {
			i++
			// This loop is the parser's hottest. Most strings are short names and type
			// tags, best read byte by byte; past 16 bytes (ARNs, IDs, text) it reads eight
			// plain bytes at a time.
			if i-start > 16 {
				for i+8 <= len(b) && !hasSpecial(binary.LittleEndian.Uint64(b[i:])) {
					i += 8
				}
			}
			continue
		}
		switch {
		case c == '"':
			l.i = i + 1
			return b[start:i], esc, nil
		case c == '\\':
			esc = true
			if i+1 >= len(b) {
				l.i = len(b)
				return nil, false, l.syntax("unterminated escape")
			}
			switch b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+6 > len(b) || !isHex4(b[i+2:i+6]) {
					l.i = i
					return nil, false, l.syntax(`bad \u escape`)
				}
				i += 6
			default:
				l.i = i
				return nil, false, l.syntax("bad escape")
			}
		case c < 0x20:
			l.i = i
			return nil, false, l.syntax("control character in string")
		default:
			r, size := utf8.DecodeRune(b[i:])
			if r == utf8.RuneError && size == 1 {
				l.i = i
				return nil, false, l.syntax("invalid UTF-8 in string")
			}
			i += size
		}
	}
	l.i = len(b)
	return nil, false, l.syntax("unterminated string")
}

// hasSpecial reports whether any of the eight bytes in w needs a look in a JSON string:
// a quote, a backslash, a control character or a non-ASCII byte. It is the classic "has
// a byte less than n" and "has a zero byte" bit tricks (the quote and the backslash become
// zero bytes after an XOR); a borrow can only start at a byte that matches, so the answer
// is exact.
func hasSpecial(w uint64) bool {
	const (
		ones  = 0x0101010101010101
		highs = 0x8080808080808080
	)
	ctl := (w - 0x20*ones) & ^w
	q := w ^ ('"' * ones)
	quote := (q - ones) & ^q
	bs := w ^ ('\\' * ones)
	back := (bs - ones) & ^bs
	return (w|ctl|quote|back)&highs != 0
}

func isHex4(b []byte) bool {
	for _, c := range b[:4] {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

func hex4(b []byte) rune {
	var r rune
	for _, c := range b[:4] {
		switch {
		case c <= '9':
			c -= '0'
		case c >= 'a':
			c -= 'a' - 10
		default:
			c -= 'A' - 10
		}
		r = r<<4 | rune(c)
	}
	return r
}

// unescape appends the decoded content of a string that str validated. A lone UTF-16
// surrogate becomes U+FFFD, as encoding/json does.
func unescape(dst, raw []byte) []byte {
	for i := 0; i < len(raw); {
		c := raw[i]
		if c != '\\' {
			dst = append(dst, c)
			i++
			continue
		}
		switch raw[i+1] {
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'u':
			r := hex4(raw[i+2:])
			i += 6
			if utf16.IsSurrogate(r) {
				r2 := utf8.RuneError
				if i+6 <= len(raw) && raw[i] == '\\' && raw[i+1] == 'u' {
					r2 = hex4(raw[i+2:])
				}
				if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
					r = dec
					i += 6
				} else {
					r = utf8.RuneError
				}
			}
			dst = utf8.AppendRune(dst, r)
			continue
		default: // '"', '\\', '/'
			dst = append(dst, raw[i+1])
		}
		i += 2
	}
	return dst
}

// number reads a JSON number token (RFC 8259 grammar).
func (l *lexer) number() ([]byte, error) {
	l.ws()
	b := l.b
	start, i := l.i, l.i
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && '1' <= b[i] && b[i] <= '9':
		for i < len(b) && isDigit(b[i]) {
			i++
		}
	default:
		l.i = i
		return nil, l.syntax("expected a number")
	}
	if i < len(b) && b[i] == '.' {
		i++
		if i >= len(b) || !isDigit(b[i]) {
			l.i = i
			return nil, l.syntax("expected a digit after the decimal point")
		}
		for i < len(b) && isDigit(b[i]) {
			i++
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if i >= len(b) || !isDigit(b[i]) {
			l.i = i
			return nil, l.syntax("expected a digit in the exponent")
		}
		for i < len(b) && isDigit(b[i]) {
			i++
		}
	}
	l.i = i
	return b[start:i], nil
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// skip validates and consumes any JSON value: the parts of a record nobody reads must
// still be JSON, or a broken record would pass.
//
// depth is the number of containers around the value, counted the same way parseImage
// and parseAV count, so every path rejects the same over-deep documents.
func (l *lexer) skip(depth int) error {
	switch c := l.peek(); {
	case (c == '{' || c == '[') && depth > maxDepth:
		return errNesting()
	case c == '{':
		empty, err := l.objectStart()
		if err != nil || empty {
			return err
		}
		for {
			if _, _, err := l.name(); err != nil {
				return err
			}
			if err := l.skip(depth + 1); err != nil {
				return err
			}
			if more, err := l.objectNext(); err != nil || !more {
				return err
			}
		}
	case c == '[':
		empty, err := l.arrayStart()
		if err != nil || empty {
			return err
		}
		for {
			if err := l.skip(depth + 1); err != nil {
				return err
			}
			if more, err := l.arrayNext(); err != nil || !more {
				return err
			}
		}
	case c == '"':
		_, _, err := l.str()
		return err
	case c == 't' || c == 'f':
		_, err := l.boolean()
		return err
	case c == 'n':
		if !l.null() {
			return l.syntax("expected null")
		}
		return nil
	default:
		_, err := l.number()
		return err
	}
}

// appendQuoted appends s as a JSON string in the canonical form every path of this
// package writes (package jsonstr).
func appendQuoted[T string | []byte](dst []byte, s T) []byte { return jsonstr.Append(dst, s) }

// appendRawString appends a string token that str returned: copied verbatim when it holds
// no escapes (already canonical), otherwise decoded and re-encoded canonically.
func appendRawString(dst, raw []byte, esc bool) []byte {
	if !esc {
		dst = append(dst, '"')
		dst = append(dst, raw...)
		return append(dst, '"')
	}
	// Escapes are rare in DynamoDB data; a stack buffer covers the usual short string.
	var buf [256]byte
	return appendQuoted(dst, unescape(buf[:0], raw))
}
