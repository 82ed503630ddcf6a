package lake

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/streamhub/streamhub/emitters"
	"github.com/streamhub/streamhub/state"
	"github.com/streamhub/streamhub/topology"
)

var t0 = time.Date(2024, 3, 10, 12, 34, 56, 789_000_000, time.UTC)

// formats are the object formats every format-independent test runs with.
var formats = []struct {
	name, format, compression string
}{
	{"jsonl_gz", topology.FormatJSONLGzip, ""},
	{"parquet_zstd", topology.FormatParquet, topology.ParquetZstd},
	{"parquet_snappy", topology.FormatParquet, topology.ParquetSnappy},
}

func TestLayout(t *testing.T) {
	day1 := time.Date(2024, 12, 31, 22, 10, 0, 0, time.UTC)
	// Kafka timestamps: 22h (two records), 23h (one), next day 00h (two), back to 23h.
	stamps := []time.Time{
		day1, day1.Add(30 * time.Minute), day1.Add(time.Hour), day1.Add(2 * time.Hour),
		day1.Add(2*time.Hour + time.Minute), day1.Add(time.Hour + 5*time.Minute),
	}
	for _, tc := range []struct {
		prefix, want string
	}{
		{"", ""},
		{"raw", "raw/"},
		{"/raw/", "raw/"},
		{"//lake//raw/", "lake/raw/"},
	} {
		for _, f := range formats {
			t.Run(fmt.Sprintf("%s/%q", f.name, tc.prefix), func(t *testing.T) {
				store := newMemStore()
				s := newSink(t, Options{Name: "t", Store: store, Prefix: tc.prefix, Format: f.format,
					ParquetCompression: f.compression, PartitionTime: topology.PartitionByKafka})
				var recs []*kgo.Record
				for i, ts := range stamps {
					recs = append(recs, rawRecord(int64(1000+i*3), ts, []byte("k"), []byte(`{"i":`+fmt.Sprint(i)+`}`)))
				}
				mustFlush(t, s, batchOf("dev.users.cdc", 7, recs...))

				ext := "jsonl.gz"
				if f.format == topology.FormatParquet {
					ext = "parquet"
				}
				p := tc.want + "dev.users.cdc/"
				want := map[string][]int64{
					p + "dt=2024-12-31/hr=22/dev.users.cdc+7+00000000000000001000." + ext: {1000, 1003},
					p + "dt=2024-12-31/hr=23/dev.users.cdc+7+00000000000000001006." + ext: {1006, 1015},
					p + "dt=2025-01-01/hr=00/dev.users.cdc+7+00000000000000001009." + ext: {1009, 1012},
				}
				got := map[string][]int64{}
				for key, body := range snapshot(t, store) {
					if strings.HasPrefix(key, "/") || strings.Contains(key, "//") {
						t.Errorf("bad key %q", key)
					}
					for _, r := range readObject(t, key, body) {
						got[key] = append(got[key], r.Offset)
					}
				}
				if !reflect.DeepEqual(got, want) {
					t.Errorf("objects:\n got %v\nwant %v", got, want)
				}
			})
		}
	}
}

