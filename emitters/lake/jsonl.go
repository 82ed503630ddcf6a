package lake

import (
	"bytes"
	"strconv"
	"time"

	"github.com/klauspost/compress/gzip"

	"github.com/streamhub/streamhub/internal/jsonstr"
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
	b = jsonstr.Append(b, topic)
	b = append(b, `,"partition":`...)
	b = strconv.AppendInt(b, int64(partition), 10)
	b = append(b, `,"offset":`...)
	b = strconv.AppendInt(b, x.r.Offset, 10)
	b = append(b, `,"timestamp":`...)
	b = appendTime(b, x.ts)
	if x.r.Key != nil {
		b = append(b, `,"key":`...)
		b = jsonstr.Append(b, x.key.bytes(d.arena))
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
			b = jsonstr.Append(b, h.key)
			b = append(b, ':')
			b = jsonstr.Append(b, h.value)
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
		b = jsonstr.Append(b, x.eventName)
	}
	if x.has&hasKeys != 0 {
		b = append(b, `,"keys":`...)
		b = append(b, x.keys.bytes(d.arena)...)
	}
	if x.has&hasSeq != 0 {
		b = append(b, `,"sequence_number":`...)
		b = jsonstr.Append(b, x.seq)
	}
	if x.has&hasCreated != 0 {
		b = append(b, `,"approximate_creation_time":`...)
		b = appendTime(b, x.created)
	}
	if x.has&hasEventID != 0 {
		b = append(b, `,"event_id":`...)
		b = jsonstr.Append(b, x.eventID)
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
			b = jsonstr.Append(b, f.v)
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
