package snapshot

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/streamhub/streamhub/state"
	"github.com/streamhub/streamhub/topology"
)

// SchemaVersion is written in every part's key/value metadata ("streamhub.schema_version")
// and in _SUCCESS; it changes when the columns change.
const SchemaVersion = "1"

// Row is one row of a snapshot part: one item. SCHEMA.md describes the columns.
type Row struct {
	// Key is the item key, the JSON array of the key attributes: ["user#1","profile"].
	Key string `parquet:"key"`
	// Keys is the JSON object of the key attributes in key-schema order:
	// {"pk":"user#1","sk":"profile"}; null when Key is not an item key of Table.Keys.
	Keys *string `parquet:"keys,optional"`
	// Item is the item's plain JSON; null for a deleted item.
	Item *string `parquet:"item,optional"`
	// Deleted marks a tombstoned item (only written with IncludeDeleted).
	Deleted bool `parquet:"deleted"`
	// VersionAttr is the version attribute's value as plain JSON; null when the change
	// did not carry it.
	VersionAttr *string `parquet:"version_attr,optional"`
	// VersionSeq is the change's SequenceNumber (decimal digits, may exceed 64 bits).
	VersionSeq string `parquet:"version_seq"`
	// VersionStream is the stream the change came from (its eventSourceARN).
	VersionStream string `parquet:"version_stream,dict"`
	// VersionCreatedAt is the change's ApproximateCreationDateTime; null when unknown.
	VersionCreatedAt *time.Time `parquet:"version_created_at,optional,timestamp(millisecond)"`
	// EventID is the stream record's eventID.
	EventID string `parquet:"event_id"`
	// UpdatedAt is when the item's state last changed (the change's
	// ApproximateCreationDateTime, full precision in the state value); null when unknown.
	UpdatedAt *time.Time `parquet:"updated_at,optional,timestamp(millisecond)"`
	// SourceTopic, SourcePartition and SourceOffset locate the CDC record that was
	// applied; null when the state value does not carry a position.
	SourceTopic     *string `parquet:"source_topic,optional,dict"`
	SourcePartition *int32  `parquet:"source_partition,optional"`
	SourceOffset    *int64  `parquet:"source_offset,optional"`
}

// rowBatch is how many rows go to the parquet writer at a time; rowGroupRows bounds a
// row group.
const (
	rowBatch     = 1024
	rowGroupRows = 100_000
)

// manifest is the body of _SUCCESS.
type manifest struct {
	Table          string           `json:"table"`
	Topic          string           `json:"topic"`
	Timestamp      string           `json:"timestamp"`
	SchemaVersion  string           `json:"schema_version"`
	Compression    string           `json:"compression"`
	Rows           int              `json:"rows"`
	Corrupt        int              `json:"corrupt"`
	Deleted        int              `json:"deleted"`
	IncludeDeleted bool             `json:"include_deleted"`
	Parts          []manifestPart   `json:"parts"`
	Offsets        []partitionRange `json:"offsets"`
}

type manifestPart struct {
	Name string `json:"name"`
	Rows int    `json:"rows"`
	Size int    `json:"bytes"`
}

