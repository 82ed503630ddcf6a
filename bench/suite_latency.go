package bench

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// suiteLatency is the end-to-end stage: DynamoDB writes at a steady rate through the
// whole pipeline, timed until each is visible in the view API and in PostgreSQL. It has
// no raw medium: its figures are latencies, the rate is the load they were taken under.
func suiteLatency(ctx context.Context, o SuiteOptions) ([]SuiteRow, error) {
	lo := LatencyOptions{Progress: o.Progress, Logger: o.Logger}
	if o.Quick {
		lo = LatencyOptions{Rate: 200, Duration: 2 * time.Second, Items: 100, Shards: 2, Progress: o.Progress, Logger: o.Logger}
	}
	pgSkipped := ""
	if err := postgresReachable(ctx, o.PostgresDSN); err != nil {
		if !errors.Is(err, ErrPostgresUnreachable) {
			return nil, err
		}
		pgSkipped = fmt.Sprintf("skipped: %v (--postgres DSN)", err)
		fmt.Fprintf(o.Progress, "latency: PostgreSQL %s; measuring the view API only\n", pgSkipped)
	} else {
		lo.PostgresDSN = o.PostgresDSN
	}
	r, err := Latency(ctx, lo)
	if err != nil {
		return nil, err
	}
	notes := fmt.Sprintf("%d writes over %d items, %d shards; source poll_interval %s", r.Writes, r.Items, r.Shards, r.PollInterval)
	row := func(name string, p Percentiles, of, extra string) SuiteRow {
		return SuiteRow{
			Name: name, Unit: "writes/s", Records: int64(r.Writes), Counted: int64(p.N), Rate: r.Rate,
			Latency: []SuiteLatency{{Of: of, N: p.N, P50Ms: millis(p.P50), P99Ms: millis(p.P99), MaxMs: millis(p.Max)}},
			Notes:   notes + extra,
		}
	}
	rows := []SuiteRow{row("DynamoDB write → view API", r.View, "write → view", fmt.Sprintf("; the view polled every %s", r.ViewPoll))}
	if pgSkipped != "" {
		return append(rows, SuiteRow{Name: "DynamoDB write → PostgreSQL", Skipped: pgSkipped}), nil
	}
	return append(rows, row("DynamoDB write → PostgreSQL", r.Postgres, "write → PostgreSQL",
		fmt.Sprintf("; sink buffer.flush_time %s, polled every %s", r.FlushTime, r.PostgresPoll))), nil
}
