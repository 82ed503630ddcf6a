package emitters

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/streamhub/streamhub/internal/backoff"
	"github.com/streamhub/streamhub/kafka"
	"github.com/streamhub/streamhub/topology"
)

// DLQ headers: the same names the processors and the bridge use.
const (
	HeaderDLQReason    = "streamhub.dlq.reason"
	HeaderDLQError     = "streamhub.dlq.error"
	HeaderDLQSink      = "streamhub.dlq.sink"
	HeaderSourceTopic  = "streamhub.source.topic"
	HeaderSourcePart   = "streamhub.source.partition"
	HeaderSourceOffset = "streamhub.source.offset"
)

// intentPrefix marks a committed offset's metadata as a flush in progress:
// "streamhub-flush:<first>-<last>".
const intentPrefix = "streamhub-flush:"

// Options configure a flush loop.
type Options struct {
	// Name is the sink's name: the metrics label and, by default, the group's suffix.
	Name string
	// Group is the consumer group. Default "streamhub.sink.<name>".
	Group  string
	Conn   *kafka.Conn
	Topics []string
	Buffer topology.Buffer
	// DLQTopic receives the records the sink rejects.
	DLQTopic string
	Sink     Sink
	Metrics  *Metrics
	Logger   *slog.Logger
	// MaxBackoff caps the backoff between retries of a failed flush. Default 30s.
	MaxBackoff time.Duration
	// ShutdownTimeout bounds the final flush on a graceful stop. Default 30s.
	ShutdownTimeout time.Duration
	// GroupOptions are added to the consumer's options (tests shorten timeouts).
	GroupOptions []kgo.Opt
	Hooks        Hooks
}

// Hooks let fault tests stop the loop at chosen points.
type Hooks struct {
	// BeforeCommit runs after the sink confirmed a flush, before its offsets are
	// committed. An error stops the loop at once, as a crash there would.
	BeforeCommit func(b *Batch) error
}

// Loop consumes the sink's topics and flushes them to the sink, exactly once per offset.
type Loop struct {
	opts Options
	log  *slog.Logger
	cl   *kgo.Client
	dlq  *kgo.Client

	mu   sync.Mutex
	bufs map[tp]*buffer
	// pins are flushes recorded as started by some owner and not finished: the next
	// flush of the partition must cover exactly [first, last] again.
	pins map[tp]intent
	// topicIDs are the topics' IDs (base64) as the brokers reported them at assignment.
	topicIDs map[string]string
	// lags are the owned partitions' lags at their last fetch; the gauge is their sum
	// per topic.
	lags map[tp]int64

	flushed atomic.Int64
}

type tp struct {
	topic string
	part  int32
}

type intent struct{ first, last int64 }

type buffer struct {
	recs    []*kgo.Record
	bytes   int64
	started time.Time
}

// crashError stops the loop without committing or flushing (Hooks).
type crashError struct{ err error }

// Crash wraps err so that the loop, given it by a hook or by Sink.Flush, stops at once
// as a killed process would: no retry, no commit, no final flush. Tests use it to crash a
// sink at a chosen step.
func Crash(err error) error { return &crashError{err} }

func (e *crashError) Error() string { return "crash: " + e.err.Error() }
func (e *crashError) Unwrap() error { return e.err }

// errLost means the partition is no longer this instance's: its commit was refused.
var errLost = errors.New("partition no longer owned")

