package snapshot

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/streamhub/streamhub/kafka"
	"github.com/streamhub/streamhub/state"
	"github.com/streamhub/streamhub/topology"
)

// testTimeout bounds each test's work with the broker.
const testTimeout = 60 * time.Second

func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
	t.Cleanup(cancel)
	return ctx
}

// memStore is an in-memory lake.Store that remembers the order of its Puts.
type memStore struct {
	mu      sync.Mutex
	objects map[string][]byte
	puts    []string
	// failPuts makes the next n Puts fail.
	failPuts int
	// onPut, when set, is called after each successful Put (outside the lock).
	onPut func(key string)
}

func newMemStore() *memStore { return &memStore{objects: map[string][]byte{}} }

func (s *memStore) Put(ctx context.Context, key string, body []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	if s.failPuts > 0 {
		s.failPuts--
		s.mu.Unlock()
		return fmt.Errorf("memstore: injected failure for %s", key)
	}
	s.objects[key] = bytes.Clone(body)
	s.puts = append(s.puts, key)
	on := s.onPut
	s.mu.Unlock()
	if on != nil {
		on(key)
	}
	return nil
}

func (s *memStore) Get(ctx context.Context, key string) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, ok := s.objects[key]
	if !ok {
		return nil, fmt.Errorf("memstore: %s: %w", key, fs.ErrNotExist)
	}
	return bytes.Clone(b), nil
}

func (s *memStore) List(ctx context.Context, prefix string) ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for k := range s.objects {
		if strings.HasPrefix(k, prefix) {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out, nil
}

func (s *memStore) putOrder() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.puts)
}

// testTable is a table with a hash and a range key whose table topic has partitions.
func testTable(name string, partitions int) topology.Table {
	return topology.Table{
		Name:       name,
		Topic:      "dev." + name + ".cdc",
		Keys:       []string{"pk", "sk"},
		Partitions: partitions,
		Group:      "dev." + name + ".state",
	}
}

