package bench

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/streamhub/streamhub/emitters"
	"github.com/streamhub/streamhub/emitters/lake"
	"github.com/streamhub/streamhub/state"
	"github.com/streamhub/streamhub/topology"
)

// Lake stores and formats the lake benchmark knows.
const (
	LakeStoreFile = "file"
	LakeStoreS3   = "s3"
)

// LakeFormat is one object format of the lake sink, in the topology's words.
type LakeFormat struct {
	Name, Format, Compression string
}

// LakeFormats are the lake sink's formats.
var LakeFormats = []LakeFormat{
	{"jsonl_gz", topology.FormatJSONLGzip, ""},
	{"parquet_zstd", topology.FormatParquet, topology.ParquetZstd},
	{"parquet_snappy", topology.FormatParquet, topology.ParquetSnappy},
}

// LakeOptions shape the lake benchmark.
type LakeOptions struct {
	// Records CDC records (≈630-byte values) in batches of Batch, flushed Passes times;
	// defaults 100,000, 10,000 and 3.
	Records, Batch, Passes int
	// Stores are LakeStoreFile (a directory, fsynced) and LakeStoreS3 (gofakes3 in this
	// process through the real S3 client); default both.
	Stores []string
	// Formats are names from LakeFormats; default all.
	Formats []string
	// Dir holds the file stores; "" uses a temporary directory, removed at the end.
	Dir string
	// Progress, when set, receives a line per run.
	Progress io.Writer
}

// LakeResult is one run of the lake benchmark.
type LakeResult struct {
	Records, Batch, Passes int
	// ValueBytes is the value bytes of one pass.
	ValueBytes int64
	Runs       []LakeRun
}

// LakeRun is the lake sink with one store and format against raw writes of the same value
// bytes through the same store (one object per batch), in the same run.
type LakeRun struct {
	Store, Format string
	// Flushed and Rejected are the sink's own counts (lake.Stats) over every pass.
	Flushed, Rejected int64
	// SinkPerSec is records/s through Flush; SinkMBps and RawMBps are value bytes in per
	// second through the sink and written raw.
	SinkPerSec, SinkMBps, RawMBps float64
	// FlushP99 is the 99th percentile of the time of one Flush (one batch).
	FlushP99 time.Duration
}

// Ratio is the sink's byte rate as a fraction of raw writes of the same bytes.
func (r LakeRun) Ratio() float64 { return r.SinkMBps / r.RawMBps }

// RawPerSec is the raw writes' rate in the sink's unit: records whose value bytes were
// written per second.
func (r LakeRun) RawPerSec() float64 { return r.SinkPerSec / r.Ratio() }

func (r LakeResult) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d CDC records (%.0f value bytes each) in batches of %d, %d passes", r.Records,
		float64(r.ValueBytes)/float64(max(r.Records, 1)), r.Batch, r.Passes)
	for _, run := range r.Runs {
		fmt.Fprintf(&b, "\n  %-4s %-14s sink %8.0f records/s %7.1f MB/s (p99 flush %s)   raw %7.1f MB/s   ratio %.3f",
			run.Store, run.Format, run.SinkPerSec, run.SinkMBps, run.FlushP99.Round(time.Millisecond), run.RawMBps, run.Ratio())
	}
	return b.String()
}