func TestPartitionTime(t *testing.T) {
	kafkaTS := time.Date(2024, 3, 10, 12, 0, 0, 0, time.UTC)
	created := time.Date(2024, 3, 9, 23, 59, 59, 999_000_000, time.UTC)
	occurred := "2024-03-10T05:30:00+02:00" // 03:30 UTC
	recs := func() []*kgo.Record {
		return []*kgo.Record{
			cdcRecord(t, 0, kafkaTS, cdcSpec{event: state.EventInsert, pk: "u1", sk: "p", seq: "100000000000000000001", created: created}),
			cdcRecord(t, 1, kafkaTS, cdcSpec{event: state.EventModify, pk: "u1", sk: "p", seq: "100000000000000000002"}),
			rawRecord(2, kafkaTS, nil, []byte(`{"event_id":"e1","event_name":"open","occurred_at":"`+occurred+`"}`)),
			rawRecord(3, kafkaTS, nil, []byte(`{"event_id":"e2","event_name":"open","occurred_at":"not a time"}`)),
			rawRecord(4, kafkaTS, nil, []byte(`plain text`)),
			// ApproximateCreationDateTime past year 9999: Kafka time.
			rawRecord(5, kafkaTS, nil, bytes.Replace(
				cdcSpec{event: state.EventInsert, pk: "u2", sk: "p", seq: "100000000000000000003", created: created}.value(t),
				[]byte(string(state.EpochSeconds(created))), []byte("253402300800"), 1)),
		}
	}
	for _, tc := range []struct {
		mode string
		want map[string][]int64
	}{
		{topology.PartitionByRecord, map[string][]int64{
			"t/dt=2024-03-09/hr=23/t+0+00000000000000000000.jsonl.gz": {0},
			"t/dt=2024-03-10/hr=12/t+0+00000000000000000001.jsonl.gz": {1, 3, 4, 5},
			"t/dt=2024-03-10/hr=03/t+0+00000000000000000002.jsonl.gz": {2},
		}},
		{"", map[string][]int64{ // the default is record
			"t/dt=2024-03-09/hr=23/t+0+00000000000000000000.jsonl.gz": {0},
			"t/dt=2024-03-10/hr=12/t+0+00000000000000000001.jsonl.gz": {1, 3, 4, 5},
			"t/dt=2024-03-10/hr=03/t+0+00000000000000000002.jsonl.gz": {2},
		}},
		{topology.PartitionByKafka, map[string][]int64{
			"t/dt=2024-03-10/hr=12/t+0+00000000000000000000.jsonl.gz": {0, 1, 2, 3, 4, 5},
		}},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			store := newMemStore()
			s := newSink(t, Options{Store: store, PartitionTime: tc.mode})
			mustFlush(t, s, batchOf("t", 0, recs()...))
			got := map[string][]int64{}
			for key, body := range snapshot(t, store) {
				for _, r := range readJSONL(t, body) {
					got[key] = append(got[key], r.Offset)
				}
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %v\nwant %v", got, tc.want)
			}
		})
	}
}

// roundTripCase is one input record and the row it must read back as (topic, partition,
// offset and timestamp are filled in by the test).
type roundTripCase struct {
	name    string
	key     []byte
	value   []byte
	headers []kgo.RecordHeader
	want    row
}

