package main

import (
	"context"
	"fmt"
	"io"

	"github.com/streamhub/streamhub/kafka"
	"github.com/streamhub/streamhub/pipeline"
	"github.com/streamhub/streamhub/topology"
)

const topologyHelp = `Usage: streamhub topology <validate|print|apply> -c FILE

  validate   load the file, apply defaults and report every problem with file:line, field
             and value; exit status 1 when there is any
  print      show the pipeline graph: sources → topics → tables → sinks (secrets hidden)
  apply      connect to the brokers and create the topics the pipeline needs that are
             missing: CDC topics, compacted state topics, the DLQ, with the configured
             partitions, replication factor and min.insync.replicas
`

func cmdTopology(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stderr, topologyHelp)
		if len(args) == 0 {
			return errUsage
		}
		return nil
	}
	sub := args[0]
	fs := newFlagSet("topology "+sub, topologyHelp, stderr)
	file := fs.String("c", "", "topology file (required)")
	if err := parseFlags(fs, args[1:]); err != nil {
		return err
	}
	if *file == "" {
		fmt.Fprintln(stderr, "-c FILE is required")
		fs.Usage()
		return errUsage
	}
	switch sub {
	case "validate", "print", "apply":
	default:
		fmt.Fprintf(stderr, "unknown topology command %q\n\n%s", sub, topologyHelp)
		return errUsage
	}
	cfg, err := topology.Load(*file)
	if err != nil {
		return err
	}
	switch sub {
	case "validate":
		fmt.Fprintf(stdout, "%s: ok (%d tables, %d topics)\n", *file, len(cfg.Tables), len(cfg.Topics()))
		return nil
	case "print":
		topology.Print(stdout, cfg)
		return nil
	}
	if cfg.Kafka.Embedded() {
		return fmt.Errorf("%s: kafka.brokers is \"embedded\": the embedded broker lives only as long as the process that runs it, and `streamhub run` or `dev` creates the topics itself; apply is for real brokers", *file)
	}
	conn, err := kafka.Connect(ctx, cfg.Kafka)
	if err != nil {
		return err
	}
	defer conn.Close()
	if err := conn.Ping(ctx); err != nil {
		return err
	}
	created, err := pipeline.ApplyTopics(ctx, conn, cfg, newQuietLogger(stderr))
	for _, t := range created {
		fmt.Fprintf(stdout, "created %s\n", t)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%d topics created, %d already present\n", len(created), len(cfg.Topics())-len(created))
	return nil
}
