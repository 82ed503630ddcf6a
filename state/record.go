package state

import (
	"encoding/json"
	"strconv"
	"time"
)

// Record is one DynamoDB Streams record exactly as AWS Lambda receives it (JSON). The raw
// CDC topic carries these bytes, so a record bridged by Lambda and one polled from the
// Streams API are the same message.
type Record struct {
	EventID string `json:"eventID"`
	// EventName is INSERT, MODIFY or REMOVE.
	EventName    string `json:"eventName"`
	EventVersion string `json:"eventVersion,omitempty"`
	// EventSource is "aws:dynamodb".
	EventSource string `json:"eventSource"`
	AWSRegion   string `json:"awsRegion"`
	// EventSourceARN is the stream's ARN; it identifies the stream in the version order.
	EventSourceARN string       `json:"eventSourceARN"`
	DynamoDB       StreamRecord `json:"dynamodb"`
	// UserIdentity is set on deletes made by DynamoDB TTL: {"type":"Service",
	// "principalId":"dynamodb.amazonaws.com"}.
	UserIdentity *UserIdentity `json:"userIdentity,omitempty"`
}

// StreamRecord is the "dynamodb" part of a Record.
type StreamRecord struct {
	// ApproximateCreationDateTime is epoch seconds as a JSON number, as Lambda writes it;
	// it may carry a fraction or an exponent. json.Number keeps its exact text.
	ApproximateCreationDateTime json.Number `json:"ApproximateCreationDateTime,omitempty"`
	// Keys, NewImage and OldImage are nil when absent; an empty non-nil map is written as {}.
	Keys     map[string]AttributeValue `json:"Keys,omitempty"`
	NewImage map[string]AttributeValue `json:"NewImage,omitempty"`
	OldImage map[string]AttributeValue `json:"OldImage,omitempty"`
	// SequenceNumber is a decimal integer of 21 digits or more: it exceeds 64 bits.
	SequenceNumber string `json:"SequenceNumber"`
	SizeBytes      int64  `json:"SizeBytes"`
	// StreamViewType is KEYS_ONLY, NEW_IMAGE, OLD_IMAGE or NEW_AND_OLD_IMAGES.
	StreamViewType string `json:"StreamViewType,omitempty"`
}

// UserIdentity names who made a change; DynamoDB sets it only for TTL deletes.
type UserIdentity struct {
	Type        string `json:"type"`
	PrincipalID string `json:"principalId"`
}

// TTL principal of a delete made by DynamoDB's time to live.
const (
	ttlType      = "Service"
	ttlPrincipal = "dynamodb.amazonaws.com"
)

// EpochSeconds formats t as ApproximateCreationDateTime: epoch seconds with a millisecond
// fraction, for producers that build a Record from a time.Time.
func EpochSeconds(t time.Time) json.Number {
	ms := t.UnixMilli()
	neg := ms < 0
	if neg {
		ms = -ms
	}
	b := make([]byte, 0, 24)
	if neg {
		b = append(b, '-')
	}
	b = strconv.AppendInt(b, ms/1000, 10)
	if frac := ms % 1000; frac != 0 {
		b = append(b, '.', byte('0'+frac/100), byte('0'+frac/10%10), byte('0'+frac%10))
	}
	return json.Number(b)
}

// ParseEpochSeconds reads ApproximateCreationDateTime (epoch seconds, maybe with a
// fraction or an exponent: 1479499740, 1479499740.5, 1.47949974E9) with the parser the
// version order uses, to millisecond precision (finer digits truncated). A number out of
// range is an *InvalidError (bad_timestamp).
func ParseEpochSeconds(n json.Number) (time.Time, error) {
	ms, err := createdMillis(string(n))
	if err != nil {
		return time.Time{}, err
	}
	return time.UnixMilli(ms).UTC(), nil
}

