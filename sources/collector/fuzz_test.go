package collector

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/streamhub/streamhub/topology"
)

var bodySeeds = []struct {
	body   string
	format string
}{
	{`[{"event_id":"6f1c2a9e-3b7d-4c5e-8a9f-0b1c2d3e4f5a","event_name":"a","occurred_at":"2026-11-25T12:00:00Z","source":"s"}]`, formatJSON},
	{`{"event_name":"a"}`, formatJSON},
	{"{\"a\":1}\n{\"b\":2}\n", formatJSON},
	{"{\"a\":\n1}\n{\"b\":2}", formatJSON},
	{"{\"a\":1}\n{oops\n", formatNDJSON},
	{"{\"a\":1}\r\n\r\n[1]\n\x1e{\"c\":3}", formatNDJSON},
	{`[1, "x", null, {}]`, formatJSON},
	{`[`, formatJSON},
	{`{} trailing`, formatJSON},
	{`{}{}`, formatJSON},
	{"   ", formatJSON},
	{"\xff\xfe", formatJSON},
	{`"string"`, formatJSON},
}

// ParseBody never panics; what it returns is each element as sent: for JSON bodies every
// element is valid JSON, and the elements of an NDJSON body are its non-empty lines.
func FuzzParseBody(f *testing.F) {
	for _, s := range bodySeeds {
		f.Add([]byte(s.body), s.format == formatNDJSON)
	}
	f.Fuzz(func(t *testing.T, body []byte, ndjson bool) {
		format := formatJSON
		if ndjson {
			format = formatNDJSON
		}
		events, err := ParseBody(body, format)
		if err != nil {
			if ndjson {
				t.Fatalf("an NDJSON body is never refused whole: %v", err)
			}
			return
		}
		for i, e := range events {
			if len(bytes.TrimSpace(e)) == 0 {
				t.Fatalf("event %d is empty", i)
			}
			if !ndjson && !json.Valid(e) {
				t.Fatalf("event %d of a JSON body is not JSON: %q", i, e)
			}
			if ndjson && bytes.IndexByte(e, '\n') >= 0 {
				t.Fatalf("NDJSON event %d spans lines: %q", i, e)
			}
		}
	})
}

var envelopeSeeds = []string{
	`{"event_id":"6f1c2a9e-3b7d-4c5e-8a9f-0b1c2d3e4f5a","event_name":"page_view","occurred_at":"2026-11-25T12:00:00Z","source":"web","payload":{"url":"/"}}`,
	`{"event_id":"6f1c2a9e-3b7d-4c5e-8a9f-0b1c2d3e4f5a","event_name":"page_view","occurred_at":"2026-11-25T12:00:00+02:00","source":"web","payload":{"referrer":1}}`,
	`{"event_id":"6F1C2A9E-3B7D-4C5E-8A9F-0B1C2D3E4F5A","event_name":"Level Up!","occurred_at":"2026-11-25T12:00:00.123456789Z","source":"Mobile App","app":{"id":"a","version":"1"},"device":{"id":"d"},"user":{"id":"u"}}`,
	`{"event_id":"x","event_name":"a","occurred_at":"2026-11-25T12:00:00Z","source":"s"}`,
	`{"event_id":"6f1c2a9e-3b7d-4c5e-8a9f-0b1c2d3e4f5a","event_name":"a","occurred_at":"yesterday","source":"s"}`,
	`{"event_id":"6f1c2a9e-3b7d-4c5e-8a9f-0b1c2d3e4f5a","event_name":"a","occurred_at":"2026-11-25T12:00:00Z","source":"s","extra":1}`,
	`{"event_id":"6f1c2a9e-3b7d-4c5e-8a9f-0b1c2d3e4f5a","event_name":"a","occurred_at":"2026-11-25T12:00:00Z","source":"s","user":{"id":5}}`,
	`{"event_id":"6f1c2a9e-3b7d-4c5e-8a9f-0b1c2d3e4f5a","event_name":"a","occurred_at":"2026-11-25T12:00:00Z","source":"s","payload":[1]}`,
	`{"event_id":"6f1c2a9e-3b7d-4c5e-8a9f-0b1c2d3e4f5a","event_name":"a\u0000","occurred_at":"2026-11-25T12:00:00Z","source":"s"}`,
	`[]`, `null`, `{`, `{"event_id":null}`, "\"\xff\"",
}

