package interop

import (
	"bufio"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// buildStreamhub builds cmd/streamhub in the background and returns a function that
// waits for the binary's path.
func buildStreamhub(t *testing.T) func() string {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		if p := filepath.Join(runtime.GOROOT(), "bin", "go"); fileExists(p) {
			goTool, err = p, nil
		}
	}
	if err != nil {
		unavailable(t, "the go tool", "it builds cmd/streamhub, which runs the bridge as a real process: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "streamhub")
	type result struct {
		out []byte
		err error
	}
	done := make(chan result, 1)
	go func() {
		out, err := exec.Command(goTool, "build", "-o", bin, "github.com/streamhub/streamhub/cmd/streamhub").CombinedOutput()
		done <- result{out, err}
	}()
	var res *result
	return func() string {
		t.Helper()
		if res == nil {
			r := <-done
			res = &r
		}
		if res.err != nil {
			t.Fatalf("go build ./cmd/streamhub: %v\n%s", res.err, res.out)
		}
		return bin
	}
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// bridgeProcess is one `streamhub bridge` process. It inherits the test's environment,
// so it finds DynamoDB Local through AWS_ENDPOINT_URL like any AWS client.
type bridgeProcess struct {
	name string
	cmd  *exec.Cmd
	ops  string
	log  string
	done chan struct{}
	err  error
}

func startBridge(t *testing.T, bin, name, file string) *bridgeProcess {
	t.Helper()
	log := filepath.Join(t.TempDir(), name+".log")
	f, err := os.Create(log)
	if err != nil {
		t.Fatal(err)
	}
	ops := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	cmd := exec.Command(bin, "bridge", "-c", file, "--ops-listen", ops, "--instance", name)
	cmd.Stdout, cmd.Stderr = f, f
	dieWithParent(cmd)
	if err := cmd.Start(); err != nil {
		f.Close()
		t.Fatal(err)
	}
	b := &bridgeProcess{name: name, cmd: cmd, ops: ops, log: log, done: make(chan struct{})}
	go func() {
		b.err = cmd.Wait()
		f.Close()
		close(b.done)
	}()
	t.Cleanup(func() {
		select {
		case <-b.done:
		default:
			_ = cmd.Process.Kill()
			<-b.done
		}
		if t.Failed() || os.Getenv("STREAMHUB_TEST_DEBUG") != "" {
			out, _ := os.ReadFile(log)
			t.Logf("%s output (last 8 KiB):\n%s", name, tail(out, 8<<10))
		}
	})
	return b
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

// kill ends the process with SIGKILL: no deferred function, no abort of its open
// transaction, no leaving of the consumer group.
func (b *bridgeProcess) kill() {
	_ = b.cmd.Process.Signal(syscall.SIGKILL)
	<-b.done
}

// terminate stops the process with SIGTERM; it must drain and exit 0.
func (b *bridgeProcess) terminate(t *testing.T) {
	t.Helper()
	_ = b.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-b.done:
		if b.err != nil {
			t.Errorf("%s after SIGTERM: %v", b.name, b.err)
		}
	case <-time.After(60 * time.Second):
		t.Errorf("%s still running 60s after SIGTERM", b.name)
	}
}

// metric sums a metric's samples on the process's /metrics, every label set.
func (b *bridgeProcess) metric(t *testing.T, name string) float64 {
	t.Helper()
	resp, err := http.Get("http://" + b.ops + "/metrics")
	if err != nil {
		t.Errorf("%s metrics: %v", b.name, err)
		return -1
	}
	defer resp.Body.Close()
	var sum float64
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name) || (len(line) > len(name) && line[len(name)] != '{' && line[len(name)] != ' ') {
			continue
		}
		f := strings.Fields(line)
		v, err := strconv.ParseFloat(f[len(f)-1], 64)
		if err == nil {
			sum += v
		}
	}
	return sum
}
