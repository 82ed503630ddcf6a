// Package lake is the data-lake sink: it writes raw topics (CDC topics carrying DynamoDB
// Streams records, collector topics carrying event envelopes, any other topic) as
// analysis-ready objects, JSON Lines (gzip) or Parquet, partitioned by time, exactly once
// per offset (DESIGN.md, "Delivery guarantees").
//
// A flush writes one object per hour of the batch's records at
//
//	<prefix>/<topic>/dt=YYYY-MM-DD/hr=HH/<topic>+<partition>+<first offset>.<ext>
//
// with the first offset of that hour's records zero-padded to 20 digits and ext jsonl.gz
// or parquet. Names and bytes depend only on the batch, so a flush redone after a crash
// overwrites the same objects with the same bytes. SCHEMA.md describes both formats.
//
// Objects live in a Store: an S3 bucket (S3Store) or a directory (FileStore).
package lake

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/parquet-go/parquet-go"

	"github.com/streamhub/streamhub/emitters"
	"github.com/streamhub/streamhub/internal/jsonstr"
	"github.com/streamhub/streamhub/topology"
)

// Options configures a Sink. Format, ParquetCompression and PartitionTime take the
// topology's words (topology.FormatJSONLGzip, …); empty means the topology's default.
type Options struct {
	// Name of the sink, for error messages.
	Name string
	// Store receives the objects. Required.
	Store Store
	// Prefix is prepended to every key; slashes around and doubled inside it are dropped.
	Prefix string
	// Format is jsonl_gz (default) or parquet.
	Format string
	// ParquetCompression is zstd (default) or snappy; only with parquet.
	ParquetCompression string
	// PartitionTime is record (default: ApproximateCreationDateTime of CDC records,
	// occurred_at of collector events, else the Kafka timestamp) or kafka.
	PartitionTime string
	// Manifest writes, after the data objects of a flush, a Redshift COPY manifest
	// listing them at <prefix>/_manifests/<topic>/<topic>+<partition>+<first offset>.manifest.
	Manifest bool
	// ManifestBucket is the bucket named in the manifest's s3:// URLs; required with
	// Manifest.
	ManifestBucket string
	// Now is the clock of the sink's bookkeeping (Stats.LastFlush); it never reaches an
	// object's name or content. Default time.Now.
	Now func() time.Time
}

// Stats counts what a Sink has written since New.
type Stats struct {
	Flushes, Objects, Records, Rejects, Bytes int64
	// LastFlush is when the last successful Flush ended (Options.Now).
	LastFlush time.Time
}

// Sink writes batches of raw records to a Store. It implements emitters.Sink; Flush may
// be called concurrently (for different partitions).
type Sink struct {
	opts   Options
	prefix string
	ext    string
	codec  string // parquet compression; "" for jsonl_gz

	mu   sync.Mutex
	free []*flushState // idle flush states, at most maxIdleStates

	closed                                     atomic.Bool
	flushes, objects, records, rejects, nbytes atomic.Int64
	last                                       atomic.Int64 // unix nanoseconds
}

var _ emitters.Sink = (*Sink)(nil)

// New checks opts and returns a Sink.
func New(opts Options) (*Sink, error) {
	if opts.Store == nil {
		return nil, fmt.Errorf("lake sink %q: no store", opts.Name)
	}
	s := &Sink{opts: opts, prefix: cleanPrefix(opts.Prefix)}
	switch opts.Format {
	case "", topology.FormatJSONLGzip:
		s.ext = "jsonl.gz"
		if opts.ParquetCompression != "" {
			return nil, fmt.Errorf("lake sink %q: parquet_compression needs format parquet", opts.Name)
		}
	case topology.FormatParquet:
		s.ext = "parquet"
		switch opts.ParquetCompression {
		case "", topology.ParquetZstd:
			s.codec = topology.ParquetZstd
		case topology.ParquetSnappy:
			s.codec = topology.ParquetSnappy
		default:
			return nil, fmt.Errorf("lake sink %q: parquet compression %q is not zstd or snappy", opts.Name, opts.ParquetCompression)
		}
	default:
		return nil, fmt.Errorf("lake sink %q: format %q is not jsonl_gz or parquet", opts.Name, opts.Format)
	}
	switch opts.PartitionTime {
	case "", topology.PartitionByRecord, topology.PartitionByKafka:
	default:
		return nil, fmt.Errorf("lake sink %q: partition time %q is not record or kafka", opts.Name, opts.PartitionTime)
	}
	if opts.Manifest && opts.ManifestBucket == "" {
		return nil, fmt.Errorf("lake sink %q: a manifest needs the bucket its URLs name", opts.Name)
	}
	if s.opts.Now == nil {
		s.opts.Now = time.Now
	}
	return s, nil
}

