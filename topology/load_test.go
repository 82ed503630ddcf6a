package topology

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// testEnv is the environment the good test files are parsed with; tests never read the
// process environment, so they run in parallel.
var testEnv = map[string]string{
	"KAFKA_PASSWORD":  "kafka-secret-1",
	"EXTERNAL_ID":     "ext-42",
	"REDSHIFT_DSN":    "redshift-secret-2",
	"PG_PASSWORD":     "pg-secret-3",
	"SNOWFLAKE_DSN":   "snowflake-secret-4",
	"COLLECTOR_TOKEN": "collector-secret-5",
	"API_TOKEN_A":     "api-secret-6",
	"API_TOKEN_B":     "api-secret-7",
	"MSK_BROKERS":     "b-1.msk:9098, b-2.msk:9098",
	"EMPTY":           "",
}

func lookupIn(env map[string]string) func(string) (string, bool) {
	return func(name string) (string, bool) {
		v, ok := env[name]
		return v, ok
	}
}

func parseFile(t *testing.T, path string, env map[string]string) (*Config, error) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return parse(path, data, lookupIn(env))
}

func parseString(t *testing.T, yaml string, env map[string]string) (*Config, error) {
	t.Helper()
	return parse("t.yaml", []byte(yaml), lookupIn(env))
}

func mustParse(t *testing.T, yaml string, env map[string]string) *Config {
	t.Helper()
	c, err := parseString(t, yaml, env)
	if err != nil {
		t.Fatalf("parse:\n%v", err)
	}
	return c
}

func ptr[T any](v T) *T { return &v }

// assertConfig compares field by field through JSON so that a mismatch shows the lines
// that differ rather than two walls of %+v.
func assertConfig(t *testing.T, got, want *Config) {
	t.Helper()
	if reflect.DeepEqual(got, want) {
		return
	}
	g, _ := json.MarshalIndent(got, "", "  ")
	w, _ := json.MarshalIndent(want, "", "  ")
	gl, wl := strings.Split(string(g), "\n"), strings.Split(string(w), "\n")
	for i := range max(len(gl), len(wl)) {
		var a, b string
		if i < len(gl) {
			a = gl[i]
		}
		if i < len(wl) {
			b = wl[i]
		}
		if a != b {
			t.Errorf("line %d of the JSON form:\n got: %s\nwant: %s", i+1, a, b)
		}
	}
	if !t.Failed() {
		t.Errorf("configs differ in a way JSON does not show (nil vs empty slice?):\n got: %+v\nwant: %+v", got, want)
	}
}