// write takes the snapshot stamped with start.
func write(ctx context.Context, o Options, m *metrics, start time.Time) (Result, error) {
	ts := start.UTC().Truncate(time.Second)
	res := Result{Table: o.Table.Name, Timestamp: ts}
	topic := o.Table.TableTopic()
	log := o.Logger.With("table", o.Table.Name, "topic", topic, "snapshot", ts.Format(TimestampLayout))
	folder := Folder(o.Prefix, o.Table.Name, ts)

	existing, err := o.Store.List(ctx, folder+"/")
	if err != nil {
		return res, firstErr(ctx, fmt.Errorf("snapshot %s: list %s: %w", o.Table.Name, folder, err))
	}
	if len(existing) > 0 {
		return res, fmt.Errorf("snapshot %s: %w: %s holds %d objects", o.Table.Name, ErrSnapshotExists, folder, len(existing))
	}

	cl, err := o.Conn.Client(kgo.ClientID(o.Conn.Kafka().ClientID + "-snapshot-" + o.Table.Name))
	if err != nil {
		return res, fmt.Errorf("snapshot %s: %w", o.Table.Name, err)
	}
	tbl, err := readTable(ctx, cl, topic, log)
	cl.Close()
	if err != nil {
		return res, firstErr(ctx, fmt.Errorf("snapshot %s: %w", o.Table.Name, err))
	}
	if tbl.spread > 0 {
		log.Warn("keys found in more than one partition of the table topic; the highest partition's record was kept",
			"records", tbl.spread)
	}

	keys := make([]string, 0, len(tbl.values))
	for k := range tbl.values {
		keys = append(keys, k)
	}
	slices.Sort(keys)

	pw := newPartWriter(o, topic)
	man := manifest{
		Table:          o.Table.Name,
		Topic:          topic,
		Timestamp:      ts.Format(time.RFC3339),
		SchemaVersion:  SchemaVersion,
		Compression:    o.Compression,
		IncludeDeleted: o.IncludeDeleted,
		Offsets:        tbl.ranges,
	}
	flush := func() error {
		body, rows, err := pw.finish()
		if err != nil {
			return fmt.Errorf("snapshot %s: encode part %d: %w", o.Table.Name, len(res.Parts), err)
		}
		name := partName(len(res.Parts))
		key := join(folder, name)
		if err := o.Store.Put(ctx, key, body); err != nil {
			return firstErr(ctx, fmt.Errorf("snapshot %s: put %s: %w", o.Table.Name, key, err))
		}
		res.Parts = append(res.Parts, key)
		man.Parts = append(man.Parts, manifestPart{Name: name, Rows: rows, Size: len(body)})
		return nil
	}

	var (
		badKeys int
		kb      keysBuilder
	)
	for i, k := range keys {
		l := tbl.values[k]
		delete(tbl.values, k) // let the raw value go once it is written
		keys[i] = ""
		var v state.Value
		if err := v.UnmarshalBinary(l.value); err != nil {
			res.Corrupt++
			if res.Corrupt <= 10 {
				log.Warn("corrupt state value left out of the snapshot", "key", k,
					"partition", l.partition, "offset", l.offset, "error", err)
			}
			continue
		}
		if v.Deleted {
			res.Deleted++
			if !o.IncludeDeleted {
				continue
			}
		}
		r := makeRow(k, &v, o.Table.Keys, &kb)
		if r.Keys == nil {
			badKeys++
			if badKeys == 1 {
				log.Warn("state key is not an item key of the table's key attributes; its keys column is null",
					"key", k, "keys", strings.Join(o.Table.Keys, ","))
			}
		}
		if err := pw.add(r); err != nil {
			return res, fmt.Errorf("snapshot %s: encode part %d: %w", o.Table.Name, len(res.Parts), err)
		}
		res.Rows++
		if pw.rows == o.RowsPerPart {
			if err := flush(); err != nil {
				return res, err
			}
		}
	}
	if res.Corrupt > 10 {
		log.Warn("corrupt state values left out of the snapshot", "count", res.Corrupt)
	}
	if badKeys > 1 {
		log.Warn("state keys that are not item keys", "count", badKeys)
	}
	// A part is open when rows are pending, and an empty table still gets one part:
	// readers of the folder find the schema instead of no file at all.
	if pw.rows > 0 || len(res.Parts) == 0 {
		if err := flush(); err != nil {
			return res, err
		}
	}

	man.Rows, man.Corrupt, man.Deleted = res.Rows, res.Corrupt, res.Deleted
	body, err := json.MarshalIndent(man, "", "  ")
	if err != nil {
		return res, fmt.Errorf("snapshot %s: manifest: %w", o.Table.Name, err)
	}
	if err := o.Store.Put(ctx, join(folder, SuccessName), append(body, '\n')); err != nil {
		return res, firstErr(ctx, fmt.Errorf("snapshot %s: put %s: %w", o.Table.Name, SuccessName, err))
	}
	return res, nil
}

