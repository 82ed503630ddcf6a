// Package api serves real-time lookups of the latest state over HTTP from goka views, with
// health, readiness and metrics endpoints. It reads state and never writes it.
package api

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lovoo/goka"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/streamhub/streamhub/kafka"
	"github.com/streamhub/streamhub/processors"
	"github.com/streamhub/streamhub/state"
	"github.com/streamhub/streamhub/topology"
)

// HeaderLag says how many table-topic records the answering view partition(s) had not yet
// applied: views are eventually consistent, and this is how stale the answer may be.
const HeaderLag = "X-Streamhub-Lag"

// Options configure the view API.
type Options struct {
	Conn   *kafka.Conn
	Tables []topology.Table
	// Listen is the HTTP address, e.g. 127.0.0.1:8080.
	Listen string
	// Tokens, when not empty, are the bearer tokens accepted on /v1.
	Tokens []string
	// StorageDir keeps the views' local copies in goleveldb; "" keeps them in memory.
	StorageDir string
	ClientID   string
	// Registry collects the metrics served on /metrics; Gatherer serves them (both default
	// to a new registry).
	Registry prometheus.Registerer
	Gatherer prometheus.Gatherer
	Logger   *slog.Logger
	// Processors are the goka processors of the same process (run, dev), shown on
	// /ui/monitor/ beside the views.
	Processors []*goka.Processor
}

// Server is the view API: one goka View per table plus the HTTP server.
type Server struct {
	opts     Options
	log      *slog.Logger
	metrics  *Metrics
	tables   map[string]*tableView
	order    []string
	adm      *kadm.Client
	stopping atomic.Bool

	// viewsMu guards the views against their shutdown: goka's View.close clears the view's
	// partition list without a lock, so a Get, an iterator or Recovered that overlaps it is
	// a data race (and a Get may index a slice that is gone). Readers of a view hold the
	// read lock and give up when viewsClosed is set; Run sets it under the write lock, which
	// waits for those readers, before it stops the views.
	viewsMu     sync.RWMutex
	viewsClosed bool

	mu   sync.Mutex
	addr string
}

type tableView struct {
	cfg   topology.Table
	view  *goka.View
	fresh *freshness
}

// New builds the views; Run starts them and the HTTP server.
func New(opts Options) (*Server, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Registry == nil {
		reg := prometheus.NewRegistry()
		opts.Registry, opts.Gatherer = reg, reg
	}
	if opts.ClientID == "" {
		opts.ClientID = "streamhub"
	}
	s := &Server{opts: opts, log: opts.Logger, metrics: NewMetrics(opts.Registry), tables: map[string]*tableView{}}
	for _, t := range opts.Tables {
		fresh := newFreshness(t.TableTopic())
		dir := ""
		if opts.StorageDir != "" {
			dir = filepath.Join(opts.StorageDir, "views", t.Name)
		}
		vopts := append(processors.ViewOptions(opts.Conn, opts.ClientID+"-view-"+t.Name, opts.Logger),
			goka.WithViewStorageBuilder(fresh.builder(processors.StorageBuilder(dir, opts.Logger))),
			goka.WithViewCallback(fresh.update),
		)
		v, err := goka.NewView(opts.Conn.Brokers(), goka.GroupTable(goka.Group(t.Group)), new(state.Codec), vopts...)
		if err != nil {
			return nil, fmt.Errorf("api: view of table %s (topic %s): %w", t.Name, t.TableTopic(), err)
		}
		s.tables[t.Name] = &tableView{cfg: t, view: v, fresh: fresh}
		s.order = append(s.order, t.Name)
	}
	return s, nil
}

// Addr is the address the HTTP server listens on, once Run has bound it.
func (s *Server) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addr
}

// Ready reports whether every view has recovered and the server is not shutting down.
func (s *Server) Ready() bool {
	if s.stopping.Load() {
		return false
	}
	ready := false
	s.withViews(func() {
		ready = true
		for _, t := range s.tables {
			ready = ready && t.view.Recovered()
		}
	})
	return ready
}

// withViews runs fn, which may read the views, unless Run has begun to stop them; it
// reports whether fn ran. See viewsMu.
func (s *Server) withViews(fn func()) bool {
	s.viewsMu.RLock()
	defer s.viewsMu.RUnlock()
	if s.viewsClosed {
		return false
	}
	fn()
	return true
}

