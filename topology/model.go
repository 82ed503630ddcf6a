// Package topology loads, validates and describes the one YAML file that defines a
// streamhub pipeline: the Kafka connection, CDC tables, sources, sinks, the view API and
// the event collector.
//
// A Config comes from Load or Parse (YAML, ${VAR} expansion, defaults, validation, every
// problem reported with file:line) or is built in Go and completed with EnsureDefaults and
// Validate, the same path. In YAML an explicit zero ("partitions: 0") is an error where the
// field must be positive; in Go a zero field means "use the default".
package topology

import "time"

// Config is a whole topology file after defaults, ${VAR} expansion and validation.
type Config struct {
	// Path is the file the config was loaded from; used in error messages.
	Path string `yaml:"-"`

	// Env prefixes default topic names: "<env>.<table>.cdc". Default "dev".
	// Only [a-zA-Z0-9._-] (it becomes part of topic names).
	Env string `yaml:"env"`

	Kafka     Kafka     `yaml:"kafka"`
	Tables    []Table   `yaml:"tables"`
	API       API       `yaml:"api"`
	Processor Processor `yaml:"processor"`
	Sources   []Source  `yaml:"sources"`
	Bridge    Bridge    `yaml:"bridge"`
	Sinks     []Sink    `yaml:"sinks"`
	// Collector is nil when the file has no collector section; the section turns it on.
	Collector *Collector `yaml:"collector"`
}

// Table returns the configured table with the given name.
func (c *Config) Table(name string) (Table, bool) {
	for _, t := range c.Tables {
		if t.Name == name {
			return t, true
		}
	}
	return Table{}, false
}

// SourcesOf returns the sources that feed the named table's CDC topic, in file order.
func (c *Config) SourcesOf(table string) []Source {
	var out []Source
	for _, s := range c.Sources {
		if s.Table == table {
			out = append(out, s)
		}
	}
	return out
}

// Kafka is the connection to the brokers every component shares.
type Kafka struct {
	// Brokers is either the single word "embedded" or a list of host:port. Required.
	// In YAML it may be a scalar ("embedded", "a:9092,b:9092") or a sequence.
	Brokers []string `yaml:"brokers" topology:"list"`
	// EmbeddedListen is where the in-process broker listens when Brokers is "embedded".
	// Default 127.0.0.1:9092 when embedded; setting it with real brokers is an error.
	EmbeddedListen string `yaml:"embedded_listen"`
	// ClientID is sent to the brokers. Default "streamhub".
	ClientID string `yaml:"client_id"`
	TLS      *TLS   `yaml:"tls"`
	SASL     *SASL  `yaml:"sasl"`
	// ReplicationFactor for topics streamhub creates. Default 3 for real brokers, 1 embedded.
	ReplicationFactor int `yaml:"replication_factor"`
	// MinInsyncReplicas for topics streamhub creates. Default 2 for real brokers, 1 embedded.
	// Never greater than ReplicationFactor.
	MinInsyncReplicas int `yaml:"min_insync_replicas"`
	// Compression of the records streamhub produces: none, lz4, snappy, zstd or gzip.
	// Default lz4: cheap on CPU, and JSON records shrink several times on the wire and on
	// the brokers' disks.
	Compression string `yaml:"compression"`
}

// EmbeddedBrokers is the Brokers value that starts the in-process broker.
const EmbeddedBrokers = "embedded"

// Embedded reports whether the pipeline runs its own in-process broker.
func (k Kafka) Embedded() bool { return len(k.Brokers) == 1 && k.Brokers[0] == EmbeddedBrokers }

// BootstrapServers is the host:port list clients dial: the brokers, or the embedded
// broker's listen address.
func (k Kafka) BootstrapServers() []string {
	if k.Embedded() {
		return []string{k.EmbeddedListen}
	}
	return k.Brokers
}

// TLS enables TLS to the brokers. An empty block ("tls: {}" or "tls:") means TLS with the
// system roots. Relative file names in a loaded file are resolved against the directory
// of that file; Load and Parse store the resolved names. Every named file must exist.
type TLS struct {
	CAFile string `yaml:"ca_file"`
	// CertFile and KeyFile are the client certificate for mutual TLS; both or neither.
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
	// Mechanism is PLAIN, SCRAM-SHA-512 or AWS_MSK_IAM (any letter case in the file;
	// stored upper case).
	Mechanism string `yaml:"mechanism"`
	// Username and Password are required for PLAIN and SCRAM-SHA-512, refused otherwise.
	Username string `yaml:"username"`
	Password string `yaml:"password" topology:"secret"`
	// Region (required) and RoleARN (optional) are for AWS_MSK_IAM; credentials come from
	// the SDK's default chain.
	Region  string `yaml:"region"`
	RoleARN string `yaml:"role_arn"`
}

