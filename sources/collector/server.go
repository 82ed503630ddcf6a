package collector

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/streamhub/streamhub/kafka"
	"github.com/streamhub/streamhub/topology"
)

// Record headers. The DLQ ones are the processors' (processors.HeaderDLQReason, …), so
// one DLQ reader understands every record there.
const (
	HeaderEventName  = "streamhub.event_name"
	HeaderEventID    = "streamhub.event_id"
	HeaderSource     = "streamhub.source"
	HeaderReceivedAt = "streamhub.received_at"
	HeaderDLQReason  = "streamhub.dlq.reason"
	HeaderDLQError   = "streamhub.dlq.error"
	// HeaderDLQIndex is the event's position in its request (absent for a whole body).
	HeaderDLQIndex = "streamhub.dlq.index"
	// HeaderDLQKeySource is the source the request's API key speaks for ("*": any).
	HeaderDLQKeySource = "streamhub.collector.key_source"
	HeaderClientIP     = "streamhub.client.ip"
	HeaderUserAgent    = "streamhub.client.user_agent"
	HeaderPath         = "streamhub.collector.path"
)

// Options configure a collector.
type Options struct {
	Config *topology.Config
	Conn   *kafka.Conn
	// InstanceID makes the transactional IDs of this process ("<group>.<instance>-<n>").
	// Keep it stable across restarts of one instance (a StatefulSet ordinal, a host
	// name): the restarted instance then fences what its predecessor left open at once.
	// Two running instances must differ. Default: host name and process ID.
	InstanceID string
	Registry   prometheus.Registerer
	// Gatherer serves /metrics on the collector's listener; nil serves none.
	Gatherer prometheus.Gatherer
	Logger   *slog.Logger
	// Now is the clock for received_at; tests pin it.
	Now func() time.Time
	// KafkaOpts are added to every transactional client (tests).
	KafkaOpts []kgo.Opt

	beforeWrite func()
}

// Collector is the HTTP event collector.
type Collector struct {
	cfg      *topology.Config
	col      *topology.Collector
	conn     *kafka.Conn
	v        *Validator
	log      *slog.Logger
	m        *Metrics
	now      func() time.Time
	keys     map[[32]byte]*principal // by SHA-256 of the key: lookups time nothing secret
	open     bool                    // no keys and no tokens: anyone may send
	proxies  []netip.Prefix
	known    labels
	topics   *topicCache
	commit   *committer
	inFlight atomic.Int64
	draining atomic.Bool
	mux      *http.ServeMux

	srvMu sync.Mutex
	srv   *http.Server
}

// principal is what an API key may do.
type principal struct {
	source string // "*" for any
	events map[string]bool
	all    bool
}

func (p *principal) allows(name, source string) bool {
	if p.source != "*" && source != "" && source != p.source {
		return false
	}
	return p.all || name == "" || p.events[name]
}