func TestGoodConfigsLoadToExpectedValues(t *testing.T) {
	t.Parallel()
	dev := DevConfig()
	dev.Path = "testdata/good/dev.yaml"

	bridge := func(env string) Bridge {
		return Bridge{Group: env + ".streamhub.bridge", CheckpointTopic: "streamhub.bridge.checkpoints", Leases: 16,
			DiscoveryInterval: 10 * time.Second, MaxBackoff: 5 * time.Second}
	}
	defaultBuffer := Buffer{CountRecords: 10000, SizeBytes: 5 << 20, FlushTime: time.Minute}
	tests := map[string]*Config{
		"dev.yaml": dev,
		"production.yaml": {
			Path: "testdata/good/production.yaml",
			Env:  "prod",
			Kafka: Kafka{
				Brokers:           []string{"b-1.msk.example.com:9096", "b-2.msk.example.com:9096", "b-3.msk.example.com:9096"},
				ClientID:          "streamhub-prod",
				TLS:               &TLS{CAFile: "testdata/good/certs/ca.pem"},
				SASL:              &SASL{Mechanism: SASLScram512, Username: "svc-pipeline", Password: "kafka-secret-1"},
				ReplicationFactor: 3,
				Compression:       "lz4",
				MinInsyncReplicas: 2,
			},
			Tables: []Table{
				{Name: "users", Topic: "prod.users.cdc", Keys: []string{"pk", "sk"}, VersionAttribute: "updatedAt", Partitions: 12, Group: "prod.users.state"},
				{Name: "orders", Topic: "prod.shop.orders.cdc", Keys: []string{"orderId"}, Partitions: 24, Group: "prod.shop.orders.state"},
			},
			API: API{Listen: ":8080", Tokens: []string{"api-secret-6", "api-secret-7"}},
			Processor: Processor{
				StorageDir:      "/var/lib/streamhub/state",
				DLQTopic:        "prod.streamhub.dlq",
				ShutdownTimeout: time.Minute,
			},
			Sources: []Source{
				{
					Type:         SourceDynamoDB,
					Table:        "users",
					StreamARN:    "arn:aws:dynamodb:eu-west-1:123456789012:table/Users-prod/stream/2024-05-01T00:00:00.000",
					Region:       "eu-west-1",
					RoleARN:      "arn:aws:iam::123456789012:role/streamhub-reader",
					ExternalID:   "ext-42",
					Start:        StartLatest,
					PollInterval: 500 * time.Millisecond,
				},
				{Type: SourceDynamoDB, Table: "orders", Start: StartTrimHorizon, PollInterval: time.Second},
			},
			Bridge: Bridge{Group: "prod.streamhub.bridge", CheckpointTopic: "streamhub.bridge.checkpoints", Leases: 32,
				DiscoveryInterval: 30 * time.Second, MaxBackoff: 5 * time.Second},
			Sinks: []Sink{
				{
					Name:   "lake",
					Type:   SinkS3,
					Topics: []string{"prod.web.page_view", "prod.shop.orders.cdc"},
					Tables: []string{"users", "orders"},
					Buffer: Buffer{CountRecords: 50000, SizeBytes: 64 << 20, FlushTime: 5 * time.Minute},
					Format: FormatParquet, ParquetCompression: ParquetZstd, PartitionTime: PartitionByRecord, SnapshotEvery: 24 * time.Hour,
					Bucket: "acme-lake",
					Prefix: "streamhub/",
					Region: "eu-west-1",
				},
				{
					Name:    "warehouse",
					Type:    SinkRedshift,
					Tables:  []string{"orders"},
					Buffer:  defaultBuffer,
					DSN:     "redshift-secret-2",
					Deletes: DeletesSoft,
					Schema:  "analytics",
					Bucket:  "acme-stage",
					Prefix:  "redshift/",
					RoleARN: "arn:aws:iam::123456789012:role/redshift-copy",
				},
				{
					Name:    "pg",
					Type:    SinkPostgres,
					Tables:  []string{"users"},
					Buffer:  Buffer{CountRecords: 10000, SizeBytes: 5 << 20, FlushTime: 10 * time.Second},
					DSN:     "postgres://streamhub:pg-secret-3@db.internal:5432/app",
					Deletes: DeletesSoft,
				},
				{Name: "snow", Type: SinkSnowflake, Tables: []string{"users"}, Buffer: defaultBuffer, DSN: "snowflake-secret-4", Deletes: DeletesSoft},
				{Name: "local", Type: SinkFile, Topics: []string{"prod.web.page_view"}, Buffer: defaultBuffer, Format: FormatJSONLGzip, PartitionTime: PartitionByRecord, Dir: "/var/lib/streamhub/lake"},
			},
			Collector: collectorDefaults("prod", &Collector{
				Listen:       "0.0.0.0:8081",
				MaxBodyBytes: 256 << 10,
				DLQTopic:     "prod.collector.dlq",
				Tokens:       []string{"collector-secret-5"},
			}),
		},
		"msk-iam.yaml": {
			Path: "testdata/good/msk-iam.yaml",
			Env:  "staging",
			Kafka: Kafka{
				Brokers:           []string{"b-1.msk:9098", "b-2.msk:9098"},
				ClientID:          "streamhub",
				TLS:               &TLS{},
				SASL:              &SASL{Mechanism: SASLAWSMSKIAM, Region: "us-east-1"},
				ReplicationFactor: 2,
				Compression:       "lz4",
				MinInsyncReplicas: 1,
			},
			Tables: []Table{{Name: "sessions", Topic: "staging.sessions.cdc", Keys: []string{"sessionId"}, Partitions: 8, Group: "staging.sessions.state"}},
			API:    API{Listen: "127.0.0.1:8080", Enabled: ptr(false)},
			Processor: Processor{
				StorageDir:      ".streamhub/state",
				DLQTopic:        "staging.streamhub.dlq",
				ShutdownTimeout: 30 * time.Second,
				Enabled:         ptr(false),
			},
			Bridge: bridge("staging"),
		},
		"collector-events.yaml": {
			Path:      "testdata/good/collector-events.yaml",
			Env:       "prod",
			Kafka:     Kafka{Brokers: []string{"b-1:9092"}, ClientID: "streamhub", ReplicationFactor: 3, MinInsyncReplicas: 2, Compression: "lz4"},
			API:       API{Listen: "127.0.0.1:8080"},
			Processor: Processor{StorageDir: ".streamhub/state", DLQTopic: "prod.streamhub.dlq", ShutdownTimeout: 30 * time.Second},
			Bridge:    bridge("prod"),
			Collector: &Collector{
				Listen: "0.0.0.0:8081", MaxBodyBytes: 2 << 20, MaxEvents: 500, MaxEventBytes: 32 << 10,
				DLQTopic: "prod.streamhub.dlq", ClientAddress: ClientAddressRemote,
				TrustedProxies: []string{"10.0.0.0/8", "192.168.1.10"},
				MaxInFlight:    50000, Linger: 5 * time.Millisecond, Producers: 4, ProduceTimeout: 5 * time.Second, Partitions: 6,
				Keys: []CollectorKey{
					{Key: "collector-secret-5", Source: "web", Events: []string{"page_view", "click"}},
					{Key: "api-secret-6", Source: "*", Events: []string{"*"}},
				},
				Events:      []EventType{{Name: "page_view", Schema: "testdata/good/schemas/page_view.json"}, {Name: "click"}},
				Routes:      []Route{{Event: "purchase", Topic: "prod.billing.purchases"}, {Source: "game", Topic: "prod.game.events"}},
				InputTopics: []string{"prod.raw.events"},
				Group:       "prod.streamhub.events",
			},
		},
		"collector-only.yaml": {
			Path:      "testdata/good/collector-only.yaml",
			Env:       "dev",
			Kafka:     Kafka{Brokers: []string{"localhost:9092"}, ClientID: "streamhub", ReplicationFactor: 3, MinInsyncReplicas: 2, Compression: "lz4"},
			API:       API{Listen: "127.0.0.1:8080"},
			Processor: Processor{StorageDir: ".streamhub/state", DLQTopic: "dev.streamhub.dlq", ShutdownTimeout: 30 * time.Second},
			Bridge:    bridge("dev"),
			Collector: collectorDefaults("dev", &Collector{Listen: "127.0.0.1:8081", MaxBodyBytes: 1 << 20, DLQTopic: "dev.streamhub.dlq"}),
		},
		"anchors.yaml": {
			Path: "testdata/good/anchors.yaml",
			Env:  "dev",
			Kafka: Kafka{
				Brokers:           []string{"embedded"},
				EmbeddedListen:    "127.0.0.1:9092",
				ClientID:          "streamhub",
				ReplicationFactor: 1,
				Compression:       "lz4",
				MinInsyncReplicas: 1,
			},
			Tables: []Table{
				{Name: "users", Topic: "dev.users.cdc", Keys: []string{"pk"}, Partitions: 8, Group: "dev.users.state"},
				{Name: "carts", Topic: "dev.carts.cdc", Keys: []string{"cartId", "itemId"}, Partitions: 8, Group: "dev.carts.state"},
			},
			API:       API{Listen: "127.0.0.1:8080"},
			Processor: Processor{StorageDir: ".streamhub/state", DLQTopic: "dev.streamhub.dlq", ShutdownTimeout: 30 * time.Second},
			Bridge:    bridge("dev"),
			Sinks: []Sink{
				{Name: "lake-users", Type: SinkFile, Dir: "/tmp/lake", Format: FormatParquet, ParquetCompression: ParquetZstd, PartitionTime: PartitionByRecord, SnapshotEvery: 24 * time.Hour, Tables: []string{"users"},
					Buffer: Buffer{CountRecords: 100, SizeBytes: 1e6, FlushTime: time.Second}},
				{Name: "lake-carts", Type: SinkFile, Dir: "/tmp/lake", Format: FormatParquet, ParquetCompression: ParquetZstd, PartitionTime: PartitionByRecord, SnapshotEvery: 24 * time.Hour, Tables: []string{"carts"},
					Buffer: Buffer{CountRecords: 100, SizeBytes: 1e6, FlushTime: time.Second}},
				{Name: "pg", Type: SinkPostgres, DSN: "postgres://postgres@127.0.0.1:5432/test?sslmode=disable", Deletes: DeletesSoft, Tables: []string{"users", "carts"},
					Buffer: Buffer{CountRecords: 100, SizeBytes: 1e6, FlushTime: time.Second}},
			},
		},
	}

	files, err := filepath.Glob("testdata/good/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if tests[filepath.Base(f)] == nil {
			t.Errorf("%s has no expected value in this test", f)
		}
	}
	for name, want := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			got, err := parseFile(t, filepath.Join("testdata", "good", name), testEnv)
			if err != nil {
				t.Fatalf("parse:\n%v", err)
			}
			assertConfig(t, got, want)
		})
	}
}

