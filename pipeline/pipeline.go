// Package pipeline assembles the components a topology enables (bridge, processors, view
// API, sinks) on one Kafka connection and runs them as one group with a graceful shutdown.
package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"time"

	"github.com/lovoo/goka"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/streamhub/streamhub/api"
	"github.com/streamhub/streamhub/emitters"
	"github.com/streamhub/streamhub/kafka"
	"github.com/streamhub/streamhub/processors"
	"github.com/streamhub/streamhub/sources/collector"
	"github.com/streamhub/streamhub/sources/dynamodb"
	"github.com/streamhub/streamhub/topology"
)

// Roles select what a process runs.
type Roles struct {
	// Process runs a CDC latest-state processor per table (instances share partitions).
	Process bool
	// Serve runs the view API (every instance holds every view).
	Serve bool
	// Bridge copies the dynamodb sources' streams into the CDC topics (instances share
	// shards).
	Bridge bool
	// Emit runs the sinks: flush loops over raw topics, snapshots of tables.
	Emit bool
	// Collect runs the HTTP event collector and, when the topology names
	// collector.input_topics, the events processor.
	Collect bool
}

// Options configure a pipeline.
type Options struct {
	Config *topology.Config
	Roles  Roles
	// Conn is an existing Kafka connection; nil connects (or starts the embedded broker)
	// from Config.Kafka.
	Conn *kafka.Conn
	// InstanceID tells instances of one group apart in client IDs and storage paths.
	InstanceID string
	// MemoryStorage keeps processor and view state in memory instead of goleveldb.
	MemoryStorage bool
	// Registry collects metrics; nil makes a new one.
	Registry *prometheus.Registry
	Logger   *slog.Logger
	// AWS, when set, is the base AWS config of the sinks' S3 clients (tests: gofakes3);
	// nil loads the SDK's default chain.
	AWS *aws.Config
	// Bridge carries options for the bridge beyond the topology (dev and tests: a base
	// AWS config for ddbtest, group timeouts, fault hooks); Config, Conn, InstanceID,
	// Registry and Logger are filled in.
	Bridge dynamodb.Options
	// CollectorReady, when set, is called with the collector's address once it listens.
	CollectorReady func(addr string)
}

// Pipeline is a running set of components.
type Pipeline struct {
	opts       Options
	conn       *kafka.Conn
	ownConn    bool
	log        *slog.Logger
	Processors []*processors.CDC
	API        *api.Server
	Bridge     *dynamodb.Bridge
	Sinks      []*emitters.Loop
	Collector  *collector.Collector
	Events     *processors.Events
	snapshots  []snapshotJob
	closers    []func() error
	Registry   *prometheus.Registry
}

