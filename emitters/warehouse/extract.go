package warehouse

import (
	"bytes"
	"encoding/json"
	"fmt"
	"unicode/utf8"
)

// isObject reports whether doc is valid JSON holding an object. extractRaw may then read
// it.
func isObject(doc []byte) bool {
	i := skipSpace(doc, 0)
	return i < len(doc) && doc[i] == '{' && validJSON(doc)
}

// maxDepth is encoding/json's limit of nested arrays and objects.
const maxDepth = 10000

// validJSON is json.Valid (FuzzValidJSON), a few times faster: a plain recursive
// descent instead of a scanner's state machine called per byte.
func validJSON(b []byte) bool {
	i, ok := validValue(b, skipSpace(b, 0), 0)
	return ok && skipSpace(b, i) == len(b)
}

// validValue returns the index after the valid value starting at b[i], at the nesting
// depth given, or false.
func validValue(b []byte, i, depth int) (int, bool) {
	if i >= len(b) {
		return i, false
	}
	switch c := b[i]; {
	case c == '{' || c == '[':
		if depth++; depth > maxDepth {
			return i, false
		}
		end := byte('}')
		if c == '[' {
			end = ']'
		}
		i = skipSpace(b, i+1)
		if i < len(b) && b[i] == end {
			return i + 1, true
		}
		for {
			var ok bool
			if end == '}' {
				if i >= len(b) || b[i] != '"' {
					return i, false
				}
				if i, ok = validString(b, i); !ok {
					return i, false
				}
				if i = skipSpace(b, i); i >= len(b) || b[i] != ':' {
					return i, false
				}
				i = skipSpace(b, i+1)
			}
			if i, ok = validValue(b, i, depth); !ok {
				return i, false
			}
			if i = skipSpace(b, i); i >= len(b) {
				return i, false
			}
			switch b[i] {
			case ',':
				i = skipSpace(b, i+1)
			case end:
				return i + 1, true
			default:
				return i, false
			}
		}
	case c == '"':
		return validString(b, i)
	case c == 't':
		return i + 4, len(b)-i >= 4 && string(b[i:i+4]) == "true"
	case c == 'f':
		return i + 5, len(b)-i >= 5 && string(b[i:i+5]) == "false"
	case c == 'n':
		return i + 4, len(b)-i >= 4 && string(b[i:i+4]) == "null"
	case c == '-' || c >= '0' && c <= '9':
		return validNumber(b, i)
	}
	return i, false
}

// validString returns the index after the valid string starting at b[i] ('"'). Like
// encoding/json, it takes any byte but '"', '\\' and control characters as it is.
func validString(b []byte, i int) (int, bool) {
	for i++; i < len(b); i++ {
		switch c := b[i]; {
		case c == '"':
			return i + 1, true
		case c < 0x20:
			return i, false
		case c == '\\':
			if i++; i >= len(b) {
				return i, false
			}
			switch b[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if len(b)-i < 5 {
					return i, false
				}
				for _, h := range b[i+1 : i+5] {
					if !(h >= '0' && h <= '9' || h >= 'a' && h <= 'f' || h >= 'A' && h <= 'F') {
						return i, false
					}
				}
				i += 4
			default:
				return i, false
			}
		}
	}
	return i, false
}

// validNumber returns the index after the valid number starting at b[i].
func validNumber(b []byte, i int) (int, bool) {
	if b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && b[i] >= '1' && b[i] <= '9':
		i = digits(b, i)
	default:
		return i, false
	}
	if i < len(b) && b[i] == '.' {
		j := digits(b, i+1)
		if j == i+1 {
			return j, false
		}
		i = j
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		j := digits(b, i)
		if j == i {
			return j, false
		}
		i = j
	}
	return i, true
}

func digits(b []byte, i int) int {
	for i < len(b) && b[i] >= '0' && b[i] <= '9' {
		i++
	}
	return i
}

