package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/streamhub/streamhub/kafka"
	"github.com/streamhub/streamhub/sources/collector"
	"github.com/streamhub/streamhub/sources/collector/client"
	"github.com/streamhub/streamhub/topology"
)

// The tests in this file run the client against the real collector (sources/collector)
// on the embedded broker, so that the fake server of the other tests cannot drift from
// the protocol unnoticed.

const (
	gameKey = "game-key"
	dlq     = "it.collector.dlq"
)

var instance atomic.Int64

type realCollector struct {
	url  string
	conn *kafka.Conn
	cfg  *topology.Config
}

func startCollector(t *testing.T, edit func(*topology.Collector)) *realCollector {
	t.Helper()
	e, err := kafka.StartEmbedded("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	return startCollectorOn(t, e.Addrs(), edit)
}

func startCollectorOn(t *testing.T, brokers []string, edit func(*topology.Collector)) *realCollector {
	t.Helper()
	ctx := context.Background()
	cfg := &topology.Config{
		Env:   "it",
		Kafka: topology.Kafka{Brokers: brokers, ReplicationFactor: 1, MinInsyncReplicas: 1, Compression: "none"},
		Collector: &topology.Collector{
			Listen:     "127.0.0.1:0",
			DLQTopic:   dlq,
			Keys:       []topology.CollectorKey{{Key: gameKey, Source: "game", Events: []string{"level_up", "purchase"}}},
			Partitions: 2,
		},
	}
	if edit != nil {
		edit(cfg.Collector)
	}
	cfg.EnsureDefaults()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	conn, err := kafka.Connect(ctx, cfg.Kafka)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.EnsureTopics(ctx, cfg.Topics()); err != nil {
		t.Fatal(err)
	}
	col, err := collector.New(collector.Options{
		Config: cfg, Conn: conn, Registry: prometheus.NewRegistry(),
		Logger:     slog.New(slog.DiscardHandler),
		InstanceID: fmt.Sprintf("client-it-%d", instance.Add(1)),
	})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan struct{})
	go func() { col.Serve(ln); close(served) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		col.Shutdown(ctx)
		ln.Close()
		<-served
	})
	return &realCollector{url: "http://" + ln.Addr().String(), conn: conn, cfg: cfg}
}

// eventIDs reads topic to its end as a read_committed consumer would and counts each
// event_id, stopping once want records were read or a few idle polls went by.
func (rc *realCollector) eventIDs(t *testing.T, topic string, want int) map[string]int {
	t.Helper()
	cl, err := rc.conn.Client(kgo.ConsumeTopics(topic), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ids := map[string]int{}
	total, idle := 0, 0
	for idle < 3 && (want < 0 || total < want) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		fs := cl.PollFetches(ctx)
		cancel()
		n := 0
		fs.EachRecord(func(r *kgo.Record) {
			var e struct {
				EventID string `json:"event_id"`
			}
			if err := json.Unmarshal(r.Value, &e); err != nil {
				t.Errorf("%s: %v", r.Value, err)
			}
			ids[e.EventID]++
			n++
		})
		total += n
		if n == 0 {
			idle++
		}
	}
	return ids
}

