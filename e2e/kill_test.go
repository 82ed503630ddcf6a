package e2e

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/streamhub/streamhub/kafka"
	"github.com/streamhub/streamhub/pipeline"
	"github.com/streamhub/streamhub/sources/synthetic"
	"github.com/streamhub/streamhub/topology"
)

// TestProcessKilledMidStreamLosesAndDoublesNothing runs `streamhub process` as a real
// process against a broker in the test process, SIGKILLs it twice while a workload is
// being produced, restarts it on the same local storage each time, and finally stops it
// with SIGTERM. The graceful stop must exit 0 and commit every CDC offset, and the final
// state, read through the view API, must equal the generator's model item by item.
func TestProcessKilledMidStreamLosesAndDoublesNothing(t *testing.T) {
	bin := streamhubBinary(t)

	broker, err := kafka.StartEmbedded("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(broker.Close)
	dir := t.TempDir()
	file := filepath.Join(dir, "topology.yaml")
	const shutdownTimeout = 20 * time.Second
	// To the subprocess these are real brokers: it connects over TCP like to MSK.
	yaml := fmt.Sprintf(`
env: kill
kafka:
  brokers: [%s]
  replication_factor: 1
  min_insync_replicas: 1
tables:
  - name: users
    keys: [pk, sk]
    version_attribute: updatedAt
    partitions: 4
api:
  enabled: false
  listen: 127.0.0.1:0
processor:
  storage_dir: %s
  shutdown_timeout: %s
`, strings.Join(broker.Addrs(), ", "), filepath.Join(dir, "state"), shutdownTimeout)
	if err := os.WriteFile(file, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := topology.Load(file)
	if err != nil {
		t.Fatal(err)
	}
	table := cfg.Tables[0]
	conn, err := kafka.Connect(context.Background(), cfg.Kafka)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(conn.Close)
	if _, err := pipeline.ApplyTopics(context.Background(), conn, cfg, testLogger(t)); err != nil {
		t.Fatal(err)
	}
	offsets := newOffsetWatcher(t, conn, table.Group, table.Topic)

	ds, gen := workload(300, 5000, 7)
	q := len(ds) / 4
	t.Logf("workload: %d deliveries of %d changes to 300 items", len(ds), gen.Changes())

	// Round 1: a backlog, then a live stream; killed once it has committed part of it.
	produce(t, conn, table.Topic, ds[:q])
	first := startCLI(t, bin, "first", "process", "-c", file, "--ops-listen", freeAddr(t))
	first.waitOwns(table.Partitions)
	first.killMidStream(offsets, produceInBackground(t, conn, table.Topic, ds[q:2*q]), 0)

	// Round 2: restart on the same local storage (its unflushed tail lost with the first
	// process) and kill it again once the stream has moved the committed offsets.
	second := startCLI(t, bin, "second", "process", "-c", file, "--ops-listen", freeAddr(t))
	second.waitOwns(table.Partitions)
	second.killMidStream(offsets, produceInBackground(t, conn, table.Topic, ds[2*q:3*q]), offsets.committed())

	// Round 3: the rest; once this instance has processed every record from where the
	// last one committed, SIGTERM must drain, commit and exit 0.
	resumeAt := offsets.committed()
	third := startCLI(t, bin, "third", "process", "-c", file, "--ops-listen", freeAddr(t))
	produce(t, conn, table.Topic, ds[3*q:])
	end := offsets.end()
	if end != int64(len(ds)) {
		t.Fatalf("CDC topic end offsets sum to %d, want %d records", end, len(ds))
	}
	waitFor(t, "the third instance to process the rest", 90*time.Second, func() bool {
		return third.processed() >= end-resumeAt
	})
	if n := third.processed(); n != end-resumeAt {
		t.Errorf("third instance processed %d records, want %d (from the committed offsets to the end)", n, end-resumeAt)
	}
	t.Logf("third instance processed %d records; before SIGTERM %d of %d offsets are committed", end-resumeAt, offsets.committed(), end)
	stopped := time.Now()
	third.terminate(shutdownTimeout + 5*time.Second)
	t.Logf("third instance exited %s after SIGTERM", time.Since(stopped).Round(time.Millisecond))

	// The graceful drain committed everything, partition by partition.
	committed, ends := offsets.byPartition()
	for p, e := range ends {
		if committed[p] != e {
			t.Errorf("partition %d: committed offset %d, end offset %d", p, committed[p], e)
		}
	}

	// Nothing lost: every item as the model says. Nothing doubled: no key in the state
	// table that the model does not know, no record in the DLQ.
	// The view gets a connection of its own, so no two goroutines make clients from one
	// Conn at once: kafka.Conn.Client is not safe for that (every client it makes shares
	// one ProducerBatchCompression option, whose slice kgo.NewClient rewrites).
	viewConn, err := kafka.Connect(context.Background(), cfg.Kafka)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(viewConn.Close)
	view := startPipeline(t, cfg, viewConn, pipeline.Roles{Serve: true}, "view", true)
	waitFor(t, "view ready", 60*time.Second, view.Ready)
	eventuallyFinalState(t, view.API.Addr(), gen.Final())
	checkTopicKeys(t, conn, table.TableTopic(), gen.Final())
	if n := recordsIn(t, conn, cfg.Processor.DLQTopic); n != 0 {
		t.Errorf("DLQ holds %d records, want none", n)
	}
}

// cliProcess is one run of the streamhub binary; its output goes to a log file that is
// shown when the test fails.
type cliProcess struct {
	t    *testing.T
	name string
	cmd  *exec.Cmd
	ops  string // --ops-listen
	log  string
	done chan struct{}
	err  error // cmd.Wait's, once done is closed
}

// startCLI runs bin with args; --ops-listen, if among them, is where processed and
// waitOwns read the process's metrics.
func startCLI(t *testing.T, bin, name string, args ...string) *cliProcess {
	t.Helper()
	return startCLIEnv(t, bin, name, nil, args...)
}

// startCLIEnv is startCLI with env added to the test's environment.
func startCLIEnv(t *testing.T, bin, name string, env []string, args ...string) *cliProcess {
	t.Helper()
	log := filepath.Join(t.TempDir(), name+".log")
	f, err := os.Create(log)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = f, f
	if env != nil {
		cmd.Env = append(os.Environ(), env...)
	}
	if err := cmd.Start(); err != nil {
		f.Close()
		t.Fatal(err)
	}
	p := &cliProcess{t: t, name: name, cmd: cmd, log: log, done: make(chan struct{})}
	for i, a := range args[:len(args)-1] {
		if a == "--ops-listen" || a == "-ops-listen" {
			p.ops = args[i+1]
		}
	}
	go func() {
		p.err = cmd.Wait()
		f.Close()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			out, _ := os.ReadFile(log)
			if len(out) > 8000 {
				out = append([]byte("…"), out[len(out)-8000:]...)
			}
			t.Logf("output of %s (streamhub %s):\n%s", name, strings.Join(args, " "), out)
		}
	})
	return p
}

