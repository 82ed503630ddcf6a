package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/streamhub/streamhub/pipeline"
	"github.com/streamhub/streamhub/topology"
)

const rolesHelp = `Usage: streamhub %[1]s -c FILE [flags]

%[2]s

SIGINT or SIGTERM drains in-flight work, commits and exits.
`

var roleSummaries = map[string]string{
	"run":     "Runs every role the topology enables (the bridge when there are dynamodb sources unless bridge.enabled is false, processors unless processor.enabled is false, the view API unless api.enabled is false, the sinks when there are any) in one process.",
	"emit":    "Runs the topology's sinks: raw topics flushed to the lake (s3 or file: JSON Lines + gzip or Parquet, partitioned by record time, exactly once per offset) and state snapshots of the sinks' tables on a schedule. Instances of one sink share its partitions through the consumer group <env>.streamhub.sink.<name>. Health, readiness and metrics are served on --ops-listen.",
	"bridge":  "Copies the DynamoDB Streams of the topology's dynamodb sources into the tables' CDC topics, exactly once: each GetRecords batch and its shard checkpoint are one Kafka transaction. Start several instances with the same topology: they share the shards through the consumer group bridge.group (leases are the partitions of bridge.checkpoint_topic), and a stopped instance's shards move to the others. AWS settings come from the SDK's standard chain (AWS_REGION, AWS_PROFILE, AWS_ENDPOINT_URL_DYNAMODB_STREAMS, ...) and the source's region, endpoint and role_arn. Health, readiness and metrics are served on --ops-listen.",
	"process": "Runs one CDC latest-state processor per table. Start several instances with the same topology: they share the table partitions through the consumer group, and a stopped instance's partitions move to the others. Health, readiness and metrics are served on --ops-listen.",
	"collect": collectSummary,
	"serve":   "Runs the view API over every table's latest state. Every instance holds every view, so instances scale out behind any load balancer.",
}

func cmdRoles(ctx context.Context, role string, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet(role, fmt.Sprintf(rolesHelp, role, roleSummaries[role]), stderr)
	file := fs.String("c", "", "topology file (required)")
	logLevel := fs.String("log-level", "info", "log level: debug, info, warn, error")
	instance := fs.String("instance", "", "instance name: separates client IDs and local storage of instances on one host")
	opsListen := fs.String("ops-listen", "127.0.0.1:9091", "process, bridge, emit: where /healthz, /readyz and /metrics are served")
	listen := fs.String("listen", "", "serve/run: override api.listen; collect: override collector.listen")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *file == "" {
		fmt.Fprintln(stderr, "-c FILE is required")
		fs.Usage()
		return errUsage
	}
	log, err := newLogger(stderr, *logLevel)
	if err != nil {
		return err
	}
	cfg, err := topology.Load(*file)
	if err != nil {
		return err
	}
	if *listen != "" {
		if role == "collect" && cfg.Collector != nil {
			cfg.Collector.Listen = *listen
		} else {
			cfg.API.Listen = *listen
		}
	}
	roles := pipeline.Roles{}
	switch role {
	case "process":
		roles.Process = true
	case "serve":
		roles.Serve = true
	case "bridge":
		if !cfg.BridgeOn() {
			return fmt.Errorf("%s: nothing to bridge: the topology has no dynamodb source (or bridge.enabled is false)", cfg.Path)
		}
		roles.Bridge = true
	case "emit":
		if len(cfg.Sinks) == 0 {
			return fmt.Errorf("%s: nothing to emit: the topology has no sinks", cfg.Path)
		}
		roles.Emit = true
	case "collect":
		if cfg.Collector == nil {
			return fmt.Errorf("%s: nothing to collect: the topology has no collector section", cfg.Path)
		}
		roles.Collect = true
	case "run":
		roles.Collect = cfg.Collector != nil
		roles.Process = cfg.Processor.On()
		roles.Serve = cfg.API.On()
		roles.Bridge = cfg.BridgeOn()
		roles.Emit = len(cfg.Sinks) > 0
	}
	p, err := pipeline.New(ctx, pipeline.Options{Config: cfg, Roles: roles, InstanceID: *instance, Logger: log})
	if err != nil {
		return err
	}
	if p.API == nil {
		addr, stopOps, err := serveOps(*opsListen, p)
		if err != nil {
			return err
		}
		defer stopOps()
		log.Info("ops endpoints", "url", "http://"+addr+"/metrics")
	}
	return p.Run(ctx)
}

// serveOps serves health, readiness and metrics for a process without the view API.
func serveOps(addr string, p *pipeline.Pipeline) (string, func(), error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", nil, fmt.Errorf("--ops-listen %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintln(w, `{"status":"ok"}`)
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if !p.Ready() {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintln(w, `{"status":"recovering"}`)
			return
		}
		fmt.Fprintln(w, `{"status":"ready"}`)
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(p.Registry, promhttp.HandlerOpts{}))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	return ln.Addr().String(), func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	}, nil
}
