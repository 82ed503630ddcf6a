package dynamodb

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	ddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams/types"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/streamhub/streamhub/sources/dynamodb/ddbtest"
	"github.com/streamhub/streamhub/state"
)

// TestRecreatedTableIsFollowedToItsNewStream deletes the bridged table and creates it
// again under its name while the bridge runs (start: LATEST). The bridge must read the
// old stream to its end, then the new one from TRIM_HORIZON, records the new table
// received before the bridge noticed included: every record once, and each item's
// records in order across the two streams.
//
// ddbtest has no DeleteTable: a second ddbtest table plays the re-created one, the
// fake DescribeTable names its stream once the first is "deleted", and the first
// stream's shards are then reported closed, as DynamoDB closes a deleted table's.
func TestRecreatedTableIsFollowedToItsNewStream(t *testing.T) {
	e := newEnvWith(t, 2, 2, "endpoint: {{url}}\n    region: us-east-1\n    start: latest\n    poll_interval: 20ms")
	newARN, err := e.ddb.CreateTable(ddbtest.TableSpec{Name: "users-2", HashKey: "pk", RangeKey: "sk", Shards: 2})
	if err != nil {
		t.Fatal(err)
	}
	ddbCfg := e.aws
	ddbCfg.BaseEndpoint = aws.String(e.ddb.URL())
	streams := &deletableStreams{
		inner:  dynamodbstreams.NewFromConfig(ddbCfg, func(o *dynamodbstreams.Options) { o.Retryer = aws.NopRetryer{} }),
		closed: map[string]bool{}, iters: map[string]string{}, listed: []string{e.arn},
	}
	tables := &fakeTables{arn: e.arn}

	reg := prometheus.NewRegistry()
	b, err := New(context.Background(), Options{
		Config: e.cfg, Conn: e.conn, InstanceID: "one", AWS: &e.aws, Registry: reg,
		Streams: streams, Tables: tables, Logger: testLogger(),
		GroupOptions: []kgo.Opt{kgo.SessionTimeout(6 * time.Second), kgo.HeartbeatInterval(500 * time.Millisecond)},
	})
	if err != nil {
		t.Fatal(err)
	}
	in := &instance{b: b, reg: reg, exited: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	in.stop = cancel
	go func() { in.err = b.Run(ctx); close(in.exited) }()
	defer func() {
		if err := in.shutdown(t); err != nil {
			t.Errorf("bridge: %v", err)
		}
	}()

	// start: LATEST: the old table's records count from when every open shard started.
	waitFor(t, "every open shard started at LATEST", 60*time.Second, func() bool {
		for _, sh := range e.ddb.Shards("users") {
			if cp, ok := b.view.get(e.arn, sh.ID); !ok || cp.LatestAt == nil {
				return false
			}
		}
		return true
	})
	e.workload(1, 50, 400)
	// Deleted while the bridge is still reading the old stream, most likely.
	streams.delete(e.arn)
	e.writeTable("users-2", 2, 50, 200)
	// Written long before the bridge sees the new table: a LATEST start would drop them
	// (it keeps the second before it started); TRIM_HORIZON must not.
	time.Sleep(2 * time.Second)
	tables.set(newARN)
	e.writeTable("users-2", 3, 50, 200)

	e.mu.Lock()
	want := len(e.writes)
	e.mu.Unlock()
	got := e.readTopic(want)
	e.checkExactlyOnce(got)
	if n := in.counter(t, "streamhub_bridge_stream_changes_total", "table", "users"); n != 1 {
		t.Errorf("streamhub_bridge_stream_changes_total = %v, want 1", n)
	}
	if arns := b.StreamARNs(); len(arns) != 2 || arns[0] != e.arn || arns[1] != newARN {
		t.Errorf("StreamARNs() = %v, want [%s %s]", arns, e.arn, newARN)
	}
}

// TestTableRecreatedWhileTheBridgeWasDown stops the bridge with records of the table's
// stream unread, deletes the table and creates it again, then starts the bridge anew
// (start: LATEST). It finds the old stream with ListStreams, reads its tail from the
// checkpoints, then the new stream from TRIM_HORIZON (the old one was being read, so the
// table's history is wanted): every record once, each item's in order.
func TestTableRecreatedWhileTheBridgeWasDown(t *testing.T) {
	e := newEnvWith(t, 2, 2, "endpoint: {{url}}\n    region: us-east-1\n    start: latest\n    poll_interval: 20ms")
	newARN, err := e.ddb.CreateTable(ddbtest.TableSpec{Name: "users-2", HashKey: "pk", RangeKey: "sk", Shards: 2})
	if err != nil {
		t.Fatal(err)
	}
	ddbCfg := e.aws
	ddbCfg.BaseEndpoint = aws.String(e.ddb.URL())
	streams := &deletableStreams{
		inner:  dynamodbstreams.NewFromConfig(ddbCfg, func(o *dynamodbstreams.Options) { o.Retryer = aws.NopRetryer{} }),
		closed: map[string]bool{}, iters: map[string]string{}, listed: []string{e.arn},
	}
	tables := &fakeTables{arn: e.arn}
	start := func(name string) (*Bridge, *instance) {
		reg := prometheus.NewRegistry()
		b, err := New(context.Background(), Options{
			Config: e.cfg, Conn: e.conn, InstanceID: name, AWS: &e.aws, Registry: reg,
			Streams: streams, Tables: tables, Logger: testLogger().With("instance", name),
			GroupOptions: []kgo.Opt{kgo.SessionTimeout(6 * time.Second), kgo.HeartbeatInterval(500 * time.Millisecond)},
		})
		if err != nil {
			t.Fatal(err)
		}
		in := &instance{b: b, reg: reg, exited: make(chan struct{})}
		ctx, cancel := context.WithCancel(context.Background())
		in.stop = cancel
		go func() { in.err = b.Run(ctx); close(in.exited) }()
		t.Cleanup(func() { cancel(); <-in.exited })
		return b, in
	}

	first, in1 := start("first")
	waitFor(t, "every open shard started at LATEST", 60*time.Second, func() bool {
		for _, sh := range e.ddb.Shards("users") {
			if cp, ok := first.view.get(e.arn, sh.ID); !ok || cp.LatestAt == nil {
				return false
			}
		}
		return true
	})
	e.workload(1, 50, 200)
	e.readTopic(len(e.writes))
	if err := in1.shutdown(t); err != nil {
		t.Fatalf("first bridge: %v", err)
	}
	// While no bridge runs: the old table's last changes, its deletion, and the new
	// table's first changes, old enough that a LATEST start would drop them.
	e.workload(2, 50, 200)
	streams.delete(e.arn)
	streams.list(e.arn, newARN)
	tables.set(newARN)
	e.writeTable("users-2", 2, 50, 200)
	time.Sleep(2 * time.Second)

	second, _ := start("second")
	e.writeTable("users-2", 3, 50, 100)
	e.mu.Lock()
	want := len(e.writes)
	e.mu.Unlock()
	e.checkExactlyOnce(e.readTopic(want))
	if arns := second.StreamARNs(); len(arns) != 2 || arns[0] != e.arn || arns[1] != newARN {
		t.Errorf("StreamARNs() = %v, want [%s %s]", arns, e.arn, newARN)
	}
}

// writeTable is workload on another ddbtest table; each write's record is remembered.
func (e *env) writeTable(table string, seed uint64, items, n int) {
	e.t.Helper()
	for i := range n {
		k := (i*7 + int(seed)) % items
		key := ddbtest.Item{"pk": state.StringValue(fmt.Sprintf("user#%d", k)), "sk": state.StringValue("profile")}
		var ch ddbtest.Change
		ok := true
		var err error
		if i%9 == 0 {
			ch, ok, err = e.ddb.DeleteItem(table, key)
		} else {
			ch, err = e.ddb.PutItem(table, ddbtest.Item{"pk": key["pk"], "sk": key["sk"],
				"n": state.NumberValue(fmt.Sprint(i)), "gen": state.NumberValue(fmt.Sprint(seed))})
		}
		if err != nil {
			e.t.Fatal(err)
		}
		if ok {
			e.mu.Lock()
			e.writes = append(e.writes, ch)
			e.mu.Unlock()
		}
	}
}

// fakeTables answers DescribeTable with the stream it is set to.
type fakeTables struct {
	mu  sync.Mutex
	arn string
}

func (f *fakeTables) set(arn string) {
	f.mu.Lock()
	f.arn = arn
	f.mu.Unlock()
}

func (f *fakeTables) DescribeTable(_ context.Context, in *ddb.DescribeTableInput, _ ...func(*ddb.Options)) (*ddb.DescribeTableOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return &ddb.DescribeTableOutput{Table: &ddbtypes.TableDescription{
		TableName: in.TableName, LatestStreamArn: aws.String(f.arn),
	}}, nil
}

// deletableStreams is ddbtest's Streams API with DeleteTable's effect on a stream: once
// deleted, it is DISABLED, its shards are closed, and an iterator at the end of one
// ends (no NextShardIterator) instead of waiting for more.
type deletableStreams struct {
	inner  StreamsAPI
	mu     sync.Mutex
	closed map[string]bool
	iters  map[string]string // iterator → stream
	listed []string          // ListStreams' answer for the table, whatever its name
}

func (d *deletableStreams) list(arns ...string) {
	d.mu.Lock()
	d.listed = arns
	d.mu.Unlock()
}

func (d *deletableStreams) ListStreams(_ context.Context, in *dynamodbstreams.ListStreamsInput, _ ...func(*dynamodbstreams.Options)) (*dynamodbstreams.ListStreamsOutput, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := &dynamodbstreams.ListStreamsOutput{}
	for _, arn := range d.listed {
		out.Streams = append(out.Streams, types.Stream{StreamArn: aws.String(arn), TableName: in.TableName})
	}
	return out, nil
}

func (d *deletableStreams) delete(arn string) {
	d.mu.Lock()
	d.closed[arn] = true
	d.mu.Unlock()
}

func (d *deletableStreams) isClosed(arn string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.closed[arn]
}

func (d *deletableStreams) DescribeStream(ctx context.Context, in *dynamodbstreams.DescribeStreamInput, opts ...func(*dynamodbstreams.Options)) (*dynamodbstreams.DescribeStreamOutput, error) {
	out, err := d.inner.DescribeStream(ctx, in, opts...)
	if err != nil || !d.isClosed(aws.ToString(in.StreamArn)) || out.StreamDescription == nil {
		return out, err
	}
	out.StreamDescription.StreamStatus = types.StreamStatusDisabled
	for i, sh := range out.StreamDescription.Shards {
		r := types.SequenceNumberRange{}
		if sh.SequenceNumberRange != nil {
			r = *sh.SequenceNumberRange
		}
		if r.EndingSequenceNumber == nil {
			r.EndingSequenceNumber = aws.String("99999999999999999999999")
		}
		out.StreamDescription.Shards[i].SequenceNumberRange = &r
	}
	return out, nil
}

func (d *deletableStreams) GetShardIterator(ctx context.Context, in *dynamodbstreams.GetShardIteratorInput, opts ...func(*dynamodbstreams.Options)) (*dynamodbstreams.GetShardIteratorOutput, error) {
	out, err := d.inner.GetShardIterator(ctx, in, opts...)
	if err == nil && out.ShardIterator != nil {
		d.mu.Lock()
		d.iters[*out.ShardIterator] = aws.ToString(in.StreamArn)
		d.mu.Unlock()
	}
	return out, err
}

func (d *deletableStreams) GetRecords(ctx context.Context, in *dynamodbstreams.GetRecordsInput, opts ...func(*dynamodbstreams.Options)) (*dynamodbstreams.GetRecordsOutput, error) {
	d.mu.Lock()
	arn := d.iters[aws.ToString(in.ShardIterator)]
	d.mu.Unlock()
	out, err := d.inner.GetRecords(ctx, in, opts...)
	if err != nil {
		return out, err
	}
	if len(out.Records) == 0 && d.isClosed(arn) {
		out.NextShardIterator = nil
	}
	if out.NextShardIterator != nil {
		d.mu.Lock()
		d.iters[*out.NextShardIterator] = arn
		d.mu.Unlock()
	}
	return out, nil
}