// ParseRecord reads one record. It rejects bad JSON, fields of the wrong JSON type,
// malformed AttributeValues, and records without eventName, dynamodb.SequenceNumber or
// dynamodb.Keys, with an *InvalidError. Unknown fields are skipped.
func ParseRecord(b []byte) (*Record, error) {
	r := &Record{}
	var f recordFields
	l := lexer{b: b}
	if err := scanRecord(&l, &f, treeSink{r: r}); err != nil {
		return nil, err
	}
	if err := f.checkRequired(); err != nil {
		return nil, err
	}
	r.EventID = f.eventID.text()
	r.EventName = f.eventName.text()
	r.EventVersion = f.eventVersion.text()
	r.EventSource = f.eventSource.text()
	r.AWSRegion = f.awsRegion.text()
	r.EventSourceARN = f.eventSourceARN.text()
	r.DynamoDB.ApproximateCreationDateTime = json.Number(f.created)
	r.DynamoDB.SequenceNumber = f.seq.text()
	r.DynamoDB.SizeBytes = f.sizeBytes
	r.DynamoDB.StreamViewType = f.viewType.text()
	if f.hasUI {
		r.UserIdentity = &UserIdentity{Type: f.uiType.text(), PrincipalID: f.uiPrincipal.text()}
	}
	return r, nil
}

// UnmarshalJSON parses with ParseRecord's rules.
func (r *Record) UnmarshalJSON(b []byte) error {
	p, err := ParseRecord(b)
	if err != nil {
		return err
	}
	*r = *p
	return nil
}

// MarshalJSON is Marshal.
func (r Record) MarshalJSON() ([]byte, error) { return r.Marshal() }

// Marshal writes the record in Lambda's JSON shape and field names; ParseRecord reads it
// back to an equal Record. Attribute names are written sorted, strings without HTML
// escaping.
func (r *Record) Marshal() ([]byte, error) {
	b := make([]byte, 0, 512)
	str := func(name, v string) {
		b = append(b, ',', '"')
		b = append(b, name...)
		b = append(b, '"', ':')
		b = appendQuoted(b, v)
	}
	b = append(b, `{"eventID":`...)
	b = appendQuoted(b, r.EventID)
	str("eventName", r.EventName)
	if r.EventVersion != "" {
		str("eventVersion", r.EventVersion)
	}
	str("eventSource", r.EventSource)
	str("awsRegion", r.AWSRegion)
	str("eventSourceARN", r.EventSourceARN)
	b = append(b, `,"dynamodb":{`...)
	d := &r.DynamoDB
	first := true
	field := func(name string) {
		if !first {
			b = append(b, ',')
		}
		first = false
		b = append(b, '"')
		b = append(b, name...)
		b = append(b, '"', ':')
	}
	if d.ApproximateCreationDateTime != "" {
		n := string(d.ApproximateCreationDateTime)
		if !isJSONNumberText(n) {
			return nil, invalid(ReasonBadTimestamp, "dynamodb.ApproximateCreationDateTime", quote(n)+" is not a JSON number")
		}
		field("ApproximateCreationDateTime")
		b = append(b, n...)
	}
	for _, img := range []struct {
		name string
		m    map[string]AttributeValue
	}{{"Keys", d.Keys}, {"NewImage", d.NewImage}, {"OldImage", d.OldImage}} {
		if img.m == nil {
			continue
		}
		field(img.name)
		var err error
		if b, err = appendDynamoImage(b, img.m, 2); err != nil {
			return nil, within(err, "dynamodb."+img.name)
		}
	}
	field("SequenceNumber")
	b = appendQuoted(b, d.SequenceNumber)
	field("SizeBytes")
	b = strconv.AppendInt(b, d.SizeBytes, 10)
	if d.StreamViewType != "" {
		field("StreamViewType")
		b = appendQuoted(b, d.StreamViewType)
	}
	b = append(b, '}')
	if u := r.UserIdentity; u != nil {
		b = append(b, `,"userIdentity":{"type":`...)
		b = appendQuoted(b, u.Type)
		b = append(b, `,"principalId":`...)
		b = appendQuoted(b, u.PrincipalID)
		b = append(b, '}')
	}
	return append(b, '}'), nil
}

// token is a string field as it appeared in the record: raw bytes, still escaped.
type token struct {
	raw []byte
	esc bool
	set bool // present and not null
}

func (t token) text() string {
	if !t.set {
		return ""
	}
	return rawText(t.raw, t.esc)
}

// appendTo appends the decoded text.
func (t token) appendTo(dst []byte) []byte {
	if t.esc {
		return unescape(dst, t.raw)
	}
	return append(dst, t.raw...)
}

// is compares the decoded text with s without allocating.
func (t token) is(s string) bool {
	if !t.esc {
		return string(t.raw) == s
	}
	var buf [32]byte
	return string(unescape(buf[:0], t.raw)) == s
}

