package dynamodb

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/streamhub/streamhub/internal/backoff"
	"github.com/streamhub/streamhub/kafka"
	"github.com/streamhub/streamhub/topology"
)

// Options configure a bridge.
type Options struct {
	Config *topology.Config
	// Conn is the Kafka connection; the checkpoint and CDC topics must exist
	// (pipeline.ApplyTopics creates them).
	Conn *kafka.Conn
	// InstanceID tells instances apart in client IDs and checkpoints' owner field.
	InstanceID string
	// AWS, when set, is the base AWS config of every source (dev and tests: static
	// credentials for ddbtest); nil loads the SDK's default chain.
	AWS *aws.Config
	// Streams, when set, replaces the Streams client of every source (tests).
	Streams StreamsAPI
	// Tables, when set, replaces the DynamoDB client that finds every source's latest
	// stream (tests).
	Tables TablesAPI
	// Registry receives the metrics; nil uses a private registry.
	Registry prometheus.Registerer
	Logger   *slog.Logger
	// GroupOptions are added to the lease group's client (tests shorten its timeouts).
	GroupOptions []kgo.Opt
	Hooks        Hooks
}

// Hooks let fault tests stop the bridge at chosen points.
type Hooks struct {
	// BeforeCommit runs after a batch and its checkpoint were produced inside their
	// transaction, before the commit. An error stops the bridge at once and leaves the
	// transaction open, as a crash there would.
	BeforeCommit func(lease int32, shard string, records int) error
}

// Bridge copies DynamoDB Streams records into the CDC topics, exactly once.
type Bridge struct {
	opts     Options
	cfg      *topology.Config
	conn     *kafka.Conn
	log      *slog.Logger
	m        *metrics
	clientID string
	// streams grows while the bridge runs: a table's new stream joins its old one.
	streamsMu sync.Mutex
	streams   []*stream
	view      *checkpointView
	// shardsChanged fires when any stream's shard list changes.
	shardsChanged *signal
	txnTimeout    time.Duration

	written atomic.Int64
	leases  atomic.Int64
	ownedMu sync.Mutex
	owned   map[string]int

	mu       sync.Mutex
	running  map[int32]*runningLease
	crashErr error
	crashed  chan struct{}
}

type runningLease struct {
	cancel context.CancelFunc
	done   chan struct{}
}

// New resolves every source's stream (DescribeTable when no stream_arn is set), so a
// wrong table name or missing permission fails here, before anything runs.
func New(ctx context.Context, opts Options) (*Bridge, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Registry == nil {
		opts.Registry = prometheus.NewRegistry()
	}
	cfg := opts.Config
	clientID := cfg.Kafka.ClientID + "-bridge"
	if opts.InstanceID != "" {
		clientID += "-" + opts.InstanceID
	}
	b := &Bridge{
		opts: opts, cfg: cfg, conn: opts.Conn, log: opts.Logger.With("component", "bridge"),
		m: newMetrics(opts.Registry), clientID: clientID,
		view: newCheckpointView(opts.Logger), shardsChanged: newSignal(),
		txnTimeout: time.Minute,
		owned:      map[string]int{}, running: map[int32]*runningLease{}, crashed: make(chan struct{}),
	}
	for i, src := range cfg.Sources {
		if src.Type != topology.SourceDynamoDB {
			continue
		}
		table, ok := cfg.Table(src.Table)
		if !ok {
			return nil, fmt.Errorf("sources[%d].table: no table %q", i, src.Table)
		}
		api, tables, err := awsClients(ctx, src, opts.AWS)
		if err != nil {
			return nil, fmt.Errorf("sources[%d] (%s): %w", i, src.Table, err)
		}
		if opts.Streams != nil {
			api = opts.Streams
		}
		if opts.Tables != nil {
			tables = opts.Tables
		}
		arn, err := resolveStreamARN(ctx, src, tables)
		if err != nil {
			return nil, fmt.Errorf("sources[%d] (%s): %w", i, src.Table, err)
		}
		st := &stream{
			src: src, table: table, arn: arn, api: api,
			log: b.log.With("table", table.Name), byID: map[string]shard{},
			changed: b.shardsChanged, wake: make(chan struct{}, 1),
		}
		if src.StreamARN == "" {
			st.tables = tables
			older, ok, err := olderStreams(ctx, api, src.Table, arn)
			if err != nil {
				b.log.Warn("cannot list the table's older streams (dynamodb:ListStreams): if the table was created again while the bridge was down, the old stream's unread records are not read",
					"table", table.Name, "error", err)
			}
			if ok {
				for _, o := range older {
					b.streams = append(b.streams, &stream{
						src: src, table: table, arn: o, api: api, prev: st.prev, replaced: true,
						log: b.log.With("table", table.Name), byID: map[string]shard{},
						changed: b.shardsChanged, wake: make(chan struct{}, 1),
					})
					st.prev = b.streams[len(b.streams)-1]
				}
			}
		}
		b.streams = append(b.streams, st)
		for p := st.prev; p != nil; p = p.prev {
			b.log.Info("bridging a replaced stream of the table to its end first", "table", table.Name, "stream", p.arn)
		}
		b.log.Info("bridging stream", "table", table.Name, "stream", arn, "topic", table.Topic, "start", src.Start)
	}
	if len(b.streams) == 0 {
		return nil, errors.New("bridge: the topology has no dynamodb source")
	}
	return b, nil
}

