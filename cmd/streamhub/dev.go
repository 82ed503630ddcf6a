package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/streamhub/streamhub/pipeline"
	"github.com/streamhub/streamhub/sources/dynamodb"
	"github.com/streamhub/streamhub/sources/dynamodb/ddbtest"
	"github.com/streamhub/streamhub/state"
	"github.com/streamhub/streamhub/topology"
)

const devHelp = `Usage: streamhub dev [flags]

Runs the whole platform in one process with nothing to install:
  - an embedded Kafka broker (a real wire-protocol broker; kcat and other clients can connect),
  - an in-process DynamoDB Streams API server (ddbtest) with a "users" table whose stream has
    4 shards; a synthetic workload puts, updates, deletes and re-creates items in it, and one
    shard is split during the run,
  - the bridge, which copies the stream into dev.users.cdc exactly once (Kafka transactions),
  - the CDC latest-state processor,
  - a file data lake in ./streamhub-data/lake: the CDC topic as JSON Lines + gzip every 10 s
    (zcat reads it) and a Parquet snapshot of the table every minute, and
  - the view API, and
  - the event collector (POST /v1/events, no API key) into dev.<source>.<event_name> topics.
It prints the URLs and a ready-to-paste curl, then a status line every few seconds.
Ctrl-C shuts down cleanly; --duration stops it by itself.
`

