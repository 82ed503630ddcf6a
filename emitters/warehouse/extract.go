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
	return i < len(doc) && doc[i] == '{' && json.Valid(doc)
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
	var val any
	switch c := cur[0]; {
	case c == 'n':
		return nil, nil
	case c == 't' || c == 'f':
		val = c == 't'
	case c == '"':
		if in := cur[1 : len(cur)-1]; isPlain(in) {
			val = shared(in)
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
		val = json.Number(shared(cur))
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
