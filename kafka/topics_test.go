package kafka

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/streamhub/streamhub/topology"
)

func spec(name string, partitions int, compacted bool) topology.TopicSpec {
	return topology.TopicSpec{Name: name, Partitions: partitions, Compacted: compacted}
}

func specs(s ...topology.TopicSpec) []topology.TopicSpec { return s }

// testAdmin is a kadm client on a fresh embedded broker.
func testAdmin(t *testing.T) *kadm.Client {
	t.Helper()
	conn, err := Connect(testContext(t), testKafka("embedded"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(conn.Close)
	adm, err := conn.Admin()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(adm.Close)
	return adm
}

func topicConfig(t *testing.T, adm *kadm.Client, topic, key string) string {
	t.Helper()
	rcs, err := adm.DescribeTopicConfigs(testContext(t), topic)
	if err != nil {
		t.Fatal(err)
	}
	rc, err := rcs.On(topic, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range rc.Configs {
		if c.Key == key {
			return c.MaybeValue()
		}
	}
	return ""
}

func TestEnsureTopicsCreatesMissingTopicsThenNothing(t *testing.T) {
	adm := testAdmin(t)
	ctx := testContext(t)
	want := specs(
		spec("dev.orders.cdc", 4, false),
		spec("dev.orders.state-table", 4, true),
		spec("dev.streamhub.dlq", 1, false),
	)
	created, err := EnsureTopics(ctx, adm, want, 1, 1)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(created, []string{"dev.orders.cdc", "dev.orders.state-table", "dev.streamhub.dlq"}) {
		t.Fatalf("created %v", created)
	}
	details, err := adm.ListTopics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range want {
		d := details[s.Name]
		if len(d.Partitions) != s.Partitions || d.Partitions.NumReplicas() != 1 {
			t.Errorf("%s: %d partitions, %d replicas; want %d, 1", s.Name, len(d.Partitions), d.Partitions.NumReplicas(), s.Partitions)
		}
		policy := "delete"
		if s.Compacted {
			policy = "compact"
		}
		if got := topicConfig(t, adm, s.Name, "cleanup.policy"); got != policy {
			t.Errorf("%s: cleanup.policy=%s, want %s", s.Name, got, policy)
		}
		if got := topicConfig(t, adm, s.Name, "min.insync.replicas"); got != "1" {
			t.Errorf("%s: min.insync.replicas=%s, want 1", s.Name, got)
		}
	}

	created, err = EnsureTopics(ctx, adm, want, 1, 1)
	if err != nil || len(created) != 0 {
		t.Fatalf("second run: created %v, err %v; want nothing", created, err)
	}
}

func TestEnsureTopicsReportsButKeepsTopicsThatDiffer(t *testing.T) {
	adm := testAdmin(t)
	ctx := testContext(t)
	if _, err := adm.CreateTopic(ctx, 3, 1, nil, "cdc"); err != nil {
		t.Fatal(err)
	}
	if _, err := adm.CreateTopic(ctx, 2, 1, nil, "state-table"); err != nil {
		t.Fatal(err)
	}
	created, err := EnsureTopics(ctx, adm, specs(spec("cdc", 4, false), spec("state-table", 4, true), spec("new", 2, false)), 1, 1)
	if !slices.Equal(created, []string{"new"}) {
		t.Errorf("created %v, want [new]", created)
	}
	var mismatch *TopicMismatchError
	if !errors.As(err, &mismatch) {
		t.Fatalf("err = %v, want a *TopicMismatchError", err)
	}
	wantProblems := []string{
		"cdc has 3 partitions, the topology wants 4",
		"state-table has 2 partitions, the topology wants 4",
		"state-table has cleanup.policy=delete, a state table needs compact",
	}
	if len(mismatch.Problems) != len(wantProblems) {
		t.Fatalf("problems %+v, want %d", mismatch.Problems, len(wantProblems))
	}
	for i, w := range wantProblems {
		if got := mismatch.Problems[i].Topic + " " + mismatch.Problems[i].Problem; !strings.HasPrefix(got, w) {
			t.Errorf("problem %d = %q, want %q", i, got, w)
		}
	}
	details, _ := adm.ListTopics(ctx, "state-table")
	if n := len(details["state-table"].Partitions); n != 2 {
		t.Errorf("state-table now has %d partitions: EnsureTopics changed an existing topic", n)
	}
	if got := topicConfig(t, adm, "state-table", "cleanup.policy"); got != "delete" {
		t.Errorf("state-table cleanup.policy changed to %s", got)
	}
}

func TestEnsureTopicsAcceptsCompactDeletePolicy(t *testing.T) {
	adm := testAdmin(t)
	ctx := testContext(t)
	if _, err := adm.CreateTopic(ctx, 2, 1, map[string]*string{"cleanup.policy": kadm.StringPtr("compact,delete")}, "s"); err != nil {
		t.Fatal(err)
	}
	if created, err := EnsureTopics(ctx, adm, specs(spec("s", 2, true)), 1, 1); err != nil || len(created) != 0 {
		t.Fatalf("created %v, err %v", created, err)
	}
}

func TestEnsureTopicsRefusesImpossibleSettings(t *testing.T) {
	adm := testAdmin(t)
	tests := []struct {
		name       string
		specs      []topology.TopicSpec
		rf, minISR int
		want       string
	}{
		{"more replicas than brokers", specs(spec("t", 1, false)), 3, 2, "the embedded broker has one: kafka.replication_factor 1"},
		{"min ISR above replication", specs(spec("t", 1, false)), 1, 2, "min.insync.replicas 2 is more than replication factor 1"},
		{"no partitions", specs(spec("t", 0, false)), 1, 1, "topic t: 0 partitions"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := EnsureTopics(testContext(t), adm, tt.specs, tt.rf, tt.minISR)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestEnsureTopicsSetsReplicationAndMinISR(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(3))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	opts, err := ClientOpts(testKafka(c.ListenAddrs()...), c.ListenAddrs())
	if err != nil {
		t.Fatal(err)
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		t.Fatal(err)
	}
	adm := kadm.NewClient(cl)
	defer adm.Close()
	ctx := testContext(t)
	if _, err := EnsureTopics(ctx, adm, specs(spec("prod", 6, true)), 3, 2); err != nil {
		t.Fatal(err)
	}
	// All topics: a listing by name may come from the client's metadata
	// cache (kadm caches for 5s), which still says "prod" does not exist.
	details, err := adm.ListTopics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n := details["prod"].Partitions.NumReplicas(); n != 3 {
		t.Errorf("%d replicas, want 3", n)
	}
	if got := topicConfig(t, adm, "prod", "min.insync.replicas"); got != "2" {
		t.Errorf("min.insync.replicas=%s, want 2", got)
	}
}
