package interop

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/parquet-go/parquet-go"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/streamhub/streamhub/emitters/lake"
	"github.com/streamhub/streamhub/emitters/snapshot"
	"github.com/streamhub/streamhub/kafka"
	"github.com/streamhub/streamhub/pipeline"
	"github.com/streamhub/streamhub/sources/synthetic"
	"github.com/streamhub/streamhub/topology"
)

const (
	minioBucket = "acme-lake"
	minioCDC    = "minio.users.cdc"
	minioEvents = "minio.web.page_view"
	// minioSinkEnv names the topology file of the sink process TestMinIOSinkProcess runs.
	minioSinkEnv = "STREAMHUB_MINIO_SINK_TOPOLOGY"
)

// minioBinary is $STREAMHUB_MINIO, or what `scripts/peers.sh minio` built into
// ${XDG_CACHE_HOME:-~/.cache}/streamhub/peers (pinned module version). The first call on
// an empty cache builds MinIO, which takes minutes.
func minioBinary(t *testing.T) string {
	t.Helper()
	bin := os.Getenv("STREAMHUB_MINIO")
	if bin == "" {
		script, err := filepath.Abs(filepath.Join("..", "..", "scripts", "peers.sh"))
		if err != nil {
			t.Fatal(err)
		}
		began := time.Now()
		cmd := exec.Command("bash", script, "minio")
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			unavailable(t, "MinIO", "scripts/peers.sh minio: %v\n%s", err, stderr.String())
		}
		bin = strings.TrimSpace(string(out))
		if d := time.Since(began); d > 10*time.Second {
			t.Logf("scripts/peers.sh minio took %s (built MinIO)", d.Round(time.Second))
		}
	}
	if _, err := os.Stat(bin); err != nil {
		unavailable(t, "MinIO", "%v", err)
	}
	return bin
}

