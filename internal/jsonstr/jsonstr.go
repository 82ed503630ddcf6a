// Package jsonstr writes JSON strings in the one canonical form streamhub uses
// everywhere it encodes JSON by hand (state's plain JSON, the lake's rows, the
// collector's records, its Go client's bodies, ddbtest's stream records): only '"', '\\'
// and control characters are escaped ('\n', '\r', '\t', '\b', '\f' by name, the others as
// \u00XX, as encoding/json does since Go 1.22), everything else is written as it is, so a
// string that needed no escapes is copied through byte for byte. Invalid UTF-8 becomes
// U+FFFD, as encoding/json does.
package jsonstr

import "unicode/utf8"

// Safe marks the bytes that may appear unescaped inside a JSON string: printable ASCII
// other than '"' and '\\'.
var Safe = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// Append appends s to dst as a quoted JSON string in the canonical form.
func Append[T string | []byte](dst []byte, s T) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if Safe[c] {
			i++
			continue
		}
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(string(s[i:min(i+utf8.UTFMax, len(s))]))
			if r == utf8.RuneError && size == 1 {
				dst = append(dst, s[start:i]...)
				dst = append(dst, "\uFFFD"...)
				i++
				start = i
				continue
			}
			i += size
			continue
		}
		dst = append(dst, s[start:i]...)
		switch c {
		case '"', '\\':
			dst = append(dst, '\\', c)
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\r':
			dst = append(dst, '\\', 'r')
		case '\t':
			dst = append(dst, '\\', 't')
		case '\b':
			dst = append(dst, '\\', 'b')
		case '\f':
			dst = append(dst, '\\', 'f')
		default:
			dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		}
		i++
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
