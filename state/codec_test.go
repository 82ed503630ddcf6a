package state

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"
)

func sampleValues() map[string]*Value {
	return map[string]*Value{
		"live item": {
			Item:    []byte(`{"balance":12345678901234567890.50,"name":"Ada","pk":"user#1","sk":"profile"}`),
			Version: Version{Attr: "1767225600123", HasAttr: true, Seq: "400000000000000000001", Stream: testARN, CreatedAt: 1767225600123},
			EventID: "c4ca4238a0b923820dcc509a6f75849b", UpdatedAt: time.Date(2026, 1, 1, 0, 0, 0, 123e6, time.UTC),
			Source: Position{Topic: "dev.users.cdc", Partition: 7, Offset: 123456789},
		},
		"tombstone": {
			Deleted: true,
			Version: Version{Attr: `"2026-01-01T00:00:00Z"`, HasAttr: true, Seq: "400000000000000000002", Stream: testARN},
			EventID: "e2", Source: Position{Topic: "t", Partition: 0, Offset: 0},
		},
		"empty item": {Item: []byte(`{}`), Version: Version{Seq: "1"}},
		"zero value": {},
		"huge sequence number": {
			Item:    []byte(`{"a":1}`),
			Version: Version{Seq: strings.Repeat("9", 200), Stream: testARN, CreatedAt: math.MaxInt64},
		},
		"negative times and extremes": {
			Item:      []byte(`{"a":"é"}`),
			Version:   Version{Seq: "1", CreatedAt: math.MinInt64},
			UpdatedAt: time.Unix(-1, 999999999).UTC(),
			Source:    Position{Topic: "ü", Partition: math.MaxInt32, Offset: math.MaxInt64},
		},
		"negative partition": {Source: Position{Partition: math.MinInt32, Offset: -1}},
		"large item":         {Item: bytes.Repeat([]byte("x"), 400<<10), Version: Version{Seq: "5"}},
	}
}

func valuesEqual(a, b *Value) bool {
	ai, bi := a.Item, b.Item
	at, bt := a.UpdatedAt, b.UpdatedAt
	ac, bc := *a, *b
	ac.Item, bc.Item, ac.UpdatedAt, bc.UpdatedAt = nil, nil, time.Time{}, time.Time{}
	return bytes.Equal(ai, bi) && at.Equal(bt) && reflect.DeepEqual(ac, bc)
}

func TestCodecRoundTrips(t *testing.T) {
	for name, v := range sampleValues() {
		t.Run(name, func(t *testing.T) {
			var c Codec
			data, err := c.Encode(v)
			if err != nil {
				t.Fatal(err)
			}
			if data[0] != 1 {
				t.Fatalf("format byte %d, want 1", data[0])
			}
			got, err := c.Decode(data)
			if err != nil {
				t.Fatal(err)
			}
			if !valuesEqual(got.(*Value), v) {
				t.Fatalf("round trip:\n got %+v\nwant %+v", got, v)
			}
			// A Value (not a pointer) encodes the same.
			if again, err := c.Encode(*v); err != nil || !bytes.Equal(again, data) {
				t.Fatalf("Encode(Value) differs from Encode(*Value): %v", err)
			}
		})
	}
}

func TestDecoderRejectsTruncationAtEveryCutPoint(t *testing.T) {
	for name, v := range sampleValues() {
		if len(v.Item) > 1000 {
			continue // every cut of 400 KB is slow and proves nothing more
		}
		data, err := v.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		for n := range len(data) {
			var got Value
			if err := got.UnmarshalBinary(data[:n]); !errors.Is(err, ErrCorruptValue) {
				t.Fatalf("%s cut at %d of %d: err = %v, want ErrCorruptValue", name, n, len(data), err)
			}
		}
	}
}

func TestDecoderRejectsEveryBitFlip(t *testing.T) {
	data, _ := sampleValues()["live item"].MarshalBinary()
	for i := range data {
		for bit := range 8 {
			bad := bytes.Clone(data)
			bad[i] ^= 1 << bit
			var got Value
			if err := got.UnmarshalBinary(bad); err == nil {
				t.Fatalf("flip of byte %d bit %d decoded", i, bit)
			}
		}
	}
}