// Run bridges until ctx ends, then stops every shard reader between transactions (an
// open transaction is aborted) and leaves the group, so other instances take over.
func (b *Bridge) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	viewCl, err := b.conn.Client(
		kgo.ConsumeTopics(b.cfg.Bridge.CheckpointTopic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.ClientID(b.clientID+"-checkpoints"),
	)
	if err != nil {
		return err
	}
	defer viewCl.Close()
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Add(1)
	go func() { defer wg.Done(); b.view.run(ctx, viewCl) }()

	discover := func(st *stream) {
		bo := backoff.New(500*time.Millisecond, b.cfg.Bridge.MaxBackoff)
		wg.Add(1)
		go func() { defer wg.Done(); st.discover(ctx, b.cfg.Bridge.DiscoveryInterval, bo, b.m) }()
	}
	for _, st := range b.streamList() {
		discover(st)
		if st.tables != nil {
			wg.Add(1)
			go func() { defer wg.Done(); b.watchTable(ctx, st, discover) }()
		}
	}

	cpTopic := b.cfg.Bridge.CheckpointTopic
	onAssigned := func(_ context.Context, _ *kgo.Client, m map[string][]int32) {
		for _, p := range m[cpTopic] {
			b.startLease(ctx, p)
		}
	}
	onRevoked := func(_ context.Context, _ *kgo.Client, m map[string][]int32) {
		for _, p := range m[cpTopic] {
			b.stopLease(p)
		}
	}
	group, err := b.conn.Client(append([]kgo.Opt{
		kgo.ConsumerGroup(b.cfg.Bridge.Group),
		kgo.ConsumeTopics(cpTopic),
		kgo.DisableAutoCommit(),
		kgo.ClientID(b.clientID + "-group"),
		// A dead instance's leases move after this long; its shards stall meanwhile.
		kgo.SessionTimeout(10 * time.Second),
		kgo.RebalanceTimeout(30 * time.Second),
		kgo.OnPartitionsAssigned(onAssigned),
		kgo.OnPartitionsRevoked(onRevoked),
		kgo.OnPartitionsLost(onRevoked),
	}, b.opts.GroupOptions...)...)
	if err != nil {
		return err
	}
	// The group only hands out leases; the checkpoints are read by the view.
	group.PauseFetchTopics(cpTopic)

	status := time.NewTicker(30 * time.Second)
	defer status.Stop()
wait:
	for {
		select {
		case <-ctx.Done():
			break wait
		case <-b.crashed:
			break wait
		case <-status.C:
			s := b.Status()
			b.log.Info("bridge status", "records", s.Records, "leases", s.Leases, "shards", s.Shards)
		}
	}
	b.mu.Lock()
	crash := b.crashErr
	b.mu.Unlock()
	if crash != nil {
		// As a crash: nothing is aborted or committed; the group learns of it later.
		cancel()
		b.stopAll()
		group.Close()
		return crash
	}
	b.log.Info("bridge stopping: finishing open transactions and leaving the group")
	b.stopAll()
	group.Close()
	return nil
}

