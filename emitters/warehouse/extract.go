package warehouse

import (
	"bytes"
	"encoding/json"
	"strings"
	"unicode/utf8"
)

// isObject reports whether doc is valid JSON holding an object. extractRaw may then read
// it.
func isObject(doc []byte) bool {
	i := skipSpace(doc, 0)
	return i < len(doc) && doc[i] == '{' && json.Valid(doc)
}

// extractRaw is Extract on an item not yet decoded: it reads the dotted path from the
// JSON object doc (valid JSON: isObject) by skipping over every value it does not need,
// and decodes only the value found. The result is Extract's on the decoded item,
// duplicate names included (the last one counts, as when decoding into a map).
func extractRaw(doc []byte, path, typ string) (any, error) {
	cur := doc
	for rest := path; ; {
		seg := rest
		dot := strings.IndexByte(rest, '.')
		if dot >= 0 {
			seg = rest[:dot]
		}
		i := skipSpace(cur, 0)
		if cur[i] != '{' {
			return nil, nil // not an object: the path is missing
		}
		v, ok := member(cur, seg)
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
		if s, ok := plainString(cur); ok {
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
	return convert(val, typ)
}

// member returns the value of the last member named name of the object that starts
// doc (after white space), without surrounding white space.
func member(doc []byte, name string) (val []byte, found bool) {
	i := skipSpace(doc, 0) + 1 // past '{'
	for {
		i = skipSpace(doc, i)
		if doc[i] == '}' {
			return val, found
		}
		if doc[i] == ',' {
			i = skipSpace(doc, i+1)
		}
		kEnd := skipString(doc, i)
		key := doc[i:kEnd]
		i = skipSpace(doc, kEnd)
		i = skipSpace(doc, i+1) // past ':'
		vEnd := skipValue(doc, i)
		if keyIs(key, name) {
			val, found = doc[i:vEnd], true
		}
		i = vEnd
	}
}

// keyIs compares a quoted JSON string with a name, as decoding it would.
func keyIs(quoted []byte, name string) bool {
	if s, ok := plainString(quoted); ok {
		return s == name
	}
	var s string
	return json.Unmarshal(quoted, &s) == nil && s == name
}

// plainString returns the text of a quoted JSON string without escapes and of valid
// UTF-8, which is the string decoding gives; ok is false for any other.
func plainString(quoted []byte) (string, bool) {
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

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// skipString returns the index after the string starting at b[i] ('"').
func skipString(b []byte, i int) int {
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

// skipValue returns the index after the (valid) value starting at b[i].
func skipValue(b []byte, i int) int {
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for ; i < len(b); i++ {
			switch b[i] {
			case '"':
				i = skipString(b, i) - 1
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
