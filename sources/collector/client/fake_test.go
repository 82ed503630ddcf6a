package client

import (
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// fault is what the fake does to one request instead of (or besides) answering it.
type fault struct {
	status      int           // answer this status without taking the batch (503, 429, 500...)
	retryAfter  string        // Retry-After header with status
	drop        bool          // close the connection without an answer
	delay       time.Duration // answer late
	hang        bool          // never answer; give up when the client does
	acceptFirst bool          // take the batch into "Kafka", then answer status anyway
}

// fakeCollector implements the collector's protocol on loopback, with a "Kafka" that
// counts how often each event_id was taken, and faults on demand.
type fakeCollector struct {
	*httptest.Server
	key       string
	maxBody   int // bytes of the decoded body; 0 = no limit
	maxEvents int // events per request; 0 = no limit

	mu       sync.Mutex
	faults   []fault                    // consumed one per request, in order
	faultFn  func(req int, n int) fault // consulted when faults is empty
	kafka    map[string]int             // event_id → times taken
	seen     map[string]int             // event_id → times posted
	requests int
	gzipped  int
	dupesOK  int           // events taken twice on purpose (acceptFirst)
	release  chan struct{} // when set, every request waits for it
	arrived  chan struct{} // receives once per request when set
}

func newFake(t *testing.T) *fakeCollector {
	f := &fakeCollector{key: "secret", kafka: map[string]int{}, seen: map[string]int{}}
	f.Server = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.Close)
	return f
}

var uuidRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

type wireEvent struct {
	EventID    string          `json:"event_id"`
	EventName  string          `json:"event_name"`
	OccurredAt string          `json:"occurred_at"`
	Payload    json.RawMessage `json:"payload"`
}

type wireError struct {
	Index   int    `json:"index"`
	EventID string `json:"event_id"`
	Reason  string `json:"reason"`
	Message string `json:"message"`
}

func (f *fakeCollector) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.requests++
	n := f.requests
	var ft fault
	if len(f.faults) > 0 {
		ft, f.faults = f.faults[0], f.faults[1:]
	} else if f.faultFn != nil {
		ft = f.faultFn(n, 0)
	}
	release, arrived := f.release, f.arrived
	f.mu.Unlock()
	if arrived != nil {
		arrived <- struct{}{}
	}
	if release != nil {
		select {
		case <-release:
		case <-r.Context().Done():
			return
		}
	}

	if r.Method != http.MethodPost || r.URL.Path != Path {
		http.Error(w, "not found", http.StatusNotFound)
		return
	}
	if r.Header.Get("Authorization") != "Bearer "+f.key {
		http.Error(w, `{"error":"unknown API key"}`, http.StatusUnauthorized)
		return
	}
	if r.Header.Get("Content-Type") != "application/json" {
		http.Error(w, "json only", http.StatusUnsupportedMediaType)
		return
	}
	var body io.Reader = r.Body
	if r.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			http.Error(w, "bad gzip", http.StatusBadRequest)
			return
		}
		body = zr
		f.mu.Lock()
		f.gzipped++
		f.mu.Unlock()
	}
	data, err := io.ReadAll(body)
	if err != nil {
		http.Error(w, "bad body", http.StatusBadRequest)
		return
	}
	if f.maxBody > 0 && len(data) > f.maxBody {
		http.Error(w, "body too large", http.StatusRequestEntityTooLarge)
		return
	}
	var evs []wireEvent
	if err := json.Unmarshal(data, &evs); err != nil {
		http.Error(w, "bad body: "+err.Error(), http.StatusBadRequest)
		return
	}
	if f.maxEvents > 0 && len(evs) > f.maxEvents {
		http.Error(w, "batch too large", http.StatusRequestEntityTooLarge)
		return
	}
	for _, e := range evs {
		if e.EventName == "forbidden" {
			http.Error(w, "event name not allowed for this key", http.StatusForbidden)
			return
		}
	}

	if ft.drop {
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			conn.Close()
		}
		return
	}
	if ft.hang {
		<-r.Context().Done()
		return
	}
	if ft.delay > 0 {
		time.Sleep(ft.delay)
	}
	f.mu.Lock()
	for _, e := range evs {
		f.seen[e.EventID]++
	}
	f.mu.Unlock()
	if ft.status != 0 && !ft.acceptFirst {
		if ft.retryAfter != "" {
			w.Header().Set("Retry-After", ft.retryAfter)
		}
		http.Error(w, "unavailable", ft.status)
		return
	}

	var errs []wireError
	f.mu.Lock()
	for i, e := range evs {
		var reason string
		switch {
		case !uuidRE.MatchString(e.EventID):
			reason = "invalid_event_id"
		case e.EventName == "":
			reason = "missing_event_name"
		case strings.HasPrefix(e.EventName, "invalid"):
			reason = "schema"
		case len(e.Payload) > 0 && e.Payload[0] != '{':
			reason = "payload_not_object"
		}
		if _, err := time.Parse(time.RFC3339Nano, e.OccurredAt); reason == "" && err != nil {
			reason = "invalid_occurred_at"
		}
		if reason != "" {
			errs = append(errs, wireError{Index: i, EventID: e.EventID, Reason: reason, Message: reason + " in " + e.EventName})
			continue
		}
		f.kafka[e.EventID]++
		if ft.acceptFirst {
			f.dupesOK++
		}
	}
	f.mu.Unlock()
	if ft.acceptFirst {
		w.Header().Set("Retry-After", ft.retryAfter)
		http.Error(w, "lost the answer", ft.status)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"accepted": len(evs) - len(errs), "rejected": len(errs), "errors": errs})
}

