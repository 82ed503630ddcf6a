package bench

import (
	"context"
	"testing"
)

// BenchmarkProcessor runs the processor benchmark at a size a test run can afford and
// reports events/s and the ratio to raw consumption. The figures in the README come from
// `streamhub bench processor` at 1M records.
func BenchmarkProcessor(b *testing.B) {
	for b.Loop() {
		res, err := Processor(context.Background(), ProcessorOptions{Records: 100_000, Keys: 10_000})
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(res.ProcessorPerSec, "events/s")
		b.ReportMetric(res.RawConsumePerSec, "raw-records/s")
		b.ReportMetric(res.Ratio(), "ratio")
	}
}

// TestProcessorBenchmarkCountsEveryRecord keeps the benchmark harness honest in the test
// suite: a small run must see every record and apply the last change of each key.
func TestProcessorBenchmarkCountsEveryRecord(t *testing.T) {
	res, err := Processor(context.Background(), ProcessorOptions{Records: 2000, Keys: 200, Partitions: 4})
	if err != nil {
		t.Fatal(err)
	}
	if res.Counts.In != 2000 || res.Counts.Applied != 2000 {
		t.Errorf("counts %+v: want 2000 in and 2000 applied (no duplicates in the benchmark workload)", res.Counts)
	}
	if res.ProcessorPerSec <= 0 || res.RawConsumePerSec <= 0 {
		t.Errorf("rates not measured: %+v", res)
	}
}
