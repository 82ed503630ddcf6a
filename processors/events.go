package processors

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/streamhub/streamhub/kafka"
	"github.com/streamhub/streamhub/sources/collector"
	"github.com/streamhub/streamhub/topology"
)

// EventsOptions configure the events processor.
type EventsOptions struct {
	Config *topology.Config
	Conn   *kafka.Conn
	// InstanceID makes the transactional ID ("<group>-<instance>"); stable per instance,
	// different between running instances. Default: the host name and process ID.
	InstanceID string
	// Metrics are the collector's (path="kafka"); nil registers new ones on a private
	// registry.
	Metrics *collector.Metrics
	Logger  *slog.Logger
	// KafkaOpts are added to the client (tests: shorter session timeouts).
	KafkaOpts []kgo.Opt
}

// Events validates and routes envelopes that producers wrote to collector.input_topics
// directly, with the collector's rules: valid events go to their topics enriched like
// HTTP ones (received_at = the input record's timestamp, no client), invalid ones to the
// collector's DLQ with the reason and the input position.
//
// It is a franz-go consume-transform-produce loop, not a goka processor: every poll is
// one Kafka transaction that holds the output records and the consumed offsets
// (GroupTransactSession), so each input record is routed exactly once for read_committed
// readers, where goka gives at-least-once; and the output topics are only known per
// record (<env>.<source>.<event>), while a goka graph declares its outputs up front.
type Events struct {
	opts    EventsOptions
	col     *topology.Collector
	v       *collector.Validator
	topics  *collector.Topics
	sess    *kgo.GroupTransactSession
	log     *slog.Logger
	m       *collector.Metrics
	known   map[string]bool
	timeout time.Duration

	lagMu sync.Mutex
	lags  map[string]map[int32]int64 // topic → owned partition → lag at its last fetch
}

// NewEvents builds the events processor; Run starts it.
func NewEvents(opts EventsOptions) (*Events, error) {
	cfg := opts.Config
	if cfg == nil || cfg.Collector == nil || len(cfg.Collector.InputTopics) == 0 {
		return nil, errors.New("events processor: the topology names no collector.input_topics")
	}
	col := cfg.Collector
	v, err := collector.NewValidator(cfg.Env, col)
	if err != nil {
		return nil, err
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Metrics == nil {
		opts.Metrics = collector.NewMetrics(prometheus.NewRegistry())
	}
	instance := opts.InstanceID
	if instance == "" {
		instance = defaultInstance()
	}
	e := &Events{
		opts: opts, col: col, v: v, log: opts.Logger.With("processor", "events"), m: opts.Metrics,
		topics: collector.NewTopics(opts.Conn, col.Partitions), known: map[string]bool{},
		timeout: col.ProduceTimeout, lags: map[string]map[int32]int64{},
	}
	for _, ev := range col.Events {
		e.known[ev.Name] = true
	}
	for _, k := range col.Keys {
		e.known["source:"+k.Source] = true
	}
	kopts := append([]kgo.Opt{
		kgo.ConsumerGroup(col.Group),
		kgo.ConsumeTopics(col.InputTopics...),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.RequireStableFetchOffsets(),
		kgo.TransactionalID(col.Group + "-" + instance),
		kgo.TransactionTimeout(col.ProduceTimeout + 30*time.Second),
		kgo.RecordDeliveryTimeout(col.ProduceTimeout),
		kgo.FetchMaxBytes(16 << 20),
		kgo.OnPartitionsRevoked(func(_ context.Context, _ *kgo.Client, m map[string][]int32) { e.forget(m) }),
		kgo.OnPartitionsLost(func(_ context.Context, _ *kgo.Client, m map[string][]int32) { e.forget(m) }),
	}, opts.KafkaOpts...)
	all := append(kafkaClientOpts(opts.Conn), kopts...)
	sess, err := kgo.NewGroupTransactSession(all...)
	if err != nil {
		return nil, fmt.Errorf("events processor: %w", err)
	}
	e.sess = sess
	return e, nil
}

// kafkaClientOpts are the connection's franz-go options (brokers, TLS, SASL,
// compression, murmur2 partitioner).
func kafkaClientOpts(conn *kafka.Conn) []kgo.Opt {
	opts, err := kafka.ClientOpts(conn.Kafka(), conn.Brokers())
	if err != nil {
		// Connect already built these options once; they cannot fail now.
		panic(err)
	}
	return opts
}

// Run processes until ctx ends; the transaction in flight then commits or aborts (an
// aborted poll is read again by whoever owns its partitions next).
func (e *Events) Run(ctx context.Context) error {
	defer e.topics.Close()
	defer e.sess.Close()
	e.log.Info("events processor starting", "topics", e.col.InputTopics, "group", e.col.Group)
	for {
		fetches := e.sess.PollFetches(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if fetches.IsClientClosed() {
			return nil
		}
		var fetchErr error
		fetches.EachError(func(topic string, p int32, err error) {
			if !errors.Is(err, context.Canceled) {
				fetchErr = fmt.Errorf("fetch %s/%d: %w", topic, p, err)
			}
		})
		if fetchErr != nil {
			e.log.Warn("events processor: fetch error", "error", fetchErr)
		}
		e.setLags(fetches)
		records := fetches.Records()
		if len(records) == 0 {
			continue
		}
		if err := e.process(ctx, records); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			e.log.Warn("events processor: transaction aborted; the records are read again", "records", len(records), "error", err)
			// Back off a little so a broker in trouble is not hammered.
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(time.Second):
			}
		}
	}
}

