// Command streamhub-lambda is the Lambda mode of the DynamoDB Streams → Kafka bridge: an
// AWS Lambda function behind a DynamoDB event source mapping that writes each stream
// record into the table's raw CDC topic, with the same key and value bytes as the polling
// bridge (`streamhub bridge`). Each batch is one Kafka transaction; see package
// sources/dynamodb/lambda for what can still be written twice.
//
// It is configured by environment variables only (run it with --help for the list) and
// runs on the provided.al2023 runtime as a static binary named bootstrap:
//
//	CGO_ENABLED=0 GOOS=linux GOARCH=arm64 go build -tags lambda.norpc -o bootstrap ./cmd/streamhub-lambda
package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"text/tabwriter"

	awslambda "github.com/aws/aws-lambda-go/lambda"

	ddblambda "github.com/streamhub/streamhub/sources/dynamodb/lambda"
)

func main() {
	os.Exit(run(os.Args[1:], os.Getenv, os.Stdout, os.Stderr, start))
}

// start hands the handler to the Lambda runtime; it returns only if the runtime API
// fails (aws-lambda-go then exits the process itself).
func start(h *ddblambda.Handler) {
	awslambda.StartWithOptions(h.Handle, awslambda.WithEnableSIGTERM(h.Close))
}

// run is main without the process: it returns the exit code.
func run(args []string, getenv func(string) string, stdout, stderr io.Writer, start func(*ddblambda.Handler)) int {
	for _, a := range args {
		switch a {
		case "-h", "-help", "--help", "help":
			usage(stdout)
			return 0
		default:
			fmt.Fprintf(stderr, "streamhub-lambda: unknown argument %q: the function is configured by environment variables\n\n", a)
			usage(stderr)
			return 2
		}
	}
	if getenv("AWS_LAMBDA_RUNTIME_API") == "" && getenv("_LAMBDA_SERVER_PORT") == "" {
		fmt.Fprintln(stderr, "streamhub-lambda: AWS_LAMBDA_RUNTIME_API is not set: this program runs inside AWS Lambda "+
			"(or the Lambda Runtime Interface Emulator); see --help")
		return 2
	}

	log := slog.New(slog.NewJSONHandler(stderr, nil))
	cfg, err := ddblambda.ConfigFromEnv(getenv)
	if err != nil {
		log.Error("configuration", "error", err.Error())
		return 1
	}
	cfg.Logger = log
	h, err := ddblambda.NewHandler(context.Background(), cfg)
	if err != nil {
		log.Error("start", "error", err.Error())
		return 1
	}
	log.Info("streamhub-lambda ready", "brokers", cfg.Kafka.Brokers, "topic", cfg.Topic, "dlq_topic", cfg.DLQTopic,
		"keys", cfg.Keys, "table", cfg.Table, "tls", cfg.Kafka.TLS != nil, "sasl", saslName(cfg),
		"compression", cfg.Kafka.Compression, "produce_timeout", cfg.Timeout.String())
	start(h)
	h.Close()
	return 1
}

func saslName(cfg ddblambda.Config) string {
	if cfg.Kafka.SASL == nil {
		return "none"
	}
	return cfg.Kafka.SASL.Mechanism
}

func usage(w io.Writer) {
	fmt.Fprint(w, `streamhub-lambda: AWS Lambda function for a DynamoDB Streams event source mapping.
Writes each stream record into the table's raw CDC topic in Kafka, with the same key
(the item key) and value bytes as "streamhub bridge". Records Kafka does not acknowledge
are reported as batch item failures (the mapping needs FunctionResponseTypes
ReportBatchItemFailures). Each batch is one Kafka transaction: a failed batch is aborted
and reported whole, so its retry writes each record once. A batch committed and then sent
again (the function died after its commit) is written twice; the processors' version
order ignores the second copy.

Build for the provided.al2023 runtime (the binary must be named bootstrap):
  CGO_ENABLED=0 GOOS=linux GOARCH=arm64 go build -tags lambda.norpc -o bootstrap ./cmd/streamhub-lambda

Environment:
`)
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	for _, v := range ddblambda.EnvVars {
		note := ""
		switch {
		case v.Required:
			note = " (required)"
		case v.Default != "":
			note = " (default: " + v.Default + ")"
		}
		fmt.Fprintf(tw, "  %s\t%s%s\n", v.Name, v.Help, note)
	}
	tw.Flush()
}
