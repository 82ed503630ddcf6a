package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/streamhub/streamhub/emitters/warehouse"
	"github.com/streamhub/streamhub/kafka"
	"github.com/streamhub/streamhub/pipeline"
	"github.com/streamhub/streamhub/topology"
)

const topologyHelp = `Usage: streamhub topology <validate|print|apply|ddl> -c FILE [--target postgres|redshift|snowflake]

  validate   load the file, apply defaults and report every problem with file:line, field
             and value; exit status 1 when there is any
  print      show the pipeline graph: sources → topics → tables → sinks (secrets hidden)
  apply      connect to the brokers and create the topics the pipeline needs that are
             missing: CDC topics, compacted state topics, the DLQ, with the configured
             partitions, replication factor and min.insync.replicas
  ddl        print the warehouse DDL of every warehouse sink's tables (state tables of its
             tables, event tables of its topics, the offsets table); --target picks the
             dialect, default: each sink's own type
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
	target := fs.String("target", "", "ddl: postgres, redshift or snowflake (default: each sink's type)")
	if err := parseFlags(fs, args[1:]); err != nil {
		return err
	}
	if *file == "" {
		fmt.Fprintln(stderr, "-c FILE is required")
		fs.Usage()
		return errUsage
	}
	switch sub {
	case "validate", "print", "apply", "ddl":
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
	case "ddl":
		return printDDL(stdout, cfg, *target)
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

// printDDL writes the DDL of every warehouse sink, in the sink's dialect or target's.
func printDDL(w io.Writer, cfg *topology.Config, target string) error {
	switch target {
	case "", topology.SinkPostgres, topology.SinkRedshift, topology.SinkSnowflake:
	default:
		return fmt.Errorf("--target: want postgres, redshift or snowflake, got %q", target)
	}
	n := 0
	for _, s := range cfg.Sinks {
		if !s.Warehouse() {
			continue
		}
		n++
		dialect := target
		if dialect == "" {
			dialect = s.Type
		}
		fmt.Fprintf(w, "-- sink %s (%s), %s dialect\n", s.Name, s.Type, dialect)
		var stmts []string
		stmts = append(stmts, warehouse.OffsetsDDL(dialect, s.Schema)...)
		for _, name := range s.Tables {
			t, _ := cfg.Table(name)
			stmts = append(stmts, warehouse.DDL(dialect, warehouse.StateTable(t, s.Schema, s.Deletes))...)
		}
		for _, topic := range s.Topics {
			stmts = append(stmts, warehouse.DDL(dialect, warehouse.EventTable(topic, s.Schema))...)
		}
		for _, st := range stmts {
			fmt.Fprintf(w, "%s;\n", strings.TrimRight(st, "; \n"))
		}
		if dialect == topology.SinkRedshift {
			streamingIngestion(w, cfg, s)
		}
		fmt.Fprintln(w)
	}
	if n == 0 {
		return fmt.Errorf("%s: no warehouse sink (postgres, redshift, snowflake) in the topology", cfg.Path)
	}
	return nil
}

// streamingIngestion prints Redshift's code-less path for the sink's topics and its tables'
// CDC topics: an external schema over the MSK cluster and, per topic, a materialized view
// refreshed by Redshift itself that exposes each record's value as SUPER.
func streamingIngestion(w io.Writer, cfg *topology.Config, s topology.Sink) {
	auth := "AUTHENTICATION none"
	if cfg.Kafka.SASL != nil && cfg.Kafka.SASL.Mechanism == topology.SASLAWSMSKIAM {
		role := s.CopyRoleARN
		if role == "" {
			role = "<iam-role-arn>"
		}
		auth = fmt.Sprintf("IAM_ROLE '%s' AUTHENTICATION iam", role)
	}
	cluster := s.MSKClusterARN
	if cluster == "" {
		cluster = "<msk-cluster-arn>"
	}
	fmt.Fprintf(w, "-- streaming ingestion: Redshift reads the topics from MSK itself\n")
	fmt.Fprintf(w, "CREATE EXTERNAL SCHEMA IF NOT EXISTS \"streamhub_msk\" FROM MSK %s CLUSTER_ARN '%s';\n", auth, cluster)
	topics := append([]string(nil), s.Topics...)
	for _, name := range s.Tables {
		if t, ok := cfg.Table(name); ok {
			topics = append(topics, t.Topic)
		}
	}
	for _, topic := range topics {
		view := warehouse.Qualified(s.Schema, warehouse.Sanitize(topic)+"_stream")
		fmt.Fprintf(w, "CREATE MATERIALIZED VIEW %s AUTO REFRESH YES AS\n"+
			"  SELECT kafka_partition, kafka_offset, kafka_timestamp, kafka_key, JSON_PARSE(kafka_value) AS value, kafka_headers\n"+
			"  FROM \"streamhub_msk\".%s\n  WHERE CAN_JSON_PARSE(kafka_value);\n", view, warehouse.Quote(topic))
	}
}