// startConn starts an embedded broker and creates the table topics of tables.
func startConn(t *testing.T, tables ...topology.Table) *kafka.Conn {
	t.Helper()
	ctx := testContext(t)
	conn, err := kafka.Connect(ctx, topology.Kafka{
		Brokers:           []string{topology.EmbeddedBrokers},
		EmbeddedListen:    "127.0.0.1:0",
		ClientID:          "snapshot-test",
		ReplicationFactor: 1,
		MinInsyncReplicas: 1,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(conn.Close)
	var specs []topology.TopicSpec
	for _, tb := range tables {
		specs = append(specs, topology.TopicSpec{Name: tb.TableTopic(), Partitions: tb.Partitions, Compacted: true, Purpose: topology.PurposeState})
	}
	if _, err := conn.EnsureTopics(ctx, specs); err != nil {
		t.Fatal(err)
	}
	return conn
}

// op is one record for the table topic: a state value, raw bytes, or a tombstone.
type op struct {
	key   string
	value *state.Value // encoded unless raw or tombstone
	raw   []byte       // sent as is (corrupt values)
	tomb  bool         // a nil value
}

func put(key string, v state.Value) op { return op{key: key, value: &v} }
func corrupt(key string, b []byte) op  { return op{key: key, raw: b} }
func tombstone(key string) op          { return op{key: key, tomb: true} }
func (o op) record(topic string) *kgo.Record {
	r := &kgo.Record{Topic: topic, Key: []byte(o.key)}
	switch {
	case o.tomb:
	case o.raw != nil:
		r.Value = o.raw
	default:
		b, err := o.value.MarshalBinary()
		if err != nil {
			panic(err)
		}
		r.Value = b
	}
	return r
}

// producer writes ops to a table topic, plainly or in transactions.
type producer struct {
	t     *testing.T
	cl    *kgo.Client
	topic string
}

func newProducer(t *testing.T, conn *kafka.Conn, tb topology.Table, txnID string) *producer {
	t.Helper()
	opts := []kgo.Opt{kgo.ClientID("snapshot-test-producer")}
	if txnID != "" {
		opts = append(opts, kgo.TransactionalID(txnID))
	}
	cl, err := conn.Client(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return &producer{t: t, cl: cl, topic: tb.TableTopic()}
}

// plain produces ops without a transaction.
func (p *producer) plain(ctx context.Context, ops ...op) {
	p.t.Helper()
	for _, o := range ops {
		if err := p.cl.ProduceSync(ctx, o.record(p.topic)).FirstErr(); err != nil {
			p.t.Fatalf("produce %s: %v", o.key, err)
		}
	}
}

// txn produces ops in one transaction and commits or aborts it.
func (p *producer) txn(ctx context.Context, commit bool, ops ...op) {
	p.t.Helper()
	if err := p.cl.BeginTransaction(); err != nil {
		p.t.Fatal(err)
	}
	for _, o := range ops {
		if err := p.cl.ProduceSync(ctx, o.record(p.topic)).FirstErr(); err != nil {
			p.t.Fatalf("produce %s in a transaction: %v", o.key, err)
		}
	}
	if err := p.cl.EndTransaction(ctx, kgo.TransactionEndTry(commit)); err != nil {
		p.t.Fatalf("end transaction (commit %v): %v", commit, err)
	}
}

// value builds a state value of the item {"pk":pk,"sk":sk,"n":n} changed at sequence seq.
func value(pk, sk string, seq int, deleted bool) state.Value {
	created := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC).Add(time.Duration(seq) * time.Second)
	v := state.Value{
		Deleted: deleted,
		Version: state.Version{
			Attr:      fmt.Sprint(1767225600000 + seq),
			HasAttr:   seq%2 == 0,
			Seq:       fmt.Sprintf("1000000000000000000000%03d", seq),
			Stream:    "arn:aws:dynamodb:eu-west-1:123456789012:table/users/stream/2026-01-01T00:00:00.000",
			CreatedAt: created.UnixMilli(),
		},
		EventID:   fmt.Sprintf("event-%d", seq),
		UpdatedAt: created.Add(123456 * time.Nanosecond),
		Source:    state.Position{Topic: "dev.users.cdc", Partition: int32(seq % 3), Offset: int64(seq)},
	}
	if !deleted {
		v.Item = fmt.Appendf(nil, `{"n":%d,"pk":%q,"sk":%q}`, seq, pk, sk)
	}
	return v
}

// expected is the row a snapshot should hold for key with keys JSON and value v; it
// spells out the mapping SCHEMA.md documents, independently of makeRow.
func expected(key, keys string, v state.Value) Row {
	r := Row{Key: key, Keys: &keys, Deleted: v.Deleted, VersionSeq: v.Version.Seq,
		VersionStream: v.Version.Stream, EventID: v.EventID}
	if !v.Deleted {
		s := string(v.Item)
		r.Item = &s
	}
	if v.Version.HasAttr {
		a := v.Version.Attr
		r.VersionAttr = &a
	}
	c := time.UnixMilli(v.Version.CreatedAt).UTC()
	r.VersionCreatedAt = &c
	u := v.UpdatedAt.Truncate(time.Millisecond).UTC()
	r.UpdatedAt = &u
	topic, part, off := v.Source.Topic, v.Source.Partition, v.Source.Offset
	r.SourceTopic, r.SourcePartition, r.SourceOffset = &topic, &part, &off
	return r
}

// readPart decodes a parquet part.
func readPart(t *testing.T, body []byte) []Row {
	t.Helper()
	rows, err := parquet.Read[Row](bytes.NewReader(body), int64(len(body)))
	if err != nil {
		t.Fatalf("read parquet part: %v", err)
	}
	return rows
}

// readSnapshot decodes every part of res in order.
func readSnapshot(t *testing.T, st *memStore, res Result) []Row {
	t.Helper()
	var out []Row
	for _, key := range res.Parts {
		b, err := st.Get(t.Context(), key)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, readPart(t, b)...)
	}
	return out
}

// formatRow renders a row with its pointers and times spelled out, for comparisons.
func formatRow(r Row) string {
	s := func(p *string) string {
		if p == nil {
			return "<null>"
		}
		return *p
	}
	tm := func(p *time.Time) string {
		if p == nil {
			return "<null>"
		}
		return p.UTC().Format(time.RFC3339Nano)
	}
	i32 := func(p *int32) string {
		if p == nil {
			return "<null>"
		}
		return fmt.Sprint(*p)
	}
	i64 := func(p *int64) string {
		if p == nil {
			return "<null>"
		}
		return fmt.Sprint(*p)
	}
	return fmt.Sprintf("key=%s keys=%s item=%s deleted=%v attr=%s seq=%s stream=%s created=%s event=%s updated=%s src=%s/%s/%s",
		r.Key, s(r.Keys), s(r.Item), r.Deleted, s(r.VersionAttr), r.VersionSeq, r.VersionStream,
		tm(r.VersionCreatedAt), r.EventID, tm(r.UpdatedAt), s(r.SourceTopic), i32(r.SourcePartition), i64(r.SourceOffset))
}

func compareRows(t *testing.T, got, want []Row) {
	t.Helper()
	n := max(len(got), len(want))
	for i := range n {
		var g, w string
		if i < len(got) {
			g = formatRow(got[i])
		}
		if i < len(want) {
			w = formatRow(want[i])
		}
		if g != w {
			t.Errorf("row %d:\n got  %s\n want %s", i, g, w)
		}
	}
	if len(got) != len(want) {
		t.Errorf("%d rows, want %d", len(got), len(want))
	}
}

// testLogger discards logs unless the test runs with -v.
func testLogger(t *testing.T) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}