// New builds a collector on conn; it serves once Serve or ServeHTTP is called.
func New(opts Options) (*Collector, error) {
	cfg := opts.Config
	if cfg == nil || cfg.Collector == nil {
		return nil, errors.New("collector: the topology has no collector section")
	}
	col := cfg.Collector
	v, err := NewValidator(cfg.Env, col)
	if err != nil {
		return nil, err
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	reg := opts.Registry
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	c := &Collector{
		cfg: cfg, col: col, conn: opts.Conn, v: v, log: log, m: NewMetrics(reg), now: now,
		keys:   map[[32]byte]*principal{},
		open:   len(col.Keys) == 0 && len(col.Tokens) == 0,
		known:  knownLabels(col),
		topics: newTopicCache(opts.Conn, col.Partitions),
	}
	for _, t := range col.Tokens {
		c.keys[sha256.Sum256([]byte(t))] = &principal{source: "*", all: true}
	}
	for _, k := range col.Keys {
		p := &principal{source: k.Source, events: map[string]bool{}}
		for _, e := range k.Events {
			if e == "*" {
				p.all = true
			}
			p.events[e] = true
		}
		c.keys[sha256.Sum256([]byte(k.Key))] = p
	}
	for _, s := range col.TrustedProxies {
		p, err := topology.ParseProxy(s)
		if err != nil {
			return nil, fmt.Errorf("collector: trusted proxy %q: %w", s, err)
		}
		c.proxies = append(c.proxies, p)
	}
	instance := opts.InstanceID
	if instance == "" {
		host, _ := os.Hostname()
		instance = fmt.Sprintf("%s-%d", host, os.Getpid())
	}
	c.commit = newCommitter(opts.Conn, committerConfig{
		workers: col.Producers, linger: col.Linger, timeout: col.ProduceTimeout,
		txnID: col.Group + ".collector." + instance, extra: opts.KafkaOpts, beforeWrite: opts.beforeWrite,
	}, log, c.m)

	c.mux = http.NewServeMux()
	c.mux.HandleFunc("POST /v1/events", c.handleEvents)
	c.mux.HandleFunc("/v1/events", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", "POST")
		writeJSON(w, http.StatusMethodNotAllowed, errorBody{Error: "use POST", Reason: "method_not_allowed"})
	})
	c.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok\n") })
	c.mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if c.draining.Load() {
			http.Error(w, "shutting down", http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, "ready\n")
	})
	if opts.Gatherer != nil {
		c.mux.Handle("GET /metrics", promhttp.HandlerFor(opts.Gatherer, promhttp.HandlerOpts{}))
	}
	return c, nil
}

// Handler is the collector's HTTP handler (/v1/events, /healthz, /readyz, /metrics).
func (c *Collector) Handler() http.Handler { return c.mux }

// Metrics are the collector's metrics.
func (c *Collector) Metrics() *Metrics { return c.m }

