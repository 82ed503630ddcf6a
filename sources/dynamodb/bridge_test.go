package dynamodb

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/streamhub/streamhub/sources/dynamodb/ddbtest"
	"github.com/streamhub/streamhub/state"
)

func TestBridgeCopiesEveryRecordOnceAcrossSplits(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 4, 8)
	in := e.start("a", Hooks{})
	total := 50000
	if testing.Short() {
		total = 5000
	}
	e.workload(1, 2000, total/4)
	// Two splits while the bridge reads: parents close, children take their keys.
	shards := e.ddb.Shards("users")
	if _, _, err := e.ddb.SplitShard("users", shards[0].ID); err != nil {
		t.Fatal(err)
	}
	e.workload(2, 2000, total/4)
	if _, _, err := e.ddb.SplitShard("users", shards[2].ID); err != nil {
		t.Fatal(err)
	}
	e.workload(3, 2000, total/2)
	got := e.readTopic(len(e.writes))
	e.checkExactlyOnce(got)
	// Each value is the record as Lambda receives it, byte for byte (ddbtest's Change.Record
	// is that shape), keyed by the item key.
	byseq := map[string][]byte{}
	for _, w := range e.writes {
		byseq[w.SequenceNumber] = w.Record
	}
	for _, r := range got {
		if string(r.value) != string(byseq[r.seq]) {
			t.Fatalf("record %s:\n got %s\nwant %s", r.seq, r.value, byseq[r.seq])
		}
		rec, err := state.ParseRecord(r.value)
		if err != nil {
			t.Fatal(err)
		}
		if key, _ := state.EncodeKey(rec.DynamoDB.Keys, []string{"pk", "sk"}); key != r.key {
			t.Fatalf("record %s: key %s, want the item key %s", r.seq, r.key, key)
		}
	}
	if n := in.counter(t, "streamhub_bridge_shards_finished_total"); n != 2 {
		t.Errorf("shards finished: %v, want the 2 split parents", n)
	}
	if err := in.shutdown(t); err != nil {
		t.Fatal(err)
	}
}

func TestBridgeCrashInsideATransactionLosesAndDoublesNothing(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 2, 4)
	var commits atomic.Int64
	crash := errors.New("killed inside a transaction")
	first := e.start("a", Hooks{BeforeCommit: func(_ int32, _ string, n int) error {
		// Crash on the second transaction that carries records: they are in the log,
		// uncommitted, when the process dies.
		if n > 0 && commits.Add(1) == 2 {
			return crash
		}
		return nil
	}})
	e.workload(1, 300, 3000)
	if err := first.wait(t, 60*time.Second); !errors.Is(err, crash) {
		t.Fatalf("Run returned %v, want the crash", err)
	}
	// The restarted bridge fences the dead one's transactional ID, which aborts its
	// open transaction, then resumes from the committed checkpoints.
	e.start("b", Hooks{})
	e.workload(2, 300, 2000)
	e.checkExactlyOnce(e.readTopic(len(e.writes)))
}

func TestBridgeStoppedBetweenTransactionsResumesFromCheckpoints(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 3, 4)
	for round := 0; round < 3; round++ {
		in := e.start("a", Hooks{})
		e.workload(uint64(round), 500, 2000)
		waitFor(t, "some records bridged", 30*time.Second, func() bool { return in.b.Status().Records > 0 })
		if err := in.shutdown(t); err != nil {
			t.Fatal(err)
		}
	}
	in := e.start("a", Hooks{})
	e.checkExactlyOnce(e.readTopic(len(e.writes)))
	_ = in
}

func TestTwoInstancesShareShardsAndOneTakesOverWhenTheOtherDies(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 4, 8)
	a := e.start("a", Hooks{})
	var killB atomic.Bool
	killed := errors.New("b killed")
	b := e.start("b", Hooks{BeforeCommit: func(int32, string, int) error {
		if killB.Load() {
			return killed
		}
		return nil
	}})
	waitFor(t, "both instances own leases", 30*time.Second, func() bool {
		return a.b.Status().Leases > 0 && b.b.Status().Leases > 0
	})
	if sa, sb := a.b.Status().Leases, b.b.Status().Leases; sa+sb != 8 {
		t.Errorf("leases a=%d b=%d, want 8 in all", sa, sb)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		e.workload(1, 1000, 3000)
		// Split every shard: a child's lease may belong to the other instance than its
		// parent's, and must still wait for the parent's last checkpoint.
		for _, sh := range e.ddb.Shards("users") {
			if _, _, err := e.ddb.SplitShard("users", sh.ID); err != nil {
				t.Error(err)
			}
		}
		e.workload(2, 1000, 3000)
	}()
	waitFor(t, "b bridged records", 30*time.Second, func() bool { return b.b.Status().Records > 0 })
	killB.Store(true) // b dies inside its next transaction
	if err := b.wait(t, 60*time.Second); !errors.Is(err, killed) {
		t.Fatalf("b returned %v", err)
	}
	wg.Wait()
	e.checkExactlyOnce(e.readTopic(len(e.writes)))
	waitFor(t, "a owns every lease", 30*time.Second, func() bool { return a.b.Status().Leases == 8 })
}