func (b *Bridge) startLease(ctx context.Context, p int32) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.running[p]; ok {
		return
	}
	lctx, cancel := context.WithCancel(ctx)
	rl := &runningLease{cancel: cancel, done: make(chan struct{})}
	b.running[p] = rl
	b.m.leases.Set(float64(len(b.running)))
	b.leases.Store(int64(len(b.running)))
	go func() {
		defer close(rl.done)
		b.runLease(lctx, p)
	}()
}

func (b *Bridge) stopLease(p int32) {
	b.mu.Lock()
	rl, ok := b.running[p]
	delete(b.running, p)
	b.m.leases.Set(float64(len(b.running)))
	b.leases.Store(int64(len(b.running)))
	b.mu.Unlock()
	if ok {
		rl.cancel()
		<-rl.done
	}
}

func (b *Bridge) stopAll() {
	b.mu.Lock()
	ps := make([]int32, 0, len(b.running))
	for p := range b.running {
		ps = append(ps, p)
	}
	b.mu.Unlock()
	for _, p := range ps {
		b.stopLease(p)
	}
}

func (b *Bridge) crash(err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.crashErr == nil {
		b.crashErr = err
		close(b.crashed)
	}
}

func (b *Bridge) ownedDelta(table string, d int) {
	b.ownedMu.Lock()
	b.owned[table] += d
	n := b.owned[table]
	b.ownedMu.Unlock()
	b.m.owned.WithLabelValues(table).Set(float64(n))
}

// Status is a bridge instance's progress, for status lines and tests.
type Status struct {
	// Records this instance committed to the CDC topics.
	Records int64
	// Leases and Shards this instance owns and reads now.
	Leases, Shards int
}

// Status returns the instance's running totals.
func (b *Bridge) Status() Status {
	s := Status{Records: b.written.Load(), Leases: int(b.leases.Load())}
	b.ownedMu.Lock()
	for _, n := range b.owned {
		s.Shards += n
	}
	b.ownedMu.Unlock()
	return s
}

// Checkpoints returns every shard checkpoint this instance has read from the checkpoint
// topic (its own and other instances'), sorted by stream and shard.
func (b *Bridge) Checkpoints() []Checkpoint {
	cps := b.view.all()
	sort.Slice(cps, func(i, j int) bool {
		if cps[i].Stream != cps[j].Stream {
			return cps[i].Stream < cps[j].Stream
		}
		return cps[i].Shard < cps[j].Shard
	})
	return cps
}

// StreamARNs returns the streams the bridge reads, per source in file order (a table's
// older streams, still listed by DynamoDB, before its latest), then the streams of tables
// re-created while it runs, in the order they were found.
func (b *Bridge) StreamARNs() []string {
	sts := b.streamList()
	out := make([]string, len(sts))
	for i, st := range sts {
		out[i] = st.arn
	}
	return out
}

func (b *Bridge) streamList() []*stream {
	b.streamsMu.Lock()
	defer b.streamsMu.Unlock()
	return slices.Clone(b.streams)
}

func (b *Bridge) addStream(st *stream) {
	b.streamsMu.Lock()
	b.streams = append(b.streams, st)
	b.streamsMu.Unlock()
	b.shardsChanged.fire()
}