// Serve answers on ln until Shutdown.
func (c *Collector) Serve(ln net.Listener) error {
	srv := &http.Server{
		Handler:           c.mux,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		IdleTimeout:       120 * time.Second,
	}
	c.srvMu.Lock()
	if c.draining.Load() {
		c.srvMu.Unlock()
		ln.Close()
		return nil
	}
	c.srv = srv
	c.srvMu.Unlock()
	err := srv.Serve(ln)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Shutdown turns readiness to 503, lets in-flight requests finish (their transactions
// commit and they hear the outcome), refuses new ones with 503, then closes the Kafka
// clients. ctx bounds the wait for requests.
func (c *Collector) Shutdown(ctx context.Context) error {
	c.srvMu.Lock()
	c.draining.Store(true)
	srv := c.srv
	c.srvMu.Unlock()
	var err error
	if srv != nil {
		err = srv.Shutdown(ctx)
	}
	c.commit.close()
	c.topics.close()
	return err
}

// errorBody answers a request refused as a whole.
type errorBody struct {
	Error  string `json:"error"`
	Reason string `json:"reason"`
}

// Response is the 200 (and 403) answer.
type Response struct {
	Accepted int          `json:"accepted"`
	Rejected int          `json:"rejected"`
	Errors   []EventError `json:"errors"`
}

// EventError is one event that was not accepted.
type EventError struct {
	Index   int    `json:"index"`
	EventID string `json:"event_id,omitempty"`
	Reason  string `json:"reason"`
	Message string `json:"message"`
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// request is what the handler learnt about one request.
type request struct {
	key        *principal
	receivedAt time.Time
	client     *Client
}

func (c *Collector) handleEvents(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	code := c.serveEvents(w, r)
	c.m.Requests.WithLabelValues(strconv.Itoa(code)).Inc()
	c.m.Latency.Observe(time.Since(start).Seconds())
}

func (c *Collector) fail(w http.ResponseWriter, code int, reason, format string, args ...any) int {
	switch code {
	case http.StatusServiceUnavailable:
		w.Header().Set("Retry-After", "2")
	case http.StatusTooManyRequests:
		w.Header().Set("Retry-After", "1")
	case http.StatusUnauthorized:
		w.Header().Set("WWW-Authenticate", `Bearer realm="streamhub"`)
	}
	writeJSON(w, code, errorBody{Error: fmt.Sprintf(format, args...), Reason: reason})
	return code
}

func (c *Collector) serveEvents(w http.ResponseWriter, r *http.Request) int {
	if c.draining.Load() {
		return c.fail(w, http.StatusServiceUnavailable, "shutting_down", "the collector is shutting down; send again")
	}
	key, ok := c.authenticate(r)
	if !ok {
		return c.fail(w, http.StatusUnauthorized, "unauthorized", "missing or unknown API key (send Authorization: Bearer <key> or X-API-Key: <key>)")
	}
	format, err := bodyFormat(r.Header.Get("Content-Type"))
	if err != nil {
		return c.fail(w, http.StatusUnsupportedMediaType, "unsupported_media_type", "%v", err)
	}
	gz := false
	switch enc := strings.ToLower(strings.TrimSpace(r.Header.Get("Content-Encoding"))); enc {
	case "", "identity":
	case "gzip", "x-gzip":
		gz = true
	default:
		return c.fail(w, http.StatusUnsupportedMediaType, "unsupported_encoding", "Content-Encoding %q is not supported (send gzip or none)", enc)
	}
	req := &request{key: key, receivedAt: c.now().UTC(), client: c.client(r)}

	limit := c.col.MaxBodyBytes
	raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	c.m.RequestBytes.Observe(float64(len(raw)))
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return c.tooLarge(w, "body_too_large", "the body is larger than %d bytes; send fewer events per request", limit)
	}
	if err != nil {
		return c.fail(w, http.StatusBadRequest, ReasonBadBody, "reading the body: %v", err)
	}
	body := raw
	if gz {
		body, err = gunzip(raw, limit)
		switch {
		case errors.Is(err, errTooLarge):
			return c.tooLarge(w, "body_too_large", "the body is larger than %d bytes after gzip decoding; send fewer events per request", limit)
		case err != nil:
			return c.badBody(w, req, raw, fmt.Sprintf("the body is not valid gzip: %v", err))
		}
	}
	events, err := ParseBody(body, format)
	if err != nil {
		return c.badBody(w, req, body, err.Error())
	}
	c.m.BatchEvents.Observe(float64(len(events)))
	if len(events) > c.col.MaxEvents {
		return c.tooLarge(w, "too_many_events", "the batch has %d events, at most %d are allowed per request", len(events), c.col.MaxEvents)
	}
	for i, e := range events {
		if int64(len(e)) > c.col.MaxEventBytes {
			return c.tooLarge(w, "event_too_large", "event %d has %d bytes, at most %d are allowed", i, len(e), c.col.MaxEventBytes)
		}
	}

	// Each event is validated once; authorization uses what validation read (for an
	// invalid event, what could be read of its name and source). A batch with a forbidden
	// event is refused whole and its answer says nothing about the other events' validity.
	type result struct {
		ev  *Event
		rej *Rejection
	}
	results := make([]result, len(events))
	var forbidden []EventError
	for i, e := range events {
		ev, rej := c.v.Validate(e)
		results[i] = result{ev, rej}
		var name, source, id string
		if ev != nil {
			name, source, id = ev.EventName, ev.Source, ev.EventID
		} else {
			name, source, id = rej.EventName, rej.Source, rej.EventID
		}
		if !key.allows(name, source) {
			msg := fmt.Sprintf("this key may not send event %q", name)
			if key.source != "*" && source != key.source {
				msg = fmt.Sprintf("this key sends for source %q, not %q", key.source, source)
			}
			forbidden = append(forbidden, EventError{Index: i, EventID: id, Reason: ReasonForbidden, Message: msg})
			c.m.Rejected.WithLabelValues(c.known.source(source), c.known.event(name), ReasonForbidden, "http").Inc()
		}
	}
	if len(forbidden) > 0 {
		writeJSON(w, http.StatusForbidden, Response{Accepted: 0, Rejected: len(events), Errors: forbidden})
		return http.StatusForbidden
	}

	resp := Response{Errors: []EventError{}}
	records := make([]*kgo.Record, 0, len(events))
	type label struct{ source, event, reason string }
	var accepted, rejected []label
	for i, e := range events {
		ev, rej := results[i].ev, results[i].rej
		if rej != nil {
			resp.Errors = append(resp.Errors, EventError{Index: i, EventID: rej.EventID, Reason: rej.Reason, Message: rej.Message})
			records = append(records, c.dlqRecord(req, e, i, rej))
			rejected = append(rejected, label{c.known.source(rej.Source), c.known.event(rej.EventName), rej.Reason})
			continue
		}
		rec, err := c.eventRecord(req, ev)
		if err != nil {
			return c.fail(w, http.StatusInternalServerError, "internal", "encoding event %d: %v", i, err)
		}
		records = append(records, rec)
		accepted = append(accepted, label{c.known.source(ev.Source), c.known.event(ev.EventName), ""})
	}
	resp.Accepted, resp.Rejected = len(accepted), len(rejected)

	if code := c.write(w, r.Context(), records); code != 0 {
		return code
	}
	for _, l := range accepted {
		c.m.Accepted.WithLabelValues(l.source, l.event, "http").Inc()
	}
	for _, l := range rejected {
		c.m.Rejected.WithLabelValues(l.source, l.event, l.reason, "http").Inc()
	}
	writeJSON(w, http.StatusOK, resp)
	return http.StatusOK
}

// write commits records, answering 429 or 503 itself when it cannot; 0 means committed.
func (c *Collector) write(w http.ResponseWriter, ctx context.Context, records []*kgo.Record) int {
	n := int64(len(records))
	if n == 0 {
		return 0
	}
	if q := c.inFlight.Add(n); q > int64(c.col.MaxInFlight) && q != n {
		// A single request larger than the whole queue still goes through alone, so a
		// small max_in_flight never refuses everything.
		c.inFlight.Add(-n)
		return c.fail(w, http.StatusTooManyRequests, "queue_full", "the collector has %d events waiting for Kafka; send again shortly", q-n)
	}
	c.m.Queue.Set(float64(c.inFlight.Load()))
	defer func() {
		c.inFlight.Add(-n)
		c.m.Queue.Set(float64(c.inFlight.Load()))
	}()
	topics := map[string]bool{}
	for _, r := range records {
		topics[r.Topic] = true
	}
	tctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.col.ProduceTimeout)
	defer cancel()
	if err := c.topics.ensure(tctx, topics); err != nil {
		c.log.Warn("collector: topics unavailable; answering 503", "error", err)
		return c.fail(w, http.StatusServiceUnavailable, "kafka_unavailable", "Kafka is unavailable (topics); nothing of this request was accepted, send it again")
	}
	if err := c.commit.commit(records); err != nil {
		if errors.Is(err, ErrClosed) {
			return c.fail(w, http.StatusServiceUnavailable, "shutting_down", "the collector is shutting down; send again")
		}
		return c.fail(w, http.StatusServiceUnavailable, "kafka_unavailable", "Kafka did not take the events in time; nothing of this request was accepted, send it again")
	}
	return 0
}

func (c *Collector) tooLarge(w http.ResponseWriter, reason, format string, args ...any) int {
	return c.fail(w, http.StatusRequestEntityTooLarge, reason, format, args...)
}

// badBody keeps an unreadable body in the DLQ, then answers 400; when even the DLQ
// cannot be written it answers 503, so the client keeps the body and sends it again.
func (c *Collector) badBody(w http.ResponseWriter, req *request, body []byte, msg string) int {
	rec := c.dlqRecord(req, body, -1, &Rejection{Reason: ReasonBadBody, Message: msg})
	if code := c.write(w, context.Background(), []*kgo.Record{rec}); code != 0 {
		return code
	}
	source := "other"
	if req.key.source != "*" {
		source = c.known.source(req.key.source)
	}
	c.m.Rejected.WithLabelValues(source, "other", ReasonBadBody, "http").Inc()
	return c.fail(w, http.StatusBadRequest, ReasonBadBody, "%s", msg)
}

func (c *Collector) eventRecord(req *request, ev *Event) (*kgo.Record, error) {
	return EventRecord(ev, req.receivedAt, req.client)
}

func (c *Collector) dlqRecord(req *request, raw []byte, index int, rej *Rejection) *kgo.Record {
	return DLQRecord(c.col.DLQTopic, raw, rej, DLQInfo{
		Path: "http", KeySource: req.key.source, Index: index, ReceivedAt: req.receivedAt, Client: req.client,
	})
}

func (c *Collector) authenticate(r *http.Request) (*principal, bool) {
	if c.open {
		return &principal{source: "*", all: true}, true
	}
	key := r.Header.Get("X-API-Key")
	if a := r.Header.Get("Authorization"); a != "" {
		scheme, token, ok := strings.Cut(a, " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") {
			return nil, false
		}
		key = strings.TrimSpace(token)
	}
	if key == "" {
		return nil, false
	}
	p, ok := c.keys[sha256.Sum256([]byte(key))]
	return p, ok
}

// client is the enrichment of a request: its address (by collector.client_address and
// trusted_proxies) and user agent.
func (c *Collector) client(r *http.Request) *Client {
	cl := &Client{UserAgent: clipN(r.UserAgent(), 512)}
	if c.col.ClientAddress != topology.ClientAddressNone {
		cl.IP = c.clientIP(r)
	}
	if *cl == (Client{}) {
		return nil
	}
	return cl
}

// clientIP is the peer's address, or, when the peer is a trusted proxy, the
// right-most X-Forwarded-For address that is not itself a trusted proxy (addresses
// further left were written by the client and prove nothing).
func (c *Collector) clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	peer, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	peer = peer.Unmap()
	if !c.trusted(peer) {
		return peer.String()
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			break
		}
		a = a.Unmap()
		if !c.trusted(a) {
			return a.String()
		}
		peer = a
	}
	return peer.String()
}

