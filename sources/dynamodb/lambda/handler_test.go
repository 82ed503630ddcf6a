package lambda

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/streamhub/streamhub/kafka"
	"github.com/streamhub/streamhub/processors"
	"github.com/streamhub/streamhub/state"
	"github.com/streamhub/streamhub/topology"
)

// AWS's own example events go through Handle: the topic holds exactly their records,
// keyed by item key, valued by Normalize, with headers, in per-item order.
func TestHandleAWSExamples(t *testing.T) {
	for _, tc := range []struct {
		file      string
		table     string // Config.Table
		wantTable string // streamhub.table header
		wantARN   string
	}{
		// The tutorial's event: INSERT, MODIFY, REMOVE of Id 101; its ARN is a placeholder,
		// so the table name comes from the configuration.
		{"aws-lambda-dg-ddb-tutorial-input.json", "orders", "orders", "stream-ARN"},
		// The guide's example event: the table name comes from the stream ARN.
		{"aws-lambda-dg-ddb-example-event.json", "", "TestTable",
			"arn:aws:dynamodb:us-west-2:111122223333:table/TestTable/stream/2015-05-11T21:21:33.291"},
	} {
		t.Run(tc.file, func(t *testing.T) {
			brokers := startBroker(t, 4, cdcTopic)
			cfg := testConfig(brokers)
			cfg.Table = tc.table
			h := newHandler(t, cfg)
			event := readFile(t, tc.file)

			resp, err := h.Handle(testContext(t), event)
			if err != nil {
				t.Fatal(err)
			}
			if resp.BatchItemFailures == nil || len(resp.BatchItemFailures) != 0 {
				t.Fatalf("BatchItemFailures = %#v, want empty", resp.BatchItemFailures)
			}
			if b, _ := json.Marshal(resp); string(b) != `{"batchItemFailures":[]}` {
				t.Errorf("response JSON = %s", b)
			}

			raws := rawRecords(t, event)
			got := readTopic(t, brokers, cdcTopic, len(raws))
			bySeq := map[string]*kgo.Record{}
			for _, r := range got {
				seq, _ := header(r, HeaderSequence)
				if bySeq[seq] != nil {
					t.Fatalf("sequence %s written twice", seq)
				}
				bySeq[seq] = r
			}
			wantOrder := map[string][]string{} // key → sequence numbers in event order
			for _, raw := range raws {
				rec, want, err := Normalize(raw)
				if err != nil {
					t.Fatal(err)
				}
				seq := rec.DynamoDB.SequenceNumber
				r := bySeq[seq]
				if r == nil {
					t.Fatalf("record %s not in the topic", seq)
				}
				if string(r.Key) != "[101]" {
					t.Errorf("record %s: key %s, want [101]", seq, r.Key)
				}
				if k, _ := state.EncodeKey(rec.DynamoDB.Keys, []string{"Id"}); k != string(r.Key) {
					t.Errorf("record %s: key %s, EncodeKey says %s", seq, r.Key, k)
				}
				if string(r.Value) != string(want) {
					t.Errorf("record %s: value\n%s\nwant Normalize's\n%s", seq, r.Value, want)
				}
				for hk, hv := range map[string]string{
					HeaderTable: tc.wantTable, HeaderStream: tc.wantARN, HeaderSequence: seq, HeaderSource: "lambda",
				} {
					if v, ok := header(r, hk); !ok || v != hv {
						t.Errorf("record %s: header %s = %q (present %v), want %q", seq, hk, v, ok, hv)
					}
				}
				wantOrder[string(r.Key)] = append(wantOrder[string(r.Key)], seq)
			}
			// Per-item order: one item's records share a partition, in event order.
			slices.SortFunc(got, func(a, b *kgo.Record) int {
				if a.Partition != b.Partition {
					return int(a.Partition - b.Partition)
				}
				return int(a.Offset - b.Offset)
			})
			gotOrder := map[string][]string{}
			parts := map[string]int32{}
			for _, r := range got {
				seq, _ := header(r, HeaderSequence)
				gotOrder[string(r.Key)] = append(gotOrder[string(r.Key)], seq)
				if p, ok := parts[string(r.Key)]; ok && p != r.Partition {
					t.Errorf("key %s in partitions %d and %d", r.Key, p, r.Partition)
				}
				parts[string(r.Key)] = r.Partition
				if want := kafka.Partition(r.Key, 4); r.Partition != want {
					t.Errorf("key %s in partition %d, murmur2 says %d", r.Key, r.Partition, want)
				}
			}
			for k, want := range wantOrder {
				if !slices.Equal(gotOrder[k], want) {
					t.Errorf("key %s: sequence numbers in topic order %v, want %v", k, gotOrder[k], want)
				}
			}
		})
	}
}

