// Package processors runs the goka processors that keep each CDC table's latest state.
package processors

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/lovoo/goka"
	"github.com/lovoo/goka/codec"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/streamhub/streamhub/kafka"
	"github.com/streamhub/streamhub/state"
	"github.com/streamhub/streamhub/topology"
)

// DLQ headers: the reason is a short machine word (see state.InvalidError), the error the
// human-readable detail, and the source the record's original position.
const (
	HeaderDLQReason    = "streamhub.dlq.reason"
	HeaderDLQError     = "streamhub.dlq.error"
	HeaderDLQTable     = "streamhub.dlq.table"
	HeaderSourceTopic  = "streamhub.source.topic"
	HeaderSourcePart   = "streamhub.source.partition"
	HeaderSourceOffset = "streamhub.source.offset"
)

// Options configure one CDC latest-state processor.
type Options struct {
	// Conn provides the brokers and the sarama configuration.
	Conn *kafka.Conn
	// Table is the CDC table this processor keeps.
	Table topology.Table
	// DLQTopic receives records that cannot be parsed.
	DLQTopic string
	// StorageDir is where goleveldb keeps the local state; "" keeps it in memory.
	StorageDir string
	// ClientID names this instance to the brokers.
	ClientID string
	Metrics  *Metrics
	Logger   *slog.Logger
	// GokaOptions are appended to the processor's options; tests pass goka.WithTester.
	GokaOptions []goka.ProcessorOption
}

// Counts are an instance's running totals, for status lines and tests.
type Counts struct {
	In, Applied, Stale, Duplicate, Invalid, Rekeyed int64
}

// CDC keeps the latest state of one DynamoDB table: a goka processor whose group table
// holds, per item key, the change with the greatest version (DESIGN.md, "the version order").
type CDC struct {
	opts Options
	spec state.KeySpec
	proc *goka.Processor
	keys *keyCounter
	log  *slog.Logger

	in, applied, stale, duplicate, invalid, rekeyed atomic.Int64
	partitions                                      atomic.Int64

	// Metric children resolved once: a label lookup per record would cost more than the record.
	mApplied, mStale, mDuplicate, mInvalid, mRekeyed prometheus.Counter
	mProcess, mEndToEnd                              prometheus.Observer
}

// NewCDC builds the processor; Run starts it.
func NewCDC(opts Options) (*CDC, error) {
	if opts.Metrics == nil {
		opts.Metrics = NewMetrics(prometheus.NewRegistry())
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.ClientID == "" {
		opts.ClientID = "streamhub"
	}
	t := opts.Table
	m := opts.Metrics
	c := &CDC{
		opts:       opts,
		spec:       state.KeySpec{Keys: t.Keys, VersionAttribute: t.VersionAttribute},
		log:        opts.Logger.With("table", t.Name),
		mApplied:   m.Events.WithLabelValues(t.Name, OutcomeApplied),
		mStale:     m.Events.WithLabelValues(t.Name, OutcomeStale),
		mDuplicate: m.Events.WithLabelValues(t.Name, OutcomeDuplicate),
		mInvalid:   m.Events.WithLabelValues(t.Name, OutcomeInvalid),
		mRekeyed:   m.Events.WithLabelValues(t.Name, OutcomeRekeyed),
		mProcess:   m.Process.WithLabelValues(t.Name),
		mEndToEnd:  m.EndToEnd.WithLabelValues(t.Name),
	}
	c.keys = newKeyCounter(m.Keys.WithLabelValues(t.Name))

	graph := goka.DefineGroup(goka.Group(t.Group),
		goka.Input(goka.Stream(t.Topic), new(codec.Bytes), c.process),
		// A record keyed by something other than its item key is re-sent under the item
		// key, so it reaches the partition that owns the item.
		goka.Loop(new(codec.Bytes), c.process),
		goka.Output(goka.Stream(opts.DLQTopic), new(codec.Bytes)),
		// The processor's stores hand out buffers that never change (values are replaced,
		// not modified), so reading the current state needs no copies.
		goka.Persist(new(state.SharedCodec)),
	)
	// A nil Conn is for goka's tester, which replaces every Kafka client (GokaOptions).
	var brokers []string
	var kafkaOpts []goka.ProcessorOption
	if opts.Conn != nil {
		brokers = opts.Conn.Brokers()
		kafkaOpts = gokaOptions(opts.Conn, opts.ClientID+"-"+t.Name, c.log)
	}
	proc, err := goka.NewProcessor(brokers, graph, append(append(kafkaOpts,
		goka.WithStorageBuilder(c.keys.builder(StorageBuilder(opts.StorageDir, c.log))),
		goka.WithUpdateCallback(c.keys.update),
		goka.WithRebalanceCallback(func(a goka.Assignment) {
			c.partitions.Store(int64(len(a)))
			m.Partitions.WithLabelValues(t.Name).Set(float64(len(a)))
		}),
	), opts.GokaOptions...)...)
	if err != nil {
		return nil, fmt.Errorf("processor %s: %w", t.Name, err)
	}
	c.proc = proc
	return c, nil
}

// Goka is the table's goka processor, for goka's monitor page (/ui/monitor/).
func (c *CDC) Goka() *goka.Processor { return c.proc }

// Run processes until ctx is cancelled, then drains in-flight records and commits.
func (c *CDC) Run(ctx context.Context) error {
	c.log.Info("processor starting", "topic", c.opts.Table.Topic, "group", c.opts.Table.Group)
	statsDone := make(chan struct{})
	defer close(statsDone)
	go func() {
		t := time.NewTicker(5 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-statsDone:
				return
			case <-t.C:
				c.Lag() // refreshes the lag gauge
			}
		}
	}()
	err := c.proc.Run(ctx)
	if err != nil && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("processor %s: %w", c.opts.Table.Name, err)
	}
	c.log.Info("processor stopped", "counts", fmt.Sprintf("%+v", c.Counts()))
	return nil
}

