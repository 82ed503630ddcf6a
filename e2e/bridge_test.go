package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"math/big"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/streamhub/streamhub/kafka"
	"github.com/streamhub/streamhub/pipeline"
	"github.com/streamhub/streamhub/sources/dynamodb"
	"github.com/streamhub/streamhub/sources/dynamodb/ddbtest"
	"github.com/streamhub/streamhub/sources/synthetic"
	"github.com/streamhub/streamhub/state"
	"github.com/streamhub/streamhub/topology"
)

// table is a ddbtest "users" table and every key ever written to it.
type table struct {
	t    *testing.T
	srv  *ddbtest.Server
	mu   sync.Mutex
	keys map[string]ddbtest.Item // item key (JSON array) → key attributes
	seqs []string                // every stream record's sequence number, in write order
	n    int
}

func newTable(t *testing.T, shards int) *table {
	t.Helper()
	srv := ddbtest.New(ddbtest.WithSeed(3))
	t.Cleanup(srv.Close)
	if _, err := srv.CreateTable(ddbtest.TableSpec{Name: "users", HashKey: "pk", RangeKey: "sk", Shards: shards}); err != nil {
		t.Fatal(err)
	}
	return &table{t: t, srv: srv, keys: map[string]ddbtest.Item{}}
}

// write makes n changes to items items: puts with a growing updatedAt (inserts and
// updates) and deletes, so items are deleted and re-created.
func (tb *table) write(seed uint64, items, n int) {
	tb.t.Helper()
	rng := rand.New(rand.NewPCG(seed, 11))
	for range n {
		k := rng.IntN(items)
		key := ddbtest.Item{"pk": state.StringValue(fmt.Sprintf("user#%d", k)), "sk": state.StringValue("profile")}
		kj, _ := json.Marshal([]string{fmt.Sprintf("user#%d", k), "profile"})
		tb.mu.Lock()
		tb.n++
		version := tb.n
		tb.keys[string(kj)] = key
		tb.mu.Unlock()
		var ch ddbtest.Change
		ok := true
		var err error
		if rng.IntN(8) == 0 {
			ch, ok, err = tb.srv.DeleteItem("users", key)
		} else {
			ch, err = tb.srv.PutItem("users", ddbtest.Item{
				"pk": key["pk"], "sk": key["sk"],
				"score":     state.NumberValue(strconv.Itoa(rng.IntN(1e6))),
				"tags":      state.StringSetValue("a", strconv.Itoa(rng.IntN(5)+1)),
				"updatedAt": state.NumberValue(strconv.Itoa(version)),
			})
		}
		if err != nil {
			tb.t.Fatal(err)
		}
		if ok {
			tb.mu.Lock()
			tb.seqs = append(tb.seqs, ch.SequenceNumber)
			tb.mu.Unlock()
		}
	}
}

func (tb *table) written() int {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	return len(tb.seqs)
}

// final is the table's content as the view API must show it: every key ever written,
// live with its plain-JSON item or deleted.
func (tb *table) final() map[string]synthetic.Expected {
	tb.t.Helper()
	tb.mu.Lock()
	defer tb.mu.Unlock()
	out := map[string]synthetic.Expected{}
	for k := range tb.keys {
		out[k] = synthetic.Expected{Key: k, Deleted: true}
	}
	for _, item := range tb.srv.Items("users") {
		k, err := state.EncodeKey(item, []string{"pk", "sk"})
		if err != nil {
			tb.t.Fatal(err)
		}
		plain, err := state.ToPlainJSON(item)
		if err != nil {
			tb.t.Fatal(err)
		}
		out[k] = synthetic.Expected{Key: k, Item: decode(tb.t, plain)}
	}
	return out
}

func bridgeAWS() *aws.Config {
	return &aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("AKIDE2E", "secret", "")}
}

