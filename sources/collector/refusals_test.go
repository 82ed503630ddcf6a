package collector

import (
	"bytes"
	"compress/gzip"
	"net/http"
	"strings"
	"testing"
)

// Requests refused as a whole: nothing of them reaches an event topic, and only an
// unreadable body (400) is kept in the DLQ.
func TestRefusedRequests(t *testing.T) {
	t.Parallel()
	pv := func() map[string]any { return event("page_view", "web") }
	bomb := func() []byte { // 1 KiB of gzip that inflates past the 4 KiB limit
		var b bytes.Buffer
		zw := gzip.NewWriter(&b)
		zw.Write([]byte("[" + strings.Repeat(" ", 64<<10) + "]"))
		zw.Close()
		return b.Bytes()
	}
	cases := []struct {
		name   string
		body   []byte
		opts   sendOpts
		code   int
		reason string
		// forbidden lists the indexes a 403 names.
		forbidden []int
		// dlq is the raw body kept with reason bad_body.
		dlq []byte
	}{
		{name: "no-key", body: asArray(pv()), code: 401, reason: "unauthorized"},
		{name: "unknown-key", body: asArray(pv()), opts: sendOpts{key: "nope"}, code: 401, reason: "unauthorized"},
		{name: "unknown-x-api-key", body: asArray(pv()), opts: sendOpts{key: "nope", keyHeader: "X-API-Key"}, code: 401, reason: "unauthorized"},
		{name: "forbidden-event", body: asArray(event("purchase", "web"), pv(), event("signup", "web")), opts: sendOpts{key: webKey},
			code: 403, forbidden: []int{0, 2}},
		{name: "forbidden-source", body: asArray(pv(), event("page_view", "billing")), opts: sendOpts{key: webKey},
			code: 403, forbidden: []int{1}},
		{name: "content-type", body: asArray(pv()), opts: sendOpts{key: webKey, contentType: "text/xml"}, code: 415, reason: "unsupported_media_type"},
		{name: "content-encoding", body: asArray(pv()), opts: sendOpts{key: webKey, encoding: "br"}, code: 415, reason: "unsupported_encoding"},
		{name: "body-too-large", body: []byte("[" + strings.Repeat(" ", 5000) + "]"), opts: sendOpts{key: webKey}, code: 413, reason: "body_too_large"},
		{name: "gzip-too-large", body: bomb(), opts: sendOpts{key: webKey, encoding: "gzip"}, code: 413, reason: "body_too_large"},
		{name: "too-many-events", body: asArray(pv(), pv(), pv(), pv()), opts: sendOpts{key: webKey}, code: 413, reason: "too_many_events"},
		{name: "event-too-large", body: asArray(pv(), event("page_view", "web", func(m map[string]any) {
			m["payload"] = map[string]any{"url": strings.Repeat("x", 1000)}
		})), opts: sendOpts{key: webKey}, code: 413, reason: "event_too_large"},
		{name: "bad-body", body: []byte(`[{"event_id": "x"`), opts: sendOpts{key: webKey}, code: 400, reason: ReasonBadBody, dlq: []byte(`[{"event_id": "x"`)},
		{name: "bad-body-not-json", body: []byte(`hello`), opts: sendOpts{key: webKey, contentType: "text/plain"}, code: 400, reason: ReasonBadBody, dlq: []byte(`hello`)},
		{name: "bad-gzip", body: []byte("not gzip"), opts: sendOpts{key: webKey, encoding: "gzip"}, code: 400, reason: ReasonBadBody, dlq: []byte("not gzip")},
		{name: "empty-body", body: nil, opts: sendOpts{key: webKey}, code: 400, reason: ReasonBadBody, dlq: []byte{}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			e := startBroker(t)
			cfg := testConfig(t, e.Addrs())
			cfg.Collector.MaxBodyBytes = 4096
			cfg.Collector.MaxEvents = 3
			cfg.Collector.MaxEventBytes = 800
			h := startCollector(t, cfg)
			a := h.send(c.body, c.opts)
			if a.code != c.code {
				t.Fatalf("status %d, want %d: %s", a.code, c.code, a.raw)
			}
			switch {
			case c.code == 403:
				var got []int
				for _, e := range a.resp.Errors {
					got = append(got, e.Index)
					if e.Reason != ReasonForbidden || e.Message == "" || e.EventID == "" {
						t.Errorf("403 error %+v: want reason forbidden, the event_id and a message", e)
					}
				}
				if a.resp.Accepted != 0 || !equalInts(got, c.forbidden) {
					t.Errorf("403: accepted %d, indexes %v; want 0 and %v", a.resp.Accepted, got, c.forbidden)
				}
			case a.err.Reason != c.reason || a.err.Error == "":
				t.Errorf("answer %s: want reason %s and an error", a.raw, c.reason)
			}
			if c.code == 401 && a.header.Get("WWW-Authenticate") == "" {
				t.Error("401 without WWW-Authenticate")
			}
			checkTopics(t, h, nil, "test.web.page_view", "test.web.purchase")
			recs := readCommitted(t, h.brokers, dlqTopic)
			switch {
			case c.dlq == nil && len(recs) > 0:
				t.Errorf("DLQ holds %d records, want none", len(recs))
			case c.dlq != nil:
				if len(recs) != 1 {
					t.Fatalf("DLQ holds %d records, want the body", len(recs))
				}
				reason, _ := header(recs[0], HeaderDLQReason)
				if !bytes.Equal(recs[0].Value, c.dlq) || reason != ReasonBadBody {
					t.Errorf("DLQ record %q reason %q, want %q and bad_body", recs[0].Value, reason, c.dlq)
				}
			}
		})
	}
}

