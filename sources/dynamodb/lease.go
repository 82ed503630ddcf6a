package dynamodb

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/streamhub/streamhub/internal/backoff"
	"github.com/streamhub/streamhub/kafka"
)

// A lease is one partition of the checkpoint topic, held by the instance the consumer
// group assigns it to. Its owner reads every shard that hashes to it and writes through
// one transactional producer whose ID is the lease's, so a new owner's producer fences
// the old one: a zombie instance can no longer commit.
type lease struct {
	b   *Bridge
	p   int32
	log *slog.Logger
	cl  *kgo.Client
	// mu serialises transactions: a producer has one open at a time.
	mu sync.Mutex
}

// crashError stops the bridge at once without ending the open transaction (Hooks).
type crashError struct{ err error }

func (e *crashError) Error() string { return "crash: " + e.err.Error() }
func (e *crashError) Unwrap() error { return e.err }

// errFenced means another instance owns the lease now.
var errFenced = errors.New("lease fenced by another instance")

func isFenced(err error) bool {
	return errors.Is(err, kerr.ProducerFenced) || errors.Is(err, kerr.InvalidProducerEpoch) ||
		errors.Is(err, errFenced)
}

// transactionalID is stable per lease, so whoever holds the lease uses the same ID.
func (b *Bridge) transactionalID(p int32) string {
	return fmt.Sprintf("%s-lease-%d", b.cfg.Bridge.Group, p)
}

// runLease keeps sessions of lease p going until ctx ends, the lease is fenced (it
// moved; the group will tell this instance soon) or a crash hook fires.
func (b *Bridge) runLease(ctx context.Context, p int32) {
	log := b.log.With("lease", p)
	bo := backoff.New(100*time.Millisecond, b.cfg.Bridge.MaxBackoff)
	for {
		err := b.leaseSession(ctx, p, log)
		if ctx.Err() != nil {
			return
		}
		var crash *crashError
		switch {
		case errors.As(err, &crash):
			b.crash(err)
			return
		case isFenced(err):
			log.Warn("lease taken over by another instance; stopping its shards", "error", err)
			return
		}
		wait := bo.Next()
		log.Warn("lease session failed; restarting it from the checkpoints", "error", err, "retry_in", wait.Round(time.Millisecond))
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

// leaseSession claims the lease, then runs a reader per eligible shard until one fails
// or ctx ends. Every start re-reads the checkpoints, so a session can always be thrown
// away and started again.
func (b *Bridge) leaseSession(ctx context.Context, p int32, log *slog.Logger) error {
	cl, err := b.conn.Client(
		kgo.TransactionalID(b.transactionalID(p)),
		kgo.TransactionTimeout(b.txnTimeout),
		kgo.RecordPartitioner(b.partitioner()),
		kgo.ClientID(b.clientID+"-lease-"+fmt.Sprint(p)),
	)
	if err != nil {
		return err
	}
	defer cl.Close()
	l := &lease{b: b, p: p, log: log, cl: cl}
	off, err := l.claim(ctx)
	if err != nil {
		return fmt.Errorf("claim: %w", err)
	}
	if err := b.view.waitFor(ctx, p, off); err != nil {
		return err
	}
	log.Info("lease claimed", "marker_offset", off)

	sctx, cancel := context.WithCancelCause(ctx)
	var wg sync.WaitGroup
	defer func() {
		cancel(nil)
		wg.Wait()
	}()
	type exit struct {
		key   string
		ended bool
	}
	exits := make(chan exit)
	running := map[string]*reader{}
	finished := map[string]bool{}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	lastCleanup := time.Now()
	for {
		// Wait channels are taken before looking, so an update in between is not missed.
		viewC, shardsC := b.view.changed(), b.shardsChanged.wait()
		for _, st := range b.streamList() {
			if st.prev != nil && !st.predecessorsRead(b.view) {
				// Per-item order across the table's streams, as across parent and child.
				continue
			}
			shards, byID := st.snapshot()
			for _, sh := range shards {
				key := checkpointKey(st.arn, sh.ID)
				if running[key] != nil || finished[key] || leaseOf(st.arn, sh.ID, b.cfg.Bridge.Leases) != p {
					continue
				}
				cp, has := b.view.get(st.arn, sh.ID)
				if has && cp.Ended {
					finished[key] = true
					continue
				}
				at, ok := b.startPosition(st, sh, cp, has, byID)
				if !ok {
					continue // the parent is not read to its end yet
				}
				if !has {
					cp = Checkpoint{Stream: st.arn, Shard: sh.ID, Parent: sh.Parent}
				}
				r := newReader(l, st, sh, cp, at)
				running[key] = r
				b.ownedDelta(st.table.Name, 1)
				wg.Add(1)
				go func() {
					defer wg.Done()
					ended, err := r.run(sctx)
					if err != nil {
						cancel(err)
					}
					select {
					case exits <- exit{key, ended}:
					case <-sctx.Done():
					}
				}()
			}
		}
		select {
		case <-sctx.Done():
			cancel(nil)
			wg.Wait()
			for _, r := range running {
				r.forget()
				b.ownedDelta(r.st.table.Name, -1)
			}
			return context.Cause(sctx)
		case e := <-exits:
			r := running[e.key]
			delete(running, e.key)
			r.forget()
			b.ownedDelta(r.st.table.Name, -1)
			if e.ended {
				finished[e.key] = true
				r.st.poke()
			}
		case <-viewC:
		case <-shardsC:
		case <-tick.C:
			if time.Since(lastCleanup) > 6*b.cfg.Bridge.DiscoveryInterval {
				lastCleanup = time.Now()
				if err := l.cleanup(sctx); err != nil {
					cancel(err)
				}
			}
		}
	}
}

// cleanup deletes the checkpoints of ended shards the stream no longer lists (DynamoDB
// drops shards 24 hours after they close): no child waits for them any more, and the
// compacted topic and every instance's view would otherwise grow with each shard
// rollover forever.
func (l *lease) cleanup(ctx context.Context) error {
	listed := map[string]map[string]shard{}
	for _, st := range l.b.streamList() {
		if _, byID := st.snapshot(); len(byID) > 0 {
			listed[st.arn] = byID
		}
	}
	var keys []string
	for _, cp := range l.b.view.all() {
		byID, known := listed[cp.Stream]
		if !known || !cp.Ended || leaseOf(cp.Stream, cp.Shard, l.b.cfg.Bridge.Leases) != l.p {
			continue
		}
		if _, ok := byID[cp.Shard]; !ok {
			keys = append(keys, checkpointKey(cp.Stream, cp.Shard))
		}
	}
	if len(keys) == 0 {
		return nil
	}
	recs := make([]*kgo.Record, len(keys))
	for i, k := range keys {
		recs[i] = &kgo.Record{Topic: l.b.cfg.Bridge.CheckpointTopic, Partition: l.p, Key: []byte(k)}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.cl.BeginTransaction(); err != nil {
		return err
	}
	if err := l.cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		l.abort()
		return fmt.Errorf("delete checkpoints: %w", err)
	}
	if err := l.cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
		return fmt.Errorf("delete checkpoints: %w", err)
	}
	l.log.Info("deleted checkpoints of shards the stream no longer lists", "shards", len(keys))
	return nil
}

// claim commits the lease marker: initialising the transactional producer fences the
// previous owner and aborts its open transaction. It returns the marker's offset.
func (l *lease) claim(ctx context.Context) (int64, error) {
	v, _ := json.Marshal(leaseMarker{Lease: l.p, Owner: l.b.clientID, At: time.Now().UTC()})
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.cl.BeginTransaction(); err != nil {
		return 0, err
	}
	rec, err := l.cl.ProduceSync(ctx, &kgo.Record{
		Topic: l.b.cfg.Bridge.CheckpointTopic, Partition: l.p, Key: []byte(markerKey(l.p)), Value: v,
	}).First()
	if err != nil {
		l.abort()
		return 0, err
	}
	if err := l.cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
		return 0, err
	}
	return rec.Offset, nil
}

