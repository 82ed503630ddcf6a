// Package bench measures streamhub's stages against the raw speed of their medium in the
// same run, because only ratios travel between noisy machines.
package bench

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/streamhub/streamhub/kafka"
	"github.com/streamhub/streamhub/pipeline"
	"github.com/streamhub/streamhub/processors"
	"github.com/streamhub/streamhub/sources/synthetic"
	"github.com/streamhub/streamhub/topology"
)

// ProcessorOptions shape the processor benchmark.
type ProcessorOptions struct {
	Records    int
	Keys       int
	Partitions int
	// StorageDir holds the processor's goleveldb store; "" uses a temporary directory.
	StorageDir string
	// Progress, when set, receives a line per phase.
	Progress io.Writer
	Logger   *slog.Logger
	// CPUProfile, when set, receives a CPU profile of the processor phase alone.
	CPUProfile io.Writer
	// Baseline also runs a plain goka processor (goka's defaults, encoding/json) over the
	// same topic, the yardstick the target is stated against.
	Baseline bool
}

// ProcessorResult is one run of the processor benchmark.
type ProcessorResult struct {
	Records          int
	Keys             int
	Partitions       int
	ProducePerSec    float64
	RawConsumePerSec float64
	// ProcessorPerSec counts from the first processed record to the last, so consumer-group
	// start-up is not in it; ProcessorTotal is from the processor's start.
	ProcessorPerSec float64
	ProcessorTotal  time.Duration
	// ProcessorCPUPerEvent is the whole process's CPU time (user+system, embedded broker
	// included) per event during the processor phase: steadier than a rate on a shared
	// machine, and what an optimization must lower.
	ProcessorCPUPerEvent time.Duration
	Counts               processors.Counts
	// PlainGokaPerSec is the baseline processor's rate (0 when not run).
	PlainGokaPerSec float64
}

// Ratio is the processor's speed as a fraction of raw consumption of the same topic.
func (r ProcessorResult) Ratio() float64 { return r.ProcessorPerSec / r.RawConsumePerSec }

func (r ProcessorResult) String() string {
	return fmt.Sprintf("records %d over %d keys, %d partitions\n"+
		"  produce (franz-go)        %10.0f records/s\n"+
		"  raw consume (franz-go)    %10.0f records/s\n"+
		"  CDC processor (goka)      %10.0f events/s   (%.1f s from start, %.1f µs CPU per event, applied %d, stale %d, duplicate %d)\n"+
		"  ratio processor / raw      %9.3f%s",
		r.Records, r.Keys, r.Partitions, r.ProducePerSec, r.RawConsumePerSec,
		r.ProcessorPerSec, r.ProcessorTotal.Seconds(), float64(r.ProcessorCPUPerEvent.Nanoseconds())/1000, r.Counts.Applied, r.Counts.Stale, r.Counts.Duplicate, r.Ratio(), r.baseline())
}

func (r ProcessorResult) baseline() string {
	if r.PlainGokaPerSec == 0 {
		return ""
	}
	return fmt.Sprintf("\n  plain goka (baseline)     %10.0f events/s   ratio to raw %.3f; streamhub is %.2fx the baseline",
		r.PlainGokaPerSec, r.PlainGokaPerSec/r.RawConsumePerSec, r.ProcessorPerSec/r.PlainGokaPerSec)
}

