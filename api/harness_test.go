package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/streamhub/streamhub/api"
	"github.com/streamhub/streamhub/kafka"
	"github.com/streamhub/streamhub/pipeline"
	"github.com/streamhub/streamhub/state"
	"github.com/streamhub/streamhub/topology"
)

// testTopology has four tables that cover the key shapes the API must understand: string
// hash and range keys (users), a numeric hash key (orders), a numeric range key (events)
// and a hash key alone (flags).
const testTopology = `
env: apitest
kafka:
  brokers: embedded
  embedded_listen: 127.0.0.1:0
tables:
  - name: users
    keys: [pk, sk]
    version_attribute: updatedAt
    partitions: 4
  - name: orders
    keys: [id, sk]
    partitions: 3
  - name: events
    keys: [pk, seq]
    partitions: 2
  - name: flags
    keys: [id]
    partitions: 2
api:
  listen: 127.0.0.1:0
`

// waitTimeout bounds every wait for the broker or the views; it is a deadline for a
// condition, never a measure of speed.
const waitTimeout = 30 * time.Second

// balance has more digits than a float64 holds: it must reach the client byte for byte.
const balance = `12345678901234567890.50`

// profileKey is the item every field-level assertion looks at.
var profileKey = mustKey([]string{"user#1", "profile"}, nil)

var profileValue = state.Value{
	Item:    []byte(`{"pk":"user#1","sk":"profile","balance":` + balance + `,"updatedAt":1767225600123}`),
	EventID: "3f1c2b7e-event",
	Version: state.Version{
		Attr:      "1767225600123",
		HasAttr:   true,
		Seq:       "111111111111111111111111",
		Stream:    "arn:aws:dynamodb:eu-west-1:123456789012:table/users/stream/2026-01-01T00:00:00.000",
		CreatedAt: 1767225600000,
	},
	UpdatedAt: time.Date(2026, 1, 1, 0, 0, 0, 123_000_000, time.UTC),
	Source:    state.Position{Topic: "apitest.users.cdc", Partition: 2, Offset: 41},
}

// storedItem is one state value written straight into a table topic.
type storedItem struct {
	table string
	key   string
	value state.Value
}

func mustKey(values []string, numeric []bool) string {
	k, err := state.KeyFromStrings(values, numeric)
	if err != nil {
		panic(err)
	}
	return k
}

// live is a plain item whose JSON holds its key attributes.
func live(table, key, item string) storedItem {
	return storedItem{table: table, key: key, value: state.Value{Item: []byte(item), Version: state.Version{Seq: "100"}}}
}

// tombstone is a deleted item that keeps its version.
func tombstone(table, key string) storedItem {
	return storedItem{table: table, key: key, value: state.Value{Deleted: true, Version: state.Version{Seq: "200"}}}
}

// usersOne are the live items of hash key user#1 in range-key order.
var usersOne = []string{"a", "b", "c", "d", "e", "f", "profile"}

// testItems is the state every read test looks at.
func testItems() []storedItem {
	items := []storedItem{{table: "users", key: profileKey, value: profileValue}}
	for _, sk := range usersOne {
		if sk == "profile" {
			continue
		}
		items = append(items, live("users", mustKey([]string{"user#1", sk}, nil), fmt.Sprintf(`{"pk":"user#1","sk":%q}`, sk)))
	}
	items = append(items,
		tombstone("users", mustKey([]string{"user#1", "gone"}, nil)),
		// A hash key that extends "user#1": its items must not show up under user#1.
		live("users", mustKey([]string{"user#10", "a"}, nil), `{"pk":"user#10","sk":"a"}`),
		live("orders", mustKey([]string{"42", "x"}, []bool{true, false}), `{"id":42,"sk":"x"}`),
		live("orders", mustKey([]string{"42", "y"}, []bool{true, false}), `{"id":42,"sk":"y"}`),
		live("orders", mustKey([]string{"420", "x"}, []bool{true, false}), `{"id":420,"sk":"x"}`),
		live("flags", mustKey([]string{"on"}, nil), `{"id":"on"}`),
		live("flags", mustKey([]string{"o"}, nil), `{"id":"o"}`),
	)
	// Numeric range keys, written in an order that is neither numeric nor bytewise.
	for _, seq := range []string{"10", "2", "100", "-1", "9", "1.5"} {
		items = append(items, live("events", mustKey([]string{"a", seq}, []bool{false, true}), fmt.Sprintf(`{"pk":"a","seq":%s}`, seq)))
	}
	items = append(items, tombstone("events", mustKey([]string{"a", "50"}, []bool{false, true})))
	return items
}