// Validate never panics; an accepted event has every required field, a legal topic and a
// value that marshals to JSON; a rejected one has a known reason and a message.
func FuzzValidate(f *testing.F) {
	for _, s := range envelopeSeeds {
		f.Add([]byte(s))
	}
	col := &topology.Collector{
		Events: []topology.EventType{{Name: "page_view", Schema: filepath.Join("testdata", "page_view.schema.json")}},
		Routes: []topology.Route{{Event: "routed", Topic: "test.routed"}},
	}
	v, err := NewValidator("test", col)
	if err != nil {
		f.Fatal(err)
	}
	reasons := map[string]bool{ReasonInvalidJSON: true, ReasonNotAnObject: true, ReasonInvalidEnvelope: true, ReasonSchema: true, ReasonBadTopic: true}
	f.Fuzz(func(t *testing.T, raw []byte) {
		ev, rej := v.Validate(raw)
		if rej != nil {
			if ev != nil || !reasons[rej.Reason] || rej.Message == "" {
				t.Fatalf("rejection %+v (event %v)", rej, ev)
			}
			return
		}
		if !isUUID(ev.EventID) || ev.EventName == "" || ev.Source == "" || ev.OccurredAt == "" {
			t.Fatalf("accepted an incomplete envelope: %+v", ev.Envelope)
		}
		if ev.Topic == "" || len(ev.Topic) > maxTopicLength {
			t.Fatalf("topic %q", ev.Topic)
		}
		for _, c := range []byte(ev.Topic) {
			if !(topicPart(c) || c == '.') {
				t.Fatalf("topic %q has %q", ev.Topic, c)
			}
		}
		if ev.Key() == "" {
			t.Fatal("empty record key")
		}
		// The hand-written value is the document encoding/json would write.
		client := &Client{IP: "127.0.0.1", UserAgent: ev.EventName}
		want, err := json.Marshal(Enriched{Envelope: ev.Envelope, ReceivedAt: ev.OccurredAt, Client: client})
		if err != nil {
			t.Fatalf("value: %v", err)
		}
		got, err := appendEnriched(nil, &ev.Envelope, ev.OccurredAt, client)
		if err != nil {
			t.Fatalf("appendEnriched: %v", err)
		}
		var g, w any
		if err := json.Unmarshal(got, &g); err != nil {
			t.Fatalf("value %s is not JSON: %v", got, err)
		}
		json.Unmarshal(want, &w)
		if !reflect.DeepEqual(g, w) {
			t.Fatalf("value\n got %s\nwant %s", got, want)
		}
	})
}

func topicPart(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-'
}

// Table-driven checks of single envelopes: the reason and the words of the message.
func TestValidateEnvelope(t *testing.T) {
	t.Parallel()
	v, err := NewValidator("test", &topology.Collector{
		Events: []topology.EventType{{Name: "page_view", Schema: filepath.Join("testdata", "page_view.schema.json")}},
	})
	if err != nil {
		t.Fatal(err)
	}
	const ok = `"event_id":"6f1c2a9e-3b7d-4c5e-8a9f-0b1c2d3e4f5a","occurred_at":"2026-11-25T12:00:00Z","source":"web"`
	cases := []struct {
		name, raw, reason, contains string
	}{
		{"valid", `{` + ok + `,"event_name":"click"}`, "", ""},
		{"valid with schema", `{` + ok + `,"event_name":"page_view","payload":{"url":"/x"}}`, "", ""},
		{"schema", `{` + ok + `,"event_name":"page_view","payload":{"url":5}}`, ReasonSchema, "url"},
		{"schema without payload", `{` + ok + `,"event_name":"page_view"}`, ReasonSchema, "url"},
		{"no event_id", `{"event_name":"a","occurred_at":"2026-11-25T12:00:00Z","source":"web"}`, ReasonInvalidEnvelope, "event_id is required"},
		{"bad uuid", `{"event_id":"6f1c2a9e3b7d4c5e8a9f0b1c2d3e4f5a","event_name":"a","occurred_at":"2026-11-25T12:00:00Z","source":"web"}`, ReasonInvalidEnvelope, "UUID"},
		{"no name", `{` + ok + `}`, ReasonInvalidEnvelope, "event_name is required"},
		{"no source", `{"event_id":"6f1c2a9e-3b7d-4c5e-8a9f-0b1c2d3e4f5a","event_name":"a","occurred_at":"2026-11-25T12:00:00Z"}`, ReasonInvalidEnvelope, "source is required"},
		{"bad time", `{"event_id":"6f1c2a9e-3b7d-4c5e-8a9f-0b1c2d3e4f5a","event_name":"a","occurred_at":"2026-11-25 12:00","source":"w"}`, ReasonInvalidEnvelope, "RFC 3339"},
		{"unknown field", `{` + ok + `,"event_name":"a","received_at":"x"}`, ReasonInvalidEnvelope, `unknown field "received_at"`},
		{"wrong type", `{` + ok + `,"event_name":"a","user":{"id":7}}`, ReasonInvalidEnvelope, "user.id must be a string"},
		{"payload not an object", `{` + ok + `,"event_name":"a","payload":"x"}`, ReasonInvalidEnvelope, "payload must be a JSON object"},
		{"not json", `{"a":`, ReasonInvalidJSON, "not valid JSON"},
		{"array", `[1]`, ReasonNotAnObject, "object"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ev, rej := v.Validate([]byte(c.raw))
			switch {
			case c.reason == "" && rej != nil:
				t.Fatalf("rejected: %v", rej)
			case c.reason == "" && ev.Topic != "test.web."+ev.EventName:
				t.Fatalf("topic %q", ev.Topic)
			case c.reason != "" && (rej == nil || rej.Reason != c.reason || !bytes.Contains([]byte(rej.Message), []byte(c.contains))):
				t.Fatalf("got %v, want %s containing %q", rej, c.reason, c.contains)
			}
		})
	}
}
