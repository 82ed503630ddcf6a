package collector

import (
	"fmt"
	"net"
	"net/http"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/streamhub/streamhub/kafka"
)

// The queue of events waiting for Kafka is full: a request that would overflow it gets
// 429 with Retry-After and leaves nothing behind; the waiting one is committed.
func TestQueueFullGets429(t *testing.T) {
	t.Parallel()
	e := startBroker(t)
	cfg := testConfig(t, e.Addrs())
	cfg.Collector.MaxInFlight = 5
	cfg.Collector.Producers = 1
	release := make(chan struct{})
	var once sync.Once
	h := startCollectorWith(t, cfg, Options{beforeWrite: func() { <-release }})
	defer once.Do(func() { close(release) })

	first := []map[string]any{event("click", "web"), event("click", "web"), event("click", "web"), event("click", "web")}
	done := make(chan answer, 1)
	go func() { done <- h.send(asArray(first...), sendOpts{key: webKey}) }()
	for h.col.inFlight.Load() != 4 {
		time.Sleep(5 * time.Millisecond)
	}
	second := event("click", "web")
	a := h.send(asArray(second, event("click", "web")), sendOpts{key: webKey})
	if a.code != http.StatusTooManyRequests || a.header.Get("Retry-After") == "" || a.err.Reason != "queue_full" {
		t.Fatalf("second request: %d %s (Retry-After %q), want 429 queue_full with Retry-After", a.code, a.raw, a.header.Get("Retry-After"))
	}
	once.Do(func() { close(release) })
	if a := <-done; a.code != http.StatusOK || a.resp.Accepted != 4 {
		t.Fatalf("first request: %d %s", a.code, a.raw)
	}
	var want []string
	for _, ev := range first {
		want = append(want, id(ev))
	}
	if got := topicIDs(t, h.brokers, "test.web.click"); !slices.Equal(got, sorted(want...)) {
		t.Errorf("topic holds %v, want %v", got, sorted(want...))
	}
}

// The broker stops while clients send and comes back with its data. Clients re-send a
// batch refused with 503 (as the Go client does) until it is accepted. Every event a
// client saw accepted is in the topic exactly once, nothing else is, and every refusal
// was a 503 with Retry-After.
func TestBrokerDownThenBack(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	listen := ln.Addr().String()
	ln.Close()
	start := func() *kafka.Embedded {
		t.Helper()
		var e *kafka.Embedded
		var err error
		// The port was just closed by the broker before; give the kernel a moment if it
		// still holds it, without making a timing assertion of it.
		for range 50 {
			if e, err = kafka.StartEmbedded(listen, kfake.DataDir(dir)); err == nil {
				return e
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Fatalf("start the broker on %s: %v", listen, err)
		return nil
	}
	var mu sync.Mutex
	e := start()
	defer func() { mu.Lock(); e.Close(); mu.Unlock() }()

	cfg := testConfig(t, e.Addrs())
	cfg.Collector.ProduceTimeout = 2 * time.Second
	h := startCollector(t, cfg)

	const clients, batches, perBatch = 4, 25, 10
	var (
		acceptedBatches, refusals atomic.Int64
		accepted                  = make([][]string, clients)
		wg                        sync.WaitGroup
		failures                  = make(chan string, clients)
	)
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range batches {
				var evs []map[string]any
				for range perBatch {
					evs = append(evs, event("click", "web", func(m map[string]any) { m["user"] = map[string]any{"id": fmt.Sprintf("u-%d", c)} }))
				}
				body := asArray(evs...)
				for {
					a := h.send(body, sendOpts{key: webKey})
					if a.code == http.StatusOK && a.resp.Accepted == perBatch {
						for _, ev := range evs {
							accepted[c] = append(accepted[c], id(ev))
						}
						acceptedBatches.Add(1)
						break
					}
					if a.code != http.StatusServiceUnavailable || a.header.Get("Retry-After") == "" {
						failures <- fmt.Sprintf("client %d: %d %s", c, a.code, a.raw)
						return
					}
					refusals.Add(1)
					time.Sleep(50 * time.Millisecond)
				}
			}
		}()
	}
	waitFor := func(what string, cond func() bool) {
		for !cond() {
			select {
			case f := <-failures:
				t.Fatal(f)
			case <-time.After(10 * time.Millisecond):
			}
			if testContext(t).Err() != nil {
				t.Fatalf("gave up waiting for %s", what)
			}
		}
	}
	waitFor("accepted batches", func() bool { return acceptedBatches.Load() >= 10 })
	mu.Lock()
	e.Close()
	mu.Unlock()
	t.Log("broker stopped")
	waitFor("refusals", func() bool { return refusals.Load() >= 2*clients })
	mu.Lock()
	e = start()
	mu.Unlock()
	t.Log("broker started again")
	wg.Wait()
	close(failures)
	for f := range failures {
		t.Fatal(f)
	}

	var want []string
	for _, ids := range accepted {
		want = append(want, ids...)
	}
	sort.Strings(want)
	got := topicIDs(t, h.brokers, "test.web.click")
	if !slices.Equal(got, want) {
		t.Fatalf("the topic holds %d events, %d were accepted; doubled or missing: %v", len(got), len(want), diff(got, want))
	}
	if len(want) != clients*batches*perBatch {
		t.Fatalf("%d events accepted, want %d", len(want), clients*batches*perBatch)
	}
	aborted := testutil.ToFloat64(h.col.m.Transactions.WithLabelValues("aborted"))
	t.Logf("%d events accepted once each; %d refusals with 503; %.0f transactions aborted", len(want), refusals.Load(), aborted)
	if aborted == 0 {
		t.Error("no transaction was aborted while the broker was away")
	}
}

// diff lists the IDs that are not exactly once in got.
func diff(got, want []string) []string {
	count := map[string]int{}
	for _, g := range got {
		count[g]++
	}
	for _, w := range want {
		count[w]--
	}
	var out []string
	for k, v := range count {
		if v != 0 {
			out = append(out, fmt.Sprintf("%s:%+d", k, v))
		}
	}
	sort.Strings(out)
	if len(out) > 20 {
		out = out[:20]
	}
	return out
}
