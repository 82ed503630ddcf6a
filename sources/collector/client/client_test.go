package client

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// enqueueAll queues n events from a few goroutines, as an app's handlers would, and
// returns their IDs (known up front, so the test can check them against "Kafka").
func enqueueAll(t *testing.T, c *Client, n int, name func(i int) string) []string {
	t.Helper()
	ids := make([]string, n)
	var wg sync.WaitGroup
	const producers = 4
	for p := range producers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := p; i < n; i += producers {
				ev := event(i)
				ev.EventID = NewEventID()
				if name != nil {
					ev.EventName = name(i)
				}
				ids[i] = ev.EventID
				if err := c.Enqueue(context.Background(), ev); err != nil {
					t.Errorf("enqueue %d: %v", i, err)
				}
			}
		}()
	}
	wg.Wait()
	return ids
}

// TestEveryEventAcceptedOnce drives the client through the server's misbehaviours; in
// each, every event must end in "Kafka" exactly once (apart from copies the fake made on
// purpose by taking a batch and then failing the answer), and none may fail.
func TestEveryEventAcceptedOnce(t *testing.T) {
	const n = 1000
	cases := []struct {
		name      string
		faults    []fault
		faultFn   func(req, _ int) fault
		maxEvents int
		maxBody   int
		opts      Options
		retried   bool
		minWait   time.Duration // a recorded backoff wait must be at least this (Retry-After)
	}{
		{name: "healthy"},
		{name: "503 with Retry-After", faults: []fault{{status: 503, retryAfter: "3"}, {status: 503, retryAfter: "3"}, {status: 503, retryAfter: "3"}}, retried: true, minWait: 3 * time.Second},
		{name: "429", faults: []fault{{status: 429, retryAfter: "1"}, {status: 429}}, retried: true, minWait: time.Second},
		{name: "500 and 502", faults: []fault{{status: 500}, {status: 502}}, retried: true},
		{name: "dropped connections", faults: []fault{{drop: true}, {drop: true}, {drop: true}}, retried: true},
		{name: "every third request dropped", faultFn: func(req, _ int) fault { return fault{drop: req%3 == 0} }, retried: true},
		{name: "slow answers", faultFn: func(req, _ int) fault { return fault{delay: time.Duration(req%5) * time.Millisecond} }},
		// The timeout is far above a loopback answer's time even under -race on a busy
		// machine: a request that timed out after the fake took it would be a duplicate.
		{name: "no answer until the client gives up", faults: []fault{{hang: true}}, opts: Options{RequestTimeout: time.Second}, retried: true},
		{name: "accepted then 503", faults: []fault{{status: 503, acceptFirst: true}, {status: 500, acceptFirst: true}}, retried: true},
		{name: "413 above 30 events", maxEvents: 30, retried: true},
		{name: "413 above 4 KiB", maxBody: 4 << 10, opts: Options{GzipMinBytes: -1}, retried: true},
		{name: "small batches, many in flight", opts: Options{MaxBatchEvents: 7, Concurrency: 8}},
		{name: "byte-limited batches", opts: Options{MaxBatchBytes: 2000}},
		{name: "no gzip", opts: Options{GzipMinBytes: -1}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(t)
			f.setFaults(tc.faults...)
			f.faultFn, f.maxEvents, f.maxBody = tc.faultFn, tc.maxEvents, tc.maxBody
			var w waits
			o := tc.opts
			o.URL, o.APIKey, o.sleep = f.URL, f.key, w.sleep
			o.MaxAttempts = 50
			var rejected, failed int
			var mu sync.Mutex
			o.OnRejected = func(r []Rejection) { mu.Lock(); rejected += len(r); mu.Unlock() }
			o.OnFailed = func(fl Failure) { mu.Lock(); failed += len(fl.Events); mu.Unlock(); t.Errorf("failed: %v", fl.Err) }
			c, err := New(o)
			if err != nil {
				t.Fatal(err)
			}
			ids := enqueueAll(t, c, n, nil)
			if err := c.Close(context.Background()); err != nil {
				t.Fatalf("close: %v", err)
			}
			f.check(t, ids)
			st := c.Stats()
			if st.Queued != n || st.Accepted != n || st.Rejected != 0 || st.Failed != 0 || rejected+failed != 0 {
				t.Errorf("stats %+v, callbacks rejected %d failed %d: want all %d accepted", st, rejected, failed, n)
			}
			if tc.retried != (st.Retried > 0) {
				t.Errorf("retried %d events, want retries: %v", st.Retried, tc.retried)
			}
			if tc.minWait > 0 {
				var longest time.Duration
				for _, d := range w.all() {
					longest = max(longest, d)
				}
				if longest < tc.minWait {
					t.Errorf("longest wait %s: Retry-After %s not honoured", longest, tc.minWait)
				}
			}
		})
	}
}