// startMinIO runs a single-drive MinIO server on port with a fresh data directory and
// the access key and secret of the test's AWS variables as its root credentials, and
// waits until it is live; Cleanup stops it.
func startMinIO(t *testing.T, port int) {
	t.Helper()
	bin := minioBinary(t)
	cmd := exec.Command(bin, "server", t.TempDir(),
		"--address", fmt.Sprintf("127.0.0.1:%d", port),
		"--console-address", fmt.Sprintf("127.0.0.1:%d", freePort(t)), "--quiet")
	// The machine's MINIO_* variables stay out: a MINIO_DOMAIN or a region of its own
	// would change what this test proves.
	env := slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, "MINIO_") })
	cmd.Env = append(env,
		"MINIO_ROOT_USER="+os.Getenv("AWS_ACCESS_KEY_ID"),
		"MINIO_ROOT_PASSWORD="+os.Getenv("AWS_SECRET_ACCESS_KEY"),
		// SigV4 signs with the region: MinIO's must be the client's.
		"MINIO_SITE_REGION="+os.Getenv("AWS_REGION"),
		"MINIO_BROWSER=off",
		"MINIO_UPDATE=off",
		"HOME="+t.TempDir(), // MinIO keeps ~/.minio
	)
	dieWithParent(cmd)
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		unavailable(t, "MinIO", "start %s: %v", bin, err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
		if t.Failed() || os.Getenv("STREAMHUB_TEST_DEBUG") != "" {
			t.Logf("MinIO output:\n%s", out.String())
		}
	})
	live := fmt.Sprintf("http://127.0.0.1:%d/minio/health/live", port)
	deadline := time.Now().Add(90 * time.Second)
	for {
		resp, err := http.Get(live)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
			err = fmt.Errorf("status %s", resp.Status)
		}
		select {
		case <-exited:
			unavailable(t, "MinIO", "minio exited before it was live: %v\n%s", cmd.ProcessState, out.String())
		default:
		}
		if time.Now().After(deadline) {
			unavailable(t, "MinIO", "not live within 90s: %v\n%s", err, out.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestLakeAgainstMinIO runs the lake sink into MinIO, a real S3 server: two s3 sinks
// (JSON Lines and Parquet, with manifests, one with table snapshots) copy a CDC topic and
// an event topic. The sinks run in a child process that is SIGKILLed once mid-stream and
// restarted. The pipeline finds MinIO only through the SDK's standard variables
// (AWS_ENDPOINT_URL_S3, AWS_ACCESS_KEY_ID, …): the topology names no endpoint. At the
// end the test lists MinIO itself with ListObjectsV2 and checks every object's name
// against the lake's layout, decodes every object and finds each Kafka record in exactly
// one object per sink, byte for byte; every data object in exactly one manifest, whose
// sizes are MinIO's; and a snapshot whose _SUCCESS names its parts and whose rows are the
// table.
func TestLakeAgainstMinIO(t *testing.T) {
	began := time.Now()
	port := freePort(t)
	// A host name, not an IP: for an IP endpoint the SDK addresses buckets by path on its
	// own, so only a name shows that the topology's path_style reaches the client.
	endpoint := fmt.Sprintf("http://localhost:%d", port)
	useAWSEnv(t, endpoint)
	t.Setenv("AWS_ENDPOINT_URL_S3", endpoint)
	startMinIO(t, port)
	t.Logf("MinIO live at %s after %s", endpoint, time.Since(began).Round(time.Millisecond))

	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	awsCfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Virtual-hosted style would send the request to acme-lake.localhost, which does not
	// resolve, and MinIO serves that style only for the domains in MINIO_DOMAIN.
	s3c := s3.NewFromConfig(awsCfg, func(o *s3.Options) { o.UsePathStyle = true })
	if _, err := s3c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(minioBucket)}); err != nil {
		t.Fatalf("create bucket: %v", err)
	}

	t.Run("S3Store", func(t *testing.T) { checkS3StoreOnMinIO(ctx, t) })

	broker, err := kafka.StartEmbedded("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(broker.Close)
	file, cfg := minioTopology(t, broker.Addrs())
	conn, err := kafka.Connect(ctx, cfg.Kafka)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(conn.Close)
	if _, err := conn.EnsureTopics(ctx, []topology.TopicSpec{{Name: minioEvents, Partitions: 4}}); err != nil {
		t.Fatal(err)
	}
	if _, err := pipeline.ApplyTopics(ctx, conn, cfg, minioLogger()); err != nil {
		t.Fatal(err)
	}

	// The processor fills the table topic the snapshots read; it stays up throughout.
	proc, err := pipeline.New(ctx, pipeline.Options{
		Config: cfg, Conn: conn, Roles: pipeline.Roles{Process: true}, MemoryStorage: true, Logger: minioLogger(),
	})
	if err != nil {
		t.Fatal(err)
	}
	procCtx, stopProc := context.WithCancel(context.Background())
	procDone := make(chan error, 1)
	go func() { procDone <- proc.Run(procCtx) }()
	defer func() {
		stopProc()
		if err := <-procDone; err != nil {
			t.Errorf("processor: %v", err)
		}
	}()

	// A CDC workload that crosses an hour (several objects per flush), and events over
	// three hours, produced while the sinks run.
	g := synthetic.New(synthetic.Options{Items: 150, Seed: 11, Start: time.Date(2026, 11, 25, 8, 59, 30, 0, time.UTC)})
	var cdc []synthetic.Delivery
	for range 2500 {
		cdc = append(cdc, g.Next()...)
	}
	cdc = append(cdc, g.Flush()...)
	const events = 3000
	var produced atomic.Int64
	producerDone := make(chan error, 1)
	go func() { producerDone <- produceMinIOWorkload(conn, cdc, events, &produced) }()

	sink := startMinIOSink(t, file, "sink-1")
	minioWait(t, "flushes of both sinks in MinIO", 3*time.Minute, func() bool {
		sink.mustRun(t)
		keys := listMinIO(ctx, t, s3c, "raw/")
		return countData(keys, "raw/jsonl/") >= 3 && countData(keys, "raw/parquet/") >= 3
	})
	sink.kill()
	t.Logf("sink process SIGKILLed with %d of %d records produced and %d data objects in MinIO",
		produced.Load(), len(cdc)+events, countData(listMinIO(ctx, t, s3c, "raw/"), "raw/"))

	sink = startMinIOSink(t, file, "sink-2")
	if err := <-producerDone; err != nil {
		t.Fatal(err)
	}
	ends := endOffsets(ctx, t, conn, minioCDC, minioEvents)
	for _, name := range []string{"lake_jsonl", "lake_parquet"} {
		group := "minio.streamhub.sink." + name
		minioWait(t, group+" committed every offset", 4*time.Minute, func() bool {
			sink.mustRun(t)
			return committedAll(ctx, t, conn, group, ends)
		})
	}
	sink.terminate(t)
	minioWait(t, "every CDC record processed", 2*time.Minute, func() bool {
		s := proc.Status()
		return s.Applied+s.Stale+s.Duplicate+s.Invalid >= int64(len(cdc))
	})
	t.Logf("%d CDC records and %d events in Kafka; %s since start", len(cdc), events, time.Since(began).Round(time.Millisecond))

	// The checks read MinIO through the SDK, not through the lake's own store.
	objects := listMinIOSizes(ctx, t, s3c, "raw/")
	kafkaRecs := readTopics(ctx, t, conn, minioCDC, minioEvents)
	for _, format := range []string{"jsonl", "parquet"} {
		checkLakeFormat(ctx, t, s3c, format, objects, kafkaRecs)
	}

	// A store made from the environment alone, as the pipeline makes its own.
	store, err := lake.NewS3Store(ctx, lake.S3Options{Bucket: minioBucket, PathStyle: true})
	if err != nil {
		t.Fatal(err)
	}
	res, err := snapshot.Take(ctx, snapshot.Options{
		Conn: conn, Table: cfg.Tables[0], Store: store, Prefix: "raw/jsonl", Logger: minioLogger(),
		// An hour ahead: each sink process took a snapshot at its start, in a folder named
		// by that second, and a folder is written only once (ErrSnapshotExists).
		Now: func() time.Time { return time.Now().Add(time.Hour) },
	})
	if err != nil {
		t.Fatal(err)
	}
	checkSnapshots(ctx, t, s3c, res, g.Final())
	t.Logf("run time %s", time.Since(began).Round(time.Millisecond))
}

// TestMinIOSinkProcess is the sink process of TestLakeAgainstMinIO: the test binary run
// again, so that it can be SIGKILLed without building the streamhub command.
func TestMinIOSinkProcess(t *testing.T) {
	file := os.Getenv(minioSinkEnv)
	if file == "" {
		t.Skip("the sink process of TestLakeAgainstMinIO; it runs only as that test's child")
	}
	cfg, err := topology.Load(file)
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	p, err := pipeline.New(ctx, pipeline.Options{Config: cfg, Roles: pipeline.Roles{Emit: true}, MemoryStorage: true, Logger: minioLogger()})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Run(ctx); err != nil {
		t.Fatal(err)
	}
}

// minioTopology names the bucket but no endpoint and no region.
func minioTopology(t *testing.T, brokers []string) (string, *topology.Config) {
	t.Helper()
	yaml := fmt.Sprintf(`env: minio
kafka:
  brokers: [%s]
  replication_factor: 1
  min_insync_replicas: 1
tables:
  - name: users
    keys: [pk, sk]
    version_attribute: updatedAt
    partitions: 3
api:
  enabled: false
sinks:
  - name: lake_jsonl
    type: s3
    bucket: %[2]s
    prefix: raw/jsonl
    path_style: true
    manifest: true
    topics: [%[3]s, %[4]s]
    tables: [users]
    snapshot_every: 1h
    buffer: {count_records: 400, flush_time: 300ms}
  - name: lake_parquet
    type: s3
    format: parquet
    bucket: %[2]s
    prefix: raw/parquet
    path_style: true
    manifest: true
    topics: [%[3]s, %[4]s]
    buffer: {count_records: 700, flush_time: 500ms}
`, strings.Join(brokers, ", "), minioBucket, minioCDC, minioEvents)
	file := filepath.Join(t.TempDir(), "topology.yaml")
	if err := os.WriteFile(file, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := topology.Load(file)
	if err != nil {
		t.Fatalf("%v\n%s", err, yaml)
	}
	return file, cfg
}

// produceMinIOWorkload produces the CDC deliveries and the events in slices, pausing
// between them so that the sinks flush many times while records still arrive.
func produceMinIOWorkload(conn *kafka.Conn, cdc []synthetic.Delivery, events int, produced *atomic.Int64) error {
	cl, err := conn.Client()
	if err != nil {
		return err
	}
	defer cl.Close()
	base := time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)
	const slices = 40
	for s := range slices {
		var recs []*kgo.Record
		for i := s * len(cdc) / slices; i < (s+1)*len(cdc)/slices; i++ {
			recs = append(recs, &kgo.Record{Topic: minioCDC, Key: []byte(cdc[i].Key), Value: cdc[i].Value})
		}
		for i := s * events / slices; i < (s+1)*events/slices; i++ {
			at := base.Add(time.Duration(i) * 3600 * time.Millisecond)
			v := fmt.Sprintf(`{"event_id":"00000000-0000-4000-8000-%012d","event_name":"page_view","occurred_at":%q,"source":"web","app":{"id":"shop","version":"1.2.3"},"payload":{"i":%d}}`,
				i, at.Format(time.RFC3339Nano), i)
			recs = append(recs, &kgo.Record{Topic: minioEvents, Key: []byte(strconv.Itoa(i % 61)), Value: []byte(v)})
		}
		if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
			return err
		}
		produced.Add(int64(len(recs)))
		time.Sleep(150 * time.Millisecond)
	}
	return nil
}

