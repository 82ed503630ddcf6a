package pipeline

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/streamhub/streamhub/topology"
)

// `run` and `collect` wire the collector into the pipeline: it listens, accepts, and
// stops with the pipeline, after its in-flight requests.
func TestPipelineRunsTheCollector(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cfg, err := topology.Parse("t.yaml", []byte(`env: test
kafka: {brokers: embedded, embedded_listen: "127.0.0.1:0"}
collector:
  listen: 127.0.0.1:0
  keys: [{key: k1, source: web, events: ["*"]}]
`))
	if err != nil {
		t.Fatal(err)
	}
	addr := make(chan string, 1)
	p, err := New(ctx, Options{Config: cfg, Roles: Roles{Collect: true}, CollectorReady: func(a string) { addr <- a }})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- p.Run(runCtx) }()
	url := "http://" + <-addr + "/v1/events"
	body := []byte(`{"event_id":"6f1c2a9e-3b7d-4c5e-8a9f-0b1c2d3e4f5a","event_name":"open","occurred_at":"2026-11-25T12:00:00Z","source":"web"}`)
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer k1")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var got struct{ Accepted int }
	json.NewDecoder(res.Body).Decode(&got)
	res.Body.Close()
	if res.StatusCode != http.StatusOK || got.Accepted != 1 {
		t.Fatalf("status %d, accepted %d", res.StatusCode, got.Accepted)
	}
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
