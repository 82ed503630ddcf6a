package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/streamhub/streamhub/kafka"
	"github.com/streamhub/streamhub/sources/collector/client"
	"github.com/streamhub/streamhub/topology"
)

// CollectorOptions shape the collector load generator.
type CollectorOptions struct {
	// URL is a running collector's base URL ("http://127.0.0.1:8081"). Required.
	URL string
	// APIKey is sent as the bearer token when not empty.
	APIKey string
	// Kafka reaches the broker the collector writes to (Brokers required; TLS, SASL and
	// compression as the collector has them), for the raw produce yardstick.
	Kafka topology.Kafka
	// Events to send; default 200,000.
	Events int
	// Clients is the number of concurrent Go clients; default 4.
	Clients int
	// Batch is the events per request; default 100.
	Batch int
	// InFlight is the requests in flight per client; default 2.
	InFlight int
	// PayloadBytes is the approximate size of each event's payload; default 200.
	PayloadBytes int
	// Source and EventName of the events; defaults "bench" and "bench_event". The
	// collector must let APIKey send them.
	Source, EventName string
	// Gzip lets the clients gzip their bodies (they do above 1 KiB); off by default, since
	// on loopback it only moves CPU from the network to both ends.
	Gzip bool
	// RawTopic receives the raw produce; default "bench.collector.raw", created when
	// missing with RawPartitions partitions (default 3, the collector's default for
	// event topics).
	RawTopic      string
	RawPartitions int
	// Progress, when set, receives a line per phase.
	Progress io.Writer
}

// CollectorResult is one run of the collector load generator.
type CollectorResult struct {
	Events, Clients, Batch, InFlight int
	// EventBytes is the mean size of an event's JSON as sent.
	EventBytes int
	// RawPerSec is the medium: the same event bytes and keys produced by one franz-go
	// client (acks=all, idempotent), all at once, waiting for every acknowledgement.
	RawPerSec float64
	// RawBatchedPerSec is the same produce shaped like the collector's work: Clients×InFlight
	// goroutines, each producing Batch records and waiting for their acknowledgement.
	RawBatchedPerSec float64
	// CollectorPerSec is events accepted per second, from the first Enqueue to the last
	// client's Close.
	CollectorPerSec float64
	// The clients' stats, summed.
	Stats client.Stats
	// CPUPerEvent is the process's CPU per accepted event during the collector phase:
	// the clients' alone when the collector runs elsewhere, everything when InProcess.
	CPUPerEvent time.Duration
	// InProcess: the collector (and the broker, unless given) ran in this process.
	InProcess bool
}

// CPUBoundPerSec is the rate the process would reach with every core to itself at the
// measured CPU per event: on a shared machine, steadier than the rate itself.
func (r CollectorResult) CPUBoundPerSec() float64 {
	if r.CPUPerEvent <= 0 {
		return 0
	}
	return float64(runtime.NumCPU()) * float64(time.Second) / float64(r.CPUPerEvent)
}

// Ratio is accepted events/s as a fraction of raw produce of the same events.
func (r CollectorResult) Ratio() float64 { return r.CollectorPerSec / r.RawPerSec }

func (r CollectorResult) String() string {
	raw := "  raw produce not measured (no brokers given)\n"
	if r.RawPerSec > 0 {
		raw = fmt.Sprintf("  raw produce (franz-go, acks=all, all at once)         %10.0f events/s\n"+
			"  raw produce (franz-go, acks=all, %4d per round trip)  %10.0f events/s\n",
			r.RawPerSec, r.Batch, r.RawBatchedPerSec)
	}
	cpu := fmt.Sprintf("%.1f µs CPU per event in the clients", float64(r.CPUPerEvent.Nanoseconds())/1000)
	if r.InProcess {
		cpu = fmt.Sprintf("%.1f µs CPU per event, clients, collector and broker; ≈%.0f events/s with all %d cores",
			float64(r.CPUPerEvent.Nanoseconds())/1000, r.CPUBoundPerSec(), runtime.NumCPU())
	}
	s := fmt.Sprintf("events %d (%d bytes each), %d clients, batches of %d, %d in flight per client\n%s"+
		"  collector over loopback HTTP (Go client)             %10.0f events/s   (%s; accepted %d, rejected %d, failed %d, retried %d, %d requests)",
		r.Events, r.EventBytes, r.Clients, r.Batch, r.InFlight, raw, r.CollectorPerSec, cpu,
		r.Stats.Accepted, r.Stats.Rejected, r.Stats.Failed, r.Stats.Retried, r.Stats.Requests)
	if r.RawPerSec > 0 {
		s += fmt.Sprintf("\n  ratio collector / raw                                %9.3f", r.Ratio())
	}
	return s
}