func (p *cliProcess) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// kill sends SIGKILL: no drain, no commit, no flush of the local store.
func (p *cliProcess) kill() {
	p.t.Helper()
	if p.exited() {
		p.t.Fatalf("%s exited before it was killed: %v", p.name, p.err)
	}
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		p.t.Fatal(err)
	}
	<-p.done
}

// terminate sends SIGTERM and requires exit status 0 within timeout.
func (p *cliProcess) terminate(timeout time.Duration) {
	p.t.Helper()
	if p.exited() {
		p.t.Fatalf("%s exited before SIGTERM: %v", p.name, p.err)
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		p.t.Fatal(err)
	}
	select {
	case <-p.done:
	case <-time.After(timeout):
		p.t.Fatalf("%s still running %s after SIGTERM", p.name, timeout)
	}
	if p.err != nil {
		p.t.Fatalf("%s after SIGTERM: %v, want exit status 0", p.name, p.err)
	}
}

// killMidStream waits until the group's committed offsets pass from, so this instance
// has processed and committed part of the stream, then SIGKILLs it while the stream is
// still being produced if it can, and waits for the rest of the stream to be produced.
func (p *cliProcess) killMidStream(offsets *offsetWatcher, stream *background, from int64) {
	p.t.Helper()
	offsets.waitPast(from, p.name+" instance commits", 60*time.Second)
	processed := p.processed()
	p.kill()
	sent, committed := stream.sent(), offsets.committed()
	p.t.Logf("%s instance killed after processing %d records: %d of %d of its stream produced, %d offsets committed in all",
		p.name, processed, sent, len(stream.ds), committed)
	if sent == int64(len(stream.ds)) {
		p.t.Logf("%s instance: the stream was produced completely before the kill (a slow machine?); the kill still lands between commits", p.name)
	}
	stream.wait()
}