// makeRow builds the row of the item with key k and latest state v.
func makeRow(k string, v *state.Value, keyNames []string, kb *keysBuilder) Row {
	r := Row{
		Key:           k,
		Keys:          kb.build(k, keyNames),
		Deleted:       v.Deleted,
		VersionSeq:    v.Version.Seq,
		VersionStream: v.Version.Stream,
		EventID:       v.EventID,
	}
	if !v.Deleted && v.Item != nil {
		r.Item = ptr(string(v.Item))
	}
	if v.Version.HasAttr {
		r.VersionAttr = ptr(v.Version.Attr)
	}
	if v.Version.CreatedAt != 0 {
		r.VersionCreatedAt = ptr(v.Version.CreatedTime())
	}
	if !v.UpdatedAt.IsZero() {
		r.UpdatedAt = ptr(v.UpdatedAt.UTC())
	}
	if v.Source.Topic != "" {
		r.SourceTopic = ptr(v.Source.Topic)
		r.SourcePartition = ptr(v.Source.Partition)
		r.SourceOffset = ptr(v.Source.Offset)
	}
	return r
}

func ptr[T any](v T) *T { return &v }

// keysBuilder turns an item key into the JSON object of its key attributes.
type keysBuilder struct {
	buf bytes.Buffer
	enc *json.Encoder
}

// build returns {"<name 0>":<value 0>,…} in key-schema order, or nil when k is not an
// item key with one value per name.
func (b *keysBuilder) build(k string, names []string) *string {
	vals, err := state.DecodeKey(k)
	if err != nil || len(vals) != len(names) {
		return nil
	}
	if b.enc == nil {
		b.enc = json.NewEncoder(&b.buf)
		b.enc.SetEscapeHTML(false)
	}
	b.buf.Reset()
	b.buf.WriteByte('{')
	for i, name := range names {
		if i > 0 {
			b.buf.WriteByte(',')
		}
		if b.enc.Encode(name) != nil {
			return nil
		}
		b.buf.Truncate(b.buf.Len() - 1) // Encode's newline
		b.buf.WriteByte(':')
		if b.enc.Encode(vals[i]) != nil {
			return nil
		}
		b.buf.Truncate(b.buf.Len() - 1)
	}
	b.buf.WriteByte('}')
	return ptr(b.buf.String())
}

// partWriter encodes one part at a time in memory.
type partWriter struct {
	opts  []parquet.WriterOption
	buf   *bytes.Buffer
	w     *parquet.GenericWriter[Row]
	batch []Row
	rows  int
}

func newPartWriter(o Options, topic string) *partWriter {
	var codec compress.Codec = &parquet.Zstd
	if o.Compression == topology.ParquetSnappy {
		codec = &parquet.Snappy
	}
	return &partWriter{
		opts: []parquet.WriterOption{
			parquet.Compression(codec),
			parquet.MaxRowsPerRowGroup(rowGroupRows),
			parquet.KeyValueMetadata("streamhub.table", o.Table.Name),
			parquet.KeyValueMetadata("streamhub.topic", topic),
			parquet.KeyValueMetadata("streamhub.key_attributes", strings.Join(o.Table.Keys, ",")),
			parquet.KeyValueMetadata("streamhub.schema_version", SchemaVersion),
		},
		batch: make([]Row, 0, rowBatch),
	}
}

func (p *partWriter) add(r Row) error {
	if p.w == nil {
		p.start()
	}
	p.batch = append(p.batch, r)
	p.rows++
	if len(p.batch) == cap(p.batch) {
		return p.writeBatch()
	}
	return nil
}

func (p *partWriter) writeBatch() error {
	if len(p.batch) == 0 {
		return nil
	}
	_, err := p.w.Write(p.batch)
	clear(p.batch)
	p.batch = p.batch[:0]
	return err
}

// start opens a part. Each part gets a buffer of its own: the store may keep the body.
func (p *partWriter) start() {
	p.buf = new(bytes.Buffer)
	p.w = parquet.NewGenericWriter[Row](p.buf, p.opts...)
}

// finish closes the part and returns its bytes and rows.
func (p *partWriter) finish() ([]byte, int, error) {
	if p.w == nil { // a part without rows
		p.start()
	}
	err := p.writeBatch()
	if cerr := p.w.Close(); err == nil {
		err = cerr
	}
	rows := p.rows
	p.w, p.rows = nil, 0
	if err != nil {
		return nil, 0, err
	}
	return p.buf.Bytes(), rows, nil
}