func TestLoadReadsTheFileAndNamesItInErrors(t *testing.T) {
	t.Parallel()
	c, err := Load("testdata/good/dev.yaml")
	if err != nil {
		t.Fatal(err)
	}
	want := DevConfig()
	want.Path = "testdata/good/dev.yaml"
	assertConfig(t, c, want)

	_, err = Load("testdata/bad/partitions.yaml")
	if err == nil || !strings.HasPrefix(err.Error(), "testdata/bad/partitions.yaml:6: tables[0].partitions: ") {
		t.Errorf("Load of a bad file: got %v", err)
	}

	_, err = Load("testdata/no-such-file.yaml")
	if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "testdata/no-such-file.yaml") {
		t.Errorf("Load of a missing file: got %v, want an fs.ErrNotExist naming the file", err)
	}
}

func TestBrokersAcceptEmbeddedAScalarListOrASequence(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, brokers string
		want          []string
		embedded      bool
	}{
		{"embedded", "embedded", []string{"embedded"}, true},
		{"one scalar", "kafka1:9092", []string{"kafka1:9092"}, false},
		{"comma list with spaces", `"kafka1:9092, kafka2:9092,kafka3:9092"`, []string{"kafka1:9092", "kafka2:9092", "kafka3:9092"}, false},
		{"sequence", "[kafka1:9092, kafka2:9092]", []string{"kafka1:9092", "kafka2:9092"}, false},
		{"block sequence", "\n    - kafka1:9092\n    - \"[::1]:9092\"", []string{"kafka1:9092", "[::1]:9092"}, false},
		{"from the environment", "${BROKERS}", []string{"a:1", "b:2"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := mustParse(t, "kafka:\n  brokers: "+tt.brokers+"\ntables: [{name: users, keys: [pk]}]\n", map[string]string{"BROKERS": "a:1,b:2"})
			if !reflect.DeepEqual(c.Kafka.Brokers, tt.want) || c.Kafka.Embedded() != tt.embedded {
				t.Errorf("brokers %s: got %q (embedded %v), want %q (embedded %v)", tt.brokers, c.Kafka.Brokers, c.Kafka.Embedded(), tt.want, tt.embedded)
			}
		})
	}
}