// waitOwns waits until the process owns n partitions: it has joined the group, which
// takes a session timeout after a SIGKILL (the broker waits for the dead member).
func (p *cliProcess) waitOwns(n int) {
	p.t.Helper()
	waitFor(p.t, fmt.Sprintf("%s instance to own %d partitions", p.name, n), 60*time.Second, func() bool {
		return p.metric("streamhub_processor_partitions{", "") == int64(n)
	})
}

// processed reads the process's /metrics: the CDC records it handled (every outcome but
// rekeyed, which is counted again when the record comes back from the loop topic).
func (p *cliProcess) processed() int64 {
	return p.metric("streamhub_processor_events_total{", `outcome="rekeyed"`)
}

// metric sums the samples on the process's /metrics whose line starts with prefix and does
// not contain exclude (when not ""); -1 while the endpoint does not answer.
func (p *cliProcess) metric(prefix, exclude string) int64 {
	p.t.Helper()
	if p.exited() {
		p.t.Fatalf("%s exited: %v", p.name, p.err)
	}
	resp, err := http.Get("http://" + p.ops + "/metrics")
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	var n int64
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, prefix) || exclude != "" && strings.Contains(line, exclude) {
			continue
		}
		v, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
		if err != nil {
			p.t.Fatalf("metrics line %q: %v", line, err)
		}
		n += int64(v)
	}
	return n
}

// freeAddr is a loopback address with a port that was free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// background is a workload piece being produced in small batches, like a live stream.
type background struct {
	ds   []synthetic.Delivery
	n    atomic.Int64
	done chan error
	t    *testing.T
}

func produceInBackground(t *testing.T, conn *kafka.Conn, topic string, ds []synthetic.Delivery) *background {
	t.Helper()
	cl, err := conn.Client(kgo.DefaultProduceTopic(topic))
	if err != nil {
		t.Fatal(err)
	}
	b := &background{ds: ds, done: make(chan error, 1), t: t}
	go func() {
		defer cl.Close()
		const batch = 25
		for i := 0; i < len(ds); i += batch {
			recs := make([]*kgo.Record, 0, batch)
			for _, d := range ds[i:min(i+batch, len(ds))] {
				recs = append(recs, &kgo.Record{Key: []byte(d.Key), Value: d.Value})
			}
			if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
				b.done <- err
				return
			}
			b.n.Add(int64(len(recs)))
			time.Sleep(20 * time.Millisecond)
		}
		b.done <- nil
	}()
	return b
}

func (b *background) sent() int64 { return b.n.Load() }

func (b *background) wait() {
	b.t.Helper()
	if err := <-b.done; err != nil {
		b.t.Fatalf("produce: %v", err)
	}
}

// offsetWatcher reads a consumer group's committed offsets and a topic's end offsets.
type offsetWatcher struct {
	t            *testing.T
	conn         *kafka.Conn
	group, topic string
}

