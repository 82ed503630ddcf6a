package deploy_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/jackc/pgx/v5"
)

// The compose topology, run for real without Docker: the same peers as the compose file
// (AWS DynamoDB Local with -sharedDb, MinIO, PostgreSQL) reached only through the SDK's
// standard variables, the seed job's table and items, the bucket the MinIO job makes;
// Kafka is the embedded broker (no Kafka server runs here), and `streamhub run` stands for
// the compose file's separate roles. What it proves beyond the static tests: the compose
// topology's sinks, routes and settings work, from a DynamoDB write to the view API,
// PostgreSQL and the lake, and a collector event to both.

// unavailable skips loudly on a laptop and fails in CI, like the interop tests.
func unavailable(t *testing.T, what, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf("%s not available: %s", what, fmt.Sprintf(format, args...))
	if os.Getenv("CI") == "true" {
		t.Fatal(msg + " (CI=true: a missing peer fails the test; scripts/peers.sh fetches it)")
	}
	t.Skip("SKIPPING LOUDLY " + t.Name() + ": " + msg)
}

// peer is what `scripts/peers.sh NAME` prints: the pinned, checked peer in the cache.
func peer(t *testing.T, name string) string {
	t.Helper()
	script, err := filepath.Abs(filepath.Join(root, "scripts", "peers.sh"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("bash", script, name)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		unavailable(t, name, "scripts/peers.sh %s: %v\n%s", name, err, stderr.String())
	}
	return strings.TrimSpace(string(out))
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

// start runs a process until the test ends; its output goes to a file shown on failure.
func start(t *testing.T, name string, cmd *exec.Cmd) {
	t.Helper()
	logPath := filepath.Join(t.TempDir(), name+".log")
	f, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		f.Close()
		if t.Failed() {
			if b, err := os.ReadFile(logPath); err == nil {
				if len(b) > 8000 {
					b = b[len(b)-8000:]
				}
				t.Logf("---- %s (end of its log) ----\n%s", name, b)
			}
		}
	})
}

func waitFor(t *testing.T, what string, timeout time.Duration, ok func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	last := ""
	for time.Now().Before(deadline) {
		var done bool
		if done, last = ok(); done {
			return
		}
		time.Sleep(300 * time.Millisecond)
	}
	t.Fatalf("%s: not after %s (last: %s)", what, timeout, last)
}

