package bench

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/streamhub/streamhub/internal/pgtest"
)

func TestUpdateReadme(t *testing.T) {
	const section = "`streamhub bench` on 2026-01-01:\n\n| a |\n"
	tests := []struct {
		name, doc, want, err string
	}{
		{"replaces between the markers", "intro\n" + ReadmeBegin + "\nold\nlines\n" + ReadmeEnd + "\nrest\n",
			"intro\n" + ReadmeBegin + "\n" + section + ReadmeEnd + "\nrest\n", ""},
		{"empty section before", ReadmeBegin + "\n" + ReadmeEnd + "\n", ReadmeBegin + "\n" + section + ReadmeEnd + "\n", ""},
		{"no begin", "x\n" + ReadmeEnd + "\n", "", "<!-- bench:begin --> once, found it 0 times"},
		{"no end", ReadmeBegin + "\nx\n", "", "<!-- bench:end --> once, found it 0 times"},
		{"two begins", ReadmeBegin + "\n" + ReadmeBegin + "\n" + ReadmeEnd + "\n", "", "found it 2 times"},
		{"end before begin", ReadmeEnd + "\n" + ReadmeBegin + "\n", "", "comes before"},
		{"markers inside a line", "a " + ReadmeBegin + " b " + ReadmeEnd + "\n", "", "lines of their own"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := UpdateReadme([]byte(tt.doc), section)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error %v, want one with %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("got\n%s\nwant\n%s", got, tt.want)
			}
			again, err := UpdateReadme(got, section)
			if err != nil || string(again) != string(got) {
				t.Errorf("a second update changed the document: %v\n%s", err, again)
			}
		})
	}
}