// minioSink is a sink process of TestLakeAgainstMinIO.
type minioSink struct {
	name   string
	cmd    *exec.Cmd
	out    *syncBuffer
	exited chan struct{}
}

func startMinIOSink(t *testing.T, file, name string) *minioSink {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestMinIOSinkProcess$", "-test.v")
	cmd.Env = append(os.Environ(), minioSinkEnv+"="+file)
	dieWithParent(cmd)
	s := &minioSink{name: name, cmd: cmd, out: &syncBuffer{}, exited: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = s.out, s.out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = cmd.Wait(); close(s.exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-s.exited
		if t.Failed() || os.Getenv("STREAMHUB_TEST_DEBUG") != "" {
			t.Logf("%s output:\n%s", name, s.out.String())
		}
	})
	return s
}

func (s *minioSink) mustRun(t *testing.T) {
	t.Helper()
	select {
	case <-s.exited:
		t.Fatalf("%s exited: %v\n%s", s.name, s.cmd.ProcessState, s.out.String())
	default:
	}
}

func (s *minioSink) kill() {
	_ = s.cmd.Process.Kill()
	<-s.exited
}

// terminate stops the process as a deployment does, and expects a clean exit.
func (s *minioSink) terminate(t *testing.T) {
	t.Helper()
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
		if !s.cmd.ProcessState.Success() {
			t.Errorf("%s: %v\n%s", s.name, s.cmd.ProcessState, s.out.String())
		}
	case <-time.After(90 * time.Second):
		t.Errorf("%s did not stop within 90s of SIGTERM", s.name)
	}
}