// commit writes records and the shard's new checkpoint in one transaction.
func (l *lease) commit(ctx context.Context, recs []*kgo.Record, cp Checkpoint) error {
	cp.Owner = l.b.clientID
	cp.UpdatedAt = time.Now().UTC()
	v, err := json.Marshal(cp)
	if err != nil {
		return err
	}
	recs = append(recs, &kgo.Record{
		Topic: l.b.cfg.Bridge.CheckpointTopic, Partition: l.p,
		Key: []byte(checkpointKey(cp.Stream, cp.Shard)), Value: v,
	})
	l.mu.Lock()
	defer l.mu.Unlock()
	start := time.Now()
	if err := l.cl.BeginTransaction(); err != nil {
		return err
	}
	if err := l.cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		l.abort()
		return fmt.Errorf("produce: %w", err)
	}
	if hook := l.b.opts.Hooks.BeforeCommit; hook != nil {
		if err := hook(l.p, cp.Shard, len(recs)-1); err != nil {
			return &crashError{err}
		}
	}
	if err := l.cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
		l.b.m.transactions.WithLabelValues("aborted").Inc()
		return fmt.Errorf("commit: %w", err)
	}
	l.b.m.transactions.WithLabelValues("committed").Inc()
	l.b.m.txnSeconds.Observe(time.Since(start).Seconds())
	return nil
}

// abort ends a failed transaction; the session is thrown away after it anyway, so a
// failure here only costs the broker's transaction timeout.
func (l *lease) abort() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	l.b.m.transactions.WithLabelValues("aborted").Inc()
	if err := l.cl.AbortBufferedRecords(ctx); err != nil {
		l.log.Warn("abort buffered records", "error", err)
		return
	}
	if err := l.cl.EndTransaction(ctx, kgo.TryAbort); err != nil {
		l.log.Warn("abort transaction", "error", err)
	}
}

// partitioner sends checkpoint records to their lease's partition and every other
// record by Kafka's murmur2 of its key, like every other streamhub producer.
func (b *Bridge) partitioner() kgo.Partitioner {
	cpTopic := b.cfg.Bridge.CheckpointTopic
	return kgo.BasicConsistentPartitioner(func(topic string) func(*kgo.Record, int) int {
		if topic == cpTopic {
			return func(r *kgo.Record, _ int) int { return int(r.Partition) }
		}
		return func(r *kgo.Record, n int) int { return int(kafka.Partition(r.Key, int32(n))) }
	})
}