// The value of the tutorial's first record, spelled out: Normalize is not only
// consistent with itself.
func TestNormalizeAWSExampleGolden(t *testing.T) {
	raws := rawRecords(t, readFile(t, "aws-lambda-dg-ddb-tutorial-input.json"))
	_, v, err := Normalize(raws[0])
	if err != nil {
		t.Fatal(err)
	}
	const want = `{"eventID":"1","eventName":"INSERT","eventVersion":"1.0","eventSource":"aws:dynamodb",` +
		`"awsRegion":"us-east-1","eventSourceARN":"stream-ARN","dynamodb":{"Keys":{"Id":{"N":"101"}},` +
		`"NewImage":{"Id":{"N":"101"},"Message":{"S":"New item!"}},"SequenceNumber":"111","SizeBytes":26,` +
		`"StreamViewType":"NEW_AND_OLD_IMAGES"}}`
	if string(v) != want {
		t.Errorf("Normalize =\n%s\nwant\n%s", v, want)
	}
}

// keysByPartition finds item ids whose item keys land in each of n partitions.
func keysByPartition(t *testing.T, n int32, perPartition int) map[int32][]string {
	t.Helper()
	out := map[int32][]string{}
	for i := 0; i < 10000; i++ {
		id := fmt.Sprintf("item-%d", i)
		key, err := state.EncodeKey(map[string]state.AttributeValue{"Id": state.StringValue(id)}, []string{"Id"})
		if err != nil {
			t.Fatal(err)
		}
		p := kafka.Partition([]byte(key), n)
		if len(out[p]) < perPartition {
			out[p] = append(out[p], id)
		}
		done := int32(len(out)) == n
		for _, ids := range out {
			done = done && len(ids) == perPartition
		}
		if done {
			return out
		}
	}
	t.Fatal("not enough keys")
	return nil
}

// Kafka refuses the batches of one partition while it acknowledges the other's: the
// acknowledged records are part of the transaction, which is aborted, so the whole batch
// is reported and none of it is visible to read_committed readers. An at-least-once
// producer would have left records 100, 300 and 500 in the topic, and Lambda's retry from
// 100 would write them again. Retried with Kafka accepting everything, the batch is in
// the topic once.
func TestHandleKafkaRefusesPartition(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(2), kfake.SeedTopics(2, cdcTopic))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	// Partition 1 on its own broker, which refuses every produce request.
	good := c.LeaderFor(cdcTopic, 0)
	bad := c.LeaderFor(cdcTopic, 1)
	if bad == good {
		bad = 1 - good
		if err := c.MoveTopicPartition(cdcTopic, 1, bad); err != nil {
			t.Fatal(err)
		}
	}
	var refusing atomic.Bool
	refusing.Store(true)
	var acked atomic.Int32 // records partition 0 accepted while partition 1 refused
	c.ControlKey(int16(kmsg.Produce), func(req kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		if !refusing.Load() {
			return nil, nil, false
		}
		if c.CurrentNode() != bad {
			for _, rt := range req.(*kmsg.ProduceRequest).Topics {
				acked.Add(int32(len(rt.Partitions)))
			}
			return nil, nil, false
		}
		preq := req.(*kmsg.ProduceRequest)
		resp := preq.ResponseKind().(*kmsg.ProduceResponse)
		for _, rt := range preq.Topics {
			st := kmsg.NewProduceResponseTopic()
			st.Topic, st.TopicID = rt.Topic, rt.TopicID
			for _, rp := range rt.Partitions {
				sp := kmsg.NewProduceResponseTopicPartition()
				sp.Partition = rp.Partition
				sp.ErrorCode = kerr.InvalidRecord.Code
				st.Partitions = append(st.Partitions, sp)
			}
			resp.Topics = append(resp.Topics, st)
		}
		return resp, nil, true
	})

	ids := keysByPartition(t, 2, 3)
	// Event order: good, bad, good, bad, good.
	recs := []string{
		streamRecord(ids[0][0], "100"),
		streamRecord(ids[1][0], "200"),
		streamRecord(ids[0][1], "300"),
		streamRecord(ids[1][1], "400"),
		streamRecord(ids[0][2], "500"),
	}
	event := makeEvent(recs...)
	cfg := testConfig(c.ListenAddrs())
	h := newHandler(t, cfg)
	resp, err := h.Handle(testContext(t), event)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := failedSeqs(resp), []string{"100", "200", "300", "400", "500"}; !slices.Equal(got, want) {
		t.Fatalf("reported %v, want %v", got, want)
	}
	if acked.Load() == 0 {
		t.Fatal("partition 0 never received the batch: the test proves nothing")
	}
	refusing.Store(false)
	if got := readCommitted(t, c.ListenAddrs(), cdcTopic); len(got) != 0 {
		t.Fatalf("read_committed sees %d records of an aborted batch", len(got))
	}

	resp, err = h.Handle(testContext(t), event)
	if err != nil || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("retry: reported %v, %v", failedSeqs(resp), err)
	}
	checkOnce(t, readCommitted(t, c.ListenAddrs(), cdcTopic), recs...)
}

