// Package client is the Go client of the streamhub event collector (`streamhub collect`).
//
// It queues events, packs them into batches by count, bytes and time, posts each batch as a
// JSON array to POST /v1/events (gzip-encoded above a small size) with N requests in
// flight, and retries a batch that met 429, 503, another 5xx or a network error with
// exponential backoff, jitter and the server's Retry-After. A re-sent batch carries the
// same event_id values: the client fills an empty EventID in when the event is queued, not
// when it is posted, so downstream deduplication can tell a re-send from a new event.
//
// Every queued event ends in exactly one of three counts, and nothing is dropped silently:
//
//   - accepted: the server answered 200 and did not list it, so it is in Kafka;
//   - rejected: the server listed it as invalid (it is in the server's dead-letter topic),
//     or it alone was too large (413). Rejected events are never retried; OnRejected hears
//     of them;
//   - failed: a non-retryable answer for the whole batch (400, 401, 403, 415, another 4xx),
//     retries exhausted, or Close's context ended first. OnFailed hears of them and Close
//     returns an error. (Send returns its outcome to the caller instead.)
//
// A full queue makes Enqueue wait (until the context ends) and TryEnqueue return
// ErrQueueFull; the caller decides, the client never discards. Flush posts what is queued
// and waits for its outcome; Close does the same and stops the client. Batches are delivered
// concurrently, so events may reach Kafka in a different order than they were queued.
//
//	c, err := client.New(client.Options{URL: "http://collector:8080", APIKey: key})
//	...
//	err = c.Enqueue(ctx, client.Event{EventName: "level_up", Source: "game",
//		User: client.User{ID: "u1"}, Payload: map[string]any{"level": 7}})
//	...
//	err = c.Flush(ctx) // optional: posts what is queued now and waits for the outcome
//	...
//	err = c.Close(ctx) // flushes the queue and waits for the batches in flight
package client

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/streamhub/streamhub/internal/backoff"
)

// Path is where the collector takes events.
const Path = "/v1/events"

var (
	// ErrQueueFull is TryEnqueue's answer when the queue holds QueueSize events.
	ErrQueueFull = errors.New("collector client: queue full")
	// ErrClosed is the answer to Enqueue after Close, and the error of events that were
	// still queued or in flight when Close's context ended.
	ErrClosed = errors.New("collector client: closed")
	// ErrEventTooLarge: the event's JSON exceeds MaxEventBytes, or alone fills more than
	// MaxBatchBytes. Enqueue returns it at once rather than let the server refuse it later.
	ErrEventTooLarge = errors.New("collector client: event larger than MaxBatchBytes")
)

// Options configure a Client. Zero values take the defaults noted.
type Options struct {
	// URL is the collector's base URL ("http://host:8080"); the client posts to URL+Path.
	// A URL that already ends in Path is used as it is.
	URL string
	// APIKey is sent as "Authorization: Bearer <key>" when not empty.
	APIKey string
	// HTTPClient sends the requests. Default: a client whose transport keeps Concurrency
	// idle connections to the collector (net/http keeps only 2 per host by default, and
	// a busy client would otherwise open and close connections all the time).
	HTTPClient *http.Client
	// UserAgent is sent when not empty (default "streamhub-collector-client/1").
	UserAgent string
	// Source and App are filled into events that leave them empty: an app names itself
	// once rather than in every event.
	Source string
	App    App

	// MaxBatchEvents caps the events in one request. Default 100.
	MaxBatchEvents int
	// MaxBatchBytes caps a request's uncompressed JSON body. Default 512 KiB. Keep it at
	// or below the server's body limit: a 413 costs a round trip and a split.
	MaxBatchBytes int
	// MaxEventBytes caps one event's JSON; a larger one is refused by Enqueue with
	// ErrEventTooLarge. Default 64 KiB, the collector's default max_event_bytes: a batch
	// holding a larger event would earn a 413 and be split down to that event.
	MaxEventBytes int
	// FlushInterval is the longest an event waits for its batch to fill. Default 1s.
	FlushInterval time.Duration
	// QueueSize is how many events may wait to be batched. Default 10,000.
	QueueSize int
	// Concurrency is how many requests may be in flight. Default 2.
	Concurrency int

	// GzipMinBytes: bodies of at least this many bytes are gzip-encoded. Default 1024;
	// negative disables gzip.
	GzipMinBytes int
	// GzipLevel is compress/gzip's level; 0 means the default, gzip.BestSpeed: event JSON compresses
	// well even so, and the client often runs on a busy app server or a phone.
	GzipLevel int

	// MaxAttempts caps the attempts per batch, the first one included. Default 10.
	MaxAttempts int
	// MaxElapsed caps the time from a batch's first attempt to the start of its last.
	// Default 2 minutes.
	MaxElapsed time.Duration
	// MinBackoff and MaxBackoff bound the wait between attempts: drawn at random below a
	// bound that doubles from MinBackoff up to MaxBackoff (internal/backoff, full jitter),
	// so clients refused together do not come back together. A longer Retry-After is
	// honoured as it is.
	// Defaults 100ms and 10s.
	MinBackoff, MaxBackoff time.Duration
	// RequestTimeout bounds one attempt. Default 30s.
	RequestTimeout time.Duration

	// OnRejected, when set, hears of events the server refused as invalid. It runs on the
	// client's sender goroutines: a slow callback slows delivery, and a callback must not
	// call Enqueue, Flush or Close, which may wait for those goroutines.
	OnRejected func([]Rejection)
	// OnFailed, when set, hears of events that could not be delivered.
	OnFailed func(Failure)

	// sleep waits between attempts; tests replace it to record the waits.
	sleep func(context.Context, time.Duration) error
}

