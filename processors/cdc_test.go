package processors

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strconv"
	"testing"
	"time"

	"github.com/lovoo/goka"
	"github.com/lovoo/goka/tester"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/streamhub/streamhub/state"
	"github.com/streamhub/streamhub/topology"
)

// These tests run one CDC processor on goka's tester: no Kafka, every topic a queue of
// partition 0, and Consume returns once the processor has handled the record and everything
// it looped back.

const (
	testTopic = "test.users.cdc"
	testGroup = "test.users.state"
	testDLQ   = "test.streamhub.dlq"
	testARN   = "arn:aws:dynamodb:us-east-1:123456789012:table/users/stream/2026-01-01T00:00:00.000"
)

var testTable = topology.Table{
	Name: "users", Topic: testTopic, Keys: []string{"pk", "sk"},
	VersionAttribute: "updatedAt", Partitions: 1, Group: testGroup,
}

// cdcHarness is one CDC processor running on a goka tester with its own metrics registry.
type cdcHarness struct {
	t   *testing.T
	tt  *tester.Tester
	cdc *CDC
	reg *prometheus.Registry
	// next is the offset the next record consumed from the CDC topic gets.
	next int64
}

func startCDC(t *testing.T) *cdcHarness {
	t.Helper()
	tt := tester.New(t)
	reg := prometheus.NewRegistry()
	c, err := NewCDC(Options{
		Table:       testTable,
		DLQTopic:    testDLQ,
		Metrics:     NewMetrics(reg),
		Logger:      slog.New(slog.DiscardHandler),
		GokaOptions: []goka.ProcessorOption{goka.WithTester(tt)},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("processor: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("processor did not stop within 10s")
		}
	})
	return &cdcHarness{t: t, tt: tt, cdc: c, reg: reg}
}

// consume hands the processor one CDC record with the given Kafka key and returns its offset.
func (h *cdcHarness) consume(key string, value []byte) int64 {
	h.tt.Consume(testTopic, key, value)
	h.next++
	return h.next - 1
}

// send delivers a change under its item key, as every standard producer does.
func (h *cdcHarness) send(c change) int64 { return h.consume(c.key(), c.record(h.t)) }

func (h *cdcHarness) value(key string) *state.Value {
	h.t.Helper()
	v := h.tt.TableValue(goka.GroupTable(testGroup), key)
	if v == nil {
		return nil
	}
	return v.(*state.Value)
}

// events reads streamhub_processor_events_total{table="users",outcome=outcome} from the
// harness's registry.
func (h *cdcHarness) events(outcome string) float64 {
	h.t.Helper()
	return gauge(h.t, h.reg, "streamhub_processor_events_total", outcome)
}

// gauge returns the value of the counter or gauge name of table users, with the given
// outcome label when outcome is not "".
func gauge(t *testing.T, reg *prometheus.Registry, name, outcome string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metrics:
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				switch {
				case l.GetName() == "table" && l.GetValue() != "users",
					l.GetName() == "outcome" && l.GetValue() != outcome:
					continue metrics
				}
			}
			if m.GetCounter() != nil {
				return m.GetCounter().GetValue()
			}
			return m.GetGauge().GetValue()
		}
	}
	return 0
}

// checkCounts compares the processor's counts, and the events metric by outcome, with want.
func (h *cdcHarness) checkCounts(want Counts) {
	h.t.Helper()
	if got := h.cdc.Counts(); got != want {
		h.t.Errorf("counts = %+v, want %+v", got, want)
	}
	for outcome, n := range map[string]int64{
		OutcomeApplied: want.Applied, OutcomeStale: want.Stale, OutcomeDuplicate: want.Duplicate,
		OutcomeInvalid: want.Invalid, OutcomeRekeyed: want.Rekeyed,
	} {
		if got := h.events(outcome); got != float64(n) {
			h.t.Errorf("streamhub_processor_events_total{outcome=%q} = %v, want %d", outcome, got, n)
		}
	}
}

// change is one DynamoDB Streams record of the users table (keys pk, sk; version attribute
// updatedAt), written as Lambda receives it.
type change struct {
	event string // INSERT, MODIFY or REMOVE
	pk    string // default "user#1"
	seq   string // SequenceNumber
	at    string // updatedAt (NewImage, or OldImage for a REMOVE); "" leaves it out
	name  string // the name attribute
}

func (c change) hashKey() string {
	if c.pk == "" {
		return "user#1"
	}
	return c.pk
}

func (c change) key() string {
	k, err := state.EncodeKey(map[string]state.AttributeValue{
		"pk": state.StringValue(c.hashKey()), "sk": state.StringValue("profile"),
	}, testTable.Keys)
	if err != nil {
		panic(err)
	}
	return k
}

