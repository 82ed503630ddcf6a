package collector

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/streamhub/streamhub/kafka"
	"github.com/streamhub/streamhub/topology"
)

const (
	webKey     = "web-key-1"
	billingKey = "billing-key-1"
	anyToken   = "any-token-1"
	dlqTopic   = "test.collector.dlq"
)

func testContext(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// testConfig is the topology of most tests: a web key for two events, a billing key for
// any of its events, a token for anything, a schema for page_view and one route.
func testConfig(t testing.TB, brokers []string) *topology.Config {
	t.Helper()
	cfg := &topology.Config{
		Env: "test",
		Kafka: topology.Kafka{
			Brokers: brokers, ReplicationFactor: 1, MinInsyncReplicas: 1, Compression: "none",
		},
		Collector: &topology.Collector{
			Listen:   "127.0.0.1:0",
			DLQTopic: dlqTopic,
			Tokens:   []string{anyToken},
			Keys: []topology.CollectorKey{
				{Key: webKey, Source: "web", Events: []string{"page_view", "click"}},
				{Key: billingKey, Source: "billing", Events: []string{"*"}},
			},
			Events:     []topology.EventType{{Name: "page_view", Schema: filepath.Join("testdata", "page_view.schema.json")}},
			Routes:     []topology.Route{{Event: "purchase", Topic: "test.purchases"}},
			Partitions: 2,
		},
	}
	cfg.EnsureDefaults()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	return cfg
}

var instances atomic.Int64

type harness struct {
	t       testing.TB
	url     string
	brokers []string
	col     *Collector
	conn    *kafka.Conn
	reg     *prometheus.Registry
}

func startBroker(t testing.TB) *kafka.Embedded {
	t.Helper()
	e, err := kafka.StartEmbedded("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	return e
}

// startCollector serves a collector for cfg on a loopback port.
func startCollector(t testing.TB, cfg *topology.Config, extra ...kgo.Opt) *harness {
	t.Helper()
	return startCollectorWith(t, cfg, Options{KafkaOpts: extra})
}

// startCollectorWith is startCollector with more options; Config, Conn and the metrics
// are filled in.
func startCollectorWith(t testing.TB, cfg *topology.Config, opts Options) *harness {
	t.Helper()
	conn, err := kafka.Connect(testContext(t), cfg.Kafka)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(conn.Close)
	if _, err := conn.EnsureTopics(testContext(t), cfg.Topics()); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	opts.Config, opts.Conn, opts.Registry, opts.Gatherer = cfg, conn, reg, reg
	if opts.InstanceID == "" {
		opts.InstanceID = fmt.Sprintf("%s-%d", strings.ReplaceAll(t.Name(), "/", "_"), instances.Add(1))
	}
	col, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go col.Serve(ln)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		col.Shutdown(ctx)
	})
	return &harness{t: t, url: "http://" + ln.Addr().String(), brokers: cfg.Kafka.Brokers, col: col, conn: conn, reg: reg}
}

type answer struct {
	code   int
	header http.Header
	resp   Response
	err    errorBody
	raw    string
}

type sendOpts struct {
	key         string
	keyHeader   string // "X-API-Key" instead of Authorization
	contentType string
	gzip        bool
	encoding    string
}