func endOffsets(ctx context.Context, t *testing.T, conn *kafka.Conn, topics ...string) map[string]map[int32]int64 {
	t.Helper()
	adm, err := conn.Admin()
	if err != nil {
		t.Fatal(err)
	}
	ends, err := adm.ListEndOffsets(ctx, topics...)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) {
		if out[o.Topic] == nil {
			out[o.Topic] = map[int32]int64{}
		}
		out[o.Topic][o.Partition] = o.Offset
	})
	return out
}

func committedAll(ctx context.Context, t *testing.T, conn *kafka.Conn, group string, ends map[string]map[int32]int64) bool {
	t.Helper()
	adm, err := conn.Admin()
	if err != nil {
		t.Fatal(err)
	}
	got, err := adm.FetchOffsets(ctx, group)
	if err != nil {
		return false
	}
	for topic, parts := range ends {
		for p, end := range parts {
			if end == 0 {
				continue
			}
			o, ok := got.Lookup(topic, p)
			if !ok || o.At < end {
				return false
			}
		}
	}
	return true
}

// kafkaRecord is what a lake row must carry of its record.
type kafkaRecord struct {
	key     string
	value   string // compacted JSON
	tsMilli int64
}

func readTopics(ctx context.Context, t *testing.T, conn *kafka.Conn, topics ...string) map[string]kafkaRecord {
	t.Helper()
	ends := endOffsets(ctx, t, conn, topics...)
	want := 0
	for _, parts := range ends {
		for _, end := range parts {
			want += int(end)
		}
	}
	cl, err := conn.Client(kgo.ConsumeTopics(topics...), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	out := map[string]kafkaRecord{}
	for len(out) < want {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("read %v: %d of %d records: %v", topics, len(out), want, err)
		}
		fs.EachError(func(topic string, p int32, err error) { t.Fatalf("read %s/%d: %v", topic, p, err) })
		fs.EachRecord(func(r *kgo.Record) {
			out[recordID(r.Topic, r.Partition, r.Offset)] = kafkaRecord{
				key: string(r.Key), value: compactJSON(t, r.Value), tsMilli: r.Timestamp.UnixMilli(),
			}
		})
	}
	return out
}

func recordID(topic string, partition int32, offset int64) string {
	return fmt.Sprintf("%s/%d/%d", topic, partition, offset)
}

func compactJSON(t *testing.T, b []byte) string {
	t.Helper()
	var buf bytes.Buffer
	if err := json.Compact(&buf, b); err != nil {
		t.Fatalf("not JSON: %v: %s", err, b)
	}
	return buf.String()
}

