package client

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func benchEvent() Event {
	payload, _ := json.Marshal(map[string]any{"seq": 1, "level": 7, "item": "sword-3", "pad": strings.Repeat("x", 120)})
	return Event{
		EventID: NewEventID(), EventName: "bench_event", OccurredAt: time.Now().UTC(), Source: "bench",
		App: App{ID: "bench-app", Version: "1.0.0"}, Device: Device{ID: "device-17"}, User: User{ID: "user-4711"},
		Payload: json.RawMessage(payload),
	}
}

// BenchmarkPrepare is the client's CPU per event before batching: filling in and encoding.
func BenchmarkPrepare(b *testing.B) {
	c := &Client{o: Options{MaxBatchBytes: 512 << 10, MaxEventBytes: 64 << 10}}
	ev := benchEvent()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.prepare(ev); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncodingJSON(b *testing.B) {
	ev := benchEvent()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := json.Marshal(ev); err != nil {
			b.Fatal(err)
		}
	}
}
