package e2e

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/streamhub/streamhub/sources/collector/client"
)

// soakAddrs hands out listen addresses below Linux's ephemeral port range (32768 and up):
// a port there that was free a moment ago can be taken by any outgoing connection before
// the process that should listen on it starts, or restarts after a kill.
var soakAddrs = struct {
	sync.Mutex
	used map[int]bool
}{used: map[int]bool{}}

func soakAddr(t *testing.T) string {
	t.Helper()
	soakAddrs.Lock()
	defer soakAddrs.Unlock()
	for range 1000 {
		port := 20000 + rand.IntN(12000)
		if soakAddrs.used[port] {
			continue
		}
		addr := fmt.Sprintf("127.0.0.1:%d", port)
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			continue
		}
		ln.Close()
		soakAddrs.used[port] = true
		return addr
	}
	t.Fatal("no free port in 20000-31999")
	return ""
}

// soakComponent is one streamhub role run as a real process. A kill is SIGKILL, and the
// restart runs the same command line again (same instance name, ports and storage), as an
// orchestrator would.
type soakComponent struct {
	name     string
	args     []string
	env      []string
	ops      string // where its /metrics are served
	activity string // metric name prefix that shows the component working
	proc     *cliProcess
	starts   int
	logs     []string // the log file of every run
}

func (c *soakComponent) start(t *testing.T, bin string) {
	t.Helper()
	c.starts++
	c.proc = startCLIEnv(t, bin, fmt.Sprintf("%s-%d", c.name, c.starts), c.env, c.args...)
	c.proc.ops = c.ops
	c.logs = append(c.logs, c.proc.log)
}

// scanLogs reads every run's log: a panic or DATA LOSS fails the test; errors and warnings
// are counted by message, for the summary.
func scanLogs(t *testing.T, cs []*soakComponent) string {
	t.Helper()
	counts := map[string]int{}
	for _, c := range cs {
		for _, path := range c.logs {
			b, err := os.ReadFile(path)
			if err != nil {
				t.Error(err)
				continue
			}
			for _, line := range strings.Split(string(b), "\n") {
				switch {
				case strings.HasPrefix(line, "panic:") || strings.Contains(line, "DATA LOSS") || strings.Contains(line, "DATA RACE"):
					t.Errorf("%s (%s): %s", c.name, path, line)
				case strings.Contains(line, "level=ERROR") || strings.Contains(line, "level=WARN"):
					level, msg := "WARN", logField(line, "msg")
					if strings.Contains(line, "level=ERROR") {
						level = "ERROR"
					}
					counts[fmt.Sprintf("%s %s: %s", c.name, level, msg)]++
				}
			}
		}
	}
	var out []string
	for k, n := range counts {
		out = append(out, fmt.Sprintf("%s ×%d", k, n))
	}
	sort.Strings(out)
	return strings.Join(out, "\n            ")
}

// logField is one key=value of a slog text line (quoted or not).
func logField(line, key string) string {
	i := strings.Index(line, " "+key+"=")
	if i < 0 {
		return ""
	}
	v := line[i+len(key)+2:]
	if strings.HasPrefix(v, `"`) {
		if s, err := strconv.QuotedPrefix(v); err == nil {
			u, _ := strconv.Unquote(s)
			return u
		}
	}
	if j := strings.IndexByte(v, ' '); j >= 0 {
		v = v[:j]
	}
	return v
}

// work is what the component has done so far by its metrics (-1: not answering).
func (c *soakComponent) work() int64 {
	return c.proc.metric(c.activity, `outcome="rekeyed"`)
}

// killAndRestart SIGKILLs the component wherever it is and starts it again.
func (c *soakComponent) killAndRestart(t *testing.T, bin string, pause time.Duration) string {
	t.Helper()
	done := c.work()
	c.proc.kill()
	time.Sleep(pause)
	c.start(t, bin)
	return fmt.Sprintf("SIGKILL %s (its %s was %d), restarted after %s", c.name, strings.TrimSuffix(c.activity, "{"), done, pause.Round(time.Millisecond))
}

