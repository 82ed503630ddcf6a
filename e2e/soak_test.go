package e2e

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/streamhub/streamhub/emitters/lake"
	"github.com/streamhub/streamhub/kafka"
	"github.com/streamhub/streamhub/pipeline"
	"github.com/streamhub/streamhub/sources/dynamodb/ddbtest"
	"github.com/streamhub/streamhub/topology"
)

var (
	soakDuration = flag.Duration("soak.duration", 60*time.Second,
		"TestSoak: how long the workload and the faults run; the default is CI's short mode, e.g. 30m soaks")
	soakSeed = flag.Uint64("soak.seed", 0, "TestSoak: seed of the workload and of the fault timing; 0 picks one (logged)")
	soakRate = flag.Int("soak.rate", 40, "TestSoak: writes per second to each table, and events per second from each collector client")
)

// TestSoak runs the whole platform as real processes and breaks it on a schedule. Two
// ddbtest tables (4 and 3 shards, split while they run) take puts, updates, deletes, TTL
// expiries and re-creates; two collector clients send events. Against a broker in the
// test process, gofakes3 and the real PostgreSQL run `streamhub bridge` ×2, `process` ×2,
// `serve`, `collect`, `emit` for an S3 lake sink and `emit` for a PostgreSQL sink. While
// the workload runs, every one of them is SIGKILLed and restarted at least once, the
// broker fails Produce and Fetch requests, DynamoDB Streams throttles, fails with 500s and
// expires every iterator, and the PostgreSQL sink's connection is terminated in the middle
// of a flush; a few deliberately invalid CDC records and events are sent too. Then, with
// nothing but time: PostgreSQL's state tables equal the test's own model of each table
// row by row, the view API answers the model for every key, the CDC topics and the lake
// hold every stream record and every accepted event exactly once, and the DLQ holds
// exactly the invalid ones. -soak.duration makes it a long soak (the faults repeat).
func TestSoak(t *testing.T) {
	need := *soakDuration + 4*time.Minute + *soakDuration/5
	if d, ok := t.Deadline(); ok && time.Until(d) < need {
		t.Fatalf("-soak.duration %s needs about %s before the test deadline: run with -timeout %s",
			*soakDuration, need.Round(time.Minute), (need + 5*time.Minute).Round(time.Minute))
	}
	bin := streamhubBinary(t)
	dsn, db := pgConn(t)
	began := time.Now()
	seed := *soakSeed
	if seed == 0 {
		seed = rand.Uint64()
	}
	rng := rand.New(rand.NewPCG(seed, 0x50a))
	t.Logf("soak: %s of faults and load, seed %d (-soak.seed=%d repeats the workload)", *soakDuration, seed, seed)

	schema := fmt.Sprintf("soak_%d", rng.Uint32())
	if _, err := db.Exec(context.Background(), "CREATE SCHEMA "+schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Exec(context.Background(), "DROP SCHEMA IF EXISTS "+schema+" CASCADE") })

	broker, err := kafka.StartEmbedded("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(broker.Close)
	ddb := ddbtest.New(ddbtest.WithSeed(int64(seed)))
	t.Cleanup(ddb.Close)
	tables := []*soakTable{
		newSoakTable(t, ddb, ddbtest.TableSpec{Name: "users", HashKey: "pk", RangeKey: "sk", Shards: 4}, 500, seed),
		newSoakTable(t, ddb, ddbtest.TableSpec{Name: "orders", HashKey: "id", HashKeyType: "N", Shards: 3}, 300, seed+1),
	}
	be := s3mem.New()
	if err := be.CreateBucket("soak-lake"); err != nil {
		t.Fatal(err)
	}
	s3srv := httptest.NewServer(gofakes3.New(be).Server())
	t.Cleanup(s3srv.Close)

	// One topology for every role; the two emit processes each get a copy with their sink.
	dir := t.TempDir()
	serveAddr, collectAddr := soakAddr(t), soakAddr(t)
	pgApp := "soak-pg-" + schema
	base := fmt.Sprintf(`env: soak
kafka:
  brokers: [%s]
  replication_factor: 1
  min_insync_replicas: 1
tables:
  - name: users
    keys: [pk, sk]
    version_attribute: updatedAt
    partitions: 4
    columns:
      - {name: score, path: score, type: int}
  - name: orders
    keys: [id]
    partitions: 3
sources:
  - {type: dynamodb, table: users, endpoint: %[2]s, region: us-east-1, poll_interval: 100ms}
  - {type: dynamodb, table: orders, endpoint: %[2]s, region: us-east-1, poll_interval: 100ms}
bridge:
  leases: 4
  discovery_interval: 500ms
  max_backoff: 1s
api:
  listen: %s
processor:
  storage_dir: %s
  shutdown_timeout: 15s
collector:
  listen: %s
  partitions: 3
`, strings.Join(broker.Addrs(), ", "), ddb.URL(), serveAddr, filepath.Join(dir, "state"), collectAddr)
	eventTopics := map[string]string{"web": "soak.web.page_view", "game": "soak.game.level_up"}
	lakeSink := fmt.Sprintf(`sinks:
  - name: lake
    type: s3
    bucket: soak-lake
    prefix: lake
    endpoint: %s
    region: us-east-1
    path_style: true
    topics: [soak.users.cdc, soak.orders.cdc, %s, %s]
    buffer: {count_records: 1000, flush_time: 500ms}
`, s3srv.URL, eventTopics["web"], eventTopics["game"])
	pgSink := fmt.Sprintf(`sinks:
  - name: pg
    type: postgres
    dsn: %q
    schema: %s
    deletes: soft
    tables: [users, orders]
    buffer: {count_records: 500, flush_time: 300ms}
`, withAppName(dsn, pgApp), schema)
	files := map[string]string{"topology.yaml": base, "lake.yaml": base + lakeSink, "pg.yaml": base + pgSink}
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cfg, err := topology.Load(filepath.Join(dir, "topology.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	topicOf := map[string]string{}
	for _, tb := range cfg.Tables {
		topicOf[tb.Name] = tb.Topic
	}
	conn, err := kafka.Connect(context.Background(), cfg.Kafka)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(conn.Close)
	if _, err := pipeline.ApplyTopics(context.Background(), conn, cfg, testLogger(t)); err != nil {
		t.Fatal(err)
	}
	// The lake sink subscribes to the event topics before the collector would create them.
	var specs []topology.TopicSpec
	for _, topic := range eventTopics {
		specs = append(specs, topology.TopicSpec{Name: topic, Partitions: 3})
	}
	if _, err := conn.EnsureTopics(context.Background(), specs); err != nil {
		t.Fatal(err)
	}

	env := []string{"AWS_ACCESS_KEY_ID=AKIDSOAK", "AWS_SECRET_ACCESS_KEY=secret", "AWS_REGION=us-east-1"}
	topo := filepath.Join(dir, "topology.yaml")
	role := func(name, activity string, args ...string) *soakComponent {
		ops := soakAddr(t)
		c := &soakComponent{name: name, env: env, ops: ops, activity: activity,
			args: append(args, "--instance", name, "--ops-listen", ops, "--log-level", "warn")}
		return c
	}
	bridgeA := role("bridge-a", "streamhub_bridge_records_total{", "bridge", "-c", topo)
	bridgeB := role("bridge-b", "streamhub_bridge_records_total{", "bridge", "-c", topo)
	procA := role("process-a", "streamhub_processor_events_total{", "process", "-c", topo)
	procB := role("process-b", "streamhub_processor_events_total{", "process", "-c", topo)
	serve := role("serve", "streamhub_view_lookups_total{", "serve", "-c", topo, "--listen", serveAddr)
	serve.ops = serveAddr // the view API serves its own /metrics
	collect := role("collect", "streamhub_collector_events_accepted_total{", "collect", "-c", topo, "--listen", collectAddr)
	emitLake := role("emit-lake", "streamhub_sink_records_total{", "emit", "-c", filepath.Join(dir, "lake.yaml"))
	emitPG := role("emit-pg", "streamhub_sink_records_total{", "emit", "-c", filepath.Join(dir, "pg.yaml"))
	components := []*soakComponent{bridgeA, bridgeB, procA, procB, serve, collect, emitLake, emitPG}
	for _, c := range components {
		c.start(t, bin)
	}
	alive := func() {
		t.Helper()
		for _, c := range components {
			if c.proc.exited() {
				t.Fatalf("%s exited on its own: %v", c.name, c.proc.err)
			}
		}
	}
	ready := func(addr string) func() bool {
		return func() bool {
			alive()
			resp, err := http.Get("http://" + addr + "/readyz")
			if err != nil {
				return false
			}
			resp.Body.Close()
			return resp.StatusCode == http.StatusOK
		}
	}
	waitFor(t, "the collector ready", 60*time.Second, ready(collectAddr))
	waitFor(t, "the view API ready", 60*time.Second, ready(serveAddr))
	t.Logf("soak: 8 processes up after %s", time.Since(began).Round(time.Millisecond))

	// The workload: one writer per table, one collector client per event source.
	ev, senders := newSoakEvents(t, "http://"+collectAddr, [][2]string{{"web", "page_view"}, {"game", "level_up"}})
	writeCtx, stopWriting := context.WithCancel(context.Background())
	defer stopWriting()
	var writers sync.WaitGroup
	werr := make(chan error, len(tables)+len(senders))
	every := time.Second / time.Duration(max(*soakRate, 1))
	loop := func(step func() error) {
		writers.Add(1)
		go func() {
			defer writers.Done()
			tick := time.NewTicker(every)
			defer tick.Stop()
			for {
				select {
				case <-writeCtx.Done():
					return
				case <-tick.C:
				}
				if err := step(); err != nil {
					if writeCtx.Err() == nil {
						werr <- err
					}
					return
				}
			}
		}()
	}
	for _, tb := range tables {
		loop(tb.step)
	}
	for _, s := range senders {
		loop(func() error { return ev.send(writeCtx, s, eventTopics[s.source]) })
	}

	// A reader keeps the view API busy, so its kill lands among lookups; it counts answers
	// and failures (a killed serve cannot answer until it is back and has recovered).
	reader := startViewReader(writeCtx, &writers, serveAddr, tables)

	// The schedule. Each step is logged; kinds count in the summary.
	cluster := broker.Cluster()
	var faultHandles []*kfake.FaultHandle
	brokerFault := func(what string, f ...kfake.Fault) string {
		h := cluster.Fault(f...)
		faultHandles = append(faultHandles, h)
		time.AfterFunc(5*time.Second, h.Remove)
		return what
	}
	injectedCDC := map[string]string{} // Kafka key → table
	invalidRound := 0
	type step struct {
		kind string
		do   func() string
	}
	kill := func(c *soakComponent) step {
		return step{"kill", func() string {
			return c.killAndRestart(t, bin, time.Duration(rng.IntN(800))*time.Millisecond)
		}}
	}
	split := func(tb *soakTable) step {
		return step{"split", func() string {
			var open []ddbtest.ShardInfo
			for _, s := range ddb.Shards(tb.name) {
				if s.Open {
					open = append(open, s)
				}
			}
			s := open[rng.IntN(len(open))]
			l, r, err := ddb.SplitShard(tb.name, s.ID)
			if err != nil {
				t.Fatal(err)
			}
			return fmt.Sprintf("split %s shard %s (%d records) into %s and %s", tb.name, s.ID, s.Records, l, r)
		}}
	}
	steps := []step{
		split(tables[0]),
		kill(bridgeA),
		{"aws", func() string {
			ddb.SetFaults(ddbtest.Faults{ThrottleRate: 0.3, ServerErrorRate: 0.05})
			time.AfterFunc(4*time.Second, func() { ddb.SetFaults(ddbtest.Faults{}) })
			return "DynamoDB Streams: 30% of GetRecords, GetShardIterator and DescribeStream throttled, 5% InternalServerError, for 4s"
		}},
		kill(procA),
		{"broker", func() string {
			return brokerFault("broker: 25 Produce requests to each CDC topic fail with NOT_LEADER_FOR_PARTITION",
				kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Topic: topicOf["users"], Err: kerr.NotLeaderForPartition, Count: 25},
				kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Topic: topicOf["orders"], Err: kerr.NotLeaderForPartition, Count: 25})
		}},
		{"invalid", func() string {
			invalidRound++
			recs := invalidCDC(invalidRound, topicOf)
			cl, err := conn.Client()
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Close()
			if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
				t.Fatal(err)
			}
			var keys []string
			for _, r := range recs {
				injectedCDC[string(r.Key)] = r.Topic
				keys = append(keys, string(r.Key))
			}
			return fmt.Sprintf("produced %d invalid CDC records: %s", len(recs), strings.Join(keys, ", "))
		}},
		kill(emitPG),
		kill(collect),
		{"aws", func() string {
			ddb.ExpireIterators()
			return "DynamoDB Streams: every shard iterator handed out so far expired"
		}},
		kill(serve),
		{"postgres", func() string {
			// Not the restarted sink's DDL: a flush of the instance that runs now.
			waitFor(t, "the restarted PostgreSQL sink to flush", 60*time.Second, func() bool { return emitPG.work() > 0 })
			return dropMidFlush(t, db, pgApp)
		}},
		{"broker", func() string {
			return brokerFault("broker: 40 Fetch requests fail with NOT_LEADER_FOR_PARTITION (any topic)",
				kfake.Fault{Keys: []kmsg.Key{kmsg.Fetch}, Err: kerr.NotLeaderForPartition, Count: 40})
		}},
		{"invalid", func() string {
			invalidRound++
			var ids []string
			for _, s := range senders {
				got, err := ev.sendInvalid(writeCtx, s, invalidRound)
				if err != nil {
					t.Fatal(err)
				}
				ids = append(ids, got...)
			}
			return fmt.Sprintf("sent %d invalid events: %s", len(ids), strings.Join(ids, ", "))
		}},
		kill(emitLake),
		split(tables[1]),
		kill(bridgeB),
		{"broker", func() string {
			var fs []kfake.Fault
			for _, topic := range eventTopics {
				fs = append(fs, kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Topic: topic, Err: kerr.NotLeaderForPartition, Count: 10})
			}
			return brokerFault("broker: 10 Produce requests to each event topic fail with NOT_LEADER_FOR_PARTITION", fs...)
		}},
		kill(procB),
		{"broker", func() string {
			// REQUEST_TIMED_OUT on Produce is answered after the append (kfake, like a real
			// broker that timed out waiting for replicas): the retry must not double it.
			return brokerFault("broker: 5 EndTxn fail with NOT_COORDINATOR, 5 OffsetCommit with COORDINATOR_LOAD_IN_PROGRESS, "+
				"5 AddPartitionsToTxn with CONCURRENT_TRANSACTIONS, 10 Produce with REQUEST_TIMED_OUT after appending",
				kfake.Fault{Keys: []kmsg.Key{kmsg.EndTxn}, Err: kerr.NotCoordinator, Count: 5},
				kfake.Fault{Keys: []kmsg.Key{kmsg.OffsetCommit}, Err: kerr.CoordinatorLoadInProgress, Count: 5},
				kfake.Fault{Keys: []kmsg.Key{kmsg.AddPartitionsToTxn}, Err: kerr.ConcurrentTransactions, Count: 5},
				kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Err: kerr.RequestTimedOut, Count: 10})
		}},
	}
	// Steps are spread evenly over the duration, each at a jittered moment of its slot; a
	// long soak goes round the list again until the time is up.
	gap := min(max(*soakDuration/time.Duration(len(steps)), 2*time.Second), 20*time.Second)
	counts := map[string]int{}
	start := time.Now()
	for n := 0; ; n++ {
		s := steps[n%len(steps)]
		next := start.Add(time.Duration(n)*gap + gap/4 + time.Duration(rng.Int64N(int64(gap/2))))
		if n >= len(steps) && next.After(start.Add(*soakDuration)) {
			break
		}
		for time.Now().Before(next) {
			alive()
			select {
			case err := <-werr:
				t.Fatal(err)
			default:
			}
			time.Sleep(100 * time.Millisecond)
		}
		counts[s.kind]++
		t.Logf("[%6.1fs] %s", time.Since(start).Seconds(), s.do())
	}
	for time.Since(start) < *soakDuration {
		alive()
		time.Sleep(100 * time.Millisecond)
	}
	stopWriting()
	writers.Wait()
	select {
	case err := <-werr:
		t.Fatal(err)
	default:
	}
	closeCtx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	err = ev.close(closeCtx)
	cancel()
	if err != nil {
		t.Errorf("collector clients: %v", err)
	}
	ddb.SetFaults(ddbtest.Faults{})
	for _, h := range faultHandles {
		h.Remove()
	}
	loadEnd := time.Now()
	t.Logf("[%6.1fs] load stopped: %s; %s; events: %+v", loadEnd.Sub(start).Seconds(),
		tables[0].countsText(), tables[1].countsText(), ev.stats())
	for _, tb := range tables {
		tb.checkModelAgainstTable(t)
	}
	ev.checkOutcomes(t)

	// Convergence: with the faults over, everything must agree with the model.
	var invalidEvents = map[string]bool{}
	ev.mu.Lock()
	for id := range ev.invalid {
		invalidEvents[id] = true
	}
	ev.mu.Unlock()
	dlqTail := newSoakTail(t, conn, cfg.Processor.DLQTopic)
	store, err := lake.NewS3Store(context.Background(), lake.S3Options{
		Bucket: "soak-lake", Endpoint: s3srv.URL, Region: "us-east-1", PathStyle: true, AWS: bridgeAWS(),
	})
	if err != nil {
		t.Fatal(err)
	}
	var diffs []string
	var dlqDups, lakeDups, lakeObjects, lakeRows int
	lakeRead := &lakeReader{store: store, prefix: "lake/"}
	cached := true
	converged := map[string]time.Duration{}
	checks := []struct {
		name string
		diff func() []string
	}{
		{"DLQ", func() []string {
			dlqTail.drain(500 * time.Millisecond)
			var d []string
			d, dlqDups = diffDLQ(dlqTail, injectedCDC, invalidEvents)
			return append(d, dlqTail.errs...)
		}},
		{"view API", func() []string { return diffView(serveAddr, tables) }},
		{"PostgreSQL", func() []string { return diffSoakPostgres(db, schema, tables) }},
		{"lake", func() []string {
			rows, objects, err := lakeRead.read(context.Background(), cached)
			if err != nil {
				return []string{err.Error()}
			}
			lakeObjects, lakeRows = objects, len(rows)
			var d []string
			d, lakeDups = diffLake(rows, tables, topicOf, injectedCDC, ev)
			return d
		}},
	}
	// A long soak's lake takes a while to read under -race.
	deadline := time.Now().Add(3*time.Minute + *soakDuration/10)
	for _, c := range checks {
		lastLog := time.Now()
		for {
			alive()
			if diffs = c.diff(); len(diffs) == 0 {
				converged[c.name] = time.Since(loadEnd)
				break
			}
			if time.Now().After(deadline) {
				break
			}
			if time.Since(lastLog) >= 5*time.Second {
				lastLog = time.Now()
				t.Logf("[%6.1fs] %s: %d differences left, e.g. %s", time.Since(start).Seconds(), c.name, len(diffs), diffs[0])
			}
			time.Sleep(time.Second)
		}
		if len(diffs) > 0 {
			t.Errorf("%s never agreed with the model (%d differences):", c.name, len(diffs))
			for i, d := range diffs {
				if i == 15 {
					t.Errorf("... and %d more", len(diffs)-15)
					break
				}
				t.Error(d)
			}
		}
	}
	convergedIn := time.Since(loadEnd)
	// A last pass of every check, now that each has agreed once: nothing moved back, and
	// the lake read whole again.
	cached = false
	for _, c := range checks {
		if d := c.diff(); len(d) > 0 && len(diffs) == 0 {
			t.Errorf("%s disagreed again after converging: %s", c.name, d[0])
		}
	}
	stopped := stopAll(t, components, 45*time.Second)
	logged := scanLogs(t, components)

	var kinds []string
	total := 0
	for k, n := range counts {
		if k != "invalid" && k != "split" {
			total += n
		}
		kinds = append(kinds, fmt.Sprintf("%s %d", k, n))
	}
	sort.Strings(kinds)
	st := ev.stats()
	ambiguous := len(ev.ambiguous)
	t.Logf(`soak summary (seed %d, %s of load, %s in all):
  users:    %s
  orders:   %s
  events:   %d accepted, %d rejected (invalid on purpose), %d failed; %d requests, %d events re-sent, %d in requests whose answer was lost
  faults:   %d injected (%s); restarts %s
  converged %s after the load stopped (%s)
  lake:     %d objects, %d rows, %d event copies from re-sent requests; DLQ copies beyond the first %d
  view API during the load: %s
  SIGTERM:  exit 0 after %s
  logged:   %s`,
		seed, loadEnd.Sub(start).Round(time.Second), time.Since(began).Round(time.Second),
		tables[0].countsText(), tables[1].countsText(),
		st.Accepted, st.Rejected, st.Failed, st.Requests, st.Retried, ambiguous,
		total, strings.Join(kinds, ", "), restarts(components),
		convergedIn.Round(100*time.Millisecond), convergedText(converged), lakeObjects, lakeRows, lakeDups, dlqDups,
		reader.text(), stopped, logged)
}