// Processor runs the CDC processor over Records changes spread over Keys items on an
// embedded broker, and raw franz-go consumption of the same topic for the ratio.
func Processor(ctx context.Context, o ProcessorOptions) (ProcessorResult, error) {
	if o.Records <= 0 || o.Keys <= 0 {
		return ProcessorResult{}, fmt.Errorf("bench: records and keys must be positive, got %d and %d", o.Records, o.Keys)
	}
	if o.Partitions <= 0 {
		o.Partitions = 8
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	if o.StorageDir == "" {
		dir, err := os.MkdirTemp("", "streamhub-bench-")
		if err != nil {
			return ProcessorResult{}, err
		}
		defer os.RemoveAll(dir)
		o.StorageDir = dir
	}
	res := ProcessorResult{Records: o.Records, Keys: o.Keys, Partitions: o.Partitions}

	cfg, err := topology.Parse("bench.yaml", []byte(fmt.Sprintf(`
env: bench
kafka: {brokers: embedded, embedded_listen: "127.0.0.1:0"}
tables:
  - {name: users, keys: [pk, sk], version_attribute: updatedAt, partitions: %d}
`, o.Partitions)))
	if err != nil {
		return res, err
	}
	table := cfg.Tables[0]
	conn, err := kafka.Connect(ctx, cfg.Kafka)
	if err != nil {
		return res, err
	}
	defer conn.Close()
	if _, err := pipeline.ApplyTopics(ctx, conn, cfg, o.Logger); err != nil {
		return res, err
	}

	fmt.Fprintf(o.Progress, "generating %d records over %d keys...\n", o.Records, o.Keys)
	gen := synthetic.New(synthetic.Options{Items: o.Keys, Seed: 42, MaxDeliveries: 1, Window: 1})
	recs := make([]*kgo.Record, 0, o.Records)
	for len(recs) < o.Records {
		for _, d := range gen.Next() {
			recs = append(recs, &kgo.Record{Topic: table.Topic, Key: []byte(d.Key), Value: d.Value})
		}
	}
	recs = recs[:o.Records]

	fmt.Fprintf(o.Progress, "producing...\n")
	pcl, err := conn.Client(kgo.ProducerBatchMaxBytes(1<<20), kgo.MaxBufferedRecords(100_000))
	if err != nil {
		return res, err
	}
	start := time.Now()
	for _, r := range recs {
		pcl.Produce(ctx, r, nil)
	}
	if err := pcl.Flush(ctx); err != nil {
		pcl.Close()
		return res, err
	}
	res.ProducePerSec = float64(len(recs)) / time.Since(start).Seconds()
	pcl.Close()
	recs = nil

	// The medium's speed is the median of three full passes: one pass on a shared machine
	// can be off by several times.
	var raws []float64
	for i := range 3 {
		fmt.Fprintf(o.Progress, "raw consume, pass %d of 3...\n", i+1)
		r, err := rawConsume(ctx, conn, table.Topic, o.Records)
		if err != nil {
			return res, err
		}
		raws = append(raws, r)
	}
	slices.Sort(raws)
	res.RawConsumePerSec = raws[1]

	fmt.Fprintf(o.Progress, "processor...\n")
	cdc, err := processors.NewCDC(processors.Options{
		Conn: conn, Table: table, DLQTopic: cfg.Processor.DLQTopic, StorageDir: o.StorageDir,
		ClientID: "bench", Logger: o.Logger,
	})
	if err != nil {
		return res, err
	}
	if o.CPUProfile != nil {
		if err := pprof.StartCPUProfile(o.CPUProfile); err != nil {
			return res, err
		}
	}
	start = time.Now()
	cpu0 := cpuTime()
	res.ProcessorPerSec, err = runUntil(ctx, cdc.Run, func() int64 { return cdc.Counts().In }, int64(o.Records))
	res.ProcessorTotal = time.Since(start)
	res.ProcessorCPUPerEvent = (cpuTime() - cpu0) / time.Duration(o.Records)
	res.Counts = cdc.Counts()
	if o.CPUProfile != nil {
		pprof.StopCPUProfile()
	}
	if err != nil {
		return res, err
	}

	if o.Baseline {
		fmt.Fprintf(o.Progress, "baseline: plain goka processor...\n")
		res.PlainGokaPerSec, err = plainGoka(ctx, conn, table.Topic, "bench.plain", filepath.Join(o.StorageDir, "plain"), int64(o.Records))
		if err != nil {
			return res, err
		}
	}
	return res, nil
}

func rawConsume(ctx context.Context, conn *kafka.Conn, topic string, want int) (float64, error) {
	cl, err := conn.Client(kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		return 0, err
	}
	defer cl.Close()
	var n int
	var start time.Time
	for n < want {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		if start.IsZero() {
			start = time.Now()
		}
		fs.EachError(func(t string, p int32, err error) {})
		n += fs.NumRecords()
	}
	return float64(n) / time.Since(start).Seconds(), nil
}
