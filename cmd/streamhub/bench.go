package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/streamhub/streamhub/bench"
	"github.com/streamhub/streamhub/internal/pgdsn"
	"github.com/streamhub/streamhub/topology"
)

const benchHelp = `Usage: streamhub bench [all|processor|bridge|collector|lake|postgres|latency] [flags]

With no stage (or "all"), every stage runs in sequence, each against the raw speed of its
medium measured in the same run, and one table is printed on stdout: stage, rate, raw medium
and its rate, the ratio, and the p99 latency where the stage has one. Progress goes to
stderr. Only the ratios travel between machines; these machines are noisy.

  streamhub bench                      every stage at full size (a few minutes)
  streamhub bench --quick --json       small sizes (seconds), as JSON
  streamhub bench --stages lake,postgres --markdown
  streamhub bench --readme README.md   also rewrite the README's table between its
                                       <!-- bench:begin --> and <!-- bench:end --> markers
  streamhub bench --from run.json --readme README.md   the same from a saved --json run

Stages:
%s
"streamhub bench lake|postgres|latency" is "streamhub bench --stages lake" and so on.
"streamhub bench processor|bridge|collector" run one benchmark on its own with its own
flags and report (-h on each):

bench processor: N DynamoDB Streams records over K keys are produced, consumed raw with
franz-go (the speed of the medium), then processed by streamhub's CDC processor and, as a
yardstick, by a plain goka processor (goka's defaults, goleveldb, encoding/json). Reports
events/s and the ratios to raw consumption and to the plain processor.

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

// benchUsage is benchHelp with the suite's stages.
func benchUsage() string {
	var b strings.Builder
	for _, st := range bench.SuiteStages() {
		fmt.Fprintf(&b, "  %-10s %s\n", st.Name, wrap(st.Help, 90, "             "))
	}
	return fmt.Sprintf(benchHelp, b.String())
}

// wrap breaks s into lines of at most width characters, continuing lines with indent.
func wrap(s string, width int, indent string) string {
	var b strings.Builder
	n := 0
	for i, w := range strings.Fields(s) {
		if i > 0 && n+1+len([]rune(w)) > width-len(indent) {
			b.WriteString("\n" + indent)
			n = 0
		} else if i > 0 {
			b.WriteByte(' ')
			n++
		}
		b.WriteString(w)
		n += len([]rune(w))
	}
	return b.String()
}

func cmdBench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 {
		switch args[0] {
		case "processor":
			return benchProcessor(ctx, args[1:], stdout, stderr)
		case "bridge":
			return benchBridge(ctx, args[1:], stdout, stderr)
		case "collector":
			return benchCollector(ctx, args[1:], stdout, stderr)
		case "all":
			return benchSuite(ctx, args[1:], stdout, stderr)
		case bench.StageLake, bench.StagePostgres, bench.StageLatency:
			return benchSuite(ctx, append([]string{"--stages", args[0]}, args[1:]...), stdout, stderr)
		}
	}
	return benchSuite(ctx, args, stdout, stderr)
}

func benchSuite(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("bench", benchUsage(), stderr)
	stages := fs.String("stages", "all", "comma-separated stages to run: "+strings.Join(benchStageNames(), ","))
	quick := fs.Bool("quick", false, "small sizes: seconds per stage, for tests and smoke runs (the rates then measure start-up)")
	asJSON := fs.Bool("json", false, "print the result as JSON")
	markdown := fs.Bool("markdown", false, "print the table as Markdown")
	readme := fs.String("readme", "", "rewrite the table between the bench markers of this Markdown file (README.md)")
	from := fs.String("from", "", "render this saved --json result instead of running the stages")
	dsn := fs.String("postgres", pgdsn.Get(), "PostgreSQL DSN of the postgres stage; unreachable: the stage is skipped")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *asJSON && *markdown {
		return fmt.Errorf("bench: --json and --markdown: pick one")
	}
	list, err := bench.ParseStages(*stages)
	if err != nil {
		return fmt.Errorf("bench: --stages: %w", err)
	}
	var res bench.SuiteResult
	if *from != "" {
		b, err := os.ReadFile(*from)
		if err != nil {
			return fmt.Errorf("bench: --from: %w", err)
		}
		if err := json.Unmarshal(b, &res); err != nil {
			return fmt.Errorf("bench: --from %s: not a streamhub bench --json result: %w", *from, err)
		}
	} else {
		cmd := "streamhub bench"
		if *quick {
			cmd += " --quick"
		}
		if len(list) > 0 {
			cmd += " --stages " + strings.Join(list, ",")
		}
		if *dsn != pgdsn.Get() {
			cmd += " --postgres DSN"
		}
		res, err = bench.Suite(ctx, bench.SuiteOptions{Stages: list, Quick: *quick, PostgresDSN: *dsn, Command: cmd, Progress: stderr})
		if err != nil && len(res.Rows) == 0 {
			return err
		}
	}
	switch {
	case *asJSON:
		err = res.WriteJSON(stdout)
	case *markdown:
		err = res.WriteMarkdown(stdout)
	default:
		err = res.WriteText(stdout)
	}
	if err != nil {
		return err
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if res.Failed() {
		if *readme != "" {
			return fmt.Errorf("bench: a stage failed (see its row); %s not rewritten", *readme)
		}
		return fmt.Errorf("bench: a stage failed (see its row)")
	}
	if *readme != "" {
		doc, err := os.ReadFile(*readme)
		if err != nil {
			return fmt.Errorf("bench: --readme: %w", err)
		}
		out, err := bench.UpdateReadme(doc, res.ReadmeSection())
		if err != nil {
			return fmt.Errorf("bench: --readme %s: %w", *readme, err)
		}
		if err := os.WriteFile(*readme, out, 0o644); err != nil {
			return fmt.Errorf("bench: --readme: %w", err)
		}
		fmt.Fprintf(stderr, "wrote the table into %s\n", *readme)
	}
	return nil
}

func benchStageNames() []string {
	var names []string
	for _, st := range bench.SuiteStages() {
		names = append(names, st.Name)
	}
	return names
}

func benchProcessor(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("bench processor", benchUsage(), stderr)
	records := fs.Int("records", 1_000_000, "CDC records to process")
	keys := fs.Int("keys", 100_000, "distinct items")
	partitions := fs.Int("partitions", 8, "partitions of the CDC and table topics")
	baseline := fs.Bool("baseline", true, "also run a plain goka processor (goka defaults, encoding/json) over the same topic")
	cpuprofile := fs.String("cpuprofile", "", "write a CPU profile of the processor phase to this file")
	if err := parseFlags(fs, args); err != nil {
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
	fs := newFlagSet("bench bridge", benchUsage(), stderr)
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
	fs := newFlagSet("bench collector", benchUsage(), stderr)
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
