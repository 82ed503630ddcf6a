package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/streamhub/streamhub/pipeline"
	"github.com/streamhub/streamhub/processors"
	"github.com/streamhub/streamhub/sources/dynamodb"
)

// kcatBinary finds librdkafka's kcat, a Kafka client written by others (DESIGN.md, "Real
// peers"). Missing, the test skips loudly on a laptop and fails in CI, where .ci/run
// installs it.
func kcatBinary(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("kcat")
	if err != nil {
		msg := fmt.Sprintf("SKIPPING %s: kcat not found (apt-get install kcat); it proves a non-Go client interoperates", t.Name())
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return p
}

// TestKcatProducedCDCIsProcessedAndLookedUp writes the CDC topic with librdkafka (kcat,
// partitioner murmur2_random, as Java's default) instead of franz-go: every item must be
// processed in the partition that owns it and found by the view API, and kcat must read the
// compacted state topic back with read_committed.
func TestKcatProducedCDCIsProcessedAndLookedUp(t *testing.T) {
	kcat := kcatBinary(t)
	cfg := testConfig(t, 8)
	conn := startBroker(t, cfg)
	ds, gen := workload(60, 600, 11)

	var in bytes.Buffer
	for _, d := range ds {
		if bytes.ContainsAny(d.Value, "\t\n") {
			t.Fatalf("record contains a tab or newline, which kcat's line format cannot carry: %s", d.Value)
		}
		fmt.Fprintf(&in, "%s\t%s\n", d.Key, d.Value)
	}
	file := filepath.Join(t.TempDir(), "cdc.txt")
	if err := os.WriteFile(file, in.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	broker := conn.Brokers()[0]
	out, err := exec.Command(kcat, "-P", "-b", broker, "-t", cfg.Tables[0].Topic, "-K", "\t",
		"-X", "partitioner=murmur2_random", "-z", "lz4", "-l", file).CombinedOutput()
	if err != nil {
		t.Fatalf("kcat produce: %v\n%s", err, out)
	}

	p := startPipeline(t, cfg, conn, both, "a", true)
	processed(t, int64(len(ds)), p)
	if s := p.Status(); s.Rekeyed != 0 || s.Invalid != 0 {
		t.Errorf("rekeyed %d, invalid %d: librdkafka's murmur2 partitions must match streamhub's", s.Rekeyed, s.Invalid)
	}
	waitFor(t, "views ready", 30*time.Second, p.Ready)
	eventuallyFinalState(t, p.API.Addr(), gen.Final())

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	keys := map[string]bool{}
	for len(keys) < len(gen.Final()) && ctx.Err() == nil {
		out, err = exec.CommandContext(ctx, kcat, "-C", "-b", broker, "-t", cfg.Tables[0].TableTopic(),
			"-o", "beginning", "-e", "-q", "-X", "isolation.level=read_committed", "-f", "%k\n").CombinedOutput()
		if err != nil {
			t.Fatalf("kcat consume: %v\n%s", err, out)
		}
		for _, k := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			keys[k] = true
		}
	}
	for k := range gen.Final() {
		if !keys[k] {
			t.Errorf("kcat did not read key %s from the state topic", k)
		}
	}
}

// TestKcatReadsCommittedBridgeRecordsAndTheDLQ reads the bridge's transactional CDC topic
// with librdkafka. A first bridge dies inside a transaction holding records; the second
// fences it (the broker aborts the open transaction) and resumes from the checkpoints.
// kcat with isolation.level=read_committed must see every stream record exactly once
// and no record of the aborted transaction, which read_uncommitted does show. A record
// kcat itself produces that is no stream record goes to the DLQ, where kcat reads it
// back with the reason header.
func TestKcatReadsCommittedBridgeRecordsAndTheDLQ(t *testing.T) {
	kcat := kcatBinary(t)
	tb := newTable(t, 2)
	cfg := bridgeConfig(t, tb.srv.URL(), "embedded\n  embedded_listen: 127.0.0.1:0", "")
	conn := startBroker(t, cfg)
	broker := conn.Brokers()[0]
	topic := cfg.Tables[0].Topic

	run := func(roles pipeline.Roles, hooks dynamodb.Hooks) (*pipeline.Pipeline, chan error) {
		p, err := pipeline.New(context.Background(), pipeline.Options{
			Config: cfg, Conn: conn, Roles: roles, MemoryStorage: true, Logger: testLogger(t),
			Bridge: dynamodb.Options{AWS: bridgeAWS(), Hooks: hooks},
		})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- p.Run(ctx) }()
		t.Cleanup(func() { cancel(); <-done })
		return p, done
	}
	var commits atomic.Int64
	crash := errors.New("killed inside a transaction")
	_, firstDone := run(pipeline.Roles{Bridge: true}, dynamodb.Hooks{BeforeCommit: func(_ int32, _ string, n int) error {
		if n > 0 && commits.Add(1) == 2 {
			return crash
		}
		return nil
	}})
	tb.write(1, 300, 1500)
	select {
	case err := <-firstDone:
		if !errors.Is(err, crash) {
			t.Fatalf("first bridge: %v, want its crash", err)
		}
		firstDone <- err // for the cleanup
	case <-time.After(60 * time.Second):
		t.Fatal("the first bridge never reached its second transaction with records")
	}
	p, _ := run(pipeline.Roles{Bridge: true, Process: true}, dynamodb.Hooks{})
	tb.write(2, 300, 1000)

	// kcat's own bad record, for the DLQ.
	cmd := exec.Command(kcat, "-P", "-b", broker, "-t", topic, "-K", "\t")
	cmd.Stdin = strings.NewReader("kcat-bad-key\tthis is not a stream record\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("kcat produce: %v\n%s", err, out)
	}

	consume := func(ctx context.Context, topic, isolation, format string) []string {
		out, err := exec.CommandContext(ctx, kcat, "-C", "-b", broker, "-t", topic, "-o", "beginning", "-e", "-q",
			"-X", "isolation.level="+isolation, "-f", format).Output()
		if err != nil {
			t.Fatalf("kcat consume %s (%s): %v", topic, isolation, err)
		}
		return strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
	}
	seqOf := func(line string) string {
		var rec struct {
			DynamoDB struct{ SequenceNumber string } `json:"dynamodb"`
		}
		if json.Unmarshal([]byte(line), &rec) != nil {
			return ""
		}
		return rec.DynamoDB.SequenceNumber
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	var committed []string
	for ctx.Err() == nil {
		committed = consume(ctx, topic, "read_committed", "%s\n")
		if len(committed) >= tb.written()+1 {
			break
		}
		time.Sleep(300 * time.Millisecond)
	}
	var got []cdcRecord
	for _, line := range committed {
		if seq := seqOf(line); seq != "" {
			got = append(got, cdcRecord{key: seq, seq: seq})
		}
	}
	checkExactlyOnce(t, got, tb.seqs)
	uncommitted := consume(ctx, topic, "read_uncommitted", "%s\n")
	if len(uncommitted) <= len(committed) {
		t.Errorf("read_uncommitted sees %d records, read_committed %d: the aborted transaction left no record to hide", len(uncommitted), len(committed))
	} else {
		t.Logf("read_committed: %d records; read_uncommitted: %d (the aborted transaction's %d)", len(committed), len(uncommitted), len(uncommitted)-len(committed))
	}

	waitFor(t, "the bad record in the DLQ", 60*time.Second, func() bool { return p.Status().Invalid > 0 })
	var dlq []string
	for ctx.Err() == nil {
		dlq = consume(ctx, cfg.Processor.DLQTopic, "read_committed", "%k|%h|%s\n")
		if len(dlq) > 0 && dlq[0] != "" {
			break
		}
		time.Sleep(300 * time.Millisecond)
	}
	if len(dlq) != 1 || !strings.HasPrefix(dlq[0], "kcat-bad-key|") || !strings.Contains(dlq[0], processors.HeaderDLQReason+"=") ||
		!strings.HasSuffix(dlq[0], "|this is not a stream record") {
		t.Errorf("kcat read the DLQ as %q, want the bad record with its reason header", dlq)
	} else {
		t.Logf("DLQ: %s", dlq[0])
	}
}