func TestMethodAndProbes(t *testing.T) {
	t.Parallel()
	e := startBroker(t)
	h := startCollector(t, testConfig(t, e.Addrs()))
	for path, want := range map[string]int{"/v1/events": 405, "/healthz": 200, "/readyz": 200, "/metrics": 200} {
		res, err := http.Get(h.url + path)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != want {
			t.Errorf("GET %s: %d, want %d", path, res.StatusCode, want)
		}
	}
}

// Routes, the token that may send anything, and default topic names sanitized.
func TestRoutingAndSanitizing(t *testing.T) {
	t.Parallel()
	e := startBroker(t)
	h := startCollector(t, testConfig(t, e.Addrs()))
	buy := event("purchase", "billing")
	odd := event("Level Up!", "Mobile App")
	dotted := event("page.view", "web.shop")
	if a := h.send(asArray(buy), sendOpts{key: billingKey}); a.code != 200 || a.resp.Accepted != 1 {
		t.Fatalf("billing: %d %s", a.code, a.raw)
	}
	if a := h.send(asArray(odd, dotted), sendOpts{key: anyToken}); a.code != 200 || a.resp.Accepted != 2 {
		t.Fatalf("token: %d %s", a.code, a.raw)
	}
	for topic, want := range map[string]string{
		"test.purchases":            id(buy),
		"test.Mobile_App.Level_Up_": id(odd),
		"test.web_shop.page_view":   id(dotted),
	} {
		if got := topicIDs(t, h.brokers, topic); len(got) != 1 || got[0] != want {
			t.Errorf("%s holds %v, want %s", topic, got, want)
		}
	}
}

// A topology without keys or tokens needs no authentication.
func TestOpenCollector(t *testing.T) {
	t.Parallel()
	e := startBroker(t)
	cfg := testConfig(t, e.Addrs())
	cfg.Collector.Keys, cfg.Collector.Tokens = nil, nil
	h := startCollector(t, cfg)
	if a := h.send(asArray(event("anything", "svc")), sendOpts{}); a.code != 200 || a.resp.Accepted != 1 {
		t.Fatalf("%d %s", a.code, a.raw)
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