// TestBridgeProcessorAndViewAPIEqualTheTable runs the platform from a DynamoDB table to
// the view API: ddbtest's stream (4 shards, a split while it runs), the bridge, the
// processor and the view API in one pipeline. Every item the table holds, and every item
// it deleted, must read back the same through the API.
func TestBridgeProcessorAndViewAPIEqualTheTable(t *testing.T) {
	tb := newTable(t, 4)
	cfg := bridgeConfig(t, tb.srv.URL(), "embedded\n  embedded_listen: 127.0.0.1:0", "")
	conn := startBroker(t, cfg)
	p, err := pipeline.New(context.Background(), pipeline.Options{
		Config: cfg, Conn: conn, Roles: pipeline.Roles{Bridge: true, Process: true, Serve: true},
		MemoryStorage: true, Logger: testLogger(t), Bridge: dynamodb.Options{AWS: bridgeAWS()},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	tb.write(1, 400, 3000)
	if _, _, err := tb.srv.SplitShard("users", tb.srv.Shards("users")[1].ID); err != nil {
		t.Fatal(err)
	}
	tb.write(2, 400, 3000)
	waitFor(t, "every record bridged", 60*time.Second, func() bool { return p.Status().Bridge.Records >= int64(len(tb.seqs)) })
	waitFor(t, "view ready", 60*time.Second, p.Ready)
	eventuallyFinalState(t, p.API.Addr(), tb.final())
	if got := p.Status().Bridge.Records; got != int64(len(tb.seqs)) {
		t.Errorf("bridged %d records, the stream holds %d", got, len(tb.seqs))
	}
}

// TestBridgeKilledMidStreamLosesAndDoublesNothing runs `streamhub bridge` as a real
// process and SIGKILLs it twice while the table is being written, at whatever point of
// its transactions it happens to be; the third run is stopped with SIGTERM. The CDC
// topic must hold every stream record exactly once, each item's records in order.
func TestBridgeKilledMidStreamLosesAndDoublesNothing(t *testing.T) {
	bin := streamhubBinary(t)
	broker, err := kafka.StartEmbedded("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(broker.Close)
	tb := newTable(t, 4)
	brokers := "[" + strings.Join(broker.Addrs(), ", ") + "]\n  replication_factor: 1\n  min_insync_replicas: 1"
	cfg := bridgeConfig(t, tb.srv.URL(), brokers, "\n  enabled: false\nprocessor:\n  enabled: false")
	file := filepath.Join(t.TempDir(), "topology.yaml")
	if err := os.WriteFile(file, []byte(cfg.Path), 0o644); err != nil {
		t.Fatal(err)
	}
	conn, err := kafka.Connect(context.Background(), cfg.Kafka)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(conn.Close)
	if _, err := pipeline.ApplyTopics(context.Background(), conn, cfg, testLogger(t)); err != nil {
		t.Fatal(err)
	}
	env := []string{"AWS_ACCESS_KEY_ID=AKIDKILL", "AWS_SECRET_ACCESS_KEY=secret", "AWS_REGION=us-east-1"}

	writing := make(chan struct{})
	go func() {
		defer close(writing)
		for i := range 6 {
			tb.write(uint64(i), 500, 1500)
			time.Sleep(300 * time.Millisecond)
		}
	}()
	for i := range 2 {
		p := startCLIEnv(t, bin, fmt.Sprintf("bridge-%d", i), env, "bridge", "-c", file, "--ops-listen", freeAddr(t))
		waitFor(t, "the bridge commits records", 60*time.Second, func() bool {
			return p.metric("streamhub_bridge_records_total{", "") > 200
		})
		// Kill at a random moment: between transactions or inside one.
		time.Sleep(time.Duration(rand.IntN(200)) * time.Millisecond)
		n := p.metric("streamhub_bridge_records_total{", "")
		p.kill()
		t.Logf("bridge %d SIGKILLed after committing %d records; %d written to the table so far", i, n, tb.written())
	}
	last := startCLIEnv(t, bin, "bridge-last", env, "bridge", "-c", file, "--ops-listen", freeAddr(t))
	<-writing
	got := readCDC(t, conn, cfg.Tables[0].Topic, tb.written())
	last.terminate(30 * time.Second)
	checkExactlyOnce(t, got, tb.seqs)
}

// bridgeConfig is a one-table topology whose source reads the ddbtest server at
// endpoint; its YAML text is kept in Path for tests that write it to a file.
func bridgeConfig(t *testing.T, endpoint, brokers, extra string) *topology.Config {
	t.Helper()
	yaml := fmt.Sprintf(`env: bridge
kafka:
  brokers: %s
tables:
  - name: users
    keys: [pk, sk]
    version_attribute: updatedAt
    partitions: 4
sources:
  - type: dynamodb
    table: users
    endpoint: %s
    region: us-east-1
    poll_interval: 50ms
bridge:
  leases: 4
  discovery_interval: 200ms
  max_backoff: 500ms
api:
  listen: 127.0.0.1:0%s
`, brokers, endpoint, extra)
	cfg, err := topology.Parse("bridge.yaml", []byte(yaml))
	if err != nil {
		t.Fatalf("%v\n%s", err, yaml)
	}
	cfg.Path = yaml
	return cfg
}

type cdcRecord struct{ key, seq string }

// readCDC reads the CDC topic (read_committed) until it holds want records, then a
// moment longer to catch duplicates.
func readCDC(t *testing.T, conn *kafka.Conn, topic string, want int) []cdcRecord {
	t.Helper()
	cl, err := conn.Client(kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var out []cdcRecord
	deadline := time.Now().Add(90 * time.Second)
	quietUntil := time.Time{}
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		fs := cl.PollFetches(ctx)
		cancel()
		fs.EachRecord(func(r *kgo.Record) {
			var seq string
			for _, h := range r.Headers {
				if h.Key == dynamodb.HeaderSequence {
					seq = string(h.Value)
				}
			}
			out = append(out, cdcRecord{key: string(r.Key), seq: seq})
		})
		if len(out) >= want {
			if quietUntil.IsZero() {
				quietUntil = time.Now().Add(time.Second)
			} else if time.Now().After(quietUntil) {
				break
			}
		}
	}
	return out
}

func checkExactlyOnce(t *testing.T, got []cdcRecord, seqs []string) {
	t.Helper()
	want := map[string]bool{}
	for _, s := range seqs {
		want[s] = true
	}
	seen := map[string]int{}
	for _, r := range got {
		seen[r.seq]++
	}
	missing, dup, unknown := 0, 0, 0
	for s := range want {
		if seen[s] == 0 {
			missing++
		}
	}
	for s, n := range seen {
		if n > 1 {
			dup++
		}
		if !want[s] {
			unknown++
		}
	}
	if missing+dup+unknown > 0 {
		t.Fatalf("CDC topic holds %d records for %d stream records: %d missing, %d duplicated, %d unknown",
			len(got), len(seqs), missing, dup, unknown)
	}
	last := map[string]*big.Int{}
	for _, r := range got {
		n, _ := new(big.Int).SetString(r.seq, 10)
		if p := last[r.key]; p != nil && p.Cmp(n) >= 0 {
			t.Fatalf("item %s: sequence %s after %s", r.key, r.seq, p)
		}
		last[r.key] = n
	}
	t.Logf("CDC topic holds each of %d stream records once, in per-item order", len(seqs))
}