func roundTripCases(t *testing.T) []roundTripCase {
	created := t0.Add(-2 * time.Hour)
	insert := cdcSpec{event: state.EventInsert, pk: "user#1", sk: "profile", seq: "111111111111111111111", created: created}
	remove := cdcSpec{event: state.EventRemove, pk: "user#2", sk: "profile", seq: "222222222222222222222"}
	fullEvent := `{"event_id":"e1","event_name":"signup","occurred_at":"2024-03-10T11:00:00.123456Z","source":"web",` +
		`"app":{"id":"shop","version":"1.2.3"},"device":{"id":"d1"},"user":{"id":"u1"},"payload":{"plan":"pro","n":1}}`
	pretty := "{\n  \"a\": [1, 2],\r\n  \"b\": \"x y\"\n}"
	return []roundTripCase{
		{name: "cdc insert", key: []byte(`["user#1","profile"]`), value: insert.value(t), want: row{
			Key: ptr(`["user#1","profile"]`), Value: ptr(compactJSON(t, insert.value(t))),
			EventName: ptr("INSERT"), Keys: ptr(`{"pk":"user#1","sk":"profile"}`),
			SequenceNumber:          ptr("111111111111111111111"),
			ApproximateCreationTime: ptr("2024-03-10T10:34:56.789Z"),
		}},
		{name: "cdc remove without creation time", key: []byte(`["user#2","profile"]`), value: remove.value(t), want: row{
			Key: ptr(`["user#2","profile"]`), Value: ptr(compactJSON(t, remove.value(t))),
			EventName: ptr("REMOVE"), Keys: ptr(`{"pk":"user#2","sk":"profile"}`),
			SequenceNumber: ptr("222222222222222222222"),
		}},
		{name: "cdc with escaped member names", value: bytes.Replace(remove.value(t), []byte(`"dynamodb"`), []byte(`"dynamo\u0064b"`), 1), want: row{
			Value:     ptr(compactJSON(t, bytes.Replace(remove.value(t), []byte(`"dynamodb"`), []byte(`"dynamo\u0064b"`), 1))),
			EventName: ptr("REMOVE"), Keys: ptr(`{"pk":"user#2","sk":"profile"}`),
			SequenceNumber: ptr("222222222222222222222"),
		}},
		{name: "collector event", key: []byte("e1"), value: []byte(fullEvent), want: row{
			Key: ptr("e1"), Value: ptr(fullEvent),
			EventID: ptr("e1"), EventName: ptr("signup"), OccurredAt: ptr("2024-03-10T11:00:00.123Z"),
			Source: ptr("web"), AppID: ptr("shop"), AppVersion: ptr("1.2.3"), DeviceID: ptr("d1"), UserID: ptr("u1"),
		}},
		{name: "event with odd fields", value: []byte(`{"event_id":"e2","event_name":"click","occurred_at":"yesterday","app":"shop","user":{"id":7},"source":null}`), want: row{
			Value:   ptr(`{"event_id":"e2","event_name":"click","occurred_at":"yesterday","app":"shop","user":{"id":7},"source":null}`),
			EventID: ptr("e2"), EventName: ptr("click"),
		}},
		{name: "not an event", value: []byte(`{"event_id":1,"event_name":"x","occurred_at":"2024-03-10T11:00:00Z"}`), want: row{
			Value: ptr(`{"event_id":1,"event_name":"x","occurred_at":"2024-03-10T11:00:00Z"}`),
		}},
		{name: "text value", value: []byte("hello, \"world\"\n\ttab \u2028 é \x01"), want: row{
			Value: ptr(`"hello, \"world\"\n\ttab ` + "\u2028" + ` é \u0001"`), ValueEncoding: ptr(EncodingString),
		}},
		{name: "broken JSON", value: []byte(`{"a":`), want: row{
			Value: ptr(`"{\"a\":"`), ValueEncoding: ptr(EncodingString),
		}},
		{name: "empty value", value: []byte{}, want: row{
			Value: ptr(`""`), ValueEncoding: ptr(EncodingString),
		}},
		{name: "binary value", value: []byte{0xff, 0x00, 0x01}, want: row{
			Value: ptr(`"/wAB"`), ValueEncoding: ptr(EncodingBase64),
		}},
		{name: "JSON string value", value: []byte(`"abc"`), want: row{Value: ptr(`"abc"`)}},
		{name: "JSON number value", value: []byte(` 42.50 `), want: row{Value: ptr(`42.50`)}},
		{name: "pretty JSON", value: []byte(pretty), want: row{Value: ptr(`{"a":[1,2],"b":"x y"}`)}},
		{name: "tombstone", key: []byte("gone"), want: row{Key: ptr("gone")}},
		{name: "binary key", key: []byte{0xfe, 'a'}, value: []byte(`{}`), want: row{
			Key: ptr("/mE="), KeyEncoding: ptr(EncodingBase64), Value: ptr(`{}`),
		}},
		{name: "empty key", key: []byte{}, value: []byte(`1`), want: row{Key: ptr(""), Value: ptr(`1`)}},
		{name: "headers", key: []byte("h"), value: []byte(`null`), headers: []kgo.RecordHeader{
			{Key: "b", Value: []byte("2")}, {Key: "a", Value: []byte("1")}, {Key: "b", Value: []byte("3")},
			{Key: "bin", Value: []byte{0xff}}, {Key: "empty"},
		}, want: row{
			Key: ptr("h"), Value: ptr(`null`),
			Headers: map[string]string{"a": "1", "b": "3", "bin": "/w==", "empty": ""},
		}},
	}
}

func TestRoundTrip(t *testing.T) {
	cases := roundTripCases(t)
	for _, f := range formats {
		t.Run(f.name, func(t *testing.T) {
			store := newMemStore()
			s := newSink(t, Options{Store: store, Format: f.format, ParquetCompression: f.compression,
				PartitionTime: topology.PartitionByKafka})
			var recs []*kgo.Record
			for i, c := range cases {
				r := rawRecord(int64(500+i), t0.Add(time.Duration(i)*time.Millisecond), c.key, c.value)
				r.Headers = c.headers
				recs = append(recs, r)
			}
			mustFlush(t, s, batchOf("dev.mixed", 3, recs...))
			objs := snapshot(t, store)
			if len(objs) != 1 {
				t.Fatalf("%d objects, want 1: %v", len(objs), slices.Collect(maps.Keys(objs)))
			}
			for key, body := range objs {
				rows := readObject(t, key, body)
				if len(rows) != len(cases) {
					t.Fatalf("%d rows, want %d", len(rows), len(cases))
				}
				for i, c := range cases {
					want := c.want
					want.Topic, want.Partition, want.Offset = "dev.mixed", 3, int64(500+i)
					want.Timestamp = t0.Add(time.Duration(i) * time.Millisecond).Format(timeLayout)
					got := rows[i]
					if !reflect.DeepEqual(got, want) {
						t.Errorf("%s:\n got %s\nwant %s", c.name, dump(got), dump(want))
					}
					// The key and value bytes come back exactly (JSON values up to white space).
					if k := keyBytes(t, got); !bytes.Equal(k, c.key) || (k == nil) != (c.key == nil) {
						t.Errorf("%s: key %q, want %q", c.name, k, c.key)
					}
					v := valueBytes(t, got)
					wantV := c.value
					if got.Value != nil && got.ValueEncoding == nil {
						wantV = []byte(compactJSON(t, c.value))
					}
					if !bytes.Equal(v, wantV) || (v == nil) != (c.value == nil) {
						t.Errorf("%s: value %q, want %q", c.name, v, wantV)
					}
				}
			}
		})
	}
}

