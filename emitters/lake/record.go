package lake

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/streamhub/streamhub/internal/jsonstr"
	"github.com/streamhub/streamhub/state"
)

// Reasons a Flush rejects a record (emitters.Reject.Reason).
const (
	// ReasonBadTimestamp: the record's Kafka timestamp is outside the years 0000–9999,
	// which neither RFC 3339 nor the dt= folder can name.
	ReasonBadTimestamp = "bad_timestamp"
	// ReasonTooLarge: the record's key, value and headers together exceed MaxRecordBytes.
	ReasonTooLarge = "too_large"
)

// MaxRecordBytes bounds the key, value and header bytes of one record a lake object
// takes; a larger record is rejected with ReasonTooLarge. Parquet byte arrays end at
// 2 GiB and no query engine reads a single field anywhere near that.
const MaxRecordBytes = 256 << 20

// maxRecordBytes is MaxRecordBytes; tests lower it.
var maxRecordBytes = MaxRecordBytes

// Encodings of the key and value columns (key_encoding, value_encoding).
const (
	// EncodingString: the value was UTF-8 text but not JSON; the value column holds it
	// as a JSON string.
	EncodingString = "string"
	// EncodingBase64: the bytes were not valid UTF-8; the column holds their standard,
	// padded base64 (for value: as a JSON string).
	EncodingBase64 = "base64"
)

// Record kinds.
const (
	kindPlain uint8 = iota
	kindCDC
	kindEvent
)

// Value forms.
const (
	valueNone   uint8 = iota // nil value: the value column is absent
	valueJSON                // the value is JSON; written as it is (or compacted)
	valueString              // UTF-8 text, not JSON: written as a JSON string
	valueBase64              // not UTF-8: written as a JSON string of its base64
)

// Optional string fields of collector events.
const (
	hasEventID uint16 = 1 << iota
	hasEventName
	hasOccurred
	hasSource
	hasAppID
	hasAppVersion
	hasDeviceID
	hasUserID
	hasSeq
	hasKeys
	hasCreated
)

// Millisecond range of years 0000 through 9999: what RFC 3339 and dt=YYYY can name.
var (
	minMillis = time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli()
	maxMillis = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli() - 1
)

func inRange(ms int64) bool { return minMillis <= ms && ms <= maxMillis }

// span is derived text: a slice of the record itself, or a range of the flush's arena
// (offsets, because the arena may grow while it is filled).
type span struct {
	direct   []byte
	off, end int
	inArena  bool
}

func (s span) bytes(arena []byte) []byte {
	if s.inArena {
		return arena[s.off:s.end]
	}
	return s.direct
}

// header is one record header after sorting and de-duplication.
type header struct {
	key   string
	value []byte
}

// rec is one record of a flush, decoded once and encoded by either format.
type rec struct {
	r         *kgo.Record
	ts        int64 // Kafka timestamp, ms
	hour      int64 // partition hour: ms / 1h of the partition time
	kind      uint8
	valueForm uint8
	keyB64    bool
	has       uint16
	value     span // the value column's JSON text
	key       span // the key column's text
	hdrOff    int  // headers: hdrs[hdrOff : hdrOff+hdrN]
	hdrN      int

	eventName string // CDC and events
	// CDC
	seq     string
	keys    span // plain JSON of dynamodb.Keys
	created int64
	// events
	eventID, source, appID, appVersion, deviceID, userID string
	occurred                                             int64
}

// decoder holds a flush's decoded records and the buffers they point into.
type decoder struct {
	recs     []rec
	arena    []byte
	hdrs     []header
	compact  bytes.Buffer
	byRecord bool
}

func (d *decoder) reset(byRecord bool) {
	clear(d.recs) // drop references to the previous batch's records
	d.recs = d.recs[:0]
	d.arena = d.arena[:0]
	clear(d.hdrs)
	d.hdrs = d.hdrs[:0]
	d.byRecord = byRecord
}

