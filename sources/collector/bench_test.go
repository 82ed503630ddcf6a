package collector

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// BenchmarkCollector posts batches of 100 events over loopback HTTP from 16 clients and
// reports accepted events/s, next to raw produce of the same enriched records by one
// idempotent franz-go client in the same run (events/s and the ratio). Run with
//
//	go test -run '^$' -bench Collector -benchtime 200000x ./sources/collector
func BenchmarkCollector(b *testing.B) {
	e := startBroker(b)
	h := startCollector(b, testConfig(b, e.Addrs()))

	const perBatch, clients = 100, 16
	bodies := make([][]byte, 64)
	for i := range bodies {
		var evs []map[string]any
		for range perBatch {
			evs = append(evs, event("page_view", "web", func(m map[string]any) {
				m["user"] = map[string]any{"id": fmt.Sprintf("u-%d", i)}
				m["payload"] = map[string]any{"url": "/products/12345?ref=home", "referrer": "https://example.com/", "duration_ms": 1234}
			}))
		}
		bodies[i] = asArray(evs...)
	}
	batches := max(b.N/perBatch, clients)
	var next atomic.Int64
	tr := &http.Transport{MaxIdleConnsPerHost: clients}
	cl := &http.Client{Transport: tr}
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				n := next.Add(1)
				if n > int64(batches) {
					return
				}
				req, _ := http.NewRequest(http.MethodPost, h.url+"/v1/events", bytes.NewReader(bodies[n%int64(len(bodies))]))
				req.Header.Set("Authorization", "Bearer "+webKey)
				res, err := cl.Do(req)
				if err != nil {
					b.Error(err)
					return
				}
				res.Body.Close()
				if res.StatusCode != 200 {
					b.Errorf("status %d", res.StatusCode)
					return
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	events := float64(batches * perBatch)
	httpRate := events / elapsed.Seconds()

	// Raw produce of the same number of enriched records, same broker, same run.
	rec, _ := EventRecord(&Event{Envelope: Envelope{EventID: newID(), EventName: "page_view", OccurredAt: "2026-11-25T12:00:00Z", Source: "web",
		User: &User{ID: "u-1"}, Payload: []byte(`{"url":"/products/12345?ref=home","referrer":"https://example.com/","duration_ms":1234}`)}, Topic: "test.raw.bench"}, time.Now(), &Client{IP: "127.0.0.1", UserAgent: "Go-http-client/1.1"})
	if err := h.col.topics.ensure(context.Background(), map[string]bool{"test.raw.bench": true}); err != nil {
		b.Fatal(err)
	}
	prod, err := h.conn.Client(kgo.ProducerLinger(time.Millisecond))
	if err != nil {
		b.Fatal(err)
	}
	defer prod.Close()
	start = time.Now()
	var pw sync.WaitGroup
	for i := range int(events) {
		r := &kgo.Record{Topic: rec.Topic, Key: []byte(fmt.Sprintf("u-%d", i%64)), Value: rec.Value, Headers: rec.Headers}
		pw.Add(1)
		prod.Produce(context.Background(), r, func(_ *kgo.Record, err error) {
			if err != nil {
				b.Error(err)
			}
			pw.Done()
		})
	}
	pw.Wait()
	rawRate := events / time.Since(start).Seconds()
	b.ReportMetric(httpRate, "events/s")
	b.ReportMetric(rawRate, "raw-events/s")
	b.ReportMetric(httpRate/rawRate, "ratio")
	b.ReportMetric(0, "ns/op")
}