type viewReader struct {
	mu                  sync.Mutex
	ok, notFound, other int
	refused             int
}

// startViewReader looks random keys of the model up in the view API, 50 a second.
func startViewReader(ctx context.Context, wg *sync.WaitGroup, addr string, tables []*soakTable) *viewReader {
	r := &viewReader{}
	hc := &http.Client{Timeout: 2 * time.Second}
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			tb := tables[i%len(tables)]
			_, key := tb.keyOf(rand.IntN(tb.items))
			q := url.Values{}
			for k, v := range tb.queryOf(key) {
				q.Set(k, v)
			}
			resp, err := hc.Get("http://" + addr + "/v1/tables/" + tb.name + "/item?" + q.Encode())
			r.mu.Lock()
			switch {
			case err != nil:
				r.refused++
			case resp.StatusCode == http.StatusOK:
				r.ok++
			case resp.StatusCode == http.StatusNotFound:
				r.notFound++
			default:
				r.other++
			}
			r.mu.Unlock()
			if err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		}
	}()
	return r
}

func (r *viewReader) text() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return fmt.Sprintf("%d lookups found, %d not found, %d other answers (503 while recovering), %d without an answer (serve down)",
		r.ok, r.notFound, r.other, r.refused)
}

func restarts(cs []*soakComponent) string {
	var parts []string
	for _, c := range cs {
		parts = append(parts, fmt.Sprintf("%s %d", c.name, c.starts-1))
	}
	return strings.Join(parts, ", ")
}