func TestAnAbsentOrEmptyNumberTakesItsDefaultButAWrittenZeroIsAnError(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, partitions string
		want             int
		err              string
	}{
		{"absent", "", 8, ""},
		{"null", "partitions:", 8, ""},
		{"empty default of a variable", "partitions: ${P:-}", 8, ""},
		{"a variable", "partitions: ${P:-12}", 12, ""},
		{"quoted", `partitions: "16"`, 16, ""},
		{"zero", "partitions: 0", 0, "t.yaml:4: tables[0].partitions: must be between 1 and 10000, got 0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := parseString(t, "kafka: {brokers: embedded}\ntables:\n  - name: users\n    "+tt.partitions+"\n    keys: [pk]\n", nil)
			if tt.err != "" {
				if err == nil || err.Error() != tt.err {
					t.Fatalf("got error %v, want %s", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := c.Tables[0].Partitions; got != tt.want {
				t.Errorf("partitions: got %d, want %d", got, tt.want)
			}
		})
	}
}

func TestAnEmptySectionTurnsItOnWithDefaults(t *testing.T) {
	t.Parallel()
	c := mustParse(t, "kafka:\n  brokers: k:9092\n  tls:\ncollector:\n", nil)
	if c.Kafka.TLS == nil || *c.Kafka.TLS != (TLS{}) {
		t.Errorf("tls: got %+v, want an empty TLS block", c.Kafka.TLS)
	}
	want := collectorDefaults("dev", &Collector{Listen: "127.0.0.1:8081", MaxBodyBytes: 1 << 20, DLQTopic: "dev.streamhub.dlq"})
	if !reflect.DeepEqual(c.Collector, want) {
		t.Errorf("collector: got %+v, want %+v", c.Collector, want)
	}
	if c := mustParse(t, "kafka: {brokers: embedded}\ntables: [{name: u, keys: [pk]}]\n", nil); c.Collector != nil || c.Kafka.TLS != nil {
		t.Errorf("absent sections: got collector %+v, tls %+v, want both nil", c.Collector, c.Kafka.TLS)
	}
}

func TestExtensionFieldsAtTheTopHoldAnchorsAndAreIgnored(t *testing.T) {
	t.Parallel()
	c := mustParse(t, `
x-keys: &keys [pk, sk]
x-anything: {whatever: 1}
kafka: {brokers: embedded}
tables:
  - {name: a, keys: *keys}
  - {name: b, keys: *keys}
`, nil)
	for _, tb := range c.Tables {
		if !reflect.DeepEqual(tb.Keys, []string{"pk", "sk"}) {
			t.Errorf("table %s keys: got %q", tb.Name, tb.Keys)
		}
	}
	if _, err := parseString(t, "kafka: {brokers: embedded, x-note: 1}\ntables: [{name: a, keys: [pk]}]\n", nil); err == nil {
		t.Error(`"x-" below the top level: got no error, want an unknown field`)
	}
}

func TestLongChainsOfMergesAreExpandedOnce(t *testing.T) {
	t.Parallel()
	// Each level merges the one below twice: expanded naively that is 2^40 pairs.
	var b strings.Builder
	b.WriteString("kafka: {brokers: embedded}\nx-0: &a0 {name: users}\n")
	for i := 1; i <= 40; i++ {
		fmt.Fprintf(&b, "x-%d: &a%d {<<: [*a%d, *a%d]}\n", i, i, i-1, i-1)
	}
	b.WriteString("tables:\n  - <<: *a40\n    keys: [pk]\n")
	c := mustParse(t, b.String(), nil)
	if c.Tables[0].Name != "users" {
		t.Errorf("got table %+v", c.Tables[0])
	}
}

func TestRelativeTLSFilesResolveAgainstTheConfigDirectory(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, f := range []string{"ca.pem", "client.pem", "client.key"} {
		if err := os.WriteFile(filepath.Join(dir, f), []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	abs := filepath.Join(dir, "client.key")
	path := filepath.Join(dir, "topology.yaml")
	data := "kafka:\n  brokers: k:9093\n  tls: {ca_file: ca.pem, cert_file: ./client.pem, key_file: " + abs + "}\ncollector: {}\n"
	c, err := parse(path, []byte(data), lookupIn(nil))
	if err != nil {
		t.Fatal(err)
	}
	want := TLS{CAFile: filepath.Join(dir, "ca.pem"), CertFile: filepath.Join(dir, "client.pem"), KeyFile: abs}
	if *c.Kafka.TLS != want {
		t.Errorf("got %+v, want %+v", *c.Kafka.TLS, want)
	}
}

func TestEnumerationsAreAcceptedInAnyCase(t *testing.T) {
	t.Parallel()
	c := mustParse(t, `
kafka: {brokers: "k:9096", sasl: {mechanism: scram-sha-512, username: u, password: p}}
tables: [{name: users, keys: [pk]}]
sources: [{type: DynamoDB, table: users, start: latest}]
sinks: [{name: lake, type: S3, bucket: b, tables: [users]}]
`, nil)
	if got := []string{c.Kafka.SASL.Mechanism, c.Sources[0].Type, c.Sources[0].Start, c.Sinks[0].Type, c.Sinks[0].Format}; !reflect.DeepEqual(got, []string{"SCRAM-SHA-512", "dynamodb", "LATEST", "s3", "jsonl_gz"}) {
		t.Errorf("got %q", got)
	}
}

// FuzzParse: no input makes Parse panic, and a Config it returns passes Validate.
func FuzzParse(f *testing.F) {
	for _, dir := range []string{"testdata/good", "testdata/bad"} {
		files, _ := filepath.Glob(filepath.Join(dir, "*.yaml"))
		for _, file := range files {
			data, err := os.ReadFile(file)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(data)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := parse("fuzz.yaml", data, lookupIn(testEnv))
		if err != nil {
			if _, ok := errors.AsType[ErrorList](err); !ok {
				t.Fatalf("error is not an ErrorList: %T %v", err, err)
			}
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("a parsed config fails Validate:\n%v", err)
		}
		Print(new(strings.Builder), c)
		c.Topics()
	})
}

// collectorDefaults fills the collector fields the good files leave to their defaults.
func collectorDefaults(env string, c *Collector) *Collector {
	c.MaxEvents = 1000
	c.MaxEventBytes = 64 << 10
	c.ClientAddress = ClientAddressRemote
	c.MaxInFlight = 50000
	c.Linger = 2 * time.Millisecond
	c.Producers = 2
	c.ProduceTimeout = 10 * time.Second
	c.Partitions = 3
	c.Group = env + ".streamhub.events"
	return c
}