// stopAll sends SIGTERM to every component at once and requires each to exit 0 within
// timeout: a graceful stop drains, commits and leaves the groups. It returns how long
// each took.
func stopAll(t *testing.T, cs []*soakComponent, timeout time.Duration) string {
	t.Helper()
	sent := time.Now()
	for _, c := range cs {
		if c.proc.exited() {
			t.Errorf("%s exited before SIGTERM: %v", c.name, c.proc.err)
			continue
		}
		if err := c.proc.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Error(err)
		}
	}
	deadline := time.After(timeout)
	took := make([]string, len(cs))
	left := len(cs)
	for left > 0 {
		progress := false
		for i, c := range cs {
			if took[i] != "" || !c.proc.exited() {
				continue
			}
			took[i] = fmt.Sprintf("%s %s", c.name, time.Since(sent).Round(100*time.Millisecond))
			left--
			progress = true
			if c.proc.err != nil {
				t.Errorf("%s after SIGTERM: %v, want exit status 0", c.name, c.proc.err)
			}
		}
		if progress {
			continue
		}
		select {
		case <-deadline:
			for i, c := range cs {
				if took[i] == "" {
					t.Errorf("%s still running %s after SIGTERM", c.name, timeout)
				}
			}
			return strings.Join(took, ", ")
		case <-time.After(20 * time.Millisecond):
		}
	}
	return strings.Join(took, ", ")
}

// soakEvents drives collector clients (sources/collector/client, which batches and
// retries) and keeps the outcome of every event by its ID. It also tells which events were
// in a request whose answer was lost (the connection broke: the collector was killed):
// only those may have been committed and then sent again, so only those may appear twice
// downstream (README, "The event collector").
type soakEvents struct {
	mu        sync.Mutex
	queued    map[string]string // event_id → topic
	invalid   map[string]bool   // events sent invalid on purpose
	rejected  map[string]string // event_id → reason
	failed    map[string]error
	ambiguous map[string]bool
	clients   []*client.Client
	n         atomic.Int64
}

type soakSender struct {
	c             *client.Client
	source, event string
}