// project appends the projected columns' values of an item to row: all NULL for a
// tombstone (live false). A JSON object is read as it is, in one pass over its members
// for all columns (see rawValue); anything else is decoded as the whole item, and is
// then a bad value unless it decodes as an object or null.
func (c *converter) project(row []any, live bool, item []byte) ([]any, string, error) {
	if live && isObject(item) {
		c.members(item)
		for j, col := range c.t.Projected {
			val, err := c.column(j, col.Source)
			if err != nil {
				return nil, ReasonBadColumn, fmt.Errorf("column %s (path %s): %w", col.Name, col.Path, err)
			}
			row = append(row, val)
		}
		return row, "", nil
	}
	var obj map[string]any
	if live {
		dec := json.NewDecoder(bytes.NewReader(item))
		dec.UseNumber()
		if err := dec.Decode(&obj); err != nil {
			return nil, ReasonBadValue, fmt.Errorf("item is not a JSON object: %w", err)
		}
	}
	for _, col := range c.t.Projected {
		if obj == nil {
			row = append(row, nil)
			continue
		}
		val, err := Extract(obj, col.Path, col.Source)
		if err != nil {
			return nil, ReasonBadColumn, fmt.Errorf("column %s (path %s): %w", col.Name, col.Path, err)
		}
		row = append(row, val)
	}
	return row, "", nil
}

// members sets c.found[j] to the value of the last member of the object doc (valid
// JSON) named as projected column j's first path segment, nil when there is none.
func (c *converter) members(doc []byte) {
	clear(c.found)
	i := skipSpace(doc, 0) + 1 // past '{'
	for {
		i = skipSpace(doc, i)
		if doc[i] == '}' {
			return
		}
		if doc[i] == ',' {
			i = skipSpace(doc, i+1)
		}
		kEnd := skipString(doc, i)
		quoted := doc[i:kEnd]
		i = skipSpace(doc, kEnd)
		i = skipSpace(doc, i+1) // past ':'
		vEnd := skipValue(doc, i)
		in := quoted[1 : len(quoted)-1]
		if isPlain(in) {
			for j, p := range c.paths {
				if string(in) == p[0] {
					c.found[j] = doc[i:vEnd]
				}
			}
		} else {
			var name string
			if json.Unmarshal(quoted, &name) == nil {
				for j, p := range c.paths {
					if name == p[0] {
						c.found[j] = doc[i:vEnd]
					}
				}
			}
		}
		i = vEnd
	}
}

// column reads projected column j from the value members found for its first path
// segment, as Extract does on the decoded item.
func (c *converter) column(j int, typ string) (any, error) {
	cur := c.found[j]
	if cur == nil {
		return nil, nil
	}
	for _, seg := range c.paths[j][1:] {
		if cur[0] != '{' {
			return nil, nil // not an object: the path is missing
		}
		v, ok := member(cur, seg)
		if !ok {
			return nil, nil
		}
		cur = v
	}
	return rawValue(cur, typ)
}

// rawValue converts the JSON value cur (valid, without surrounding white space) to a
// projected column's value: convert of the decoded value. Strings and numbers are read
// in place.
func rawValue(cur []byte, typ string) (any, error) {
	switch c := cur[0]; {
	case c == 'n':
		return nil, nil
	case c == 't' || c == 'f':
		return convert(c == 't', typ)
	case c == '"':
		if in := cur[1 : len(cur)-1]; isPlain(in) {
			return convertString(shared(in), typ)
		}
		var s string
		if err := json.Unmarshal(cur, &s); err != nil {
			return nil, err
		}
		return convertString(s, typ)
	case c == '{' || c == '[':
		return convertComposite(cur, typ)
	}
	return convertNumber(json.Number(shared(cur)), typ)
}

// convertComposite is rawValue of an object or array.
func convertComposite(cur []byte, typ string) (any, error) {
	var val any
	dec := json.NewDecoder(bytes.NewReader(cur))
	dec.UseNumber()
	if err := dec.Decode(&val); err != nil {
		return nil, err
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
	if in := quoted[1 : len(quoted)-1]; isPlain(in) {
		return string(in) == name
	}
	var s string
	return json.Unmarshal(quoted, &s) == nil && s == name
}

// isPlain reports whether the content of a quoted JSON string is the string decoding
// gives: no escapes, valid UTF-8.
func isPlain(in []byte) bool {
	ascii := true
	for _, c := range in {
		if c == '\\' {
			return false
		}
		if c >= utf8.RuneSelf {
			ascii = false
		}
	}
	return ascii || utf8.Valid(in)
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
