package state

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"slices"
	"strconv"
	"sync"
)

// ToPlainJSON flattens an image into plain JSON: {"S":"a"} → "a", {"N":"1.50"} → 1.50 with
// its exact digits, BOOL → true/false, NULL → null, B → base64 string, SS/NS/BS → arrays,
// M → object, L → array. Object members are sorted by name, so the same item always gives
// the same bytes; ParseChange writes exactly the same form.
func ToPlainJSON(image map[string]AttributeValue) ([]byte, error) {
	return appendPlainMap(nil, image, 0)
}

// RawToPlainJSON flattens an image given as DynamoDB JSON bytes ({"name":{"S":"a"},…})
// without building the AttributeValue tree; the result equals ToPlainJSON's.
func RawToPlainJSON(image []byte) ([]byte, error) {
	w := getPlainWriter()
	defer putPlainWriter(w)
	l := lexer{b: image}
	if err := w.object(&l, 0, false); err != nil {
		return nil, err
	}
	if err := l.end(); err != nil {
		return nil, err
	}
	return slices.Clone(w.out), nil
}

// PlainJSON flattens one attribute value, as ToPlainJSON does for each attribute.
func (av AttributeValue) PlainJSON() ([]byte, error) { return appendPlainAV(nil, &av, 0) }

func errNesting() error {
	return invalid(ReasonBadAttribute, "", "nested deeper than "+strconv.Itoa(maxDepth)+" levels")
}

func appendPlainMap(dst []byte, m map[string]AttributeValue, depth int) ([]byte, error) {
	return appendSortedMap(dst, m, depth, appendPlainAV)
}

func appendPlainAV(dst []byte, av *AttributeValue, depth int) ([]byte, error) {
	if depth > maxDepth {
		return dst, errNesting()
	}
	var ok bool
	switch av.Type {
	case TypeS:
		return appendQuoted(dst, av.S), nil
	case TypeN:
		if dst, ok = appendPlainNumber(dst, av.N); !ok {
			return dst, errBadNumber(av.N)
		}
		return dst, nil
	case TypeB:
		return appendBase64(dst, av.B), nil
	case TypeBOOL:
		return strconv.AppendBool(dst, av.BOOL), nil
	case TypeNULL:
		return append(dst, "null"...), nil
	case TypeSS, TypeNS, TypeBS, TypeL:
		if depth+1 > maxDepth {
			return dst, errNesting()
		}
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
				if dst, ok = appendPlainNumber(dst, av.NS[i]); !ok {
					return dst, within(errBadNumber(av.NS[i]), "["+strconv.Itoa(i)+"]")
				}
			case TypeBS:
				dst = appendBase64(dst, av.BS[i])
			case TypeL:
				var err error
				if dst, err = appendPlainAV(dst, &av.L[i], depth+2); err != nil {
					return dst, within(err, "["+strconv.Itoa(i)+"]")
				}
			}
		}
		return append(dst, ']'), nil
	case TypeM:
		return appendPlainMap(dst, av.M, depth+1)
	}
	return dst, errUnknownType(string(av.Type))
}

// elems is the number of elements of a set or list value.
func (av *AttributeValue) elems() int {
	switch av.Type {
	case TypeSS:
		return len(av.SS)
	case TypeNS:
		return len(av.NS)
	case TypeBS:
		return len(av.BS)
	case TypeL:
		return len(av.L)
	}
	return 0
}

func appendBase64(dst, b []byte) []byte {
	dst = append(dst, '"')
	dst = base64.StdEncoding.AppendEncode(dst, b)
	return append(dst, '"')
}

// plainWriter converts DynamoDB JSON to plain JSON straight from the bytes, the way
// ToPlainJSON does from a tree: the same rules (it mirrors parseImage and parseAV) and the
// same output. It keeps its buffers between records (see getPlainWriter), so converting an
// image costs no allocation beyond the caller's final copy.
type plainWriter struct {
	out   []byte
	spans []member // members of the objects being written, innermost last
	names []byte   // decoded member names that held escapes
	tmp   []byte   // scratch: reordering members, decoding base64

	// want names a top-level attribute to capture as plain JSON (the version attribute);
	// capture receives it only when its type is S, N or B.
	want     string
	captured bool
	capture  []byte
}

// member is one "name":value of an object in out.
type member struct {
	start, end int    // the member in out, without the separating comma
	n0, n1     int    // its decoded name: out[n0:n1], or names[n0:n1] when inNames
	inNames    bool   // the name held escapes and was decoded into names
	prefix     uint64 // the name's first eight bytes, big endian: most comparisons end here
}

