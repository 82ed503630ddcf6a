// Package e2e runs streamhub's real components together: the embedded Kafka broker, the
// goka processors and the view API over HTTP.
package e2e

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/streamhub/streamhub/pipeline"
	"github.com/streamhub/streamhub/processors"
)

var both = pipeline.Roles{Process: true, Serve: true}

// TestViewAPIMatchesModelAfterDuplicatesAndReordering is the randomized model test: N items
// × M changes, each delivered one to three times, partly out of order; the view API's
// answers must equal the model's final state, item by item.
func TestViewAPIMatchesModelAfterDuplicatesAndReordering(t *testing.T) {
	for _, tc := range []struct {
		name       string
		partitions int
		items      int
		changes    int
		seed       uint64
	}{
		{"1 partition", 1, 50, 500, 1},
		{"8 partitions", 8, 300, 3000, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig(t, tc.partitions)
			conn := startBroker(t, cfg)
			ds, gen := workload(tc.items, tc.changes, tc.seed)
			// Half before the processor starts (it must read from the oldest offset), half after.
			half := len(ds) / 2
			produce(t, conn, cfg.Tables[0].Topic, ds[:half])
			p := startPipeline(t, cfg, conn, both, "a", false)
			produce(t, conn, cfg.Tables[0].Topic, ds[half:])
			processed(t, int64(len(ds)), p)
			waitFor(t, "views ready", 30*time.Second, p.Ready)

			s := p.Status()
			if s.Invalid != 0 || s.Rekeyed != 0 {
				t.Errorf("invalid = %d, rekeyed = %d; want 0 and 0 (the item keys must match state.EncodeKey)", s.Invalid, s.Rekeyed)
			}
			if s.Duplicate == 0 || s.Stale == 0 {
				t.Errorf("workload produced no duplicates (%d) or stale changes (%d): the model test tests nothing", s.Duplicate, s.Stale)
			}
			live := 0
			for _, e := range gen.Final() {
				if !e.Deleted {
					live++
				}
			}
			if s.Keys != int64(live) {
				t.Errorf("state keys = %d, want %d live items", s.Keys, live)
			}
			eventuallyFinalState(t, p.API.Addr(), gen.Final())
		})
	}
}

// TestProcessorWithEmptyStorageRecoversFromTableTopic restarts the processor with an empty
// local storage directory: it must rebuild its state from the table topic, so replaying the
// whole CDC stream changes nothing.
func TestProcessorWithEmptyStorageRecoversFromTableTopic(t *testing.T) {
	cfg := testConfig(t, 4)
	conn := startBroker(t, cfg)
	ds, gen := workload(100, 1000, 3)
	produce(t, conn, cfg.Tables[0].Topic, ds)

	first := startPipeline(t, cfg, conn, pipeline.Roles{Process: true}, "first", false)
	processed(t, int64(len(ds)), first)
	first.stop()

	// Same group, new instance ID: a fresh, empty storage directory.
	second := startPipeline(t, cfg, conn, both, "second", false)
	waitFor(t, "recovery", 60*time.Second, second.Ready)
	// Replay every change: the recovered state must know all of them.
	produce(t, conn, cfg.Tables[0].Topic, ds)
	processed(t, int64(len(ds)), second)
	if s := second.Status(); s.Applied != 0 {
		t.Errorf("after recovery a replay applied %d changes; want 0 (every one stale or duplicate)", s.Applied)
	}
	eventuallyFinalState(t, second.API.Addr(), gen.Final())
}