func (h *harness) send(body []byte, o sendOpts) answer {
	h.t.Helper()
	if o.gzip {
		var b bytes.Buffer
		zw := gzip.NewWriter(&b)
		zw.Write(body)
		zw.Close()
		body = b.Bytes()
		o.encoding = "gzip"
	}
	req, err := http.NewRequest(http.MethodPost, h.url+"/v1/events", bytes.NewReader(body))
	if err != nil {
		h.t.Fatal(err)
	}
	if o.contentType != "" {
		req.Header.Set("Content-Type", o.contentType)
	}
	if o.encoding != "" {
		req.Header.Set("Content-Encoding", o.encoding)
	}
	req.Header.Set("User-Agent", "collector-test/1")
	if o.key != "" {
		if o.keyHeader != "" {
			req.Header.Set(o.keyHeader, o.key)
		} else {
			req.Header.Set("Authorization", "Bearer "+o.key)
		}
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	a := answer{code: res.StatusCode, header: res.Header, raw: string(raw)}
	if res.StatusCode == http.StatusOK || res.StatusCode == http.StatusForbidden {
		if err := json.Unmarshal(raw, &a.resp); err != nil {
			h.t.Fatalf("answer %d %q: %v", res.StatusCode, raw, err)
		}
	} else if err := json.Unmarshal(raw, &a.err); err != nil {
		h.t.Fatalf("answer %d %q: %v", res.StatusCode, raw, err)
	}
	return a
}

var uuidN atomic.Int64

// newID returns a fresh UUID-shaped event ID.
func newID() string {
	return fmt.Sprintf("00000000-0000-4000-8000-%012d", uuidN.Add(1))
}

// event builds an envelope; mods change it after the defaults.
func event(name, source string, mods ...func(map[string]any)) map[string]any {
	e := map[string]any{
		"event_id":    newID(),
		"event_name":  name,
		"occurred_at": "2026-11-25T12:00:00.123Z",
		"source":      source,
		"app":         map[string]any{"id": "shop", "version": "1.2.3"},
		"device":      map[string]any{"id": "d-1"},
		"user":        map[string]any{"id": "u-1"},
		"payload":     map[string]any{"url": "/home"},
	}
	for _, m := range mods {
		m(e)
	}
	return e
}

func id(e map[string]any) string { s, _ := e["event_id"].(string); return s }

func asArray(events ...map[string]any) []byte {
	b, _ := json.Marshal(events)
	return b
}

func asNDJSON(events ...any) []byte {
	var b bytes.Buffer
	for _, e := range events {
		if s, ok := e.(string); ok {
			b.WriteString(s)
		} else {
			j, _ := json.Marshal(e)
			b.Write(j)
		}
		b.WriteByte('\n')
	}
	return b.Bytes()
}

const sentinelHeader = "streamhub.test.sentinel"

// readCommitted reads a topic to its end as a read_committed consumer: a sentinel
// record is produced into each partition and the topic is read until every sentinel is
// seen, so records of transactions still open are waited for, not missed.
func readCommitted(t *testing.T, brokers []string, topic string) []*kgo.Record {
	t.Helper()
	ctx := testContext(t)
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	nonce := fmt.Sprint(time.Now().UnixNano())
	var sentinels []*kgo.Record
	ends.Each(func(o kadm.ListedOffset) {
		if o.Err != nil {
			t.Fatalf("end offset of %s/%d: %v", o.Topic, o.Partition, o.Err)
		}
		sentinels = append(sentinels, &kgo.Record{Topic: topic, Partition: o.Partition,
			Headers: []kgo.RecordHeader{{Key: sentinelHeader, Value: []byte(nonce)}}})
	})
	if len(sentinels) == 0 {
		t.Fatalf("topic %s has no partitions", topic)
	}
	if err := cl.ProduceSync(ctx, sentinels...).FirstErr(); err != nil {
		t.Fatalf("sentinels into %s: %v", topic, err)
	}
	var out []*kgo.Record
	for seen := 0; seen < len(sentinels); {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("read %s: %d of %d partitions read to their end: %v", topic, seen, len(sentinels), err)
		}
		fs.EachError(func(_ string, _ int32, err error) { t.Fatalf("fetch %s: %v", topic, err) })
		for _, r := range fs.Records() {
			if v, ok := header(r, sentinelHeader); ok {
				if v == nonce {
					seen++
				}
				continue
			}
			out = append(out, r)
		}
	}
	return out
}

// topicIDs reads a topic and returns the event IDs of its records (header), sorted.
func topicIDs(t *testing.T, brokers []string, topic string) []string {
	t.Helper()
	var ids []string
	for _, r := range readCommitted(t, brokers, topic) {
		v, _ := header(r, HeaderEventID)
		ids = append(ids, v)
	}
	sort.Strings(ids)
	return ids
}

func topicExists(t *testing.T, brokers []string, topic string) bool {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	d, err := kadm.NewClient(cl).ListTopics(testContext(t), topic)
	if err != nil {
		t.Fatal(err)
	}
	return d.Has(topic) && d[topic].Err == nil
}

func header(r *kgo.Record, key string) (string, bool) {
	for _, h := range r.Headers {
		if h.Key == key {
			return string(h.Value), true
		}
	}
	return "", false
}

func sorted(s ...string) []string {
	out := append([]string(nil), s...)
	sort.Strings(out)
	if len(out) == 0 {
		return nil
	}
	return out
}

var _ = kfake.DataDir