// setLags records each fetched partition's lag and sets the gauge of its topic to the
// sum over the partitions this instance owns.
func (e *Events) setLags(fs kgo.Fetches) {
	e.lagMu.Lock()
	defer e.lagMu.Unlock()
	touched := map[string]bool{}
	fs.EachPartition(func(p kgo.FetchTopicPartition) {
		if len(p.Records) == 0 {
			return
		}
		if e.lags[p.Topic] == nil {
			e.lags[p.Topic] = map[int32]int64{}
		}
		e.lags[p.Topic][p.Partition] = p.HighWatermark - p.Records[len(p.Records)-1].Offset - 1
		touched[p.Topic] = true
	})
	for topic := range touched {
		e.setLag(topic)
	}
}

// forget drops the lags of partitions given up; a new owner reports them.
func (e *Events) forget(m map[string][]int32) {
	e.lagMu.Lock()
	defer e.lagMu.Unlock()
	for topic, parts := range m {
		for _, p := range parts {
			delete(e.lags[topic], p)
		}
		e.setLag(topic)
	}
}

// setLag sets topic's gauge; e.lagMu is held.
func (e *Events) setLag(topic string) {
	var sum int64
	for _, lag := range e.lags[topic] {
		sum += lag
	}
	e.m.Lag.WithLabelValues(topic).Set(float64(sum))
}

type label struct{ source, event, reason string }

func (e *Events) process(ctx context.Context, in []*kgo.Record) error {
	out := make([]*kgo.Record, 0, len(in))
	var accepted, rejected []label
	topics := map[string]bool{}
	for _, r := range in {
		ev, rej := e.v.Validate(r.Value)
		pos := []kgo.RecordHeader{
			{Key: HeaderSourceTopic, Value: []byte(r.Topic)},
			{Key: HeaderSourcePart, Value: []byte(strconv.FormatInt(int64(r.Partition), 10))},
			{Key: HeaderSourceOffset, Value: []byte(strconv.FormatInt(r.Offset, 10))},
		}
		if rej != nil {
			out = append(out, collector.DLQRecord(e.col.DLQTopic, r.Value, rej, collector.DLQInfo{
				Path: "kafka", Index: -1, ReceivedAt: r.Timestamp, Extra: pos,
			}))
			rejected = append(rejected, label{e.label("source:"+rej.Source, rej.Source), e.label(rej.EventName, rej.EventName), rej.Reason})
			continue
		}
		rec, err := collector.EventRecord(ev, r.Timestamp, nil)
		if err != nil {
			return err
		}
		rec.Headers = append(rec.Headers, pos...)
		out = append(out, rec)
		topics[rec.Topic] = true
		accepted = append(accepted, label{e.label("source:"+ev.Source, ev.Source), e.label(ev.EventName, ev.EventName), ""})
	}
	tctx, cancel := context.WithTimeout(ctx, e.timeout)
	defer cancel()
	if err := e.topics.Ensure(tctx, topics); err != nil {
		return err
	}
	if err := e.sess.Begin(); err != nil {
		return err
	}
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
	)
	wg.Add(len(out))
	for _, r := range out {
		e.sess.Produce(tctx, r, func(r *kgo.Record, err error) {
			if err != nil {
				mu.Lock()
				if firstErr == nil {
					firstErr = fmt.Errorf("topic %s: %w", r.Topic, err)
				}
				mu.Unlock()
			}
			wg.Done()
		})
	}
	wg.Wait()
	commit := kgo.TryCommit
	if firstErr != nil {
		commit = kgo.TryAbort
	}
	// End flushes, commits the consumed offsets in the transaction and ends it; after a
	// rebalance it aborts by itself (committed is false).
	committed, err := e.sess.End(context.WithoutCancel(tctx), commit)
	switch {
	case firstErr != nil:
		return firstErr
	case err != nil:
		return err
	case !committed:
		return errors.New("the group rebalanced; the records are read again by their new owner")
	}
	for _, l := range accepted {
		e.m.Accepted.WithLabelValues(l.source, l.event, "kafka").Inc()
	}
	for _, l := range rejected {
		e.m.Rejected.WithLabelValues(l.source, l.event, l.reason, "kafka").Inc()
	}
	return nil
}

func (e *Events) label(key, value string) string {
	if e.known[key] {
		return value
	}
	return "other"
}

func defaultInstance() string {
	host, _ := os.Hostname()
	return fmt.Sprintf("%s-%d", host, os.Getpid())
}
