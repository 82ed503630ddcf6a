package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/pprof"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/streamhub/streamhub/kafka"
	"github.com/streamhub/streamhub/pipeline"
	"github.com/streamhub/streamhub/sources/dynamodb"
	"github.com/streamhub/streamhub/sources/dynamodb/ddbtest"
	"github.com/streamhub/streamhub/state"
	"github.com/streamhub/streamhub/topology"
)

// BridgeOptions shape the bridge benchmark.
type BridgeOptions struct {
	Records int
	Shards  int
	Items   int
	// Progress, when set, receives a line per phase.
	Progress io.Writer
	Logger   *slog.Logger
	// CPUProfile, when set, receives a CPU profile of the bridge phase alone.
	CPUProfile io.Writer
}

// BridgeResult is one run of the bridge benchmark.
type BridgeResult struct {
	Records, Shards int
	// RawTxnPerSec is the medium: the same record bytes and keys produced by one
	// transactional franz-go client, one transaction per 1000 records (what the bridge
	// commits per GetRecords batch), with no AWS in between.
	RawTxnPerSec float64
	// BridgePerSec counts from the first committed record to the last; BridgeTotal is
	// from the bridge's start (group join and lease claims included).
	BridgePerSec float64
	BridgeTotal  time.Duration
	// CPUPerRecord is the process's CPU (the ddbtest server and broker included) per
	// record during the bridge phase.
	CPUPerRecord time.Duration
	// Committed is the bridge's own count of records committed to Kafka when it stopped.
	Committed int64
}

// Ratio is the bridge's speed as a fraction of raw transactional produce.
func (r BridgeResult) Ratio() float64 { return r.BridgePerSec / r.RawTxnPerSec }

func (r BridgeResult) String() string {
	return fmt.Sprintf("records %d from a ddbtest stream of %d shards\n"+
		"  raw transactional produce (franz-go, 1000/txn) %10.0f records/s\n"+
		"  bridge (SDK GetRecords → Kafka transactions)  %10.0f records/s   (%.1f s from start, %.1f µs CPU per record)\n"+
		"  ratio bridge / raw                             %9.3f",
		r.Records, r.Shards, r.RawTxnPerSec, r.BridgePerSec, r.BridgeTotal.Seconds(),
		float64(r.CPUPerRecord.Nanoseconds())/1000, r.Ratio())
}

// Bridge measures the bridge draining a stream that already holds o.Records records,
// against raw transactional produce of the same records, in one run.
func Bridge(ctx context.Context, o BridgeOptions) (BridgeResult, error) {
	if o.Records <= 0 {
		return BridgeResult{}, fmt.Errorf("bench: records must be positive, got %d", o.Records)
	}
	if o.Shards <= 0 {
		o.Shards = 4
	}
	if o.Items <= 0 {
		o.Items = 10_000
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	res := BridgeResult{Records: o.Records, Shards: o.Shards}

	srv := ddbtest.New()
	defer srv.Close()
	if _, err := srv.CreateTable(ddbtest.TableSpec{Name: "users", HashKey: "pk", RangeKey: "sk", Shards: o.Shards}); err != nil {
		return res, err
	}
	cfg, err := topology.Parse("bench.yaml", []byte(fmt.Sprintf(`
env: bench
kafka: {brokers: embedded, embedded_listen: "127.0.0.1:0"}
tables:
  - {name: users, keys: [pk, sk], version_attribute: updatedAt, partitions: 8}
sources:
  - {type: dynamodb, table: users, endpoint: %q, region: us-east-1, poll_interval: 100ms}
bridge: {leases: 8, discovery_interval: 1s}
`, srv.URL())))
	if err != nil {
		return res, err
	}
	conn, err := kafka.Connect(ctx, cfg.Kafka)
	if err != nil {
		return res, err
	}
	defer conn.Close()
	if _, err := pipeline.ApplyTopics(ctx, conn, cfg, o.Logger); err != nil {
		return res, err
	}
	if _, err := conn.EnsureTopics(ctx, []topology.TopicSpec{{Name: "bench.raw", Partitions: 8}}); err != nil {
		return res, err
	}

	fmt.Fprintf(o.Progress, "writing %d changes into the stream...\n", o.Records)
	raw := make([]*kgo.Record, 0, o.Records)
	for i := range o.Records {
		k := i % o.Items
		ch, err := srv.PutItem("users", ddbtest.Item{
			"pk":        state.StringValue("user#" + strconv.Itoa(k)),
			"sk":        state.StringValue("profile"),
			"name":      state.StringValue("User " + strconv.Itoa(k)),
			"score":     state.NumberValue(strconv.Itoa(i)),
			"updatedAt": state.NumberValue(strconv.Itoa(i)),
		})
		if err != nil {
			return res, err
		}
		key, _ := json.Marshal([]string{"user#" + strconv.Itoa(k), "profile"})
		raw = append(raw, &kgo.Record{Topic: "bench.raw", Key: key, Value: ch.Record})
	}

	fmt.Fprintf(o.Progress, "raw transactional produce...\n")
	if res.RawTxnPerSec, err = rawTransactional(ctx, conn, raw); err != nil {
		return res, err
	}
	raw = nil

	fmt.Fprintf(o.Progress, "bridge...\n")
	br, err := dynamodb.New(ctx, dynamodb.Options{
		Config: cfg, Conn: conn, Logger: o.Logger,
		AWS: &aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("bench", "bench", "")},
	})
	if err != nil {
		return res, err
	}
	if o.CPUProfile != nil {
		if err := pprof.StartCPUProfile(o.CPUProfile); err != nil {
			return res, err
		}
		defer pprof.StopCPUProfile()
	}
	start := time.Now()
	cpu0 := cpuTime()
	res.BridgePerSec, err = runUntil(ctx, br.Run, func() int64 { return br.Status().Records }, int64(o.Records))
	res.BridgeTotal = time.Since(start)
	res.CPUPerRecord = (cpuTime() - cpu0) / time.Duration(o.Records)
	res.Committed = br.Status().Records
	return res, err
}

// rawTransactional produces recs in transactions of 1000 records, one after another.
func rawTransactional(ctx context.Context, conn *kafka.Conn, recs []*kgo.Record) (float64, error) {
	cl, err := conn.Client(kgo.TransactionalID("bench-raw"))
	if err != nil {
		return 0, err
	}
	defer cl.Close()
	start := time.Now()
	for i := 0; i < len(recs); i += 1000 {
		if err := cl.BeginTransaction(); err != nil {
			return 0, err
		}
		if err := cl.ProduceSync(ctx, recs[i:min(i+1000, len(recs))]...).FirstErr(); err != nil {
			return 0, err
		}
		if err := cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
			return 0, err
		}
	}
	return float64(len(recs)) / time.Since(start).Seconds(), nil
}
