package state

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"slices"
	"time"
	"unsafe"
)

// Value is the latest state of one item, stored in the goka group table.
type Value struct {
	// Item is the plain JSON object of the item; nil when Deleted.
	Item []byte
	// Deleted marks a tombstone. It keeps its Version, so a late, older change is ignored
	// while a newer INSERT re-creates the item.
	Deleted bool
	Version Version
	EventID string
	// UpdatedAt is the ApproximateCreationDateTime of the change.
	UpdatedAt time.Time
	// Source is where the applied CDC record was read.
	Source Position
}

// Position is a record's place in Kafka.
type Position struct {
	Topic     string
	Partition int32
	Offset    int64
}

// Errors of UnmarshalBinary, for callers that treat a corrupt store differently from a
// store written by a newer release.
var (
	// ErrCorruptValue: the bytes are truncated or damaged (checksum, lengths, flags).
	ErrCorruptValue = errors.New("state: corrupt value")
	// ErrUnknownFormat: the first byte names a format this release cannot read.
	ErrUnknownFormat = errors.New("state: unknown value format")
)

// Format 1 of a stored Value:
//
//	byte    format version (1)
//	byte    flags: 1 deleted, 2 has version attribute, 4 has UpdatedAt
//	uvarint lengths of EventID, Version.Attr, Version.Seq, Version.Stream, Source.Topic, Item
//	varint  Version.CreatedAt
//	varint  UpdatedAt seconds, uvarint nanoseconds (only with flag 4)
//	varint  Source.Partition, Source.Offset
//	bytes   EventID, Attr, Seq, Stream, Topic (one run, decoded as one string), Item
//	4 bytes CRC-32C of everything before it, little endian
//
// Lengths come first so the decoder can check them against the input before it allocates,
// and the strings sit together so it allocates them as one. The checksum turns any damage,
// including truncation at any point, into an error instead of a wrong value.
const (
	formatV1 = 1

	flagDeleted   = 1
	flagHasAttr   = 2
	flagUpdatedAt = 4
	knownFlags    = flagDeleted | flagHasAttr | flagUpdatedAt

	crcSize = 4
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// MarshalBinary encodes the value in format 1.
func (v *Value) MarshalBinary() ([]byte, error) { return v.AppendBinary(nil) }

// AppendBinary appends the encoding of the value to b.
func (v *Value) AppendBinary(b []byte) ([]byte, error) {
	strs := [...]string{v.EventID, v.Version.Attr, v.Version.Seq, v.Version.Stream, v.Source.Topic}
	size := 2 + 6*binary.MaxVarintLen64 + 5*binary.MaxVarintLen64 + len(v.Item) + crcSize
	for _, s := range strs {
		size += len(s)
	}
	start := len(b)
	b = slices.Grow(b, size)

	var flags byte
	if v.Deleted {
		flags |= flagDeleted
	}
	if v.Version.HasAttr {
		flags |= flagHasAttr
	}
	if !v.UpdatedAt.IsZero() {
		flags |= flagUpdatedAt
	}
	b = append(b, formatV1, flags)
	for _, s := range strs {
		b = binary.AppendUvarint(b, uint64(len(s)))
	}
	b = binary.AppendUvarint(b, uint64(len(v.Item)))
	b = binary.AppendVarint(b, v.Version.CreatedAt)
	if flags&flagUpdatedAt != 0 {
		b = binary.AppendVarint(b, v.UpdatedAt.Unix())
		b = binary.AppendUvarint(b, uint64(v.UpdatedAt.Nanosecond()))
	}
	b = binary.AppendVarint(b, int64(v.Source.Partition))
	b = binary.AppendVarint(b, v.Source.Offset)
	for _, s := range strs {
		b = append(b, s...)
	}
	b = append(b, v.Item...)
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b[start:], castagnoli)), nil
}

// UnmarshalBinary decodes a value written by MarshalBinary. Damaged or truncated input
// fails with ErrCorruptValue, a format it does not know with ErrUnknownFormat; it never
// panics and never allocates more than the input's size.
func (v *Value) UnmarshalBinary(data []byte) error { return v.unmarshal(data, false) }

// UnmarshalBinaryShared is UnmarshalBinary without copies: the Value's strings and Item
// point into data, which must not change while the Value is in use. For readers whose
// storage hands out immutable buffers (the processor's own store); never for a leveldb
// iterator, which reuses its buffer.
func (v *Value) UnmarshalBinaryShared(data []byte) error { return v.unmarshal(data, true) }