func convergedText(m map[string]time.Duration) string {
	var parts []string
	for k, d := range m {
		parts = append(parts, fmt.Sprintf("%s %s", k, d.Round(100*time.Millisecond)))
	}
	sort.Strings(parts)
	return strings.Join(parts, ", ")
}

// invalidCDC are records no DynamoDB stream writes, produced straight into the CDC topics:
// broken JSON, an unknown eventName, and a record without the table's key attribute.
// The processor must dead-letter each; the lake, which copies the topic raw, keeps each.
func invalidCDC(round int, topicOf map[string]string) []*kgo.Record {
	rec := func(topic, key, value string) *kgo.Record {
		return &kgo.Record{Topic: topic, Key: []byte(key), Value: []byte(value)}
	}
	k := func(what string) string { return fmt.Sprintf("soak-invalid-%s-%d", what, round) }
	return []*kgo.Record{
		rec(topicOf["users"], k("json"), `{"eventID":"`+k("json")+`","eventName":"INSERT","dynamodb":{"Keys":`),
		rec(topicOf["users"], k("event"), `{"eventID":"`+k("event")+`","eventName":"UPSERT","eventVersion":"1.1","eventSource":"aws:dynamodb","awsRegion":"us-east-1",`+
			`"dynamodb":{"ApproximateCreationDateTime":1767225600,"Keys":{"pk":{"S":"x"},"sk":{"S":"y"}},"NewImage":{"pk":{"S":"x"},"sk":{"S":"y"}},"SequenceNumber":"100","SizeBytes":10,"StreamViewType":"NEW_AND_OLD_IMAGES"}}`),
		rec(topicOf["orders"], k("key"), `{"eventID":"`+k("key")+`","eventName":"INSERT","eventVersion":"1.1","eventSource":"aws:dynamodb","awsRegion":"us-east-1",`+
			`"dynamodb":{"ApproximateCreationDateTime":1767225600,"Keys":{"other":{"S":"x"}},"NewImage":{"other":{"S":"x"}},"SequenceNumber":"101","SizeBytes":10,"StreamViewType":"NEW_AND_OLD_IMAGES"}}`),
	}
}