// New builds the loop; Run starts it.
func New(opts Options) (*Loop, error) {
	if opts.Sink == nil || opts.Conn == nil || len(opts.Topics) == 0 {
		return nil, errors.New("emitters: a loop needs a sink, a connection and topics")
	}
	if opts.Group == "" {
		opts.Group = "streamhub.sink." + opts.Name
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Metrics == nil {
		opts.Metrics = NewMetrics(prometheus.NewRegistry())
	}
	if opts.MaxBackoff <= 0 {
		opts.MaxBackoff = 30 * time.Second
	}
	if opts.ShutdownTimeout <= 0 {
		opts.ShutdownTimeout = 30 * time.Second
	}
	b := &opts.Buffer
	if b.CountRecords <= 0 {
		b.CountRecords = 10000
	}
	if b.SizeBytes <= 0 {
		b.SizeBytes = 5 << 20
	}
	if b.FlushTime <= 0 {
		b.FlushTime = time.Minute
	}
	return &Loop{
		opts: opts, log: opts.Logger.With("sink", opts.Name),
		bufs: map[tp]*buffer{}, pins: map[tp]intent{}, topicIDs: map[string]string{}, lags: map[tp]int64{},
	}, nil
}

// Flushed is the number of records this loop has flushed and committed.
func (l *Loop) Flushed() int64 { return l.flushed.Load() }

// Run consumes and flushes until ctx ends, then flushes what is buffered, commits and
// leaves the group.
func (l *Loop) Run(ctx context.Context) error {
	var err error
	l.dlq, err = l.opts.Conn.Client(kgo.ClientID(l.opts.Conn.Kafka().ClientID + "-sink-" + l.opts.Name + "-dlq"))
	if err != nil {
		return err
	}
	defer l.dlq.Close()
	l.cl, err = l.opts.Conn.Client(append([]kgo.Opt{
		kgo.ConsumerGroup(l.opts.Group),
		kgo.ConsumeTopics(l.opts.Topics...),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.DisableAutoCommit(),
		// Rebalances wait until the loop allows them between polls, so a partition is never
		// taken away in the middle of its flush.
		kgo.BlockRebalanceOnPoll(),
		// A dead instance's partitions move after this long; they stall meanwhile.
		kgo.SessionTimeout(10 * time.Second),
		kgo.OnPartitionsAssigned(l.assigned),
		kgo.OnPartitionsRevoked(l.revoked),
		kgo.OnPartitionsLost(l.revoked),
		kgo.ClientID(l.opts.Conn.Kafka().ClientID + "-sink-" + l.opts.Name),
	}, l.opts.GroupOptions...)...)
	if err != nil {
		return err
	}
	defer l.cl.Close()
	l.log.Info("sink starting", "group", l.opts.Group, "topics", strings.Join(l.opts.Topics, ","))

	for {
		wait := l.nextDeadline()
		pctx, cancel := context.WithTimeout(ctx, wait)
		fs := l.cl.PollFetches(pctx)
		cancel()
		if ctx.Err() != nil {
			break
		}
		fs.EachError(func(t string, p int32, err error) {
			if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
				l.log.Warn("fetch", "topic", t, "partition", p, "error", err)
			}
		})
		l.add(fs)
		if err := l.flushDue(ctx, false); err != nil {
			l.cl.AllowRebalance()
			var crash *crashError
			if errors.As(err, &crash) {
				return err
			}
			if ctx.Err() != nil {
				break
			}
			return err
		}
		l.cl.AllowRebalance()
	}
	// A graceful stop: flush what is buffered, commit, then leave the group (Close).
	sctx, cancel := context.WithTimeout(context.Background(), l.opts.ShutdownTimeout)
	defer cancel()
	err = l.flushDue(sctx, true)
	l.cl.AllowRebalance()
	var crash *crashError
	if errors.As(err, &crash) {
		return err
	}
	if err != nil && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("final flush: %w", err)
	}
	l.log.Info("sink stopped", "flushed", l.flushed.Load())
	return nil
}

// nextDeadline is how long a poll may wait: until the oldest buffer is due.
func (l *Loop) nextDeadline() time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	wait := time.Second
	for _, b := range l.bufs {
		if len(b.recs) == 0 {
			continue
		}
		if d := time.Until(b.started.Add(l.opts.Buffer.FlushTime)); d < wait {
			wait = d
		}
	}
	return max(wait, 5*time.Millisecond)
}

