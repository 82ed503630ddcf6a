package state

import (
	"encoding/base64"
	"maps"
	"slices"
	"strconv"
)

// AttrType names the type of an AttributeValue, spelled as DynamoDB JSON spells it.
type AttrType string

// The DynamoDB attribute types.
const (
	TypeS    AttrType = "S"
	TypeN    AttrType = "N"
	TypeB    AttrType = "B"
	TypeBOOL AttrType = "BOOL"
	TypeNULL AttrType = "NULL"
	TypeSS   AttrType = "SS"
	TypeNS   AttrType = "NS"
	TypeBS   AttrType = "BS"
	TypeM    AttrType = "M"
	TypeL    AttrType = "L"
)

// attrType maps a type tag from the input to its constant without allocating.
func attrType(tag []byte) AttrType {
	switch string(tag) {
	case "S":
		return TypeS
	case "N":
		return TypeN
	case "B":
		return TypeB
	case "BOOL":
		return TypeBOOL
	case "NULL":
		return TypeNULL
	case "SS":
		return TypeSS
	case "NS":
		return TypeNS
	case "BS":
		return TypeBS
	case "M":
		return TypeM
	case "L":
		return TypeL
	}
	return ""
}

// AttributeValue is one DynamoDB attribute value. Type says which field holds it; the
// others are zero. In JSON it is the DynamoDB form: {"S":"a"}, {"N":"1.50"},
// {"B":"<base64>"}, {"BOOL":true}, {"NULL":true}, {"SS":[…]}, {"NS":[…]}, {"BS":[…]},
// {"M":{…}}, {"L":[…]}.
type AttributeValue struct {
	Type AttrType
	S    string
	// N is the number as DynamoDB wrote it, exact: numbers have up to 38 digits and are
	// never converted to float64.
	N    string
	B    []byte
	BOOL bool
	SS   []string
	NS   []string
	BS   [][]byte
	M    map[string]AttributeValue
	L    []AttributeValue
}

// StringValue is an S attribute.
func StringValue(s string) AttributeValue { return AttributeValue{Type: TypeS, S: s} }

// NumberValue is an N attribute; n is decimal text such as "42" or "-1.50".
func NumberValue(n string) AttributeValue { return AttributeValue{Type: TypeN, N: n} }

// BinaryValue is a B attribute.
func BinaryValue(b []byte) AttributeValue { return AttributeValue{Type: TypeB, B: b} }

// BoolValue is a BOOL attribute.
func BoolValue(b bool) AttributeValue { return AttributeValue{Type: TypeBOOL, BOOL: b} }

// NullValue is a NULL attribute.
func NullValue() AttributeValue { return AttributeValue{Type: TypeNULL} }

// StringSetValue is an SS attribute.
func StringSetValue(ss ...string) AttributeValue { return AttributeValue{Type: TypeSS, SS: ss} }

// NumberSetValue is an NS attribute.
func NumberSetValue(ns ...string) AttributeValue { return AttributeValue{Type: TypeNS, NS: ns} }

// BinarySetValue is a BS attribute.
func BinarySetValue(bs ...[]byte) AttributeValue { return AttributeValue{Type: TypeBS, BS: bs} }

// MapValue is an M attribute.
func MapValue(m map[string]AttributeValue) AttributeValue {
	return AttributeValue{Type: TypeM, M: m}
}

// ListValue is an L attribute.
func ListValue(l ...AttributeValue) AttributeValue { return AttributeValue{Type: TypeL, L: l} }

// MarshalJSON writes the DynamoDB JSON form.
func (av AttributeValue) MarshalJSON() ([]byte, error) { return appendDynamoJSON(nil, &av, 0) }

// UnmarshalJSON reads the DynamoDB JSON form with the same rules as ParseRecord.
func (av *AttributeValue) UnmarshalJSON(b []byte) error {
	l := lexer{b: b}
	v, err := parseAV(&l, 0)
	if err != nil {
		return err
	}
	if err := l.end(); err != nil {
		return err
	}
	*av = v
	return nil
}

func errBadNumber[T string | []byte](n T) error {
	return invalid(ReasonBadNumber, "", "N value "+quote(n)+" is not a decimal number")
}

func errUnknownType(tag string) error {
	return invalid(ReasonBadAttribute, "", "unknown attribute type "+quote(tag))
}