// TestRejectedReportedNotRetried: the invalid events of mixed batches reach OnRejected
// with the server's reason, are posted once only, and the valid ones are accepted.
func TestRejectedReportedNotRetried(t *testing.T) {
	f := newFake(t)
	var mu sync.Mutex
	got := map[string]Rejection{}
	c, err := New(Options{URL: f.URL, APIKey: f.key, OnRejected: func(rs []Rejection) {
		mu.Lock()
		defer mu.Unlock()
		for _, r := range rs {
			got[r.Event.EventID] = r
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	const n = 500
	ids := enqueueAll(t, c, n, func(i int) string {
		if i%7 == 0 {
			return "invalid_thing"
		}
		return "level_up"
	})
	if err := c.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	var valid []string
	for i, id := range ids {
		if i%7 != 0 {
			valid = append(valid, id)
			continue
		}
		r, ok := got[id]
		if !ok {
			t.Errorf("invalid event %d (%s) not reported", i, id)
		} else if r.Reason != "schema" || r.Status != http.StatusOK || r.Event.EventName != "invalid_thing" {
			t.Errorf("rejection %+v", r)
		}
		if n := f.posted(id); n != 1 {
			t.Errorf("invalid event %s posted %d times, want once", id, n)
		}
	}
	f.check(t, valid)
	if st := c.Stats(); st.Rejected != int64(len(got)) || st.Accepted != int64(len(valid)) || st.Retried != 0 {
		t.Errorf("stats %+v, want %d rejected, %d accepted, no retries", st, len(got), len(valid))
	}
}

// TestNotRetryable: answers that a re-send cannot change fail the batch after one request.
func TestNotRetryable(t *testing.T) {
	cases := []struct {
		name   string
		key    string
		event  string
		json   bool
		status int
	}{
		{name: "unknown key", key: "wrong", event: "level_up", status: 401},
		{name: "forbidden event name", key: "secret", event: "forbidden", status: 403},
		{name: "bad body", key: "secret", event: "level_up", status: 400},
		{name: "unsupported media type", key: "secret", event: "level_up", status: 415},
		{name: "not implemented", key: "secret", event: "level_up", status: 501},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(t)
			var failures []Failure
			var mu sync.Mutex
			c, err := New(Options{URL: f.URL, APIKey: tc.key, OnFailed: func(fl Failure) { mu.Lock(); failures = append(failures, fl); mu.Unlock() }})
			if err != nil {
				t.Fatal(err)
			}
			c.hc.Transport = mangle{c.hc.Transport, tc.status}
			if tc.status >= 500 {
				f.setFaults(fault{status: tc.status})
			}
			ev := event(1)
			ev.EventName = tc.event
			if err := c.Enqueue(context.Background(), ev); err != nil {
				t.Fatal(err)
			}
			err = c.Close(context.Background())
			var se *StatusError
			if !errors.As(err, &se) || se.Code != tc.status {
				t.Fatalf("close: %v, want a StatusError %d", err, tc.status)
			}
			if len(failures) != 1 || len(failures[0].Events) != 1 || failures[0].Events[0].EventID == "" {
				t.Errorf("failures %+v, want the one event", failures)
			}
			if r := f.requestCount(); r != 1 {
				t.Errorf("%d requests, want 1", r)
			}
			if st := c.Stats(); st.Failed != 1 || st.Retried != 0 {
				t.Errorf("stats %+v", st)
			}
		})
	}
}

// mangle breaks requests the way the server's 400 and 415 cases need.
type mangle struct {
	rt     http.RoundTripper
	status int
}

func (m mangle) RoundTrip(r *http.Request) (*http.Response, error) {
	switch m.status {
	case 400:
		r.Header.Del("Content-Encoding")
		r.Body = http.NoBody
		r.ContentLength = 0
	case 415:
		r.Header.Set("Content-Type", "text/plain")
	}
	return m.rt.RoundTrip(r)
}

// TestTooLarge: an event bigger than MaxBatchBytes is refused by Enqueue at once; an event
// the server alone finds too large (413 for a batch of one) is reported as rejected.
func TestTooLarge(t *testing.T) {
	f := newFake(t)
	f.maxBody = 600
	var rejected []Rejection
	var mu sync.Mutex
	c, err := New(Options{URL: f.URL, APIKey: f.key, MaxBatchBytes: 4000, MaxEventBytes: 1 << 20, GzipMinBytes: -1,
		OnRejected: func(r []Rejection) { mu.Lock(); rejected = append(rejected, r...); mu.Unlock() }})
	if err != nil {
		t.Fatal(err)
	}
	huge := event(1)
	huge.Payload = map[string]string{"blob": strings.Repeat("x", 5000)}
	if err := c.Enqueue(context.Background(), huge); !errors.Is(err, ErrEventTooLarge) {
		t.Errorf("enqueue of a 5 KB event with a 4000-byte limit: %v, want ErrEventTooLarge", err)
	}
	big := event(2)
	big.Payload = map[string]string{"blob": strings.Repeat("y", 1000)}
	big.EventID = NewEventID()
	ids := []string{}
	for i := range 20 {
		ev := event(i)
		ev.EventID = NewEventID()
		ids = append(ids, ev.EventID)
		if err := c.Enqueue(context.Background(), ev); err != nil {
			t.Fatal(err)
		}
		if i == 10 {
			if err := c.Enqueue(context.Background(), big); err != nil {
				t.Fatal(err)
			}
		}
	}
	small, err := New(Options{URL: f.URL, MaxEventBytes: 500})
	if err != nil {
		t.Fatal(err)
	}
	defer small.Close(context.Background())
	if err := small.TryEnqueue(big); !errors.Is(err, ErrEventTooLarge) {
		t.Errorf("try enqueue of a 1 KB event with MaxEventBytes 500: %v, want ErrEventTooLarge", err)
	}
	if err := c.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	f.check(t, ids)
	if len(rejected) != 1 || rejected[0].Event.EventID != big.EventID || rejected[0].Status != 413 {
		t.Errorf("rejected %+v, want the big event with 413", rejected)
	}
	if st := c.Stats(); st.Accepted != 20 || st.Rejected != 1 || st.Failed != 0 || st.Queued != 21 {
		t.Errorf("stats %+v", st)
	}
}

// TestGivesUp: a server that stays unavailable makes the batch fail after MaxAttempts, or
// once MaxElapsed would be passed by the next wait.
func TestGivesUp(t *testing.T) {
	cases := []struct {
		name     string
		opts     Options
		requests int
	}{
		{name: "max attempts", opts: Options{MaxAttempts: 4}, requests: 4},
		{name: "max elapsed below Retry-After", opts: Options{MaxElapsed: 30 * time.Second}, requests: 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(t)
			f.faultFn = func(int, int) fault { return fault{status: 503, retryAfter: "60"} }
			var w waits
			o := tc.opts
			o.URL, o.APIKey, o.sleep = f.URL, f.key, w.sleep
			var failed []Failure
			o.OnFailed = func(fl Failure) { failed = append(failed, fl) }
			c, err := New(o)
			if err != nil {
				t.Fatal(err)
			}
			for i := range 3 {
				if err := c.Enqueue(context.Background(), event(i)); err != nil {
					t.Fatal(err)
				}
			}
			err = c.Close(context.Background())
			var se *StatusError
			if !errors.As(err, &se) || se.Code != 503 {
				t.Errorf("close: %v, want the last 503", err)
			}
			if len(failed) != 1 || len(failed[0].Events) != 3 {
				t.Errorf("failed %+v", failed)
			}
			if r := f.requestCount(); r != tc.requests {
				t.Errorf("%d requests, want %d", r, tc.requests)
			}
			if st := c.Stats(); st.Failed != 3 || st.Accepted != 0 {
				t.Errorf("stats %+v", st)
			}
		})
	}
}

// TestCloseFlushes: events waiting for a batch that would fill in an hour are posted by
// Close.
func TestCloseFlushes(t *testing.T) {
	f := newFake(t)
	c, err := New(Options{URL: f.URL, APIKey: f.key, FlushInterval: time.Hour, MaxBatchEvents: 1000})
	if err != nil {
		t.Fatal(err)
	}
	ids := enqueueAll(t, c, 10, nil)
	if err := c.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	f.check(t, ids)
	if err := c.Enqueue(context.Background(), event(1)); !errors.Is(err, ErrClosed) {
		t.Errorf("enqueue after close: %v, want ErrClosed", err)
	}
	if err := c.TryEnqueue(event(1)); !errors.Is(err, ErrClosed) {
		t.Errorf("try enqueue after close: %v, want ErrClosed", err)
	}
	if err := c.Close(context.Background()); err != nil {
		t.Errorf("second close: %v", err)
	}
}

// TestCloseGivesUpWhenItsContextEnds: a server that never recovers cannot hold Close
// beyond its context, and every undelivered event is reported failed, none lost.
func TestCloseGivesUpWhenItsContextEnds(t *testing.T) {
	f := newFake(t)
	f.faultFn = func(int, int) fault { return fault{status: 503, retryAfter: "1"} }
	var failed int
	var mu sync.Mutex
	c, err := New(Options{URL: f.URL, APIKey: f.key, MaxBatchEvents: 10, QueueSize: 1000,
		OnFailed: func(fl Failure) {
			mu.Lock()
			failed += len(fl.Events)
			mu.Unlock()
			if !errors.Is(fl.Err, ErrClosed) {
				t.Errorf("failure %v, want ErrClosed", fl.Err)
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	enqueueAll(t, c, 200, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := c.Close(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("close: %v, want DeadlineExceeded", err)
	}
	if st := c.Stats(); failed != 200 || st.Failed != 200 || st.Accepted != 0 {
		t.Errorf("failed %d, stats %+v: want all 200 failed", failed, st)
	}
}

// TestQueueFull: with the server stalled, the client holds QueueSize events plus one batch
// per sender and one being built; then TryEnqueue says ErrQueueFull and Enqueue waits for
// its context. Once the server answers, every event taken is delivered.
func TestQueueFull(t *testing.T) {
	f := newFake(t)
	f.stall()
	const queue = 5
	c, err := New(Options{URL: f.URL, APIKey: f.key, Concurrency: 1, MaxBatchEvents: 1, QueueSize: queue})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	const capacity = queue + 2 // the queue, the batch being posted, the batch waiting for the sender
	for len(ids) < capacity {
		ev := event(len(ids))
		ev.EventID = NewEventID()
		switch err := c.TryEnqueue(ev); {
		case err == nil:
			ids = append(ids, ev.EventID)
		case errors.Is(err, ErrQueueFull):
			time.Sleep(time.Millisecond) // the batcher has yet to take from the queue
		default:
			t.Fatal(err)
		}
	}
	if err := c.TryEnqueue(event(99)); !errors.Is(err, ErrQueueFull) {
		t.Errorf("try enqueue on a full client: %v, want ErrQueueFull", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := c.Enqueue(ctx, event(99)); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("enqueue on a full client: %v, want DeadlineExceeded", err)
	}
	waiting := make(chan error)
	late := event(100)
	late.EventID = NewEventID()
	go func() { waiting <- c.Enqueue(context.Background(), late) }()
	f.unstall()
	if err := <-waiting; err != nil {
		t.Errorf("a waiting enqueue: %v", err)
	}
	if err := c.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	f.check(t, append(ids, late.EventID))
	if st := c.Stats(); st.Queued != capacity+1 || st.Accepted != capacity+1 {
		t.Errorf("stats %+v", st)
	}
}

// TestCloseWakesWaitingEnqueue: Enqueue waiting on a full queue returns ErrClosed when
// Close begins, so the caller knows that event was not taken.
func TestCloseWakesWaitingEnqueue(t *testing.T) {
	f := newFake(t)
	f.stall()
	c, err := New(Options{URL: f.URL, APIKey: f.key, Concurrency: 1, MaxBatchEvents: 1, QueueSize: 1})
	if err != nil {
		t.Fatal(err)
	}
	waiting := make(chan error, 10)
	for i := range 10 {
		go func() { waiting <- c.Enqueue(context.Background(), event(i)) }()
	}
	// Three fit (the queue, the batch being posted, the batch waiting for the sender);
	// the other seven wait on the full queue.
	for range 3 {
		if err := <-waiting; err != nil {
			t.Fatalf("an enqueue returned %v before close", err)
		}
	}
	closed := make(chan error)
	go func() { closed <- c.Close(context.Background()) }()
	for range 7 {
		if err := <-waiting; !errors.Is(err, ErrClosed) {
			t.Errorf("waiting enqueue: %v, want ErrClosed", err)
		}
	}
	f.unstall()
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
	if st := c.Stats(); st.Accepted != 3 || st.Queued != 3 {
		t.Errorf("stats %+v, want the 3 taken events accepted", st)
	}
}

// TestSend: the synchronous path fills the caller's IDs in, so sending the same slice
// again re-sends the same events rather than new ones.
func TestSend(t *testing.T) {
	f := newFake(t)
	f.setFaults(fault{status: 503, retryAfter: "0"}, fault{drop: true})
	var w waits
	c, err := New(Options{URL: f.URL, APIKey: f.key, MaxBatchEvents: 25, sleep: w.sleep})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(context.Background())
	evs := make([]Event, 100)
	for i := range evs {
		evs[i] = event(i)
	}
	evs[42].EventName = "invalid_x"
	huge := event(0)
	huge.Payload = map[string]string{"x": strings.Repeat("z", 600<<10)}
	evs = append(evs, huge)
	res, err := c.Send(context.Background(), evs)
	if err != nil {
		t.Fatal(err)
	}
	if res.Accepted != 99 || len(res.Rejected) != 2 || res.Rejected[0].Event.EventID != evs[42].EventID || res.Rejected[1].Reason != "event_too_large" {
		t.Errorf("result %+v", res)
	}
	var ids []string
	for i, ev := range evs[:100] {
		if ev.EventID == "" || ev.OccurredAt.IsZero() {
			t.Fatalf("event %d not filled in: %+v", i, ev)
		}
		if i != 42 {
			ids = append(ids, ev.EventID)
		}
	}
	f.check(t, ids)
	if _, err := c.Send(context.Background(), evs[:100]); err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		if f.count(id) != 2 {
			t.Fatalf("event %s in kafka %d times after sending the same slice twice, want 2 (same id)", id, f.count(id))
		}
	}
}

// TestGzip: bodies at or above GzipMinBytes are gzip-encoded, smaller ones are not.
func TestGzip(t *testing.T) {
	cases := []struct {
		min     int
		gzipped bool
	}{{0, true}, {1, true}, {-1, false}, {1 << 20, false}}
	for _, tc := range cases {
		f := newFake(t)
		c, err := New(Options{URL: f.URL, APIKey: f.key, GzipMinBytes: tc.min})
		if err != nil {
			t.Fatal(err)
		}
		ids := enqueueAll(t, c, 300, nil)
		if err := c.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
		f.check(t, ids)
		f.mu.Lock()
		gz, reqs := f.gzipped, f.requests
		f.mu.Unlock()
		if (gz > 0) != tc.gzipped || (tc.gzipped && gz != reqs) {
			t.Errorf("GzipMinBytes %d: %d of %d requests gzipped", tc.min, gz, reqs)
		}
	}
}

func TestParseRetryAfter(t *testing.T) {
	cases := []struct {
		in   string
		want time.Duration
	}{
		{"", 0}, {"0", 0}, {"7", 7 * time.Second}, {" 2 ", 2 * time.Second}, {"-3", 0}, {"soon", 0},
		{"Mon, 02 Jan 2006 15:04:05 GMT", 0},
	}
	for _, tc := range cases {
		if got := parseRetryAfter(tc.in); got != tc.want {
			t.Errorf("parseRetryAfter(%q) = %s, want %s", tc.in, got, tc.want)
		}
	}
	future := time.Now().Add(time.Hour).UTC().Format(http.TimeFormat)
	if got := parseRetryAfter(future); got < 58*time.Minute || got > time.Hour {
		t.Errorf("parseRetryAfter(an hour from now) = %s", got)
	}
}

func TestEventIDs(t *testing.T) {
	seen := map[string]bool{}
	for range 10_000 {
		id := NewEventID()
		if !uuidRE.MatchString(id) || seen[id] {
			t.Fatalf("bad or repeated id %q", id)
		}
		seen[id] = true
	}
}

func TestDefaultsFilledIn(t *testing.T) {
	f := newFake(t)
	c, err := New(Options{URL: f.URL + "/v1/events/", APIKey: f.key, Source: "shop", App: App{ID: "web", Version: "3"}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(context.Background())
	evs := []Event{{EventName: "view"}, {EventName: "view", Source: "mine", App: App{ID: "x"}}}
	if _, err := c.Send(context.Background(), evs); err != nil {
		t.Fatal(err)
	}
	if evs[0].Source != "shop" || evs[0].App != (App{ID: "web", Version: "3"}) || evs[1].Source != "mine" || evs[1].App != (App{ID: "x"}) {
		t.Errorf("events after Send: %+v", evs)
	}
	f.check(t, []string{evs[0].EventID, evs[1].EventID})
}

// TestSendHonoursItsContext: Send against a server that stays unavailable returns once
// the caller's context ends, with that context's error, the events reported failed.
func TestSendHonoursItsContext(t *testing.T) {
	f := newFake(t)
	f.faultFn = func(int, int) fault { return fault{status: 503, retryAfter: "30"} }
	c, err := New(Options{URL: f.URL, APIKey: f.key})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	res, err := c.Send(ctx, []Event{event(1), event(2)})
	if !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, ErrClosed) {
		t.Errorf("send: %v, want DeadlineExceeded", err)
	}
	if len(res.Failed) != 1 || len(res.Failed[0].Events) != 2 || res.Accepted != 0 {
		t.Errorf("result %+v", res)
	}
	if err := c.Close(context.Background()); err == nil {
		t.Error("close: nil after failed events")
	}
}

// TestFlush: events waiting for a batch that would fill in an hour are posted by Flush,
// which returns once they are settled; the client goes on taking events.
func TestFlush(t *testing.T) {
	f := newFake(t)
	c, err := New(Options{URL: f.URL, APIKey: f.key, FlushInterval: time.Hour, MaxBatchEvents: 1000, Concurrency: 3})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Flush(context.Background()); err != nil {
		t.Fatalf("flush of nothing: %v", err)
	}
	var all []string
	for round := range 5 {
		ids := enqueueAll(t, c, 10+round, nil)
		all = append(all, ids...)
		if err := c.Flush(context.Background()); err != nil {
			t.Fatal(err)
		}
		if st := c.Stats(); st.Accepted != int64(len(all)) {
			t.Fatalf("round %d: %d accepted after Flush, want %d", round, st.Accepted, len(all))
		}
	}
	f.check(t, all)

	f.stall()
	enqueueAll(t, c, 3, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := c.Flush(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("flush with the server stalled: %v, want DeadlineExceeded", err)
	}
	f.unstall()
	if err := c.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := c.Flush(context.Background()); !errors.Is(err, ErrClosed) {
		t.Errorf("flush after close: %v, want ErrClosed", err)
	}
	if st := c.Stats(); st.Accepted != int64(len(all)+3) {
		t.Errorf("stats %+v", st)
	}
}

// TestFlushWhileSending: Flush calls racing with Enqueue calls each return, and every
// event queued before a Flush returned is settled by then.
func TestFlushWhileSending(t *testing.T) {
	f := newFake(t)
	f.faultFn = func(req, _ int) fault { return fault{delay: time.Duration(req%3) * time.Millisecond} }
	c, err := New(Options{URL: f.URL, APIKey: f.key, MaxBatchEvents: 7, FlushInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for p := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 50 {
				if err := c.Enqueue(context.Background(), event(p*100+i)); err != nil {
					t.Error(err)
					return
				}
				if i%10 == 9 {
					before := c.Stats().Queued
					if err := c.Flush(context.Background()); err != nil {
						t.Error(err)
						return
					}
					if st := c.Stats(); st.Accepted+st.Rejected+st.Failed < before {
						t.Errorf("after flush %d settled, %d were queued before it", st.Accepted+st.Rejected+st.Failed, before)
					}
				}
			}
		}()
	}
	wg.Wait()
	if err := c.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if st := c.Stats(); st.Accepted != 200 {
		t.Errorf("stats %+v", st)
	}
}
