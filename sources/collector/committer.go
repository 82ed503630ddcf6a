package collector

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/streamhub/streamhub/kafka"
)

// ErrClosed is returned for work submitted after the collector began shutting down.
var ErrClosed = errors.New("collector: shutting down")

// committer writes the records of many requests in few Kafka transactions (group commit).
// Each of its workers owns one transactional client; a worker takes the first waiting
// batch, waits up to linger for more (up to maxGroupRecords), produces them all, and
// commits. Every request of the group hears the one outcome: committed, or aborted (and
// then nothing of it is visible to read_committed readers). Several workers overlap one
// group's commit round trip with the next group's produce.
type committer struct {
	conn    *kafka.Conn
	linger  time.Duration
	timeout time.Duration
	txnID   string
	log     *slog.Logger
	m       *Metrics
	extra   []kgo.Opt
	hook    func()

	in      chan *batch
	mu      sync.RWMutex
	closed  bool
	wg      sync.WaitGroup
	workers []*worker
}

// batch is one request's records.
type batch struct {
	records []*kgo.Record
	done    chan error
}

// maxGroupRecords bounds a transaction, so one group never holds the whole queue.
const maxGroupRecords = 20000

type committerConfig struct {
	workers int
	linger  time.Duration
	timeout time.Duration
	// txnID prefixes the transactional IDs: "<txnID>-<worker>". A restarted instance
	// with the same prefix fences its predecessor's open transactions at once.
	txnID string
	extra []kgo.Opt
	// beforeWrite, when set, runs before each transaction (tests hold commits with it).
	beforeWrite func()
}

func newCommitter(conn *kafka.Conn, cfg committerConfig, log *slog.Logger, m *Metrics) *committer {
	c := &committer{
		conn: conn, linger: cfg.linger, timeout: cfg.timeout, txnID: cfg.txnID, log: log, m: m,
		extra: cfg.extra, hook: cfg.beforeWrite,
		in: make(chan *batch, 1024),
	}
	for i := range cfg.workers {
		w := &worker{c: c, id: fmt.Sprintf("%s-%d", cfg.txnID, i)}
		c.workers = append(c.workers, w)
		c.wg.Add(1)
		go w.run()
	}
	return c
}

// commit writes records in a transaction shared with other requests and returns once it
// is committed (nil) or aborted.
func (c *committer) commit(records []*kgo.Record) error {
	if len(records) == 0 {
		return nil
	}
	b := &batch{records: records, done: make(chan error, 1)}
	c.mu.RLock()
	if c.closed {
		c.mu.RUnlock()
		return ErrClosed
	}
	c.in <- b
	c.mu.RUnlock()
	return <-b.done
}

// close lets the workers finish what is queued, then closes their clients.
func (c *committer) close() {
	c.mu.Lock()
	if !c.closed {
		c.closed = true
		close(c.in)
	}
	c.mu.Unlock()
	c.wg.Wait()
}

type worker struct {
	c  *committer
	id string
	cl *kgo.Client
}

func (w *worker) run() {
	defer w.c.wg.Done()
	defer func() {
		if w.cl != nil {
			w.cl.Close()
		}
	}()
	for first := range w.c.in {
		group := []*batch{first}
		n := len(first.records)
		if w.c.linger > 0 {
			t := time.NewTimer(w.c.linger)
		collect:
			for n < maxGroupRecords {
				select {
				case b, ok := <-w.c.in:
					if !ok {
						break collect
					}
					group = append(group, b)
					n += len(b.records)
				case <-t.C:
					break collect
				}
			}
			t.Stop()
		}
	drain:
		for n < maxGroupRecords {
			select {
			case b, ok := <-w.c.in:
				if !ok {
					break drain
				}
				group = append(group, b)
				n += len(b.records)
			default:
				break drain
			}
		}
		if w.c.hook != nil {
			w.c.hook()
		}
		start := time.Now()
		err := w.write(group, n)
		outcome := "committed"
		if err != nil {
			outcome = "aborted"
			w.c.log.Warn("collector: transaction aborted; its requests get 503", "requests", len(group), "records", n, "error", err)
		} else {
			w.c.m.Commit.Observe(time.Since(start).Seconds())
		}
		w.c.m.Transactions.WithLabelValues(outcome).Inc()
		w.c.m.GroupSize.Observe(float64(len(group)))
		for _, b := range group {
			b.done <- err
		}
	}
}

// errNotAcked marks records the broker did not answer for in time.
var errNotAcked = errors.New("not acknowledged in time")

// write produces the group's records in one transaction and commits it.
func (w *worker) write(group []*batch, n int) error {
	if w.cl == nil {
		cl, err := w.c.conn.Client(append([]kgo.Opt{
			kgo.TransactionalID(w.id),
			// The broker aborts a transaction left open by a crashed collector after this
			// long; read_committed readers of its partitions wait until then.
			kgo.TransactionTimeout(w.c.timeout + 30*time.Second),
			kgo.RecordDeliveryTimeout(w.c.timeout),
			kgo.ProducerLinger(0),
		}, w.c.extra...)...)
		if err != nil {
			return err
		}
		w.cl = cl
	}
	cl := w.cl
	ctx, cancel := context.WithTimeout(context.Background(), w.c.timeout)
	defer cancel()
	if err := cl.BeginTransaction(); err != nil {
		w.drop()
		return fmt.Errorf("begin transaction: %w", err)
	}
	var (
		wg       sync.WaitGroup
		errMu    sync.Mutex
		firstErr error
	)
	wg.Add(n)
	for _, b := range group {
		for _, r := range b.records {
			cl.Produce(ctx, r, func(r *kgo.Record, err error) {
				if err != nil {
					errMu.Lock()
					if firstErr == nil {
						firstErr = fmt.Errorf("topic %s: %w", r.Topic, err)
					}
					errMu.Unlock()
				}
				wg.Done()
			})
		}
	}
	_ = cl.Flush(ctx)
	all := make(chan struct{})
	go func() { wg.Wait(); close(all) }()
	select {
	case <-all:
	case <-ctx.Done():
		// The broker is not answering, and an abort would wait on it as long: drop the
		// client; its successor (same transactional ID) fences it and aborts what it left.
		w.drop()
		return errNotAcked
	}
	if firstErr != nil {
		w.abort()
		return firstErr
	}
	if err := cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
		// The commit may have happened with its answer lost; the requests hear 503 and
		// re-send, which then doubles them (the event_id tells the copies apart).
		w.abort()
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

func (w *worker) abort() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := w.cl.AbortBufferedRecords(ctx); err != nil {
		w.drop()
		return
	}
	if err := w.cl.EndTransaction(ctx, kgo.TryAbort); err != nil {
		w.drop()
	}
}

// drop closes the client without waiting for the broker.
func (w *worker) drop() {
	if w.cl == nil {
		return
	}
	cl := w.cl
	w.cl = nil
	go cl.Close()
}