// cleanPrefix drops leading, trailing and doubled slashes.
func cleanPrefix(p string) string {
	parts := strings.Split(p, "/")
	parts = slices.DeleteFunc(parts, func(s string) bool { return s == "" })
	return strings.Join(parts, "/")
}

// flushState is one flush's buffers, pooled so their capacity outlives the flush.
type flushState struct {
	dec     decoder
	idx     []int32
	out     bytes.Buffer
	jsonl   jsonlEncoder
	parquet parquetEncoder
	keyBuf  []byte
	written []writtenObject
}

type writtenObject struct {
	key  string
	size int
}

// Idle flush states are kept in a plain free list, not a sync.Pool: flushes are
// minutes apart, and a pool would be emptied by the garbage collector in between.
const (
	// maxIdleStates is how many idle flush states a sink keeps (concurrent flushes
	// beyond it build their own).
	maxIdleStates = 4
	// maxKeptBuffer is the largest buffer an idle state keeps.
	maxKeptBuffer = 64 << 20
)

func (s *Sink) getState() *flushState {
	s.mu.Lock()
	if n := len(s.free); n > 0 {
		st := s.free[n-1]
		s.free[n-1] = nil
		s.free = s.free[:n-1]
		s.mu.Unlock()
		return st
	}
	s.mu.Unlock()
	st := &flushState{}
	switch s.codec {
	case topology.ParquetZstd:
		st.parquet.codec = newZstdCodec()
	case topology.ParquetSnappy:
		st.parquet.codec = &parquet.Snappy
	}
	return st
}

func (s *Sink) putState(st *flushState) {
	if st.out.Cap() > maxKeptBuffer || cap(st.dec.arena) > maxKeptBuffer {
		return
	}
	st.dec.reset(false)
	st.written = st.written[:0]
	s.mu.Lock()
	if len(s.free) < maxIdleStates && !s.closed.Load() {
		s.free = append(s.free, st)
	}
	s.mu.Unlock()
}

// Flush writes the batch: one object per hour of its records' partition times, then the
// manifest. It returns the records that cannot be written at all (ReasonBadTimestamp,
// ReasonTooLarge); the rest are written. Flushing the same batch again writes the same
// keys with the same bytes.
func (s *Sink) Flush(ctx context.Context, b *emitters.Batch) ([]emitters.Reject, error) {
	if s.closed.Load() {
		return nil, fmt.Errorf("lake sink %q: closed", s.opts.Name)
	}
	if len(b.Records) == 0 {
		return nil, nil
	}
	st := s.getState()
	defer s.putState(st)

	d := &st.dec
	d.reset(s.opts.PartitionTime != topology.PartitionByKafka)
	var rejects []emitters.Reject
	for _, r := range b.Records {
		if reason, err := d.add(r); err != nil {
			rejects = append(rejects, emitters.Reject{Record: r, Reason: reason, Err: err})
		}
	}

	// Group by hour, keeping offset order within each hour.
	st.idx = st.idx[:0]
	for i := range d.recs {
		st.idx = append(st.idx, int32(i))
	}
	if !sameHour(d.recs) {
		slices.SortStableFunc(st.idx, func(a, b int32) int { return cmp.Compare(d.recs[a].hour, d.recs[b].hour) })
	}
	var total int64
	for idx := st.idx; len(idx) > 0; {
		hour := d.recs[idx[0]].hour
		n := 1
		for n < len(idx) && d.recs[idx[n]].hour == hour {
			n++
		}
		group := idx[:n]
		idx = idx[n:]

		key := s.objectKey(st, b.Topic, b.Partition, hour, d.recs[group[0]].r.Offset)
		st.out.Reset()
		var err error
		if s.codec != "" {
			err = st.parquet.encode(&st.out, b.Topic, b.Partition, d, group)
		} else {
			err = st.jsonl.encode(&st.out, b.Topic, b.Partition, d, group)
		}
		if err != nil {
			return nil, fmt.Errorf("lake sink %q: encode %s: %w", s.opts.Name, key, err)
		}
		if err := s.opts.Store.Put(ctx, key, st.out.Bytes()); err != nil {
			return nil, fmt.Errorf("lake sink %q: %w", s.opts.Name, err)
		}
		st.written = append(st.written, writtenObject{key: key, size: st.out.Len()})
		total += int64(st.out.Len())
	}
	if s.opts.Manifest && len(st.written) > 0 {
		key := s.manifestKey(b.Topic, b.Partition, b.First())
		body := s.manifest(st.written)
		if err := s.opts.Store.Put(ctx, key, body); err != nil {
			return nil, fmt.Errorf("lake sink %q: manifest: %w", s.opts.Name, err)
		}
	}
	s.flushes.Add(1)
	s.objects.Add(int64(len(st.written)))
	s.records.Add(int64(len(d.recs)))
	s.rejects.Add(int64(len(rejects)))
	s.nbytes.Add(total)
	s.last.Store(s.opts.Now().UnixNano())
	return rejects, nil
}

