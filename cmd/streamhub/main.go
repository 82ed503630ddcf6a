// Command streamhub is the one binary of the streamhub platform: the local dev loop, the
// pipeline roles (process, serve, run) and topology tools.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
)

const usage = `streamhub — a streaming data-collection hub: DynamoDB Streams and event logs into Kafka,
latest-state tables, real-time lookups and warehouse emitters.

Usage:
  streamhub <command> [flags]

Commands:
  dev                  run everything embedded: Kafka broker, a synthetic DynamoDB Streams
                       workload, the latest-state processor, the view API, the event collector
                       and a file lake (no flags needed)
  run -c FILE          run every role the topology enables in one process
  bridge -c FILE       copy DynamoDB Streams into the CDC topics, exactly once (instances share shards)
  emit -c FILE         run the sinks: raw topics to the S3 / file lake exactly once, state snapshots
  process -c FILE      run the CDC latest-state processors (instances share partitions)
  serve -c FILE        run the view API (every instance holds every view)
  collect -c FILE      run the HTTP event collector (POST /v1/events) and the events processor
  status -c FILE       one screen of every stage's rate, lag, last flush and errors, refreshed like top
  topology validate -c FILE   check a topology file; every problem with file:line
  topology print -c FILE      show the pipeline graph: sources → topics → tables → sinks
  topology apply -c FILE      create the missing topics (partitions, replication, compaction)
  bench                every stage against the raw speed of its medium, one table (--json, --quick)
  bench processor      measure the processor against raw Kafka consumption (1M records)
  bench bridge         measure the bridge against raw transactional produce (200k records)
  bench collector      measure the event collector over loopback HTTP against raw Kafka produce (200k events)
  help [command]       show help for a command

Run 'streamhub <command> -h' for the flags of a command.
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run is main without the process exit, so tests can call it.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	cmd, rest := args[0], args[1:]
	var err error
	switch cmd {
	case "dev":
		err = cmdDev(ctx, rest, stdout, stderr)
	case "run":
		err = cmdRoles(ctx, "run", rest, stdout, stderr)
	case "process":
		err = cmdRoles(ctx, "process", rest, stdout, stderr)
	case "serve":
		err = cmdRoles(ctx, "serve", rest, stdout, stderr)
	case "bridge":
		err = cmdRoles(ctx, "bridge", rest, stdout, stderr)
	case "emit":
		err = cmdRoles(ctx, "emit", rest, stdout, stderr)
	case "collect":
		err = cmdRoles(ctx, "collect", rest, stdout, stderr)
	case "topology":
		err = cmdTopology(ctx, rest, stdout, stderr)
	case "bench":
		err = cmdBench(ctx, rest, stdout, stderr)
	case "status":
		err = cmdStatus(ctx, rest, stdout, stderr)
	case "help", "-h", "--help", "-help":
		if len(rest) > 0 {
			return run([]string{rest[0], "-h"}, stdout, stderr)
		}
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "streamhub: unknown command %q\n\n%s", cmd, usage)
		return 2
	}
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		return 2
	default:
		fmt.Fprintf(stderr, "streamhub %s: %v\n", cmd, err)
		return 1
	}
}

// errUsage marks an error already explained to the user with the command's usage.
var errUsage = errors.New("usage")

func newLogger(w io.Writer, level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level: want debug, info, warn or error, got %q", level)
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l})), nil
}

func newFlagSet(name, help string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, help)
		fmt.Fprintln(stderr, "\nFlags:")
		fs.PrintDefaults()
	}
	return fs
}

func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(fs.Output(), "unexpected argument %q\n", fs.Arg(0))
		fs.Usage()
		return errUsage
	}
	return nil
}
