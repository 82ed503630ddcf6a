package state

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// An item key is the item's key attributes as plain values in key-schema order, encoded
// as a compact JSON array: ["user#1","profile"], [42,"x"]. It is the Kafka message key of
// the CDC record and the key of the state table, so one item must have exactly one
// spelling: numbers are canonical (DynamoDB treats 1, 1.0 and 01 as the same key), binary
// values are canonical padded base64 strings, strings are escaped minimally.

// EncodeKey encodes the item key from the key attributes (dynamodb.Keys) in the order of
// keys. It fails with an *InvalidError when an attribute is missing (missing_key), is not
// of type S, N or B (bad_key_type), or is a malformed number (bad_number).
func EncodeKey(keyAttrs map[string]AttributeValue, keys []string) (string, error) {
	if len(keys) == 0 {
		return "", errNoKeys
	}
	b := make([]byte, 0, 64)
	b = append(b, '[')
	for i, k := range keys {
		av, ok := keyAttrs[k]
		if !ok {
			return "", invalid(ReasonMissingKey, k, "key attribute absent")
		}
		if i > 0 {
			b = append(b, ',')
		}
		var err error
		if b, err = appendKeyValue(b, &av); err != nil {
			return "", within(err, k)
		}
	}
	return string(append(b, ']')), nil
}

func appendKeyValue(dst []byte, av *AttributeValue) ([]byte, error) {
	switch av.Type {
	case TypeS:
		return appendQuoted(dst, av.S), nil
	case TypeN:
		out, ok := appendCanonicalNumber(dst, av.N)
		if !ok {
			return dst, errBadNumber(av.N)
		}
		return out, nil
	case TypeB:
		return appendBase64(dst, av.B), nil
	}
	return dst, errKeyType(av.Type)
}

// KeyFromStrings builds an item key from text, such as query-string values of an API
// lookup: values in key-schema order, numeric[i] set when attribute i is of type N (the
// value must then be a number; it is made canonical, so "01" finds the item 1). numeric
// may be nil when every attribute is a string. A B attribute is given as its base64 text.
func KeyFromStrings(values []string, numeric []bool) (string, error) {
	if len(values) == 0 {
		return "", errors.New("state: key has no values")
	}
	if numeric != nil && len(numeric) != len(values) {
		return "", fmt.Errorf("state: key has %d values but %d numeric flags", len(values), len(numeric))
	}
	b := make([]byte, 0, 64)
	b = append(b, '[')
	for i, v := range values {
		if i > 0 {
			b = append(b, ',')
		}
		var ok bool
		if b, ok = appendKeyText(b, v, numeric != nil && numeric[i]); !ok {
			return "", fmt.Errorf("state: key value %d: %q is not a number", i, v)
		}
	}
	return string(append(b, ']')), nil
}

func appendKeyText(dst []byte, v string, numeric bool) ([]byte, bool) {
	if numeric {
		return appendCanonicalNumber(dst, v)
	}
	return appendQuoted(dst, v), true
}

// KeyPrefixString is the prefix shared by the keys of every item whose hash key is the
// string s: `["user#1",`. A prefix scan of the state store with it lists one partition
// key's items. It applies to tables with a range key; a hash-only key has no comma.
func KeyPrefixString(s string) string {
	b, _ := appendKeyText(append(make([]byte, 0, len(s)+4), '['), s, false)
	return string(append(b, ','))
}

// KeyPrefixNumber is KeyPrefixString for a hash key of type N, given as decimal text;
// it fails when n is not a number.
func KeyPrefixNumber(n string) (string, error) {
	b, ok := appendKeyText(append(make([]byte, 0, len(n)+3), '['), n, true)
	if !ok {
		return "", fmt.Errorf("state: key value %q is not a number", n)
	}
	return string(append(b, ',')), nil
}

// DecodeKey splits an item key into its values: a string for S and B attributes (B as
// base64), a json.Number for N.
func DecodeKey(key string) ([]any, error) {
	elems, ok := splitKey(key, nil)
	if !ok {
		return nil, fmt.Errorf("state: %s is not an item key", quote(key))
	}
	out := make([]any, len(elems))
	for i, e := range elems {
		if e.num {
			out[i] = json.Number(e.raw)
		} else {
			out[i] = e.text()
		}
	}
	return out, nil
}