func cmdDev(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("dev", devHelp, stderr)
	duration := fs.Duration("duration", 0, "stop after this long (0 runs until Ctrl-C)")
	rate := fs.Int("rate", 50, "synthetic writes per second")
	items := fs.Int("items", 100, "distinct items in the synthetic users table (few items: more updates, deletes and re-creates)")
	kafkaListen := fs.String("kafka-listen", "127.0.0.1:9092", "where the embedded broker listens")
	apiListen := fs.String("api-listen", "127.0.0.1:8080", "where the view API listens")
	collectorListen := fs.String("collector-listen", "127.0.0.1:8081", "where the event collector listens (empty: no collector)")
	ddbListen := fs.String("dynamodb-listen", strings.TrimPrefix(topology.DevDynamoDBEndpoint, "http://"), "where the DynamoDB Streams API server listens")
	splitAfter := fs.Duration("split-after", 10*time.Second, "split a stream shard this long after the start (0: never)")
	lakeDir := fs.String("lake-dir", topology.DevLakeDir, "where the file lake is written")
	pgDSN := fs.String("postgres", "", "also mirror the users table into PostgreSQL at this DSN (e.g. postgres://postgres@127.0.0.1:5432/test?sslmode=disable), as table streamhub_dev.users")
	every := fs.Duration("status-every", 5*time.Second, "how often to print the status line")
	logLevel := fs.String("log-level", "warn", "log level: debug, info, warn, error")
	seed := fs.Uint64("seed", uint64(time.Now().UnixNano()), "workload seed (same seed, same workload)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *rate < 1 {
		return fmt.Errorf("--rate: must be at least 1, got %d", *rate)
	}
	if *items < 1 {
		return fmt.Errorf("--items: must be at least 1, got %d", *items)
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

	ddb, err := ddbtest.Start(*ddbListen)
	if err != nil {
		return fmt.Errorf("--dynamodb-listen %s: %w", *ddbListen, err)
	}
	defer ddb.Close()
	if _, err := ddb.CreateTable(ddbtest.TableSpec{Name: "users", HashKey: "pk", RangeKey: "sk", Shards: 4}); err != nil {
		return err
	}

	cfg := topology.DevConfig()
	cfg.Kafka.EmbeddedListen = *kafkaListen
	cfg.API.Listen = *apiListen
	cfg.Sources[0].Endpoint = ddb.URL()
	cfg.Sinks[0].Dir = *lakeDir
	if *pgDSN != "" {
		cfg.Sinks = append(cfg.Sinks, topology.Sink{
			Name: "pg", Type: topology.SinkPostgres, DSN: *pgDSN, Schema: "streamhub_dev",
			Tables: []string{"users"}, Buffer: topology.Buffer{FlushTime: 2 * time.Second},
		})
		cfg.EnsureDefaults()
		if err := cfg.Validate(); err != nil {
			return fmt.Errorf("--postgres: %w", err)
		}
	}
	collectorAddr := make(chan string, 1)
	if *collectorListen != "" {
		cfg.Collector = &topology.Collector{Listen: *collectorListen}
		cfg.EnsureDefaults()
		if err := cfg.Validate(); err != nil {
			return fmt.Errorf("--collector-listen: %w", err)
		}
	}
	p, err := pipeline.New(ctx, pipeline.Options{
		Config:         cfg,
		Roles:          pipeline.Roles{Bridge: true, Process: true, Serve: true, Emit: true, Collect: cfg.Collector != nil},
		MemoryStorage:  true,
		Logger:         log,
		Bridge:         dynamodb.Options{AWS: devAWSConfig()},
		CollectorReady: func(addr string) { collectorAddr <- addr },
	})
	if err != nil {
		return err
	}
	table := cfg.Tables[0]

	runErr := make(chan error, 1)
	go func() { runErr <- p.Run(ctx) }()
	written := make(chan int64, 1)
	// The writer reports splits here; only this goroutine writes to stdout.
	events := make(chan string, 8)
	go func() { written <- writeWorkload(ctx, ddb, *rate, *items, *seed, *splitAfter, events, log) }()

	for p.API.Addr() == "" {
		select {
		case err := <-runErr:
			<-written
			return err
		case <-time.After(20 * time.Millisecond):
		}
	}
	banner(stdout, p.Conn().Brokers(), p.API.Addr(), ddb.URL(), *lakeDir, table)
	if cfg.Collector != nil {
		select {
		case addr := <-collectorAddr:
			collectorBanner(stdout, addr)
		case err := <-runErr:
			<-written
			return err
		}
	}
	if *pgDSN != "" {
		fmt.Fprintf(stdout, "PostgreSQL: psql '%s' -c 'select key, doc, deleted_at from streamhub_dev.users limit 5'\n\n", redactDSN(*pgDSN))
	}

	start := time.Now()
	tick := time.NewTicker(*every)
	defer tick.Stop()
	for {
		select {
		case err := <-runErr:
			n := <-written // ctx is done: the writer stops too
			// Keys and lag are not shown: the stopped processors have given up their partitions.
			s := p.Status()
			fmt.Fprintf(stdout, "stopped after %s: writes %d · bridged %d · events in %d (applied %d, stale %d, duplicate %d, invalid %d) · lake %d\n",
				time.Since(start).Round(time.Second), n, s.Bridge.Records, s.In, s.Applied, s.Stale, s.Duplicate, s.Invalid, s.Flushed)
			return err
		case <-tick.C:
			fmt.Fprintf(stdout, "[%s] %s\n", time.Since(start).Round(time.Second), statusLine(p.Status()))
		case ev := <-events:
			fmt.Fprintln(stdout, ev)
		}
	}
}

// devAWSConfig is the AWS config the dev bridge uses against ddbtest: fixed credentials
// (ddbtest checks none) so that nothing from the machine's AWS setup is needed or used.
func devAWSConfig() *aws.Config {
	return &aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("dev", "dev", "")}
}

func statusLine(s pipeline.Status) string {
	return fmt.Sprintf("bridged %d (shards %d) · events in %d (applied %d, stale %d, duplicate %d, invalid %d) · keys %d · lag %d · lake %d",
		s.Bridge.Records, s.Bridge.Shards, s.In, s.Applied, s.Stale, s.Duplicate, s.Invalid, s.Keys, s.Lag, s.Flushed)
}

