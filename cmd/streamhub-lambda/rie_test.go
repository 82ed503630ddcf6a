package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/streamhub/streamhub/kafka"
)

// rieVersion pins AWS's Lambda Runtime Interface Emulator.
const rieVersion = "v0.0.0-20261030222936-bef5c4ba774d"

// rieBinary is aws-lambda-rie: $STREAMHUB_LAMBDA_RIE, or built once with go install into
// ${XDG_CACHE_HOME:-~/.cache}/streamhub/peers/rie-<version>. When it cannot be had, the
// test skips loudly on a laptop and fails in CI.
func rieBinary(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("STREAMHUB_LAMBDA_RIE"); p != "" {
		return p
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	dir := filepath.Join(cache, "streamhub", "peers", "rie-"+rieVersion)
	bin := filepath.Join(dir, "aws-lambda-rie")
	if _, err := os.Stat(bin); err == nil {
		return bin
	}
	install := exec.Command("go", "install", "github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie@"+rieVersion)
	install.Env = append(os.Environ(), "GOBIN="+dir, "CGO_ENABLED=0")
	if out, err := install.CombinedOutput(); err != nil {
		msg := "AWS Lambda Runtime Interface Emulator not available (go install failed: " + err.Error() + ")\n" + string(out)
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip("SKIPPING LOUDLY: " + msg)
	}
	return bin
}

// The function in AWS's Lambda Runtime Interface Emulator, the real runtime API.
func TestRuntimeInterfaceEmulator(t *testing.T) {
	rie := rieBinary(t)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()

	const topic = "dev.orders.cdc"
	e, err := kafka.StartEmbedded("127.0.0.1:0", kfake.SeedTopics(4, topic))
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()

	bin := filepath.Join(t.TempDir(), "bootstrap")
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}

	invokeAddr, apiAddr := freeAddr(t), freeAddr(t)
	cmd := exec.CommandContext(ctx, rie, "--runtime-interface-emulator-address", invokeAddr,
		"--runtime-api-address", apiAddr, bin)
	cmd.Env = append(os.Environ(),
		"STREAMHUB_BROKERS="+e.Addrs()[0], "STREAMHUB_TOPIC="+topic, "STREAMHUB_KEYS=Id", "STREAMHUB_TABLE=orders")
	cmd.Stdout, cmd.Stderr = t.Output(), t.Output()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()

	event, err := os.ReadFile("../../sources/dynamodb/lambda/testdata/aws-lambda-dg-ddb-tutorial-input.json")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + invokeAddr + "/2015-03-31/functions/function/invocations"
	if got := invoke(ctx, t, url, event); got != `{"batchItemFailures":[]}` {
		t.Fatalf("response %s", got)
	}
	// A record without its key attribute and no DLQ: reported by sequence number.
	bad := []byte(`{"Records":[{"eventID":"9","eventName":"INSERT","dynamodb":{"Keys":{"Other":{"S":"x"}},` +
		`"SequenceNumber":"999","SizeBytes":1},"eventSourceARN":"stream-ARN"}]}`)
	if got := invoke(ctx, t, url, bad); got != `{"batchItemFailures":[{"itemIdentifier":"999"}]}` {
		t.Fatalf("response %s", got)
	}

	cl, err := kgo.NewClient(kgo.SeedBrokers(e.Addrs()...), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	n := 0
	for n < 3 {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("%d of 3 records in the topic", n)
		}
		n += len(fs.Records())
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// invoke posts an event to the emulator, waiting for it to listen.
func invoke(ctx context.Context, t *testing.T, url string, event []byte) string {
	t.Helper()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(event))
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			return string(bytes.TrimSpace(b))
		}
		select {
		case <-ctx.Done():
			t.Fatalf("invoke: %v", err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}
