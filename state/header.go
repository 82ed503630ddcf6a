package state

import (
	"encoding/json"
	"slices"
	"sync"
)

// RecordHeader is what a reader that keeps a record's bytes as they are needs of it (the
// lake): the fields ParseRecord gives, without the images' trees.
type RecordHeader struct {
	EventName      string
	SequenceNumber string
	// ApproximateCreationDateTime is the number's exact text; "" when absent.
	ApproximateCreationDateTime json.Number
	// Keys is dynamodb.Keys as plain JSON, exactly as ToPlainJSON writes it; nil when the
	// record has none.
	Keys []byte
}

// ParseRecordHeader accepts exactly the records ParseRecord accepts, failing with an
// *InvalidError as it does, and gives their header. It checks every image with the plain-JSON writer
// (which holds the same rules as the tree parser) instead of building the attribute
// maps: a third of the lake sink's CPU and most of its allocations went on trees it
// did not read.
func ParseRecordHeader(b []byte) (RecordHeader, error) {
	s := getHeaderSink()
	defer putHeaderSink(s)
	s.l, s.f = lexer{b: b}, recordFields{}
	f := &s.f
	if err := scanRecord(&s.l, f, s); err != nil {
		return RecordHeader{}, err
	}
	if err := f.checkRequired(); err != nil {
		return RecordHeader{}, err
	}
	h := RecordHeader{
		EventName:                   f.eventName.text(),
		SequenceNumber:              f.seq.text(),
		ApproximateCreationDateTime: json.Number(f.created),
	}
	if s.hasKeys {
		h.Keys = slices.Clone(s.keys)
	}
	return h, nil
}

// headerSink checks each image by writing it as plain JSON into a scratch buffer, and
// keeps the plain JSON of Keys. Pooled with its buffers, as plainWriter is.
type headerSink struct {
	// The lexer and the fields live here, not on the stack: handed to the sink
	// interface, they would escape and cost two allocations per record.
	l       lexer
	f       recordFields
	w       plainWriter
	keys    []byte
	hasKeys bool
}

var headerSinks = sync.Pool{New: func() any { return new(headerSink) }}

func getHeaderSink() *headerSink { return headerSinks.Get().(*headerSink) }

// putHeaderSink keeps a sink unless a huge record grew its buffers (see putPlainWriter).
func putHeaderSink(s *headerSink) {
	if !s.w.reset() || cap(s.keys) > maxPooledBuffer {
		return
	}
	s.keys, s.hasKeys = s.keys[:0], false
	s.l, s.f = lexer{}, recordFields{} // they point into the record
	headerSinks.Put(s)
}

func (s *headerSink) image(l *lexer, kind imageKind, depth int) error {
	s.w.out = s.w.out[:0]
	if err := s.w.object(l, depth, false); err != nil {
		return err
	}
	if kind == imgKeys {
		s.keys, s.hasKeys = append(s.keys[:0], s.w.out...), true
	}
	return nil
}