// Rejection is an event the server will not take. Re-sending it unchanged is useless.
type Rejection struct {
	Event Event
	// Status is 200 for an event listed in a 200 answer's errors, 413 for an event that
	// alone was too large for the server.
	Status  int
	Reason  string
	Message string
}

// Failure is a set of events that could not be delivered, and why. Their outcome on the
// server is unknown only in one case: an attempt whose answer never came (a network
// error or timeout) may have been accepted, so a re-send of these events by the caller
// may be a duplicate, recognisable by its event_id.
type Failure struct {
	Events []Event
	Err    error
}

// StatusError is an HTTP answer the client does not retry (or retried until it gave up).
type StatusError struct {
	Code int
	Body string
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("collector: HTTP %d: %s", e.Code, strings.TrimSpace(e.Body))
}

// Stats are counts of events since New.
type Stats struct {
	// Queued events were taken by Enqueue, TryEnqueue or Send.
	Queued int64
	// Sent counts events in posted requests, each attempt counted; Requests counts the
	// requests.
	Sent, Requests int64
	// Retried counts events posted again after a failed attempt (or split after a 413).
	Retried int64
	// Every queued event ends in exactly one of Accepted, Rejected and Failed.
	Accepted, Rejected, Failed int64
	// QueueDepth is the number of events waiting to be batched now.
	QueueDepth int
}

// Plus is the sum of s and o, for totals over several clients.
func (s Stats) Plus(o Stats) Stats {
	return Stats{
		Queued: s.Queued + o.Queued, Sent: s.Sent + o.Sent, Requests: s.Requests + o.Requests,
		Retried: s.Retried + o.Retried, Accepted: s.Accepted + o.Accepted,
		Rejected: s.Rejected + o.Rejected, Failed: s.Failed + o.Failed,
		QueueDepth: s.QueueDepth + o.QueueDepth,
	}
}

// Client batches and delivers events. Its methods are safe for concurrent use.
type Client struct {
	o   Options
	url string
	hc  *http.Client

	mu      sync.RWMutex // held shared by Enqueue, exclusively by Close to close the queue
	closed  bool
	closing chan struct{}
	queue   chan item
	batches chan batch
	done    chan struct{}

	// ctx ends when Close gives up; then nothing is retried any more.
	ctx   context.Context
	abort context.CancelCauseFunc

	closeOnce sync.Once
	failMu    sync.Mutex
	lastFail  error

	queued, sent, requests, retried, accepted, rejected, failed atomic.Int64

	// Batches made and not yet settled, and Flush calls waiting for them.
	seqMu   sync.Mutex
	nextSeq uint64
	open    map[uint64]bool
	waiters []flushWaiter

	gzPool sync.Pool
}

type item struct {
	ev  Event
	raw []byte
	// flush marks a Flush call's place in the queue instead of an event.
	flush chan struct{}
}

// batch is numbered so that Flush can wait for the batches made before its mark.
type batch struct {
	seq   uint64
	items []item
}

