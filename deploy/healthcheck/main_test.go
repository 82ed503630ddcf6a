package main

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestProbe(t *testing.T) {
	ready := true
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !ready {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()
	if got := probe(srv.URL); got != 0 {
		t.Errorf("ready server: exit %d, want 0", got)
	}
	ready = false
	if got := probe(srv.URL); got != 1 {
		t.Errorf("503 (recovering, shutting down): exit %d, want 1", got)
	}
	srv.Close()
	if got := probe(srv.URL); got != 1 {
		t.Errorf("nothing listening: exit %d, want 1", got)
	}
}