// recordFields are the scalar fields of one record as raw tokens. Both ParseRecord and
// ParseChange fill it through scanRecord, so both apply the same syntax rules; only the
// images go different ways (see imageSink).
type recordFields struct {
	eventID, eventName, eventVersion, eventSource, awsRegion, eventSourceARN token
	seq, viewType, uiType, uiPrincipal                                       token
	created                                                                  []byte // number token
	sizeBytes                                                                int64
	hasUI                                                                    bool
	images                                                                   [3]bool // Keys, NewImage, OldImage present
	seen                                                                     uint32  // known fields seen, to reject duplicates
}

func (f *recordFields) checkRequired() error {
	switch {
	case !f.eventName.set || len(f.eventName.raw) == 0:
		return invalid(ReasonMissingField, "eventName", "absent or empty")
	case !f.seq.set || len(f.seq.raw) == 0:
		return invalid(ReasonMissingField, "dynamodb.SequenceNumber", "absent or empty")
	case !f.images[imgKeys]:
		return invalid(ReasonMissingKey, "dynamodb.Keys", "absent")
	}
	return nil
}

// imageKind names the three images of a stream record.
type imageKind uint8

const (
	imgKeys imageKind = iota
	imgNew
	imgOld
)

var imageNames = [3]string{"dynamodb.Keys", "dynamodb.NewImage", "dynamodb.OldImage"}

// imageSink consumes the images while scanRecord walks the record: ParseRecord builds
// trees, ParseChange writes plain JSON and the key in the same pass over the bytes.
type imageSink interface {
	// image consumes the value of one image at l, which is not null. depth is the image's
	// nesting depth in the record.
	image(l *lexer, kind imageKind, depth int) error
}

type treeSink struct{ r *Record }

func (s treeSink) image(l *lexer, kind imageKind, depth int) error {
	m, err := parseImage(l, depth)
	if err != nil {
		return err
	}
	switch kind {
	case imgKeys:
		s.r.DynamoDB.Keys = m
	case imgNew:
		s.r.DynamoDB.NewImage = m
	case imgOld:
		s.r.DynamoDB.OldImage = m
	}
	return nil
}

// Bits of recordFields.seen, one per known field.
const (
	seenEventID = 1 << iota
	seenEventName
	seenEventVersion
	seenEventSource
	seenAWSRegion
	seenEventSourceARN
	seenDynamoDB
	seenUserIdentity
	seenCreated
	seenKeys
	seenNewImage
	seenOldImage
	seenSeq
	seenSizeBytes
	seenViewType
	seenUIType
	seenUIPrincipal
)

// memberName reads a member name, decoding escapes into buf when there are any.
func memberName(l *lexer, buf []byte) ([]byte, error) {
	raw, esc, err := l.name()
	if err != nil || !esc {
		return raw, err
	}
	return unescape(buf[:0], raw), nil
}

// once marks a known field seen and rejects its second appearance: with duplicates,
// which one counts would depend on the reader.
func (f *recordFields) once(bit uint32, field string) error {
	if f.seen&bit != 0 {
		return invalid(ReasonBadJSON, field, "field appears twice")
	}
	f.seen |= bit
	return nil
}

func stringField(l *lexer, t *token, field string) error {
	if l.null() {
		return nil
	}
	if l.peek() != '"' {
		return invalid(ReasonBadJSON, field, "expected a string")
	}
	raw, esc, err := l.str()
	*t = token{raw: raw, esc: esc, set: err == nil}
	return err
}

// scanRecord walks one record, filling f and handing the images to sink.
func scanRecord(l *lexer, f *recordFields, sink imageSink) error {
	if l.peek() != '{' {
		return l.syntax("expected a JSON object")
	}
	empty, err := l.objectStart()
	if err != nil {
		return err
	}
	var buf [32]byte
	for !empty {
		name, err := memberName(l, buf[:])
		if err != nil {
			return err
		}
		switch string(name) {
		case "eventID":
			err = f.stringOnce(l, seenEventID, &f.eventID, "eventID")
		case "eventName":
			err = f.stringOnce(l, seenEventName, &f.eventName, "eventName")
		case "eventVersion":
			err = f.stringOnce(l, seenEventVersion, &f.eventVersion, "eventVersion")
		case "eventSource":
			err = f.stringOnce(l, seenEventSource, &f.eventSource, "eventSource")
		case "awsRegion":
			err = f.stringOnce(l, seenAWSRegion, &f.awsRegion, "awsRegion")
		case "eventSourceARN":
			err = f.stringOnce(l, seenEventSourceARN, &f.eventSourceARN, "eventSourceARN")
		case "dynamodb":
			if err = f.once(seenDynamoDB, "dynamodb"); err == nil {
				err = scanStreamRecord(l, f, sink)
			}
		case "userIdentity":
			if err = f.once(seenUserIdentity, "userIdentity"); err == nil {
				err = scanUserIdentity(l, f)
			}
		default:
			err = l.skip(1)
		}
		if err != nil {
			return err
		}
		more, err := l.objectNext()
		if err != nil {
			return err
		}
		empty = !more
	}
	return l.end()
}