// TestAgainstRealCollector: mixed batches, an event name the key may not send, and a
// server limit below the client's, all through the real collector. Every valid event is
// in its topic once, every invalid one reported with the collector's reason.
func TestAgainstRealCollector(t *testing.T) {
	rc := startCollector(t, func(c *topology.Collector) { c.MaxEvents = 30 })
	var mu sync.Mutex
	rejected := map[string]client.Rejection{}
	var failed []client.Failure
	c, err := client.New(client.Options{
		URL: rc.url, APIKey: gameKey, Source: "game", App: client.App{ID: "g", Version: "1"},
		OnRejected: func(rs []client.Rejection) {
			mu.Lock()
			defer mu.Unlock()
			for _, r := range rs {
				rejected[r.Event.EventID] = r
			}
		},
		OnFailed: func(f client.Failure) { mu.Lock(); failed = append(failed, f); mu.Unlock() },
	})
	if err != nil {
		t.Fatal(err)
	}
	const n = 500
	valid := map[string]bool{}
	invalid := map[string]bool{}
	for i := range n {
		ev := client.Event{EventID: client.NewEventID(), EventName: "level_up", User: client.User{ID: fmt.Sprintf("u%d", i%9)},
			Payload: map[string]any{"level": i}}
		if i%10 == 3 {
			ev.Payload = json.RawMessage(`[1,2]`) // not an object: the envelope is invalid
			invalid[ev.EventID] = true
		} else {
			valid[ev.EventID] = true
		}
		if err := c.Enqueue(context.Background(), ev); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Close(context.Background()); err != nil {
		t.Fatalf("close: %v", err)
	}
	if len(failed) != 0 {
		t.Errorf("failures: %v", failed)
	}
	st := c.Stats()
	if st.Accepted != int64(len(valid)) || st.Rejected != int64(len(invalid)) || st.Retried == 0 {
		t.Errorf("stats %+v: want %d accepted, %d rejected, retries after the 413s", st, len(valid), len(invalid))
	}
	for id := range invalid {
		if r, ok := rejected[id]; !ok || r.Reason != collector.ReasonInvalidEnvelope || !strings.Contains(r.Message, "payload") {
			t.Errorf("invalid event %s: rejection %+v", id, r)
		}
	}
	ids := rc.eventIDs(t, rc.cfg.Collector.EventTopic("it", "level_up", "game"), len(valid))
	for id := range valid {
		if ids[id] != 1 {
			t.Errorf("valid event %s in the topic %d times", id, ids[id])
		}
	}
	if len(ids) != len(valid) {
		t.Errorf("%d events in the topic, want %d", len(ids), len(valid))
	}
	if d := rc.eventIDs(t, dlq, len(invalid)); len(d) != len(invalid) {
		t.Errorf("%d events in the DLQ, want %d", len(d), len(invalid))
	}
}

// TestRealCollectorEventTooLarge: with the client's own limit above the collector's, an
// event the collector finds too large is split out of its batch by 413s and reported with
// the collector's reason; the rest of the batch is accepted.
func TestRealCollectorEventTooLarge(t *testing.T) {
	rc := startCollector(t, func(c *topology.Collector) { c.MaxEventBytes = 1000 })
	c, err := client.New(client.Options{URL: rc.url, APIKey: gameKey, Source: "game", MaxEventBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(context.Background())
	evs := make([]client.Event, 20)
	for i := range evs {
		evs[i] = client.Event{EventName: "level_up", Payload: map[string]any{"i": i}}
	}
	evs[13].Payload = map[string]any{"blob": strings.Repeat("b", 2000)}
	res, err := c.Send(context.Background(), evs)
	if err != nil {
		t.Fatal(err)
	}
	if res.Accepted != 19 || len(res.Rejected) != 1 {
		t.Fatalf("result %+v", res)
	}
	if r := res.Rejected[0]; r.Event.EventID != evs[13].EventID || r.Status != 413 || r.Reason != "event_too_large" || r.Message == "" {
		t.Errorf("rejection %+v", r)
	}
}

// TestRealCollectorRefusals: a wrong key and a forbidden event name fail the batch with
// the collector's status, after one request.
func TestRealCollectorRefusals(t *testing.T) {
	rc := startCollector(t, nil)
	cases := []struct {
		name, key, event string
		status           int
	}{
		{"unknown key", "nope", "level_up", 401},
		{"forbidden event", gameKey, "admin_reset", 403},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := client.New(client.Options{URL: rc.url, APIKey: tc.key, Source: "game"})
			if err != nil {
				t.Fatal(err)
			}
			res, err := c.Send(context.Background(), []client.Event{{EventName: tc.event}, {EventName: "level_up"}})
			var se *client.StatusError
			if !errors.As(err, &se) || se.Code != tc.status {
				t.Fatalf("send: %v, want HTTP %d", err, tc.status)
			}
			if res.Accepted != 0 || len(res.Failed) != 1 || len(res.Failed[0].Events) != 2 {
				t.Errorf("result %+v", res)
			}
			if st := c.Stats(); st.Requests != 1 || st.Failed != 2 {
				t.Errorf("stats %+v", st)
			}
			if err := c.Close(context.Background()); err == nil {
				t.Error("close: nil error after failures")
			}
		})
	}
}

// TestBrokerDownThenBack is the outage test with the Go client: the broker stops
// while clients send and comes back with its data. The collector refuses with 503 what
// Kafka did not take, the clients re-send those batches (same event IDs) until they are
// accepted, and every event ends in the topic exactly once.
func TestBrokerDownThenBack(t *testing.T) {
	dir := t.TempDir()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	listen := ln.Addr().String()
	ln.Close()
	start := func() *kafka.Embedded {
		t.Helper()
		var err error
		for range 50 { // the port may still be held a moment after the broker closed it
			var e *kafka.Embedded
			if e, err = kafka.StartEmbedded(listen, kfake.DataDir(dir)); err == nil {
				return e
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Fatalf("start the broker on %s: %v", listen, err)
		return nil
	}
	e := start()
	defer func() { e.Close() }()
	rc := startCollectorOn(t, e.Addrs(), func(c *topology.Collector) { c.ProduceTimeout = time.Second })

	const clients, before, after = 4, 100, 150
	cs := make([]*client.Client, clients)
	ids := make([][]string, clients)
	for i := range cs {
		if cs[i], err = client.New(client.Options{URL: rc.url, APIKey: gameKey, Source: "game",
			MaxBatchEvents: 10, FlushInterval: 5 * time.Millisecond, MaxElapsed: 5 * time.Minute, MaxAttempts: 1000,
			OnFailed: func(f client.Failure) { t.Errorf("failed: %v", f.Err) }}); err != nil {
			t.Fatal(err)
		}
	}
	send := func(n int) {
		for i, c := range cs {
			for range n {
				ev := client.Event{EventID: client.NewEventID(), EventName: "purchase", User: client.User{ID: fmt.Sprintf("u%d", i)}}
				ids[i] = append(ids[i], ev.EventID)
				if err := c.Enqueue(context.Background(), ev); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	sum := func(f func(client.Stats) int64) (n int64) {
		for _, c := range cs {
			n += f(c.Stats())
		}
		return n
	}
	waitFor := func(what string, cond func() bool) {
		deadline := time.Now().Add(2 * time.Minute)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("gave up waiting for %s", what)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}

	send(before)
	waitFor("the first events accepted", func() bool { return sum(func(s client.Stats) int64 { return s.Accepted }) == clients*before })
	e.Close()
	t.Log("broker stopped")
	send(after)
	waitFor("refusals", func() bool { return sum(func(s client.Stats) int64 { return s.Retried }) > 0 })
	e = start()
	t.Log("broker started again")
	for _, c := range cs {
		if err := c.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	total := clients * (before + after)
	if a, f := sum(func(s client.Stats) int64 { return s.Accepted }), sum(func(s client.Stats) int64 { return s.Failed }); a != int64(total) || f != 0 {
		t.Fatalf("accepted %d, failed %d, want %d accepted", a, f, total)
	}
	got := rc.eventIDs(t, rc.cfg.Collector.EventTopic("it", "purchase", "game"), total)
	for _, l := range ids {
		for _, id := range l {
			if got[id] != 1 {
				t.Errorf("event %s in the topic %d times", id, got[id])
			}
		}
	}
	if len(got) != total {
		t.Errorf("%d events in the topic, want %d", len(got), total)
	}
	t.Logf("%d events accepted once each; %d re-sent", total, sum(func(s client.Stats) int64 { return s.Retried }))
}