// Lake measures the lake sink flushing CDC records into each store and format, against
// writing the same value bytes raw through the same store, in the same run.
func Lake(ctx context.Context, o LakeOptions) (LakeResult, error) {
	if o.Records <= 0 {
		o.Records = 100_000
	}
	if o.Batch <= 0 {
		o.Batch = 10_000
	}
	if o.Passes <= 0 {
		o.Passes = 3
	}
	if len(o.Stores) == 0 {
		o.Stores = []string{LakeStoreFile, LakeStoreS3}
	}
	if len(o.Formats) == 0 {
		for _, f := range LakeFormats {
			o.Formats = append(o.Formats, f.Name)
		}
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	var formats []LakeFormat
	for _, name := range o.Formats {
		i := slices.IndexFunc(LakeFormats, func(f LakeFormat) bool { return f.Name == name })
		if i < 0 {
			return LakeResult{}, fmt.Errorf("bench: lake format %q is not jsonl_gz, parquet_zstd or parquet_snappy", name)
		}
		formats = append(formats, LakeFormats[i])
	}
	for _, st := range o.Stores {
		if st != LakeStoreFile && st != LakeStoreS3 {
			return LakeResult{}, fmt.Errorf("bench: lake store %q is not file or s3", st)
		}
	}
	if o.Dir == "" {
		dir, err := os.MkdirTemp("", "streamhub-bench-lake-")
		if err != nil {
			return LakeResult{}, err
		}
		defer os.RemoveAll(dir)
		o.Dir = dir
	}

	res := LakeResult{Records: o.Records, Batch: o.Batch, Passes: o.Passes}
	batches, raw, err := lakeData(o.Records, o.Batch)
	if err != nil {
		return res, err
	}
	for _, r := range raw {
		res.ValueBytes += int64(len(r))
	}
	for _, st := range o.Stores {
		for _, f := range formats {
			fmt.Fprintf(o.Progress, "lake: %s, %s...\n", st, f.Name)
			run, err := lakeRun(ctx, o, st, f, batches, raw, res.ValueBytes)
			if err != nil {
				return res, fmt.Errorf("bench: lake %s %s: %w", st, f.Name, err)
			}
			res.Runs = append(res.Runs, run)
		}
	}
	return res, nil
}

func lakeRun(ctx context.Context, o LakeOptions, store string, f LakeFormat, batches []*emitters.Batch, raw [][]byte, valueBytes int64) (LakeRun, error) {
	run := LakeRun{Store: store, Format: f.Name}
	var st lake.Store
	switch store {
	case LakeStoreFile:
		dir, err := os.MkdirTemp(o.Dir, store+"-"+f.Name+"-")
		if err != nil {
			return run, err
		}
		defer os.RemoveAll(dir)
		st = lake.NewFileStore(dir)
	case LakeStoreS3:
		s3, stop, err := fakeS3Store(ctx)
		if err != nil {
			return run, err
		}
		defer stop()
		st = s3
	}
	sink, err := lake.New(lake.Options{Name: "bench", Store: st, Prefix: "lake", Format: f.Format,
		ParquetCompression: f.Compression, PartitionTime: topology.PartitionByRecord})
	if err != nil {
		return run, err
	}
	defer sink.Close()

	var sinkTime, rawTime time.Duration
	flushes := make([]time.Duration, 0, o.Passes*len(batches))
	for range o.Passes {
		for _, b := range batches {
			t := time.Now()
			rejects, err := sink.Flush(ctx, b)
			d := time.Since(t)
			if err != nil {
				return run, err
			}
			if len(rejects) > 0 {
				return run, fmt.Errorf("%d records rejected, the first: %s", len(rejects), rejects[0].Reason)
			}
			sinkTime += d
			flushes = append(flushes, d)
		}
		t := time.Now()
		for i, r := range raw {
			if err := st.Put(ctx, fmt.Sprintf("raw/batch-%d", i), r); err != nil {
				return run, err
			}
		}
		rawTime += time.Since(t)
	}
	stats := sink.Stats()
	run.Flushed, run.Rejected = stats.Records, stats.Rejects
	mb := float64(valueBytes) * float64(o.Passes) / 1e6
	run.SinkMBps, run.RawMBps = mb/sinkTime.Seconds(), mb/rawTime.Seconds()
	run.SinkPerSec = float64(o.Records*o.Passes) / sinkTime.Seconds()
	run.FlushP99 = durationQuantile(flushes, 0.99)
	return run, nil
}

// lakeData is n CDC records of about 630 bytes, Kafka timestamps 36 ms apart from 12:30,
// in batches, and per batch its values concatenated (what the raw writes store).
func lakeData(n, batchSize int) ([]*emitters.Batch, [][]byte, error) {
	const topic = "bench.users.cdc"
	start := time.Date(2024, 5, 1, 12, 30, 0, 0, time.UTC)
	recs := make([]*kgo.Record, n)
	for i := range recs {
		ts := start.Add(time.Duration(i) * 36 * time.Millisecond)
		pk, seq := fmt.Sprintf("user#%07d", i%50_000), fmt.Sprintf("4%020d", i)
		r := state.Record{
			EventID: "ev-" + seq, EventName: state.EventModify, EventVersion: "1.1", EventSource: "aws:dynamodb",
			AWSRegion:      "eu-west-1",
			EventSourceARN: "arn:aws:dynamodb:eu-west-1:123456789012:table/users/stream/2024-01-01T00:00:00.000",
			DynamoDB: state.StreamRecord{
				ApproximateCreationDateTime: state.EpochSeconds(ts.Add(-20 * time.Millisecond)),
				Keys:                        map[string]state.AttributeValue{"pk": state.StringValue(pk), "sk": state.StringValue("profile")},
				NewImage: map[string]state.AttributeValue{
					"pk": state.StringValue(pk), "sk": state.StringValue("profile"),
					"name": state.StringValue("Ada Lovelace"), "score": state.NumberValue("42.50"),
					"tags": state.StringSetValue("a", "b"), "bio": state.StringValue(strings.Repeat("x", 40)),
				},
				SequenceNumber: seq, SizeBytes: 123, StreamViewType: "NEW_AND_OLD_IMAGES",
			},
		}
		value, err := r.Marshal()
		if err != nil {
			return nil, nil, err
		}
		key, err := state.EncodeKey(r.DynamoDB.Keys, []string{"pk", "sk"})
		if err != nil {
			return nil, nil, err
		}
		recs[i] = &kgo.Record{Topic: topic, Key: []byte(key), Value: value, Offset: int64(i), Timestamp: ts}
	}
	var batches []*emitters.Batch
	var raw [][]byte
	for i := 0; i < len(recs); i += batchSize {
		b := &emitters.Batch{Topic: topic, Partition: 0, Records: recs[i:min(i+batchSize, len(recs))]}
		var body []byte
		for _, r := range b.Records {
			body = append(body, r.Value...)
		}
		batches, raw = append(batches, b), append(raw, body)
	}
	return batches, raw, nil
}

// fakeS3Store is gofakes3 (in memory) on a loopback port and an S3Store talking to it
// through the real SDK client.
func fakeS3Store(ctx context.Context) (*lake.S3Store, func(), error) {
	const bucket = "lake"
	be := s3mem.New()
	if err := be.CreateBucket(bucket); err != nil {
		return nil, nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, nil, err
	}
	srv := &http.Server{Handler: gofakes3.New(be, gofakes3.WithLogger(gofakes3.DiscardLog())).Server()}
	go srv.Serve(ln)
	stop := func() { srv.Close() }
	st, err := lake.NewS3Store(ctx, lake.S3Options{
		Bucket: bucket, Endpoint: "http://" + ln.Addr().String(), PathStyle: true,
		AWS: &aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("bench", "bench", "")},
	})
	if err != nil {
		stop()
		return nil, nil, err
	}
	return st, stop, nil
}