func dump(r row) string {
	b, _ := json.Marshal(r)
	return string(b)
}

func TestIdempotentFlush(t *testing.T) {
	day := time.Date(2024, 6, 1, 23, 50, 0, 0, time.UTC)
	var recs []*kgo.Record
	for i := range 300 {
		ts := day.Add(time.Duration(i) * 7 * time.Second) // crosses midnight
		spec := cdcSpec{event: state.EventModify, pk: fmt.Sprintf("u%d", i%17), sk: "p",
			seq: fmt.Sprintf("3%020d", i), created: ts.Add(-time.Minute), pad: i % 50}
		r := cdcRecord(t, int64(10_000+i), ts, spec)
		r.Headers = []kgo.RecordHeader{{Key: "z", Value: []byte("1")}, {Key: "a", Value: []byte(fmt.Sprint(i))}}
		recs = append(recs, r)
	}
	for _, f := range formats {
		t.Run(f.name, func(t *testing.T) {
			store := NewFileStore(t.TempDir())
			opts := Options{Store: store, Prefix: "lake", Format: f.format, ParquetCompression: f.compression,
				Manifest: true, ManifestBucket: "b"}
			s := newSink(t, opts)
			b := batchOf("dev.users.cdc", 1, recs...)
			mustFlush(t, s, b)
			first := snapshot(t, store)
			if len(first) < 3 {
				t.Fatalf("expected objects in two hours and a manifest, got %v", slices.Collect(maps.Keys(first)))
			}
			mustFlush(t, s, b) // the same sink, its buffers reused
			mustFlush(t, newSink(t, opts), b)
			// A sink that flushed other data in between.
			other := newSink(t, opts)
			mustFlush(t, other, batchOf("dev.other", 0, rawRecord(1, day, nil, []byte("x"))))
			mustFlush(t, other, b)
			again := snapshot(t, store)
			for k := range again {
				if strings.HasPrefix(k, "lake/dev.other/") || strings.HasPrefix(k, "lake/_manifests/dev.other/") {
					delete(again, k)
				}
			}
			if !maps.EqualFunc(first, again, bytes.Equal) {
				t.Errorf("second flush changed the objects:\nfirst %v\nagain %v",
					slices.Sorted(maps.Keys(first)), slices.Sorted(maps.Keys(again)))
			}
		})
	}
}

func TestEveryOffsetOnce(t *testing.T) {
	for _, f := range formats {
		t.Run(f.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(1, 2))
			store := NewFileStore(t.TempDir())
			s := newSink(t, Options{Store: store, Format: f.format, ParquetCompression: f.compression})
			base := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
			var offset int64
			var want []int64
			for range 12 {
				var recs []*kgo.Record
				for range 1 + rng.IntN(80) {
					offset += 1 + int64(rng.IntN(3)) // gaps, as transaction markers leave
					ts := base.Add(time.Duration(rng.IntN(72)) * time.Hour / 2)
					var r *kgo.Record
					switch rng.IntN(3) {
					case 0:
						r = cdcRecord(t, offset, ts, cdcSpec{event: state.EventInsert, pk: fmt.Sprint(offset), sk: "s",
							seq: fmt.Sprint(offset), created: ts.Add(-time.Duration(rng.IntN(3)) * time.Hour)})
					case 1:
						r = rawRecord(offset, ts, nil, fmt.Appendf(nil,
							`{"event_id":"%d","event_name":"e","occurred_at":"%s"}`, offset, ts.Add(time.Hour).Format(time.RFC3339)))
					default:
						r = rawRecord(offset, ts, []byte("k"), []byte("text"))
					}
					recs = append(recs, r)
					want = append(want, offset)
				}
				mustFlush(t, s, batchOf("t", 2, recs...))
			}
			seen := map[int64]int{}
			var got []int64
			for key, body := range snapshot(t, store) {
				rows := readObject(t, key, body)
				if !slices.IsSortedFunc(rows, func(a, b row) int { return int(a.Offset - b.Offset) }) {
					t.Errorf("%s: offsets out of order", key)
				}
				if !strings.HasSuffix(key, fmt.Sprintf("+%020d.%s", rows[0].Offset, strings.SplitN(key, ".", 2)[1])) {
					t.Errorf("%s: first offset %d not in the name", key, rows[0].Offset)
				}
				for _, r := range rows {
					seen[r.Offset]++
					got = append(got, r.Offset)
				}
			}
			for o, n := range seen {
				if n != 1 {
					t.Errorf("offset %d written %d times", o, n)
				}
			}
			slices.Sort(got)
			if !slices.Equal(got, want) {
				t.Errorf("offsets read back differ: got %d, want %d", len(got), len(want))
			}
		})
	}
}

