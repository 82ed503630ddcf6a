package state

import (
	"encoding/base64"
	"slices"
	"sync"
	"time"
)

// KeySpec is what the processor knows about a table.
type KeySpec struct {
	// Keys are the key attributes in key-schema order: hash key, then range key.
	Keys []string
	// VersionAttribute, when set, names the attribute that orders changes before sequence
	// numbers (DESIGN.md, "the version order"). Only S, N and B values count.
	VersionAttribute string
}

// index returns the position of the key attribute called name, or -1.
func (s *KeySpec) index(name []byte) int {
	for i, k := range s.Keys {
		if string(name) == k {
			return i
		}
	}
	return -1
}

// Change is a parsed record reduced to what the latest-state table needs.
type Change struct {
	// Key is the encoded item key (EncodeKey), the Kafka message key of the record.
	Key string
	// Deleted is set for a REMOVE.
	Deleted bool
	// Item is the plain JSON object of NewImage; nil for a REMOVE.
	Item []byte
	// Version places the change in the version order.
	Version Version
	EventID string
	// CreatedAt is ApproximateCreationDateTime (millisecond precision, UTC); zero when
	// the record has none.
	CreatedAt time.Time
	// TTL is set for a REMOVE made by DynamoDB's time to live.
	TTL bool
}

// Event names of DynamoDB Streams records.
const (
	EventInsert = "INSERT"
	EventModify = "MODIFY"
	EventRemove = "REMOVE"
)

// ChangeFromRecord reduces a record to a Change. It fails with an *InvalidError for an
// unknown eventName, a key attribute of spec missing from dynamodb.Keys or not of type
// S, N or B, an INSERT or MODIFY without NewImage, a SequenceNumber that is not decimal
// digits, and any N value that is not a number.
func ChangeFromRecord(r *Record, spec KeySpec) (Change, error) {
	if len(spec.Keys) == 0 {
		return Change{}, errNoKeys
	}
	d := &r.DynamoDB
	switch {
	case r.EventName == "":
		return Change{}, invalid(ReasonMissingField, "eventName", "absent or empty")
	case d.SequenceNumber == "":
		return Change{}, invalid(ReasonMissingField, "dynamodb.SequenceNumber", "absent or empty")
	case d.Keys == nil:
		return Change{}, invalid(ReasonMissingKey, "dynamodb.Keys", "absent")
	}
	remove, err := eventKind(r.EventName)
	if err != nil {
		return Change{}, err
	}
	if !isDigits(d.SequenceNumber) {
		return Change{}, errBadSeq(d.SequenceNumber)
	}
	c := Change{
		Deleted: remove,
		EventID: r.EventID,
		Version: Version{Seq: d.SequenceNumber, Stream: r.EventSourceARN},
		TTL:     remove && r.UserIdentity != nil && r.UserIdentity.Type == ttlType && r.UserIdentity.PrincipalID == ttlPrincipal,
	}
	if d.ApproximateCreationDateTime != "" {
		if c.Version.CreatedAt, err = createdMillis(string(d.ApproximateCreationDateTime)); err != nil {
			return Change{}, err
		}
		c.CreatedAt = time.UnixMilli(c.Version.CreatedAt).UTC()
	}
	if c.Key, err = EncodeKey(d.Keys, spec.Keys); err != nil {
		return Change{}, within(err, "dynamodb.Keys")
	}
	img, imgName := d.NewImage, "dynamodb.NewImage"
	if remove {
		img, imgName = d.OldImage, "dynamodb.OldImage"
	} else {
		if img == nil {
			return Change{}, errMissingImage(r.EventName)
		}
		if c.Item, err = ToPlainJSON(img); err != nil {
			return Change{}, within(err, imgName)
		}
	}
	if av, ok := img[spec.VersionAttribute]; ok && spec.VersionAttribute != "" &&
		(av.Type == TypeS || av.Type == TypeN || av.Type == TypeB) {
		attr, err := av.PlainJSON()
		if err != nil {
			return Change{}, within(err, imgName+"."+spec.VersionAttribute)
		}
		c.Version.Attr, c.Version.HasAttr = string(attr), true
	}
	return c, nil
}

func eventKind[T string | []byte](name T) (remove bool, err error) {
	switch string(name) {
	case EventInsert, EventModify:
		return false, nil
	case EventRemove:
		return true, nil
	}
	return false, invalid(ReasonUnknownEventName, "eventName", quote(name)+" is not INSERT, MODIFY or REMOVE")
}