func (c *Collector) trusted(a netip.Addr) bool {
	for _, p := range c.proxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

var errTooLarge = errors.New("too large")

func gunzip(raw []byte, limit int64) ([]byte, error) {
	zr, err := gzip.NewReader(bytes.NewReader(raw))
	if err != nil {
		return nil, err
	}
	out, err := io.ReadAll(io.LimitReader(zr, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(out)) > limit {
		return nil, errTooLarge
	}
	return out, nil
}

// labels bounds metric label values to names the topology declares.
type labels struct{ sources, events map[string]bool }

func knownLabels(col *topology.Collector) labels {
	l := labels{sources: map[string]bool{}, events: map[string]bool{}}
	for _, k := range col.Keys {
		l.sources[k.Source] = true
		for _, e := range k.Events {
			l.events[e] = true
		}
	}
	for _, e := range col.Events {
		l.events[e.Name] = true
	}
	for _, r := range col.Routes {
		l.sources[r.Source] = true
		l.events[r.Event] = true
	}
	delete(l.sources, "*")
	delete(l.sources, "")
	delete(l.events, "*")
	delete(l.events, "")
	return l
}

func (l labels) source(s string) string {
	if l.sources[s] {
		return s
	}
	return "other"
}

func (l labels) event(e string) string {
	if l.events[e] {
		return e
	}
	return "other"
}

// Run listens on collector.listen and serves until ctx ends, then shuts down within
// drain (in-flight requests finish and commit; see Shutdown). ready, when not nil, is
// called with the address once the collector listens.
func (c *Collector) Run(ctx context.Context, drain time.Duration, ready func(addr string)) error {
	ln, err := net.Listen("tcp", c.col.Listen)
	if err != nil {
		return fmt.Errorf("collector: listen %s: %w", c.col.Listen, err)
	}
	c.log.Info("collector listening", "url", "http://"+ln.Addr().String()+"/v1/events")
	if ready != nil {
		ready(ln.Addr().String())
	}
	errc := make(chan error, 1)
	go func() { errc <- c.Serve(ln) }()
	select {
	case err := <-errc:
		c.commit.close()
		c.topics.close()
		return err
	case <-ctx.Done():
	}
	if drain <= 0 {
		drain = 30 * time.Second
	}
	sctx, cancel := context.WithTimeout(context.Background(), drain)
	defer cancel()
	err = c.Shutdown(sctx)
	<-errc
	return err
}