func listMinIO(ctx context.Context, t *testing.T, c *s3.Client, prefix string) []string {
	t.Helper()
	var keys []string
	for k := range listMinIOSizes(ctx, t, c, prefix) {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// listMinIOSizes lists with small pages, so that MinIO's continuation tokens are followed.
func listMinIOSizes(ctx context.Context, t *testing.T, c *s3.Client, prefix string) map[string]int64 {
	t.Helper()
	out := map[string]int64{}
	p := s3.NewListObjectsV2Paginator(c, &s3.ListObjectsV2Input{
		Bucket: aws.String(minioBucket), Prefix: aws.String(prefix), MaxKeys: aws.Int32(100),
	})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatalf("list %s: %v", prefix, err)
		}
		for _, o := range page.Contents {
			out[aws.ToString(o.Key)] = aws.ToInt64(o.Size)
		}
	}
	return out
}

func countData(keys []string, prefix string) int {
	n := 0
	for _, k := range keys {
		if strings.HasPrefix(k, prefix) && (strings.HasSuffix(k, ".jsonl.gz") || strings.HasSuffix(k, ".parquet")) &&
			!strings.Contains(k, "/state/") {
			n++
		}
	}
	return n
}

func getMinIO(ctx context.Context, t *testing.T, c *s3.Client, key string) []byte {
	t.Helper()
	out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(minioBucket), Key: aws.String(key)})
	if err != nil {
		t.Fatalf("get %s: %v", key, err)
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	if err != nil {
		t.Fatalf("get %s: %v", key, err)
	}
	return b
}

// lakeRow is one row of a lake object, whichever its format.
type lakeRow struct {
	topic     string
	partition int32
	offset    int64
	tsMilli   int64
	key       string
	value     string
	eventName string
	seq       string
	eventID   string
	// partTime is the row's partition time in Unix ms: its record time, else its
	// Kafka timestamp (SCHEMA.md).
	partTime int64
}

func checkLakeFormat(ctx context.Context, t *testing.T, c *s3.Client, format string, objects map[string]int64, kafkaRecs map[string]kafkaRecord) {
	t.Helper()
	prefix := "raw/" + format + "/"
	ext := map[string]string{"jsonl": `jsonl\.gz`, "parquet": `parquet`}[format]
	dataRE := regexp.MustCompile(`^` + regexp.QuoteMeta(prefix) +
		`([a-z._]+)/dt=(\d{4}-\d{2}-\d{2})/hr=(\d{2})/([a-z._]+)\+(\d+)\+(\d{20})\.` + ext + `$`)
	manifestRE := regexp.MustCompile(`^` + regexp.QuoteMeta(prefix) + `_manifests/([a-z._]+)/([a-z._]+)\+(\d+)\+(\d{20})\.manifest$`)
	seen := map[string]int{}
	inManifests := map[string]int{}
	var data, manifests int
	for key, size := range objects {
		if !strings.HasPrefix(key, prefix) || strings.HasPrefix(key, prefix+"state/") {
			continue
		}
		if m := manifestRE.FindStringSubmatch(key); m != nil {
			manifests++
			checkManifest(ctx, t, c, key, m, objects, inManifests)
			continue
		}
		m := dataRE.FindStringSubmatch(key)
		if m == nil {
			t.Errorf("%s: not a name of the lake's layout", key)
			continue
		}
		data++
		topic, dt, hr := m[1], m[2], m[3]
		partition, _ := strconv.Atoi(m[5])
		first, _ := strconv.ParseInt(m[6], 10, 64)
		if m[4] != topic {
			t.Errorf("%s: folder of topic %s holds an object of topic %s", key, topic, m[4])
		}
		body := getMinIO(ctx, t, c, key)
		if int64(len(body)) != size {
			t.Errorf("%s: %d bytes, ListObjectsV2 says %d", key, len(body), size)
		}
		var rows []lakeRow
		if format == "jsonl" {
			rows = decodeJSONL(t, key, body)
		} else {
			rows = decodeParquet(t, key, body)
		}
		if len(rows) == 0 {
			t.Errorf("%s: no rows", key)
			continue
		}
		if rows[0].offset != first {
			t.Errorf("%s: first row at offset %d", key, rows[0].offset)
		}
		for i, r := range rows {
			id := recordID(r.topic, r.partition, r.offset)
			seen[id]++
			if r.topic != topic || int(r.partition) != partition {
				t.Errorf("%s: row %d is of %s/%d", key, i, r.topic, r.partition)
			}
			if i > 0 && r.offset <= rows[i-1].offset {
				t.Errorf("%s: row %d at offset %d after %d", key, i, r.offset, rows[i-1].offset)
			}
			if got, want := time.UnixMilli(r.partTime).UTC().Format("2006-01-02/15"), dt+"/"+hr; got != want {
				t.Errorf("%s: row %s has partition time %s", key, id, got)
			}
			checkRow(t, key, r, kafkaRecs)
		}
	}
	var missing, doubled int
	for id := range kafkaRecs {
		switch seen[id] {
		case 0:
			missing++
		case 1:
		default:
			doubled++
		}
	}
	for id := range seen {
		if _, ok := kafkaRecs[id]; !ok {
			t.Errorf("%s lake: a row of %s, which Kafka does not hold", format, id)
		}
	}
	if missing > 0 || doubled > 0 {
		t.Errorf("%s lake: %d of %d records missing, %d in more than one object", format, missing, len(kafkaRecs), doubled)
	}
	for key := range objects {
		if dataRE.MatchString(key) && inManifests[key] != 1 {
			t.Errorf("%s is in %d manifests, want 1", key, inManifests[key])
		}
	}
	if manifests == 0 {
		t.Errorf("%s lake: no manifests", format)
	}
	t.Logf("%s lake: %d data objects, %d manifests, %d rows", format, data, manifests, len(seen))
}