// A zombie, an instance that lost its lease without noticing, can no longer commit once
// the new owner claimed the lease.
func TestNewOwnerFencesTheZombie(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 1, 1)
	zombie := e.start("zombie", Hooks{})
	e.workload(1, 10, 50)
	waitFor(t, "zombie bridged", 30*time.Second, func() bool { return zombie.b.Status().Records > 0 })

	// A second bridge takes lease 0 directly, as the group would after a rebalance the
	// zombie missed.
	b, err := New(t.Context(), Options{Config: e.cfg, Conn: e.conn, InstanceID: "new", AWS: &e.aws, Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	cl, err := e.conn.Client(kgoTxn(b, 0)...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	l := &lease{b: b, p: 0, log: testLogger(), cl: cl}
	if _, err := l.claim(t.Context()); err != nil {
		t.Fatal(err)
	}
	e.workload(2, 10, 50)
	// The zombie's next transaction is refused; it stops the lease instead of retrying.
	waitFor(t, "zombie lost its lease", 30*time.Second, func() bool { return zombie.counter(t, "streamhub_bridge_transactions_total", "outcome", "aborted") > 0 })
	// Read until what the zombie committed is there: one short poll of a busy broker
	// can come back empty.
	before := len(e.readTopic(int(zombie.b.Status().Records)))
	time.Sleep(300 * time.Millisecond)
	if after := len(e.readTopic(before)); after != before {
		t.Errorf("the fenced zombie still wrote: %d records, then %d", before, after)
	}
}

func TestThrottlingExpiredIteratorsAndTrimmingAreSurvivedAndCounted(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 2, 2)
	e.ddb.SetFaults(ddbtest.Faults{ThrottleRate: 0.3, ServerErrorRate: 0.1})
	in := e.start("a", Hooks{})
	e.workload(1, 200, 2000)
	waitFor(t, "the first writes bridged through the faults", 60*time.Second, func() bool {
		return in.b.Status().Records >= int64(len(e.writes))
	})
	if in.counter(t, "streamhub_bridge_api_errors_total", "kind", "throttle") == 0 ||
		in.counter(t, "streamhub_bridge_api_errors_total", "kind", "server") == 0 {
		t.Error("throttles and server errors not counted")
	}
	// Every reader now holds an iterator; all of them stop working.
	e.ddb.ExpireIterators()
	e.workload(2, 200, 500)
	waitFor(t, "expired iterator counted", 30*time.Second, func() bool {
		return in.counter(t, "streamhub_bridge_api_errors_total", "kind", "expired_iterator") > 0
	})
	e.ddb.SetFaults(ddbtest.Faults{})
	e.checkExactlyOnce(e.readTopic(len(e.writes)))
	if in.counter(t, "streamhub_bridge_retries_total") == 0 {
		t.Error("no retries counted")
	}
}

func TestTrimmedRecordsAreReportedAsDataLossAndTheRestFlows(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 1, 1)
	in := e.start("a", Hooks{})
	e.workload(1, 50, 200)
	e.checkExactlyOnce(e.readTopic(len(e.writes)))
	if err := in.shutdown(t); err != nil {
		t.Fatal(err)
	}
	kept := e.writes
	// While no bridge runs, the stream trims records the bridge never read.
	e.workload(2, 50, 100)
	if n := e.ddb.Trim("users", time.Now().Add(time.Hour)); n == 0 {
		t.Fatal("nothing trimmed")
	}
	e.writes = kept
	in = e.start("b", Hooks{})
	e.workload(3, 50, 300)
	e.checkExactlyOnce(e.readTopic(len(e.writes)))
	if n := in.counter(t, "streamhub_bridge_data_loss_total", "reason", "trimmed"); n != 1 {
		t.Errorf("data loss events: %v, want 1", n)
	}
}