// New starts a client. It opens no connection until the first batch.
func New(o Options) (*Client, error) {
	if o.URL == "" {
		return nil, errors.New("collector client: Options.URL is required")
	}
	setDefaults(&o)
	url := strings.TrimRight(o.URL, "/")
	if !strings.HasSuffix(url, Path) {
		url += Path
	}
	c := &Client{
		o: o, url: url, hc: o.HTTPClient,
		closing: make(chan struct{}),
		queue:   make(chan item, o.QueueSize),
		batches: make(chan batch),
		open:    map[uint64]bool{},
		done:    make(chan struct{}),
	}
	if c.hc == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.MaxIdleConnsPerHost = max(o.Concurrency, tr.MaxIdleConnsPerHost)
		c.hc = &http.Client{Transport: tr}
	}
	c.ctx, c.abort = context.WithCancelCause(context.Background())
	go c.batchLoop()
	var wg sync.WaitGroup
	for range o.Concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := range c.batches {
				c.deliverAsync(b.items)
				c.finished(b.seq)
			}
		}()
	}
	go func() { wg.Wait(); close(c.done) }()
	return c, nil
}

func setDefaults(o *Options) {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	defDur := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&o.MaxBatchEvents, 100)
	def(&o.MaxBatchBytes, 512<<10)
	def(&o.MaxEventBytes, 64<<10)
	def(&o.QueueSize, 10_000)
	def(&o.Concurrency, 2)
	def(&o.MaxAttempts, 10)
	if o.GzipMinBytes == 0 {
		o.GzipMinBytes = 1024
	}
	if o.GzipLevel == 0 {
		o.GzipLevel = gzip.BestSpeed
	}
	defDur(&o.FlushInterval, time.Second)
	defDur(&o.MaxElapsed, 2*time.Minute)
	defDur(&o.MinBackoff, 100*time.Millisecond)
	defDur(&o.MaxBackoff, 10*time.Second)
	defDur(&o.RequestTimeout, 30*time.Second)
	if o.UserAgent == "" {
		o.UserAgent = "streamhub-collector-client/1"
	}
	if o.sleep == nil {
		o.sleep = sleepCtx
	}
}