func TestParseStages(t *testing.T) {
	tests := []struct {
		in   string
		want []string
		err  string
	}{
		{"", nil, ""},
		{"all", nil, ""},
		{"lake", []string{"lake"}, ""},
		{"postgres, lake,postgres", []string{"postgres", "lake"}, ""},
		{"lake,nope", nil, `stage "nope" is not one of processor, bridge, collector, lake, postgres`},
	}
	for _, tt := range tests {
		got, err := ParseStages(tt.in)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%q: error %v, want %q", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil || strings.Join(got, ",") != strings.Join(tt.want, ",") {
			t.Errorf("%q: %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
}

func TestDurationQuantile(t *testing.T) {
	ms := func(ns ...int) []time.Duration {
		var out []time.Duration
		for _, n := range ns {
			out = append(out, time.Duration(n)*time.Millisecond)
		}
		return out
	}
	hundred := make([]int, 100)
	for i := range hundred {
		hundred[i] = 100 - i // unsorted on purpose
	}
	tests := []struct {
		name string
		ds   []time.Duration
		q    float64
		want time.Duration
	}{
		{"none", nil, 0.99, 0},
		{"one", ms(7), 0.99, 7 * time.Millisecond},
		{"ten: p99 is the largest", ms(5, 1, 9, 3, 2, 8, 4, 7, 6, 10), 0.99, 10 * time.Millisecond},
		{"hundred: p99 is the 99th", ms(hundred...), 0.99, 99 * time.Millisecond},
		{"hundred: p50 is the 50th", ms(hundred...), 0.5, 50 * time.Millisecond},
	}
	for _, tt := range tests {
		if got := durationQuantile(tt.ds, tt.q); got != tt.want {
			t.Errorf("%s: %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestWriteMarkdown(t *testing.T) {
	res := SuiteResult{Rows: []SuiteRow{
		{Stage: "lake", Name: "a | b", Unit: "records/s", Records: 1, Counted: 1, Rate: 1500, Medium: "raw", RawRate: 3e6, Ratio: 0.0005,
			Latency: []SuiteLatency{{Of: "flush", N: 3, P99Ms: 12.5}}},
		{Stage: "latency", Name: "write → view", Unit: "writes/s", Rate: 100,
			Latency: []SuiteLatency{{Of: "write → view", N: 10, P50Ms: 3, P99Ms: 150, MaxMs: 2000}}},
		{Stage: "postgres", Skipped: "skipped: no PostgreSQL"},
		{Stage: "bridge", Error: "boom"},
	}}
	var b strings.Builder
	if err := res.WriteMarkdown(&b); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
	want := []string{
		"| stage | rate | raw medium | raw rate | ratio | p99 latency | notes |",
		"| --- | --- | --- | --- | --- | --- | --- |",
		`| lake: a \| b | 1.5 k records/s | raw | 3 M records/s | 0.001 | 12.5 ms per flush |  |`,
		"| latency: write → view | 100 writes/s | — | — | — | p50 3.00 ms · p99 150 ms · max 2000 ms |  |",
		"| postgres | — | — | — | — | — | skipped: no PostgreSQL |",
		"| bridge | — | — | — | — | — | FAILED: boom |",
	}
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
	if !res.Failed() {
		t.Error("a row with an error: Failed() is false")
	}
}

// TestLakeCountsEveryRecord runs the lake benchmark small: every record is flushed
// through every store and format and both speeds are measured.
func TestLakeCountsEveryRecord(t *testing.T) {
	res, err := Lake(context.Background(), LakeOptions{Records: 1000, Batch: 300, Passes: 2, Formats: []string{"jsonl_gz", "parquet_snappy"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Runs) != 4 || res.ValueBytes < 1000*500 {
		t.Fatalf("%d runs, %d value bytes: %+v", len(res.Runs), res.ValueBytes, res)
	}
	for _, r := range res.Runs {
		if r.Flushed != 2000 || r.Rejected != 0 || r.SinkPerSec <= 0 || r.RawMBps <= 0 || r.FlushP99 <= 0 {
			t.Errorf("%s %s: %+v, want 2000 records flushed and both speeds", r.Store, r.Format, r)
		}
	}
	if _, err := Lake(context.Background(), LakeOptions{Records: 10, Formats: []string{"csv"}}); err == nil || !strings.Contains(err.Error(), `format "csv"`) {
		t.Errorf("an unknown format: %v", err)
	}
}

// TestPostgresCountsEveryRow runs the PostgreSQL benchmark small and checks what the
// tables hold afterwards.
func TestPostgresCountsEveryRow(t *testing.T) {
	pool, _ := pgtest.Schema(t, "the PostgreSQL benchmark test") // skips or fails without PostgreSQL
	res, err := Postgres(context.Background(), PostgresOptions{DSN: pgtest.DSN(), Batch: 200, Preload: 400, Iterations: 2, RowByRow: 20})
	if err != nil {
		t.Fatal(err)
	}
	if res.Inserted != 400 || res.Mixed != 400 || res.Copied != 800 || res.RowByRowApplied != 40 || res.RowByRowTxApplied != 40 {
		t.Errorf("counted %+v", res)
	}
	if res.CopyPerSec <= 0 || res.CopyKeyedPerSec <= 0 || res.InsertPerSec <= 0 || res.MixPerSec <= 0 || res.RowByRowPerSec <= 0 || res.MixP99 <= 0 {
		t.Errorf("not measured: %+v", res)
	}
	var left int
	if err := pool.QueryRow(context.Background(), `SELECT count(*) FROM information_schema.schemata WHERE schema_name = $1`, res.Schema).Scan(&left); err != nil {
		t.Fatal(err)
	}
	if left != 0 {
		t.Errorf("schema %q left behind", res.Schema)
	}
	if _, err := Postgres(context.Background(), PostgresOptions{DSN: "postgres://postgres@127.0.0.1:1/x?connect_timeout=2"}); !errors.Is(err, ErrPostgresUnreachable) {
		t.Errorf("no PostgreSQL: %v, want ErrPostgresUnreachable", err)
	}
	if _, err := Postgres(context.Background(), PostgresOptions{Batch: 100, RowByRow: 60}); err == nil || !strings.Contains(err.Error(), "row-by-row 60") {
		t.Errorf("row-by-row above batch/2: %v", err)
	}
}