func (v *Value) unmarshal(data []byte, shared bool) error {
	if len(data) == 0 {
		return fmt.Errorf("%w: empty", ErrCorruptValue)
	}
	if data[0] != formatV1 {
		return fmt.Errorf("%w %d (this release reads format %d)", ErrUnknownFormat, data[0], formatV1)
	}
	if len(data) < 2+crcSize {
		return fmt.Errorf("%w: %d bytes is too short", ErrCorruptValue, len(data))
	}
	body := data[:len(data)-crcSize]
	if crc32.Checksum(body, castagnoli) != binary.LittleEndian.Uint32(data[len(body):]) {
		return fmt.Errorf("%w: checksum mismatch (damaged or truncated)", ErrCorruptValue)
	}
	d := decoder{b: body, i: 2}
	flags := body[1]
	if flags&^knownFlags != 0 {
		return fmt.Errorf("%w: unknown flags %#x", ErrCorruptValue, flags)
	}
	var lens [6]uint64
	for i := range lens {
		lens[i] = d.uvarint()
	}
	out := Value{Deleted: flags&flagDeleted != 0}
	out.Version.HasAttr = flags&flagHasAttr != 0
	out.Version.CreatedAt = d.varint()
	if flags&flagUpdatedAt != 0 {
		sec, nsec := d.varint(), d.uvarint()
		if nsec >= 1e9 {
			d.fail("nanoseconds out of range")
		}
		out.UpdatedAt = time.Unix(sec, int64(nsec)).UTC()
	}
	part := d.varint()
	if part < math.MinInt32 || part > math.MaxInt32 {
		d.fail("partition out of range")
	}
	out.Source.Partition = int32(part)
	out.Source.Offset = d.varint()
	if d.err != nil {
		return d.err
	}
	// Every length is checked against what is left before anything is allocated; the
	// sum must match exactly, so trailing garbage is an error too.
	rest := uint64(len(body) - d.i)
	var total uint64
	for _, n := range lens {
		if n > rest || total+n > rest {
			return fmt.Errorf("%w: field length %d exceeds the %d bytes left", ErrCorruptValue, n, rest)
		}
		total += n
	}
	if total != rest {
		return fmt.Errorf("%w: %d bytes after the last field", ErrCorruptValue, rest-total)
	}
	strLen := int(total - lens[5])
	var all string
	if shared {
		all = unsafe.String(unsafe.SliceData(body[d.i:]), strLen)
	} else {
		all = string(body[d.i : d.i+strLen])
	}
	fields := [...]*string{&out.EventID, &out.Version.Attr, &out.Version.Seq, &out.Version.Stream, &out.Source.Topic}
	off := 0
	for i, f := range fields {
		*f = all[off : off+int(lens[i])]
		off += int(lens[i])
	}
	if lens[5] > 0 {
		if shared {
			out.Item = body[d.i+strLen : len(body) : len(body)]
		} else {
			out.Item = append([]byte(nil), body[d.i+strLen:]...)
		}
	}
	*v = out
	return nil
}

// decoder reads varints and remembers the first failure, so the field sequence reads
// straight through.
type decoder struct {
	b   []byte
	i   int
	err error
}

func (d *decoder) fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: %s at byte %d", ErrCorruptValue, what, d.i)
	}
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	x, n := binary.Uvarint(d.b[d.i:])
	if n <= 0 {
		d.fail("bad varint")
		return 0
	}
	d.i += n
	return x
}

func (d *decoder) varint() int64 {
	if d.err != nil {
		return 0
	}
	x, n := binary.Varint(d.b[d.i:])
	if n <= 0 {
		d.fail("bad varint")
		return 0
	}
	d.i += n
	return x
}

// Codec is the goka codec of the state table (it satisfies goka.Codec without importing
// goka). Encode takes a *Value or a Value; Decode returns a *Value.
type Codec struct{}

// Encode encodes a *Value or Value.
func (Codec) Encode(value any) ([]byte, error) {
	switch v := value.(type) {
	case *Value:
		if v == nil {
			return nil, errors.New("state: Codec.Encode: nil *Value")
		}
		return v.MarshalBinary()
	case Value:
		return v.MarshalBinary()
	}
	return nil, fmt.Errorf("state: Codec.Encode: %T is not a *state.Value", value)
}

// Decode decodes into a new *Value.
func (Codec) Decode(data []byte) (any, error) {
	v := new(Value)
	if err := v.UnmarshalBinary(data); err != nil {
		return nil, err
	}
	return v, nil
}

// SharedCodec is Codec whose Decode shares data instead of copying it (see
// UnmarshalBinaryShared): for a goka processor over a store whose buffers never change.
type SharedCodec struct{ Codec }

// Decode decodes into a new *Value that points into data.
func (SharedCodec) Decode(data []byte) (any, error) {
	v := new(Value)
	if err := v.UnmarshalBinaryShared(data); err != nil {
		return nil, err
	}
	return v, nil
}