func httpGet(url string) (int, string) {
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestComposeTopologyAgainstPeers(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: starts DynamoDB Local, MinIO and streamhub")
	}
	java, err := exec.LookPath("java")
	if err != nil {
		unavailable(t, "java (for DynamoDB Local)", "%v", err)
	}
	ddbDir := peer(t, "dynamodb-local")
	minioBin := peer(t, "minio")
	pgDSN := os.Getenv("STREAMHUB_TEST_PG_DSN")
	if pgDSN == "" {
		pgDSN = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()

	// A database of its own: the compose topology fixes the schema name.
	admin, err := pgx.Connect(ctx, pgDSN)
	if err != nil {
		unavailable(t, "PostgreSQL", "%s: %v", pgDSN, err)
	}
	defer admin.Close(context.Background())
	db := fmt.Sprintf("streamhub_deploy_%d", os.Getpid())
	if _, err := admin.Exec(ctx, "DROP DATABASE IF EXISTS "+db); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+db); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Exec(context.Background(), "DROP DATABASE IF EXISTS "+db+" WITH (FORCE)") })
	sinkDSN := replaceDatabase(t, pgDSN, db)

	// The compose file's peers and their settings.
	ddbAddr, minioAddr := freeAddr(t), freeAddr(t)
	_, ddbPort, _ := net.SplitHostPort(ddbAddr)
	ddbCmd := exec.Command(java, "-Djava.library.path=DynamoDBLocal_lib", "-jar", "DynamoDBLocal.jar", "-sharedDb", "-inMemory", "-port", ddbPort)
	ddbCmd.Dir = ddbDir
	start(t, "dynamodb-local", ddbCmd)
	minioCmd := exec.Command(minioBin, "server", t.TempDir(), "--address", minioAddr, "--console-address", freeAddr(t))
	minioCmd.Env = append(os.Environ(), "MINIO_ROOT_USER=streamhub", "MINIO_ROOT_PASSWORD=streamhub-secret")
	start(t, "minio", minioCmd)
	waitFor(t, "DynamoDB Local", time.Minute, func() (bool, string) {
		code, body := httpGet("http://" + ddbAddr + "/")
		return code == http.StatusBadRequest, body
	})
	waitFor(t, "MinIO", time.Minute, func() (bool, string) {
		code, body := httpGet("http://" + minioAddr + "/minio/health/live")
		return code == http.StatusOK, body
	})

	// The compose file's x-aws block, pointed at these ports.
	env := map[string]string{
		"AWS_REGION":                        "us-east-1",
		"AWS_DEFAULT_REGION":                "us-east-1",
		"AWS_ACCESS_KEY_ID":                 "streamhub",
		"AWS_SECRET_ACCESS_KEY":             "streamhub-secret",
		"AWS_ENDPOINT_URL_DYNAMODB":         "http://" + ddbAddr,
		"AWS_ENDPOINT_URL_DYNAMODB_STREAMS": "http://" + ddbAddr,
		"AWS_ENDPOINT_URL_S3":               "http://" + minioAddr,
		"AWS_CONFIG_FILE":                   os.DevNull,
		"AWS_SHARED_CREDENTIALS_FILE":       os.DevNull,
	}
	for k, v := range env {
		t.Setenv(k, v)
	}
	awsCfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		t.Fatal(err)
	}
	s3c := s3.NewFromConfig(awsCfg, func(o *s3.Options) { o.UsePathStyle = true })
	if _, err := s3c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("streamhub-lake")}); err != nil {
		t.Fatalf("the minio-init job's bucket: %v", err)
	}
	seed(t, ctx, awsCfg)

	// The compose topology with this machine's addresses; each replacement must still find
	// its text, so a change of the compose topology is noticed here.
	src, err := os.ReadFile(filepath.Join("compose", "topology.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	apiAddr, colAddr := freeAddr(t), freeAddr(t)
	topo := string(src)
	for _, r := range [][2]string{
		{"kafka:\n", "kafka:\n  embedded_listen: " + freeAddr(t) + "\n"},
		{"listen: 0.0.0.0:8080", "listen: " + apiAddr},
		{"listen: 0.0.0.0:8081", "listen: " + colAddr},
		{"storage_dir: /var/lib/streamhub/state", "storage_dir: " + filepath.Join(t.TempDir(), "state")},
		{"flush_time: 10s", "flush_time: 1s"},
		{"flush_time: 5s", "flush_time: 1s"},
	} {
		if !strings.Contains(topo, r[0]) {
			t.Fatalf("compose/topology.yaml no longer has %q: update this test", r[0])
		}
		topo = strings.Replace(topo, r[0], r[1], 1)
	}
	topoPath := filepath.Join(t.TempDir(), "topology.yaml")
	if err := os.WriteFile(topoPath, []byte(topo), 0o644); err != nil {
		t.Fatal(err)
	}
	run := exec.Command(streamhubBinary(t), "run", "-c", topoPath)
	run.Env = append(os.Environ(), "KAFKA_BROKERS=embedded", "PG_DSN="+sinkDSN)
	start(t, "streamhub run", run)

	// DynamoDB → bridge → processor → view API.
	waitFor(t, "user#1 in the view API", time.Minute, func() (bool, string) {
		code, body := httpGet("http://" + apiAddr + "/v1/tables/users/item?pk=user%231&sk=profile")
		return code == http.StatusOK && strings.Contains(body, `"plan":"pro"`), fmt.Sprint(code, " ", body)
	})
	if code, body := httpGet("http://" + apiAddr + "/v1/tables/users/item?pk=user%233&sk=profile"); code != http.StatusNotFound {
		t.Errorf("user#3, deleted by the seed: %d %s, want 404", code, body)
	}

	// A collector event, routed to local.web.events.
	event := `{"event_id":"3f1c2a9e-8a53-4c1e-9b1e-2b7f0a8d2c11","event_name":"page_view","occurred_at":"2026-11-25T13:00:00Z",` +
		`"source":"web","app":{"id":"shop","version":"1.0"},"device":{"id":"d1"},"user":{"id":"user#1"},"payload":{"path":"/"}}`
	waitFor(t, "the collector accepting an event", time.Minute, func() (bool, string) {
		req, _ := http.NewRequest(http.MethodPost, "http://"+colAddr+"/v1/events", strings.NewReader(event))
		req.Header.Set("Authorization", "Bearer dev-token")
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return false, err.Error()
		}
		defer resp.Body.Close()
		var ans struct{ Accepted int }
		b, _ := io.ReadAll(resp.Body)
		json.Unmarshal(b, &ans)
		return resp.StatusCode == http.StatusOK && ans.Accepted == 1, fmt.Sprint(resp.StatusCode, " ", string(b))
	})

	// PostgreSQL: the state table and the event table.
	conn, err := pgx.Connect(ctx, sinkDSN)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	waitFor(t, "PostgreSQL analytics.users and analytics.local_web_events", time.Minute, func() (bool, string) {
		var live, deleted, events int
		err := conn.QueryRow(ctx, `SELECT
			(SELECT count(*) FROM analytics.users WHERE deleted_at IS NULL AND plan IS NOT NULL),
			(SELECT count(*) FROM analytics.users WHERE deleted_at IS NOT NULL),
			(SELECT count(*) FROM analytics.local_web_events)`).Scan(&live, &deleted, &events)
		if err != nil {
			return false, err.Error()
		}
		return live == 2 && deleted == 1 && events == 1, fmt.Sprintf("live %d, deleted %d, events %d", live, deleted, events)
	})
	var plan string
	if err := conn.QueryRow(ctx, `SELECT plan FROM analytics.users WHERE pk = 'user#1' AND sk = 'profile'`).Scan(&plan); err != nil || plan != "pro" {
		t.Errorf("analytics.users user#1 plan = %q (%v), want pro", plan, err)
	}

	// MinIO: the lake's objects for both topics and a state snapshot.
	waitFor(t, "lake objects in MinIO", time.Minute, func() (bool, string) {
		out, err := s3c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("streamhub-lake"), Prefix: aws.String("streamhub/")})
		if err != nil {
			return false, err.Error()
		}
		var keys []string
		for _, o := range out.Contents {
			keys = append(keys, aws.ToString(o.Key))
		}
		all := strings.Join(keys, "\n")
		return strings.Contains(all, "streamhub/local.users.cdc/") && strings.Contains(all, "streamhub/local.web.events/") &&
			strings.Contains(all, "streamhub/state/users/"), all
	})

	// Metrics the dashboard and the alerts read are served by the running roles.
	_, metrics := httpGet("http://" + apiAddr + "/metrics")
	for _, m := range []string{"streamhub_bridge_records_total", "streamhub_processor_events_total", "streamhub_sink_flushes_total",
		"streamhub_view_lag_records", "streamhub_collector_events_accepted_total"} {
		if !strings.Contains(metrics, "\n"+m+"{") {
			t.Errorf("/metrics has no %s series", m)
		}
	}
}