func checkManifest(ctx context.Context, t *testing.T, c *s3.Client, key string, m []string, objects map[string]int64, in map[string]int) {
	t.Helper()
	var man struct {
		Entries []struct {
			URL       string `json:"url"`
			Mandatory bool   `json:"mandatory"`
			Meta      struct {
				ContentLength int64 `json:"content_length"`
			} `json:"meta"`
		} `json:"entries"`
	}
	body := getMinIO(ctx, t, c, key)
	if err := json.Unmarshal(body, &man); err != nil || len(man.Entries) == 0 {
		t.Errorf("manifest %s: %v: %s", key, err, body)
		return
	}
	if m[1] != m[2] {
		t.Errorf("manifest %s: folder of topic %s, name of topic %s", key, m[1], m[2])
	}
	// The flush's first offset is the first offset of one of its objects.
	wantFirst := "/" + m[2] + "+" + m[3] + "+" + m[4] + "."
	var firstFound bool
	var prev string
	for _, e := range man.Entries {
		obj, ok := strings.CutPrefix(e.URL, "s3://"+minioBucket+"/")
		if !ok || !e.Mandatory {
			t.Errorf("manifest %s: entry %+v", key, e)
			continue
		}
		if obj <= prev {
			t.Errorf("manifest %s: %s after %s", key, obj, prev)
		}
		prev = obj
		in[obj]++
		size, ok := objects[obj]
		switch {
		case !ok:
			t.Errorf("manifest %s names %s, which MinIO does not hold", key, obj)
		case size != e.Meta.ContentLength:
			t.Errorf("manifest %s: %s has content_length %d, MinIO %d bytes", key, obj, e.Meta.ContentLength, size)
		}
		if !strings.Contains(obj, "/"+m[2]+"/") || !strings.Contains(obj, "/"+m[2]+"+"+m[3]+"+") {
			t.Errorf("manifest %s names %s, of another topic partition", key, obj)
		}
		if strings.Contains(obj, wantFirst) {
			firstFound = true
		}
	}
	if !firstFound {
		t.Errorf("manifest %s: no object starts at the flush's first offset", key)
	}
}

func checkRow(t *testing.T, key string, r lakeRow, kafkaRecs map[string]kafkaRecord) {
	t.Helper()
	id := recordID(r.topic, r.partition, r.offset)
	want, ok := kafkaRecs[id]
	if !ok {
		return // reported once, by the caller
	}
	if r.key != want.key || r.value != want.value || r.tsMilli != want.tsMilli {
		t.Errorf("%s: row %s\n got key %q ts %d value %s\nwant key %q ts %d value %s",
			key, id, r.key, r.tsMilli, r.value, want.key, want.tsMilli, want.value)
		return
	}
	var v struct {
		EventName string `json:"eventName"`
		Dynamodb  struct {
			SequenceNumber string
		} `json:"dynamodb"`
		EventID     string `json:"event_id"`
		EventNameEv string `json:"event_name"`
	}
	_ = json.Unmarshal([]byte(want.value), &v)
	switch r.topic {
	case minioCDC:
		if r.eventName != v.EventName || r.seq != v.Dynamodb.SequenceNumber || r.seq == "" {
			t.Errorf("%s: CDC row %s: event_name %q sequence_number %q, the record says %q %q",
				key, id, r.eventName, r.seq, v.EventName, v.Dynamodb.SequenceNumber)
		}
	case minioEvents:
		if r.eventName != v.EventNameEv || r.eventID != v.EventID || r.eventID == "" {
			t.Errorf("%s: event row %s: event_name %q event_id %q, the event says %q %q",
				key, id, r.eventName, r.eventID, v.EventNameEv, v.EventID)
		}
	}
}