// add decodes r; it returns a reason word and an error when r cannot be written at all.
func (d *decoder) add(r *kgo.Record) (string, error) {
	size := len(r.Key) + len(r.Value)
	for _, h := range r.Headers {
		size += len(h.Key) + len(h.Value)
	}
	if size > maxRecordBytes {
		return ReasonTooLarge, fmt.Errorf("lake: record of %d bytes exceeds %d", size, maxRecordBytes)
	}
	ts := r.Timestamp.UnixMilli()
	if r.Timestamp.Year() < 0 || r.Timestamp.Year() > 9999 || !inRange(ts) {
		return ReasonBadTimestamp, fmt.Errorf("lake: Kafka timestamp %s is outside the years 0000-9999", r.Timestamp.UTC().Format(time.RFC3339))
	}
	d.recs = append(d.recs, rec{r: r, ts: ts})
	x := &d.recs[len(d.recs)-1]
	part := ts

	if r.Key != nil {
		if utf8.Valid(r.Key) {
			x.key = span{direct: r.Key}
		} else {
			x.keyB64 = true
			x.key = d.base64(r.Key)
		}
	}
	d.headers(x, r.Headers)

	if v := r.Value; v != nil {
		if startsObject(v) && maybeCDC(v) {
			if cdc, err := state.ParseRecordHeader(v); err == nil {
				// ParseRecordHeader validated the JSON, UTF-8 included.
				x.kind = kindCDC
				x.valueForm = valueJSON
				x.value = d.jsonText(v)
				d.fromCDC(x, &cdc)
			}
		}
		if x.kind != kindCDC {
			text := utf8.Valid(v)
			switch {
			case text && json.Valid(v):
				x.valueForm = valueJSON
				x.value = d.jsonText(v)
				if startsObject(v) {
					d.fromEvent(x, v)
				}
			case text:
				x.valueForm = valueString
				off := len(d.arena)
				d.arena = jsonstr.Append(d.arena, v)
				x.value = span{off: off, end: len(d.arena), inArena: true}
			default:
				x.valueForm = valueBase64
				off := len(d.arena)
				d.arena = append(d.arena, '"')
				d.arena = base64.StdEncoding.AppendEncode(d.arena, v)
				d.arena = append(d.arena, '"')
				x.value = span{off: off, end: len(d.arena), inArena: true}
			}
		}
	}
	if d.byRecord {
		switch {
		case x.kind == kindCDC && x.has&hasCreated != 0:
			part = x.created
		case x.kind == kindEvent && x.has&hasOccurred != 0:
			part = x.occurred
		}
	}
	x.hour = floorDiv(part, int64(time.Hour/time.Millisecond))
	return "", nil
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && a < 0 {
		q--
	}
	return q
}

// maybeCDC is false for a value ParseRecordHeader cannot accept: one without the member name
// "dynamodb", written plainly or with an escape. It spares collector topics a parse.
func maybeCDC(v []byte) bool {
	return bytes.Contains(v, []byte(`"dynamodb"`)) || bytes.Contains(v, []byte(`\u`))
}

func startsObject(v []byte) bool {
	for _, c := range v {
		switch c {
		case ' ', '\t', '\n', '\r':
			continue
		}
		return c == '{'
	}
	return false
}

// jsonText is valid JSON v as one line: v without surrounding white space, or compacted
// into the arena when it holds a line break (white space between tokens; JSON strings
// cannot hold one raw).
func (d *decoder) jsonText(v []byte) span {
	v = bytes.Trim(v, " \t\n\r")
	if bytes.IndexByte(v, '\n') < 0 && bytes.IndexByte(v, '\r') < 0 {
		return span{direct: v}
	}
	d.compact.Reset()
	if err := json.Compact(&d.compact, v); err != nil {
		// Cannot happen for valid JSON; keep the line intact anyway.
		off := len(d.arena)
		d.arena = jsonstr.Append(d.arena, v)
		return span{off: off, end: len(d.arena), inArena: true}
	}
	off := len(d.arena)
	d.arena = append(d.arena, d.compact.Bytes()...)
	return span{off: off, end: len(d.arena), inArena: true}
}

func (d *decoder) base64(b []byte) span {
	off := len(d.arena)
	d.arena = base64.StdEncoding.AppendEncode(d.arena, b)
	return span{off: off, end: len(d.arena), inArena: true}
}

