package api

import (
	"crypto/subtle"
	"net/http"
	"regexp"
	"strconv"
	"strings"

	"github.com/gorilla/mux"
	"github.com/lovoo/goka"
	"github.com/lovoo/goka/web/index"
	"github.com/lovoo/goka/web/monitor"
	"github.com/lovoo/goka/web/query"

	"github.com/streamhub/streamhub/state"
)

// UIPrefix is where goka's web pages are mounted. goka renders links from the base path it
// is given, so its servers get the full prefix rather than a stripped path.
const UIPrefix = "/ui"

// uiHandler serves goka's index, monitor (/ui/monitor/) and query (/ui/query/) pages over
// the API's views.
func (s *Server) uiHandler() http.Handler {
	r := mux.NewRouter()
	// The index's sub-router matches every /ui path, so the more specific ones go first.
	mon := monitor.NewServer(UIPrefix+"/monitor", r)
	q := query.NewServer(UIPrefix+"/query", r)
	idx := index.NewServer(UIPrefix, r)
	idx.AddComponent(mon, "Monitor: views and their partitions")
	idx.AddComponent(q, "Query: look up a key in a view")
	for _, name := range s.order {
		t := s.tables[name]
		mon.AttachView(t.view)
		if err := q.AttachSource(name, s.uiGetter(t)); err != nil {
			s.log.Warn("ui: query source", "table", name, "error", err)
		}
	}
	for _, proc := range s.opts.Processors {
		mon.AttachProcessor(proc)
	}
	views, procs := len(s.order), len(s.opts.Processors)
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		// goka's monitor checks an index with > where it needs >=, so one past the end
		// panics; answer 404 before it gets there.
		if m := monitorIndex.FindStringSubmatch(req.URL.Path); m != nil {
			n, err := strconv.Atoi(m[2])
			limit := procs
			if m[1] == "view" {
				limit = views
			}
			if err != nil || n >= limit {
				http.NotFound(w, req)
				return
			}
		}
		// The view stats and lookups read the views, which Run closes on shutdown.
		if !s.withViews(func() { r.ServeHTTP(w, req) }) {
			writeError(w, http.StatusServiceUnavailable, errStopping.Error())
		}
	})
}

var monitorIndex = regexp.MustCompile(`^` + UIPrefix + `/monitor/(?:data/)?(processor|view)/([^/]+)$`)

// uiGetter looks a key up for goka's query page. The page takes the key as the rest of the
// path: the key attribute values separated by "/" (users/user%231/profile), or the
// encoded key itself (["user#1","profile"]).
func (s *Server) uiGetter(t *tableView) goka.Getter {
	return func(key string) (any, error) {
		var candidates []string
		if strings.HasPrefix(key, "[") {
			candidates = append(candidates, key)
		}
		values := strings.SplitN(key, "/", len(t.cfg.Keys))
		if len(values) == len(t.cfg.Keys) {
			candidates = append(candidates, keyCandidates(values)...)
		}
		for _, k := range candidates {
			// The handler already holds the views' read lock (uiHandler).
			v, err := t.view.Get(k)
			if err != nil {
				return nil, err
			}
			if v != nil {
				s.metrics.Lookups.WithLabelValues(t.cfg.Name, "ui", "found").Inc()
				return toItemJSON(k, v.(*state.Value)), nil
			}
		}
		s.metrics.Lookups.WithLabelValues(t.cfg.Name, "ui", "not_found").Inc()
		return nil, nil
	}
}

// uiAuth guards /ui with the API's tokens. Besides a bearer token it takes HTTP Basic
// authentication with the token as the password (any user name): a browser cannot send a
// bearer header, but it asks for Basic credentials itself and repeats them on every link.
func (s *Server) uiAuth(h http.Handler) http.Handler {
	if len(s.opts.Tokens) == 0 {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var got string
		if _, pass, ok := r.BasicAuth(); ok {
			got = pass
		} else if scheme, tok, ok := strings.Cut(r.Header.Get("Authorization"), " "); ok && strings.EqualFold(scheme, "Bearer") {
			got = tok
		}
		if got != "" {
			for _, tok := range s.opts.Tokens {
				if subtle.ConstantTimeCompare([]byte(got), []byte(tok)) == 1 {
					h.ServeHTTP(w, r)
					return
				}
			}
		}
		w.Header().Add("WWW-Authenticate", `Basic realm="streamhub"`)
		w.Header().Add("WWW-Authenticate", `Bearer realm="streamhub"`)
		writeError(w, http.StatusUnauthorized, "missing or invalid token: Authorization: Bearer <token>, or Basic with the token as password")
	})
}