// appendDynamoJSON writes the DynamoDB JSON form of av (Record.Marshal, MarshalJSON).
func appendDynamoJSON(dst []byte, av *AttributeValue, depth int) ([]byte, error) {
	if depth > maxDepth {
		return dst, errNesting()
	}
	dst = append(dst, `{"`...)
	dst = append(dst, av.Type...)
	dst = append(dst, `":`...)
	var err error
	switch av.Type {
	case TypeS:
		dst = appendQuoted(dst, av.S)
	case TypeN:
		if _, ok := scanNum(av.N); !ok {
			return dst, errBadNumber(av.N)
		}
		dst = appendQuoted(dst, av.N)
	case TypeB:
		dst = appendBase64(dst, av.B)
	case TypeBOOL:
		dst = strconv.AppendBool(dst, av.BOOL)
	case TypeNULL:
		dst = append(dst, "true"...)
	case TypeSS, TypeNS, TypeBS, TypeL:
		dst = append(dst, '[')
		n := av.elems()
		for i := range n {
			if i > 0 {
				dst = append(dst, ',')
			}
			switch av.Type {
			case TypeSS:
				dst = appendQuoted(dst, av.SS[i])
			case TypeNS:
				if _, ok := scanNum(av.NS[i]); !ok {
					return dst, errBadNumber(av.NS[i])
				}
				dst = appendQuoted(dst, av.NS[i])
			case TypeBS:
				dst = appendBase64(dst, av.BS[i])
			case TypeL:
				if dst, err = appendDynamoJSON(dst, &av.L[i], depth+2); err != nil {
					return dst, err
				}
			}
		}
		dst = append(dst, ']')
	case TypeM:
		if dst, err = appendDynamoImage(dst, av.M, depth+1); err != nil {
			return dst, err
		}
	default:
		return dst, errUnknownType(string(av.Type))
	}
	return append(dst, '}'), nil
}

// appendDynamoImage writes a map of attributes in DynamoDB JSON, names sorted.
func appendDynamoImage(dst []byte, m map[string]AttributeValue, depth int) ([]byte, error) {
	return appendSortedMap(dst, m, depth, appendDynamoJSON)
}

// appendSortedMap writes m as a JSON object with its names sorted, each value written by
// appendAV: the one walk behind both DynamoDB JSON and plain JSON output.
func appendSortedMap(dst []byte, m map[string]AttributeValue, depth int,
	appendAV func([]byte, *AttributeValue, int) ([]byte, error)) ([]byte, error) {
	if depth > maxDepth {
		return dst, errNesting()
	}
	dst = append(dst, '{')
	for i, name := range slices.Sorted(maps.Keys(m)) {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendQuoted(dst, name)
		dst = append(dst, ':')
		av := m[name]
		var err error
		if dst, err = appendAV(dst, &av, depth+1); err != nil {
			return dst, within(err, name)
		}
	}
	return append(dst, '}'), nil
}

// parseImage reads a DynamoDB JSON image ({"name": AttributeValue, …}) into a tree. It
// mirrors plainWriter.object rule for rule, so both paths accept the same inputs.
func parseImage(l *lexer, depth int) (map[string]AttributeValue, error) {
	if depth > maxDepth {
		return nil, errNesting()
	}
	if l.peek() != '{' {
		return nil, invalid(ReasonBadAttribute, "", "expected an object of attributes")
	}
	m := map[string]AttributeValue{}
	empty, err := l.objectStart()
	if err != nil || empty {
		return m, err
	}
	for {
		raw, esc, err := l.name()
		if err != nil {
			return nil, err
		}
		name := rawText(raw, esc)
		av, err := parseAV(l, depth+1)
		if err != nil {
			return nil, within(err, name)
		}
		if _, dup := m[name]; dup {
			return nil, errDuplicate(name)
		}
		m[name] = av
		if more, err := l.objectNext(); err != nil || !more {
			return m, err
		}
	}
}

func errDuplicate(name string) error {
	return invalid(ReasonBadAttribute, name, "attribute name appears twice")
}

// rawText turns a string token into a Go string.
func rawText(raw []byte, esc bool) string {
	if esc {
		return string(unescape(nil, raw))
	}
	return string(raw)
}

// openAV reads the '{' and the type tag of an attribute value.
func openAV(l *lexer, depth int) (AttrType, error) {
	if depth > maxDepth {
		return "", errNesting()
	}
	if l.peek() != '{' {
		return "", invalid(ReasonBadAttribute, "", `an attribute value must be an object such as {"S":"x"}`)
	}
	empty, err := l.objectStart()
	if err != nil {
		return "", err
	}
	if empty {
		return "", invalid(ReasonBadAttribute, "", "attribute value {} has no type")
	}
	raw, esc, err := l.name()
	if err != nil {
		return "", err
	}
	if esc {
		var buf [8]byte
		raw = unescape(buf[:0], raw)
	}
	t := attrType(raw)
	if t == "" {
		return "", errUnknownType(string(raw))
	}
	return t, nil
}

// closeAV reads the '}' that ends an attribute value: exactly one type per value.
func closeAV(l *lexer) error {
	more, err := l.objectNext()
	if err != nil {
		return err
	}
	if more {
		return invalid(ReasonBadAttribute, "", "attribute value has more than one type")
	}
	return nil
}

