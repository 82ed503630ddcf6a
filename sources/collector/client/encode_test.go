package client

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"
)

// TestAppendEventMatchesEncodingJSON: the hand-written encoder says what encoding/json
// says of the same Event, tricky strings included.
func TestAppendEventMatchesEncodingJSON(t *testing.T) {
	at := time.Date(2026, 11, 25, 12, 0, 0, 123456789, time.FixedZone("x", 3600))
	cases := []Event{
		{},
		{EventID: "id", EventName: "n", OccurredAt: at},
		{EventID: "a\"b\\c\n\r\t\x00\x1f\x7f", EventName: "é ünïcödé 日本 🎮", Source: "<script>&", OccurredAt: at},
		{EventName: "bad utf8 \xff\xfe end", Source: "\u2028\u2029"},
		{EventName: "n", App: App{ID: "a"}, Device: Device{ID: "d"}, User: User{ID: "u"}},
		{EventName: "n", App: App{Version: "v"}, Payload: map[string]any{"k": []int{1, 2}, "s": "x\"y"}},
		{EventName: "n", App: App{ID: "a", Version: "v"}, Payload: json.RawMessage(" {\n \"a\" : 1 }")},
		{EventName: "n", Payload: json.RawMessage(nil)},
		{EventName: "n", Payload: struct {
			A int `json:"a"`
		}{7}},
		{EventName: "n", Payload: (*struct{})(nil)},
		{EventName: strings.Repeat("long", 1000)},
	}
	for i, ev := range cases {
		got, err := appendEvent(nil, &ev)
		if err != nil {
			t.Fatalf("case %d: %v", i, err)
		}
		want, err := json.Marshal(ev)
		if err != nil {
			t.Fatalf("case %d: %v", i, err)
		}
		var g, w any
		if err := json.Unmarshal(got, &g); err != nil {
			t.Fatalf("case %d: %s is not JSON: %v", i, got, err)
		}
		json.Unmarshal(want, &w)
		// encoding/json writes "payload":null for a typed nil; the collector reads null
		// as no payload, and appendEvent leaves it out.
		if m := w.(map[string]any); m["payload"] == nil {
			delete(m, "payload")
		}
		if !reflect.DeepEqual(g, w) {
			t.Errorf("case %d:\n got %s\nwant %s", i, got, want)
		}
	}
	if _, err := appendEvent(nil, &Event{Payload: json.RawMessage("{oops")}); err == nil {
		t.Error("an invalid json.RawMessage payload was encoded")
	}
	if _, err := appendEvent(nil, &Event{OccurredAt: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}); err == nil {
		t.Error("year 10000 encoded")
	}
}