func decodeJSONL(t *testing.T, key string, body []byte) []lakeRow {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("%s: %v", key, err)
	}
	var rows []lakeRow
	sc := bufio.NewScanner(zr)
	sc.Buffer(nil, 16<<20)
	for sc.Scan() {
		var j struct {
			Topic          string          `json:"topic"`
			Partition      int32           `json:"partition"`
			Offset         int64           `json:"offset"`
			Timestamp      string          `json:"timestamp"`
			Key            string          `json:"key"`
			KeyEncoding    string          `json:"key_encoding"`
			Value          json.RawMessage `json:"value"`
			ValueEncoding  string          `json:"value_encoding"`
			EventName      string          `json:"event_name"`
			SequenceNumber string          `json:"sequence_number"`
			Approx         string          `json:"approximate_creation_time"`
			EventID        string          `json:"event_id"`
			OccurredAt     string          `json:"occurred_at"`
		}
		if err := json.Unmarshal(sc.Bytes(), &j); err != nil {
			t.Fatalf("%s: %v: %s", key, err, sc.Bytes())
		}
		if j.KeyEncoding != "" || j.ValueEncoding != "" {
			t.Errorf("%s: row %d/%d encoded (%q, %q): every key and value here is text and JSON", key, j.Partition, j.Offset, j.KeyEncoding, j.ValueEncoding)
		}
		r := lakeRow{
			topic: j.Topic, partition: j.Partition, offset: j.Offset, key: j.Key,
			value: compactJSON(t, j.Value), eventName: j.EventName, seq: j.SequenceNumber, eventID: j.EventID,
		}
		r.tsMilli = parseMilli(t, key, j.Timestamp)
		r.partTime = r.tsMilli
		for _, s := range []string{j.Approx, j.OccurredAt} {
			if s != "" {
				r.partTime = parseMilli(t, key, s)
			}
		}
		rows = append(rows, r)
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("%s: %v", key, err)
	}
	return rows
}

// parseMilli reads SCHEMA.md's times: RFC 3339, UTC, milliseconds.
func parseMilli(t *testing.T, key, s string) int64 {
	t.Helper()
	at, err := time.Parse("2006-01-02T15:04:05.000Z", s)
	if err != nil {
		t.Fatalf("%s: time %q: %v", key, s, err)
	}
	return at.UnixMilli()
}

func decodeParquet(t *testing.T, key string, body []byte) []lakeRow {
	t.Helper()
	prows, err := parquet.Read[lake.ParquetRow](bytes.NewReader(body), int64(len(body)))
	if err != nil {
		t.Fatalf("%s: %v", key, err)
	}
	str := func(p *string) string {
		if p == nil {
			return ""
		}
		return *p
	}
	rows := make([]lakeRow, len(prows))
	for i, p := range prows {
		if p.KeyEncoding != nil || p.ValueEncoding != nil || p.Value == nil {
			t.Errorf("%s: row %d/%d: key_encoding %v value_encoding %v value %v", key, p.Partition, p.Offset, p.KeyEncoding, p.ValueEncoding, p.Value)
		}
		rows[i] = lakeRow{
			topic: p.Topic, partition: p.Partition, offset: p.Offset, tsMilli: p.Timestamp, key: str(p.Key),
			value: compactJSON(t, []byte(str(p.Value))), eventName: str(p.EventName), seq: str(p.SequenceNumber),
			eventID: str(p.EventID), partTime: p.Timestamp,
		}
		for _, at := range []*int64{p.ApproximateCreationTime, p.OccurredAt} {
			if at != nil {
				rows[i].partTime = *at
			}
		}
	}
	return rows
}

