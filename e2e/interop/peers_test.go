// Package interop runs streamhub against the real peers of DESIGN.md ("Real peers"):
// implementations written by AWS and the Kafka community, not by us. A peer that cannot
// be had skips its test loudly on a laptop and fails it in CI (CI=true).
package interop

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	ddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
)

// unavailable skips the test with a loud message, or fails it in CI.
func unavailable(t *testing.T, peer string, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf("%s not available: %s", peer, fmt.Sprintf(format, args...))
	if os.Getenv("CI") == "true" {
		t.Fatal(msg + " (CI=true: a missing peer fails the test; scripts/peers.sh fetches it)")
	}
	t.Skip("SKIPPING LOUDLY " + t.Name() + ": " + msg)
}

// dynamoDBLocalDir is the directory holding DynamoDBLocal.jar and DynamoDBLocal_lib/:
// $STREAMHUB_DYNAMODB_LOCAL_DIR, or what `scripts/peers.sh dynamodb-local` fetched into
// ${XDG_CACHE_HOME:-~/.cache}/streamhub/peers (pinned version, checked sha256).
func dynamoDBLocalDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("STREAMHUB_DYNAMODB_LOCAL_DIR")
	if dir == "" {
		script, err := filepath.Abs(filepath.Join("..", "..", "scripts", "peers.sh"))
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command("bash", script, "dynamodb-local")
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			unavailable(t, "DynamoDB Local", "scripts/peers.sh dynamodb-local: %v\n%s", err, stderr.String())
		}
		dir = strings.TrimSpace(string(out))
	}
	if _, err := os.Stat(filepath.Join(dir, "DynamoDBLocal.jar")); err != nil {
		unavailable(t, "DynamoDB Local", "%v", err)
	}
	return dir
}

// dynamoDBLocal starts AWS's DynamoDB Local in memory on a free port, waits until it
// answers ListTables and returns its endpoint; Cleanup stops it.
func dynamoDBLocal(t *testing.T) string {
	t.Helper()
	dir := dynamoDBLocalDir(t)
	java, err := exec.LookPath("java")
	if err != nil {
		unavailable(t, "DynamoDB Local", "no java to run it (Java 17 runs it): %v", err)
	}
	port := freePort(t)
	cmd := exec.Command(java, "-Djava.library.path="+filepath.Join(dir, "DynamoDBLocal_lib"),
		"-jar", filepath.Join(dir, "DynamoDBLocal.jar"),
		"-inMemory", "-port", strconv.Itoa(port), "-disableTelemetry")
	cmd.Dir = t.TempDir()
	dieWithParent(cmd)
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		unavailable(t, "DynamoDB Local", "start java: %v", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
		if t.Failed() || os.Getenv("STREAMHUB_TEST_DEBUG") != "" {
			t.Logf("DynamoDB Local output:\n%s", out.String())
		}
	})

	endpoint := fmt.Sprintf("http://127.0.0.1:%d", port)
	probe := ddb.New(ddb.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(endpoint),
		Credentials:  credentials.NewStaticCredentialsProvider("probe", "probe", ""),
	})
	deadline := time.Now().Add(90 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err := probe.ListTables(ctx, &ddb.ListTablesInput{})
		cancel()
		if err == nil {
			return endpoint
		}
		select {
		case <-exited:
			unavailable(t, "DynamoDB Local", "java exited before answering: %v\n%s", cmd.ProcessState, out.String())
		default:
		}
		if time.Now().After(deadline) {
			unavailable(t, "DynamoDB Local", "no answer to ListTables within 90s: %v\n%s", err, out.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// useAWSEnv points every AWS SDK client of the process at endpoint through the SDK's
// standard variables only (DESIGN.md, "AWS configuration"), with no shared config or
// credentials file of the machine and no instance metadata. It changes the process's
// environment, so tests calling it must not be parallel.
func useAWSEnv(t *testing.T, endpoint string) {
	t.Helper()
	dir := t.TempDir()
	cfgFile, credFile := filepath.Join(dir, "config"), filepath.Join(dir, "credentials")
	for _, f := range []string{cfgFile, credFile} {
		if err := os.WriteFile(f, nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for _, k := range []string{"AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_DEFAULT_REGION",
		"AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
		"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_ENDPOINT_URL_DYNAMODB",
		"AWS_ENDPOINT_URL_DYNAMODB_STREAMS", "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS"} {
		t.Setenv(k, "") // restored after the test
		os.Unsetenv(k)
	}
	t.Setenv("AWS_ENDPOINT_URL", endpoint)
	t.Setenv("AWS_REGION", "us-east-1")
	// DynamoDB Local keeps one database per access key and region (without -sharedDb):
	// the test and the bridge must use the same.
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDINTEROP")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "interop-secret")
	t.Setenv("AWS_CONFIG_FILE", cfgFile)
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", credFile)
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// syncBuffer collects a child process's output.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
