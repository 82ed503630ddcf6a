package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
)

// TestMain removes the streamhub binary the fault tests built for this run.
func TestMain(m *testing.M) {
	code := m.Run()
	if cli.dir != "" {
		os.RemoveAll(cli.dir)
	}
	os.Exit(code)
}

// cli is the streamhub binary, built once per test run for the tests that run the CLI as
// a real process (cmd/streamhub is package main and cannot be imported).
var cli struct {
	once sync.Once
	dir  string
	path string
	out  []byte
	err  error
}

// streamhubBinary builds ./cmd/streamhub with the go tool that runs this test and returns
// the binary's path. It builds without -race: the process under test is killed and
// restarted, and the race detector would only slow that down (the in-process tests cover
// the same code under -race). Without a go tool the test skips loudly, or fails in CI.
func streamhubBinary(t *testing.T) string {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		if p := filepath.Join(runtime.GOROOT(), "bin", "go"); fileExists(p) {
			goTool, err = p, nil
		}
	}
	if err != nil {
		msg := fmt.Sprintf("SKIPPING %s: no go tool to build cmd/streamhub (%v); this test runs the CLI as a real process", t.Name(), err)
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	cli.once.Do(func() {
		cli.dir, cli.err = os.MkdirTemp("", "streamhub-e2e-")
		if cli.err != nil {
			return
		}
		cli.path = filepath.Join(cli.dir, "streamhub")
		cmd := exec.Command(goTool, "build", "-o", cli.path, "github.com/streamhub/streamhub/cmd/streamhub")
		cli.out, cli.err = cmd.CombinedOutput()
	})
	if cli.err != nil {
		t.Fatalf("go build ./cmd/streamhub: %v\n%s", cli.err, cli.out)
	}
	return cli.path
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
