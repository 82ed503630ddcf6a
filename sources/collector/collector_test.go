package collector

import (
	"bytes"
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/streamhub/streamhub/topology"
)

func itoa(i int) string { return strconv.Itoa(i) }

// Valid, invalid and mixed batches in every encoding the protocol allows: the answer,
// the event topics (read_committed) and the DLQ hold exactly what they should.
func TestBatchesInEachEncoding(t *testing.T) {
	t.Parallel()
	type want struct {
		accepted map[string][]string // topic → event IDs
		rejected []EventError        // index and reason (the ID when it could be read)
	}
	type batch struct {
		name   string
		events []any // map events or raw strings (NDJSON lines)
		want   func(ids []string) want
	}
	pv := func(mods ...func(map[string]any)) map[string]any { return event("page_view", "web", mods...) }
	click := func(mods ...func(map[string]any)) map[string]any {
		return event("click", "web", append([]func(map[string]any){func(e map[string]any) { delete(e, "user") }}, mods...)...)
	}
	noURL := func(e map[string]any) { e["payload"] = map[string]any{"referrer": "x"} }
	badID := func(e map[string]any) { e["event_id"] = "not-a-uuid" }
	badTime := func(e map[string]any) { e["occurred_at"] = "yesterday" }

	batches := []batch{
		{"valid", []any{pv(), click(), pv()}, func(ids []string) want {
			return want{accepted: map[string][]string{"test.web.page_view": sorted(ids[0], ids[2]), "test.web.click": sorted(ids[1])}}
		}},
		{"invalid", []any{pv(noURL), click(badID)}, func(ids []string) want {
			return want{rejected: []EventError{{Index: 0, EventID: ids[0], Reason: ReasonSchema}, {Index: 1, EventID: "not-a-uuid", Reason: ReasonInvalidEnvelope}}}
		}},
		{"mixed", []any{pv(), pv(badTime), click(), pv(noURL)}, func(ids []string) want {
			return want{
				accepted: map[string][]string{"test.web.page_view": sorted(ids[0]), "test.web.click": sorted(ids[2])},
				rejected: []EventError{{Index: 1, EventID: ids[1], Reason: ReasonInvalidEnvelope}, {Index: 3, EventID: ids[3], Reason: ReasonSchema}},
			}
		}},
	}
	type encoding struct {
		name        string
		contentType string
		gzip        bool
		keyHeader   string
		encode      func(events []any) ([]byte, bool) // false: this encoding cannot carry the batch
	}
	array := func(events []any) ([]byte, bool) {
		for _, e := range events {
			if _, ok := e.(string); ok {
				return nil, false
			}
		}
		b, _ := json.Marshal(events)
		return b, true
	}
	ndjson := func(events []any) ([]byte, bool) { return asNDJSON(events...), true }
	encodings := []encoding{
		{"array", "application/json", false, "", array},
		{"array-gzip", "application/json", true, "", array},
		{"array-no-content-type-x-api-key", "", false, "X-API-Key", array},
		{"ndjson", "application/x-ndjson", false, "", ndjson},
		{"ndjson-gzip", "application/x-ndjson; charset=utf-8", true, "", ndjson},
		{"ndjson-detected", "application/json", false, "", func(events []any) ([]byte, bool) {
			if len(events) < 2 {
				return nil, false
			}
			return array(events) // replaced below by lines
		}},
	}
	for _, enc := range encodings {
		for _, b := range batches {
			t.Run(enc.name+"/"+b.name, func(t *testing.T) {
				t.Parallel()
				e := startBroker(t)
				h := startCollector(t, testConfig(t, e.Addrs()))
				body, ok := enc.encode(b.events)
				if !ok {
					t.Skip("this encoding cannot carry the batch")
				}
				if enc.name == "ndjson-detected" {
					body = asNDJSON(b.events...)
				}
				var ids []string
				for _, ev := range b.events {
					ids = append(ids, id(ev.(map[string]any)))
				}
				w := b.want(ids)
				a := h.send(body, sendOpts{key: webKey, contentType: enc.contentType, gzip: enc.gzip, keyHeader: enc.keyHeader})
				checkAnswer(t, a, w.accepted, w.rejected)
				checkTopics(t, h, w.accepted, "test.web.page_view", "test.web.click")
				checkDLQ(t, h, w.rejected, b.events)
			})
		}
	}
}