// Table is one DynamoDB table whose changes arrive as DynamoDB Streams records.
type Table struct {
	// Name is unique in the file, [a-z0-9_-]+. Sources and sinks refer to it.
	Name string `yaml:"name"`
	// Topic is the raw CDC topic. Default "<env>.<name>.cdc".
	Topic string `yaml:"topic"`
	// Keys are the key attributes: hash key, then optional range key.
	Keys []string `yaml:"keys"`
	// VersionAttribute, when set, orders changes before sequence numbers (DESIGN.md).
	VersionAttribute string `yaml:"version_attribute"`
	// Partitions of the CDC topic and of the state table topic, 1..10000. Default 8.
	Partitions int `yaml:"partitions"`
	// Group is the goka group keeping this table's latest state; its table topic is
	// "<group>-table". Default "<env>.<name>.state".
	Group string `yaml:"group"`
	// Columns are projected into warehouse tables next to the item's JSON document, so
	// analysts query columns instead of parsing JSON.
	Columns []Column `yaml:"columns"`
}

// Column types of projected warehouse columns.
const (
	ColumnString    = "string"
	ColumnInt       = "int"
	ColumnFloat     = "float"
	ColumnBool      = "bool"
	ColumnTimestamp = "timestamp"
	ColumnJSON      = "json"
)