// checkSnapshots checks every snapshot folder MinIO holds: one with a _SUCCESS marker
// has exactly the parts the marker names (a folder without one is a snapshot cut short
// by the SIGKILL); the snapshot res taken last holds the table's final state.
func checkSnapshots(ctx context.Context, t *testing.T, c *s3.Client, res snapshot.Result, final map[string]synthetic.Expected) {
	t.Helper()
	prefix := "raw/jsonl/state/users/"
	objects := listMinIOSizes(ctx, t, c, prefix)
	folders := map[string][]string{}
	for key := range objects {
		rest := strings.TrimPrefix(key, prefix)
		folder, name, ok := strings.Cut(rest, "/")
		if !ok || !strings.HasPrefix(folder, "snapshot=") || strings.Contains(name, "/") {
			t.Errorf("%s: not a name of the snapshot layout", key)
			continue
		}
		folders[folder] = append(folders[folder], name)
	}
	lastFolder := "snapshot=" + res.Timestamp.Format(snapshot.TimestampLayout)
	complete := 0
	for folder, names := range folders {
		if !slices.Contains(names, snapshot.SuccessName) {
			if folder == lastFolder {
				t.Errorf("%s: no %s", folder, snapshot.SuccessName)
			}
			continue
		}
		complete++
		var man struct {
			Table string `json:"table"`
			Rows  int    `json:"rows"`
			Parts []struct {
				Name string `json:"name"`
				Rows int    `json:"rows"`
			} `json:"parts"`
		}
		body := getMinIO(ctx, t, c, prefix+folder+"/"+snapshot.SuccessName)
		if err := json.Unmarshal(body, &man); err != nil || man.Table != "users" {
			t.Errorf("%s/%s: %v: %s", folder, snapshot.SuccessName, err, body)
			continue
		}
		var listed []string
		for _, p := range man.Parts {
			listed = append(listed, p.Name)
		}
		var parts []string
		for _, n := range names {
			if n != snapshot.SuccessName {
				parts = append(parts, n)
			}
		}
		slices.Sort(listed)
		slices.Sort(parts)
		if !slices.Equal(listed, parts) {
			t.Errorf("%s: %s names parts %v, MinIO holds %v", folder, snapshot.SuccessName, listed, parts)
		}
	}
	if complete == 0 {
		t.Error("no snapshot with a _SUCCESS marker")
	}

	live := map[string]synthetic.Expected{}
	for k, e := range final {
		if !e.Deleted {
			live[k] = e
		}
	}
	if res.Rows != len(live) {
		t.Errorf("snapshot has %d rows, the table %d live items", res.Rows, len(live))
	}
	rows := 0
	for _, part := range res.Parts {
		body := getMinIO(ctx, t, c, part)
		got, err := parquet.Read[snapshot.Row](bytes.NewReader(body), int64(len(body)))
		if err != nil {
			t.Fatalf("%s: %v", part, err)
		}
		for _, r := range got {
			rows++
			want, ok := live[r.Key]
			if !ok || r.Item == nil {
				t.Errorf("snapshot row %s: not a live item of the table", r.Key)
				continue
			}
			if g, w := canonicalJSON(t, []byte(*r.Item)), canonicalMap(t, want.Item); g != w {
				t.Errorf("snapshot row %s:\n got %s\nwant %s", r.Key, g, w)
			}
		}
	}
	t.Logf("%d snapshot folders (%d complete); the last has %d rows in %d parts", len(folders), complete, rows, len(res.Parts))
}

// canonicalJSON re-encodes JSON with sorted members and numbers as written.
func canonicalJSON(t *testing.T, b []byte) string {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("not JSON: %v: %s", err, b)
	}
	out, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

func canonicalMap(t *testing.T, m map[string]any) string {
	t.Helper()
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return canonicalJSON(t, b)
}

// checkS3StoreOnMinIO covers what the pipeline's small objects never reach: a multipart
// upload with CRC32 part checksums, and a missing key.
func checkS3StoreOnMinIO(ctx context.Context, t *testing.T) {
	store, err := lake.NewS3Store(ctx, lake.S3Options{Bucket: minioBucket, PathStyle: true, PartSize: lake.MinPartSize})
	if err != nil {
		t.Fatal(err)
	}
	body := make([]byte, 2*lake.MinPartSize+12345)
	for i := range body {
		body[i] = byte(i*7 + i>>13)
	}
	const key = "multipart/big.bin"
	if err := store.Put(ctx, key, body); err != nil {
		t.Fatal(err)
	}
	got, err := store.Get(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, body) {
		t.Errorf("multipart object: %d bytes back, want the %d put", len(got), len(body))
	}
	head, err := store.Client().HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(minioBucket), Key: aws.String(key)})
	if err != nil {
		t.Fatal(err)
	}
	// A multipart ETag is "<md5 of the parts' md5s>-<parts>".
	if etag := aws.ToString(head.ETag); !strings.HasSuffix(strings.Trim(etag, `"`), "-3") {
		t.Errorf("ETag %s: not that of a 3-part upload", etag)
	}
	if _, err := store.Get(ctx, "multipart/missing"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("get of a missing key: %v, want fs.ErrNotExist", err)
	}
	if _, err := store.Client().DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(minioBucket), Key: aws.String(key)}); err != nil {
		t.Fatal(err)
	}
}

// minioWait polls cond until it holds or timeout passes. (The helpers of this file are
// its own: the DynamoDB Local test's change with that test.)
func minioWait(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func minioLogger() *slog.Logger {
	level := slog.LevelWarn
	if os.Getenv("STREAMHUB_TEST_DEBUG") != "" {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
}