// checkOnce checks that got holds each of the raw records exactly once, with the value
// Normalize gives it, and nothing else.
func checkOnce(t *testing.T, got []*kgo.Record, raws ...string) {
	t.Helper()
	want := map[string]string{} // sequence → value
	for _, raw := range raws {
		rec, v, err := Normalize([]byte(raw))
		if err != nil {
			t.Fatal(err)
		}
		want[rec.DynamoDB.SequenceNumber] = string(v)
	}
	seen := map[string]int{}
	for _, r := range got {
		seq, _ := header(r, HeaderSequence)
		seen[seq]++
		if w, ok := want[seq]; !ok {
			t.Errorf("unexpected record %s in the topic", seq)
		} else if string(r.Value) != w {
			t.Errorf("record %s: value\n%s\nwant\n%s", seq, r.Value, w)
		}
	}
	for seq := range want {
		if seen[seq] != 1 {
			t.Errorf("record %s is in the topic %d times, want once", seq, seen[seq])
		}
	}
}

func normalized(t *testing.T, raw string) string {
	t.Helper()
	_, v, err := Normalize([]byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	return string(v)
}

// A topic that does not exist never acknowledges: every record is reported.
func TestHandleUnknownTopic(t *testing.T) {
	brokers := startBroker(t, 2, cdcTopic)
	cfg := testConfig(brokers)
	cfg.Topic = "no.such.topic"
	cfg.Timeout = 2 * time.Second
	h := newHandler(t, cfg)
	resp, err := h.Handle(testContext(t), makeEvent(streamRecord("a", "1"), streamRecord("b", "2"), streamRecord("c", "3")))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := failedSeqs(resp), []string{"1", "2", "3"}; !slices.Equal(got, want) {
		t.Fatalf("reported %v, want %v", got, want)
	}
}

// Records that cannot be bridged: bad AttributeValue, missing key attribute, not an
// object, no sequence number.
var (
	badAttr    = `{"eventID":"x","eventName":"INSERT","dynamodb":{"Keys":{"Id":{"S":"m"}},"NewImage":{"Id":{"X":1}},"SequenceNumber":"20","SizeBytes":1},"eventSourceARN":"` + testARN + `"}`
	missingKey = `{"eventID":"y","eventName":"MODIFY","dynamodb":{"Keys":{"Other":{"S":"m"}},"SequenceNumber":"30","SizeBytes":1},"eventSourceARN":"` + testARN + `"}`
	notObject  = `"just a string"`
	noSequence = `{"eventID":"z","eventName":"INSERT","dynamodb":{"Keys":{"Id":{"S":"m"}}}}`
)

func TestHandleMalformedToDLQ(t *testing.T) {
	brokers := startBroker(t, 2, cdcTopic, dlqTopic)
	cfg := testConfig(brokers)
	cfg.DLQTopic = dlqTopic
	h := newHandler(t, cfg)
	event := makeEvent(streamRecord("a", "10"), badAttr, missingKey, notObject, streamRecord("b", "40"))
	resp, err := h.Handle(testContext(t), event)
	if err != nil {
		t.Fatal(err)
	}
	if got := failedSeqs(resp); len(got) != 0 {
		t.Fatalf("reported %v, want none: DLQ'd records are handled", got)
	}
	if got := readTopic(t, brokers, cdcTopic, 2); len(got) != 2 {
		t.Fatalf("CDC topic: %d records", len(got))
	}
	dlq := readTopic(t, brokers, dlqTopic, 3)
	want := map[string]struct{ raw, reason, seq string }{
		"20": {badAttr, state.ReasonBadAttribute, "20"},
		"30": {missingKey, state.ReasonMissingKey, "30"},
		"":   {notObject, state.ReasonBadJSON, ""},
	}
	for _, r := range dlq {
		seq, _ := header(r, HeaderSequence)
		w, ok := want[seq]
		if !ok {
			t.Fatalf("unexpected DLQ record with sequence %q", seq)
		}
		delete(want, seq)
		if string(r.Value) != w.raw {
			t.Errorf("DLQ %q: value %s, want the raw record %s", seq, r.Value, w.raw)
		}
		if v, _ := header(r, processors.HeaderDLQReason); v != w.reason {
			t.Errorf("DLQ %q: reason %q, want %q", seq, v, w.reason)
		}
		if v, _ := header(r, processors.HeaderDLQError); !strings.Contains(v, w.reason) {
			t.Errorf("DLQ %q: error header %q does not name %s", seq, v, w.reason)
		}
		if v, _ := header(r, processors.HeaderDLQTable); seq != "" && v != "orders" {
			t.Errorf("DLQ %q: table header %q, want orders (from the ARN)", seq, v)
		}
		if v, _ := header(r, HeaderSource); v != "lambda" {
			t.Errorf("DLQ %q: source header %q", seq, v)
		}
		if seq != "" && string(r.Key) != seq {
			t.Errorf("DLQ %q: key %q", seq, r.Key)
		}
	}
}

// Without a DLQ a malformed record is a failure: it and everything after it are reported,
// and nothing after it is produced.
func TestHandleMalformedWithoutDLQ(t *testing.T) {
	brokers := startBroker(t, 2, cdcTopic)
	h := newHandler(t, testConfig(brokers))
	event := makeEvent(streamRecord("a", "10"), missingKey, streamRecord("b", "40"), badAttr)
	resp, err := h.Handle(testContext(t), event)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := failedSeqs(resp), []string{"30", "40", "20"}; !slices.Equal(got, want) {
		t.Fatalf("reported %v, want %v", got, want)
	}
	got := readTopic(t, brokers, cdcTopic, 1)
	if s, _ := header(got[0], HeaderSequence); s != "10" {
		t.Fatalf("topic holds record %s, want 10", s)
	}

	// A failed record without a sequence number cannot be reported: the invocation
	// fails, and Lambda retries the whole batch.
	if _, err := h.Handle(testContext(t), makeEvent(streamRecord("c", "50"), noSequence)); err == nil ||
		!strings.Contains(err.Error(), "SequenceNumber") {
		t.Fatalf("err = %v, want one about the missing SequenceNumber", err)
	}
}

func TestHandleBadEvent(t *testing.T) {
	brokers := startBroker(t, 1, cdcTopic)
	h := newHandler(t, testConfig(brokers))
	for _, ev := range []string{`not json`, `{}`, `{"Records":null}`, `{"Records":{}}`, `[]`} {
		if _, err := h.Handle(testContext(t), json.RawMessage(ev)); err == nil {
			t.Errorf("Handle(%s) succeeded, want an error", ev)
		}
	}
	resp, err := h.Handle(testContext(t), json.RawMessage(`{"Records":[]}`))
	if err != nil || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("empty event: %v, %v", resp, err)
	}
}