// headers sorts the record's headers by key; of repeated keys the last one wins. A value
// that is not UTF-8 is kept as its base64.
func (d *decoder) headers(x *rec, hs []kgo.RecordHeader) {
	x.hdrOff = len(d.hdrs)
	if len(hs) == 0 {
		return
	}
	for _, h := range hs {
		k := h.Key
		if !utf8.ValidString(k) {
			k = strings.ToValidUTF8(k, "\uFFFD")
		}
		v := h.Value
		if !utf8.Valid(v) {
			v = base64.StdEncoding.AppendEncode(nil, v)
		}
		d.hdrs = append(d.hdrs, header{key: k, value: v})
	}
	own := d.hdrs[x.hdrOff:]
	// Stable, so of equal keys the later header stays later; then keep the last of each.
	slices.SortStableFunc(own, func(a, b header) int { return strings.Compare(a.key, b.key) })
	n := 0
	for i := range own {
		if i+1 < len(own) && own[i+1].key == own[i].key {
			continue
		}
		own[n] = own[i]
		n++
	}
	clear(own[n:])
	d.hdrs = d.hdrs[:x.hdrOff+n]
	x.hdrN = n
}

func (d *decoder) fromCDC(x *rec, h *state.RecordHeader) {
	x.eventName = h.EventName
	x.has |= hasEventName
	if h.SequenceNumber != "" {
		x.seq = h.SequenceNumber
		x.has |= hasSeq
	}
	if h.Keys != nil {
		x.keys = span{direct: h.Keys}
		x.has |= hasKeys
	}
	if n := h.ApproximateCreationDateTime; n != "" {
		if t, err := state.ParseEpochSeconds(n); err == nil && inRange(t.UnixMilli()) {
			x.created = t.UnixMilli()
			x.has |= hasCreated
		}
	}
}

// envelope is the collector's event envelope, each field kept raw so that a field of the
// wrong type only drops that field.
type envelope struct {
	EventID    json.RawMessage `json:"event_id"`
	EventName  json.RawMessage `json:"event_name"`
	OccurredAt json.RawMessage `json:"occurred_at"`
	Source     json.RawMessage `json:"source"`
	App        json.RawMessage `json:"app"`
	Device     json.RawMessage `json:"device"`
	User       json.RawMessage `json:"user"`
}

type idVersion struct {
	ID      json.RawMessage `json:"id"`
	Version json.RawMessage `json:"version"`
}

var errNotString = errors.New("not a JSON string")

func jsonString(raw json.RawMessage) (string, error) {
	if len(raw) == 0 || raw[0] != '"' {
		return "", errNotString
	}
	var s string
	err := json.Unmarshal(raw, &s)
	return s, err
}

// fromEvent reads a collector envelope out of the JSON object v; v is an event when it
// has string event_id, event_name and occurred_at.
func (d *decoder) fromEvent(x *rec, v []byte) {
	var e envelope
	if json.Unmarshal(v, &e) != nil {
		return
	}
	id, err1 := jsonString(e.EventID)
	name, err2 := jsonString(e.EventName)
	at, err3 := jsonString(e.OccurredAt)
	if err1 != nil || err2 != nil || err3 != nil {
		return
	}
	x.kind = kindEvent
	x.eventID, x.eventName = id, name
	x.has |= hasEventID | hasEventName
	if t, err := time.Parse(time.RFC3339Nano, at); err == nil && inRange(t.UnixMilli()) {
		x.occurred = t.UnixMilli()
		x.has |= hasOccurred
	}
	if s, err := jsonString(e.Source); err == nil {
		x.source = s
		x.has |= hasSource
	}
	sub := func(raw json.RawMessage) (idVersion, bool) {
		var iv idVersion
		if len(raw) == 0 || raw[0] != '{' || json.Unmarshal(raw, &iv) != nil {
			return iv, false
		}
		return iv, true
	}
	if app, ok := sub(e.App); ok {
		if s, err := jsonString(app.ID); err == nil {
			x.appID = s
			x.has |= hasAppID
		}
		if s, err := jsonString(app.Version); err == nil {
			x.appVersion = s
			x.has |= hasAppVersion
		}
	}
	if dev, ok := sub(e.Device); ok {
		if s, err := jsonString(dev.ID); err == nil {
			x.deviceID = s
			x.has |= hasDeviceID
		}
	}
	if u, ok := sub(e.User); ok {
		if s, err := jsonString(u.ID); err == nil {
			x.userID = s
			x.has |= hasUserID
		}
	}
}