func kgoTxn(b *Bridge, p int32) []kgoOpt {
	return []kgoOpt{
		kgoTransactionalID(b.transactionalID(p)),
		kgoPartitioner(b.partitioner()),
	}
}

// The SDK's own settings reach the bridge: endpoints from AWS_ENDPOINT_URL_*, the
// credential chain, and for a cross-account source an assumed role (with its external
// ID) whose short-lived credentials are refreshed while the bridge runs.
func TestSourceReadsThroughAnAssumedRoleAndTheSDKsEndpointVariables(t *testing.T) {
	var mu sync.Mutex
	var calls int
	sts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		if r.Form.Get("Action") != "AssumeRole" || r.Form.Get("RoleArn") != "arn:aws:iam::210987654321:role/streams-reader" ||
			r.Form.Get("ExternalId") != "ext-7" {
			http.Error(w, "unexpected request "+r.Form.Encode(), http.StatusBadRequest)
			return
		}
		mu.Lock()
		calls++
		n := calls
		mu.Unlock()
		w.Header().Set("Content-Type", "text/xml")
		// Credentials that expire in a second: the bridge must keep refreshing them.
		fmt.Fprintf(w, `<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <AssumeRoleResult>
    <Credentials>
      <AccessKeyId>ASIAROLE%d</AccessKeyId>
      <SecretAccessKey>assumed-secret</SecretAccessKey>
      <SessionToken>assumed-session</SessionToken>
      <Expiration>%s</Expiration>
    </Credentials>
    <AssumedRoleUser><Arn>arn:aws:sts::210987654321:assumed-role/streams-reader/streamhub-bridge</Arn><AssumedRoleId>AROA:streamhub</AssumedRoleId></AssumedRoleUser>
  </AssumeRoleResult>
  <ResponseMetadata><RequestId>1</RequestId></ResponseMetadata>
</AssumeRoleResponse>`, n, time.Now().Add(time.Second).UTC().Format(time.RFC3339))
	}))
	defer sts.Close()
	dir := t.TempDir()
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDBASE")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "secret")
	t.Setenv("AWS_SESSION_TOKEN", "")
	t.Setenv("AWS_REGION", "eu-west-1")
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("AWS_CONFIG_FILE", dir+"/config")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", dir+"/credentials")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("AWS_ENDPOINT_URL_STS", sts.URL)

	e := newEnvWith(t, 2, 2, "role_arn: arn:aws:iam::210987654321:role/streams-reader\n    external_id: ext-7\n    poll_interval: 20ms")
	t.Setenv("AWS_ENDPOINT_URL_DYNAMODB_STREAMS", e.ddb.URL())
	t.Setenv("AWS_ENDPOINT_URL_DYNAMODB", e.ddb.URL())
	// No base AWS config: the bridge loads the SDK's default chain, as in production.
	b, err := New(t.Context(), Options{Config: e.cfg, Conn: e.conn, Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx) }()
	e.workload(1, 50, 200)
	waitFor(t, "first records bridged", 30*time.Second, func() bool { return b.Status().Records >= int64(len(e.writes)) })
	time.Sleep(2500 * time.Millisecond) // the first credentials expire
	e.workload(2, 50, 200)
	e.checkExactlyOnce(e.readTopic(len(e.writes)))
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	keys := e.ddb.AccessKeys()
	for _, k := range keys {
		if !strings.HasPrefix(k, "ASIAROLE") {
			t.Errorf("ddbtest saw access key %s; want only the assumed role's", k)
		}
	}
	if len(keys) < 2 {
		t.Errorf("access keys %v: the expiring credentials were not refreshed", keys)
	}
}