func (f *recordFields) stringOnce(l *lexer, bit uint32, t *token, field string) error {
	if err := f.once(bit, field); err != nil {
		return err
	}
	return stringField(l, t, field)
}

func scanStreamRecord(l *lexer, f *recordFields, sink imageSink) error {
	if l.null() {
		return nil
	}
	if l.peek() != '{' {
		return invalid(ReasonBadJSON, "dynamodb", "expected an object")
	}
	empty, err := l.objectStart()
	if err != nil {
		return err
	}
	var buf [32]byte
	for !empty {
		name, err := memberName(l, buf[:])
		if err != nil {
			return err
		}
		switch string(name) {
		case "ApproximateCreationDateTime":
			if err = f.once(seenCreated, "dynamodb.ApproximateCreationDateTime"); err == nil && !l.null() {
				if c := l.peek(); c != '-' && !isDigit(c) {
					return invalid(ReasonBadJSON, "dynamodb.ApproximateCreationDateTime", "expected a number")
				}
				f.created, err = l.number()
			}
		case "Keys":
			err = f.image(l, sink, imgKeys, seenKeys)
		case "NewImage":
			err = f.image(l, sink, imgNew, seenNewImage)
		case "OldImage":
			err = f.image(l, sink, imgOld, seenOldImage)
		case "SequenceNumber":
			err = f.stringOnce(l, seenSeq, &f.seq, "dynamodb.SequenceNumber")
		case "SizeBytes":
			if err = f.once(seenSizeBytes, "dynamodb.SizeBytes"); err == nil && !l.null() {
				err = scanSizeBytes(l, f)
			}
		case "StreamViewType":
			err = f.stringOnce(l, seenViewType, &f.viewType, "dynamodb.StreamViewType")
		default:
			err = l.skip(2)
		}
		if err != nil {
			return err
		}
		more, err := l.objectNext()
		if err != nil {
			return err
		}
		empty = !more
	}
	return nil
}

func (f *recordFields) image(l *lexer, sink imageSink, kind imageKind, bit uint32) error {
	if err := f.once(bit, imageNames[kind]); err != nil {
		return err
	}
	if l.null() {
		return nil
	}
	if err := sink.image(l, kind, 2); err != nil {
		return within(err, imageNames[kind])
	}
	f.images[kind] = true
	return nil
}

func scanSizeBytes(l *lexer, f *recordFields) error {
	if c := l.peek(); c != '-' && !isDigit(c) {
		return invalid(ReasonBadJSON, "dynamodb.SizeBytes", "expected a number")
	}
	tok, err := l.number()
	if err != nil {
		return err
	}
	n, perr := strconv.ParseInt(string(tok), 10, 64)
	if perr != nil || n < 0 {
		return invalid(ReasonBadJSON, "dynamodb.SizeBytes", quote(tok)+" is not a byte count")
	}
	f.sizeBytes = n
	return nil
}

func scanUserIdentity(l *lexer, f *recordFields) error {
	if l.null() {
		return nil
	}
	if l.peek() != '{' {
		return invalid(ReasonBadJSON, "userIdentity", "expected an object")
	}
	f.hasUI = true
	empty, err := l.objectStart()
	if err != nil {
		return err
	}
	var buf [32]byte
	for !empty {
		name, err := memberName(l, buf[:])
		if err != nil {
			return err
		}
		switch string(name) {
		case "type":
			err = f.stringOnce(l, seenUIType, &f.uiType, "userIdentity.type")
		case "principalId":
			err = f.stringOnce(l, seenUIPrincipal, &f.uiPrincipal, "userIdentity.principalId")
		default:
			err = l.skip(2)
		}
		if err != nil {
			return err
		}
		more, err := l.objectNext()
		if err != nil {
			return err
		}
		empty = !more
	}
	return nil
}
