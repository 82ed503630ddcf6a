package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/streamhub/streamhub/pipeline"
	"github.com/streamhub/streamhub/sources/synthetic"
	"github.com/streamhub/streamhub/topology"
)

const devHelp = `Usage: streamhub dev [flags]

Runs the whole platform in one process with nothing to install:
  - an embedded Kafka broker (a real wire-protocol broker; kcat and other clients can connect),
  - a synthetic DynamoDB Streams workload for a "users" table (INSERT / MODIFY / REMOVE, some
    changes delivered twice, some out of order, items deleted and re-created) produced into
    dev.users.cdc as DynamoDB Streams records,
  - the CDC latest-state processor, and
  - the view API.
It prints the URLs and a ready-to-paste curl, then a status line every few seconds.
Ctrl-C shuts down cleanly; --duration stops it by itself.
`

func cmdDev(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("dev", devHelp, stderr)
	duration := fs.Duration("duration", 0, "stop after this long (0 runs until Ctrl-C)")
	rate := fs.Int("rate", 50, "synthetic changes per second")
	items := fs.Int("items", 100, "distinct items in the synthetic users table (few items: more re-creates and out-of-order changes)")
	kafkaListen := fs.String("kafka-listen", "127.0.0.1:9092", "where the embedded broker listens")
	apiListen := fs.String("api-listen", "127.0.0.1:8080", "where the view API listens")
	every := fs.Duration("status-every", 5*time.Second, "how often to print the status line")
	logLevel := fs.String("log-level", "warn", "log level: debug, info, warn, error")
	seed := fs.Uint64("seed", uint64(time.Now().UnixNano()), "workload seed (same seed, same workload)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *rate < 1 {
		return fmt.Errorf("--rate: must be at least 1, got %d", *rate)
	}
	log, err := newLogger(stderr, *logLevel)
	if err != nil {
		return err
	}
	if *duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *duration)
		defer cancel()
	}

	cfg := topology.DevConfig()
	cfg.Kafka.EmbeddedListen = *kafkaListen
	cfg.API.Listen = *apiListen
	p, err := pipeline.New(ctx, pipeline.Options{
		Config:        cfg,
		Roles:         pipeline.Roles{Process: true, Serve: true},
		MemoryStorage: true,
		Logger:        log,
	})
	if err != nil {
		return err
	}
	table := cfg.Tables[0]

	// The workload's client is made before the pipeline runs: dev without its workload is
	// an error, not a log line; and no other client of the Conn is being made at the same
	// time (kgo.NewClient writes into the compression option's slice, which every client
	// of a Conn shares, so two at once race).
	cl, clientErr := p.Conn().Client(kgo.DefaultProduceTopic(table.Topic))
	runCtx := ctx
	if clientErr != nil {
		var cancel context.CancelFunc
		runCtx, cancel = context.WithCancel(ctx)
		cancel() // Run then only releases the pipeline's connection
	}
	runErr := make(chan error, 1)
	go func() { runErr <- p.Run(runCtx) }()
	if clientErr != nil {
		return errors.Join(fmt.Errorf("synthetic producer: %w", clientErr), <-runErr)
	}
	defer cl.Close()

	produced := make(chan int64, 1)
	go func() { produced <- produce(ctx, cl, *rate, *items, *seed, log) }()

	for p.API.Addr() == "" {
		select {
		case err := <-runErr:
			return err
		case <-time.After(20 * time.Millisecond):
		}
	}
	banner(stdout, p.Conn().Brokers(), p.API.Addr(), table)

	start := time.Now()
	tick := time.NewTicker(*every)
	defer tick.Stop()
	for {
		select {
		case err := <-runErr:
			<-produced // ctx is done: the producer stops too
			// Keys and lag are not shown: the stopped processors have given up their partitions.
			s := p.Status()
			fmt.Fprintf(stdout, "stopped after %s: events in %d (applied %d, stale %d, duplicate %d, invalid %d)\n",
				time.Since(start).Round(time.Second), s.In, s.Applied, s.Stale, s.Duplicate, s.Invalid)
			return err
		case <-tick.C:
			fmt.Fprintf(stdout, "[%s] %s\n", time.Since(start).Round(time.Second), statusLine(p.Status()))
		}
	}
}

func statusLine(s pipeline.Status) string {
	return fmt.Sprintf("events in %d (applied %d, stale %d, duplicate %d, invalid %d) · keys %d · lag %d",
		s.In, s.Applied, s.Stale, s.Duplicate, s.Invalid, s.Keys, s.Lag)
}

func banner(w io.Writer, brokers []string, apiAddr string, t topology.Table) {
	base := "http://" + apiAddr
	q := url.Values{"pk": {"user#1"}, "sk": {"profile"}}
	fmt.Fprintf(w, `streamhub dev is running.

  Kafka (embedded)  %s      topic %s → table topic %s
  View API          %s/v1/tables
  Metrics           %s/metrics
  Readiness         %s/readyz

Look an item up (the synthetic workload writes user#0 .. user#N with sk=profile):
  curl -s '%s/v1/tables/%s/item?%s'
  curl -s '%s/v1/tables/%s/items?%s&limit=10'

Ctrl-C stops.
`, brokers[0], t.Topic, t.TableTopic(), base, base, base,
		base, t.Name, q.Encode(), base, t.Name, url.Values{"pk": {"user#1"}}.Encode())
}

// produce feeds the synthetic workload into the CDC topic (cl's default produce topic) at
// rate changes per second until ctx ends, and returns the number of records produced.
func produce(ctx context.Context, cl *kgo.Client, rate, items int, seed uint64, log *slog.Logger) int64 {
	gen := synthetic.New(synthetic.Options{Items: items, Seed: seed})
	var n int64
	tick := time.NewTicker(time.Second / time.Duration(min(rate, 1000)))
	defer tick.Stop()
	perTick := max(1, rate/1000)
	for {
		select {
		case <-ctx.Done():
			return n
		case <-tick.C:
		}
		for range perTick {
			for _, d := range gen.Next() {
				n++
				cl.Produce(ctx, &kgo.Record{Key: []byte(d.Key), Value: d.Value}, func(_ *kgo.Record, err error) {
					if err != nil && ctx.Err() == nil {
						log.Warn("synthetic producer", "error", err)
					}
				})
			}
		}
	}
}

func newQuietLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelWarn}))
}
