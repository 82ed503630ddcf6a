package ddbtest

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"maps"
	"slices"
	"strconv"
	"time"

	"github.com/streamhub/streamhub/internal/jsonstr"
	"github.com/streamhub/streamhub/state"
)

// Stream record constants, as AWS writes them.
const (
	eventVersion  = "1.1"
	eventSource   = "aws:dynamodb"
	ttlType       = "Service"
	ttlPrincipal  = "dynamodb.amazonaws.com"
	eventInsert   = "INSERT"
	eventModify   = "MODIFY"
	eventRemove   = "REMOVE"
	viewKeysOnly  = "KEYS_ONLY"
	viewNewImage  = "NEW_IMAGE"
	viewOldImage  = "OLD_IMAGE"
	viewNewAndOld = "NEW_AND_OLD_IMAGES"
)

// seqDigits is the width of the counter part of a sequence number. A sequence number is
// "4" followed by the counter zero-padded to seqDigits: 21 digits, above 2^64.
const seqDigits = 20

// seqString formats counter n as a sequence number.
func seqString(n uint64) string {
	b := make([]byte, 0, seqDigits+1)
	b = append(b, '4')
	d := strconv.AppendUint(nil, n, 10)
	for range seqDigits - len(d) {
		b = append(b, '0')
	}
	return string(append(b, d...))
}

// parseSeq maps a sequence number given by a client onto the counter space. cls is -1
// when s is below every sequence number this server issues, +1 when above, 0 when n
// holds its counter. ok is false when s is not a decimal integer.
func parseSeq(s string) (n uint64, cls int, ok bool) {
	if s == "" || len(s) > 128 {
		return 0, 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, 0, false
		}
	}
	for len(s) > 1 && s[0] == '0' {
		s = s[1:]
	}
	switch {
	case len(s) < seqDigits+1 || s[0] < '4':
		return 0, -1, true
	case len(s) > seqDigits+1 || s[0] > '4':
		return 0, 1, true
	}
	n, err := strconv.ParseUint(s[1:], 10, 64)
	if err != nil {
		return 0, 1, true // beyond the counter's range
	}
	return n, 0, true
}