// The DLQ headers are the processors'.
func TestDLQHeaderNames(t *testing.T) {
	for got, want := range map[string]string{
		HeaderDLQReason: processors.HeaderDLQReason,
		HeaderDLQError:  processors.HeaderDLQError,
		HeaderDLQTable:  processors.HeaderDLQTable,
	} {
		if got != want {
			t.Errorf("header %q, processors use %q", got, want)
		}
	}
}

func TestNewHandlerRefuses(t *testing.T) {
	for name, cfg := range map[string]Config{
		"no topic":  {Kafka: topology.Kafka{Brokers: []string{"127.0.0.1:1"}}, Keys: []string{"Id"}},
		"no keys":   {Kafka: topology.Kafka{Brokers: []string{"127.0.0.1:1"}}, Topic: "t"},
		"embedded":  {Kafka: topology.Kafka{Brokers: []string{"embedded"}}, Topic: "t", Keys: []string{"Id"}},
		"no broker": {Topic: "t", Keys: []string{"Id"}},
	} {
		if h, err := NewHandler(t.Context(), cfg); err == nil {
			h.Close()
			t.Errorf("%s: NewHandler succeeded", name)
		}
	}
}

// The wait ends before the invocation's deadline, leaving time to answer Lambda.
func TestWaitDeadline(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		timeout time.Duration
		left    time.Duration // until the invocation's deadline; 0: none
		want    time.Duration
	}{
		{10 * time.Second, 0, 10 * time.Second},
		{10 * time.Second, 15 * time.Minute, 10 * time.Second},
		{10 * time.Second, 30 * time.Second, 10 * time.Second},
		{10 * time.Second, 10 * time.Second, 9 * time.Second},
		{time.Minute, 30 * time.Second, 29 * time.Second},
		{time.Minute, 3 * time.Second, 2700 * time.Millisecond},
		{time.Minute, 0, time.Minute},
		{time.Minute, -time.Second, time.Millisecond},
	} {
		got := waitDeadline(now, tc.timeout, now.Add(tc.left), tc.left != 0)
		if got.Sub(now) != tc.want {
			t.Errorf("timeout %v, %v left: waits %v, want %v", tc.timeout, tc.left, got.Sub(now), tc.want)
		}
	}
}