func (c change) record(t *testing.T) []byte {
	t.Helper()
	img := map[string]state.AttributeValue{
		"pk": state.StringValue(c.hashKey()), "sk": state.StringValue("profile"),
		"name": state.StringValue(c.name),
	}
	if c.at != "" {
		img["updatedAt"] = state.StringValue(c.at)
	}
	r := state.Record{
		EventID: "ev-" + c.seq, EventName: c.event, EventVersion: "1.1", EventSource: "aws:dynamodb",
		AWSRegion: "us-east-1", EventSourceARN: testARN,
		DynamoDB: state.StreamRecord{
			ApproximateCreationDateTime: state.EpochSeconds(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)),
			Keys: map[string]state.AttributeValue{
				"pk": state.StringValue(c.hashKey()), "sk": state.StringValue("profile"),
			},
			SequenceNumber: c.seq,
			SizeBytes:      100,
			StreamViewType: "NEW_AND_OLD_IMAGES",
		},
	}
	if c.event == state.EventRemove {
		r.DynamoDB.OldImage = img
	} else {
		r.DynamoDB.NewImage = img
	}
	b, err := r.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func ins(seq, at, name string) change {
	return change{event: state.EventInsert, seq: seq, at: at, name: name}
}
func mod(seq, at, name string) change {
	return change{event: state.EventModify, seq: seq, at: at, name: name}
}
func rem(seq, at string) change {
	return change{event: state.EventRemove, seq: seq, at: at, name: "gone"}
}

// Times of the version attribute, in order.
const (
	t1 = "2026-01-01T00:00:01.000Z"
	t2 = "2026-01-01T00:00:02.000Z"
	t3 = "2026-01-01T00:00:03.000Z"
)

func itemName(t *testing.T, v *state.Value) string {
	t.Helper()
	var item map[string]any
	if err := json.Unmarshal(v.Item, &item); err != nil {
		t.Fatalf("stored item %q: %v", v.Item, err)
	}
	name, _ := item["name"].(string)
	return name
}