// Recovered reports whether every assigned partition has caught up with its table topic.
func (c *CDC) Recovered() bool { return c.proc.Recovered() }

// Table is the table this processor keeps.
func (c *CDC) Table() topology.Table { return c.opts.Table }

// Partitions is the number of CDC topic partitions this instance owns.
func (c *CDC) Partitions() int { return int(c.partitions.Load()) }

// Keys is the number of live items in the partitions this instance owns.
func (c *CDC) Keys() int64 { return c.keys.total() }

// Counts returns the running totals of this instance.
func (c *CDC) Counts() Counts {
	return Counts{
		In: c.in.Load(), Applied: c.applied.Load(), Stale: c.stale.Load(),
		Duplicate: c.duplicate.Load(), Invalid: c.invalid.Load(), Rekeyed: c.rekeyed.Load(),
	}
}

// Lag is the number of CDC records not yet processed in the partitions this instance owns,
// as goka's consumer last saw the high watermarks.
func (c *CDC) Lag() int64 {
	var lag int64
	for _, p := range c.proc.Stats().Group {
		if in := p.Input[c.opts.Table.Topic]; in != nil && in.OffsetLag > 1 {
			// goka counts from the last processed offset to the high watermark (the next
			// offset to be written), so a caught-up partition shows 1.
			lag += in.OffsetLag - 1
		}
	}
	c.opts.Metrics.Lag.WithLabelValues(c.opts.Table.Name).Set(float64(lag))
	return lag
}