// New connects to Kafka, creates missing topics and builds the enabled components.
func New(ctx context.Context, opts Options) (*Pipeline, error) {
	cfg := opts.Config
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Registry == nil {
		opts.Registry = prometheus.NewRegistry()
		opts.Registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	p := &Pipeline{opts: opts, log: opts.Logger, Registry: opts.Registry, conn: opts.Conn}
	if p.conn == nil {
		conn, err := kafka.Connect(ctx, cfg.Kafka)
		if err != nil {
			return nil, err
		}
		p.conn, p.ownConn = conn, true
		if cfg.Kafka.Embedded() && !opts.MemoryStorage {
			// The embedded broker keeps its topics in memory, so a local store on disk would
			// outlive its changelog and disagree with the empty table topic of the next run.
			p.log.Info("embedded broker: keeping processor and view state in memory")
			opts.MemoryStorage = true
			p.opts.MemoryStorage = true
		}
	}
	ok := false
	defer func() {
		if !ok {
			p.close()
		}
	}()
	if err := p.conn.Ping(ctx); err != nil {
		return nil, err
	}
	if _, err := ApplyTopics(ctx, p.conn, cfg, p.log); err != nil {
		return nil, err
	}

	clientID := cfg.Kafka.ClientID
	if opts.InstanceID != "" {
		clientID += "-" + opts.InstanceID
	}
	storageDir := func(parts ...string) string {
		if opts.MemoryStorage {
			return ""
		}
		base := cfg.Processor.StorageDir
		if opts.InstanceID != "" {
			base = filepath.Join(base, opts.InstanceID)
		}
		return filepath.Join(append([]string{base}, parts...)...)
	}
	if opts.Roles.Process {
		m := processors.NewMetrics(p.Registry)
		for _, t := range cfg.Tables {
			c, err := processors.NewCDC(processors.Options{
				Conn:       p.conn,
				Table:      t,
				DLQTopic:   cfg.Processor.DLQTopic,
				StorageDir: storageDir("processors"),
				ClientID:   clientID,
				Metrics:    m,
				Logger:     p.log,
			})
			if err != nil {
				return nil, err
			}
			p.Processors = append(p.Processors, c)
		}
	}
	if opts.Roles.Bridge {
		bo := opts.Bridge
		bo.Config, bo.Conn, bo.InstanceID, bo.Registry, bo.Logger = cfg, p.conn, opts.InstanceID, p.Registry, p.log
		br, err := dynamodb.New(ctx, bo)
		if err != nil {
			return nil, err
		}
		p.Bridge = br
	}
	if opts.Roles.Emit {
		if err := p.buildSinks(ctx, cfg); err != nil {
			return nil, err
		}
	}
	if opts.Roles.Collect && cfg.Collector != nil {
		if err := p.buildCollector(cfg, opts.InstanceID); err != nil {
			return nil, err
		}
	}
	if opts.Roles.Serve {
		var procs []*goka.Processor
		for _, c := range p.Processors {
			procs = append(procs, c.Goka())
		}
		srv, err := api.New(api.Options{
			Processors: procs,
			Conn:       p.conn,
			Tables:     cfg.Tables,
			Listen:     cfg.API.Listen,
			Tokens:     cfg.API.Tokens,
			StorageDir: storageDir(),
			ClientID:   clientID,
			Registry:   p.Registry,
			Gatherer:   p.Registry,
			Logger:     p.log,
		})
		if err != nil {
			return nil, err
		}
		p.API = srv
	}
	ok = true
	return p, nil
}

// Conn is the pipeline's Kafka connection.
func (p *Pipeline) Conn() *kafka.Conn { return p.conn }

// ApplyTopics creates the topics the topology needs that do not exist yet.
func ApplyTopics(ctx context.Context, conn *kafka.Conn, cfg *topology.Config, log *slog.Logger) ([]string, error) {
	cl, err := conn.Client()
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	created, err := kafka.EnsureTopics(ctx, kadm.NewClient(cl), cfg.Topics(), cfg.Kafka.ReplicationFactor, cfg.Kafka.MinInsyncReplicas)
	for _, t := range created {
		log.Info("created topic", "topic", t)
	}
	return created, err
}

// Run runs every component until ctx ends or one fails, then stops them all, giving
// in-flight work up to the configured shutdown timeout to drain and commit.
func (p *Pipeline) Run(ctx context.Context) error {
	defer p.close()
	runCtx, cancel := context.WithCancel(context.Background())
	defer cancel()

	var wg sync.WaitGroup
	errs := make(chan error, len(p.Processors)+len(p.Sinks)+len(p.snapshots)+2)
	start := func(name string, run func(context.Context) error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := run(runCtx); err != nil && !errors.Is(err, context.Canceled) {
				errs <- fmt.Errorf("%s: %w", name, err)
			}
		}()
	}
	for _, c := range p.Processors {
		start("processor "+c.Table().Name, c.Run)
	}
	if p.API != nil {
		start("api", p.API.Run)
	}
	if p.Bridge != nil {
		start("bridge", p.Bridge.Run)
	}
	for i, l := range p.Sinks {
		start(fmt.Sprintf("sink %d", i), l.Run)
	}
	for _, j := range p.snapshots {
		start("snapshots of "+j.opts.Table.Name, j.run)
	}
	if p.Collector != nil {
		drain := p.opts.Config.Processor.ShutdownTimeout
		start("collector", func(ctx context.Context) error { return p.Collector.Run(ctx, drain, p.opts.CollectorReady) })
	}
	if p.Events != nil {
		start("events processor", p.Events.Run)
	}

	var err error
	select {
	case <-ctx.Done():
		p.log.Info("shutting down: draining in-flight work")
	case err = <-errs:
		p.log.Error("component failed; stopping the rest", "error", err)
	}
	cancel()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	timeout := p.opts.Config.Processor.ShutdownTimeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	select {
	case <-done:
	case <-time.After(timeout):
		return errors.Join(err, fmt.Errorf("shutdown: components still running after %s", timeout))
	}
	return err
}

// Ready reports whether every component has recovered its state.
func (p *Pipeline) Ready() bool {
	for _, c := range p.Processors {
		if !c.Recovered() {
			return false
		}
	}
	return p.API == nil || p.API.Ready()
}

// Status sums the processors' counters, for status lines.
type Status struct {
	processors.Counts
	Keys, Lag int64
	// Bridge is the bridge's progress; zero without one.
	Bridge dynamodb.Status
	// Flushed counts the records the sinks flushed and committed.
	Flushed int64
}

// Status returns the processors' running totals.
func (p *Pipeline) Status() Status {
	var s Status
	for _, c := range p.Processors {
		n := c.Counts()
		s.In += n.In
		s.Applied += n.Applied
		s.Stale += n.Stale
		s.Duplicate += n.Duplicate
		s.Invalid += n.Invalid
		s.Rekeyed += n.Rekeyed
		s.Keys += c.Keys()
		s.Lag += c.Lag()
	}
	if p.Bridge != nil {
		s.Bridge = p.Bridge.Status()
	}
	for _, l := range p.Sinks {
		s.Flushed += l.Flushed()
	}
	return s
}

func (p *Pipeline) close() {
	for _, c := range p.closers {
		c()
	}
	p.closers = nil
	if p.ownConn && p.conn != nil {
		p.conn.Close()
		p.conn = nil
	}
}