func errBadSeq[T string | []byte](seq T) error {
	return invalid(ReasonBadSequenceNumber, "dynamodb.SequenceNumber", quote(seq)+" is not a decimal integer")
}

func errMissingImage(eventName string) error {
	return invalid(ReasonMissingImage, "dynamodb.NewImage",
		"absent on "+eventName+"; the stream view type must include new images (NEW_IMAGE or NEW_AND_OLD_IMAGES)")
}

func createdMillis[T string | []byte](s T) (int64, error) {
	ms, ok := epochMillis(s)
	if !ok {
		return 0, invalid(ReasonBadTimestamp, "dynamodb.ApproximateCreationDateTime",
			quote(s)+" is not epoch seconds within the range of int64 milliseconds")
	}
	return ms, nil
}

// ParseChange is ParseRecord followed by ChangeFromRecord, in one pass over the bytes and
// without building the record: the processor's hot path. It returns the same Change, and
// fails on every record ParseRecord or ChangeFromRecord would reject, except that it does
// not look inside parts it does not use: OldImage of an INSERT or MODIFY (or of a REMOVE
// when spec has no VersionAttribute) and non-key attributes of Keys are only checked to
// be JSON. It allocates at most twice: the item, and one string that holds the key, the
// event ID and the version's strings (so holding any of them keeps all of them).
func ParseChange(b []byte, spec KeySpec) (Change, error) {
	if len(spec.Keys) == 0 {
		return Change{}, errNoKeys
	}
	p := getChangeParser(spec)
	defer putChangeParser(p)
	// The lexer and the fields live in the pooled parser: handed to the imageSink
	// interface, locals would escape and cost two allocations per record.
	p.l = lexer{b: b}
	if err := scanRecord(&p.l, &p.f, p); err != nil {
		return Change{}, err
	}
	if err := p.f.checkRequired(); err != nil {
		return Change{}, err
	}
	return p.change(&p.f)
}

// changeParser is ParseChange's state, pooled so its buffers outlive one record.
type changeParser struct {
	l      lexer
	f      recordFields
	spec   KeySpec
	w      plainWriter // NewImage → plain JSON, and the version attribute
	hasNew bool
	old    []byte    // OldImage's raw bytes, read only for a REMOVE's version attribute
	key    []byte    // encoded key parts, in the order they appeared in Keys
	parts  []keyPart // where each key attribute of spec is in key, by spec position
	strs   []byte    // the strings of the Change, converted to one string at the end
}

type keyPart struct {
	start, end int
	set        bool
}

var changeParsers = sync.Pool{New: func() any { return new(changeParser) }}

func getChangeParser(spec KeySpec) *changeParser {
	p := changeParsers.Get().(*changeParser)
	p.spec = spec
	p.w.want = spec.VersionAttribute
	p.parts = slices.Grow(p.parts[:0], len(spec.Keys))[:len(spec.Keys)]
	clear(p.parts)
	return p
}

func putChangeParser(p *changeParser) {
	if !p.w.reset() {
		return // see putPlainWriter
	}
	p.l, p.f, p.spec, p.hasNew, p.old = lexer{}, recordFields{}, KeySpec{}, false, nil
	p.key, p.strs = p.key[:0], p.strs[:0]
	changeParsers.Put(p)
}

func (p *changeParser) image(l *lexer, kind imageKind, depth int) error {
	switch kind {
	case imgKeys:
		return p.keys(l, depth)
	case imgNew:
		p.hasNew = true
		return p.w.object(l, depth, true)
	default:
		// Most REMOVEs need nothing from OldImage, and INSERT/MODIFY never do: check it is
		// JSON and keep the bytes in case the record turns out to be a REMOVE.
		l.ws()
		start := l.i
		if err := l.skip(depth); err != nil {
			return err
		}
		p.old = l.b[start:l.i]
		return nil
	}
}

// keys reads dynamodb.Keys and encodes the attributes of the spec. Other attributes are
// validated as attribute values and dropped.
func (p *changeParser) keys(l *lexer, depth int) error {
	if l.peek() != '{' {
		return invalid(ReasonBadAttribute, "", "expected an object of attributes")
	}
	empty, err := l.objectStart()
	if err != nil {
		return err
	}
	var buf [64]byte
	for !empty {
		name, err := memberName(l, buf[:])
		if err != nil {
			return err
		}
		if i := p.spec.index(name); i < 0 {
			mark := len(p.w.out)
			_, err = p.w.value(l, depth+1)
			p.w.out = p.w.out[:mark]
		} else if p.parts[i].set {
			err = errDuplicate(string(name))
		} else {
			start := len(p.key)
			if p.key, err = appendKeyAV(p.key, l, depth+1, &p.w.tmp); err == nil {
				p.parts[i] = keyPart{start: start, end: len(p.key), set: true}
			}
		}
		if err != nil {
			return within(err, string(name))
		}
		more, err := l.objectNext()
		if err != nil {
			return err
		}
		empty = !more
	}
	return nil
}

