package e2e

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/streamhub/streamhub/emitters/lake"
	"github.com/streamhub/streamhub/kafka"
	"github.com/streamhub/streamhub/processors"
)

// soakTail reads topics (read_committed) from their start and keeps every record, across
// calls: the convergence loop asks again and again without reading everything again. It
// suits small topics (the DLQ): decoding a fetch is slow in a test built with -race (a
// few MB of lz4 records take tens of seconds), so the CDC topics are checked through the
// lake, which holds each of their offsets.
type soakTail struct {
	cl   *kgo.Client
	recs []*kgo.Record
	errs []string
}

func newSoakTail(t *testing.T, conn *kafka.Conn, topics ...string) *soakTail {
	t.Helper()
	cl, err := conn.Client(kgo.ConsumeTopics(topics...), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return &soakTail{cl: cl}
}

// drain reads until a poll brings nothing for quiet; errs are this drain's fetch errors.
func (s *soakTail) drain(quiet time.Duration) {
	s.errs = nil
	for {
		ctx, cancel := context.WithTimeout(context.Background(), quiet)
		fs := s.cl.PollFetches(ctx)
		cancel()
		n := 0
		fs.EachRecord(func(r *kgo.Record) { s.recs = append(s.recs, r); n++ })
		fs.EachError(func(topic string, p int32, err error) {
			if !errors.Is(err, context.DeadlineExceeded) {
				s.errs = append(s.errs, fmt.Sprintf("%s/%d: %v", topic, p, err))
			}
		})
		if n == 0 {
			return
		}
	}
}

func header(r *kgo.Record, key string) (string, bool) {
	for _, h := range r.Headers {
		if h.Key == key {
			return string(h.Value), true
		}
	}
	return "", false
}

// seqLess compares sequence numbers as unbounded decimals (all of ddbtest's have 21 digits).
func seqLess(a, b string) bool {
	if len(a) != len(b) {
		return len(a) < len(b)
	}
	return a < b
}

// diffDLQ: the DLQ holds exactly the invalid records and events the test sent, each at
// least once (the processor dead-letters at least once: a record it handled again after a
// kill is dead-lettered again), and nothing valid. dups counts the extra copies.
func diffDLQ(tail *soakTail, cdc map[string]string, events map[string]bool) (diffs []string, dups int) {
	seen := map[string]int{}
	for _, r := range tail.recs {
		reason, _ := header(r, processors.HeaderDLQReason)
		if _, ok := header(r, processors.HeaderDLQTable); ok {
			if _, want := cdc[string(r.Key)]; want {
				seen["cdc "+string(r.Key)]++
				continue
			}
		} else {
			var e struct {
				EventID string `json:"event_id"`
			}
			if json.Unmarshal(r.Value, &e) == nil && events[e.EventID] {
				seen["event "+e.EventID]++
				continue
			}
		}
		diffs = append(diffs, fmt.Sprintf("DLQ %d@%d: a record the test did not make invalid (reason %q, key %q): %.200s", r.Partition, r.Offset, reason, r.Key, r.Value))
	}
	want := map[string]bool{}
	for k := range cdc {
		want["cdc "+k] = true
	}
	for id := range events {
		want["event "+id] = true
	}
	for k := range want {
		if seen[k] == 0 {
			diffs = append(diffs, fmt.Sprintf("DLQ: %s missing", k))
		}
		dups += max(seen[k]-1, 0)
	}
	sort.Strings(diffs)
	return diffs, dups
}

// diffView asks the view API for every key the model knows and compares the answer.
func diffView(addr string, tables []*soakTable) []string {
	var diffs []string
	hc := &http.Client{Timeout: 5 * time.Second}
	for _, tb := range tables {
		for key, want := range tb.snapshot() {
			q := url.Values{"include_deleted": {"true"}}
			for k, v := range tb.queryOf(key) {
				q.Set(k, v)
			}
			resp, err := hc.Get("http://" + addr + "/v1/tables/" + tb.name + "/item?" + q.Encode())
			if err != nil {
				return append(diffs, fmt.Sprintf("view API: %v", err))
			}
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil {
				return append(diffs, fmt.Sprintf("view API: %v", err))
			}
			if resp.StatusCode != http.StatusOK {
				diffs = append(diffs, fmt.Sprintf("view %s %s: status %d: %s", tb.name, key, resp.StatusCode, body))
				continue
			}
			var got struct {
				Key     json.RawMessage `json:"key"`
				Item    map[string]any  `json:"item"`
				Deleted bool            `json:"deleted"`
			}
			dec := json.NewDecoder(bytes.NewReader(body))
			dec.UseNumber()
			if err := dec.Decode(&got); err != nil {
				diffs = append(diffs, fmt.Sprintf("view %s %s: %v: %s", tb.name, key, err, body))
				continue
			}
			switch {
			case string(got.Key) != key:
				diffs = append(diffs, fmt.Sprintf("view %s %s: answered for key %s", tb.name, key, got.Key))
			case got.Deleted != want.deleted:
				diffs = append(diffs, fmt.Sprintf("view %s %s: deleted = %v, the table says %v", tb.name, key, got.Deleted, want.deleted))
			case !want.deleted && !reflect.DeepEqual(got.Item, want.plain):
				diffs = append(diffs, fmt.Sprintf("view %s %s: item %v, the table holds %v", tb.name, key, got.Item, want.plain))
			}
		}
	}
	sort.Strings(diffs)
	return diffs
}

// diffSoakPostgres compares each state table with the model row by row: a live item is a
// row with its document (and its projected score column) and no deleted_at; a deleted
// item is a soft-deleted row; and there is no other row.
func diffSoakPostgres(db *pgx.Conn, schema string, tables []*soakTable) []string {
	var diffs []string
	for _, tb := range tables {
		score := "NULL::bigint"
		if tb.versioned {
			score = "score"
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		rows, err := db.Query(ctx, `SELECT key, doc::text, deleted_at IS NOT NULL, `+score+` FROM `+pgx.Identifier{schema, tb.name}.Sanitize())
		if err != nil {
			cancel()
			return append(diffs, fmt.Sprintf("PostgreSQL %s: %v", tb.name, err))
		}
		type row struct {
			doc     *string
			deleted bool
			score   *int64
		}
		got := map[string]row{}
		for rows.Next() {
			var k string
			var r row
			if err := rows.Scan(&k, &r.doc, &r.deleted, &r.score); err != nil {
				rows.Close()
				cancel()
				return append(diffs, fmt.Sprintf("PostgreSQL %s: %v", tb.name, err))
			}
			got[k] = r
		}
		err = rows.Err()
		cancel()
		if err != nil {
			return append(diffs, fmt.Sprintf("PostgreSQL %s: %v", tb.name, err))
		}
		for k, want := range tb.snapshot() {
			r, ok := got[k]
			delete(got, k)
			switch {
			case !ok:
				diffs = append(diffs, fmt.Sprintf("PostgreSQL %s %s: no row", tb.name, k))
			case want.deleted && !r.deleted:
				diffs = append(diffs, fmt.Sprintf("PostgreSQL %s %s: live, deleted in the table", tb.name, k))
			case !want.deleted && (r.deleted || r.doc == nil):
				diffs = append(diffs, fmt.Sprintf("PostgreSQL %s %s: deleted, live in the table", tb.name, k))
			case !want.deleted:
				dec := json.NewDecoder(strings.NewReader(*r.doc))
				dec.UseNumber()
				var doc map[string]any
				if err := dec.Decode(&doc); err != nil || !reflect.DeepEqual(doc, want.plain) {
					diffs = append(diffs, fmt.Sprintf("PostgreSQL %s %s: doc %s, the table holds %v", tb.name, k, *r.doc, want.plain))
				} else if tb.versioned && (r.score == nil || fmt.Sprint(*r.score) != string(want.plain["score"].(json.Number))) {
					diffs = append(diffs, fmt.Sprintf("PostgreSQL %s %s: score column %v, the item's score is %v", tb.name, k, r.score, want.plain["score"]))
				}
			}
		}
		for k := range got {
			diffs = append(diffs, fmt.Sprintf("PostgreSQL %s %s: a row the table never had", tb.name, k))
		}
	}
	sort.Strings(diffs)
	return diffs
}

// lakeRow is what the checks read of a lake row (emitters/lake/SCHEMA.md).
type lakeRow struct {
	Topic          string          `json:"topic"`
	Partition      int32           `json:"partition"`
	Offset         int64           `json:"offset"`
	Key            string          `json:"key"`
	SequenceNumber string          `json:"sequence_number"`
	EventID        string          `json:"event_id"`
	Value          json.RawMessage `json:"value"`
}

// lakeReader reads every JSON Lines object under a prefix. With cache set it keeps the
// rows of objects it has read and reads only new ones: a redone flush rewrites an object
// with the same bytes, so the convergence loop need not read a growing lake again each
// time. The final check reads everything again without the cache.
type lakeReader struct {
	store  lake.Store
	prefix string
	cache  map[string][]lakeRow
}

func (l *lakeReader) read(ctx context.Context, cache bool) ([]lakeRow, int, error) {
	keys, err := l.store.List(ctx, l.prefix)
	if err != nil {
		return nil, 0, err
	}
	if !cache || l.cache == nil {
		l.cache = map[string][]lakeRow{}
	}
	var rows []lakeRow
	objects := 0
	for _, k := range keys {
		if !strings.HasSuffix(k, ".jsonl.gz") {
			continue
		}
		objects++
		got, ok := l.cache[k]
		if !ok {
			if got, err = l.object(ctx, k); err != nil {
				return nil, 0, err
			}
			l.cache[k] = got
		}
		rows = append(rows, got...)
	}
	return rows, objects, nil
}

func (l *lakeReader) object(ctx context.Context, k string) ([]lakeRow, error) {
	body, err := l.store.Get(ctx, k)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", k, err)
	}
	zr, err := gzip.NewReader(bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", k, err)
	}
	var rows []lakeRow
	sc := bufio.NewScanner(zr)
	sc.Buffer(nil, 16<<20)
	for sc.Scan() {
		var r lakeRow
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			return nil, fmt.Errorf("%s: %w: %s", k, err, sc.Bytes())
		}
		if !strings.HasPrefix(k, l.prefix+r.Topic+"/") {
			return nil, fmt.Errorf("%s holds a row of topic %s", k, r.Topic)
		}
		rows = append(rows, r)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", k, err)
	}
	return rows, nil
}