func testConfig(t testing.TB) *topology.Config {
	t.Helper()
	cfg, err := topology.Parse("api-test.yaml", []byte(testTopology))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func testLogger() *slog.Logger {
	level := slog.LevelError
	if os.Getenv("STREAMHUB_TEST_DEBUG") != "" {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
}

// broker is an embedded broker with the topology's topics and the test items in the
// table topics.
type broker struct {
	cfg  *topology.Config
	conn *kafka.Conn
}

func startBroker(cfg *topology.Config, items []storedItem) (*broker, error) {
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	conn, err := kafka.Connect(ctx, cfg.Kafka)
	if err != nil {
		return nil, err
	}
	if _, err := pipeline.ApplyTopics(ctx, conn, cfg, testLogger()); err != nil {
		conn.Close()
		return nil, err
	}
	b := &broker{cfg: cfg, conn: conn}
	if err := b.write(ctx, items); err != nil {
		conn.Close()
		return nil, err
	}
	return b, nil
}

// write produces the items into their table topics with franz-go's default partitioner
// (murmur2, like any Kafka client), as a processor's state would be found there.
func (b *broker) write(ctx context.Context, items []storedItem) error {
	cl, err := b.conn.Client()
	if err != nil {
		return err
	}
	defer cl.Close()
	recs := make([]*kgo.Record, 0, len(items))
	for _, it := range items {
		tbl, ok := b.cfg.Table(it.table)
		if !ok {
			return fmt.Errorf("no table %s", it.table)
		}
		val, err := (&it.value).MarshalBinary()
		if err != nil {
			return err
		}
		recs = append(recs, &kgo.Record{Topic: tbl.TableTopic(), Key: []byte(it.key), Value: val})
	}
	return cl.ProduceSync(ctx, recs...).FirstErr()
}

// server is a view API running in the background.
type server struct {
	*api.Server
	addr   string
	cancel context.CancelFunc
	done   chan error
	once   sync.Once
	err    error
}

// startServer builds the view API over b's tables and runs it until stop.
func startServer(b *broker, tokens ...string) (*server, error) {
	return startServerWith(b, api.Options{Tokens: tokens})
}

// startServerWith is startServer with more options; the connection, tables, listen
// address, client ID and logger are filled in.
func startServerWith(b *broker, opts api.Options) (*server, error) {
	opts.Conn, opts.Tables, opts.Listen, opts.ClientID, opts.Logger = b.conn, b.cfg.Tables, "127.0.0.1:0", "api-test", testLogger()
	srv, err := api.New(opts)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &server{Server: srv, cancel: cancel, done: make(chan error, 1)}
	go func() { s.done <- srv.Run(ctx) }()
	deadline := time.Now().Add(waitTimeout)
	for s.addr = srv.Addr(); s.addr == ""; s.addr = srv.Addr() {
		select {
		case err := <-s.done:
			cancel()
			return nil, fmt.Errorf("view API stopped before listening: %v", err)
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.stop()
			return nil, errors.New("view API did not listen in time")
		}
	}
	return s, nil
}

// stop cancels Run and returns what it returned.
func (s *server) stop() error {
	s.once.Do(func() {
		s.cancel()
		select {
		case s.err = <-s.done:
		case <-time.After(waitTimeout):
			s.err = errors.New("view API did not stop in time")
		}
	})
	return s.err
}

func (s *server) waitReady() error {
	deadline := time.Now().Add(waitTimeout)
	for !s.Ready() {
		if time.Now().After(deadline) {
			return errors.New("views did not recover in time")
		}
		time.Sleep(20 * time.Millisecond)
	}
	return nil
}

// newServer starts a view API for one test over b, ready to answer.
func newServer(t *testing.T, b *broker, tokens ...string) *server {
	t.Helper()
	s, err := startServer(b, tokens...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.stop(); err != nil {
			t.Errorf("view API Run: %v", err)
		}
	})
	if err := s.waitReady(); err != nil {
		t.Fatal(err)
	}
	return s
}

func newBroker(t *testing.T, items []storedItem) *broker {
	t.Helper()
	b, err := startBroker(testConfig(t), items)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.conn.Close)
	return b
}