// wantKind checks the JSON kind of a type's value before reading it, so {"S":5} is a bad
// attribute rather than a JSON syntax error.
func wantKind(l *lexer, t AttrType) error {
	c := l.peek()
	var ok bool
	switch t {
	case TypeS, TypeN, TypeB:
		ok = c == '"'
	case TypeBOOL, TypeNULL:
		ok = c == 't' || c == 'f'
	case TypeSS, TypeNS, TypeBS, TypeL:
		ok = c == '['
	case TypeM:
		ok = c == '{'
	}
	if !ok {
		return invalid(ReasonBadAttribute, "", "value of type "+string(t)+" has the wrong JSON kind")
	}
	return nil
}

// wantElemString checks that a set element is a string.
func wantElemString(l *lexer, t AttrType) error {
	if l.peek() != '"' {
		return invalid(ReasonBadAttribute, "", "element of "+string(t)+" must be a string")
	}
	return nil
}

func parseAV(l *lexer, depth int) (AttributeValue, error) {
	t, err := openAV(l, depth)
	if err != nil {
		return AttributeValue{}, err
	}
	if err := wantKind(l, t); err != nil {
		return AttributeValue{}, err
	}
	av := AttributeValue{Type: t}
	switch t {
	case TypeS:
		raw, esc, err := l.str()
		if err != nil {
			return av, err
		}
		av.S = rawText(raw, esc)
	case TypeN:
		if av.N, err = parseNumberString(l); err != nil {
			return av, err
		}
	case TypeB:
		if av.B, err = parseBinaryString(l); err != nil {
			return av, err
		}
	case TypeBOOL:
		if av.BOOL, err = l.boolean(); err != nil {
			return av, err
		}
	case TypeNULL:
		if err := readNullTrue(l); err != nil {
			return av, err
		}
	case TypeSS, TypeNS, TypeBS, TypeL:
		if depth+1 > maxDepth {
			return av, errNesting()
		}
		empty, err := l.arrayStart()
		if err != nil {
			return av, err
		}
		for i := 0; !empty; i++ {
			if t != TypeL {
				if err := wantElemString(l, t); err != nil {
					return av, within(err, "["+strconv.Itoa(i)+"]")
				}
			}
			switch t {
			case TypeSS:
				raw, esc, err := l.str()
				if err != nil {
					return av, err
				}
				av.SS = append(av.SS, rawText(raw, esc))
			case TypeNS:
				n, err := parseNumberString(l)
				if err != nil {
					return av, within(err, "["+strconv.Itoa(i)+"]")
				}
				av.NS = append(av.NS, n)
			case TypeBS:
				b, err := parseBinaryString(l)
				if err != nil {
					return av, within(err, "["+strconv.Itoa(i)+"]")
				}
				av.BS = append(av.BS, b)
			case TypeL:
				e, err := parseAV(l, depth+2)
				if err != nil {
					return av, within(err, "["+strconv.Itoa(i)+"]")
				}
				av.L = append(av.L, e)
			}
			more, err := l.arrayNext()
			if err != nil {
				return av, err
			}
			empty = !more
		}
		// Keep empty collections non-nil: {"L":[]} is an empty list, not a missing one.
		switch {
		case t == TypeSS && av.SS == nil:
			av.SS = []string{}
		case t == TypeNS && av.NS == nil:
			av.NS = []string{}
		case t == TypeBS && av.BS == nil:
			av.BS = [][]byte{}
		case t == TypeL && av.L == nil:
			av.L = []AttributeValue{}
		}
	case TypeM:
		if av.M, err = parseImage(l, depth+1); err != nil {
			return av, err
		}
	}
	return av, closeAV(l)
}

func parseNumberString(l *lexer) (string, error) {
	raw, esc, err := l.str()
	if err != nil {
		return "", err
	}
	n := rawText(raw, esc)
	if _, ok := scanNum(n); !ok {
		return "", errBadNumber(n)
	}
	return n, nil
}

func parseBinaryString(l *lexer) ([]byte, error) {
	raw, esc, err := l.str()
	if err != nil {
		return nil, err
	}
	if esc {
		raw = unescape(nil, raw)
	}
	b, err := base64.StdEncoding.AppendDecode([]byte{}, raw)
	if err != nil {
		return nil, errBadBase64(raw)
	}
	return b, nil
}

func errBadBase64(raw []byte) error {
	return invalid(ReasonBadAttribute, "", "B value "+quote(raw)+" is not standard base64")
}

// readNullTrue reads the value of a NULL attribute, which DynamoDB only writes as true.
func readNullTrue(l *lexer) error {
	b, err := l.boolean()
	if err != nil {
		return err
	}
	if !b {
		return invalid(ReasonBadAttribute, "", `NULL must be true`)
	}
	return nil
}