// diffLake: every offset of every topic in one object only; every CDC record the tables
// wrote once (by sequence number, with its eventID and item key), each item's records in
// the order the table wrote them, and the injected records once (by key); every accepted
// event once by event_id — twice only if a request holding it lost its answer and was
// sent again (dups counts those); no other row. The lake copies the CDC topics offset by
// offset, so this checks the bridge's topics too.
func diffLake(rows []lakeRow, tables []*soakTable, topicOf map[string]string, injected map[string]string, ev *soakEvents) (diffs []string, dups int) {
	type at struct {
		topic  string
		part   int32
		offset int64
	}
	offsets := map[at]int{}
	cdcTopic := map[string]string{}
	changes := map[string]soakChange{}
	for _, tb := range tables {
		cdcTopic[topicOf[tb.name]] = tb.name
		for s, c := range tb.changeSet() {
			changes[s] = c
		}
	}
	accepted := ev.accepted()
	ev.mu.Lock()
	ambiguous := make(map[string]bool, len(ev.ambiguous))
	for id := range ev.ambiguous {
		ambiguous[id] = true
	}
	ev.mu.Unlock()
	seqs, inj, events := map[string]int{}, map[string]int{}, map[string]int{}
	type placed struct {
		at
		seq string
	}
	byItem := map[string][]placed{}
	for _, r := range rows {
		offsets[at{r.Topic, r.Partition, r.Offset}]++
		if table, ok := cdcTopic[r.Topic]; ok {
			if _, ok := injected[r.Key]; ok {
				inj[r.Key]++
				continue
			}
			c, ok := changes[r.SequenceNumber]
			if !ok || c.table != table {
				diffs = append(diffs, fmt.Sprintf("lake %s/%d@%d: sequence %q the table %s never wrote (key %s)", r.Topic, r.Partition, r.Offset, r.SequenceNumber, table, r.Key))
				continue
			}
			seqs[r.SequenceNumber]++
			byItem[c.key] = append(byItem[c.key], placed{at{r.Topic, r.Partition, r.Offset}, r.SequenceNumber})
			var v struct {
				EventID string `json:"eventID"`
			}
			if err := json.Unmarshal(r.Value, &v); err != nil || v.EventID != c.eventID || r.Key != c.key {
				diffs = append(diffs, fmt.Sprintf("lake %s/%d@%d: sequence %s: eventID %q key %s, the table wrote %q for %s", r.Topic, r.Partition, r.Offset, r.SequenceNumber, v.EventID, r.Key, c.eventID, c.key))
			}
			continue
		}
		if topic, ok := accepted[r.EventID]; ok && topic == r.Topic {
			events[r.EventID]++
			continue
		}
		diffs = append(diffs, fmt.Sprintf("lake %s/%d@%d: event %q was not accepted for this topic: %.200s", r.Topic, r.Partition, r.Offset, r.EventID, r.Value))
	}
	for o, n := range offsets {
		if n > 1 {
			diffs = append(diffs, fmt.Sprintf("lake %s/%d@%d: in %d rows", o.topic, o.part, o.offset, n))
		}
	}
	for key, ps := range byItem {
		sort.Slice(ps, func(i, j int) bool { return ps[i].offset < ps[j].offset })
		for i := 1; i < len(ps); i++ {
			switch {
			case ps[i].topic != ps[0].topic || ps[i].part != ps[0].part:
				diffs = append(diffs, fmt.Sprintf("lake: item %s in %s/%d and %s/%d", key, ps[0].topic, ps[0].part, ps[i].topic, ps[i].part))
			case seqLess(ps[i].seq, ps[i-1].seq):
				diffs = append(diffs, fmt.Sprintf("lake: item %s: sequence %s at offset %d after %s at %d", key, ps[i].seq, ps[i].offset, ps[i-1].seq, ps[i-1].offset))
			}
		}
	}
	for s, c := range changes {
		if n := seqs[s]; n != 1 {
			diffs = append(diffs, fmt.Sprintf("lake: stream record %s of %s (%s %s) %d times, want once", s, c.table, c.eventName, c.key, n))
		}
	}
	for k := range injected {
		if inj[k] != 1 {
			diffs = append(diffs, fmt.Sprintf("lake: injected record %s %d times, want once", k, inj[k]))
		}
	}
	for id, topic := range accepted {
		switch n := events[id]; {
		case n == 0:
			diffs = append(diffs, fmt.Sprintf("lake: accepted event %s (%s) missing", id, topic))
		case n > 1 && !ambiguous[id]:
			diffs = append(diffs, fmt.Sprintf("lake: event %s %d times; no request holding it lost its answer", id, n))
		case n > 1:
			dups += n - 1
		}
	}
	sort.Strings(diffs)
	return diffs, dups
}
