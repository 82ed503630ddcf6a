package topology

import (
	"reflect"
	"testing"
	"time"
)

func TestDevConfigIsTheDevYAMLFile(t *testing.T) {
	t.Parallel()
	got := DevConfig()
	if err := got.Validate(); err != nil {
		t.Fatal(err)
	}
	fromFile, err := parseFile(t, "testdata/good/dev.yaml", nil)
	if err != nil {
		t.Fatal(err)
	}
	fromFile.Path = ""
	assertConfig(t, got, fromFile)
	if !got.Kafka.Embedded() || got.Kafka.EmbeddedListen != "127.0.0.1:9092" || got.API.Listen != "127.0.0.1:8080" {
		t.Errorf("dev config: %+v", got)
	}
}

func TestEnsureDefaultsFillsAGoConfigLikeAFileAndTwiceChangesNothing(t *testing.T) {
	t.Parallel()
	c := &Config{
		Kafka:     Kafka{Brokers: []string{"k1:9092"}},
		Tables:    []Table{{Name: "users", Keys: []string{"pk"}}},
		Sources:   []Source{{Type: "DynamoDB", Table: "users"}},
		Sinks:     []Sink{{Name: "lake", Type: SinkS3, Bucket: "b", Tables: []string{"users"}}},
		Collector: &Collector{},
	}
	c.EnsureDefaults()
	want := &Config{
		Env:       "dev",
		Kafka:     Kafka{Brokers: []string{"k1:9092"}, ClientID: "streamhub", ReplicationFactor: 3, MinInsyncReplicas: 2, Compression: "lz4"},
		Tables:    []Table{{Name: "users", Topic: "dev.users.cdc", Keys: []string{"pk"}, Partitions: 8, Group: "dev.users.state"}},
		API:       API{Listen: "127.0.0.1:8080"},
		Processor: Processor{StorageDir: ".streamhub/state", DLQTopic: "dev.streamhub.dlq", ShutdownTimeout: 30 * time.Second},
		Sources:   []Source{{Type: SourceDynamoDB, Table: "users", Start: StartTrimHorizon, PollInterval: time.Second}},
		Bridge: Bridge{Group: "dev.streamhub.bridge", CheckpointTopic: "streamhub.bridge.checkpoints", Leases: 16,
			DiscoveryInterval: 10 * time.Second, MaxBackoff: 5 * time.Second},
		Sinks: []Sink{{Name: "lake", Type: SinkS3, Bucket: "b", Tables: []string{"users"}, Format: FormatJSONLGzip, PartitionTime: PartitionByRecord, SnapshotEvery: 24 * time.Hour,
			Buffer: Buffer{CountRecords: 10000, SizeBytes: 5 << 20, FlushTime: 60 * time.Second}}},
		Collector: collectorDefaults("dev", &Collector{Listen: "127.0.0.1:8081", MaxBodyBytes: 1 << 20, DLQTopic: "dev.streamhub.dlq"}),
	}
	assertConfig(t, c, want)
	c.EnsureDefaults()
	assertConfig(t, c, want)
	if err := c.Validate(); err != nil {
		t.Error(err)
	}
}

func TestReplicationDefaultsFollowTheBrokers(t *testing.T) {
	t.Parallel()
	tests := []struct {
		brokers                []string
		replication, minInsync int
	}{
		{[]string{"embedded"}, 1, 1},
		{[]string{"k1:9092"}, 3, 2},
		{[]string{"k1:9092", "k2:9092", "k3:9092"}, 3, 2},
	}
	for _, tt := range tests {
		c := &Config{Kafka: Kafka{Brokers: tt.brokers}}
		c.EnsureDefaults()
		if c.Kafka.ReplicationFactor != tt.replication || c.Kafka.MinInsyncReplicas != tt.minInsync {
			t.Errorf("brokers %q: got replication %d, min.insync %d; want %d, %d", tt.brokers,
				c.Kafka.ReplicationFactor, c.Kafka.MinInsyncReplicas, tt.replication, tt.minInsync)
		}
	}
}

func TestValidateNamesFieldsOfAGoConfigWithoutLines(t *testing.T) {
	t.Parallel()
	c := DevConfig()
	c.Path = "built-in"
	c.Tables = append(c.Tables, Table{Name: "users", Keys: []string{"pk"}, Partitions: 20000, Topic: "x", Group: "y"})
	c.Kafka.MinInsyncReplicas = 2
	c.API.Tokens = []string{""}
	err := c.Validate()
	want := ErrorList{
		{File: "built-in", Field: "kafka.min_insync_replicas", Msg: "must not be greater than replication_factor (1), got 2"},
		{File: "built-in", Field: "tables[1].name", Msg: `"users" is also the name of tables[0]`},
		{File: "built-in", Field: "tables[1].partitions", Msg: "must be between 1 and 10000, got 20000"},
		{File: "built-in", Field: "api.tokens[0]", Msg: "a token must not be empty (is its variable set but empty?)"},
	}
	if !reflect.DeepEqual(err, want) {
		t.Errorf("got:\n%v\nwant:\n%v", err, want)
	}
	if got := want[0].Error(); got != "built-in: kafka.min_insync_replicas: must not be greater than replication_factor (1), got 2" {
		t.Errorf("Problem.Error: %s", got)
	}
}

func TestProblemErrorFormats(t *testing.T) {
	t.Parallel()
	tests := []struct {
		p    Problem
		want string
	}{
		{Problem{File: "users.yaml", Line: 12, Field: "tables[0].partitions", Msg: "must be between 1 and 10000, got 0"}, "users.yaml:12: tables[0].partitions: must be between 1 and 10000, got 0"},
		{Problem{File: "users.yaml", Line: 3, Msg: "invalid YAML: x"}, "users.yaml:3: invalid YAML: x"},
		{Problem{File: "users.yaml", Field: "tables", Msg: "m"}, "users.yaml: tables: m"},
		{Problem{Field: "tables", Msg: "m"}, "tables: m"},
		{Problem{Line: 4, Msg: "m"}, "line 4: m"},
	}
	for _, tt := range tests {
		if got := tt.p.Error(); got != tt.want {
			t.Errorf("got %q, want %q", got, tt.want)
		}
	}
}

func TestCloseSuggestsTheMeantWord(t *testing.T) {
	t.Parallel()
	known := []string{"partitions", "version_attribute", "min_insync_replicas", "keys", "env"}
	tests := map[string]string{
		"partiton":            "partitions",
		"Partitions":          "partitions",
		"versionAttribute":    "version_attribute",
		"min-insync-replicas": "min_insync_replicas",
		"key":                 "keys",
		"colour":              "",
		"e":                   "",
	}
	for word, want := range tests {
		if got := closest(word, known); got != want {
			t.Errorf("closest(%q) = %q, want %q", word, got, want)
		}
	}
}

func TestParseSizeReadsUnits(t *testing.T) {
	t.Parallel()
	tests := map[string]int64{"0": 0, "1048576": 1 << 20, "1MiB": 1 << 20, "5 MB": 5e6, "512kib": 512 << 10, "2GiB": 2 << 30, "7b": 7}
	for in, want := range tests {
		if got, err := parseSize(in); err != nil || got != want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "MiB", "1.5MiB", "1 TB", "-1", "99999999999GiB"} {
		if got, err := parseSize(in); err == nil {
			t.Errorf("parseSize(%q) = %d, want an error", in, got)
		}
	}
}