// NDJSON declared as such: a line that is not JSON is one rejected event, kept in the
// DLQ as sent; the other lines are accepted.
func TestNDJSONBadLineIsOneRejectedEvent(t *testing.T) {
	t.Parallel()
	e := startBroker(t)
	h := startCollector(t, testConfig(t, e.Addrs()))
	a, b := event("page_view", "web"), event("page_view", "web")
	events := []any{a, `{"event_id": oops`, b, `[1,2]`}
	ans := h.send(asNDJSON(events...), sendOpts{key: webKey, contentType: "application/x-ndjson"})
	accepted := map[string][]string{"test.web.page_view": sorted(id(a), id(b))}
	rejected := []EventError{{Index: 1, Reason: ReasonInvalidJSON}, {Index: 3, Reason: ReasonNotAnObject}}
	checkAnswer(t, ans, accepted, rejected)
	checkTopics(t, h, accepted, "test.web.page_view")
	checkDLQ(t, h, rejected, events)
}

// The record: key = user.id (else device.id, else event_id), value = the envelope with
// received_at and the client, headers naming the event.
func TestRecordShape(t *testing.T) {
	t.Parallel()
	e := startBroker(t)
	cfg := testConfig(t, e.Addrs())
	fixed := time.Date(2026, 11, 25, 12, 0, 1, 500_000_000, time.UTC)
	h := startCollectorWith(t, cfg, Options{Now: func() time.Time { return fixed }})
	withUser := event("page_view", "web", func(m map[string]any) { m["payload"] = map[string]any{"url": "/a", "duration_ms": 5} })
	deviceOnly := event("click", "web", func(m map[string]any) { delete(m, "user") })
	bare := event("click", "web", func(m map[string]any) { delete(m, "user"); delete(m, "device"); delete(m, "payload") })
	ans := h.send(asArray(withUser, deviceOnly, bare), sendOpts{key: webKey})
	if ans.code != http.StatusOK || ans.resp.Accepted != 3 {
		t.Fatalf("answer %d %s", ans.code, ans.raw)
	}
	recs := readCommitted(t, h.brokers, "test.web.page_view")
	if len(recs) != 1 {
		t.Fatalf("page_view: %d records", len(recs))
	}
	r := recs[0]
	if string(r.Key) != "u-1" {
		t.Errorf("key %q, want the user id", r.Key)
	}
	want := `{"event_id":"` + id(withUser) + `","event_name":"page_view","occurred_at":"2026-11-25T12:00:00.123Z","source":"web",` +
		`"app":{"id":"shop","version":"1.2.3"},"device":{"id":"d-1"},"user":{"id":"u-1"},"payload":{"duration_ms":5,"url":"/a"},` +
		`"received_at":"2026-11-25T12:00:01.5Z","client":{"ip":"127.0.0.1","user_agent":"collector-test/1"}}`
	if string(r.Value) != want {
		t.Errorf("value\n got %s\nwant %s", r.Value, want)
	}
	for k, v := range map[string]string{HeaderEventName: "page_view", HeaderEventID: id(withUser), HeaderSource: "web", HeaderReceivedAt: "2026-11-25T12:00:01.5Z"} {
		if got, _ := header(r, k); got != v {
			t.Errorf("header %s = %q, want %q", k, got, v)
		}
	}
	keys := map[string]string{}
	for _, r := range readCommitted(t, h.brokers, "test.web.click") {
		v, _ := header(r, HeaderEventID)
		keys[v] = string(r.Key)
		if v == id(bare) && bytes.Contains(r.Value, []byte(`"payload"`)) {
			t.Errorf("an event sent without payload got one: %s", r.Value)
		}
	}
	if keys[id(deviceOnly)] != "d-1" || keys[id(bare)] != id(bare) {
		t.Errorf("keys %v: want the device id, then the event id", keys)
	}
}