// appendKeyAV reads a key attribute's value and appends its key encoding (see EncodeKey).
func appendKeyAV(dst []byte, l *lexer, depth int, tmp *[]byte) ([]byte, error) {
	t, err := openAV(l, depth)
	if err != nil {
		return dst, err
	}
	if t != TypeS && t != TypeN && t != TypeB {
		return dst, errKeyType(t)
	}
	if err := wantKind(l, t); err != nil {
		return dst, err
	}
	raw, esc, err := l.str()
	if err != nil {
		return dst, err
	}
	switch t {
	case TypeS:
		dst = appendRawString(dst, raw, esc)
	case TypeN:
		if esc {
			raw = unescape(nil, raw)
		}
		var ok bool
		if dst, ok = appendCanonicalNumber(dst, raw); !ok {
			return dst, errBadNumber(raw)
		}
	case TypeB:
		if esc {
			raw = unescape(nil, raw)
		}
		if *tmp, err = base64.StdEncoding.AppendDecode((*tmp)[:0], raw); err != nil {
			return dst, errBadBase64(raw)
		}
		dst = appendBase64(dst, *tmp)
	}
	return dst, closeAV(l)
}

func errKeyType(t AttrType) error {
	return invalid(ReasonBadKeyType, "", "key attribute of type "+string(t)+"; keys are S, N or B")
}

// change finishes the Change once the whole record has been read.
func (p *changeParser) change(f *recordFields) (Change, error) {
	remove, err := eventKind(f.eventName.appendTo(p.strs[:0]))
	if err != nil {
		return Change{}, err
	}
	seq := f.seq.raw
	if f.seq.esc { // "\u0031" is a legal if odd spelling of "1"
		seq = unescape(nil, seq)
	}
	if !isDigits(seq) {
		return Change{}, errBadSeq(seq)
	}
	var ms int64
	if f.created != nil {
		if ms, err = createdMillis(f.created); err != nil {
			return Change{}, err
		}
	}
	for i := range p.parts {
		if !p.parts[i].set {
			return Change{}, invalid(ReasonMissingKey, "dynamodb.Keys."+p.spec.Keys[i], "key attribute absent")
		}
	}
	var item []byte
	if !remove {
		if !p.hasNew {
			return Change{}, errMissingImage(f.eventName.text())
		}
		item = slices.Clone(p.w.out)
	} else {
		p.w.captured = false
		if p.spec.VersionAttribute != "" && p.old != nil {
			p.w.out = p.w.out[:0]
			l := lexer{b: p.old}
			if err := p.w.object(&l, 2, true); err != nil {
				return Change{}, within(err, "dynamodb.OldImage")
			}
		}
	}

	// One string for all of the Change's strings: one allocation instead of five.
	s := append(p.strs[:0], '[')
	for i, part := range p.parts {
		if i > 0 {
			s = append(s, ',')
		}
		s = append(s, p.key[part.start:part.end]...)
	}
	s = append(s, ']')
	keyEnd := len(s)
	s = f.eventID.appendTo(s)
	idEnd := len(s)
	s = append(s, seq...)
	seqEnd := len(s)
	s = f.eventSourceARN.appendTo(s)
	arnEnd := len(s)
	if p.w.captured {
		s = append(s, p.w.capture...)
	}
	p.strs = s
	all := string(s)

	c := Change{
		Key:     all[:keyEnd],
		Deleted: remove,
		Item:    item,
		EventID: all[keyEnd:idEnd],
		Version: Version{
			Attr:      all[arnEnd:],
			HasAttr:   p.w.captured,
			Seq:       all[idEnd:seqEnd],
			Stream:    all[seqEnd:arnEnd],
			CreatedAt: ms,
		},
		TTL: remove && f.uiType.is(ttlType) && f.uiPrincipal.is(ttlPrincipal),
	}
	if f.created != nil {
		c.CreatedAt = time.UnixMilli(ms).UTC()
	}
	return c, nil
}