func newSoakEvents(t *testing.T, url string, senders [][2]string) (*soakEvents, []soakSender) {
	t.Helper()
	ev := &soakEvents{queued: map[string]string{}, invalid: map[string]bool{}, rejected: map[string]string{},
		failed: map[string]error{}, ambiguous: map[string]bool{}}
	var out []soakSender
	for _, s := range senders {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		c, err := client.New(client.Options{
			URL:        url,
			Source:     s[0],
			App:        client.App{ID: "soak", Version: "1.0"},
			HTTPClient: &http.Client{Transport: &lostAnswers{rt: tr, mark: ev.markAmbiguous}},
			// Small batches, so a kill finds requests in flight; retries outlast any
			// restart of the collector.
			MaxBatchEvents: 50, FlushInterval: 100 * time.Millisecond,
			MaxAttempts: 1000, MaxElapsed: 3 * time.Minute, MaxBackoff: 2 * time.Second,
			OnRejected: func(rs []client.Rejection) {
				ev.mu.Lock()
				defer ev.mu.Unlock()
				for _, r := range rs {
					ev.rejected[r.Event.EventID] = r.Reason
				}
			},
			OnFailed: func(f client.Failure) {
				ev.mu.Lock()
				defer ev.mu.Unlock()
				for _, e := range f.Events {
					ev.failed[e.EventID] = f.Err
				}
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		ev.clients = append(ev.clients, c)
		out = append(out, soakSender{c: c, source: s[0], event: s[1]})
	}
	return ev, out
}

// send queues one valid event; its ID is the test's, so its outcome is known.
func (ev *soakEvents) send(ctx context.Context, s soakSender, topic string) error {
	i := ev.n.Add(1)
	e := client.Event{
		EventID: client.NewEventID(), EventName: s.event,
		User: client.User{ID: fmt.Sprintf("u-%d", i%97)}, Device: client.Device{ID: fmt.Sprintf("d-%d", i%13)},
		Payload: map[string]any{"n": i, "tags": []string{"soak"}},
	}
	ev.mu.Lock()
	ev.queued[e.EventID] = topic
	ev.mu.Unlock()
	return s.c.Enqueue(ctx, e)
}

// sendInvalid queues events the collector must refuse into its DLQ: an event_id that is
// not a UUID, and an event without event_name.
func (ev *soakEvents) sendInvalid(ctx context.Context, s soakSender, round int) ([]string, error) {
	bad := []client.Event{
		{EventID: fmt.Sprintf("soak-bad-id-%s-%d", s.source, round), EventName: s.event, Payload: map[string]any{"bad": "id"}},
		{EventID: client.NewEventID(), EventName: "", Payload: map[string]any{"bad": "name"}},
	}
	var ids []string
	for _, e := range bad {
		ev.mu.Lock()
		ev.invalid[e.EventID] = true
		ev.mu.Unlock()
		if err := s.c.Enqueue(ctx, e); err != nil {
			return nil, err
		}
		ids = append(ids, e.EventID)
	}
	return ids, nil
}

func (ev *soakEvents) markAmbiguous(ids []string) {
	ev.mu.Lock()
	defer ev.mu.Unlock()
	for _, id := range ids {
		ev.ambiguous[id] = true
	}
}

// close flushes every client and waits for the outcome of every event.
func (ev *soakEvents) close(ctx context.Context) error {
	var errs []error
	for _, c := range ev.clients {
		errs = append(errs, c.Close(ctx))
	}
	return errors.Join(errs...)
}

// accepted are the valid events the collector took: queued, not rejected, not failed.
func (ev *soakEvents) accepted() map[string]string {
	ev.mu.Lock()
	defer ev.mu.Unlock()
	out := map[string]string{}
	for id, topic := range ev.queued {
		if _, r := ev.rejected[id]; !r {
			if _, f := ev.failed[id]; !f {
				out[id] = topic
			}
		}
	}
	return out
}

// checkOutcomes: every valid event accepted, every invalid one rejected, none failed.
func (ev *soakEvents) checkOutcomes(t *testing.T) {
	t.Helper()
	ev.mu.Lock()
	defer ev.mu.Unlock()
	for id, err := range ev.failed {
		t.Errorf("event %s not delivered: %v", id, err)
	}
	var wrong []string
	for id, reason := range ev.rejected {
		if !ev.invalid[id] {
			wrong = append(wrong, id+" ("+reason+")")
		}
	}
	for id := range ev.invalid {
		if _, ok := ev.rejected[id]; !ok {
			wrong = append(wrong, id+" (invalid, not rejected)")
		}
	}
	sort.Strings(wrong)
	if len(wrong) > 0 {
		t.Errorf("collector outcomes: %d events rejected that were valid or accepted that were invalid: %.10q", len(wrong), wrong)
	}
}

func (ev *soakEvents) stats() (c client.Stats) {
	for _, cl := range ev.clients {
		c = c.Plus(cl.Stats())
	}
	return c
}

// lostAnswers is the clients' transport: it hands the IDs of a request's events to mark
// when the request's answer never arrived whole (a transport error, or the answer's body
// cut off), because the collector may have committed them before it died.
type lostAnswers struct {
	rt   http.RoundTripper
	mark func([]string)
}

func (l *lostAnswers) RoundTrip(req *http.Request) (*http.Response, error) {
	var body []byte
	if req.Body != nil {
		var err error
		if body, err = io.ReadAll(req.Body); err != nil {
			return nil, err
		}
		req.Body.Close()
		req.Body = io.NopCloser(bytes.NewReader(body))
	}
	gz := req.Header.Get("Content-Encoding") == "gzip"
	resp, err := l.rt.RoundTrip(req)
	if err != nil {
		l.mark(eventIDs(body, gz))
		return nil, err
	}
	resp.Body = &cutOff{ReadCloser: resp.Body, lost: func() { l.mark(eventIDs(body, gz)) }}
	return resp, nil
}

type cutOff struct {
	io.ReadCloser
	lost func()
	once sync.Once
}

func (c *cutOff) Read(p []byte) (int, error) {
	n, err := c.ReadCloser.Read(p)
	if err != nil && err != io.EOF {
		c.once.Do(c.lost)
	}
	return n, err
}

func eventIDs(body []byte, gz bool) []string {
	if gz {
		zr, err := gzip.NewReader(bytes.NewReader(body))
		if err != nil {
			return nil
		}
		if body, err = io.ReadAll(zr); err != nil {
			return nil
		}
	}
	var evs []struct {
		EventID string `json:"event_id"`
	}
	_ = json.Unmarshal(body, &evs)
	ids := make([]string, len(evs))
	for i, e := range evs {
		ids[i] = e.EventID
	}
	return ids
}
