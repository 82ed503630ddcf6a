package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/streamhub/streamhub/topology"
)

// syncBuffer is a bytes.Buffer safe for the goroutines of a command that may still log.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// runCmd runs the CLI as main would and returns the exit code and both outputs.
func runCmd(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut syncBuffer
	code = run(args, &out, &errOut)
	return code, out.String(), errOut.String()
}

// writeFile writes a file into a new temporary directory and returns its path.
func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

const goodTopology = `env: test
kafka:
  brokers: embedded
  embedded_listen: 127.0.0.1:0
tables:
  - name: users
    keys: [pk, sk]
    version_attribute: updatedAt
    partitions: 4
api:
  listen: 127.0.0.1:0
  tokens: ["s3cret-token"]
`

// badTopology has three problems, on lines 7, 8 and 10.
const badTopology = `env: test
kafka:
  brokers: embedded
tables:
  - name: users
    keys: [pk, sk]
    partitions: 0
    colour: blue
api:
  listen: nowhere
`

func TestCommandLine(t *testing.T) {
	good := writeFile(t, "good.yaml", goodTopology)
	bad := writeFile(t, "bad.yaml", badTopology)
	missing := filepath.Join(t.TempDir(), "missing.yaml")
	cfg, err := topology.Load(good)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		code int
		// stdout and stderr list what each output must contain; quiet lists what stdout
		// must not.
		stdout, stderr, quiet []string
	}{
		{name: "no arguments print the usage", args: nil, code: 2, stderr: []string{"Usage:", "streamhub <command>"}},
		{name: "help prints the usage", args: []string{"help"}, code: 0, stdout: []string{"Usage:", "topology validate -c FILE"}},
		{name: "-h prints the usage", args: []string{"-h"}, code: 0, stdout: []string{"Usage:"}},
		{name: "help of a command", args: []string{"help", "topology"}, code: 0, stderr: []string{"Usage: streamhub topology"}},
		{name: "unknown command is named", args: []string{"frobnicate"}, code: 2, stderr: []string{`unknown command "frobnicate"`, "Usage:"}},
		{name: "topology without a subcommand", args: []string{"topology"}, code: 2, stderr: []string{"Usage: streamhub topology"}},
		{name: "topology validate without -c", args: []string{"topology", "validate"}, code: 2, stderr: []string{"-c FILE is required"}},
		{name: "unknown topology subcommand", args: []string{"topology", "frob", "-c", good}, code: 2, stderr: []string{`unknown topology command "frob"`}},
		{name: "topology validate of a good file", args: []string{"topology", "validate", "-c", good}, code: 0, stdout: []string{fmt.Sprintf("%s: ok (1 tables, %d topics)\n", good, len(cfg.Topics()))}},
		{
			name: "topology validate reports every problem with file:line, field and value",
			args: []string{"topology", "validate", "-c", bad}, code: 1,
			stderr: []string{
				bad + ":7: tables[0].partitions: must be between 1 and 10000, got 0",
				bad + `:8: tables[0]: unknown field "colour"`,
				bad + `:10: api.listen: must be host:port, got "nowhere"`,
			},
		},
		{name: "topology validate of a missing file", args: []string{"topology", "validate", "-c", missing}, code: 1, stderr: []string{missing}},
		{
			name: "topology print shows the graph without secrets",
			args: []string{"topology", "print", "-c", good}, code: 0,
			stdout: []string{"kafka: embedded", "test.users.cdc (4 partitions) ─► table users [pk, sk] version=updatedAt ─► test.users.state-table (compacted)", "api: http://127.0.0.1:0", "dlq: test.streamhub.dlq"},
			quiet:  []string{"s3cret-token"},
		},
		{name: "topology apply refuses the embedded broker", args: []string{"topology", "apply", "-c", good}, code: 1, stderr: []string{`kafka.brokers is "embedded"`, "apply is for real brokers"}},
		{name: "bench processor -h", args: []string{"bench", "processor", "-h"}, code: 0, stderr: []string{"Usage: streamhub bench [all|processor", "bench processor: N DynamoDB Streams records", "-records"}},
		// A bare "bench" runs every stage (minutes): the suite's own quick test covers it.
		{name: "bench with an unknown stage", args: []string{"bench", "frob"}, code: 2, stderr: []string{`unexpected argument "frob"`, "Usage: streamhub bench [all|processor"}},
		{name: "dev -h lists the knobs", args: []string{"dev", "-h"}, code: 0, stderr: []string{"Usage: streamhub dev", "-duration", "-api-listen"}},
		{name: "dev with an unknown flag", args: []string{"dev", "--bogus"}, code: 2, stderr: []string{"-bogus"}},
		{name: "dev with an extra argument", args: []string{"dev", "extra"}, code: 2, stderr: []string{`unexpected argument "extra"`}},
		{name: "dev with a zero rate", args: []string{"dev", "--rate", "0"}, code: 1, stderr: []string{"--rate: must be at least 1, got 0"}},
		{name: "serve without -c", args: []string{"serve"}, code: 2, stderr: []string{"-c FILE is required"}},
		{name: "process -h", args: []string{"process", "-h"}, code: 0, stderr: []string{"Usage: streamhub process -c FILE", "-ops-listen"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stdout, _ := checkRun(t, tt.args, tt.code, tt.stdout, tt.stderr)
			for _, never := range tt.quiet {
				if strings.Contains(stdout, never) {
					t.Errorf("stdout shows %q:\n%s", never, stdout)
				}
			}
		})
	}
}

// checkRun runs the CLI with args and reports an exit code other than code, and any of
// stdout's or stderr's wanted substrings that the output lacks; it returns the output.
func checkRun(t *testing.T, args []string, code int, stdout, stderr []string) (string, string) {
	t.Helper()
	gotCode, gotOut, gotErr := runCmd(t, args...)
	if gotCode != code {
		t.Errorf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", gotCode, code, gotOut, gotErr)
	}
	for _, want := range stdout {
		if !strings.Contains(gotOut, want) {
			t.Errorf("stdout lacks %q:\n%s", want, gotOut)
		}
	}
	for _, want := range stderr {
		if !strings.Contains(gotErr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, gotErr)
		}
	}
	return gotOut, gotErr
}