func newOffsetWatcher(t *testing.T, conn *kafka.Conn, group, topic string) *offsetWatcher {
	return &offsetWatcher{t: t, conn: conn, group: group, topic: topic}
}

// byPartition returns the committed offsets (absent: none committed) and the end offsets
// of the topic's partitions.
func (w *offsetWatcher) byPartition() (committed, end map[int32]int64) {
	w.t.Helper()
	adm, err := w.conn.Admin()
	if err != nil {
		w.t.Fatal(err)
	}
	defer adm.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	fetched, err := adm.FetchOffsets(ctx, w.group)
	if err == nil {
		err = fetched.Error()
	}
	if errors.Is(err, kerr.GroupIDNotFound) { // no member has joined yet
		fetched, err = nil, nil
	}
	if err != nil {
		w.t.Fatalf("fetch offsets of group %s: %v", w.group, err)
	}
	committed = map[int32]int64{}
	for p, o := range fetched[w.topic] {
		if o.At >= 0 {
			committed[p] = o.At
		}
	}
	listed, err := adm.ListEndOffsets(ctx, w.topic)
	if err == nil {
		err = listed.Error()
	}
	if err != nil {
		w.t.Fatalf("list end offsets of %s: %v", w.topic, err)
	}
	end = map[int32]int64{}
	for p, o := range listed[w.topic] {
		end[p] = o.Offset
	}
	return committed, end
}

func (w *offsetWatcher) committed() int64 {
	c, _ := w.byPartition()
	return sum(c)
}

func (w *offsetWatcher) end() int64 {
	_, e := w.byPartition()
	return sum(e)
}

// waitPast waits until the group has committed more than n offsets in total.
func (w *offsetWatcher) waitPast(n int64, what string, timeout time.Duration) {
	w.t.Helper()
	waitFor(w.t, what, timeout, func() bool { return w.committed() > n })
}

func sum(m map[int32]int64) int64 {
	var n int64
	for _, v := range m {
		n += v
	}
	return n
}

// readTopic reads every record of a topic, from the start to the end offsets it has now.
func readTopic(t *testing.T, conn *kafka.Conn, topic string) []*kgo.Record {
	t.Helper()
	adm, err := conn.Admin()
	if err != nil {
		t.Fatal(err)
	}
	defer adm.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		t.Fatalf("list end offsets of %s: %v", topic, err)
	}
	want := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Offset > 0 {
			want[o.Partition] = o.Offset
		}
	})
	if len(want) == 0 {
		return nil
	}
	cl, err := conn.Client(kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var recs []*kgo.Record
	for len(want) > 0 {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("read %s: %v; partitions not read to the end: %v", topic, err, want)
		}
		fs.EachError(func(topic string, p int32, err error) {
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("read %s/%d: %v", topic, p, err)
			}
		})
		fs.EachRecord(func(r *kgo.Record) {
			recs = append(recs, r)
			if e, ok := want[r.Partition]; ok && r.Offset+1 >= e {
				delete(want, r.Partition)
			}
		})
	}
	return recs
}

func recordsIn(t *testing.T, conn *kafka.Conn, topic string) int {
	return len(readTopic(t, conn, topic))
}

// checkTopicKeys requires the keys of a state table topic to be exactly the model's items.
func checkTopicKeys(t *testing.T, conn *kafka.Conn, topic string, final map[string]synthetic.Expected) {
	t.Helper()
	seen := map[string]bool{}
	for _, r := range readTopic(t, conn, topic) {
		seen[string(r.Key)] = true
	}
	var extra, missing []string
	for k := range seen {
		if _, ok := final[k]; !ok {
			extra = append(extra, k)
		}
	}
	for k := range final {
		if !seen[k] {
			missing = append(missing, k)
		}
	}
	if len(extra) > 0 || len(missing) > 0 {
		t.Errorf("state table %s: %d keys the model does not know (%.5q), %d model keys absent (%.5q)", topic, len(extra), extra, len(missing), missing)
	}
}
