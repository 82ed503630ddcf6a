package lake

import (
	"bytes"
	"fmt"
	"unsafe"

	"github.com/klauspost/compress/zstd"
	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress"
	"github.com/parquet-go/parquet-go/format"
)

// ParquetRow is the Parquet schema of lake objects (SCHEMA.md), as parquet-go reads it: a
// reader may use it with parquet.NewGenericReader[ParquetRow]. Optional columns are
// pointers (nil is null); timestamps are epoch milliseconds of TIMESTAMP(MILLIS, UTC)
// columns. The sink writes rows itself (sorted header maps make the bytes
// deterministic), in exactly this column order.
type ParquetRow struct {
	Topic                   string            `parquet:"topic,dict"`
	Partition               int32             `parquet:"partition"`
	Offset                  int64             `parquet:"offset"`
	Timestamp               int64             `parquet:"timestamp,timestamp(millisecond:utc)"`
	Key                     *string           `parquet:"key,optional"`
	KeyEncoding             *string           `parquet:"key_encoding,optional,dict"`
	Headers                 map[string]string `parquet:"headers,optional"`
	Value                   *string           `parquet:"value,optional"`
	ValueEncoding           *string           `parquet:"value_encoding,optional,dict"`
	EventName               *string           `parquet:"event_name,optional,dict"`
	Keys                    *string           `parquet:"keys,optional"`
	SequenceNumber          *string           `parquet:"sequence_number,optional"`
	ApproximateCreationTime *int64            `parquet:"approximate_creation_time,optional,timestamp(millisecond:utc)"`
	EventID                 *string           `parquet:"event_id,optional"`
	OccurredAt              *int64            `parquet:"occurred_at,optional,timestamp(millisecond:utc)"`
	Source                  *string           `parquet:"source,optional,dict"`
	AppID                   *string           `parquet:"app_id,optional,dict"`
	AppVersion              *string           `parquet:"app_version,optional,dict"`
	DeviceID                *string           `parquet:"device_id,optional"`
	UserID                  *string           `parquet:"user_id,optional"`
}

// Leaf columns of the schema, in order.
const (
	colTopic = iota
	colPartition
	colOffset
	colTimestamp
	colKey
	colKeyEncoding
	colHeaderKey
	colHeaderValue
	colValue
	colValueEncoding
	colEventName
	colKeys
	colSequenceNumber
	colCreated
	colEventID
	colOccurred
	colSource
	colAppID
	colAppVersion
	colDeviceID
	colUserID
	numColumns
)

var parquetSchema = func() *parquet.Schema {
	s := parquet.SchemaOf(ParquetRow{})
	s = parquet.NewSchema("lake_record", s)
	want := [numColumns][]string{
		{"topic"}, {"partition"}, {"offset"}, {"timestamp"}, {"key"}, {"key_encoding"},
		{"headers", "key_value", "key"}, {"headers", "key_value", "value"},
		{"value"}, {"value_encoding"}, {"event_name"}, {"keys"}, {"sequence_number"},
		{"approximate_creation_time"}, {"event_id"}, {"occurred_at"}, {"source"},
		{"app_id"}, {"app_version"}, {"device_id"}, {"user_id"},
	}
	cols := s.Columns()
	if len(cols) != numColumns {
		panic(fmt.Sprintf("lake: parquet schema has %d columns, want %d", len(cols), numColumns))
	}
	for i, path := range want {
		leaf, ok := s.Lookup(path...)
		if !ok || leaf.ColumnIndex != i {
			panic(fmt.Sprintf("lake: parquet column %v is not at index %d", path, i))
		}
	}
	return s
}()

var (
	encBase64 = []byte(EncodingBase64)
	encString = []byte(EncodingString)
)

// parquetEncoder writes Parquet objects. Its row buffers are reused; the writer is not:
// parquet-go's Writer.Reset keeps state of the previous file (the next file came out
// with different bytes), and a new writer per object costs little next to its rows.
type parquetEncoder struct {
	codec compress.Codec
	rows  []parquet.Row
}

// zstdCodec is parquet-go's ZSTD codec (the same encoder options, so the same bytes)
// with its own encoder instead of one from a sync.Pool, which the garbage collector
// empties between flushes; a zstd encoder is expensive to build.
type zstdCodec struct{ enc *zstd.Encoder }

func newZstdCodec() *zstdCodec {
	enc, err := zstd.NewWriter(nil,
		zstd.WithEncoderConcurrency(1),
		zstd.WithEncoderLevel(zstd.SpeedDefault),
		zstd.WithZeroFrames(true),
		zstd.WithEncoderCRC(false),
	)
	if err != nil {
		panic(err) // only for invalid options
	}
	return &zstdCodec{enc: enc}
}