// process applies one CDC record. It never fails the processor: a record it cannot use goes
// to the DLQ, and a record older than the state is counted and dropped.
func (c *CDC) process(ctx goka.Context, msg any) {
	start := time.Now()
	defer func() { c.mProcess.Observe(time.Since(start).Seconds()) }()
	c.in.Add(1)
	raw, _ := msg.([]byte)
	ch, err := state.ParseChange(raw, c.spec)
	if err != nil {
		c.deadLetter(ctx, raw, err)
		return
	}
	// A record keyed otherwise, or placed by a partitioner other than Kafka's murmur2
	// (librdkafka's default consistent_random, say), is re-sent under its item key through
	// the loop topic, which lands it in the partition that owns the item: otherwise this
	// partition's state would hold a key the table topic keeps in another partition, and a
	// recovery would lose it.
	if ch.Key != ctx.Key() || (ctx.Topic() == goka.Stream(c.opts.Table.Topic) &&
		kafka.Partition([]byte(ch.Key), int32(c.opts.Table.Partitions)) != ctx.Partition()) {
		c.rekeyed.Add(1)
		c.mRekeyed.Inc()
		ctx.Loopback(ch.Key, raw, goka.WithCtxEmitHeaders(sourceHeaders(c.position(ctx))))
		return
	}

	var cur *state.Value
	if v := ctx.Value(); v != nil {
		cur = v.(*state.Value)
		switch cmp := state.Compare(ch.Version, cur.Version); {
		case cmp == 0:
			c.duplicate.Add(1)
			c.mDuplicate.Inc()
			if cur.Source == c.position(ctx) {
				// The very record that made this state, replayed after a crash: the local
				// store kept its write, but the table-topic write may have been lost with the
				// process. Writing it again is a no-op for the compacted topic if it landed.
				ctx.SetValue(cur)
			}
			return
		case cmp < 0:
			c.stale.Add(1)
			c.mStale.Inc()
			return
		}
	}

	// A REMOVE of an item never seen still writes a tombstone: it keeps the version, so a
	// late, older INSERT or MODIFY cannot bring the item back.
	ctx.SetValue(&state.Value{
		Item:      ch.Item,
		Deleted:   ch.Deleted,
		Version:   ch.Version,
		EventID:   ch.EventID,
		UpdatedAt: ch.CreatedAt,
		Source:    c.position(ctx),
	})
	c.keys.add(ctx.Partition(), liveDelta(cur != nil && !cur.Deleted, !ch.Deleted))
	c.applied.Add(1)
	c.mApplied.Inc()
	if !ch.CreatedAt.IsZero() {
		c.mEndToEnd.Observe(start.Sub(ch.CreatedAt).Seconds())
	}
}

// position is where the applied record came from. A re-keyed record reports the position
// of the original CDC record, carried in its headers, not its place in the loop topic.
func (c *CDC) position(ctx goka.Context) state.Position {
	pos := state.Position{Topic: string(ctx.Topic()), Partition: ctx.Partition(), Offset: ctx.Offset()}
	if pos.Topic == c.opts.Table.Topic {
		return pos
	}
	h := ctx.Headers()
	if t := h[HeaderSourceTopic]; t != nil {
		pos.Topic = string(t)
		p, _ := strconv.ParseInt(string(h[HeaderSourcePart]), 10, 32)
		pos.Partition = int32(p)
		pos.Offset, _ = strconv.ParseInt(string(h[HeaderSourceOffset]), 10, 64)
	}
	return pos
}

func (c *CDC) deadLetter(ctx goka.Context, raw []byte, err error) {
	c.invalid.Add(1)
	c.mInvalid.Inc()
	reason := "invalid"
	var inv *state.InvalidError
	if errors.As(err, &inv) {
		reason = inv.Reason
	}
	pos := c.position(ctx)
	c.log.Warn("record sent to DLQ", "reason", reason, "error", err,
		"topic", pos.Topic, "partition", pos.Partition, "offset", pos.Offset, "dlq", c.opts.DLQTopic)
	h := sourceHeaders(pos)
	h[HeaderDLQReason] = []byte(reason)
	h[HeaderDLQError] = []byte(err.Error())
	h[HeaderDLQTable] = []byte(c.opts.Table.Name)
	ctx.Emit(goka.Stream(c.opts.DLQTopic), ctx.Key(), raw, goka.WithCtxEmitHeaders(h))
}

// sourceHeaders carry a record's original position through the loop topic and into the DLQ.
func sourceHeaders(pos state.Position) goka.Headers {
	return goka.Headers{
		HeaderSourceTopic:  []byte(pos.Topic),
		HeaderSourcePart:   []byte(strconv.FormatInt(int64(pos.Partition), 10)),
		HeaderSourceOffset: []byte(strconv.FormatInt(pos.Offset, 10)),
	}
}

func liveDelta(before, after bool) int64 {
	switch {
	case !before && after:
		return 1
	case before && !after:
		return -1
	}
	return 0
}