func TestDecoderRejectsUnknownFormatVersions(t *testing.T) {
	data, _ := sampleValues()["live item"].MarshalBinary()
	for _, version := range []byte{0, 2, 255} {
		bad := bytes.Clone(data)
		bad[0] = version
		var got Value
		if err := got.UnmarshalBinary(bad); !errors.Is(err, ErrUnknownFormat) {
			t.Fatalf("format %d: err = %v, want ErrUnknownFormat", version, err)
		}
	}
}

// withCRC appends a correct checksum, to test the checks behind it.
func withCRC(body []byte) []byte {
	return binary.LittleEndian.AppendUint32(bytes.Clone(body), crc32.Checksum(body, crc32.MakeTable(crc32.Castagnoli)))
}

func TestDecoderRejectsBadStructureBehindAValidChecksum(t *testing.T) {
	huge := binary.AppendUvarint(nil, 1<<62)
	tests := map[string][]byte{
		"absurd length":      append(append([]byte{1, 0}, huge...), 0, 0, 0, 0, 0, 0, 0, 0),
		"lengths overflow":   append(append(append([]byte{1, 0}, huge...), huge...), huge...),
		"unknown flag":       {1, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0},
		"trailing byte":      {1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 'x'},
		"bad varint":         {1, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff},
		"nanos out of range": append([]byte{1, flagUpdatedAt, 0, 0, 0, 0, 0, 0, 0, 0}, binary.AppendUvarint(nil, 1e9)...),
		"partition too big":  append([]byte{1, 0, 0, 0, 0, 0, 0, 0, 0}, binary.AppendVarint(nil, math.MaxInt32+1)...),
		"missing fields":     {1, 0},
	}
	for name, body := range tests {
		var got Value
		if err := got.UnmarshalBinary(withCRC(body)); !errors.Is(err, ErrCorruptValue) {
			t.Errorf("%s: err = %v, want ErrCorruptValue", name, err)
		}
	}
	// The smallest valid value, to show the bodies above fail for the stated reason.
	var got Value
	if err := got.UnmarshalBinary(withCRC([]byte{1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0})); err != nil {
		t.Fatalf("minimal value: %v", err)
	}
}

func TestCodecRejectsOtherTypes(t *testing.T) {
	var c Codec
	for _, v := range []any{nil, "x", (*Value)(nil), Change{}} {
		if _, err := c.Encode(v); err == nil {
			t.Errorf("Encode(%T) succeeded", v)
		}
	}
	if _, err := c.Decode(nil); err == nil {
		t.Error("Decode(nil) succeeded")
	}
}

func TestDecodedValueDoesNotAliasInput(t *testing.T) {
	v := sampleValues()["live item"]
	data, _ := v.MarshalBinary()
	var got Value
	if err := got.UnmarshalBinary(data); err != nil {
		t.Fatal(err)
	}
	for i := range data {
		data[i] = 0
	}
	if !valuesEqual(&got, v) {
		t.Fatal("decoded value changed with its input buffer")
	}
}

func TestAppendBinaryAppends(t *testing.T) {
	v := sampleValues()["tombstone"]
	want, _ := v.MarshalBinary()
	got, err := v.AppendBinary([]byte("prefix"))
	if err != nil || string(got[:6]) != "prefix" || !bytes.Equal(got[6:], want) {
		t.Fatalf("AppendBinary = %q, %v", got, err)
	}
}

func TestSharedDecodeEqualsCopyingDecode(t *testing.T) {
	in := &Value{
		Item: []byte(`{"a":1}`), Version: Version{Attr: `"x"`, HasAttr: true, Seq: "123456789012345678901", Stream: "arn:s", CreatedAt: 5},
		EventID: "e", UpdatedAt: time.UnixMilli(5).UTC(), Source: Position{Topic: "t", Partition: 3, Offset: 9},
	}
	b, err := in.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	var copied, shared Value
	if err := copied.UnmarshalBinary(b); err != nil {
		t.Fatal(err)
	}
	if err := shared.UnmarshalBinaryShared(b); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(copied, shared) || !reflect.DeepEqual(&shared, in) {
		t.Errorf("shared decode %+v, copying decode %+v, want %+v", shared, copied, in)
	}
	got, err := SharedCodec{}.Decode(b)
	if err != nil || !reflect.DeepEqual(got, in) {
		t.Errorf("SharedCodec.Decode = %+v, %v", got, err)
	}
	// A truncated buffer still fails rather than sharing garbage.
	if err := shared.UnmarshalBinaryShared(b[:len(b)-1]); err == nil {
		t.Error("truncated input decoded")
	}
}