// client_address none keeps the address out; a trusted proxy's X-Forwarded-For is
// believed, an untrusted peer's is not.
func TestClientAddress(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		mode    string
		proxies []string
		xff     string
		want    string
	}{
		{"remote", "remote", nil, "", `"client":{"ip":"127.0.0.1","user_agent":"ua"}`},
		{"untrusted-xff-ignored", "remote", nil, "203.0.113.9", `"client":{"ip":"127.0.0.1","user_agent":"ua"}`},
		{"trusted-proxy", "remote", []string{"127.0.0.0/8", "10.0.0.0/8"}, "198.51.100.7, 203.0.113.9, 10.1.1.1", `"client":{"ip":"203.0.113.9","user_agent":"ua"}`},
		{"none", "none", nil, "203.0.113.9", `"client":{"user_agent":"ua"}`},
	}
	e := startBroker(t)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := testConfig(t, e.Addrs())
			cfg.Collector.ClientAddress = c.mode
			cfg.Collector.TrustedProxies = c.proxies
			cfg.Collector.Routes = []topology.Route{{Source: "web", Topic: "test.addr." + c.name}}
			h := startCollector(t, cfg)
			ev := event("click", "web")
			req, _ := http.NewRequest(http.MethodPost, h.url+"/v1/events", bytes.NewReader(asArray(ev)))
			req.Header.Set("Authorization", "Bearer "+webKey)
			req.Header.Set("User-Agent", "ua")
			if c.xff != "" {
				req.Header.Set("X-Forwarded-For", c.xff)
			}
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if res.StatusCode != http.StatusOK {
				t.Fatalf("status %d", res.StatusCode)
			}
			recs := readCommitted(t, h.brokers, "test.addr."+c.name)
			if len(recs) != 1 || !strings.Contains(string(recs[0].Value), c.want) {
				t.Fatalf("records %d, value %s; want %s", len(recs), recs[0].Value, c.want)
			}
		})
	}
}

func checkAnswer(t *testing.T, a answer, accepted map[string][]string, rejected []EventError) {
	t.Helper()
	if a.code != http.StatusOK {
		t.Fatalf("status %d, want 200: %s", a.code, a.raw)
	}
	n := 0
	for _, ids := range accepted {
		n += len(ids)
	}
	if a.resp.Accepted != n || a.resp.Rejected != len(rejected) {
		t.Errorf("accepted %d rejected %d, want %d and %d: %s", a.resp.Accepted, a.resp.Rejected, n, len(rejected), a.raw)
	}
	if len(a.resp.Errors) != len(rejected) {
		t.Fatalf("errors %+v, want %+v", a.resp.Errors, rejected)
	}
	for i, w := range rejected {
		g := a.resp.Errors[i]
		if g.Index != w.Index || g.Reason != w.Reason || g.EventID != w.EventID || g.Message == "" {
			t.Errorf("error %d: got %+v, want index %d, event_id %q, reason %s and a message", i, g, w.Index, w.EventID, w.Reason)
		}
	}
}

func checkTopics(t *testing.T, h *harness, accepted map[string][]string, topics ...string) {
	t.Helper()
	for _, topic := range topics {
		want := accepted[topic]
		if len(want) == 0 {
			if topicExists(t, h.brokers, topic) {
				if got := topicIDs(t, h.brokers, topic); len(got) > 0 {
					t.Errorf("%s holds %v, want nothing", topic, got)
				}
			}
			continue
		}
		if got := topicIDs(t, h.brokers, topic); !slices.Equal(got, want) {
			t.Errorf("%s holds %v, want %v", topic, got, want)
		}
	}
}

// checkDLQ: the DLQ holds each rejected event once, as sent, with its reason and index.
func checkDLQ(t *testing.T, h *harness, rejected []EventError, events []any) {
	t.Helper()
	recs := readCommitted(t, h.brokers, dlqTopic)
	if len(recs) != len(rejected) {
		t.Fatalf("DLQ holds %d records, want %d", len(recs), len(rejected))
	}
	for i, w := range rejected {
		r := recs[i]
		reason, _ := header(r, HeaderDLQReason)
		index, _ := header(r, HeaderDLQIndex)
		msg, _ := header(r, HeaderDLQError)
		if reason != w.Reason || index != itoa(w.Index) || msg == "" {
			t.Errorf("DLQ record %d: reason %q index %q error %q, want %s at %d", i, reason, index, msg, w.Reason, w.Index)
		}
		var sent []byte
		switch e := events[w.Index].(type) {
		case string:
			sent = []byte(e)
		default:
			sent, _ = json.Marshal(e)
		}
		if !jsonEqual(r.Value, sent) {
			t.Errorf("DLQ record %d value %s, want the event as sent %s", i, r.Value, sent)
		}
	}
}

func jsonEqual(a, b []byte) bool {
	if bytes.Equal(bytes.TrimSpace(a), bytes.TrimSpace(b)) {
		return true
	}
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	xa, _ := json.Marshal(x)
	ya, _ := json.Marshal(y)
	return bytes.Equal(xa, ya)
}
