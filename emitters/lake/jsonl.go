package lake

import (
	"bytes"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/klauspost/compress/gzip"
)

// gzipLevel trades a little size for speed: JSON shrinks well at any level, and the lake
// sink must keep up with the topics it copies.
const gzipLevel = gzip.DefaultCompression

// jsonlEncoder writes JSON Lines, gzip-compressed. The gzip header is fixed (no name, no
// modification time), so equal records give equal bytes.
type jsonlEncoder struct {
	gz   *gzip.Writer
	line []byte
}

func (e *jsonlEncoder) encode(out *bytes.Buffer, topic string, partition int32, d *decoder, idx []int32) error {
	if e.gz == nil {
		gz, err := gzip.NewWriterLevel(out, gzipLevel)
		if err != nil {
			return err
		}
		e.gz = gz
	} else {
		e.gz.Reset(out)
	}
	b := e.line[:0]
	for _, i := range idx {
		b = appendLine(b, topic, partition, d, &d.recs[i])
		if len(b) >= 64<<10 {
			if _, err := e.gz.Write(b); err != nil {
				return err
			}
			b = b[:0]
		}
	}
	if _, err := e.gz.Write(b); err != nil {
		return err
	}
	if cap(b) <= 1<<20 {
		e.line = b[:0]
	}
	return e.gz.Close()
}

// appendLine appends one record as a JSON object and a newline. Fields are written in
// the order of the Parquet columns; absent ones are left out.
func appendLine(b []byte, topic string, partition int32, d *decoder, x *rec) []byte {
	b = append(b, `{"topic":`...)
	b = appendString(b, topic)
	b = append(b, `,"partition":`...)
	b = strconv.AppendInt(b, int64(partition), 10)
	b = append(b, `,"offset":`...)
	b = strconv.AppendInt(b, x.r.Offset, 10)
	b = append(b, `,"timestamp":`...)
	b = appendTime(b, x.ts)
	if x.r.Key != nil {
		b = append(b, `,"key":`...)
		b = appendString(b, x.key.bytes(d.arena))
		if x.keyB64 {
			b = append(b, `,"key_encoding":"base64"`...)
		}
	}
	if x.hdrN > 0 {
		b = append(b, `,"headers":{`...)
		for i, h := range d.hdrs[x.hdrOff : x.hdrOff+x.hdrN] {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, h.key)
			b = append(b, ':')
			b = appendString(b, h.value)
		}
		b = append(b, '}')
	}
	if x.valueForm != valueNone {
		b = append(b, `,"value":`...)
		b = append(b, x.value.bytes(d.arena)...)
		switch x.valueForm {
		case valueString:
			b = append(b, `,"value_encoding":"string"`...)
		case valueBase64:
			b = append(b, `,"value_encoding":"base64"`...)
		}
	}
	if x.has&hasEventName != 0 {
		b = append(b, `,"event_name":`...)
		b = appendString(b, x.eventName)
	}
	if x.has&hasKeys != 0 {
		b = append(b, `,"keys":`...)
		b = append(b, x.keys.bytes(d.arena)...)
	}
	if x.has&hasSeq != 0 {
		b = append(b, `,"sequence_number":`...)
		b = appendString(b, x.seq)
	}
	if x.has&hasCreated != 0 {
		b = append(b, `,"approximate_creation_time":`...)
		b = appendTime(b, x.created)
	}
	if x.has&hasEventID != 0 {
		b = append(b, `,"event_id":`...)
		b = appendString(b, x.eventID)
	}
	if x.has&hasOccurred != 0 {
		b = append(b, `,"occurred_at":`...)
		b = appendTime(b, x.occurred)
	}
	for _, f := range [...]struct {
		bit  uint16
		name string
		v    string
	}{
		{hasSource, `,"source":`, x.source},
		{hasAppID, `,"app_id":`, x.appID},
		{hasAppVersion, `,"app_version":`, x.appVersion},
		{hasDeviceID, `,"device_id":`, x.deviceID},
		{hasUserID, `,"user_id":`, x.userID},
	} {
		if x.has&f.bit != 0 {
			b = append(b, f.name...)
			b = appendString(b, f.v)
		}
	}
	return append(b, '}', '\n')
}

// timeLayout is RFC 3339 with milliseconds, for UTC times.
const timeLayout = "2006-01-02T15:04:05.000Z"

// appendTime appends epoch milliseconds as a quoted RFC 3339 UTC time with milliseconds.
func appendTime(b []byte, ms int64) []byte {
	b = append(b, '"')
	b = time.UnixMilli(ms).UTC().AppendFormat(b, timeLayout)
	return append(b, '"')
}

// appendString appends s as a JSON string in the canonical form of package state (its
// plain JSON): only '"', '\\' and control characters are escaped, everything else is
// written as it is; invalid UTF-8 becomes U+FFFD.
func appendString[T string | []byte](b []byte, s T) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(string(s[i:min(i+utf8.UTFMax, len(s))]))
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, "\uFFFD"...)
			i++
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