func TestRejects(t *testing.T) {
	old := maxRecordBytes
	maxRecordBytes = 1000
	t.Cleanup(func() { maxRecordBytes = old })
	for _, f := range formats {
		t.Run(f.name, func(t *testing.T) {
			store := newMemStore()
			s := newSink(t, Options{Store: store, Format: f.format, ParquetCompression: f.compression})
			recs := []*kgo.Record{
				rawRecord(0, t0, nil, []byte(`{"too":"late"}`)), // becomes the bad timestamp
				rawRecord(1, t0, nil, []byte(`1`)),
				rawRecord(2, t0, nil, bytes.Repeat([]byte("x"), 1001)),
				rawRecord(3, t0, nil, []byte(`2`)),
			}
			recs[0].Timestamp = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)
			rejects, err := s.Flush(context.Background(), batchOf("t", 0, recs...))
			if err != nil {
				t.Fatal(err)
			}
			var reasons []string
			for _, r := range rejects {
				reasons = append(reasons, fmt.Sprintf("%d:%s", r.Record.Offset, r.Reason))
				if r.Err == nil {
					t.Error("reject without error")
				}
			}
			if want := []string{"0:bad_timestamp", "2:too_large"}; !slices.Equal(reasons, want) {
				t.Errorf("rejects %v, want %v", reasons, want)
			}
			objs := snapshot(t, store)
			var offsets []int64
			for key, body := range objs {
				if !strings.HasSuffix(strings.SplitN(key, ".", 2)[0], "+00000000000000000001") {
					t.Errorf("object %s should be named after offset 1, the first one written", key)
				}
				for _, r := range readObject(t, key, body) {
					offsets = append(offsets, r.Offset)
				}
			}
			if !slices.Equal(offsets, []int64{1, 3}) {
				t.Errorf("written offsets %v", offsets)
			}
		})
	}
}

func TestAllRejected(t *testing.T) {
	store := newMemStore()
	s := newSink(t, Options{Store: store, Manifest: true, ManifestBucket: "b"})
	r := rawRecord(0, time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC), nil, []byte(`1`))
	rejects, err := s.Flush(context.Background(), batchOf("t", 0, r))
	if err != nil || len(rejects) != 1 || rejects[0].Reason != ReasonBadTimestamp {
		t.Fatalf("rejects %+v, err %v", rejects, err)
	}
	if len(store.objs) != 0 {
		t.Errorf("objects written: %v", slices.Collect(maps.Keys(store.objs)))
	}
}

type manifestDoc struct {
	Entries []struct {
		URL       string `json:"url"`
		Mandatory bool   `json:"mandatory"`
		Meta      struct {
			ContentLength int64 `json:"content_length"`
		} `json:"meta"`
	} `json:"entries"`
}

func checkManifest(t *testing.T, store Store, key, bucket string, wantObjects []string) {
	t.Helper()
	ctx := context.Background()
	body, err := store.Get(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	var m manifestDoc
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		t.Fatalf("manifest %s: %v", body, err)
	}
	var urls []string
	for _, e := range m.Entries {
		urls = append(urls, e.URL)
		if !e.Mandatory {
			t.Errorf("%s: not mandatory", e.URL)
		}
		obj, err := store.Get(ctx, strings.TrimPrefix(e.URL, "s3://"+bucket+"/"))
		if err != nil {
			t.Fatalf("%s: %v", e.URL, err)
		}
		if int64(len(obj)) != e.Meta.ContentLength {
			t.Errorf("%s: content_length %d, object has %d bytes", e.URL, e.Meta.ContentLength, len(obj))
		}
	}
	var want []string
	for _, o := range wantObjects {
		want = append(want, "s3://"+bucket+"/"+o)
	}
	if !slices.Equal(urls, want) {
		t.Errorf("manifest urls\n got %v\nwant %v", urls, want)
	}
}