// dropMidFlush waits for the PostgreSQL sink to be inside a transaction of several
// statements (a flush: stage, COPY, upsert, offsets; not a lone statement such as a ping)
// and terminates that backend, as a network cut or a failover would.
func dropMidFlush(t *testing.T, db *pgx.Conn, app string) string {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		var pid int
		var state, query string
		err := db.QueryRow(context.Background(), `SELECT pid, coalesce(state, ''), left(coalesce(query, ''), 80) FROM pg_stat_activity
WHERE application_name = $1 AND pid <> pg_backend_pid()
  AND (state LIKE 'idle in transaction%' OR state = 'active' AND xact_start < query_start) LIMIT 1`, app).Scan(&pid, &state, &query)
		if err == nil {
			var ok bool
			if err := db.QueryRow(context.Background(), `SELECT pg_terminate_backend($1)`, pid).Scan(&ok); err != nil {
				t.Fatal(err)
			}
			return fmt.Sprintf("PostgreSQL: terminated the sink's backend %d mid-flush (%s: %q): %v", pid, state, query, ok)
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			t.Fatal(err)
		}
		time.Sleep(2 * time.Millisecond)
	}
	t.Fatalf("the PostgreSQL sink (application_name %s) was never seen inside a flush in 20s", app)
	return ""
}
