package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/streamhub/streamhub/bench"
)

// TestBenchSuiteQuick runs the cheapest stages at --quick sizes through the CLI and
// checks the JSON's shape and that every stage counted every record it was given; then
// renders that result into a README through --from and --readme. No timing is asserted:
// a rate only has to have been measured.
func TestBenchSuiteQuick(t *testing.T) {
	code, stdout, stderr := runCmd(t, "bench", "--quick", "--json", "--stages", "lake,postgres")
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	var res bench.SuiteResult
	if err := json.Unmarshal([]byte(stdout), &res); err != nil {
		t.Fatalf("stdout is not the JSON result: %v\n%s", err, stdout)
	}
	if !res.Quick || res.Command != "streamhub bench --quick --stages lake,postgres" || res.CPUs <= 0 || res.Date.IsZero() {
		t.Errorf("run header %+v", res)
	}
	perStage := map[string]int{}
	for _, row := range res.Rows {
		perStage[row.Stage]++
		if row.Skipped != "" {
			if row.Stage != bench.StagePostgres || os.Getenv("CI") == "true" {
				t.Errorf("stage %s skipped: %s", row.Stage, row.Skipped)
			} else {
				t.Logf("!!! %s", row.Skipped)
			}
			perStage[row.Stage] = 4 // the postgres stage's rows, had it run
			continue
		}
		if row.Error != "" {
			t.Errorf("%s %s failed: %s", row.Stage, row.Name, row.Error)
		}
		if row.Records <= 0 || row.Counted != row.Records {
			t.Errorf("%s %s: counted %d of %d records", row.Stage, row.Name, row.Counted, row.Records)
		}
		if row.Name == "" || row.Unit == "" || row.Medium == "" || row.Rate <= 0 || row.RawRate <= 0 || row.Ratio <= 0 {
			t.Errorf("%s %s: not measured: %+v", row.Stage, row.Name, row)
		}
		if row.Stage == bench.StageLake && (len(row.Latency) != 1 || row.Latency[0].Of != "flush" || row.Latency[0].N != 4 || row.Latency[0].P99Ms <= 0) {
			t.Errorf("lake %s: latency %+v, want the p99 of 4 flushes", row.Name, row.Latency)
		}
	}
	if perStage[bench.StageLake] != 6 || perStage[bench.StagePostgres] != 4 || len(perStage) != 2 {
		t.Errorf("rows per stage %v, want lake 6 (2 stores × 3 formats), postgres 4", perStage)
	}
	if !strings.Contains(stderr, "== lake (1 of 2) ==") || !strings.Contains(stderr, "== postgres (2 of 2) ==") {
		t.Errorf("progress on stderr lacks the stage lines:\n%s", stderr)
	}

	dir := t.TempDir()
	saved := filepath.Join(dir, "run.json")
	readme := filepath.Join(dir, "README.md")
	if err := os.WriteFile(saved, []byte(stdout), 0o644); err != nil {
		t.Fatal(err)
	}
	doc := "# x\n\n## Performance\n\nprose\n\n" + bench.ReadmeBegin + "\nold table\n" + bench.ReadmeEnd + "\n\nmore prose\n"
	if err := os.WriteFile(readme, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	code, md, stderr := runCmd(t, "bench", "--from", saved, "--markdown", "--readme", readme)
	if code != 0 {
		t.Fatalf("--from --readme: exit %d\n%s", code, stderr)
	}
	got, err := os.ReadFile(readme)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"prose\n\n" + bench.ReadmeBegin + "\n`streamhub bench --quick --stages lake,postgres` on " + res.Date.Format("2006-01-02"),
		md, bench.ReadmeEnd + "\n\nmore prose\n"} {
		if !strings.Contains(string(got), want) {
			t.Errorf("README lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(string(got), "old table") {
		t.Errorf("the old table is still there:\n%s", got)
	}
	if n := strings.Count(md, "\n| lake: "); n != 6 {
		t.Errorf("markdown has %d lake rows, want 6:\n%s", n, md)
	}
}

func TestBenchCommandLine(t *testing.T) {
	noMarkers := writeFile(t, "README.md", "# no markers\n")
	saved := writeFile(t, "run.json", `{"command":"streamhub bench","rows":[{"stage":"lake","name":"file","unit":"records/s","records":1,"counted":1,"rate":5,"medium":"raw","raw_rate":10,"ratio":0.5}]}`)
	failed := writeFile(t, "failed.json", `{"command":"streamhub bench","rows":[{"stage":"lake","error":"boom"}]}`)
	tests := []struct {
		name           string
		args           []string
		code           int
		stdout, stderr []string
	}{
		{"help explains every stage and its medium", []string{"bench", "-h"}, 0, nil,
			[]string{"Usage: streamhub bench", "processor", "bridge", "collector", "lake", "postgres", "latency", "p50/p99/max", "medium", "--quick", "--json", "--markdown", "--readme", "--postgres", "bench:begin"}},
		{"help of a single benchmark", []string{"bench", "bridge", "-h"}, 0, nil, []string{"-records", "-shards"}},
		{"an unknown stage", []string{"bench", "--stages", "lake,nope"}, 1, nil, []string{`stage "nope" is not one of processor, bridge`}},
		{"an unknown argument", []string{"bench", "nope"}, 2, nil, []string{`unexpected argument "nope"`}},
		{"json and markdown", []string{"bench", "--json", "--markdown"}, 1, nil, []string{"pick one"}},
		{"PostgreSQL unreachable skips its stage", []string{"bench", "--quick", "--stages", "postgres", "--postgres", "postgres://postgres@127.0.0.1:1/test?sslmode=disable&connect_timeout=2"}, 0,
			[]string{"postgres", "skipped: bench: PostgreSQL is not reachable"}, []string{"skipped"}},
		{"a saved run as text", []string{"bench", "--from", saved}, 0, []string{"STAGE", "RAW MEDIUM", "lake: file", "5 records/s", "0.500"}, nil},
		{"a README without markers", []string{"bench", "--from", saved, "--readme", noMarkers}, 1, nil, []string{"<!-- bench:begin --> once, found it 0 times"}},
		{"a failed stage fails the command and leaves the README", []string{"bench", "--from", failed, "--readme", noMarkers}, 1, []string{"FAILED: boom"}, []string{"not rewritten"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkRun(t, tt.args, tt.code, tt.stdout, tt.stderr)
		})
	}
}
