package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/streamhub/streamhub/kafka"
	"github.com/streamhub/streamhub/topology"
)

func TestTopologyApplyCreatesMissingTopicsOnce(t *testing.T) {
	// A broker that outlives the command, as a real cluster would.
	broker, err := kafka.StartEmbedded("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(broker.Close)
	path := writeFile(t, "real.yaml", fmt.Sprintf(`env: test
kafka:
  brokers: [%s]
  replication_factor: 1
  min_insync_replicas: 1
tables:
  - name: users
    keys: [pk, sk]
    partitions: 4
  - name: orders
    keys: [id]
    partitions: 2
`, broker.Addrs()[0]))
	cfg, err := topology.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	specs := cfg.Topics()

	code, stdout, stderr := runCmd(t, "topology", "apply", "-c", path)
	if code != 0 {
		t.Fatalf("first apply: exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	var created []string
	for _, line := range strings.Split(strings.TrimSpace(stdout), "\n") {
		if name, ok := strings.CutPrefix(line, "created "); ok {
			created = append(created, name)
		}
	}
	var want []string
	for _, s := range specs {
		want = append(want, s.Name)
	}
	if !slices.Equal(created, want) {
		t.Errorf("first apply created %v, want %v", created, want)
	}
	if summary := fmt.Sprintf("%d topics created, 0 already present\n", len(specs)); !strings.HasSuffix(stdout, summary) {
		t.Errorf("first apply stdout does not end with %q:\n%s", summary, stdout)
	}

	// The topics are on the broker as the topology wants them.
	cl, err := kgo.NewClient(kgo.SeedBrokers(broker.Addrs()...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ctx := context.Background()
	details, err := adm.ListTopics(ctx, want...)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range specs {
		d, ok := details[s.Name]
		if !ok || d.Err != nil {
			t.Errorf("topic %s: not on the broker (%v)", s.Name, d.Err)
			continue
		}
		if len(d.Partitions) != s.Partitions {
			t.Errorf("topic %s: %d partitions, want %d", s.Name, len(d.Partitions), s.Partitions)
		}
		if !s.Compacted {
			continue
		}
		rcs, err := adm.DescribeTopicConfigs(ctx, s.Name)
		if err != nil {
			t.Fatal(err)
		}
		rc, err := rcs.On(s.Name, nil)
		if err != nil {
			t.Fatal(err)
		}
		policy := ""
		for _, c := range rc.Configs {
			if c.Key == "cleanup.policy" {
				policy = c.MaybeValue()
			}
		}
		if policy != "compact" {
			t.Errorf("topic %s: cleanup.policy %q, want compact", s.Name, policy)
		}
	}

	code, stdout, stderr = runCmd(t, "topology", "apply", "-c", path)
	if code != 0 {
		t.Fatalf("second apply: exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	if want := fmt.Sprintf("0 topics created, %d already present\n", len(specs)); stdout != want {
		t.Errorf("second apply stdout %q, want %q", stdout, want)
	}
}

func TestTopologyDDLPrintsEveryWarehouseSinksTables(t *testing.T) {
	file := filepath.Join(t.TempDir(), "pg.yaml")
	if err := os.WriteFile(file, []byte(`kafka: {brokers: embedded}
tables:
  - name: users
    keys: [pk, sk]
    columns: [{name: app_id, path: app.id, type: int}]
sinks:
  - {name: pg, type: postgres, dsn: "postgres://x", schema: analytics, tables: [users], topics: [dev.web.page_view]}
  - {name: lake, type: file, dir: /tmp/lake, topics: [dev.web.page_view]}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		target string
		want   []string
	}{
		{"", []string{`-- sink pg (postgres), postgres dialect`, `CREATE TABLE IF NOT EXISTS "analytics"."users"`, `"doc" jsonb`,
			`ADD COLUMN IF NOT EXISTS "app_id" bigint`, `"analytics"."_streamhub_offsets"`, `"analytics"."dev_web_page_view"`}},
		{"redshift", []string{`redshift dialect`, `SUPER`, `CREATE EXTERNAL SCHEMA IF NOT EXISTS "streamhub_msk" FROM MSK AUTHENTICATION none CLUSTER_ARN '<msk-cluster-arn>'`,
			`CREATE MATERIALIZED VIEW "analytics"."dev_web_page_view_stream" AUTO REFRESH YES AS`, `JSON_PARSE(kafka_value)`, `FROM "streamhub_msk"."dev.web.page_view"`}},
		{"snowflake", []string{`snowflake dialect`, `VARIANT`}},
	}
	for _, tt := range tests {
		args := []string{"topology", "ddl", "-c", file}
		if tt.target != "" {
			args = append(args, "--target", tt.target)
		}
		code, stdout, stderr := runCmd(t, args...)
		if code != 0 {
			t.Fatalf("%v: exit %d: %s", args, code, stderr)
		}
		for _, w := range tt.want {
			if !strings.Contains(strings.ToUpper(stdout), strings.ToUpper(w)) {
				t.Errorf("%v: output lacks %q:\n%s", args, w, stdout)
			}
		}
		if strings.Contains(stdout, "sink lake") {
			t.Errorf("%v: a lake sink in the DDL:\n%s", args, stdout)
		}
	}
	if code, _, stderr := runCmd(t, "topology", "ddl", "-c", file, "--target", "oracle"); code != 1 || !strings.Contains(stderr, `--target: want postgres, redshift or snowflake, got "oracle"`) {
		t.Errorf("bad target: exit %d, %s", code, stderr)
	}
}
