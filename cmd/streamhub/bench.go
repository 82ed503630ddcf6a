package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/streamhub/streamhub/bench"
	"github.com/streamhub/streamhub/topology"
)

const benchHelp = `Usage: streamhub bench processor|bridge|collector [flags]

bench processor: measures the CDC latest-state processor on an embedded broker: N DynamoDB Streams records
over K keys are produced, consumed raw with franz-go (the speed of the medium), then
processed by streamhub's CDC processor and, as a yardstick, by a plain goka processor
(goka's defaults, goleveldb, encoding/json). Reports events/s and the ratios to raw
consumption and to the plain processor, all measured in the same run, because only ratios
travel between machines.

bench bridge: writes N changes into an in-process DynamoDB Streams server (ddbtest), produces
the same record bytes with one transactional franz-go client (1000 records per transaction:
the speed of the medium), then lets the bridge drain the stream through the AWS SDK into
Kafka transactions, and reports records/s and the ratio.

bench collector: N Go clients (sources/collector/client) send events (~420 bytes) in batches
of 100 to the event collector over loopback HTTP; reports events/s accepted (each one
committed to Kafka before its 200) and the ratio to raw franz-go produce (acks=all) of the
same events to the same broker in the same run. Without --url it starts an embedded broker
and a collector in this process; with --url it loads a running collector, whose broker
--brokers names.
`

func cmdBench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "bridge" {
		return benchBridge(ctx, args[1:], stdout, stderr)
	}
	if len(args) > 0 && args[0] == "collector" {
		return benchCollector(ctx, args[1:], stdout, stderr)
	}
	if len(args) == 0 || args[0] != "processor" {
		fmt.Fprint(stderr, benchHelp)
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help") {
			return nil
		}
		return errUsage
	}
	fs := newFlagSet("bench processor", benchHelp, stderr)
	records := fs.Int("records", 1_000_000, "CDC records to process")
	keys := fs.Int("keys", 100_000, "distinct items")
	partitions := fs.Int("partitions", 8, "partitions of the CDC and table topics")
	baseline := fs.Bool("baseline", true, "also run a plain goka processor (goka defaults, encoding/json) over the same topic")
	cpuprofile := fs.String("cpuprofile", "", "write a CPU profile of the processor phase to this file")
	if err := parseFlags(fs, args[1:]); err != nil {
		return err
	}
	opts := bench.ProcessorOptions{Records: *records, Keys: *keys, Partitions: *partitions, Progress: stderr, Baseline: *baseline}
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			return err
		}
		defer f.Close()
		opts.CPUProfile = f
	}
	res, err := bench.Processor(ctx, opts)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, res)
	return nil
}

func benchBridge(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("bench bridge", benchHelp, stderr)
	records := fs.Int("records", 200_000, "stream records to bridge")
	shards := fs.Int("shards", 4, "shards of the stream")
	items := fs.Int("items", 10_000, "distinct items")
	cpuprofile := fs.String("cpuprofile", "", "write a CPU profile of the bridge phase to this file")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	opts := bench.BridgeOptions{Records: *records, Shards: *shards, Items: *items, Progress: stderr}
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			return err
		}
		defer f.Close()
		opts.CPUProfile = f
	}
	res, err := bench.Bridge(ctx, opts)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, res)
	return nil
}

func benchCollector(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("bench collector", benchHelp, stderr)
	events := fs.Int("events", 200_000, "events to send")
	clients := fs.Int("clients", 4, "concurrent Go clients")
	batch := fs.Int("batch", 100, "events per request")
	inflight := fs.Int("inflight", 2, "requests in flight per client")
	payload := fs.Int("payload", 200, "approximate payload bytes per event")
	gz := fs.Bool("gzip", false, "let the clients gzip their bodies")
	url := fs.String("url", "", "a running collector's base URL; empty starts one in this process on an embedded broker")
	key := fs.String("key", "", "API key for -url")
	brokers := fs.String("brokers", "", "comma-separated brokers the collector writes to (required with -url, for the raw produce)")
	compression := fs.String("compression", "lz4", "with -url: the compression of the raw produce; match the collector's kafka.compression")
	source := fs.String("source", "bench", "the events' source (with -url, the key must allow it)")
	event := fs.String("event", "bench_event", "the events' name (with -url, the key must allow it)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	opts := bench.CollectorOptions{
		Events: *events, Clients: *clients, Batch: *batch, InFlight: *inflight, PayloadBytes: *payload,
		Gzip: *gz, Source: *source, EventName: *event, Progress: stderr,
	}
	var res bench.CollectorResult
	var err error
	if *url == "" {
		res, err = bench.CollectorInProcess(ctx, opts, nil)
	} else {
		if *brokers == "" {
			return fmt.Errorf("bench collector: -brokers is required with -url")
		}
		opts.URL, opts.APIKey = *url, *key
		opts.Kafka = topology.Kafka{Brokers: strings.Split(*brokers, ","), Compression: *compression}
		res, err = bench.Collector(ctx, opts)
	}
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, res)
	return nil
}
