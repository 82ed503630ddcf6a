package collector

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// Shutdown: readiness turns 503 and new requests are refused with 503 at once, while a
// request already waiting for its transaction is committed and answered 200 before
// Shutdown returns.
func TestShutdownDrainsInFlightRequests(t *testing.T) {
	t.Parallel()
	e := startBroker(t)
	cfg := testConfig(t, e.Addrs())
	release := make(chan struct{})
	h := startCollectorWith(t, cfg, Options{beforeWrite: func() { <-release }})

	waiting := event("click", "web")
	done := make(chan answer, 1)
	go func() { done <- h.send(asArray(waiting), sendOpts{key: webKey}) }()
	for h.col.inFlight.Load() != 1 {
		time.Sleep(5 * time.Millisecond)
	}
	stopped := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		stopped <- h.col.Shutdown(ctx)
	}()
	for !h.col.draining.Load() {
		time.Sleep(5 * time.Millisecond)
	}
	rec := httptest.NewRecorder()
	h.col.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
	if rec.Code != http.StatusServiceUnavailable {
		t.Errorf("readyz while draining: %d, want 503", rec.Code)
	}
	late := httptest.NewRequest(http.MethodPost, "/v1/events", nil)
	late.Header.Set("Authorization", "Bearer "+webKey)
	rec = httptest.NewRecorder()
	h.col.Handler().ServeHTTP(rec, late)
	if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") == "" {
		t.Errorf("a request while draining: %d, want 503 with Retry-After", rec.Code)
	}
	select {
	case err := <-stopped:
		t.Fatalf("Shutdown returned before the waiting request was answered: %v", err)
	default:
	}
	close(release)
	if a := <-done; a.code != http.StatusOK || a.resp.Accepted != 1 {
		t.Fatalf("the waiting request: %d %s", a.code, a.raw)
	}
	if err := <-stopped; err != nil {
		t.Fatal(err)
	}
	if got := topicIDs(t, h.brokers, "test.web.click"); !slices.Equal(got, []string{id(waiting)}) {
		t.Errorf("topic holds %v, want the waiting event", got)
	}
}

// The counters follow the answers: accepted and rejected by source, event and reason
// (undeclared names as "other"), requests by code, one transaction per request here.
func TestMetrics(t *testing.T) {
	t.Parallel()
	e := startBroker(t)
	h := startCollector(t, testConfig(t, e.Addrs()))
	noURL := func(m map[string]any) { m["payload"] = map[string]any{} }
	h.send(asArray(event("page_view", "web"), event("page_view", "web", noURL), event("click", "web")), sendOpts{key: webKey})
	h.send(asArray(event("purchase", "web")), sendOpts{key: webKey})
	h.send(asArray(event("whatever", "somewhere")), sendOpts{key: anyToken})
	m := h.col.m
	checks := []struct {
		name string
		got  float64
		want float64
	}{
		{"accepted web page_view", testutil.ToFloat64(m.Accepted.WithLabelValues("web", "page_view", "http")), 1},
		{"accepted web click", testutil.ToFloat64(m.Accepted.WithLabelValues("web", "click", "http")), 1},
		{"accepted other other", testutil.ToFloat64(m.Accepted.WithLabelValues("other", "other", "http")), 1},
		{"rejected schema", testutil.ToFloat64(m.Rejected.WithLabelValues("web", "page_view", ReasonSchema, "http")), 1},
		{"rejected forbidden", testutil.ToFloat64(m.Rejected.WithLabelValues("web", "purchase", ReasonForbidden, "http")), 1},
		{"requests 200", testutil.ToFloat64(m.Requests.WithLabelValues("200")), 2},
		{"requests 403", testutil.ToFloat64(m.Requests.WithLabelValues("403")), 1},
		{"transactions committed", testutil.ToFloat64(m.Transactions.WithLabelValues("committed")), 2},
		{"queue empty", testutil.ToFloat64(m.Queue), 0},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s: %v, want %v", c.name, c.got, c.want)
		}
	}
	if n := testutil.CollectAndCount(m.Commit); n != 1 {
		t.Errorf("commit histogram: %d series", n)
	}
}