// Enqueue queues ev for delivery, waiting while the queue is full until ctx ends. It
// returns ctx's error, ErrClosed, ErrEventTooLarge or an encoding error; a nil error means
// the event will end accepted, rejected or failed (see the package comment).
func (c *Client) Enqueue(ctx context.Context, ev Event) error {
	it, err := c.prepare(ev)
	if err != nil {
		return err
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.closed {
		return ErrClosed
	}
	select {
	case c.queue <- it:
		c.queued.Add(1)
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-c.closing:
		return ErrClosed
	}
}

// TryEnqueue is Enqueue that returns ErrQueueFull instead of waiting.
func (c *Client) TryEnqueue(ev Event) error {
	it, err := c.prepare(ev)
	if err != nil {
		return err
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.closed {
		return ErrClosed
	}
	select {
	case c.queue <- it:
		c.queued.Add(1)
		return nil
	default:
		return ErrQueueFull
	}
}

// prepare fills in the ID, time and defaults and encodes the event once, so its size is
// known for batching and a re-send posts the same bytes. The filled-in event comes back
// with an error too, for Send to hand back to its caller.
func (c *Client) prepare(ev Event) (item, error) {
	if ev.EventID == "" {
		ev.EventID = NewEventID()
	}
	if ev.OccurredAt.IsZero() {
		ev.OccurredAt = time.Now().UTC()
	}
	if ev.Source == "" {
		ev.Source = c.o.Source
	}
	if ev.App == (App{}) {
		ev.App = c.o.App
	}
	raw, err := appendEvent(make([]byte, 0, eventSizeHint(&ev)), &ev)
	if err != nil {
		return item{ev: ev}, fmt.Errorf("collector client: encode event %s: %w", ev.EventID, err)
	}
	if limit := min(c.o.MaxEventBytes, c.o.MaxBatchBytes-2); len(raw) > limit {
		return item{ev: ev}, fmt.Errorf("%w: %s is %d bytes, limit %d", ErrEventTooLarge, ev.EventID, len(raw), limit)
	}
	return item{ev: ev, raw: raw}, nil
}

// Result is the outcome of Send.
type Result struct {
	Accepted int
	Rejected []Rejection
	Failed   []Failure
}

// Send delivers events now, in the caller's goroutine, bypassing the queue: it splits
// them into batches by MaxBatchEvents and MaxBatchBytes and posts them one after another
// with the same retries as queued events. Empty EventID and OccurredAt are filled in
// within events, so the caller can re-send the same slice without creating new events.
// Events too large for any batch come back as rejections with Reason "event_too_large".
// The error is the first failure's, or nil when every event was accepted or rejected. An
// event that cannot be encoded (a payload encoding/json refuses) stops Send with its
// error: the events before it were delivered, it and those after it were not.
func (c *Client) Send(ctx context.Context, events []Event) (Result, error) {
	var res Result
	var cur []item
	size := 2
	flush := func() {
		if len(cur) > 0 {
			c.deliver(ctx, cur, &res)
			cur, size = nil, 2
		}
	}
	for i := range events {
		it, err := c.prepare(events[i])
		events[i] = it.ev
		if errors.Is(err, ErrEventTooLarge) {
			c.queued.Add(1)
			c.rejected.Add(1)
			res.Rejected = append(res.Rejected, Rejection{Event: events[i], Reason: "event_too_large", Message: err.Error()})
			continue
		}
		if err != nil {
			flush()
			return res, err
		}
		c.queued.Add(1)
		if len(cur) > 0 && size+len(it.raw)+1 > c.o.MaxBatchBytes {
			flush()
		}
		cur = append(cur, it)
		size += len(it.raw) + 1
		if len(cur) >= c.o.MaxBatchEvents {
			flush()
		}
	}
	flush()
	if len(res.Failed) > 0 {
		return res, res.Failed[0].Err
	}
	return res, nil
}

// Flush posts the events queued before it without waiting for their batches to fill, and
// returns once each of them is accepted, rejected or failed, or when ctx ends. It
// returns ErrClosed after Close. Events queued meanwhile by others may be posted with
// them but are not waited for.
func (c *Client) Flush(ctx context.Context) error {
	done := make(chan struct{})
	c.mu.RLock()
	if c.closed {
		c.mu.RUnlock()
		return ErrClosed
	}
	select {
	case c.queue <- item{flush: done}:
	case <-ctx.Done():
		c.mu.RUnlock()
		return ctx.Err()
	case <-c.closing:
		c.mu.RUnlock()
		return ErrClosed
	}
	c.mu.RUnlock()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

type flushWaiter struct {
	below uint64 // waits until every batch numbered below this is settled
	done  chan struct{}
}

func (c *Client) finished(seq uint64) {
	c.seqMu.Lock()
	delete(c.open, seq)
	c.releaseWaiters()
	c.seqMu.Unlock()
}

// releaseWaiters wakes the Flush calls whose batches are all settled; seqMu is held.
func (c *Client) releaseWaiters() {
	oldest := c.nextSeq
	for s := range c.open { // at most Concurrency+1 entries
		oldest = min(oldest, s)
	}
	kept := c.waiters[:0]
	for _, w := range c.waiters {
		if w.below <= oldest {
			close(w.done)
		} else {
			kept = append(kept, w)
		}
	}
	c.waiters = kept
}

// Close stops taking events, delivers everything queued and waits for the batches in
// flight. If ctx ends first, it stops retrying, reports the undelivered events as failed
// (ErrClosed) and returns ctx's error once every sender has stopped. Otherwise it returns
// an error if any event failed since New, nil if all were accepted or rejected.
func (c *Client) Close(ctx context.Context) error {
	c.closeOnce.Do(func() {
		close(c.closing) // wakes Enqueue calls waiting on a full queue
		c.mu.Lock()
		c.closed = true
		close(c.queue)
		c.mu.Unlock()
	})
	select {
	case <-c.done:
	case <-ctx.Done():
		c.abort(ErrClosed)
		<-c.done
		return ctx.Err()
	}
	c.abort(ErrClosed)
	if n := c.failed.Load(); n > 0 {
		c.failMu.Lock()
		defer c.failMu.Unlock()
		return fmt.Errorf("collector client: %d events failed, the last with: %w", n, c.lastFail)
	}
	return nil
}

// Stats returns the counts so far.
func (c *Client) Stats() Stats {
	return Stats{
		Queued: c.queued.Load(), Sent: c.sent.Load(), Requests: c.requests.Load(),
		Retried: c.retried.Load(), Accepted: c.accepted.Load(), Rejected: c.rejected.Load(),
		Failed: c.failed.Load(), QueueDepth: len(c.queue),
	}
}

func (c *Client) batchLoop() {
	defer close(c.batches)
	var cur []item
	size := 2 // the array's brackets
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	flush := func() {
		timer.Stop()
		if len(cur) > 0 {
			c.seqMu.Lock()
			seq := c.nextSeq
			c.nextSeq++
			c.open[seq] = true
			c.seqMu.Unlock()
			c.batches <- batch{seq: seq, items: cur}
			cur, size = nil, 2
		}
	}
	for {
		select {
		case it, ok := <-c.queue:
			if !ok {
				flush()
				return
			}
			if it.flush != nil {
				flush()
				c.seqMu.Lock()
				c.waiters = append(c.waiters, flushWaiter{below: c.nextSeq, done: it.flush})
				c.releaseWaiters()
				c.seqMu.Unlock()
				continue
			}
			if len(cur) > 0 && size+len(it.raw)+1 > c.o.MaxBatchBytes {
				flush()
			}
			if len(cur) == 0 {
				timer.Reset(c.o.FlushInterval)
				cur = make([]item, 0, c.o.MaxBatchEvents)
			}
			cur = append(cur, it)
			size += len(it.raw) + 1
			if len(cur) >= c.o.MaxBatchEvents {
				flush()
			}
		case <-timer.C:
			flush()
		}
	}
}

func (c *Client) deliverAsync(b []item) {
	var res Result
	c.deliver(c.ctx, b, &res)
	if len(res.Rejected) > 0 && c.o.OnRejected != nil {
		c.o.OnRejected(res.Rejected)
	}
	for _, f := range res.Failed {
		if c.o.OnFailed != nil {
			c.o.OnFailed(f)
		}
	}
}

// deliver posts items until the server takes them, refuses them for good, or the retry
// budget is spent, and records each event's outcome in res and the counters.
func (c *Client) deliver(ctx context.Context, items []item, res *Result) {
	body, gz := c.encode(items)
	start := time.Now()
	bo := backoff.New(c.o.MinBackoff, c.o.MaxBackoff)
	var lastErr error
	for attempt := 1; ; attempt++ {
		if ctx.Err() != nil {
			c.fail(items, res, errors.Join(context.Cause(ctx), lastErr))
			return
		}
		if attempt > 1 {
			c.retried.Add(int64(len(items)))
		}
		status, answer, retryAfter, err := c.post(ctx, body, gz, len(items))
		switch {
		case err == nil && status == http.StatusOK:
			c.settle(items, answer, res)
			return
		case err == nil && status == http.StatusRequestEntityTooLarge:
			if len(items) == 1 {
				c.rejected.Add(1)
				reason, msg := refusal(answer, "too_large")
				res.Rejected = append(res.Rejected, Rejection{Event: items[0].ev, Status: status, Reason: reason, Message: msg})
				return
			}
			// The server's limit is below ours; halves converge on batches it takes.
			c.retried.Add(int64(len(items)))
			h := len(items) / 2
			c.deliver(ctx, items[:h], res)
			c.deliver(ctx, items[h:], res)
			return
		case err != nil:
			lastErr = err
		case retryable(status):
			lastErr = &StatusError{Code: status, Body: string(answer)}
		default:
			c.fail(items, res, &StatusError{Code: status, Body: string(answer)})
			return
		}
		if attempt >= c.o.MaxAttempts {
			c.fail(items, res, fmt.Errorf("gave up after %d attempts: %w", attempt, lastErr))
			return
		}
		wait := max(bo.Next(), retryAfter)
		if time.Since(start)+wait > c.o.MaxElapsed {
			c.fail(items, res, fmt.Errorf("gave up after %d attempts in %s: %w", attempt, time.Since(start).Round(time.Millisecond), lastErr))
			return
		}
		if c.o.sleep(ctx, wait) != nil {
			// ErrClosed when Close gave up, the caller's context error for Send.
			c.fail(items, res, errors.Join(context.Cause(ctx), lastErr))
			return
		}
	}
}

// retryable: the statuses a later attempt may change. 501 and 505 say the server will
// never take this request.
// refusal reads the collector's error body ({"error": …, "reason": …}); another server's
// body becomes the message as it is.
func refusal(body []byte, defReason string) (reason, message string) {
	var e struct {
		Error  string `json:"error"`
		Reason string `json:"reason"`
	}
	if json.Unmarshal(body, &e) == nil && e.Reason != "" {
		return e.Reason, e.Error
	}
	return defReason, strings.TrimSpace(string(body))
}

func retryable(status int) bool {
	switch status {
	case http.StatusTooManyRequests, http.StatusRequestTimeout:
		return true
	case http.StatusNotImplemented, http.StatusHTTPVersionNotSupported:
		return false
	}
	return status >= 500
}

func (c *Client) fail(items []item, res *Result, err error) {
	c.failed.Add(int64(len(items)))
	c.failMu.Lock()
	c.lastFail = err
	c.failMu.Unlock()
	f := Failure{Events: make([]Event, len(items)), Err: err}
	for i, it := range items {
		f.Events[i] = it.ev
	}
	res.Failed = append(res.Failed, f)
}

// answer is the body of a 200.
type answer struct {
	Accepted int `json:"accepted"`
	Rejected int `json:"rejected"`
	Errors   []struct {
		Index   *int   `json:"index"`
		EventID string `json:"event_id"`
		Reason  string `json:"reason"`
		Message string `json:"message"`
	} `json:"errors"`
}

// settle splits a 200's batch into rejected (listed in errors) and accepted (the rest). A
// 200 means the server committed the batch, so an answer that cannot be read is taken as
// "all accepted" rather than re-sent as a duplicate.
func (c *Client) settle(items []item, body []byte, res *Result) {
	var a answer
	if len(body) > 0 && json.Unmarshal(body, &a) != nil {
		a = answer{}
	}
	var refused map[int]bool
	for _, e := range a.Errors {
		i := -1
		if e.Index != nil && *e.Index >= 0 && *e.Index < len(items) && (e.EventID == "" || e.EventID == items[*e.Index].ev.EventID) {
			i = *e.Index
		} else {
			for j := range items {
				if items[j].ev.EventID == e.EventID {
					i = j
					break
				}
			}
		}
		if i < 0 || refused[i] {
			continue
		}
		if refused == nil {
			refused = make(map[int]bool)
		}
		refused[i] = true
		res.Rejected = append(res.Rejected, Rejection{Event: items[i].ev, Status: http.StatusOK, Reason: e.Reason, Message: e.Message})
	}
	c.rejected.Add(int64(len(refused)))
	c.accepted.Add(int64(len(items) - len(refused)))
	res.Accepted += len(items) - len(refused)
}

func (c *Client) encode(items []item) (body []byte, gz bool) {
	n := 2
	for _, it := range items {
		n += len(it.raw) + 1
	}
	buf := make([]byte, 0, n)
	buf = append(buf, '[')
	for i, it := range items {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = append(buf, it.raw...)
	}
	buf = append(buf, ']')
	if c.o.GzipMinBytes < 0 || len(buf) < c.o.GzipMinBytes {
		return buf, false
	}
	var out bytes.Buffer
	out.Grow(len(buf) / 4)
	zw, _ := c.gzPool.Get().(*gzip.Writer)
	if zw == nil {
		var err error
		if zw, err = gzip.NewWriterLevel(&out, c.o.GzipLevel); err != nil {
			zw = gzip.NewWriter(&out)
		}
	} else {
		zw.Reset(&out)
	}
	zw.Write(buf) // writes to a bytes.Buffer do not fail
	zw.Close()
	c.gzPool.Put(zw)
	return out.Bytes(), true
}

// post makes one attempt. status 0 with a nil error does not happen; a non-nil error is
// a transport failure (refused, reset, timeout) and always worth a retry.
func (c *Client) post(ctx context.Context, body []byte, gz bool, events int) (status int, answer []byte, retryAfter time.Duration, err error) {
	ctx, cancel := context.WithTimeout(ctx, c.o.RequestTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(body))
	if err != nil {
		return 0, nil, 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	if gz {
		req.Header.Set("Content-Encoding", "gzip")
	}
	if c.o.APIKey != "" {
		req.Header.Set("Authorization", "Bearer "+c.o.APIKey)
	}
	req.Header.Set("User-Agent", c.o.UserAgent)
	c.requests.Add(1)
	c.sent.Add(int64(events))
	resp, err := c.hc.Do(req)
	if err != nil {
		return 0, nil, 0, err
	}
	defer resp.Body.Close()
	answer, err = io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return 0, nil, 0, fmt.Errorf("reading the answer to HTTP %d: %w", resp.StatusCode, err)
	}
	return resp.StatusCode, answer, parseRetryAfter(resp.Header.Get("Retry-After")), nil
}

// parseRetryAfter reads delay-seconds or an HTTP date.
func parseRetryAfter(v string) time.Duration {
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(strings.TrimSpace(v)); err == nil {
		if s < 0 {
			return 0
		}
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(time.Until(t), 0)
	}
	return 0
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