func (l *Loop) add(fs kgo.Fetches) {
	l.mu.Lock()
	defer l.mu.Unlock()
	fs.EachPartition(func(p kgo.FetchTopicPartition) {
		if len(p.Records) == 0 {
			return
		}
		k := tp{p.Topic, p.Partition}
		b := l.bufs[k]
		if b == nil {
			b = &buffer{}
			l.bufs[k] = b
		}
		if len(b.recs) == 0 {
			b.started = time.Now()
		}
		for _, r := range p.Records {
			b.recs = append(b.recs, r)
			b.bytes += int64(len(r.Key) + len(r.Value))
		}
		l.lags[k] = p.HighWatermark - p.Records[len(p.Records)-1].Offset - 1
		l.setLag(p.Topic)
	})
	l.gauges()
}

// setLag sets the topic's lag gauge to the sum over its owned partitions; l.mu is held.
func (l *Loop) setLag(topic string) {
	var sum int64
	for k, lag := range l.lags {
		if k.topic == topic {
			sum += lag
		}
	}
	l.opts.Metrics.lag.WithLabelValues(l.opts.Name, topic).Set(float64(sum))
}

func (l *Loop) gauges() {
	var n, bytes int64
	for _, b := range l.bufs {
		n += int64(len(b.recs))
		bytes += b.bytes
	}
	l.opts.Metrics.buffered.WithLabelValues(l.opts.Name).Set(float64(n))
	l.opts.Metrics.bufBytes.WithLabelValues(l.opts.Name).Set(float64(bytes))
}

// flushDue flushes every buffer that reached a limit (all of them when all is set).
func (l *Loop) flushDue(ctx context.Context, all bool) error {
	for {
		batch := l.cut(all)
		if batch == nil {
			return nil
		}
		if err := l.flush(ctx, batch); err != nil {
			if errors.Is(err, errLost) {
				l.drop(tp{batch.Topic, batch.Partition})
				continue
			}
			return err
		}
	}
}

// cut takes the next batch due from the buffers: a pinned range exactly; otherwise at
// most count_records records and size_bytes bytes (at least one record), from a buffer
// that reached a limit or is older than flush_time.
func (l *Loop) cut(all bool) *Batch {
	l.mu.Lock()
	defer l.mu.Unlock()
	lim := l.opts.Buffer
	for k, b := range l.bufs {
		if len(b.recs) == 0 {
			continue
		}
		n := 0
		if pin, ok := l.pins[k]; ok && b.recs[0].Offset <= pin.last {
			for n < len(b.recs) && b.recs[n].Offset <= pin.last {
				n++
			}
			if b.recs[n-1].Offset < pin.last {
				// The redo is not complete yet: wait for the rest of the range. On a stop
				// it stays unflushed and uncommitted, for the next owner to redo whole.
				continue
			}
		} else {
			due := all || len(b.recs) >= lim.CountRecords || b.bytes >= lim.SizeBytes ||
				time.Since(b.started) >= lim.FlushTime
			if !due {
				continue
			}
			var bytes int64
			for n < len(b.recs) && n < lim.CountRecords {
				sz := int64(len(b.recs[n].Key) + len(b.recs[n].Value))
				if n > 0 && bytes+sz > lim.SizeBytes {
					break
				}
				bytes += sz
				n++
			}
		}
		batch := &Batch{Topic: k.topic, TopicID: l.topicIDs[k.topic], Partition: k.part, Records: b.recs[:n:n]}
		var bytes int64
		for _, r := range batch.Records {
			bytes += int64(len(r.Key) + len(r.Value))
		}
		b.recs = b.recs[n:]
		b.bytes -= bytes
		b.started = time.Now()
		l.gauges()
		return batch
	}
	return nil
}

func (l *Loop) drop(k tp) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.bufs, k)
	l.gauges()
}