func sameHour(recs []rec) bool {
	for i := 1; i < len(recs); i++ {
		if recs[i].hour != recs[0].hour {
			return false
		}
	}
	return true
}

// objectKey is <prefix>/<topic>/dt=YYYY-MM-DD/hr=HH/<topic>+<partition>+<offset>.<ext>.
func (s *Sink) objectKey(st *flushState, topic string, partition int32, hour, first int64) string {
	t := time.UnixMilli(hour * int64(time.Hour/time.Millisecond)).UTC()
	b := st.keyBuf[:0]
	if s.prefix != "" {
		b = append(b, s.prefix...)
		b = append(b, '/')
	}
	b = append(b, topic...)
	b = append(b, "/dt="...)
	b = t.AppendFormat(b, "2006-01-02")
	b = append(b, "/hr="...)
	b = t.AppendFormat(b, "15")
	b = append(b, '/')
	b = objectName(b, topic, partition, first, s.ext)
	st.keyBuf = b
	return string(b)
}

// objectName appends <topic>+<partition>+<offset, 20 digits>.<ext>.
func objectName(b []byte, topic string, partition int32, offset int64, ext string) []byte {
	b = append(b, topic...)
	b = append(b, '+')
	b = strconv.AppendInt(b, int64(partition), 10)
	b = append(b, '+')
	var digits [20]byte
	for i := range digits {
		digits[i] = '0'
	}
	o := strconv.AppendInt(nil, offset, 10)
	if len(o) < 20 {
		b = append(b, digits[:20-len(o)]...)
	}
	b = append(b, o...)
	b = append(b, '.')
	return append(b, ext...)
}

// manifestKey is <prefix>/_manifests/<topic>/<topic>+<partition>+<offset>.manifest.
func (s *Sink) manifestKey(topic string, partition int32, first int64) string {
	var b []byte
	if s.prefix != "" {
		b = append(b, s.prefix...)
		b = append(b, '/')
	}
	b = append(b, "_manifests/"...)
	b = append(b, topic...)
	b = append(b, '/')
	return string(objectName(b, topic, partition, first, "manifest"))
}

// manifest is Redshift's COPY manifest of the objects: entries in key order, each
// mandatory, with its content length (which COPY needs for Parquet).
func (s *Sink) manifest(objs []writtenObject) []byte {
	sorted := slices.Clone(objs)
	slices.SortFunc(sorted, func(a, b writtenObject) int { return strings.Compare(a.key, b.key) })
	b := []byte(`{"entries":[`)
	for i, o := range sorted {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"url":`...)
		b = jsonstr.Append(b, "s3://"+s.opts.ManifestBucket+"/"+o.key)
		b = append(b, `,"mandatory":true,"meta":{"content_length":`...)
		b = strconv.AppendInt(b, int64(o.size), 10)
		b = append(b, `}}`...)
	}
	return append(b, "]}\n"...)
}

// Stats returns the sink's counters.
func (s *Sink) Stats() Stats {
	st := Stats{
		Flushes: s.flushes.Load(),
		Objects: s.objects.Load(),
		Records: s.records.Load(),
		Rejects: s.rejects.Load(),
		Bytes:   s.nbytes.Load(),
	}
	if ns := s.last.Load(); ns != 0 {
		st.LastFlush = time.Unix(0, ns)
	}
	return st
}

// Close stops the sink; a later Flush fails. The store is not the sink's to close.
func (s *Sink) Close() error {
	s.closed.Store(true)
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, st := range s.free {
		if z, ok := st.parquet.codec.(*zstdCodec); ok {
			z.enc.Close()
		}
	}
	s.free = nil
	return nil
}