// TestCDCKeepsTheChangeWithTheGreatestVersion feeds one item's changes in the given order
// and checks the stored state: which change won, that its version and source position are
// kept (also by tombstones), and how every record was counted.
func TestCDCKeepsTheChangeWithTheGreatestVersion(t *testing.T) {
	for _, tc := range []struct {
		name    string
		changes []change
		// The state: deleted, or live with the item's name; the winner's sequence number
		// and its index in changes (its offset in the CDC topic).
		deleted bool
		item    string
		seq     string
		winner  int64
		counts  Counts
	}{
		{
			name:    "a newer change is applied",
			changes: []change{ins("100", t1, "a"), mod("200", t2, "b")},
			item:    "b", seq: "200", winner: 1,
			counts: Counts{In: 2, Applied: 2},
		},
		{
			name:    "a duplicate is ignored and counted duplicate",
			changes: []change{ins("100", t1, "a"), ins("100", t1, "a")},
			item:    "a", seq: "100", winner: 0,
			counts: Counts{In: 2, Applied: 1, Duplicate: 1},
		},
		{
			name:    "an older change is ignored and counted stale",
			changes: []change{mod("200", t2, "b"), ins("100", t1, "a")},
			item:    "b", seq: "200", winner: 0,
			counts: Counts{In: 2, Applied: 1, Stale: 1},
		},
		{
			name:    "a REMOVE writes a tombstone that keeps its version",
			changes: []change{ins("100", t1, "a"), rem("200", t2)},
			deleted: true, seq: "200", winner: 1,
			counts: Counts{In: 2, Applied: 2},
		},
		{
			name:    "a late older MODIFY after a REMOVE stays deleted",
			changes: []change{ins("100", t1, "a"), rem("300", t3), mod("200", t2, "b")},
			deleted: true, seq: "300", winner: 1,
			counts: Counts{In: 3, Applied: 2, Stale: 1},
		},
		{
			name:    "a duplicate REMOVE is counted duplicate",
			changes: []change{ins("100", t1, "a"), rem("200", t2), rem("200", t2)},
			deleted: true, seq: "200", winner: 1,
			counts: Counts{In: 3, Applied: 2, Duplicate: 1},
		},
		{
			name:    "a newer INSERT after a REMOVE re-creates the item",
			changes: []change{ins("100", t1, "a"), rem("200", t2), ins("300", t3, "c")},
			item:    "c", seq: "300", winner: 2,
			counts: Counts{In: 3, Applied: 3},
		},
		{
			name:    "a REMOVE of a never-seen item leaves a tombstone",
			changes: []change{rem("200", t2)},
			deleted: true, seq: "200", winner: 0,
			counts: Counts{In: 1, Applied: 1},
		},
		{
			name:    "a REMOVE of a never-seen item keeps a late older INSERT out",
			changes: []change{rem("200", t2), ins("100", t1, "a")},
			deleted: true, seq: "200", winner: 0,
			counts: Counts{In: 2, Applied: 1, Stale: 1},
		},
		{
			name:    "the version attribute wins over a greater sequence number",
			changes: []change{mod("500", t2, "b"), mod("600", t1, "a")},
			item:    "b", seq: "500", winner: 0,
			counts: Counts{In: 2, Applied: 1, Stale: 1},
		},
		{
			name:    "the version attribute wins over a smaller sequence number",
			changes: []change{mod("600", t1, "a"), mod("500", t2, "b")},
			item:    "b", seq: "500", winner: 1,
			counts: Counts{In: 2, Applied: 2},
		},
		{
			name:    "a REMOVE takes its version attribute from its OldImage",
			changes: []change{mod("900", t3, "c"), rem("950", t2)},
			item:    "c", seq: "900", winner: 0,
			counts: Counts{In: 2, Applied: 1, Stale: 1},
		},
		{
			name:    "equal version attributes fall through to the sequence number",
			changes: []change{mod("200", t1, "b"), mod("100", t1, "a")},
			item:    "b", seq: "200", winner: 0,
			counts: Counts{In: 2, Applied: 1, Stale: 1},
		},
		{
			name: "sequence numbers past 64 bits compare as integers",
			changes: []change{
				ins("18446744073709551616", "", "2^64"),                       // 2^64: wraps to 0 in a uint64
				mod("18446744073709551615", "", "2^64-1"),                     // older
				mod("18446744073709551617", "", "2^64+1"),                     // newer
				mod("9999999999999999999", "", "shorter"),                     // 19 digits, bytewise greater
				mod("340282366920938463463374607431768211456", "", "2^128"),   // newer
				mod("340282366920938463463374607431768211455", "", "2^128-1"), // older in the last digit
			},
			item: "2^128", seq: "340282366920938463463374607431768211456", winner: 4,
			counts: Counts{In: 6, Applied: 3, Stale: 3},
		},
		{
			name: "sequence numbers past 64 bits decide duplicates exactly",
			changes: []change{
				ins("100000000000000000000000000000000000001", "", "a"),
				ins("100000000000000000000000000000000000001", "", "a"),
				mod("100000000000000000000000000000000000002", "", "b"),
			},
			item: "b", seq: "100000000000000000000000000000000000002", winner: 2,
			counts: Counts{In: 3, Applied: 2, Duplicate: 1},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := startCDC(t)
			for _, c := range tc.changes {
				h.send(c)
			}
			key := tc.changes[0].key()
			v := h.value(key)
			if v == nil {
				t.Fatalf("no state for %s", key)
			}
			switch {
			case v.Deleted != tc.deleted:
				t.Errorf("deleted = %v, want %v", v.Deleted, tc.deleted)
			case tc.deleted && v.Item != nil:
				t.Errorf("tombstone holds item %s, want none", v.Item)
			case !tc.deleted:
				if got := itemName(t, v); got != tc.item {
					t.Errorf("item name = %q, want %q", got, tc.item)
				}
			}
			if v.Version.Seq != tc.seq {
				t.Errorf("version sequence = %s, want %s", v.Version.Seq, tc.seq)
			}
			w := tc.changes[tc.winner]
			if v.Version.HasAttr != (w.at != "") {
				t.Errorf("version has attribute = %v, want %v", v.Version.HasAttr, w.at != "")
			}
			if v.EventID != "ev-"+tc.seq {
				t.Errorf("event ID = %s, want ev-%s", v.EventID, tc.seq)
			}
			if want := (state.Position{Topic: testTopic, Partition: 0, Offset: tc.winner}); v.Source != want {
				t.Errorf("source = %+v, want %+v", v.Source, want)
			}
			h.checkCounts(tc.counts)
		})
	}
}

