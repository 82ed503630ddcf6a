package lake

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/streamhub/streamhub/emitters"
	"github.com/streamhub/streamhub/state"
	"github.com/streamhub/streamhub/topology"
)

const (
	benchRecords   = 100_000
	benchBatchSize = 10_000
)

var (
	benchOnce    sync.Once
	benchBatches []*emitters.Batch
	benchRaw     [][]byte // per batch: its values concatenated
	benchBytes   int64    // value bytes of all batches
)

// benchData is 100k CDC records of about 500 bytes, Kafka timestamps 36 ms apart from
// 12:30 (so one batch spans an hour boundary), in batches of 10k.
func benchData(b *testing.B) {
	benchOnce.Do(func() {
		start := time.Date(2024, 5, 1, 12, 30, 0, 0, time.UTC)
		recs := make([]*kgo.Record, benchRecords)
		var size int
		for i := range recs {
			ts := start.Add(time.Duration(i) * 36 * time.Millisecond)
			recs[i] = cdcRecord(b, int64(i), ts, cdcSpec{
				event: state.EventModify, pk: fmt.Sprintf("user#%07d", i%50_000), sk: "profile",
				seq: fmt.Sprintf("4%020d", i), created: ts.Add(-20 * time.Millisecond), pad: 40,
			})
			size += len(recs[i].Value)
			benchBytes += int64(len(recs[i].Value))
		}
		for i := 0; i < len(recs); i += benchBatchSize {
			batch := batchOf("dev.users.cdc", 0, recs[i:i+benchBatchSize]...)
			benchBatches = append(benchBatches, batch)
			var raw []byte
			for _, r := range batch.Records {
				raw = append(raw, r.Value...)
			}
			benchRaw = append(benchRaw, raw)
		}
		b.Logf("%d records, %.0f value bytes each on average", len(recs), float64(size)/float64(len(recs)))
	})
}

// BenchmarkFlush flushes 100k ~500-byte CDC records in batches of 10k to a FileStore and
// to gofakes3, and writes the same value bytes raw, one object per batch, through the same
// store (one fsynced file; one PutObject), in the same iteration. Metrics: MB/s and
// records/s of the sink (value bytes in), raw_MB/s, and x_raw = sink MB/s ÷ raw MB/s,
// the figure that travels between machines.
func BenchmarkFlush(b *testing.B) {
	benchData(b)
	stores := []struct {
		name string
		make func(b *testing.B) Store
	}{
		{"file", func(b *testing.B) Store { return NewFileStore(b.TempDir()) }},
		{"s3", func(b *testing.B) Store { return newFakeS3(b, nil).store(b, 0) }},
	}
	for _, st := range stores {
		for _, f := range formats {
			b.Run(st.name+"/"+f.name, func(b *testing.B) {
				ctx := context.Background()
				store := st.make(b)
				s, err := New(Options{Store: store, Prefix: "lake", Format: f.format, ParquetCompression: f.compression,
					PartitionTime: topology.PartitionByRecord})
				if err != nil {
					b.Fatal(err)
				}
				b.ReportAllocs()
				var sinkTime, rawTime time.Duration
				b.ResetTimer()
				for range b.N {
					t := time.Now()
					for _, batch := range benchBatches {
						if _, err := s.Flush(ctx, batch); err != nil {
							b.Fatal(err)
						}
					}
					sinkTime += time.Since(t)

					b.StopTimer()
					t = time.Now()
					for i, raw := range benchRaw {
						if err := store.Put(ctx, fmt.Sprintf("raw/batch-%d", i), raw); err != nil {
							b.Fatal(err)
						}
					}
					rawTime += time.Since(t)
					b.StartTimer()
				}
				mb := float64(benchBytes) * float64(b.N) / 1e6
				sinkMBps := mb / sinkTime.Seconds()
				rawMBps := mb / rawTime.Seconds()
				b.ReportMetric(sinkMBps, "MB/s")
				b.ReportMetric(float64(benchRecords)*float64(b.N)/sinkTime.Seconds(), "records/s")
				b.ReportMetric(rawMBps, "raw_MB/s")
				b.ReportMetric(sinkMBps/rawMBps, "x_raw")
			})
		}
	}
}