// flush writes one batch exactly once: record the intent, write (retrying), send
// rejects to the DLQ, commit the next offset.
func (l *Loop) flush(ctx context.Context, b *Batch) error {
	k := tp{b.Topic, b.Partition}
	first, last := b.First(), b.Last()
	start := time.Now()
	l.mu.Lock()
	pin, pinned := l.pins[k]
	l.mu.Unlock()
	if !pinned || pin.first != first || pin.last != last {
		// The range is durable before anything is written: a redo after a crash covers
		// exactly these offsets, so deterministic object names never overlap.
		if err := l.commit(ctx, b.Topic, b.Partition, first, -1, intentPrefix+strconv.FormatInt(first, 10)+"-"+strconv.FormatInt(last, 10)); err != nil {
			return err
		}
	}
	bo := backoff.New(100*time.Millisecond, l.opts.MaxBackoff)
	var rejects []Reject
	for {
		var err error
		rejects, err = l.opts.Sink.Flush(ctx, b)
		if err == nil {
			break
		}
		var crash *crashError
		if errors.As(err, &crash) {
			return err
		}
		l.opts.Metrics.flushes.WithLabelValues(l.opts.Name, "error").Inc()
		l.opts.Metrics.retries.WithLabelValues(l.opts.Name).Inc()
		wait := bo.Next()
		l.log.Warn("flush failed; retrying", "topic", b.Topic, "partition", b.Partition, "first", first, "last", last,
			"error", err, "retry_in", wait.Round(time.Millisecond))
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
	}
	if err := l.sendRejects(ctx, rejects); err != nil {
		return err
	}
	if hook := l.opts.Hooks.BeforeCommit; hook != nil {
		if err := hook(b); err != nil {
			return &crashError{err}
		}
	}
	lastRec := b.Records[len(b.Records)-1]
	if err := l.commit(ctx, b.Topic, b.Partition, last+1, lastRec.LeaderEpoch, ""); err != nil {
		return err
	}
	l.mu.Lock()
	delete(l.pins, k)
	l.mu.Unlock()
	var bytes int64
	for _, r := range b.Records {
		bytes += int64(len(r.Key) + len(r.Value))
	}
	m := l.opts.Metrics
	m.flushes.WithLabelValues(l.opts.Name, "ok").Inc()
	m.records.WithLabelValues(l.opts.Name, b.Topic).Add(float64(len(b.Records)))
	m.bytes.WithLabelValues(l.opts.Name, b.Topic).Add(float64(bytes))
	m.seconds.WithLabelValues(l.opts.Name).Observe(time.Since(start).Seconds())
	l.flushed.Add(int64(len(b.Records)))
	l.log.Debug("flushed", "topic", b.Topic, "partition", b.Partition, "first", first, "last", last, "records", len(b.Records))
	return nil
}

// commit commits offset for one partition with metadata, in the group's current
// generation: a member that lost the partition is refused (errLost).
func (l *Loop) commit(ctx context.Context, topic string, part int32, offset int64, epoch int32, meta string) error {
	cctx := kgo.PreCommitFnContext(ctx, func(req *kmsg.OffsetCommitRequest) error {
		for i := range req.Topics {
			for j := range req.Topics[i].Partitions {
				req.Topics[i].Partitions[j].Metadata = &meta
			}
		}
		return nil
	})
	var rerr error
	l.cl.CommitOffsetsSync(cctx, map[string]map[int32]kgo.EpochOffset{topic: {part: {Epoch: epoch, Offset: offset}}},
		func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
			if err != nil {
				rerr = err
				return
			}
			for _, t := range resp.Topics {
				for _, p := range t.Partitions {
					if e := kerrFor(p.ErrorCode); e != nil {
						rerr = e
					}
				}
			}
		})
	if rerr != nil {
		if isLost(rerr) {
			l.log.Warn("commit refused: the partition moved to another instance; dropping its buffer",
				"topic", topic, "partition", part, "error", rerr)
			return errLost
		}
		return fmt.Errorf("commit %s/%d at %d: %w", topic, part, offset, rerr)
	}
	return nil
}