func TestManifest(t *testing.T) {
	store := newMemStore()
	s := newSink(t, Options{Store: store, Prefix: "p", Format: topology.FormatParquet, PartitionTime: topology.PartitionByKafka,
		Manifest: true, ManifestBucket: "my-bucket"})
	mustFlush(t, s, batchOf("t", 4,
		rawRecord(41, t0, nil, []byte(`1`)),
		rawRecord(42, t0.Add(-time.Hour), nil, []byte(`2`)),
		rawRecord(43, t0, nil, []byte(`3`))))
	want := []string{
		"p/t/dt=2024-03-10/hr=11/t+4+00000000000000000042.parquet",
		"p/t/dt=2024-03-10/hr=12/t+4+00000000000000000041.parquet",
	}
	checkManifest(t, store, "p/_manifests/t/t+4+00000000000000000041.manifest", "my-bucket", want)
	// Data objects are written before the manifest.
	if last := store.puts[len(store.puts)-1]; !strings.HasSuffix(last, ".manifest") {
		t.Errorf("last put %s, want the manifest", last)
	}
}

func TestNewOptions(t *testing.T) {
	store := newMemStore()
	for _, tc := range []struct {
		name string
		opts Options
		ok   bool
	}{
		{"defaults", Options{Store: store}, true},
		{"no store", Options{}, false},
		{"bad format", Options{Store: store, Format: "csv"}, false},
		{"compression without parquet", Options{Store: store, ParquetCompression: "zstd"}, false},
		{"bad compression", Options{Store: store, Format: "parquet", ParquetCompression: "lz4"}, false},
		{"bad partition time", Options{Store: store, PartitionTime: "wall"}, false},
		{"manifest without bucket", Options{Store: store, Manifest: true}, false},
		{"manifest", Options{Store: store, Manifest: true, ManifestBucket: "b"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.opts)
			if (err == nil) != tc.ok {
				t.Errorf("err = %v, want ok=%v", err, tc.ok)
			}
		})
	}
}

func TestConcurrentFlushes(t *testing.T) {
	for _, f := range formats {
		t.Run(f.name, func(t *testing.T) {
			store := newMemStore()
			s := newSink(t, Options{Store: store, Format: f.format, ParquetCompression: f.compression})
			var wg sync.WaitGroup
			for p := range int32(4) {
				wg.Go(func() {
					for b := range 5 {
						var recs []*kgo.Record
						for i := range 50 {
							o := int64(b*50 + i)
							recs = append(recs, cdcRecord(t, o, t0.Add(time.Duration(o)*time.Minute),
								cdcSpec{event: state.EventInsert, pk: fmt.Sprint(p, o), sk: "s", seq: fmt.Sprint(o + 1)}))
						}
						if _, err := s.Flush(context.Background(), batchOf("t", p, recs...)); err != nil {
							t.Error(err)
						}
					}
				})
			}
			wg.Wait()
			count := map[int32]int{}
			for key, body := range snapshot(t, store) {
				for _, r := range readObject(t, key, body) {
					count[r.Partition]++
				}
			}
			for p := range int32(4) {
				if count[p] != 250 {
					t.Errorf("partition %d: %d records, want 250", p, count[p])
				}
			}
			if st := s.Stats(); st.Flushes != 20 || st.Records != 1000 || st.LastFlush.IsZero() {
				t.Errorf("stats %+v", st)
			}
		})
	}
}

func TestFlushErrors(t *testing.T) {
	s := newSink(t, Options{Store: &failingStore{}})
	if _, err := s.Flush(context.Background(), batchOf("t", 0, rawRecord(0, t0, nil, []byte("x")))); err == nil {
		t.Error("a failing store must fail the flush")
	}
	if rejects, err := s.Flush(context.Background(), &emitters.Batch{Topic: "t"}); err != nil || rejects != nil {
		t.Errorf("empty batch: %v %v", rejects, err)
	}
	s.Close()
	if _, err := s.Flush(context.Background(), batchOf("t", 0, rawRecord(0, t0, nil, []byte("x")))); err == nil {
		t.Error("flush after close must fail")
	}
}

type failingStore struct{ memStore }

func (*failingStore) Put(context.Context, string, []byte) error { return errors.New("disk full") }
