package lake

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
	"github.com/parquet-go/parquet-go"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/streamhub/streamhub/emitters"
	"github.com/streamhub/streamhub/state"
)

// memStore is a Store in memory that copies what it is given.
type memStore struct {
	mu   sync.Mutex
	objs map[string][]byte
	puts []string
}

func newMemStore() *memStore { return &memStore{objs: map[string][]byte{}} }

func (m *memStore) Put(_ context.Context, key string, body []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.objs[key] = bytes.Clone(body)
	m.puts = append(m.puts, key)
	return nil
}

func (m *memStore) Get(_ context.Context, key string) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	b, ok := m.objs[key]
	if !ok {
		return nil, fmt.Errorf("memstore: %s: %w", key, fs.ErrNotExist)
	}
	return bytes.Clone(b), nil
}

func (m *memStore) List(_ context.Context, prefix string) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var keys []string
	for k := range m.objs {
		if strings.HasPrefix(k, prefix) {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	return keys, nil
}

// snapshot returns every object of a store.
func snapshot(t testing.TB, s Store) map[string][]byte {
	t.Helper()
	ctx := context.Background()
	keys, err := s.List(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]byte{}
	for _, k := range keys {
		b, err := s.Get(ctx, k)
		if err != nil {
			t.Fatal(err)
		}
		out[k] = b
	}
	return out
}

// fakeS3 is gofakes3 behind an httptest server, with an optional wrapper around its
// handler.
type fakeS3 struct {
	URL     string
	Backend *s3mem.Backend
	srv     *httptest.Server
}

const testBucket = "lake"

func newFakeS3(t testing.TB, wrap func(http.Handler) http.Handler) *fakeS3 {
	t.Helper()
	be := s3mem.New()
	if err := be.CreateBucket(testBucket); err != nil {
		t.Fatal(err)
	}
	h := gofakes3.New(be).Server()
	if wrap != nil {
		h = wrap(h)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &fakeS3{URL: srv.URL, Backend: be, srv: srv}
}

func testAWSConfig() *aws.Config {
	return &aws.Config{
		Region:      "us-east-1",
		Credentials: credentials.NewStaticCredentialsProvider("AKIDTEST", "secret", ""),
	}
}

func (f *fakeS3) store(t testing.TB, partSize int64) *S3Store {
	t.Helper()
	s, err := NewS3Store(context.Background(), S3Options{
		Bucket:    testBucket,
		Endpoint:  f.URL,
		PathStyle: true,
		AWS:       testAWSConfig(),
	})
	if err != nil {
		t.Fatal(err)
	}
	if partSize > 0 {
		s.partSize = partSize // below S3's minimum, which gofakes3 does not enforce
	}
	return s
}

// cdcSpec describes a generated DynamoDB Streams record.
type cdcSpec struct {
	event   string
	pk, sk  string
	seq     string
	created time.Time // zero: no ApproximateCreationDateTime
	pad     int       // extra bytes in NewImage
}

func (c cdcSpec) value(t testing.TB) []byte {
	t.Helper()
	r := state.Record{
		EventID:        "ev-" + c.seq,
		EventName:      c.event,
		EventVersion:   "1.1",
		EventSource:    "aws:dynamodb",
		AWSRegion:      "eu-west-1",
		EventSourceARN: "arn:aws:dynamodb:eu-west-1:123456789012:table/users/stream/2024-01-01T00:00:00.000",
		DynamoDB: state.StreamRecord{
			Keys: map[string]state.AttributeValue{
				"pk": state.StringValue(c.pk),
				"sk": state.StringValue(c.sk),
			},
			SequenceNumber: c.seq,
			SizeBytes:      123,
			StreamViewType: "NEW_AND_OLD_IMAGES",
		},
	}
	if !c.created.IsZero() {
		r.DynamoDB.ApproximateCreationDateTime = state.EpochSeconds(c.created)
	}
	img := map[string]state.AttributeValue{
		"pk":    state.StringValue(c.pk),
		"sk":    state.StringValue(c.sk),
		"name":  state.StringValue("Ada Lovelace"),
		"score": state.NumberValue("42.50"),
		"tags":  state.StringSetValue("a", "b"),
	}
	if c.pad > 0 {
		img["bio"] = state.StringValue(strings.Repeat("x", c.pad))
	}
	if c.event == state.EventRemove {
		r.DynamoDB.OldImage = img
	} else {
		r.DynamoDB.NewImage = img
	}
	b, err := r.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// cdcRecord is a Kafka record carrying c, keyed like the bridge keys it.
func cdcRecord(t testing.TB, offset int64, ts time.Time, c cdcSpec) *kgo.Record {
	key, err := state.EncodeKey(map[string]state.AttributeValue{
		"pk": state.StringValue(c.pk), "sk": state.StringValue(c.sk),
	}, []string{"pk", "sk"})
	if err != nil {
		t.Fatal(err)
	}
	return &kgo.Record{Key: []byte(key), Value: c.value(t), Offset: offset, Timestamp: ts}
}

func rawRecord(offset int64, ts time.Time, key, value []byte) *kgo.Record {
	return &kgo.Record{Key: key, Value: value, Offset: offset, Timestamp: ts}
}

func batchOf(topic string, partition int32, recs ...*kgo.Record) *emitters.Batch {
	for _, r := range recs {
		r.Topic, r.Partition = topic, partition
	}
	return &emitters.Batch{Topic: topic, Partition: partition, Records: recs}
}

func ptr[T any](v T) *T { return &v }

// row is one record read back from a lake object, in a form both formats map to.
type row struct {
	Topic                   string
	Partition               int32
	Offset                  int64
	Timestamp               string
	Key                     *string
	KeyEncoding             *string
	Headers                 map[string]string
	Value                   *string // JSON text, compacted
	ValueEncoding           *string
	EventName               *string
	Keys                    *string // JSON text, compacted
	SequenceNumber          *string
	ApproximateCreationTime *string
	EventID                 *string
	OccurredAt              *string
	Source                  *string
	AppID                   *string
	AppVersion              *string
	DeviceID                *string
	UserID                  *string
}

func compactJSON(t testing.TB, b []byte) string {
	t.Helper()
	var buf bytes.Buffer
	if err := json.Compact(&buf, b); err != nil {
		t.Fatalf("not JSON: %q: %v", b, err)
	}
	return buf.String()
}

var jsonlFields = []string{"topic", "partition", "offset", "timestamp", "key", "key_encoding", "headers",
	"value", "value_encoding", "event_name", "keys", "sequence_number", "approximate_creation_time",
	"event_id", "occurred_at", "source", "app_id", "app_version", "device_id", "user_id"}

// readJSONL decodes a jsonl.gz object, checking that every line is one JSON object of
// known fields, in the documented order.
func readJSONL(t testing.TB, body []byte) []row {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	plain, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	if len(plain) == 0 || plain[len(plain)-1] != '\n' {
		t.Fatalf("object does not end in a newline")
	}
	var rows []row
	for line := range bytes.Lines(plain) {
		line = bytes.TrimSuffix(line, []byte("\n"))
		var m map[string]json.RawMessage
		if err := json.Unmarshal(line, &m); err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		// Field order: decode tokens to find the member names in order.
		dec := json.NewDecoder(bytes.NewReader(line))
		dec.Token()
		last := -1
		for dec.More() {
			tok, _ := dec.Token()
			name := tok.(string)
			i := slices.Index(jsonlFields, name)
			if i < 0 {
				t.Fatalf("unknown field %q in %s", name, line)
			}
			if i <= last {
				t.Fatalf("field %q out of order in %s", name, line)
			}
			last = i
			var skip json.RawMessage
			dec.Decode(&skip)
		}
		str := func(name string) *string {
			raw, ok := m[name]
			if !ok {
				return nil
			}
			var s string
			if err := json.Unmarshal(raw, &s); err != nil {
				t.Fatalf("%s: %s is not a string", name, raw)
			}
			return &s
		}
		raw := func(name string) *string {
			r, ok := m[name]
			if !ok {
				return nil
			}
			s := compactJSON(t, r)
			return &s
		}
		var r row
		json.Unmarshal(m["topic"], &r.Topic)
		json.Unmarshal(m["partition"], &r.Partition)
		json.Unmarshal(m["offset"], &r.Offset)
		r.Timestamp = *str("timestamp")
		r.Key, r.KeyEncoding = str("key"), str("key_encoding")
		if h, ok := m["headers"]; ok {
			if err := json.Unmarshal(h, &r.Headers); err != nil {
				t.Fatal(err)
			}
		}
		r.Value, r.ValueEncoding = raw("value"), str("value_encoding")
		r.EventName, r.Keys, r.SequenceNumber = str("event_name"), raw("keys"), str("sequence_number")
		r.ApproximateCreationTime = str("approximate_creation_time")
		r.EventID, r.OccurredAt, r.Source = str("event_id"), str("occurred_at"), str("source")
		r.AppID, r.AppVersion, r.DeviceID, r.UserID = str("app_id"), str("app_version"), str("device_id"), str("user_id")
		rows = append(rows, r)
	}
	return rows
}

func fmtMillis(ms int64) string { return time.UnixMilli(ms).UTC().Format(timeLayout) }

// readParquet reads a parquet object with parquet-go's generic reader.
func readParquet(t testing.TB, body []byte) []row {
	t.Helper()
	f, err := parquet.OpenFile(bytes.NewReader(body), int64(len(body)))
	if err != nil {
		t.Fatal(err)
	}
	rd := parquet.NewGenericReader[ParquetRow](f)
	defer rd.Close()
	prs := make([]ParquetRow, f.NumRows())
	n, err := rd.Read(prs)
	if err != nil && !errors.Is(err, io.EOF) {
		t.Fatal(err)
	}
	if int64(n) != f.NumRows() {
		t.Fatalf("read %d of %d rows", n, f.NumRows())
	}
	rows := make([]row, n)
	for i, p := range prs {
		r := row{
			Topic: p.Topic, Partition: p.Partition, Offset: p.Offset, Timestamp: fmtMillis(p.Timestamp),
			Key: p.Key, KeyEncoding: p.KeyEncoding, ValueEncoding: p.ValueEncoding,
			EventName: p.EventName, SequenceNumber: p.SequenceNumber, EventID: p.EventID,
			Source: p.Source, AppID: p.AppID, AppVersion: p.AppVersion, DeviceID: p.DeviceID, UserID: p.UserID,
		}
		if len(p.Headers) > 0 {
			r.Headers = maps.Clone(p.Headers)
		}
		if p.Value != nil {
			r.Value = ptr(compactJSON(t, []byte(*p.Value)))
		}
		if p.Keys != nil {
			r.Keys = ptr(compactJSON(t, []byte(*p.Keys)))
		}
		if p.ApproximateCreationTime != nil {
			r.ApproximateCreationTime = ptr(fmtMillis(*p.ApproximateCreationTime))
		}
		if p.OccurredAt != nil {
			r.OccurredAt = ptr(fmtMillis(*p.OccurredAt))
		}
		rows[i] = r
	}
	return rows
}

// readObject reads an object of either format.
func readObject(t testing.TB, key string, body []byte) []row {
	t.Helper()
	switch {
	case strings.HasSuffix(key, ".jsonl.gz"):
		return readJSONL(t, body)
	case strings.HasSuffix(key, ".parquet"):
		return readParquet(t, body)
	}
	t.Fatalf("unknown object %s", key)
	return nil
}

// keyBytes and valueBytes rebuild a record's key and value from a row, by the rules of
// SCHEMA.md.
func keyBytes(t testing.TB, r row) []byte {
	t.Helper()
	if r.Key == nil {
		return nil
	}
	if r.KeyEncoding != nil {
		if *r.KeyEncoding != EncodingBase64 {
			t.Fatalf("key_encoding %q", *r.KeyEncoding)
		}
		b, err := base64.StdEncoding.DecodeString(*r.Key)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	return []byte(*r.Key)
}

func valueBytes(t testing.TB, r row) []byte {
	t.Helper()
	if r.Value == nil {
		return nil
	}
	if r.ValueEncoding == nil {
		return []byte(*r.Value)
	}
	var s string
	if err := json.Unmarshal([]byte(*r.Value), &s); err != nil {
		t.Fatal(err)
	}
	switch *r.ValueEncoding {
	case EncodingString:
		return []byte(s)
	case EncodingBase64:
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	t.Fatalf("value_encoding %q", *r.ValueEncoding)
	return nil
}

// newSink builds a sink or fails the test.
func newSink(t testing.TB, o Options) *Sink {
	t.Helper()
	s, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func mustFlush(t testing.TB, s *Sink, b *emitters.Batch) {
	t.Helper()
	rejects, err := s.Flush(context.Background(), b)
	if err != nil {
		t.Fatal(err)
	}
	if len(rejects) > 0 {
		t.Fatalf("unexpected rejects: %+v", rejects)
	}
}