// eventID is the record's 32-hex-digit event ID: deterministic in the seed, the stream
// and the sequence number.
func eventID(seed int64, streamARN, seq string) string {
	h := sha256.New()
	var b [8]byte
	for i := range 8 {
		b[i] = byte(uint64(seed) >> (56 - 8*i))
	}
	h.Write(b[:])
	h.Write([]byte(streamARN))
	h.Write([]byte{0})
	h.Write([]byte(seq))
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// change is one stream record before encoding.
type change struct {
	eventID, eventName, region, streamARN, seq, viewType string
	created                                              time.Time
	keys, newImage, oldImage                             Item
	ttl                                                  bool
}

// sizeBytes approximates AWS's SizeBytes: the names and values of the keys and images.
func (c *change) sizeBytes() int64 {
	return imageSize(c.keys) + imageSize(c.newImage) + imageSize(c.oldImage)
}

func imageSize(m Item) int64 {
	var n int64
	for name, av := range m {
		n += int64(len(name)) + avSize(&av)
	}
	return n
}

func avSize(av *state.AttributeValue) int64 {
	switch av.Type {
	case state.TypeS:
		return int64(len(av.S))
	case state.TypeN:
		return int64(len(av.N)+1)/2 + 1
	case state.TypeB:
		return int64(len(av.B))
	case state.TypeSS:
		var n int64
		for _, s := range av.SS {
			n += int64(len(s))
		}
		return n
	case state.TypeNS:
		var n int64
		for _, s := range av.NS {
			n += int64(len(s)+1)/2 + 1
		}
		return n
	case state.TypeBS:
		var n int64
		for _, b := range av.BS {
			n += int64(len(b))
		}
		return n
	case state.TypeM:
		return 3 + imageSize(av.M) + int64(len(av.M))
	case state.TypeL:
		n := int64(3 + len(av.L))
		for i := range av.L {
			n += avSize(&av.L[i])
		}
		return n
	}
	return 1 // BOOL, NULL
}

// wire encodes the record as GetRecords returns it: no eventSourceARN (GetRecords has
// none) and, on TTL deletes, userIdentity with the Streams API's member names.
func (c *change) wire() ([]byte, error) {
	b := make([]byte, 0, 384)
	b = append(b, `{"eventID":`...)
	b = jsonstr.Append(b, c.eventID)
	b = append(b, `,"eventName":`...)
	b = jsonstr.Append(b, c.eventName)
	b = append(b, `,"eventVersion":"`+eventVersion+`","eventSource":"`+eventSource+`","awsRegion":`...)
	b = jsonstr.Append(b, c.region)
	b = append(b, `,"dynamodb":{"ApproximateCreationDateTime":`...)
	b = strconv.AppendInt(b, c.created.Unix(), 10)
	var err error
	for _, img := range [...]struct {
		name string
		m    Item
	}{{"Keys", c.keys}, {"NewImage", c.newImage}, {"OldImage", c.oldImage}} {
		if img.m == nil {
			continue
		}
		b = append(b, `,"`...)
		b = append(b, img.name...)
		b = append(b, `":`...)
		if b, err = appendImage(b, img.m); err != nil {
			return nil, err
		}
	}
	b = append(b, `,"SequenceNumber":`...)
	b = jsonstr.Append(b, c.seq)
	b = append(b, `,"SizeBytes":`...)
	b = strconv.AppendInt(b, c.sizeBytes(), 10)
	b = append(b, `,"StreamViewType":`...)
	b = jsonstr.Append(b, c.viewType)
	b = append(b, '}')
	if c.ttl {
		b = append(b, `,"userIdentity":{"PrincipalId":"`+ttlPrincipal+`","Type":"`+ttlType+`"}`...)
	}
	return append(b, '}'), nil
}

// Parts of the Lambda shape that the GetRecords shape spells differently.
const (
	lambdaTTL = `,"userIdentity":{"type":"` + ttlType + `","principalId":"` + ttlPrincipal + `"}}`
	wireTTL   = `,"userIdentity":{"PrincipalId":"` + ttlPrincipal + `","Type":"` + ttlType + `"}}`
)

// wireFromLambda derives the GetRecords encoding from the Lambda one (lambda), which
// costs a copy instead of a second encoding: it drops eventSourceARN and respells
// userIdentity. ok is false if lambda is not laid out as expected; wire then encodes.
func (c *change) wireFromLambda(lambda []byte) ([]byte, bool) {
	arn := jsonstr.Append([]byte(`,"eventSourceARN":`), c.streamARN)
	i := bytes.Index(lambda, arn)
	d := bytes.Index(lambda, []byte(`,"dynamodb":{`))
	if i < 0 || d != i+len(arn) {
		return nil, false
	}
	out := make([]byte, 0, len(lambda)-len(arn)+len(wireTTL)-len(lambdaTTL))
	out = append(out, lambda[:i]...)
	rest := lambda[i+len(arn):]
	if c.ttl {
		if !bytes.HasSuffix(rest, []byte(lambdaTTL)) {
			return nil, false
		}
		out = append(out, rest[:len(rest)-len(lambdaTTL)]...)
		return append(out, wireTTL...), true
	}
	return append(out, rest...), true
}

// lambda encodes the record in the shape AWS Lambda receives, with state.Record: the
// bytes the bridge writes to the raw CDC topic for this record.
func (c *change) lambda() ([]byte, error) {
	r := state.Record{
		EventID:        c.eventID,
		EventName:      c.eventName,
		EventVersion:   eventVersion,
		EventSource:    eventSource,
		AWSRegion:      c.region,
		EventSourceARN: c.streamARN,
		DynamoDB: state.StreamRecord{
			ApproximateCreationDateTime: json.Number(strconv.FormatInt(c.created.Unix(), 10)),
			Keys:                        c.keys,
			NewImage:                    c.newImage,
			OldImage:                    c.oldImage,
			SequenceNumber:              c.seq,
			SizeBytes:                   c.sizeBytes(),
			StreamViewType:              c.viewType,
		},
	}
	if c.ttl {
		r.UserIdentity = &state.UserIdentity{Type: ttlType, PrincipalID: ttlPrincipal}
	}
	return r.Marshal()
}

// appendImage writes a map of attributes in DynamoDB JSON, names sorted.
func appendImage(b []byte, m Item) ([]byte, error) {
	b = append(b, '{')
	for i, name := range slices.Sorted(maps.Keys(m)) {
		if i > 0 {
			b = append(b, ',')
		}
		b = jsonstr.Append(b, name)
		b = append(b, ':')
		v, err := m[name].MarshalJSON()
		if err != nil {
			return nil, err
		}
		b = append(b, v...)
	}
	return append(b, '}'), nil
}

const hexDigits = "0123456789abcdef"