var plainWriters = sync.Pool{New: func() any { return new(plainWriter) }}

func getPlainWriter() *plainWriter { return plainWriters.Get().(*plainWriter) }

// putPlainWriter returns a writer to the pool unless a huge item grew its buffers: keeping
// a 400 KB buffer per pooled writer would pin memory for the sake of rare records.
func putPlainWriter(w *plainWriter) {
	if w.reset() {
		plainWriters.Put(w)
	}
}

// maxPooledBuffer is the largest buffer a pooled parser keeps.
const maxPooledBuffer = 64 << 10

// reset empties w for its next record; it is false when w's buffers grew past
// maxPooledBuffer and w should not be pooled.
func (w *plainWriter) reset() bool {
	if cap(w.out) > maxPooledBuffer || cap(w.tmp) > maxPooledBuffer {
		return false
	}
	w.out, w.spans, w.names, w.tmp = w.out[:0], w.spans[:0], w.names[:0], w.tmp[:0]
	w.want, w.captured, w.capture = "", false, w.capture[:0]
	return true
}

func (w *plainWriter) name(m *member) []byte {
	if m.inNames {
		return w.names[m.n0:m.n1]
	}
	return w.out[m.n0:m.n1]
}

// object writes an image or an M value. top marks the image itself, whose members may
// hold the attribute to capture.
func (w *plainWriter) object(l *lexer, depth int, top bool) error {
	if depth > maxDepth {
		return errNesting()
	}
	if l.peek() != '{' {
		return invalid(ReasonBadAttribute, "", "expected an object of attributes")
	}
	empty, err := l.objectStart()
	if err != nil {
		return err
	}
	w.out = append(w.out, '{')
	if empty {
		w.out = append(w.out, '}')
		return nil
	}
	base, nbase, body := len(w.spans), len(w.names), len(w.out)
	for {
		if len(w.spans) > base {
			w.out = append(w.out, ',')
		}
		raw, esc, err := l.name()
		if err != nil {
			return err
		}
		m := member{start: len(w.out)}
		if esc {
			m.inNames, m.n0 = true, len(w.names)
			w.names = unescape(w.names, raw)
			m.n1 = len(w.names)
			w.out = appendQuoted(w.out, w.names[m.n0:m.n1])
		} else {
			w.out = append(w.out, '"')
			m.n0 = len(w.out)
			w.out = append(w.out, raw...)
			m.n1 = len(w.out)
			w.out = append(w.out, '"')
		}
		w.out = append(w.out, ':')
		m.prefix = namePrefix(w.name(&m))
		v0 := len(w.out)
		t, err := w.value(l, depth+1)
		if err != nil {
			return within(err, string(w.name(&m)))
		}
		if top && w.want != "" && (t == TypeS || t == TypeN || t == TypeB) && string(w.name(&m)) == w.want {
			w.captured = true
			w.capture = append(w.capture[:0], w.out[v0:]...)
		}
		m.end = len(w.out)
		w.spans = append(w.spans, m)
		more, err := l.objectNext()
		if err != nil {
			return err
		}
		if !more {
			break
		}
	}
	if err := w.sortMembers(body, base); err != nil {
		return err
	}
	w.spans, w.names = w.spans[:base], w.names[:nbase]
	w.out = append(w.out, '}')
	return nil
}

// sortMembers puts the members of the object whose body starts at out[body] in name
// order, the order ToPlainJSON writes, and rejects a name that appears twice (JSON leaves
// duplicates undefined; a stored item must not depend on which one a reader keeps).
// DynamoDB sends attributes in no particular order, so most objects need the reorder.
func (w *plainWriter) sortMembers(body, base int) error {
	ms := w.spans[base:]
	sorted := true
	for i := 1; i < len(ms); i++ {
		switch c := w.compare(&ms[i-1], &ms[i]); {
		case c == 0:
			return errDuplicate(string(w.name(&ms[i])))
		case c > 0:
			sorted = false
		}
	}
	if sorted {
		return nil
	}
	if len(ms) <= 16 {
		for i := 1; i < len(ms); i++ { // insertion sort: no closure, no allocation
			for j := i; j > 0 && w.compare(&ms[j-1], &ms[j]) > 0; j-- {
				ms[j-1], ms[j] = ms[j], ms[j-1]
			}
		}
	} else {
		slices.SortFunc(ms, func(a, b member) int { return w.compare(&a, &b) })
	}
	for i := 1; i < len(ms); i++ {
		if w.compare(&ms[i-1], &ms[i]) == 0 {
			return errDuplicate(string(w.name(&ms[i])))
		}
	}
	w.tmp = w.tmp[:0]
	for i := range ms {
		if i > 0 {
			w.tmp = append(w.tmp, ',')
		}
		w.tmp = append(w.tmp, w.out[ms[i].start:ms[i].end]...)
	}
	copy(w.out[body:], w.tmp)
	return nil
}