func (c *zstdCodec) String() string                            { return "ZSTD" }
func (c *zstdCodec) CompressionCodec() format.CompressionCodec { return format.Zstd }
func (c *zstdCodec) Encode(dst, src []byte) ([]byte, error) {
	return c.enc.EncodeAll(src, dst[:0]), nil
}
func (c *zstdCodec) Decode(dst, src []byte) ([]byte, error) { return parquet.Zstd.Decode(dst, src) }

// rowChunk is how many rows go to the writer at once.
const rowChunk = 256

func (e *parquetEncoder) encode(out *bytes.Buffer, topic string, partition int32, d *decoder, idx []int32) error {
	w := parquet.NewWriter(out, parquetSchema, parquet.Compression(e.codec))
	if e.rows == nil {
		e.rows = make([]parquet.Row, rowChunk)
	}
	topicBytes := stringBytes(topic)
	for len(idx) > 0 {
		n := min(len(idx), rowChunk)
		for j, i := range idx[:n] {
			e.rows[j] = appendRow(e.rows[j][:0], topicBytes, partition, d, &d.recs[i])
		}
		if _, err := w.WriteRows(e.rows[:n]); err != nil {
			return err
		}
		idx = idx[n:]
	}
	for j := range e.rows {
		clear(e.rows[j]) // drop references into this flush's records
	}
	return w.Close()
}

func appendRow(row parquet.Row, topic []byte, partition int32, d *decoder, x *rec) parquet.Row {
	opt := func(row parquet.Row, present bool, v parquet.Value, col int) parquet.Row {
		if !present {
			return append(row, parquet.NullValue().Level(0, 0, col))
		}
		return append(row, v.Level(0, 1, col))
	}
	str := func(row parquet.Row, present bool, s string, col int) parquet.Row {
		if !present {
			return append(row, parquet.NullValue().Level(0, 0, col))
		}
		return append(row, parquet.ByteArrayValue(stringBytes(s)).Level(0, 1, col))
	}
	row = append(row,
		parquet.ByteArrayValue(topic).Level(0, 0, colTopic),
		parquet.Int32Value(partition).Level(0, 0, colPartition),
		parquet.Int64Value(x.r.Offset).Level(0, 0, colOffset),
		parquet.Int64Value(x.ts).Level(0, 0, colTimestamp),
	)
	hasKey := x.r.Key != nil
	row = opt(row, hasKey, parquet.ByteArrayValue(x.key.bytes(d.arena)), colKey)
	row = opt(row, hasKey && x.keyB64, parquet.ByteArrayValue(encBase64), colKeyEncoding)
	if x.hdrN == 0 {
		row = append(row,
			parquet.NullValue().Level(0, 0, colHeaderKey),
			parquet.NullValue().Level(0, 0, colHeaderValue))
	} else {
		hs := d.hdrs[x.hdrOff : x.hdrOff+x.hdrN]
		for i, h := range hs {
			row = append(row, parquet.ByteArrayValue(stringBytes(h.key)).Level(min(i, 1), 2, colHeaderKey))
		}
		for i, h := range hs {
			row = append(row, parquet.ByteArrayValue(h.value).Level(min(i, 1), 2, colHeaderValue))
		}
	}
	row = opt(row, x.valueForm != valueNone, parquet.ByteArrayValue(x.value.bytes(d.arena)), colValue)
	var enc []byte
	switch x.valueForm {
	case valueString:
		enc = encString
	case valueBase64:
		enc = encBase64
	}
	row = opt(row, enc != nil, parquet.ByteArrayValue(enc), colValueEncoding)
	row = str(row, x.has&hasEventName != 0, x.eventName, colEventName)
	row = opt(row, x.has&hasKeys != 0, parquet.ByteArrayValue(x.keys.bytes(d.arena)), colKeys)
	row = str(row, x.has&hasSeq != 0, x.seq, colSequenceNumber)
	row = opt(row, x.has&hasCreated != 0, parquet.Int64Value(x.created), colCreated)
	row = str(row, x.has&hasEventID != 0, x.eventID, colEventID)
	row = opt(row, x.has&hasOccurred != 0, parquet.Int64Value(x.occurred), colOccurred)
	row = str(row, x.has&hasSource != 0, x.source, colSource)
	row = str(row, x.has&hasAppID != 0, x.appID, colAppID)
	row = str(row, x.has&hasAppVersion != 0, x.appVersion, colAppVersion)
	row = str(row, x.has&hasDeviceID != 0, x.deviceID, colDeviceID)
	row = str(row, x.has&hasUserID != 0, x.userID, colUserID)
	return row
}

// stringBytes views s as bytes without copying; parquet-go copies values it is given
// and never writes to them.
func stringBytes(s string) []byte {
	return unsafe.Slice(unsafe.StringData(s), len(s))
}