func (l *Loop) sendRejects(ctx context.Context, rejects []Reject) error {
	if len(rejects) == 0 {
		return nil
	}
	recs := make([]*kgo.Record, len(rejects))
	for i, rj := range rejects {
		r := rj.Record
		msg := ""
		if rj.Err != nil {
			msg = rj.Err.Error()
		}
		recs[i] = &kgo.Record{
			Topic: l.opts.DLQTopic, Key: r.Key, Value: r.Value,
			Headers: append(append([]kgo.RecordHeader(nil), r.Headers...),
				kgo.RecordHeader{Key: HeaderDLQReason, Value: []byte(rj.Reason)},
				kgo.RecordHeader{Key: HeaderDLQError, Value: []byte(msg)},
				kgo.RecordHeader{Key: HeaderDLQSink, Value: []byte(l.opts.Name)},
				kgo.RecordHeader{Key: HeaderSourceTopic, Value: []byte(r.Topic)},
				kgo.RecordHeader{Key: HeaderSourcePart, Value: []byte(strconv.FormatInt(int64(r.Partition), 10))},
				kgo.RecordHeader{Key: HeaderSourceOffset, Value: []byte(strconv.FormatInt(r.Offset, 10))},
			),
		}
		l.opts.Metrics.dlq.WithLabelValues(l.opts.Name, rj.Reason).Inc()
		l.log.Error("record the sink cannot write; sent to the DLQ", "topic", r.Topic, "partition", r.Partition,
			"offset", r.Offset, "reason", rj.Reason, "error", rj.Err)
	}
	if err := l.dlq.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		return fmt.Errorf("dlq: %w", err)
	}
	return nil
}

// assigned reads the offsets' metadata of the new partitions: a flush some owner
// recorded and did not finish pins the partition's next flush to that range. A sink that
// keeps its own offsets (OffsetKeeper) decides where each partition starts.
func (l *Loop) assigned(ctx context.Context, cl *kgo.Client, m map[string][]int32) {
	adm := kadm.NewClient(cl)
	resps, err := adm.FetchOffsets(ctx, l.opts.Group)
	if err != nil {
		l.log.Error("fetch committed offsets of assigned partitions", "error", err)
	}
	topics := make([]string, 0, len(m))
	for t := range m {
		topics = append(topics, t)
	}
	details, err := adm.ListTopics(ctx, topics...)
	if err != nil {
		l.log.Warn("topic IDs of assigned topics", "error", err)
	}
	l.mu.Lock()
	for _, d := range details {
		if d.Err == nil && d.ID != (kadm.TopicID{}) {
			l.topicIDs[d.Topic] = d.ID.String()
		}
	}
	for topic, parts := range m {
		for _, p := range parts {
			o, ok := resps.Lookup(topic, p)
			if !ok || !strings.HasPrefix(o.Metadata, intentPrefix) {
				continue
			}
			a, b, _ := strings.Cut(strings.TrimPrefix(o.Metadata, intentPrefix), "-")
			first, err1 := strconv.ParseInt(a, 10, 64)
			last, err2 := strconv.ParseInt(b, 10, 64)
			if err1 != nil || err2 != nil {
				continue
			}
			l.pins[tp{topic, p}] = intent{first, last}
			l.log.Info("redoing an unfinished flush exactly", "topic", topic, "partition", p, "first", first, "last", last)
		}
	}
	l.mu.Unlock()
	if keeper, ok := l.opts.Sink.(OffsetKeeper); ok {
		set := map[string]map[int32]kgo.EpochOffset{}
		for topic, parts := range m {
			l.mu.Lock()
			id := l.topicIDs[topic]
			l.mu.Unlock()
			offs, err := keeper.Offsets(ctx, topic, id)
			if err != nil {
				l.log.Error("sink offsets", "topic", topic, "error", err)
				continue
			}
			for _, p := range parts {
				if o, ok := offs[p]; ok {
					if set[topic] == nil {
						set[topic] = map[int32]kgo.EpochOffset{}
					}
					set[topic][p] = kgo.EpochOffset{Epoch: -1, Offset: o}
				}
			}
		}
		if len(set) > 0 {
			cl.SetOffsets(set)
		}
	}
}

// revoked drops the buffers of partitions given up: nothing of them was committed, and
// the next owner reads them again from the committed offset.
func (l *Loop) revoked(_ context.Context, _ *kgo.Client, m map[string][]int32) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for topic, parts := range m {
		for _, p := range parts {
			delete(l.bufs, tp{topic, p})
			delete(l.pins, tp{topic, p})
			delete(l.lags, tp{topic, p})
		}
		l.setLag(topic)
	}
	l.gauges()
}
