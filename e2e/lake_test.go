package e2e

import (
	"bufio"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/streamhub/streamhub/kafka"
	"github.com/streamhub/streamhub/pipeline"
	"github.com/streamhub/streamhub/topology"
)

// TestEmitKilledMidStreamWritesEveryOffsetOnce runs `streamhub emit` with a file lake as a
// real process, SIGKILLs it twice while events are being produced (wherever it is: in a
// flush, between the write and the commit, idle), restarts it each time, and stops the last
// run with SIGTERM. Every offset of the topic must be in exactly one object, and each
// object in the time folder of its events.
func TestEmitKilledMidStreamWritesEveryOffsetOnce(t *testing.T) {
	bin := streamhubBinary(t)
	broker, err := kafka.StartEmbedded("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(broker.Close)
	dir := t.TempDir()
	lakeDir := filepath.Join(dir, "lake")
	yaml := fmt.Sprintf(`env: lake
kafka:
  brokers: [%s]
  replication_factor: 1
  min_insync_replicas: 1
tables:
  - name: users
    keys: [pk]
    partitions: 2
processor:
  enabled: false
api:
  enabled: false
sinks:
  - name: lake
    type: file
    dir: %s
    topics: [lake.web.page_view]
    buffer: {count_records: 300, flush_time: 200ms}
`, strings.Join(broker.Addrs(), ", "), lakeDir)
	file := filepath.Join(dir, "topology.yaml")
	if err := os.WriteFile(file, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := topology.Load(file)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := kafka.Connect(context.Background(), cfg.Kafka)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(conn.Close)
	const topic = "lake.web.page_view"
	if _, err := conn.EnsureTopics(context.Background(), append(cfg.Topics(), topology.TopicSpec{Name: topic, Partitions: 4})); err != nil {
		t.Fatal(err)
	}
	if _, err := pipeline.ApplyTopics(context.Background(), conn, cfg, testLogger(t)); err != nil {
		t.Fatal(err)
	}

	// Events over three hours, produced in the background.
	base := time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)
	var produced atomic.Int64
	done := make(chan struct{})
	go func() {
		defer close(done)
		cl, err := conn.Client(kgo.DefaultProduceTopic(topic))
		if err != nil {
			t.Error(err)
			return
		}
		defer cl.Close()
		for i := range 6000 {
			at := base.Add(time.Duration(i) * 1800 * time.Millisecond)
			v := fmt.Sprintf(`{"event_id":"00000000-0000-4000-8000-%012d","event_name":"page_view","occurred_at":%q,"source":"web","payload":{"i":%d}}`, i, at.Format(time.RFC3339Nano), i)
			if err := cl.ProduceSync(context.Background(), &kgo.Record{Key: []byte(fmt.Sprint(i % 97)), Value: []byte(v)}).FirstErr(); err != nil {
				t.Error(err)
				return
			}
			produced.Add(1)
			if i%500 == 0 {
				time.Sleep(50 * time.Millisecond)
			}
		}
	}()

	for i := range 2 {
		p := startCLI(t, bin, fmt.Sprintf("emit-%d", i), "emit", "-c", file, "--ops-listen", freeAddr(t))
		start := p.metric("streamhub_sink_records_total{", "")
		waitFor(t, "the sink flushes", 60*time.Second, func() bool {
			return p.metric("streamhub_sink_records_total{", "") > max(start, 0)+600
		})
		p.kill()
		t.Logf("emit %d SIGKILLed with %d of 6000 events produced", i, produced.Load())
	}
	<-done
	last := startCLI(t, bin, "emit-last", "emit", "-c", file, "--ops-listen", freeAddr(t))
	waitFor(t, "every event in the lake", 90*time.Second, func() bool { return countLake(t, lakeDir) >= 6000 })
	last.terminate(30 * time.Second)

	seen := map[string]int{}
	err = filepath.WalkDir(lakeDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".jsonl.gz") {
			return err
		}
		for _, row := range readJSONL(t, path) {
			var r struct {
				Partition  int32  `json:"partition"`
				Offset     int64  `json:"offset"`
				OccurredAt string `json:"occurred_at"`
			}
			if err := json.Unmarshal(row, &r); err != nil {
				t.Fatalf("%s: %v", path, err)
			}
			seen[fmt.Sprintf("%d/%d", r.Partition, r.Offset)]++
			at, err := time.Parse(time.RFC3339Nano, r.OccurredAt)
			if err != nil {
				t.Fatalf("%s: occurred_at %q: %v", path, r.OccurredAt, err)
			}
			if want := at.UTC().Format("dt=2006-01-02/hr=15"); !strings.Contains(path, want) {
				t.Fatalf("%s holds an event of %s", path, want)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	dup := 0
	for _, n := range seen {
		if n > 1 {
			dup++
		}
	}
	if len(seen) != 6000 || dup > 0 {
		t.Fatalf("the lake holds %d distinct offsets (want 6000), %d of them more than once", len(seen), dup)
	}
}

func countLake(t *testing.T, dir string) int {
	n := 0
	filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(path, ".jsonl.gz") {
			n += len(readJSONL(t, path))
		}
		return nil
	})
	return n
}

func readJSONL(t *testing.T, path string) [][]byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	var rows [][]byte
	sc := bufio.NewScanner(zr)
	sc.Buffer(nil, 16<<20)
	for sc.Scan() {
		rows = append(rows, append([]byte(nil), sc.Bytes()...))
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return rows
}