// start: LATEST skips what the stream held before the bridge first saw it, including a
// shard closed by then and its children's history, and loses nothing written after.
func TestStartLatestSkipsHistoryAndKeepsEverythingAfter(t *testing.T) {
	t.Parallel()
	e := newEnvWith(t, 2, 2, "endpoint: {{url}}\n    region: us-east-1\n    start: latest\n    poll_interval: 20ms")
	e.workload(1, 100, 300)
	if _, _, err := e.ddb.SplitShard("users", e.ddb.Shards("users")[0].ID); err != nil {
		t.Fatal(err)
	}
	e.workload(2, 100, 300)
	// DynamoDB's creation times are whole seconds: let the history be older than that.
	time.Sleep(2100 * time.Millisecond)
	e.writes = nil
	in := e.start("a", Hooks{})
	// LATEST is "from when the bridge first saw the shard": write once every open shard
	// has its start committed, or the writes are history too (the start waits for the
	// group join and the lease claims, seconds on a busy machine).
	open := 0
	for _, sh := range e.ddb.Shards("users") {
		if sh.Open {
			open++
		}
	}
	waitFor(t, "every open shard started at LATEST", 60*time.Second, func() bool {
		n := 0
		for _, cp := range in.b.Checkpoints() {
			if cp.LatestAt != nil {
				n++
			}
		}
		return n == open
	})
	e.workload(3, 100, 500)
	e.checkExactlyOnce(e.readTopic(len(e.writes)))
	var skipped int
	for _, cp := range in.b.Checkpoints() {
		if cp.Skipped {
			skipped++
		}
	}
	if skipped != 1 {
		t.Errorf("%d skipped shards, want the closed parent", skipped)
	}
	if err := in.shutdown(t); err != nil {
		t.Fatal(err)
	}
	// A restart continues from the checkpoints, not from a new LATEST.
	e.workload(4, 100, 300)
	e.start("b", Hooks{})
	e.checkExactlyOnce(e.readTopic(len(e.writes)))
}

// Checkpoints of ended shards that DynamoDB no longer lists are deleted, so the
// checkpoint topic and every instance's view do not grow with each shard rollover.
func TestCheckpointsOfShardsTheStreamDroppedAreDeleted(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 1, 1)
	in := e.start("a", Hooks{})
	e.workload(1, 50, 100)
	parent := e.ddb.Shards("users")[0].ID
	if _, _, err := e.ddb.SplitShard("users", parent); err != nil {
		t.Fatal(err)
	}
	e.workload(2, 50, 100)
	e.checkExactlyOnce(e.readTopic(len(e.writes)))
	has := func(shard string) (Checkpoint, bool) {
		for _, cp := range in.b.Checkpoints() {
			if cp.Shard == shard {
				return cp, true
			}
		}
		return Checkpoint{}, false
	}
	waitFor(t, "the parent's final checkpoint", 30*time.Second, func() bool { cp, ok := has(parent); return ok && cp.Ended })
	// Retention passes: the stream drops the closed, emptied parent.
	e.ddb.Trim("users", time.Now().Add(time.Hour))
	waitFor(t, "the parent's checkpoint deleted", 30*time.Second, func() bool { _, ok := has(parent); return !ok })
	if n := len(in.b.Checkpoints()); n != 2 {
		t.Errorf("%d checkpoints left, want the two children's", n)
	}
	if n := in.counter(t, "streamhub_bridge_data_loss_total"); n != 0 {
		t.Errorf("data loss counted %v times; every trimmed record had been read", n)
	}
}

// A record the bridge cannot key (here: the topology names a range key the table does
// not have) goes to the DLQ with the reason, and the shard keeps flowing.
func TestRecordsThatCannotBeKeyedGoToTheDLQ(t *testing.T) {
	t.Parallel()
	e := newEnvTable(t, ddbtest.TableSpec{Name: "users", HashKey: "pk", RangeKey: "rk", Shards: 1}, 1,
		"endpoint: {{url}}\n    region: us-east-1\n    poll_interval: 20ms")
	in := e.start("a", Hooks{})
	for i := range 5 {
		if _, err := e.ddb.PutItem("users", ddbtest.Item{"pk": state.StringValue("p"), "rk": state.StringValue(fmt.Sprint(i))}); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "five records in the DLQ", 30*time.Second, func() bool {
		return in.counter(t, "streamhub_bridge_dlq_total", "reason", state.ReasonMissingKey) == 5
	})
	cl, err := e.conn.Client(kgo.ConsumeTopics(e.cfg.Processor.DLQTopic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var got []*kgo.Record
	for len(got) < 5 {
		fs := cl.PollFetches(t.Context())
		got = append(got, fs.Records()...)
	}
	for _, r := range got {
		if header(r, HeaderDLQReason) != state.ReasonMissingKey || header(r, HeaderDLQTable) != "users" || header(r, HeaderDLQError) == "" {
			t.Errorf("DLQ record headers: %v", r.Headers)
		}
		if _, err := state.ParseRecord(r.Value); err != nil {
			t.Errorf("DLQ value is not the record: %v", err)
		}
	}
	if n := len(e.readTopic(0)); n != 0 {
		t.Errorf("%d records in the CDC topic, want none", n)
	}
}