// compare orders two members by decoded name, bytewise.
func (w *plainWriter) compare(a, b *member) int {
	if a.prefix != b.prefix {
		return cmpInt(a.prefix, b.prefix)
	}
	return bytes.Compare(w.name(a), w.name(b))
}

// namePrefix packs the first eight bytes of a name so that comparing prefixes as numbers
// orders names as bytes; shorter names are padded with zeros, and a tie falls back to
// comparing the whole names.
func namePrefix(name []byte) uint64 {
	if len(name) >= 8 {
		return binary.BigEndian.Uint64(name)
	}
	var p uint64
	for i := range 8 {
		p <<= 8
		if i < len(name) {
			p |= uint64(name[i])
		}
	}
	return p
}

// value writes one attribute value and returns its type.
func (w *plainWriter) value(l *lexer, depth int) (AttrType, error) {
	t, err := openAV(l, depth)
	if err != nil {
		return "", err
	}
	if err := wantKind(l, t); err != nil {
		return "", err
	}
	switch t {
	case TypeS:
		raw, esc, err := l.str()
		if err != nil {
			return "", err
		}
		w.out = appendRawString(w.out, raw, esc)
	case TypeN:
		if err := w.number(l); err != nil {
			return "", err
		}
	case TypeB:
		if err := w.binary(l); err != nil {
			return "", err
		}
	case TypeBOOL:
		b, err := l.boolean()
		if err != nil {
			return "", err
		}
		w.out = strconv.AppendBool(w.out, b)
	case TypeNULL:
		if err := readNullTrue(l); err != nil {
			return "", err
		}
		w.out = append(w.out, "null"...)
	case TypeSS, TypeNS, TypeBS, TypeL:
		if depth+1 > maxDepth {
			return "", errNesting()
		}
		empty, err := l.arrayStart()
		if err != nil {
			return "", err
		}
		w.out = append(w.out, '[')
		for i := 0; !empty; i++ {
			if i > 0 {
				w.out = append(w.out, ',')
			}
			if t != TypeL {
				if err := wantElemString(l, t); err != nil {
					return "", within(err, "["+strconv.Itoa(i)+"]")
				}
			}
			switch t {
			case TypeSS:
				raw, esc, err := l.str()
				if err != nil {
					return "", err
				}
				w.out = appendRawString(w.out, raw, esc)
			case TypeNS:
				err = w.number(l)
			case TypeBS:
				err = w.binary(l)
			case TypeL:
				_, err = w.value(l, depth+2)
			}
			if err != nil {
				return "", within(err, "["+strconv.Itoa(i)+"]")
			}
			more, err := l.arrayNext()
			if err != nil {
				return "", err
			}
			empty = !more
		}
		w.out = append(w.out, ']')
	case TypeM:
		if err := w.object(l, depth+1, false); err != nil {
			return "", err
		}
	}
	return t, closeAV(l)
}

// number writes an N value as a JSON number with its exact digits.
func (w *plainWriter) number(l *lexer) error {
	raw, esc, err := l.str()
	if err != nil {
		return err
	}
	if esc {
		var buf [64]byte
		raw = unescape(buf[:0], raw)
	}
	var ok bool
	if w.out, ok = appendPlainNumber(w.out, raw); !ok {
		return errBadNumber(raw)
	}
	return nil
}

// binary writes a B value as its base64 string. It decodes and re-encodes, so the output
// is canonical padded base64 whatever spelling the input used (line breaks, say).
func (w *plainWriter) binary(l *lexer) error {
	raw, esc, err := l.str()
	if err != nil {
		return err
	}
	if esc {
		raw = unescape(nil, raw)
	}
	if w.tmp, err = base64.StdEncoding.AppendDecode(w.tmp[:0], raw); err != nil {
		return errBadBase64(raw)
	}
	w.out = appendBase64(w.out, w.tmp)
	return nil
}