// TestSecondProcessorTakesOverStoppedInstancesPartitions runs two processor instances; one
// stops mid-stream and the other takes its partitions; the final state is still right.
func TestSecondProcessorTakesOverStoppedInstancesPartitions(t *testing.T) {
	cfg := testConfig(t, 8)
	conn := startBroker(t, cfg)
	ds, gen := workload(200, 2000, 4)
	third := len(ds) / 3

	a := startPipeline(t, cfg, conn, pipeline.Roles{Process: true}, "a", true)
	b := startPipeline(t, cfg, conn, pipeline.Roles{Process: true}, "b", true)
	waitFor(t, "both instances own partitions", 60*time.Second, func() bool {
		return partitions(a) > 0 && partitions(b) > 0 && partitions(a)+partitions(b) == 8
	})
	produce(t, conn, cfg.Tables[0].Topic, ds[:third])
	processed(t, int64(third), a, b)
	if a.Status().In == 0 || b.Status().In == 0 {
		t.Fatalf("work not shared: a processed %d, b %d", a.Status().In, b.Status().In)
	}

	a.stop()
	produce(t, conn, cfg.Tables[0].Topic, ds[third:])
	waitFor(t, "b owns every partition", 60*time.Second, func() bool { return partitions(b) == 8 })

	processed(t, int64(len(ds)), a, b)
	api := startPipeline(t, cfg, conn, pipeline.Roles{Serve: true}, "api", true)
	waitFor(t, "view ready", 60*time.Second, api.Ready)
	eventuallyFinalState(t, api.API.Addr(), gen.Final())
}

// TestMalformedRecordsGoToDLQAndProcessingContinues sends bad JSON, a record without its key
// attributes and an unknown eventName between good records.
func TestMalformedRecordsGoToDLQAndProcessingContinues(t *testing.T) {
	cfg := testConfig(t, 2)
	conn := startBroker(t, cfg)
	ds, gen := workload(20, 100, 5)
	bad := []struct{ key, value, reason string }{
		{`["user#1","profile"]`, `{not json`, "bad_json"},
		{`["user#2","profile"]`, `{"eventID":"1","eventName":"MODIFY","eventSource":"aws:dynamodb","dynamodb":{"Keys":{"pk":{"S":"user#2"}},"NewImage":{"pk":{"S":"user#2"}},"SequenceNumber":"1","StreamViewType":"NEW_IMAGE"}}`, "missing_key"},
		{`["user#3","profile"]`, `{"eventID":"2","eventName":"UPSERT","eventSource":"aws:dynamodb","dynamodb":{"Keys":{"pk":{"S":"user#3"},"sk":{"S":"profile"}},"NewImage":{"pk":{"S":"user#3"},"sk":{"S":"profile"}},"SequenceNumber":"2","StreamViewType":"NEW_IMAGE"}}`, "unknown_event_name"},
	}
	cl, err := conn.Client(kgo.DefaultProduceTopic(cfg.Tables[0].Topic))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var recs []*kgo.Record
	for i, d := range ds {
		recs = append(recs, &kgo.Record{Key: []byte(d.Key), Value: d.Value})
		if i < len(bad) {
			recs = append(recs, &kgo.Record{Key: []byte(bad[i].key), Value: []byte(bad[i].value)})
		}
	}
	if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}

	p := startPipeline(t, cfg, conn, both, "a", true)
	processed(t, int64(len(recs)), p)
	if got := p.Status().Invalid; got != int64(len(bad)) {
		t.Errorf("invalid = %d, want %d", got, len(bad))
	}

	consumer, err := conn.Client(kgo.ConsumeTopics(cfg.Processor.DLQTopic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer consumer.Close()
	reasons := map[string]string{}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for len(reasons) < len(bad) && ctx.Err() == nil {
		consumer.PollFetches(ctx).EachRecord(func(r *kgo.Record) {
			h := map[string]string{}
			for _, hd := range r.Headers {
				h[hd.Key] = string(hd.Value)
			}
			if h[processors.HeaderSourceTopic] != cfg.Tables[0].Topic || h[processors.HeaderDLQTable] != "users" {
				t.Errorf("DLQ record headers %v: want the source topic and table", h)
			}
			if _, err := strconv.ParseInt(h[processors.HeaderSourceOffset], 10, 64); err != nil {
				t.Errorf("DLQ source offset %q: %v", h[processors.HeaderSourceOffset], err)
			}
			reasons[string(r.Value)] = h[processors.HeaderDLQReason]
		})
	}
	for _, b := range bad {
		if got := reasons[b.value]; got != b.reason {
			t.Errorf("DLQ reason for %.30s… = %q, want %q", b.value, got, b.reason)
		}
	}
	waitFor(t, "views ready", 30*time.Second, p.Ready)
	eventuallyFinalState(t, p.API.Addr(), gen.Final())
}

func partitions(r *running) int {
	n := 0
	for _, c := range r.Processors {
		n += c.Partitions()
	}
	return n
}