// replaceDatabase returns dsn naming database db instead of its own.
func replaceDatabase(t *testing.T, dsn, db string) string {
	t.Helper()
	base, query, _ := strings.Cut(dsn, "?")
	i := strings.LastIndex(base, "/")
	if i < len("postgres://") {
		t.Fatalf("STREAMHUB_TEST_PG_DSN %q: want a URL naming a database", dsn)
	}
	out := base[:i+1] + db
	if query != "" {
		out += "?" + query
	}
	return out
}

// seed does what deploy/compose/seed.sh does in the compose file: with the AWS CLI when
// this machine has one that reads AWS_ENDPOINT_URL_DYNAMODB, else the same calls through
// the SDK.
func seed(t *testing.T, ctx context.Context, cfg aws.Config) {
	t.Helper()
	if awsCLI, err := exec.LookPath("aws"); err == nil {
		cmd := exec.CommandContext(ctx, "bash", filepath.Join("compose", "seed.sh"))
		cmd.Env = os.Environ()
		out, err := cmd.CombinedOutput()
		if err == nil {
			t.Logf("seeded with %s: %s", awsCLI, bytes.TrimSpace(out))
			return
		}
		t.Logf("seed.sh with %s failed (an AWS CLI too old for AWS_ENDPOINT_URL_DYNAMODB?), seeding through the SDK: %v\n%s", awsCLI, err, out)
	}
	c := dynamodb.NewFromConfig(cfg)
	if _, err := c.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName: aws.String("users"),
		AttributeDefinitions: []ddbtypes.AttributeDefinition{
			{AttributeName: aws.String("pk"), AttributeType: ddbtypes.ScalarAttributeTypeS},
			{AttributeName: aws.String("sk"), AttributeType: ddbtypes.ScalarAttributeTypeS},
		},
		KeySchema: []ddbtypes.KeySchemaElement{
			{AttributeName: aws.String("pk"), KeyType: ddbtypes.KeyTypeHash},
			{AttributeName: aws.String("sk"), KeyType: ddbtypes.KeyTypeRange},
		},
		BillingMode:         ddbtypes.BillingModePayPerRequest,
		StreamSpecification: &ddbtypes.StreamSpecification{StreamEnabled: aws.Bool(true), StreamViewType: ddbtypes.StreamViewTypeNewAndOldImages},
	}); err != nil {
		t.Fatal(err)
	}
	s := func(v string) ddbtypes.AttributeValue { return &ddbtypes.AttributeValueMemberS{Value: v} }
	// Fixed width, as in seed.sh: string version attributes order byte by byte.
	const stamp = "2006-01-02T15:04:05.000Z"
	now := time.Now().UTC().Format(stamp)
	for i := 1; i <= 3; i++ {
		if _, err := c.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String("users"), Item: map[string]ddbtypes.AttributeValue{
			"pk": s(fmt.Sprintf("user#%d", i)), "sk": s("profile"), "email": s(fmt.Sprintf("user%d@example.com", i)),
			"plan": s("free"), "updatedAt": s(now), "logins": &ddbtypes.AttributeValueMemberN{Value: fmt.Sprint(i)},
		}}); err != nil {
			t.Fatal(err)
		}
	}
	key := func(pk string) map[string]ddbtypes.AttributeValue {
		return map[string]ddbtypes.AttributeValue{"pk": s(pk), "sk": s("profile")}
	}
	if _, err := c.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: aws.String("users"), Key: key("user#1"),
		UpdateExpression:          aws.String("SET #p = :p, updatedAt = :u ADD logins :one"),
		ExpressionAttributeNames:  map[string]string{"#p": "plan"},
		ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{":p": s("pro"), ":u": s(time.Now().UTC().Add(time.Millisecond).Format(stamp)), ":one": &ddbtypes.AttributeValueMemberN{Value: "1"}},
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String("users"), Key: key("user#3")}); err != nil {
		t.Fatal(err)
	}
}
