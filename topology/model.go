// Package topology loads, validates and describes the one YAML file that defines a
// streamhub pipeline: the Kafka connection, CDC tables, the view API and (in later
// issues) sources, sinks and the collector.
package topology

import "time"

// Config is a whole topology file after defaults, ${VAR} expansion and validation.
type Config struct {
	// Path is the file the config was loaded from; used in error messages.
	Path string `yaml:"-"`

	// Env prefixes default topic names: "<env>.<table>.cdc". Default "dev".
	Env string `yaml:"env"`

	Kafka     Kafka      `yaml:"kafka"`
	Tables    []Table    `yaml:"tables"`
	API       API        `yaml:"api"`
	Processor Processor  `yaml:"processor"`
	Sources   []Source   `yaml:"sources"`
	Sinks     []Sink     `yaml:"sinks"`
	Collector *Collector `yaml:"collector"`
}

// Kafka is the connection to the brokers every component shares.
type Kafka struct {
	// Brokers is either the single word "embedded" or a list of host:port.
	// In YAML it may be a scalar ("embedded", "a:9092,b:9092") or a sequence.
	Brokers []string `yaml:"brokers"`
	// EmbeddedListen is where the in-process broker listens when Brokers is "embedded".
	// Default 127.0.0.1:9092.
	EmbeddedListen string `yaml:"embedded_listen"`
	// ClientID is sent to the brokers. Default "streamhub".
	ClientID string `yaml:"client_id"`
	TLS      *TLS   `yaml:"tls"`
	SASL     *SASL  `yaml:"sasl"`
	// ReplicationFactor for topics streamhub creates. Default 3 for real brokers, 1 embedded.
	ReplicationFactor int `yaml:"replication_factor"`
	// MinInsyncReplicas for topics streamhub creates. Default 2 for real brokers, 1 embedded.
	MinInsyncReplicas int `yaml:"min_insync_replicas"`
}

// Embedded reports whether the pipeline runs its own in-process broker.
func (k Kafka) Embedded() bool { return len(k.Brokers) == 1 && k.Brokers[0] == "embedded" }

// TLS enables TLS to the brokers. An empty block means TLS with the system roots.
type TLS struct {
	CAFile             string `yaml:"ca_file"`
	CertFile           string `yaml:"cert_file"`
	KeyFile            string `yaml:"key_file"`
	ServerName         string `yaml:"server_name"`
	InsecureSkipVerify bool   `yaml:"insecure_skip_verify"`
}

// SASL mechanisms streamhub speaks.
const (
	SASLPlain     = "PLAIN"
	SASLScram512  = "SCRAM-SHA-512"
	SASLAWSMSKIAM = "AWS_MSK_IAM"
)

// SASL authenticates to the brokers.
type SASL struct {
	// Mechanism is PLAIN, SCRAM-SHA-512 or AWS_MSK_IAM.
	Mechanism string `yaml:"mechanism"`
	Username  string `yaml:"username"`
	Password  string `yaml:"password"`
	// Region and RoleARN are for AWS_MSK_IAM; credentials come from the SDK's default chain.
	Region  string `yaml:"region"`
	RoleARN string `yaml:"role_arn"`
}

// Table is one DynamoDB table whose changes arrive as DynamoDB Streams records.
type Table struct {
	Name string `yaml:"name"`
	// Topic is the raw CDC topic. Default "<env>.<name>.cdc".
	Topic string `yaml:"topic"`
	// Keys are the key attributes: hash key, then optional range key.
	Keys []string `yaml:"keys"`
	// VersionAttribute, when set, orders changes before sequence numbers (DESIGN.md).
	VersionAttribute string `yaml:"version_attribute"`
	// Partitions of the CDC topic and of the state table topic. Default 8.
	Partitions int `yaml:"partitions"`
	// Group is the goka group keeping this table's latest state; its table topic is
	// "<group>-table". Default "<env>.<name>.state".
	Group string `yaml:"group"`
}

// HashKey is the partition key attribute.
func (t Table) HashKey() string { return t.Keys[0] }

// RangeKey is the sort key attribute, or "" when the table has none.
func (t Table) RangeKey() string {
	if len(t.Keys) > 1 {
		return t.Keys[1]
	}
	return ""
}

// TableTopic is the compacted topic goka writes the latest state to.
func (t Table) TableTopic() string { return t.Group + "-table" }

// API is the HTTP view API.
type API struct {
	// Listen address. Default 127.0.0.1:8080. Empty string after defaults never happens;
	// set enabled: false to turn the API off in `run`.
	Listen  string   `yaml:"listen"`
	Tokens  []string `yaml:"tokens"`
	Enabled *bool    `yaml:"enabled"`
}

// Processor tunes the CDC latest-state processors.
type Processor struct {
	// StorageDir holds the local goleveldb state. Default ".streamhub/state".
	StorageDir string `yaml:"storage_dir"`
	// DLQTopic receives malformed records with the reason. Default "<env>.streamhub.dlq".
	DLQTopic string `yaml:"dlq_topic"`
	// ShutdownTimeout bounds the drain on SIGTERM. Default 30s.
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
	Enabled         *bool         `yaml:"enabled"`
}

// Source feeds a table's CDC topic (issue 3 fills this in).
type Source struct {
	Type  string `yaml:"type"` // "dynamodb"
	Table string `yaml:"table"`
	// Options the later issue defines are kept raw until then.
	Options map[string]any `yaml:",inline"`
}

// Sink writes topics or tables to a warehouse (issues 4+ fill this in).
type Sink struct {
	Name    string         `yaml:"name"`
	Type    string         `yaml:"type"` // s3 | file | postgres | redshift | snowflake
	Topics  []string       `yaml:"topics"`
	Tables  []string       `yaml:"tables"`
	Options map[string]any `yaml:",inline"`
}

// Collector is the HTTP event collector (a later issue fills this in).
type Collector struct {
	Listen  string         `yaml:"listen"`
	Options map[string]any `yaml:",inline"`
}

// TopicSpec is one topic the pipeline needs; `topology apply` creates the missing ones.
type TopicSpec struct {
	Name       string
	Partitions int
	// Compacted topics (state tables) get cleanup.policy=compact.
	Compacted bool
	// Purpose says why the topic exists, for `topology print` and logs: "cdc", "state", "dlq".
	Purpose string
}
