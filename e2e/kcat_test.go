package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
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
