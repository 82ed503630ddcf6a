package lambda

import (
	"fmt"
	"net"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/streamhub/streamhub/kafka"
)

// The broker goes away between two invocations and comes back with its data (the same
// address, its log kept in a data directory). While it is away the whole batch is
// reported; Lambda retries from its first record until an invocation succeeds, and the
// topic then holds every record of both batches once.
func TestHandleBrokerDownThenBack(t *testing.T) {
	dir := t.TempDir()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	listen := ln.Addr().String()
	ln.Close()
	start := func() *kafka.Embedded {
		t.Helper()
		var e *kafka.Embedded
		var err error
		// The port was just closed by the broker before; give the kernel a moment if it
		// still holds it, without making a timing assertion of it.
		for range 50 {
			if e, err = kafka.StartEmbedded(listen, kfake.DataDir(dir), kfake.SeedTopics(2, cdcTopic)); err == nil {
				return e
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Fatalf("start the broker on %s: %v", listen, err)
		return nil
	}
	e := start()
	defer func() { e.Close() }()
	cfg := testConfig(e.Addrs())
	// Short, so that the invocations while the broker is down end soon.
	cfg.Timeout = 3 * time.Second
	h := newHandler(t, cfg)

	before := []string{streamRecord("a", "10"), streamRecord("b", "20")}
	if resp, err := h.Handle(testContext(t), makeEvent(before...)); err != nil || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("broker up: reported %v, %v", failedSeqs(resp), err)
	}

	e.Close()
	batch := []string{streamRecord("c", "30"), streamRecord("a", "40"), streamRecord("d", "50")}
	resp, err := h.Handle(testContext(t), makeEvent(batch...))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := failedSeqs(resp), []string{"30", "40", "50"}; !slices.Equal(got, want) {
		t.Fatalf("broker down: reported %v, want %v", got, want)
	}

	e = start()
	retryUntilWritten(t, h, batch)
	checkOnce(t, readCommitted(t, e.Addrs(), cdcTopic), append(before, batch...)...)
}

// retryUntilWritten invokes h with the batch as the event source mapping does after a
// reported failure: from the first reported record on, again until none is reported.
func retryUntilWritten(t *testing.T, h *Handler, batch []string) {
	t.Helper()
	for attempt := 1; ; attempt++ {
		resp, err := h.Handle(testContext(t), makeEvent(batch...))
		if err != nil {
			t.Fatal(err)
		}
		failed := failedSeqs(resp)
		if len(failed) == 0 {
			t.Logf("written on attempt %d", attempt)
			return
		}
		if attempt == 10 {
			t.Fatalf("still reported after %d attempts: %v", attempt, failed)
		}
		for i, raw := range batch {
			if strings.Contains(raw, `"SequenceNumber":"`+failed[0]+`"`) {
				batch = batch[i:]
				break
			}
		}
	}
}

// The broker fails the commit with UNKNOWN_SERVER_ERROR, so the handler cannot know
// whether it happened: the batch is reported, the transaction aborted by a producer
// epoch bump, and the retry leaves each record once.
func TestHandleCommitOutcomeUnknown(t *testing.T) {
	e, err := kafka.StartEmbedded("127.0.0.1:0", kfake.SeedTopics(3, cdcTopic))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	c := e.Cluster()
	var refused atomic.Int32
	c.ControlKey(int16(kmsg.EndTxn), func(req kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		r := req.(*kmsg.EndTxnRequest)
		if !r.Commit || refused.Load() > 0 {
			return nil, nil, false
		}
		refused.Add(1)
		resp := r.ResponseKind().(*kmsg.EndTxnResponse)
		resp.ErrorCode = kerr.UnknownServerError.Code
		return resp, nil, true
	})
	h := newHandler(t, testConfig(e.Addrs()))
	batch := []string{streamRecord("a", "1"), streamRecord("b", "2"), streamRecord("c", "3"), streamRecord("a", "4")}
	resp, err := h.Handle(testContext(t), makeEvent(batch...))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := failedSeqs(resp), []string{"1", "2", "3", "4"}; !slices.Equal(got, want) {
		t.Fatalf("reported %v, want %v", got, want)
	}
	if refused.Load() != 1 {
		t.Fatalf("the commit was refused %d times, want once", refused.Load())
	}
	if got := readCommitted(t, e.Addrs(), cdcTopic); len(got) != 0 {
		t.Fatalf("read_committed sees %d records of a batch whose commit failed", len(got))
	}
	retryUntilWritten(t, h, batch)
	checkOnce(t, readCommitted(t, e.Addrs(), cdcTopic), batch...)
}

// What still doubles: a batch the function committed but Lambda sends again (the
// function died after its commit, before Lambda recorded the answer; or the event
// source mapping's own at-least-once delivery). The transaction cannot tell a retry from
// new records; the processors' version order makes the second copy a no-op.
func TestHandleCommittedBatchSentAgainIsWrittenAgain(t *testing.T) {
	brokers := startBroker(t, 2, cdcTopic)
	h := newHandler(t, testConfig(brokers))
	batch := []string{streamRecord("a", "1"), streamRecord("b", "2")}
	for range 2 {
		if resp, err := h.Handle(testContext(t), makeEvent(batch...)); err != nil || len(resp.BatchItemFailures) != 0 {
			t.Fatalf("reported %v, %v", failedSeqs(resp), err)
		}
	}
	readTopic(t, brokers, cdcTopic, 4)
}

// Two execution environments of one function run at once (one per shard): their
// transactional IDs differ, so neither fences the other.
func TestHandlersDoNotFenceEachOther(t *testing.T) {
	brokers := startBroker(t, 2, cdcTopic)
	cfg := testConfig(brokers)
	cfg.TransactionalIDPrefix = "streamhub-lambda-orders"
	h1, h2 := newHandler(t, cfg), newHandler(t, cfg)
	if h1.TransactionalID() == h2.TransactionalID() || !strings.HasPrefix(h1.TransactionalID(), "streamhub-lambda-orders-") {
		t.Fatalf("transactional IDs %q and %q", h1.TransactionalID(), h2.TransactionalID())
	}
	var all []string
	for i := range 3 {
		for j, h := range []*Handler{h1, h2} {
			seq := fmt.Sprint(100 + 10*i + j)
			rec := streamRecord("item-"+seq, seq)
			all = append(all, rec)
			if resp, err := h.Handle(testContext(t), makeEvent(rec)); err != nil || len(resp.BatchItemFailures) != 0 {
				t.Fatalf("handler %d, batch %d: reported %v, %v", j+1, i+1, failedSeqs(resp), err)
			}
		}
	}
	checkOnce(t, readCommitted(t, brokers, cdcTopic), all...)
}