// stall makes every request wait until unstall.
func (f *fakeCollector) stall() {
	f.mu.Lock()
	f.release = make(chan struct{})
	f.mu.Unlock()
}

func (f *fakeCollector) unstall() {
	f.mu.Lock()
	close(f.release)
	f.mu.Unlock()
}

func (f *fakeCollector) setFaults(fs ...fault) {
	f.mu.Lock()
	f.faults = append(f.faults, fs...)
	f.mu.Unlock()
}

// check asserts that every id is in "Kafka" exactly once, apart from the copies the fake
// made on purpose, and that nothing else is.
func (f *fakeCollector) check(t *testing.T, ids []string) {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	want := map[string]bool{}
	for _, id := range ids {
		want[id] = true
	}
	extra := 0
	for id, n := range f.kafka {
		if !want[id] {
			t.Errorf("event %s in kafka but not expected", id)
		}
		extra += n - 1
	}
	for id := range want {
		if f.kafka[id] == 0 {
			t.Errorf("event %s missing from kafka", id)
		}
	}
	if extra != f.dupesOK {
		t.Errorf("%d copies beyond the first in kafka, the fake made %d on purpose", extra, f.dupesOK)
	}
}

func (f *fakeCollector) count(id string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.kafka[id]
}

func (f *fakeCollector) posted(id string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.seen[id]
}

func (f *fakeCollector) requestCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.requests
}

// waits records the client's backoff waits without sleeping, so the tests run fast and
// can check that Retry-After was honoured.
type waits struct {
	mu sync.Mutex
	d  []time.Duration
}

func (w *waits) sleep(ctx context.Context, d time.Duration) error {
	w.mu.Lock()
	w.d = append(w.d, d)
	w.mu.Unlock()
	return ctx.Err()
}

func (w *waits) all() []time.Duration {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]time.Duration(nil), w.d...)
}

func event(i int) Event {
	return Event{
		EventName: "level_up", Source: "game",
		App:     App{ID: "g", Version: "1.2"},
		User:    User{ID: fmt.Sprintf("u%d", i%17)},
		Payload: map[string]any{"i": i, "pad": strings.Repeat("x", i%50)},
	}
}