// Run serves until ctx ends, then flips readiness to 503, drains HTTP requests and stops
// the views.
func (s *Server) Run(ctx context.Context) error {
	ln, err := net.Listen("tcp", s.opts.Listen)
	if err != nil {
		return fmt.Errorf("api: listen %s: %w", s.opts.Listen, err)
	}
	s.mu.Lock()
	s.addr = ln.Addr().String()
	s.mu.Unlock()

	cl, err := s.opts.Conn.Client()
	if err != nil {
		ln.Close()
		return fmt.Errorf("api: kafka client: %w", err)
	}
	defer cl.Close()
	s.adm = kadm.NewClient(cl)

	viewCtx, stopViews := context.WithCancel(context.Background())
	defer stopViews()
	var wg sync.WaitGroup
	errs := make(chan error, len(s.tables)+1)
	for _, name := range s.order {
		t := s.tables[name]
		wg.Add(2)
		go func() {
			defer wg.Done()
			if err := t.view.Run(viewCtx); err != nil && !errors.Is(err, context.Canceled) {
				errs <- fmt.Errorf("api: view %s: %w", name, err)
			}
		}()
		go func() {
			defer wg.Done()
			t.fresh.poll(viewCtx, s.adm, time.Second, s.metrics.Lag.WithLabelValues(name))
		}()
	}

	srv := &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			errs <- fmt.Errorf("api: serve: %w", err)
		}
	}()
	s.log.Info("view API listening", "addr", s.Addr(), "tables", s.order)

	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-errs:
	}
	s.stopping.Store(true)
	shutCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutCtx); err != nil {
		s.log.Warn("view API shutdown", "error", err)
	}
	s.viewsMu.Lock()
	s.viewsClosed = true
	s.viewsMu.Unlock()
	stopViews()
	wg.Wait()
	return runErr
}

// Handler is the HTTP API.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /v1/tables", s.route("tables", s.auth(s.handleTables)))
	mux.Handle("GET /v1/tables/{table}/item", s.route("item", s.auth(s.handleItem)))
	mux.Handle("GET /v1/tables/{table}/items", s.route("items", s.auth(s.handleItems)))
	mux.Handle("GET /healthz", s.route("healthz", func(w http.ResponseWriter, r *http.Request) {
		// The process alone: a broker outage must not get warm instances restarted.
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	}))
	mux.Handle("GET /readyz", s.route("readyz", s.handleReady))
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.opts.Gatherer, promhttp.HandlerOpts{}))
	mux.Handle("GET "+UIPrefix+"/", s.route("ui", s.uiAuth(s.uiHandler()).ServeHTTP))
	mux.Handle("/", s.route("unknown", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no route for %s %s; see GET /v1/tables", r.Method, r.URL.Path))
	}))
	return mux
}

func (s *Server) route(name string, h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &statusRecorder{ResponseWriter: w, code: http.StatusOK}
		h(rec, r)
		s.metrics.Requests.WithLabelValues(name, fmt.Sprint(rec.code)).Inc()
	})
}

func (s *Server) auth(h http.HandlerFunc) http.HandlerFunc {
	if len(s.opts.Tokens) == 0 {
		return h
	}
	return func(w http.ResponseWriter, r *http.Request) {
		// The scheme is case-insensitive (RFC 7235, section 2.1): "bearer" is "Bearer".
		scheme, got, ok := strings.Cut(r.Header.Get("Authorization"), " ")
		if ok && strings.EqualFold(scheme, "Bearer") {
			for _, tok := range s.opts.Tokens {
				if subtle.ConstantTimeCompare([]byte(got), []byte(tok)) == 1 {
					h(w, r)
					return
				}
			}
		}
		w.Header().Set("WWW-Authenticate", `Bearer realm="streamhub"`)
		writeError(w, http.StatusUnauthorized, "missing or invalid bearer token")
	}
}

func (s *Server) handleReady(w http.ResponseWriter, r *http.Request) {
	tables := map[string]string{}
	for name := range s.tables {
		tables[name] = "stopped"
	}
	s.withViews(func() {
		for name, t := range s.tables {
			tables[name] = "recovering"
			if t.view.Recovered() {
				tables[name] = "ready"
			}
		}
	})
	code, status := http.StatusOK, "ready"
	switch {
	case s.stopping.Load():
		code, status = http.StatusServiceUnavailable, "stopping"
	case !s.Ready():
		code, status = http.StatusServiceUnavailable, "recovering"
	}
	writeJSON(w, code, map[string]any{"status": status, "tables": tables})
}

type tableInfo struct {
	Name             string   `json:"name"`
	Keys             []string `json:"keys"`
	VersionAttribute string   `json:"version_attribute,omitempty"`
	Topic            string   `json:"topic"`
	TableTopic       string   `json:"table_topic"`
	Ready            bool     `json:"ready"`
	Lag              int64    `json:"lag"`
}

func (s *Server) handleTables(w http.ResponseWriter, r *http.Request) {
	out := make([]tableInfo, 0, len(s.order))
	for _, name := range s.order {
		t := s.tables[name]
		lag := t.fresh.lag(-1) // the lag gauge is kept by the freshness poll
		ready := false
		s.withViews(func() { ready = t.view.Recovered() })
		out = append(out, tableInfo{
			Name: name, Keys: t.cfg.Keys, VersionAttribute: t.cfg.VersionAttribute,
			Topic: t.cfg.Topic, TableTopic: t.cfg.TableTopic(), Ready: ready, Lag: lag,
		})
	}
	writeJSON(w, http.StatusOK, map[string]any{"tables": out})
}

func (s *Server) table(w http.ResponseWriter, r *http.Request) (*tableView, bool) {
	name := r.PathValue("table")
	t, ok := s.tables[name]
	if !ok {
		writeError(w, http.StatusNotFound, fmt.Sprintf("unknown table %q; known tables: %s", name, strings.Join(s.order, ", ")))
		return nil, false
	}
	return t, true
}

type statusRecorder struct {
	http.ResponseWriter
	code int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.code = code
	r.ResponseWriter.WriteHeader(code)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, map[string]string{"error": msg})
}