// shared is one broker and one ready view API over testItems, for the tests that only
// read; TestMain stops them.
var shared struct {
	once   sync.Once
	broker *broker
	server *server
	err    error
}

func sharedServer(t *testing.T) *server {
	t.Helper()
	shared.once.Do(func() {
		cfg, err := topology.Parse("api-test.yaml", []byte(testTopology))
		if err != nil {
			shared.err = err
			return
		}
		if shared.broker, shared.err = startBroker(cfg, testItems()); shared.err != nil {
			return
		}
		if shared.server, shared.err = startServer(shared.broker); shared.err != nil {
			return
		}
		shared.err = shared.server.waitReady()
	})
	if shared.err != nil {
		t.Fatalf("shared view API: %v", shared.err)
	}
	return shared.server
}

func TestMain(m *testing.M) {
	code := m.Run()
	if shared.server != nil {
		if err := shared.server.stop(); err != nil {
			fmt.Fprintf(os.Stderr, "shared view API Run: %v\n", err)
			code = 1
		}
	}
	if shared.broker != nil {
		shared.broker.conn.Close()
	}
	os.Exit(code)
}

// response is an HTTP answer read in full.
type response struct {
	Code   int
	Header http.Header
	Body   []byte
}

// get asks addr for path with query; header holds name, value pairs.
func get(t *testing.T, addr, path string, query url.Values, header ...string) response {
	t.Helper()
	u := "http://" + addr + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{Code: resp.StatusCode, Header: resp.Header, Body: body}
}

// decode reads a JSON object keeping numbers as written.
func decode(t *testing.T, b []byte) map[string]any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
	return m
}

// wantJSONError checks an error answer: the status, a JSON content type and an "error"
// message containing every one of want.
func wantJSONError(t *testing.T, r response, code int, want ...string) {
	t.Helper()
	if r.Code != code {
		t.Errorf("status %d, want %d; body %s", r.Code, code, r.Body)
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q, want application/json", ct)
	}
	var e struct {
		Error string `json:"error"`
	}
	if err := json.Unmarshal(r.Body, &e); err != nil || e.Error == "" {
		t.Fatalf("body %s is not a JSON error", r.Body)
	}
	for _, w := range want {
		if !bytes.Contains([]byte(e.Error), []byte(w)) {
			t.Errorf("error %q does not mention %q", e.Error, w)
		}
	}
}

// lagHeader checks X-Streamhub-Lag is present and a whole number of records.
func lagHeader(t *testing.T, r response) int64 {
	t.Helper()
	h := r.Header.Values(api.HeaderLag)
	if len(h) != 1 {
		t.Fatalf("%s header: %q, want one value", api.HeaderLag, h)
	}
	n, err := strconv.ParseInt(h[0], 10, 64)
	if err != nil || n < 0 {
		t.Fatalf("%s header %q is not a non-negative whole number", api.HeaderLag, h[0])
	}
	return n
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", waitTimeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