func banner(w io.Writer, brokers []string, apiAddr, ddbURL, lakeDir string, t topology.Table) {
	base := "http://" + apiAddr
	q := url.Values{"pk": {"user#1"}, "sk": {"profile"}}
	fmt.Fprintf(w, `streamhub dev is running.

  DynamoDB Streams  %s      table users, 4 shards (AWS CLI: --endpoint-url %s)
  Kafka (embedded)  %s      topic %s → table topic %s
  View API          %s/v1/tables
  Metrics           %s/metrics
  Readiness         %s/readyz
  Lake (files)      %s      (zcat %s/%s/dt=*/hr=*/*.jsonl.gz | head)

Look an item up (the synthetic workload writes user#0 .. user#N with sk=profile):
  curl -s '%s/v1/tables/%s/item?%s'
  curl -s '%s/v1/tables/%s/items?%s&limit=10'

Ctrl-C stops.
`, ddbURL, ddbURL, brokers[0], t.Topic, t.TableTopic(), base, base, base, lakeDir, lakeDir, t.Topic,
		base, t.Name, q.Encode(), base, t.Name, url.Values{"pk": {"user#1"}}.Encode())
}

// collectorBanner says where the collector listens, with a curl that sends one event.
func collectorBanner(w io.Writer, addr string) {
	fmt.Fprintf(w, `Send an event to the collector (it lands in dev.web.page_view; kcat -t dev.web.page_view reads it):
  curl -s http://%s/v1/events -H 'Content-Type: application/json' -d '{"event_id":"6f1c2a9e-3b7d-4c5e-8a9f-0b1c2d3e4f5a","event_name":"page_view","occurred_at":"2026-11-25T12:00:00Z","source":"web","user":{"id":"u1"},"payload":{"url":"/"}}'

`, addr)
}

// writeWorkload writes to the users table at rate writes per second until ctx ends:
// puts (inserts, then updates with a growing updatedAt) and deletes, so items are also
// deleted and re-created. After splitAfter it splits one shard of the stream and says
// so on events. It returns the number of writes.
func writeWorkload(ctx context.Context, ddb *ddbtest.Server, rate, items int, seed uint64, splitAfter time.Duration, events chan<- string, log *slog.Logger) int64 {
	rng := rand.New(rand.NewPCG(seed, 1))
	// updatedAt grows with every write, across restarts of dev too.
	base := time.Now().UnixMilli() * 1000
	var n int64
	tick := time.NewTicker(time.Second / time.Duration(min(rate, 1000)))
	defer tick.Stop()
	perTick := max(1, rate/1000)
	var split <-chan time.Time
	if splitAfter > 0 {
		t := time.NewTimer(splitAfter)
		defer t.Stop()
		split = t.C
	}
	for {
		select {
		case <-ctx.Done():
			return n
		case <-split:
			for _, sh := range ddb.Shards("users") {
				if sh.Open {
					l, r, err := ddb.SplitShard("users", sh.ID)
					if err != nil {
						log.Warn("split shard", "shard", sh.ID, "error", err)
					} else {
						select {
						case events <- fmt.Sprintf("split shard %s into %s and %s", sh.ID, l, r):
						default:
						}
					}
					break
				}
			}
			continue
		case <-tick.C:
		}
		for range perTick {
			k := rng.IntN(items)
			key := ddbtest.Item{"pk": state.StringValue(fmt.Sprintf("user#%d", k)), "sk": state.StringValue("profile")}
			var err error
			if rng.IntN(100) < 15 {
				_, _, err = ddb.DeleteItem("users", key)
			} else {
				_, err = ddb.PutItem("users", ddbtest.Item{
					"pk": key["pk"], "sk": key["sk"],
					"name":      state.StringValue(fmt.Sprintf("User %d", k)),
					"score":     state.NumberValue(strconv.Itoa(rng.IntN(10000))),
					"updatedAt": state.NumberValue(strconv.FormatInt(base+n, 10)),
				})
			}
			if err != nil {
				log.Warn("synthetic write", "error", err)
				continue
			}
			n++
		}
	}
}

func newQuietLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// redactDSN hides a password in a URL DSN.
func redactDSN(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil || u.User == nil {
		return dsn
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	return u.String()
}