// TestCDCSendsMalformedRecordsToDLQAndKeepsGoing puts malformed records between good ones:
// each goes to the DLQ with its reason and source position, and the good ones are applied.
func TestCDCSendsMalformedRecordsToDLQAndKeepsGoing(t *testing.T) {
	good := ins("100", t1, "a")
	key := good.key()
	recordWith := func(mutate func(r map[string]any)) []byte {
		var r map[string]any
		if err := json.Unmarshal(good.record(t), &r); err != nil {
			t.Fatal(err)
		}
		mutate(r)
		b, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	bad := []struct {
		name   string
		value  []byte
		reason string
	}{
		{"bad JSON", []byte(`{"eventID":"1","eventName":`), state.ReasonBadJSON},
		{"not JSON at all", []byte(`garbage`), state.ReasonBadJSON},
		{"missing key attribute", recordWith(func(r map[string]any) {
			delete(r["dynamodb"].(map[string]any)["Keys"].(map[string]any), "sk")
		}), state.ReasonMissingKey},
		{"unknown eventName", recordWith(func(r map[string]any) { r["eventName"] = "UPSERT" }), state.ReasonUnknownEventName},
		{"INSERT without NewImage", recordWith(func(r map[string]any) {
			delete(r["dynamodb"].(map[string]any), "NewImage")
			r["dynamodb"].(map[string]any)["StreamViewType"] = "KEYS_ONLY"
		}), state.ReasonMissingImage},
	}

	h := startCDC(t)
	dlq := h.tt.NewQueueTracker(testDLQ)
	offsets := make([]int64, len(bad))
	for i, b := range bad {
		offsets[i] = h.consume(key, b.value)
		// A good record after each bad one: the processor keeps going.
		h.send(change{event: state.EventModify, seq: strconv.Itoa(200 + i), at: t2, name: fmt.Sprint("after ", b.name)})
	}

	for i, b := range bad {
		headers, k, value, ok := dlq.NextRawWithHeaders()
		if !ok {
			t.Fatalf("DLQ holds %d records, want %d", i, len(bad))
		}
		want := map[string]string{
			HeaderDLQReason:    b.reason,
			HeaderDLQTable:     "users",
			HeaderSourceTopic:  testTopic,
			HeaderSourcePart:   "0",
			HeaderSourceOffset: strconv.FormatInt(offsets[i], 10),
		}
		for name, v := range want {
			if got := string(headers[name]); got != v {
				t.Errorf("%s: DLQ header %s = %q, want %q", b.name, name, got, v)
			}
		}
		if len(headers[HeaderDLQError]) == 0 {
			t.Errorf("%s: DLQ record has no %s header", b.name, HeaderDLQError)
		}
		if k != key || string(value) != string(b.value) {
			t.Errorf("%s: DLQ record %s=%q, want the original %s=%q", b.name, k, value, key, b.value)
		}
	}
	if _, _, _, ok := dlq.NextRawWithHeaders(); ok {
		t.Error("DLQ holds more records than the malformed ones")
	}

	v := h.value(key)
	if v == nil || v.Deleted || itemName(t, v) != "after INSERT without NewImage" {
		t.Errorf("state after the last good record = %+v, want its item", v)
	}
	n := int64(len(bad))
	h.checkCounts(Counts{In: 2 * n, Applied: n, Invalid: n})
}

// TestCDCRekeysRecordsThroughTheLoopTopic sends records whose Kafka key is not their item
// key: they are re-sent under the item key through the loop topic, applied there, and the
// state names the original CDC record as its source.
func TestCDCRekeysRecordsThroughTheLoopTopic(t *testing.T) {
	h := startCDC(t)
	loop := h.tt.NewQueueTracker(testTable.LoopTopic())
	// Two records first, so the CDC offsets differ from the loop topic's.
	h.send(change{event: state.EventInsert, pk: "user#8", seq: "1", at: t1, name: "x"})
	h.send(change{event: state.EventInsert, pk: "user#9", seq: "2", at: t1, name: "y"})

	for _, tc := range []struct {
		name     string
		kafkaKey string
		c        change
	}{
		{"a foreign key", "user#1", change{event: state.EventInsert, pk: "user#1", seq: "10", at: t1, name: "a"}},
		{"no key", "", change{event: state.EventInsert, pk: "user#2", seq: "20", at: t1, name: "b"}},
		{"the key of another item", change{pk: "user#1"}.key(), change{event: state.EventInsert, pk: "user#3", seq: "30", at: t1, name: "c"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			off := h.consume(tc.kafkaKey, tc.c.record(t))
			headers, k, value, ok := loop.NextRawWithHeaders()
			if !ok {
				t.Fatal("nothing was sent to the loop topic")
			}
			if k != tc.c.key() || string(value) != string(tc.c.record(t)) {
				t.Errorf("loop record %s=%s, want the original record under %s", k, value, tc.c.key())
			}
			if got := string(headers[HeaderSourceOffset]); got != strconv.FormatInt(off, 10) {
				t.Errorf("loop record source offset header = %q, want %d", got, off)
			}
			v := h.value(tc.c.key())
			if v == nil || v.Deleted || itemName(t, v) != tc.c.name {
				t.Fatalf("state under the item key %s = %+v, want item %s", tc.c.key(), v, tc.c.name)
			}
			if want := (state.Position{Topic: testTopic, Partition: 0, Offset: off}); v.Source != want {
				t.Errorf("source = %+v, want the original CDC record %+v", v.Source, want)
			}
			if tc.kafkaKey != "" && tc.kafkaKey != tc.c.key() {
				if got := h.value(tc.kafkaKey); got != nil && got.EventID == "ev-"+tc.c.seq {
					t.Errorf("the record was also applied under its Kafka key %s", tc.kafkaKey)
				}
			}
		})
	}
	// The same change again, under its item key: the re-keyed one was stored there.
	h.send(change{event: state.EventInsert, pk: "user#1", seq: "10", at: t1, name: "a"})
	// Each re-keyed record is handled twice: once from the CDC topic, once from the loop.
	h.checkCounts(Counts{In: 2 + 3*2 + 1, Applied: 2 + 3, Rekeyed: 3, Duplicate: 1})
	if got := h.cdc.Keys(); got != 5 {
		t.Errorf("state keys = %d, want 5", got)
	}
}

// TestCDCStateKeysFollowInsertsRemovesAndRecreates checks CDC.Keys and the
// streamhub_processor_state_keys gauge after each change: only live items count.
func TestCDCStateKeysFollowInsertsRemovesAndRecreates(t *testing.T) {
	a := func(c change) change { c.pk = "user#a"; return c }
	b := func(c change) change { c.pk = "user#b"; return c }
	n := func(c change) change { c.pk = "user#never"; return c }
	h := startCDC(t)
	for i, step := range []struct {
		what string
		c    change
		keys int64
	}{
		{"insert a", a(ins("10", t1, "a1")), 1},
		{"insert b", b(ins("11", t1, "b1")), 2},
		{"duplicate insert a", a(ins("10", t1, "a1")), 2},
		{"modify a", a(mod("12", t2, "a2")), 2},
		{"remove a", a(rem("13", t3)), 1},
		{"late older modify a", a(mod("12", t2, "a2")), 1},
		{"remove a never-seen item", n(rem("14", t1)), 1},
		{"duplicate remove a", a(rem("13", t3)), 1},
		{"re-create a", a(ins("15", "2026-01-01T00:00:04.000Z", "a3")), 2},
		{"remove b", b(rem("16", t2)), 1},
		{"re-create b", b(ins("17", t3, "b2")), 2},
		{"remove a again", a(rem("18", "2026-01-01T00:00:05.000Z")), 1},
	} {
		h.send(step.c)
		if got := h.cdc.Keys(); got != step.keys {
			t.Errorf("step %d, %s: Keys() = %d, want %d", i, step.what, got, step.keys)
		}
		if got := gauge(t, h.reg, "streamhub_processor_state_keys", ""); got != float64(step.keys) {
			t.Errorf("step %d, %s: streamhub_processor_state_keys = %v, want %d", i, step.what, got, step.keys)
		}
	}
	h.checkCounts(Counts{In: 12, Applied: 9, Stale: 1, Duplicate: 2})
}

// TestCDCEventMetricsMatchCounts runs a mixed stream (every outcome) and compares
// streamhub_processor_events_total by outcome with the processor's counts.
func TestCDCEventMetricsMatchCounts(t *testing.T) {
	h := startCDC(t)
	for i := range 20 {
		c := change{event: state.EventInsert, pk: fmt.Sprintf("user#%d", i%7), seq: strconv.Itoa(1000 - i), at: t1, name: "x"}
		switch i % 5 {
		case 0:
			h.consume("wrong-key", c.record(t)) // rekeyed, then applied or stale
		case 1:
			h.consume(c.key(), []byte("{")) // invalid
		default:
			h.send(c)
			h.send(c) // duplicate or stale
		}
	}
	got := h.cdc.Counts()
	if got.Applied == 0 || got.Stale == 0 || got.Duplicate == 0 || got.Invalid == 0 || got.Rekeyed == 0 {
		t.Fatalf("counts %+v: the stream must produce every outcome", got)
	}
	if sum := got.Applied + got.Stale + got.Duplicate + got.Invalid + got.Rekeyed; sum != got.In {
		t.Errorf("outcomes add up to %d, want In = %d", sum, got.In)
	}
	h.checkCounts(got)
}