// Collector measures events/s accepted by the collector at o.URL from o.Clients Go
// clients sending batches of o.Batch, against raw produce of the same events to the same
// broker, in one run. Every event must be accepted: a rejection or failure is an error,
// since it would flatter the rate.
func Collector(ctx context.Context, o CollectorOptions) (CollectorResult, error) {
	if o.URL == "" {
		return CollectorResult{}, errors.New("bench: collector URL required")
	}
	if o.Events <= 0 {
		o.Events = 200_000
	}
	if o.Clients <= 0 {
		o.Clients = 4
	}
	if o.Batch <= 0 {
		o.Batch = 100
	}
	if o.InFlight <= 0 {
		o.InFlight = 2
	}
	if o.PayloadBytes <= 0 {
		o.PayloadBytes = 200
	}
	if o.Source == "" {
		o.Source = "bench"
	}
	if o.EventName == "" {
		o.EventName = "bench_event"
	}
	if o.RawTopic == "" {
		o.RawTopic = "bench.collector.raw"
	}
	if o.RawPartitions <= 0 {
		o.RawPartitions = 3
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	res := CollectorResult{Events: o.Events, Clients: o.Clients, Batch: o.Batch, InFlight: o.InFlight}

	events := collectorEvents(o)
	var size int
	raw := make([]*kgo.Record, len(events))
	for i, ev := range events {
		b, err := json.Marshal(ev)
		if err != nil {
			return res, err
		}
		size += len(b)
		raw[i] = &kgo.Record{Topic: o.RawTopic, Key: []byte(ev.User.ID), Value: b}
	}
	res.EventBytes = size / len(events)

	if len(o.Kafka.Brokers) > 0 {
		fmt.Fprintf(o.Progress, "raw produce of %d events...\n", o.Events)
		var err error
		if res.RawPerSec, res.RawBatchedPerSec, err = rawProduce(ctx, o, raw); err != nil {
			return res, err
		}
	}
	raw = nil

	fmt.Fprintf(o.Progress, "%d clients sending to %s...\n", o.Clients, o.URL)
	cpu0 := cpuTime()
	perSec, stats, err := loadCollector(ctx, o, events)
	res.CollectorPerSec, res.Stats = perSec, stats
	if stats.Accepted > 0 {
		res.CPUPerEvent = (cpuTime() - cpu0) / time.Duration(stats.Accepted)
	}
	if err != nil {
		return res, err
	}
	if stats.Accepted != int64(o.Events) {
		return res, fmt.Errorf("bench: %d of %d events accepted (rejected %d, failed %d)", stats.Accepted, o.Events, stats.Rejected, stats.Failed)
	}
	return res, nil
}

// collectorEvents are the benchmark's events, IDs and times filled in, so that the raw
// produce and the collector carry the same bytes.
func collectorEvents(o CollectorOptions) []client.Event {
	pad := strings.Repeat("x", max(o.PayloadBytes-80, 1))
	now := time.Now().UTC()
	events := make([]client.Event, o.Events)
	for i := range events {
		payload, _ := json.Marshal(map[string]any{"seq": i, "level": i % 100, "item": "sword-" + strconv.Itoa(i%37), "pad": pad})
		events[i] = client.Event{
			EventID: client.NewEventID(), EventName: o.EventName, OccurredAt: now.Add(time.Duration(i) * time.Microsecond),
			Source: o.Source, App: client.App{ID: "bench-app", Version: "1.0.0"},
			Device: client.Device{ID: "device-" + strconv.Itoa(i%5000)}, User: client.User{ID: "user-" + strconv.Itoa(i%10_000)},
			Payload: json.RawMessage(payload),
		}
	}
	return events
}

func rawProduce(ctx context.Context, o CollectorOptions, recs []*kgo.Record) (all, batched float64, err error) {
	conn, err := kafka.Connect(ctx, o.Kafka)
	if err != nil {
		return 0, 0, err
	}
	defer conn.Close()
	if _, err := conn.EnsureTopics(ctx, []topology.TopicSpec{{Name: o.RawTopic, Partitions: o.RawPartitions}}); err != nil {
		return 0, 0, err
	}
	cl, err := conn.Client(kgo.RequiredAcks(kgo.AllISRAcks()))
	if err != nil {
		return 0, 0, err
	}
	defer cl.Close()

	// The first produce waits for metadata and a producer ID; the raw rate should not.
	warm := make([]*kgo.Record, min(1000, len(recs)))
	for i := range warm {
		warm[i] = &kgo.Record{Topic: recs[i].Topic, Key: recs[i].Key, Value: recs[i].Value}
	}
	if err := cl.ProduceSync(ctx, warm...).FirstErr(); err != nil {
		return 0, 0, err
	}

	start := time.Now()
	var mu sync.Mutex
	var firstErr error
	for _, r := range recs {
		cl.Produce(ctx, r, func(_ *kgo.Record, err error) {
			if err != nil {
				mu.Lock()
				firstErr = cmpOr(firstErr, err)
				mu.Unlock()
			}
		})
	}
	if err := cl.Flush(ctx); err != nil {
		return 0, 0, err
	}
	if firstErr != nil {
		return 0, 0, firstErr
	}
	all = float64(len(recs)) / time.Since(start).Seconds()

	// Fresh records: a produced kgo.Record carries its offset and must not be reused.
	fresh := make([]*kgo.Record, len(recs))
	for i, r := range recs {
		fresh[i] = &kgo.Record{Topic: r.Topic, Key: r.Key, Value: r.Value}
	}
	workers := o.Clients * o.InFlight
	next := make(chan []*kgo.Record)
	errs := make(chan error, workers)
	start = time.Now()
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := range next {
				if err := cl.ProduceSync(ctx, b...).FirstErr(); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	go func() {
		defer close(next)
		for i := 0; i < len(fresh); i += o.Batch {
			select {
			case next <- fresh[i:min(i+o.Batch, len(fresh))]:
			case err := <-errs:
				errs <- err
				return
			}
		}
	}()
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return 0, 0, err
	}
	return all, float64(len(fresh)) / time.Since(start).Seconds(), nil
}

func cmpOr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

// loadCollector queues events through o.Clients clients, each closed at the end so that
// every event is settled, and returns accepted events/s and the summed stats.
func loadCollector(ctx context.Context, o CollectorOptions, events []client.Event) (float64, client.Stats, error) {
	gzipMin := -1
	if o.Gzip {
		gzipMin = 0
	}
	clients := make([]*client.Client, o.Clients)
	for i := range clients {
		c, err := client.New(client.Options{
			URL: o.URL, APIKey: o.APIKey,
			MaxBatchEvents: o.Batch, Concurrency: o.InFlight, GzipMinBytes: gzipMin,
			QueueSize: 4 * o.Batch * o.InFlight, FlushInterval: 50 * time.Millisecond,
			UserAgent: "streamhub-bench",
		})
		if err != nil {
			return 0, client.Stats{}, err
		}
		clients[i] = c
	}
	start := time.Now()
	var wg sync.WaitGroup
	errs := make([]error, len(clients))
	for i, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := i; j < len(events); j += len(clients) {
				if err := c.Enqueue(ctx, events[j]); err != nil {
					errs[i] = err
					break
				}
			}
			if err := c.Close(ctx); err != nil {
				errs[i] = cmpOr(errs[i], err)
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	var sum client.Stats
	for _, c := range clients {
		sum = sum.Plus(c.Stats())
	}
	return float64(sum.Accepted) / elapsed.Seconds(), sum, errors.Join(errs...)
}
