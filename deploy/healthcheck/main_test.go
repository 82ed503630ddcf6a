package main

import (
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
)

func TestProbe(t *testing.T) {
	var notReady atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if notReady.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()
	if got := probe(srv.URL); got != 0 {
		t.Errorf("ready server: exit %d, want 0", got)
	}
	notReady.Store(true)
	if got := probe(srv.URL); got != 1 {
		t.Errorf("503 (recovering, shutting down): exit %d, want 1", got)
	}
	srv.Close()
	if got := probe(srv.URL); got != 1 {
		t.Errorf("nothing listening: exit %d, want 1", got)
	}
}