// CompareKeys orders item keys the way DynamoDB orders items of one partition: value by
// value, numbers numerically and strings bytewise ("10" after "9" as numbers, "b" after
// "a10" as strings); a number sorts before a string, and a key before its extensions.
// The state store orders keys bytewise, which puts [1,10] before [1,9]; sort a prefix
// scan's results with CompareKeys. Strings that are not item keys sort after all keys,
// bytewise among themselves, so the order stays total.
func CompareKeys(a, b string) int {
	var bufA, bufB [4]keyElem
	ea, okA := splitKey(a, bufA[:0])
	eb, okB := splitKey(b, bufB[:0])
	switch {
	case !okA && !okB:
		return strings.Compare(a, b)
	case !okA:
		return 1
	case !okB:
		return -1
	}
	for i := 0; i < len(ea) && i < len(eb); i++ {
		x, y := &ea[i], &eb[i]
		var c int
		switch {
		case x.num && y.num:
			c = CompareDecimal(x.raw, y.raw)
		case x.num != y.num:
			c = 1
			if x.num {
				c = -1
			}
		case !x.esc && !y.esc:
			c = strings.Compare(x.raw, y.raw)
		default:
			c = strings.Compare(x.text(), y.text())
		}
		if c != 0 {
			return c
		}
	}
	return cmpInt(len(ea), len(eb))
}

// AppendKeyText is DecodeKey for readers that want every value as text: it appends to
// dst, in order, each value's text — a string's decoded content (B as base64), a
// number's JSON text, which is string(json.Number) of DecodeKey — and fails as DecodeKey
// does. Values without escapes are substrings of key, so it allocates only for escaped
// strings (and when dst must grow); a warehouse converts a batch's keys with it.
func AppendKeyText(dst []string, key string) ([]string, error) {
	var buf [4]keyElem
	elems, ok := splitKey(key, buf[:0])
	if !ok {
		return dst, fmt.Errorf("state: %s is not an item key", quote(key))
	}
	for i := range elems {
		dst = append(dst, elems[i].text())
	}
	return dst, nil
}

// keyElem is one value of an item key: a number token, or a string's content still
// escaped.
type keyElem struct {
	raw string
	num bool
	esc bool
}

func (e *keyElem) text() string {
	if !e.esc {
		return e.raw
	}
	return string(unescape(nil, []byte(e.raw)))
}

// splitKey parses an item key: a non-empty JSON array of strings and numbers, compact as
// EncodeKey writes it (white space is tolerated). It works on the string itself, so
// sorting keys does not copy them.
func splitKey(key string, dst []keyElem) ([]keyElem, bool) {
	i := skipSpace(key, 0)
	if i >= len(key) || key[i] != '[' {
		return nil, false
	}
	for {
		i = skipSpace(key, i+1)
		if i >= len(key) {
			return nil, false
		}
		var e keyElem
		if key[i] == '"' {
			j := i + 1
			for j < len(key) && key[j] != '"' {
				if key[j] < 0x20 {
					return nil, false
				}
				if key[j] == '\\' {
					if j+1 >= len(key) || !validEscape(key[j:]) {
						return nil, false
					}
					e.esc = true
					j++
				}
				j++
			}
			if j >= len(key) {
				return nil, false
			}
			e.raw, i = key[i+1:j], j+1
		} else {
			j := i
			for j < len(key) && strings.IndexByte("+-.0123456789eE", key[j]) >= 0 {
				j++
			}
			if !isJSONNumberText(key[i:j]) {
				return nil, false
			}
			e.raw, e.num, i = key[i:j], true, j
		}
		dst = append(dst, e)
		i = skipSpace(key, i)
		if i >= len(key) {
			return nil, false
		}
		switch key[i] {
		case ',':
			continue
		case ']':
			return dst, skipSpace(key, i+1) == len(key)
		}
		return nil, false
	}
}

// validEscape checks the escape at the start of s, so text() can decode it safely.
func validEscape(s string) bool {
	switch s[1] {
	case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
		return true
	case 'u':
		return len(s) >= 6 && isHex4([]byte(s[2:6]))
	}
	return false
}

func skipSpace(s string, i int) int {
	for i < len(s) && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r') {
		i++
	}
	return i
}