// Column is a warehouse column taken from the item's plain JSON.
type Column struct {
	// Name of the column: lower-case letters, digits and '_', not starting with a digit,
	// and not one of the columns streamhub itself writes. Required.
	Name string `yaml:"name"`
	// Path is a dotted path into the item ("app.id"). Required.
	Path string `yaml:"path"`
	// Type is string, int, float, bool, timestamp or json. Default string.
	Type string `yaml:"type"`
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

// LoopTopic is where the processor re-sends a record under its item key when the record's
// Kafka key is not the item key (goka's loopback stream "<group>-loop").
func (t Table) LoopTopic() string { return t.Group + "-loop" }

// API is the HTTP view API.
type API struct {
	// Listen address, host:port. Default 127.0.0.1:8080. Empty string after defaults
	// never happens; set enabled: false to turn the API off in `run`.
	Listen string `yaml:"listen"`
	// Tokens are the accepted bearer tokens; none means no authentication. Each must be
	// non-empty after ${VAR} expansion.
	Tokens []string `yaml:"tokens" topology:"secret"`
	// Enabled defaults to true (nil).
	Enabled *bool `yaml:"enabled"`
}

// On reports whether the API runs: Enabled is unset or true.
func (a API) On() bool { return a.Enabled == nil || *a.Enabled }

// Processor tunes the CDC latest-state processors.
type Processor struct {
	// StorageDir holds the local goleveldb state, relative to the working directory.
	// Default ".streamhub/state".
	StorageDir string `yaml:"storage_dir"`
	// DLQTopic receives malformed records with the reason. Default "<env>.streamhub.dlq".
	DLQTopic string `yaml:"dlq_topic"`
	// ShutdownTimeout bounds the drain on SIGTERM; positive. Default 30s.
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
	// Enabled defaults to true (nil).
	Enabled *bool `yaml:"enabled"`
}

// On reports whether the processors run: Enabled is unset or true.
func (p Processor) On() bool { return p.Enabled == nil || *p.Enabled }

// Source types.
const (
	SourceDynamoDB = "dynamodb"
)

// Where a DynamoDB source starts reading a shard that has no checkpoint yet.
const (
	StartTrimHorizon = "TRIM_HORIZON"
	StartLatest      = "LATEST"
)

// Source feeds a table's CDC topic. Several sources may feed one table (global-table
// replicas in several regions, say); the version order sorts their changes out.
type Source struct {
	// Type is "dynamodb", the only source type today. Required.
	Type string `yaml:"type"`
	// Table names a configured table; the source writes to that table's CDC topic. Required.
	Table string `yaml:"table"`
	// StreamARN is the DynamoDB stream to read, "arn:...:table/<name>/stream/<label>".
	// Empty means the latest stream of the DynamoDB table named like Table.
	StreamARN string `yaml:"stream_arn"`
	// Region of the stream. Empty means the SDK's default (AWS_REGION, profile).
	Region string `yaml:"region"`
	// Endpoint overrides the DynamoDB Streams endpoint (DynamoDB Local, ddbtest), an
	// http(s) URL. Empty means the SDK's default, which honours AWS_ENDPOINT_URL_*.
	Endpoint string `yaml:"endpoint"`
	// RoleARN is assumed (STS) to read a stream in another account; ExternalID goes with it.
	RoleARN    string `yaml:"role_arn"`
	ExternalID string `yaml:"external_id"`
	// Start is TRIM_HORIZON (everything the stream still holds) or LATEST. Any letter case
	// in the file; stored upper case. Default TRIM_HORIZON.
	Start string `yaml:"start"`
	// PollInterval is how long the poller waits after an empty GetRecords response before
	// asking that shard again; positive. Default 1s.
	PollInterval time.Duration `yaml:"poll_interval"`
}

// Bridge runs the dynamodb sources: it copies stream records into the CDC topics.
// Instances of one group share the shards of every stream through Kafka alone.
type Bridge struct {
	// Group is the Kafka consumer group the instances join to share shards; it also
	// prefixes their transactional IDs. Default "<env>.streamhub.bridge".
	Group string `yaml:"group"`
	// CheckpointTopic holds each shard's checkpoint, written in the same transaction as
	// the shard's records; compacted. Its partitions are the leases: an instance owns
	// the shards that hash to the partitions the group assigns it.
	// Default "streamhub.bridge.checkpoints".
	CheckpointTopic string `yaml:"checkpoint_topic"`
	// Leases is the number of checkpoint topic partitions, the unit of ownership and
	// the most instances that can share the work; 1..1000. Default 16.
	Leases int `yaml:"leases"`
	// DiscoveryInterval is how often each stream is described to find new shards;
	// positive. Default 10s.
	DiscoveryInterval time.Duration `yaml:"discovery_interval"`
	// MaxBackoff caps the jittered exponential backoff after throttling and server
	// errors; positive. Default 5s.
	MaxBackoff time.Duration `yaml:"max_backoff"`
	// Enabled defaults to true (nil); the bridge runs in `run` when there are dynamodb
	// sources.
	Enabled *bool `yaml:"enabled"`
}

// On reports whether the bridge runs: Enabled is unset or true.
func (b Bridge) On() bool { return b.Enabled == nil || *b.Enabled }

// Sink types.
const (
	SinkS3        = "s3"
	SinkFile      = "file"
	SinkPostgres  = "postgres"
	SinkRedshift  = "redshift"
	SinkSnowflake = "snowflake"
)

// Lake object formats.
const (
	FormatJSONLGzip = "jsonl_gz"
	FormatParquet   = "parquet"
)

// Warehouse delete modes.
const (
	DeletesSoft = "soft"
	DeletesHard = "hard"
)

// Parquet compressions and lake partition times.
const (
	ParquetZstd       = "zstd"
	ParquetSnappy     = "snappy"
	PartitionByRecord = "record"
	PartitionByKafka  = "kafka"
)

// Sink writes raw topics and the state of tables to one target.
type Sink struct {
	// Name is unique among sinks, [a-z0-9_-]+. Required.
	Name string `yaml:"name"`
	// Type is s3, file, postgres, redshift or snowflake. Required.
	Type string `yaml:"type"`
	// Topics are raw topics copied as they are (CDC topics, collector topics). Any valid
	// topic name; the sink does not create them.
	Topics []string `yaml:"topics"`
	// Tables name configured tables whose latest state the sink writes: upserted rows in
	// a warehouse, snapshots (snapshot_every) in a lake. A sink needs at least one topic
	// or table.
	Tables []string `yaml:"tables"`
	// Buffer decides when a flush happens.
	Buffer Buffer `yaml:"buffer"`
	// Format of lake objects: jsonl_gz or parquet; only for s3 and file sinks.
	// Default jsonl_gz.
	Format string `yaml:"format"`
	// ParquetCompression is zstd or snappy; only with format parquet. Default zstd.
	ParquetCompression string `yaml:"parquet_compression"`
	// PartitionTime decides the dt=/hr= folder of a record in a lake sink: "record" (the
	// record's own time: ApproximateCreationDateTime for CDC records, occurred_at for
	// collector events, else the Kafka timestamp) or "kafka" (always the Kafka
	// timestamp). Default record.
	PartitionTime string `yaml:"partition_time"`
	// Manifest writes, per flush, a manifest of the objects written in the format
	// Redshift's COPY … MANIFEST reads; s3 sinks only.
	Manifest bool `yaml:"manifest"`
	// SnapshotEvery writes a full snapshot of each of the sink's tables this often
	// (lake sinks): the state tables reach a lake as snapshots. Default 24h when the
	// sink has tables; 0 (written) turns snapshots off.
	SnapshotEvery time.Duration `yaml:"snapshot_every"`
	// PathStyle addresses the bucket in the URL path (MinIO, LocalStack); s3 sinks.
	PathStyle bool `yaml:"path_style"`

	// Bucket (required), Prefix, Region, Endpoint and RoleARN locate an s3 sink. A
	// redshift sink may set them too: the S3 stage its COPY loads from.
	Bucket   string `yaml:"bucket"`
	Prefix   string `yaml:"prefix"`
	Region   string `yaml:"region"`
	Endpoint string `yaml:"endpoint"`
	RoleARN  string `yaml:"role_arn"`

	// Dir is the root directory of a file sink. Required for file, refused otherwise.
	Dir string `yaml:"dir"`

	// DSN connects a postgres, redshift or snowflake sink (driver syntax). Required for
	// those, refused otherwise. It usually holds a password: never print it.
	DSN string `yaml:"dsn" topology:"secret"`
	// MSKClusterARN names the MSK cluster in the Redshift streaming-ingestion DDL that
	// `topology ddl --target redshift` prints; redshift sinks only.
	MSKClusterARN string `yaml:"msk_cluster_arn"`
	// TopicToTable names the event tables of a snowflake sink's topics in the Snowflake
	// Kafka connector's snowflake.topic2table.map syntax: "topic1:table1,topic2:table2".
	// Unmapped topics get the topic's name with [^a-z0-9_] replaced by '_'.
	TopicToTable string `yaml:"topic_to_table"`
	// CopyRoleARN is the IAM role a redshift sink's COPY reads the S3 stage with
	// (COPY … IAM_ROLE); empty uses the cluster's default role.
	CopyRoleARN string `yaml:"copy_role_arn"`
	// Deletes in a warehouse state table: "soft" sets deleted_at and keeps the row,
	// "hard" deletes it. Default soft.
	Deletes string `yaml:"deletes"`
	// Schema the warehouse tables live in. Empty means the connection's default.
	Schema string `yaml:"schema"`
}

// Lake reports whether the sink writes objects (s3, file) rather than warehouse rows.
func (s Sink) Lake() bool { return s.Type == SinkS3 || s.Type == SinkFile }

// Warehouse reports whether the sink upserts rows through a DSN.
func (s Sink) Warehouse() bool {
	return s.Type == SinkPostgres || s.Type == SinkRedshift || s.Type == SinkSnowflake
}

// Buffer bounds what a sink holds before it flushes: whichever limit is reached first.
type Buffer struct {
	// CountRecords flushes after this many records; positive. Default 10000.
	CountRecords int `yaml:"count_records"`
	// SizeBytes flushes after this many bytes of record values; positive. In YAML an
	// integer or a size with a unit ("5MiB", "512KB"). Default 5 MiB.
	SizeBytes int64 `yaml:"size_bytes" topology:"bytes"`
	// FlushTime flushes this long after the first buffered record; positive. Default 60s.
	FlushTime time.Duration `yaml:"flush_time"`
}

// Collector is the HTTP event collector (`streamhub collect`) and the events processor
// for envelopes other producers write to Kafka directly. Events are routed by Routes,
// else to "<env>.<source>.<event_name>" with each name sanitized (EventTopic).
type Collector struct {
	// Listen address, host:port. Default 127.0.0.1:8081.
	Listen string `yaml:"listen"`
	// MaxBodyBytes caps a request body, after gzip decoding too; positive. In YAML an
	// integer or a size with a unit ("1MiB"). Default 1 MiB.
	MaxBodyBytes int64 `yaml:"max_body_bytes" topology:"bytes"`
	// MaxEvents caps the events of one request; positive. Default 1000.
	MaxEvents int `yaml:"max_events"`
	// MaxEventBytes caps one event as sent (its JSON); positive, at most max_body_bytes.
	// Default 64 KiB.
	MaxEventBytes int64 `yaml:"max_event_bytes" topology:"bytes"`
	// DLQTopic receives invalid events with the reason. Default: the processor's DLQ topic,
	// so a pipeline has one DLQ unless the file splits it.
	DLQTopic string `yaml:"dlq_topic"`
	// Tokens are keys that may send any event of any source; with no tokens and no keys
	// the collector needs no authentication. Each must be non-empty after ${VAR} expansion.
	Tokens []string `yaml:"tokens" topology:"secret"`
	// Keys are API keys, each bound to one source and a set of event names.
	Keys []CollectorKey `yaml:"keys"`
	// Events declare event names, optionally with a JSON Schema for their payload.
	Events []EventType `yaml:"events"`
	// Routes send events to topics other than the default; the first match wins.
	Routes []Route `yaml:"routes"`
	// ClientAddress is what enrichment records as the client's address: "remote" (the
	// connection's peer, or the X-Forwarded-For client when the peer is a trusted proxy)
	// or "none". Default remote.
	ClientAddress string `yaml:"client_address"`
	// TrustedProxies are IPs or CIDRs whose X-Forwarded-For header is believed.
	TrustedProxies []string `yaml:"trusted_proxies" topology:"list"`
	// MaxInFlight caps the events waiting for Kafka; a request beyond it gets 429.
	// Default 50000.
	MaxInFlight int `yaml:"max_in_flight"`
	// Linger is how long the committer waits for more requests to share a Kafka
	// transaction (group commit); 0 commits as soon as one is free. Default 2ms.
	Linger time.Duration `yaml:"linger"`
	// Producers is the number of transactional Kafka clients committing in parallel;
	// 1..64. Default 2.
	Producers int `yaml:"producers"`
	// ProduceTimeout bounds a transaction (produce and commit); beyond it the requests
	// get 503. Default 10s.
	ProduceTimeout time.Duration `yaml:"produce_timeout"`
	// Partitions of the event topics the collector creates when they are missing.
	// Default 3.
	Partitions int `yaml:"partitions"`
	// InputTopics hold envelopes written to Kafka by other producers; the events
	// processor (`streamhub collect`, `run`) validates and routes them like the HTTP path.
	InputTopics []string `yaml:"input_topics" topology:"list"`
	// Group is the events processor's consumer group. Default <env>.streamhub.events.
	Group string `yaml:"group"`
}

// CollectorKey is one API key of the collector.
type CollectorKey struct {
	// Key is the secret, sent as "Authorization: Bearer <key>" or "X-API-Key: <key>".
	Key string `yaml:"key" topology:"secret"`
	// Source is the envelope source this key speaks for ("*": any).
	Source string `yaml:"source"`
	// Events are the event names the key may send ("*": any). Required.
	Events []string `yaml:"events" topology:"list"`
}

// EventType declares one event name.
type EventType struct {
	Name string `yaml:"name"`
	// Schema is a JSON Schema file (draft 2020-12 unless it says otherwise) for the
	// payload; relative to the topology file. Optional.
	Schema string `yaml:"schema"`
}

// Route sends matching events to Topic. An empty or "*" Event or Source matches any.
type Route struct {
	Event  string `yaml:"event"`
	Source string `yaml:"source"`
	Topic  string `yaml:"topic"`
}

// Client address modes of the collector.
const (
	ClientAddressRemote = "remote"
	ClientAddressNone   = "none"
)

// Matches reports whether the route applies to an event of the given name and source.
func (r Route) Matches(event, source string) bool {
	return (r.Event == "" || r.Event == "*" || r.Event == event) &&
		(r.Source == "" || r.Source == "*" || r.Source == source)
}

// EventTopic is the topic an event goes to: the first matching route's, else
// "<env>.<source>.<event_name>" where every character of source and event name other
// than ASCII letters, digits, '_' and '-' becomes '_' ('.' too, so the parts stay apart:
// "Page View" → "Page_View", "web.shop" → "web_shop"). The result may still be too long
// for Kafka (249 characters); the caller checks.
func (c *Collector) EventTopic(env, event, source string) string {
	for _, r := range c.Routes {
		if r.Matches(event, source) {
			return r.Topic
		}
	}
	return env + "." + SanitizeTopicPart(source) + "." + SanitizeTopicPart(event)
}

// SanitizeTopicPart makes s usable as one dot-separated part of a topic name.
func SanitizeTopicPart(s string) string {
	ok := true
	for i := 0; i < len(s); i++ {
		if !topicPartByte(s[i]) {
			ok = false
			break
		}
	}
	if ok && s != "" {
		return s
	}
	if s == "" {
		return "_"
	}
	b := []byte(s)
	for i := range b {
		if !topicPartByte(b[i]) {
			b[i] = '_'
		}
	}
	return string(b)
}

func topicPartByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-'
}

// Topic purposes.
const (
	PurposeCDC   = "cdc"
	PurposeState = "state"
	PurposeDLQ   = "dlq"
	PurposeLoop  = "loop"
	// PurposeCheckpoint is the bridge's compacted checkpoint (and lease) topic.
	PurposeCheckpoint = "checkpoint"
)

// TopicSpec is one topic the pipeline needs; `topology apply` creates the missing ones.
type TopicSpec struct {
	Name       string
	Partitions int
	// Compacted topics (state tables) get cleanup.policy=compact.
	Compacted bool
	// Purpose says why the topic exists, for `topology print` and logs: "cdc", "state", "dlq".
	Purpose string
}
