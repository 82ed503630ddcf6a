package bench

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/streamhub/streamhub/kafka"
	"github.com/streamhub/streamhub/sources/collector"
	"github.com/streamhub/streamhub/topology"
)

// CollectorInProcess runs the collector benchmark against a real collector started in
// this process on a loopback port, writing to o.Kafka's brokers or, when o.Kafka has
// none, to an embedded broker started here. o.URL and o.APIKey are set for it; the rest of
// o is as for Collector. Collector, clients and broker share the machine's cores, as
// they do on a developer's machine running `streamhub dev`.
func CollectorInProcess(ctx context.Context, o CollectorOptions, logger *slog.Logger) (CollectorResult, error) {
	if logger == nil {
		logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	if o.Source == "" {
		o.Source = "bench"
	}
	if o.EventName == "" {
		o.EventName = "bench_event"
	}
	k := o.Kafka
	if len(k.Brokers) == 0 {
		k = topology.Kafka{Brokers: []string{topology.EmbeddedBrokers}, EmbeddedListen: "127.0.0.1:0"}
	} else if !k.Embedded() {
		k.EmbeddedListen = "" // a Conn's Kafka() keeps it from the embedded broker it started
	}
	const key = "bench-collector-key"
	cfg := &topology.Config{
		Env:   "bench",
		Kafka: k,
		Collector: &topology.Collector{
			Listen: "127.0.0.1:0",
			Keys:   []topology.CollectorKey{{Key: key, Source: o.Source, Events: []string{o.EventName}}},
			Events: []topology.EventType{{Name: o.EventName}},
		},
	}
	cfg.EnsureDefaults()
	if err := cfg.Validate(); err != nil {
		return CollectorResult{}, err
	}
	conn, err := kafka.Connect(ctx, cfg.Kafka)
	if err != nil {
		return CollectorResult{}, err
	}
	defer conn.Close()
	// Topic creation is the first request's cost in production; here it would be the
	// benchmark's, so the event topic exists before the clock starts.
	topic := cfg.Collector.EventTopic(cfg.Env, o.EventName, o.Source)
	specs := append(cfg.Topics(), topology.TopicSpec{Name: topic, Partitions: cfg.Collector.Partitions})
	if _, err := conn.EnsureTopics(ctx, specs); err != nil {
		return CollectorResult{}, err
	}
	col, err := collector.New(collector.Options{
		Config: cfg, Conn: conn, Registry: prometheus.NewRegistry(), Logger: logger,
		InstanceID: fmt.Sprintf("bench-%d-%d", os.Getpid(), time.Now().UnixNano()),
	})
	if err != nil {
		return CollectorResult{}, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return CollectorResult{}, err
	}
	served := make(chan error, 1)
	go func() { served <- col.Serve(ln) }()
	defer func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		col.Shutdown(sctx)
		ln.Close() // in case Shutdown came before Serve had started
		<-served
	}()

	o.URL, o.APIKey, o.Kafka = "http://"+ln.Addr().String(), key, conn.Kafka()
	if o.RawPartitions <= 0 {
		o.RawPartitions = cfg.Collector.Partitions
	}
	res, err := Collector(ctx, o)
	res.InProcess = true
	return res, err
}
