package topology

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// Validate checks a Config whose defaults are in place (EnsureDefaults) and returns an
// ErrorList with every problem, or nil. For a Config built in Go the problems name
// Config.Path and the field but no line.
func (c *Config) Validate() error {
	r := newReport(c.Path)
	c.validate(r)
	return r.err()
}

const (
	maxPartitions  = 10000
	maxTopicLength = 249 // Kafka's limit
)

var (
	nameRe  = regexp.MustCompile(`^[a-z0-9_-]+$`)
	topicRe = regexp.MustCompile(`^[a-zA-Z0-9._-]+$`)
)

// validate is the one validation pass; it reports every problem to r and never stops early.
func (c *Config) validate(r *report) {
	if !topicRe.MatchString(c.Env) {
		r.errorf("env", "must be letters, digits, '.', '_' or '-' (it starts topic names), got %q", c.Env)
	}
	c.validateKafka(r)
	c.validateTables(r)
	c.validateAPI(r)
	c.validateProcessor(r)
	c.validateSources(r)
	c.validateBridge(r)
	c.validateSinks(r)
	c.validateCollector(r)
	c.validateTopicNames(r)
	if len(c.Tables) == 0 && c.Collector == nil {
		r.errorf("tables", "a topology needs at least one table or a collector section")
	}
}

func (c *Config) validateKafka(r *report) {
	k := c.Kafka
	if len(k.Brokers) == 0 {
		r.errorf("kafka.brokers", `required: "embedded" or a list of host:port`)
	}
	for i, b := range k.Brokers {
		p := indexPath("kafka.brokers", i)
		if b == EmbeddedBrokers {
			if len(k.Brokers) > 1 {
				r.errorf(p, `"embedded" must be the only broker`)
			}
			continue
		}
		if msg := checkAddr(b, true); msg != "" {
			r.errorf(p, "%s", msg)
		}
	}
	if k.Embedded() {
		if msg := checkAddr(k.EmbeddedListen, false); msg != "" {
			r.errorf("kafka.embedded_listen", "%s", msg)
		}
	} else if k.EmbeddedListen != "" && len(k.Brokers) > 0 {
		r.errorf("kafka.embedded_listen", `only used with brokers: embedded; remove it or the brokers`)
	}
	switch k.Compression {
	case "none", "lz4", "snappy", "zstd", "gzip":
	default:
		r.errorf("kafka.compression", "must be none, lz4, snappy, zstd or gzip, got %q", k.Compression)
	}
	if k.ReplicationFactor < 1 {
		r.errorf("kafka.replication_factor", "must be at least 1, got %d", k.ReplicationFactor)
	}
	if k.MinInsyncReplicas < 1 {
		r.errorf("kafka.min_insync_replicas", "must be at least 1, got %d", k.MinInsyncReplicas)
	} else if k.ReplicationFactor >= 1 && k.MinInsyncReplicas > k.ReplicationFactor {
		r.errorf("kafka.min_insync_replicas", "must not be greater than replication_factor (%d), got %d", k.ReplicationFactor, k.MinInsyncReplicas)
	}

	if t := k.TLS; t != nil {
		checkFile(r, "kafka.tls.ca_file", t.CAFile)
		checkFile(r, "kafka.tls.cert_file", t.CertFile)
		checkFile(r, "kafka.tls.key_file", t.KeyFile)
		switch {
		case t.CertFile != "" && t.KeyFile == "":
			r.errorf("kafka.tls.key_file", "required with cert_file (a client certificate needs its key)")
		case t.KeyFile != "" && t.CertFile == "":
			r.errorf("kafka.tls.cert_file", "required with key_file (a client key needs its certificate)")
		}
	}

	if s := k.SASL; s != nil {
		mechanisms := []string{SASLPlain, SASLScram512, SASLAWSMSKIAM}
		switch s.Mechanism {
		case SASLPlain, SASLScram512:
			if s.Username == "" {
				r.errorf("kafka.sasl.username", "required for %s", s.Mechanism)
			}
			if s.Password == "" {
				r.errorf("kafka.sasl.password", "required for %s", s.Mechanism)
			}
			if s.Region != "" {
				r.errorf("kafka.sasl.region", "only for %s, not %s", SASLAWSMSKIAM, s.Mechanism)
			}
			if s.RoleARN != "" {
				r.errorf("kafka.sasl.role_arn", "only for %s, not %s", SASLAWSMSKIAM, s.Mechanism)
			}
		case SASLAWSMSKIAM:
			if s.Region == "" {
				r.errorf("kafka.sasl.region", "required for %s", s.Mechanism)
			}
			if s.Username != "" {
				r.errorf("kafka.sasl.username", "not used with %s (credentials come from the AWS SDK)", s.Mechanism)
			}
			if s.Password != "" {
				r.errorf("kafka.sasl.password", "not used with %s (credentials come from the AWS SDK)", s.Mechanism)
			}
			checkRoleARN(r, "kafka.sasl.role_arn", s.RoleARN)
		case "":
			r.errorf("kafka.sasl.mechanism", "required: one of %s", strings.Join(mechanisms, ", "))
		default:
			r.errorf("kafka.sasl.mechanism", "must be one of %s, got %q%s", strings.Join(mechanisms, ", "), s.Mechanism, didYouMean(s.Mechanism, mechanisms))
		}
	}
}

func (c *Config) validateTables(r *report) {
	names := map[string]int{}
	groups := map[string]int{}
	repeated := c.repeatedTables()
	for i, t := range c.Tables {
		p := indexPath("tables", i)
		switch {
		case t.Name == "":
			r.errorf(p+".name", "required")
		case !nameRe.MatchString(t.Name):
			r.errorf(p+".name", "must be lower-case letters, digits, '_' or '-', got %q", t.Name)
		default:
			if j, dup := names[t.Name]; dup {
				r.errorf(p+".name", "%q is also the name of tables[%d]%s", t.Name, j, r.lineNote(indexPath("tables", j)))
			} else {
				names[t.Name] = i
			}
		}

		switch len(t.Keys) {
		case 1, 2:
			for j, k := range t.Keys {
				if k == "" {
					r.errorf(indexPath(p+".keys", j), "must not be empty")
				}
			}
			if len(t.Keys) == 2 && t.Keys[0] == t.Keys[1] && t.Keys[0] != "" {
				r.errorf(p+".keys[1]", "the range key must differ from the hash key, both are %q", t.Keys[0])
			}
		case 0:
			r.errorf(p+".keys", "required: the hash key, then the range key if the table has one ([pk] or [pk, sk])")
		default:
			r.errorf(p+".keys", "must be the hash key and at most one range key, got %d keys %q", len(t.Keys), t.Keys)
		}

		if msg := topicProblem(t.Topic); msg != "" {
			r.errorf(p+".topic", "%s", msg)
		}
		if msg := topicProblem(t.Group); msg != "" {
			r.errorf(p+".group", "%s", msg)
		} else if len(t.TableTopic()) > maxTopicLength {
			r.errorf(p+".group", "has at most %d characters, so that its state topic \"<group>-table\" fits Kafka's %d, got %d in %q",
				maxTopicLength-len("-table"), maxTopicLength, len(t.Group), t.Group)
		} else if j, dup := groups[t.Group]; dup && !repeated[i] {
			r.errorf(p+".group", "%q is also the group of tables[%d]%s; each table needs its own", t.Group, j, r.lineNote(indexPath("tables", j)))
		} else {
			groups[t.Group] = i
		}

		if t.Partitions < 1 || t.Partitions > maxPartitions {
			r.errorf(p+".partitions", "must be between 1 and %d, got %d", maxPartitions, t.Partitions)
		}
		c.validateColumns(r, p, t)
	}
}

// reservedColumns are the columns streamhub writes in every warehouse state table.
var reservedColumns = []string{"key", "doc", "deleted_at", "version_attr", "version_seq", "version_stream",
	"version_created_at", "_streamhub_updated_at"}

var columnRe = regexp.MustCompile(`^[a-z_][a-z0-9_]*$`)

var columnTypes = []string{ColumnString, ColumnInt, ColumnFloat, ColumnBool, ColumnTimestamp, ColumnJSON}

func (c *Config) validateColumns(r *report, p string, t Table) {
	seen := map[string]bool{}
	for _, k := range t.Keys {
		seen[k] = true
	}
	for j, col := range t.Columns {
		cp := indexPath(p+".columns", j)
		switch {
		case col.Name == "":
			r.errorf(cp+".name", "required")
		case !columnRe.MatchString(col.Name) || len(col.Name) > 63:
			r.errorf(cp+".name", "must be lower-case letters, digits and '_', not starting with a digit, at most 63 characters, got %q", col.Name)
		case contains(reservedColumns, col.Name):
			r.errorf(cp+".name", "%q is a column streamhub writes itself (%s)", col.Name, strings.Join(reservedColumns, ", "))
		case seen[col.Name]:
			r.errorf(cp+".name", "%q is already a column of this table", col.Name)
		}
		seen[col.Name] = true
		if col.Path == "" || strings.HasPrefix(col.Path, ".") || strings.HasSuffix(col.Path, ".") || strings.Contains(col.Path, "..") {
			r.errorf(cp+".path", "must be a dotted path into the item like app.id, got %q", col.Path)
		}
		if !contains(columnTypes, col.Type) {
			r.errorf(cp+".type", "must be one of %s, got %q", strings.Join(columnTypes, ", "), col.Type)
		}
	}
}

// repeatedTables holds the indexes of tables whose name an earlier table has. Their
// default topic and group repeat too; the name is the one problem to report.
func (c *Config) repeatedTables() map[int]bool {
	seen := map[string]bool{}
	out := map[int]bool{}
	for i, t := range c.Tables {
		if t.Name != "" && seen[t.Name] {
			out[i] = true
		}
		seen[t.Name] = true
	}
	return out
}

func (c *Config) validateAPI(r *report) {
	if msg := checkAddr(c.API.Listen, false); msg != "" {
		r.errorf("api.listen", "%s", msg)
	}
	checkTokens(r, "api.tokens", c.API.Tokens)
}

func (c *Config) validateProcessor(r *report) {
	p := c.Processor
	if p.StorageDir == "" {
		r.errorf("processor.storage_dir", "required")
	}
	if msg := topicProblem(p.DLQTopic); msg != "" {
		r.errorf("processor.dlq_topic", "%s", msg)
	}
	if p.ShutdownTimeout <= 0 {
		r.errorf("processor.shutdown_timeout", "must be positive, got %s", p.ShutdownTimeout)
	}
}

func (c *Config) validateSources(r *report) {
	tables := c.tableNames()
	type stream struct{ table, arn, region, endpoint string }
	seen := map[stream]int{}
	for i, s := range c.Sources {
		p := indexPath("sources", i)
		c.checkTableRef(r, p+".table", s.Table, tables)
		switch s.Type {
		case SourceDynamoDB:
		case "":
			r.errorf(p+".type", "required: %s", SourceDynamoDB)
			continue
		default:
			r.errorf(p+".type", "must be %s, got %q", SourceDynamoDB, s.Type)
			continue
		}
		if s.StreamARN != "" && (!strings.HasPrefix(s.StreamARN, "arn:") || !strings.Contains(s.StreamARN, "/stream/")) {
			r.errorf(p+".stream_arn", "must be a DynamoDB stream ARN like arn:aws:dynamodb:<region>:<account>:table/<table>/stream/<label>, got %q", s.StreamARN)
		}
		checkEndpoint(r, p+".endpoint", s.Endpoint)
		checkRoleARN(r, p+".role_arn", s.RoleARN)
		if s.ExternalID != "" && s.RoleARN == "" {
			r.errorf(p+".external_id", "only used with role_arn (it is passed when assuming the role)")
		}
		switch s.Start {
		case StartTrimHorizon, StartLatest:
		default:
			r.errorf(p+".start", "must be %s or %s, got %q", StartTrimHorizon, StartLatest, s.Start)
		}
		if s.PollInterval <= 0 {
			r.errorf(p+".poll_interval", "must be positive, got %s", s.PollInterval)
		}
		key := stream{s.Table, s.StreamARN, s.Region, s.Endpoint}
		if j, dup := seen[key]; dup {
			r.errorf(p, "reads the same stream as sources[%d]%s; every change would be written twice", j, r.lineNote(indexPath("sources", j)))
		} else {
			seen[key] = i
		}
	}
}

func (c *Config) validateBridge(r *report) {
	b := c.Bridge
	// The names matter only with a source to bridge; a default derived from a bad env
	// is reported once, on env.
	if c.BridgeOn() {
		if msg := topicProblem(b.Group); msg != "" {
			// The group becomes part of transactional and client IDs: the same alphabet.
			r.errorf("bridge.group", "%s", strings.Replace(msg, "topic", "group", 1))
		}
		if msg := topicProblem(b.CheckpointTopic); msg != "" {
			r.errorf("bridge.checkpoint_topic", "%s", msg)
		}
	}
	if b.Leases < 1 || b.Leases > 1000 {
		r.errorf("bridge.leases", "must be 1..1000, got %d", b.Leases)
	}
	if b.DiscoveryInterval <= 0 {
		r.errorf("bridge.discovery_interval", "must be positive, got %s", b.DiscoveryInterval)
	}
	if b.MaxBackoff <= 0 {
		r.errorf("bridge.max_backoff", "must be positive, got %s", b.MaxBackoff)
	}
}

var sinkTypes = []string{SinkS3, SinkFile, SinkPostgres, SinkRedshift, SinkSnowflake}

func (c *Config) validateSinks(r *report) {
	tables := c.tableNames()
	names := map[string]int{}
	for i, s := range c.Sinks {
		p := indexPath("sinks", i)
		switch {
		case s.Name == "":
			r.errorf(p+".name", "required")
		case !nameRe.MatchString(s.Name):
			r.errorf(p+".name", "must be lower-case letters, digits, '_' or '-', got %q", s.Name)
		default:
			if j, dup := names[s.Name]; dup {
				r.errorf(p+".name", "%q is also the name of sinks[%d]%s", s.Name, j, r.lineNote(indexPath("sinks", j)))
			} else {
				names[s.Name] = i
			}
		}

		if len(s.Topics) == 0 && len(s.Tables) == 0 {
			r.errorf(p, "writes nothing: give it topics (raw topics) or tables (their latest state)")
		}
		for j, t := range s.Topics {
			if msg := topicProblem(t); msg != "" {
				r.errorf(indexPath(p+".topics", j), "%s", msg)
			}
		}
		for j, t := range s.Tables {
			c.checkTableRef(r, indexPath(p+".tables", j), t, tables)
		}

		b := s.Buffer
		if b.CountRecords < 1 {
			r.errorf(p+".buffer.count_records", "must be at least 1, got %d", b.CountRecords)
		}
		if b.SizeBytes < 1 {
			r.errorf(p+".buffer.size_bytes", "must be at least 1, got %d", b.SizeBytes)
		}
		if b.FlushTime <= 0 {
			r.errorf(p+".buffer.flush_time", "must be positive, got %s", b.FlushTime)
		}

		switch s.Type {
		case "":
			r.errorf(p+".type", "required: one of %s", strings.Join(sinkTypes, ", "))
			continue
		case SinkS3, SinkFile, SinkPostgres, SinkRedshift, SinkSnowflake:
		default:
			r.errorf(p+".type", "must be one of %s, got %q%s", strings.Join(sinkTypes, ", "), s.Type, didYouMean(s.Type, sinkTypes))
			continue
		}

		if s.Lake() {
			if s.Format != FormatJSONLGzip && s.Format != FormatParquet {
				r.errorf(p+".format", "must be %s or %s, got %q", FormatJSONLGzip, FormatParquet, s.Format)
			}
			switch {
			case s.Format == FormatParquet && s.ParquetCompression != ParquetZstd && s.ParquetCompression != ParquetSnappy:
				r.errorf(p+".parquet_compression", "must be %s or %s, got %q", ParquetZstd, ParquetSnappy, s.ParquetCompression)
			case s.Format != FormatParquet && s.ParquetCompression != "":
				r.errorf(p+".parquet_compression", "only with format: %s", FormatParquet)
			}
			if s.PartitionTime != PartitionByRecord && s.PartitionTime != PartitionByKafka {
				r.errorf(p+".partition_time", "must be %s or %s, got %q", PartitionByRecord, PartitionByKafka, s.PartitionTime)
			}
			if s.SnapshotEvery < 0 {
				r.errorf(p+".snapshot_every", "must not be negative, got %s", s.SnapshotEvery)
			}
		} else {
			for _, f := range []struct {
				name string
				set  bool
			}{
				{"format", s.Format != ""}, {"parquet_compression", s.ParquetCompression != ""},
				{"partition_time", s.PartitionTime != ""}, {"snapshot_every", s.SnapshotEvery != 0},
			} {
				if f.set {
					r.errorf(p+"."+f.name, "only for s3 and file sinks; this sink is %s", s.Type)
				}
			}
		}
		if s.CopyRoleARN != "" {
			if s.Type != SinkRedshift {
				r.errorf(p+".copy_role_arn", "only for redshift sinks; this sink is %s", s.Type)
			} else {
				checkRoleARN(r, p+".copy_role_arn", s.CopyRoleARN)
			}
		}
		if s.TopicToTable != "" && s.Type != SinkSnowflake {
			r.errorf(p+".topic_to_table", "only for snowflake sinks; this sink is %s", s.Type)
		}
		if s.MSKClusterARN != "" && s.Type != SinkRedshift {
			r.errorf(p+".msk_cluster_arn", "only for redshift sinks; this sink is %s", s.Type)
		} else if s.MSKClusterARN != "" && !strings.HasPrefix(s.MSKClusterARN, "arn:") {
			r.errorf(p+".msk_cluster_arn", "must be an MSK cluster ARN like arn:aws:kafka:<region>:<account>:cluster/<name>/<uuid>, got %q", s.MSKClusterARN)
		}
		if s.Type == SinkRedshift && s.Bucket == "" {
			r.errorf(p+".bucket", "required for redshift sinks: the S3 stage COPY loads from")
		}
		switch {
		case s.Warehouse() && s.Deletes != DeletesSoft && s.Deletes != DeletesHard:
			r.errorf(p+".deletes", "must be %s or %s, got %q", DeletesSoft, DeletesHard, s.Deletes)
		case !s.Warehouse() && s.Deletes != "":
			r.errorf(p+".deletes", "only for postgres, redshift and snowflake sinks; this sink is %s", s.Type)
		}
		if s.Type != SinkS3 {
			if s.Manifest {
				r.errorf(p+".manifest", "only for s3 sinks; this sink is %s", s.Type)
			}
			if s.PathStyle && s.Type != SinkRedshift {
				r.errorf(p+".path_style", "only for s3 and redshift sinks; this sink is %s", s.Type)
			}
		}

		// Each connection field belongs to some sink types; one that does not is a
		// leftover or a mistake, and silently ignoring it would hide either.
		s3ish := s.Type == SinkS3 || s.Type == SinkRedshift
		for _, f := range []struct {
			name, value string
			allowed     bool
			types       string
		}{
			{"bucket", s.Bucket, s3ish, "s3 and redshift"},
			{"prefix", s.Prefix, s3ish, "s3 and redshift"},
			{"region", s.Region, s3ish, "s3 and redshift"},
			{"endpoint", s.Endpoint, s3ish, "s3 and redshift"},
			{"role_arn", s.RoleARN, s3ish, "s3 and redshift"},
			{"dir", s.Dir, s.Type == SinkFile, "file"},
			{"dsn", s.DSN, s.Warehouse(), "postgres, redshift and snowflake"},
			{"schema", s.Schema, s.Warehouse(), "postgres, redshift and snowflake"},
		} {
			if f.value != "" && !f.allowed {
				r.errorf(p+"."+f.name, "only for %s sinks; this sink is %s", f.types, s.Type)
			}
		}
		switch {
		case s.Type == SinkS3 && s.Bucket == "":
			r.errorf(p+".bucket", "required for s3 sinks")
		case s.Type == SinkFile && s.Dir == "":
			r.errorf(p+".dir", "required for file sinks")
		case s.Warehouse() && s.DSN == "":
			r.errorf(p+".dsn", "required for %s sinks", s.Type)
		}
		if strings.Contains(s.Bucket, "/") || strings.Contains(s.Bucket, ":") {
			r.errorf(p+".bucket", "must be a bucket name (put the path in prefix), got %q", s.Bucket)
		}
		if s3ish {
			checkEndpoint(r, p+".endpoint", s.Endpoint)
			checkRoleARN(r, p+".role_arn", s.RoleARN)
		}
	}
}

func (c *Config) validateCollector(r *report) {
	col := c.Collector
	if col == nil {
		return
	}
	if msg := checkAddr(col.Listen, false); msg != "" {
		r.errorf("collector.listen", "%s", msg)
	}
	if col.MaxBodyBytes < 1 {
		r.errorf("collector.max_body_bytes", "must be at least 1, got %d", col.MaxBodyBytes)
	}
	if col.MaxEvents < 1 {
		r.errorf("collector.max_events", "must be at least 1, got %d", col.MaxEvents)
	}
	switch {
	case col.MaxEventBytes < 1:
		r.errorf("collector.max_event_bytes", "must be at least 1, got %d", col.MaxEventBytes)
	case col.MaxBodyBytes >= 1 && col.MaxEventBytes > col.MaxBodyBytes:
		r.errorf("collector.max_event_bytes", "must not be greater than max_body_bytes (%d), got %d", col.MaxBodyBytes, col.MaxEventBytes)
	case col.MaxEventBytes > maxEventBytes:
		r.errorf("collector.max_event_bytes", "must be at most %d (an enriched event must fit in a Kafka record), got %d", maxEventBytes, col.MaxEventBytes)
	}
	if msg := topicProblem(col.DLQTopic); msg != "" {
		r.errorf("collector.dlq_topic", "%s", msg)
	}
	checkTokens(r, "collector.tokens", col.Tokens)
	switch col.ClientAddress {
	case ClientAddressRemote, ClientAddressNone:
	default:
		r.errorf("collector.client_address", "must be remote or none, got %q", col.ClientAddress)
	}
	for i, p := range col.TrustedProxies {
		if _, err := ParseProxy(p); err != nil {
			r.errorf(indexPath("collector.trusted_proxies", i), "must be an IP address or a CIDR like 10.0.0.0/8, got %q", p)
		}
	}
	if col.MaxInFlight < 1 {
		r.errorf("collector.max_in_flight", "must be at least 1, got %d", col.MaxInFlight)
	}
	if col.Linger < 0 || col.Linger > time.Second {
		r.errorf("collector.linger", "must be from 0 to 1s (requests wait this long for company), got %s", col.Linger)
	}
	if col.Producers < 1 || col.Producers > 64 {
		r.errorf("collector.producers", "must be 1..64, got %d", col.Producers)
	}
	if col.ProduceTimeout <= 0 {
		r.errorf("collector.produce_timeout", "must be positive, got %s", col.ProduceTimeout)
	}
	if col.Partitions < 1 || col.Partitions > maxPartitions {
		r.errorf("collector.partitions", "must be between 1 and %d, got %d", maxPartitions, col.Partitions)
	}
	if !topicRe.MatchString(col.Group) {
		r.errorf("collector.group", "a group name is letters, digits, '.', '_' and '-', got %q", col.Group)
	}
	for i, t := range col.InputTopics {
		p := indexPath("collector.input_topics", i)
		if msg := topicProblem(t); msg != "" {
			r.errorf(p, "%s", msg)
		} else if t == col.DLQTopic {
			r.errorf(p, "%q is the collector's DLQ topic: its records would be read again", t)
		}
	}

	seenKeys := map[string]string{}
	for i, k := range col.Keys {
		p := indexPath("collector.keys", i)
		switch {
		case strings.TrimSpace(k.Key) == "":
			r.errorf(p+".key", "required, and must not be empty (is its variable set but empty?)")
		case seenKeys[k.Key] != "":
			r.errorf(p+".key", "the same key as %s: a key belongs to one source", seenKeys[k.Key])
		case contains(col.Tokens, k.Key):
			r.errorf(p+".key", "the same key as one of collector.tokens, which may send anything")
		default:
			seenKeys[k.Key] = p
		}
		if k.Source == "" {
			r.errorf(p+".source", `required: the source the key sends for, or "*"`)
		} else if msg := eventNameProblem(k.Source); msg != "" && k.Source != "*" {
			r.errorf(p+".source", "%s", msg)
		}
		if len(k.Events) == 0 {
			r.errorf(p+".events", `required: the event names the key may send, or ["*"]`)
		}
		for j, e := range k.Events {
			if msg := eventNameProblem(e); msg != "" && e != "*" {
				r.errorf(indexPath(p+".events", j), "%s", msg)
			}
		}
	}

	seenEvents := map[string]string{}
	for i, e := range col.Events {
		p := indexPath("collector.events", i)
		if msg := eventNameProblem(e.Name); msg != "" {
			r.errorf(p+".name", "%s", msg)
		} else if prev := seenEvents[e.Name]; prev != "" {
			r.errorf(p+".name", "event %q is already declared at %s%s", e.Name, prev, r.lineNote(prev))
		} else {
			seenEvents[e.Name] = p + ".name"
		}
		if e.Schema != "" {
			if _, err := CompileSchema(e.Schema); err != nil {
				r.errorf(p+".schema", "%v", err)
			}
		}
	}

	for i, rt := range col.Routes {
		p := indexPath("collector.routes", i)
		if msg := topicProblem(rt.Topic); msg != "" {
			r.errorf(p+".topic", "%s", msg)
		} else if rt.Topic == col.DLQTopic || contains(col.InputTopics, rt.Topic) {
			r.errorf(p+".topic", "%q is the collector's DLQ or an input topic", rt.Topic)
		}
		if msg := eventNameProblem(rt.Event); msg != "" && rt.Event != "" && rt.Event != "*" {
			r.errorf(p+".event", "%s", msg)
		}
		if msg := eventNameProblem(rt.Source); msg != "" && rt.Source != "" && rt.Source != "*" {
			r.errorf(p+".source", "%s", msg)
		}
	}
}

// maxEventBytes leaves room for enrichment under Kafka's default 1 MB record limit.
const maxEventBytes = 900 << 10

// MaxNameLength bounds event names and sources, so that "<env>.<source>.<event>" stays
// under Kafka's 249 characters for any env of up to 40.
const MaxNameLength = 100

// eventNameProblem says what is wrong with an event name or source, or "".
func eventNameProblem(s string) string {
	switch {
	case s == "":
		return "must not be empty"
	case len(s) > MaxNameLength:
		return fmt.Sprintf("at most %d characters, got %d in %q", MaxNameLength, len(s), s)
	}
	for _, c := range s {
		if c < 0x20 || c == 0x7f {
			return fmt.Sprintf("must not hold control characters, got %q", s)
		}
	}
	return ""
}

// ParseProxy reads a trusted proxy: an IP address (a /32 or /128) or a CIDR.
func ParseProxy(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		return p.Masked(), err
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// CompileSchema compiles a JSON Schema file; draft 2020-12 unless its $schema says
// otherwise. The error names the file.
func CompileSchema(path string) (*jsonschema.Schema, error) {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("file %q does not exist", path)
		}
		return nil, fmt.Errorf("file %q: %v", path, err)
	}
	defer f.Close()
	doc, err := jsonschema.UnmarshalJSON(f)
	if err != nil {
		return nil, fmt.Errorf("file %q is not JSON: %v", path, err)
	}
	comp := jsonschema.NewCompiler()
	comp.DefaultDraft(jsonschema.Draft2020)
	// The file's own URL, so that a relative $ref finds its neighbours.
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("file %q: %v", path, err)
	}
	url := "file://" + filepath.ToSlash(abs)
	if err := comp.AddResource(url, doc); err != nil {
		return nil, fmt.Errorf("file %q: %v", path, err)
	}
	s, err := comp.Compile(url)
	if err != nil {
		// The library names the schema by its URL and puts the causes on further lines;
		// one line naming the file as the topology does reads better.
		msg := strings.ReplaceAll(err.Error(), url, "")
		var parts []string
		for _, l := range strings.Split(msg, "\n") {
			if l = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(l), "-")); l != "" {
				parts = append(parts, l)
			}
		}
		return nil, fmt.Errorf("file %q is not a valid JSON Schema: %s", path, strings.Join(parts, "; "))
	}
	return s, nil
}

// validateTopicNames checks that the topics the pipeline creates do not collide: two
// owners of one name would mix their records, and Kafka refuses names that differ only
// by '.' versus '_' (they map to the same metric name).
func (c *Config) validateTopicNames(r *report) {
	type owner struct{ topic, path, what string }
	// The DLQs come first so that a table topic taking a DLQ's (often default) name is
	// reported on the table, where the file names it.
	owners := []owner{{c.Processor.DLQTopic, "processor.dlq_topic", "the processor DLQ"}}
	if c.Collector != nil {
		owners = append(owners, owner{c.Collector.DLQTopic, "collector.dlq_topic", "the collector DLQ"})
	}
	if c.BridgeOn() {
		owners = append(owners, owner{c.Bridge.CheckpointTopic, "bridge.checkpoint_topic", "the bridge checkpoint topic"})
	}
	repeated := c.repeatedTables()
	for i, t := range c.Tables {
		if repeated[i] {
			continue
		}
		p := indexPath("tables", i)
		owners = append(owners,
			owner{t.Topic, p + ".topic", fmt.Sprintf("the CDC topic of table %q", t.Name)},
			owner{t.TableTopic(), p + ".group", fmt.Sprintf("the state topic of table %q", t.Name)})
	}

	byName := map[string]owner{}
	byMetric := map[string]owner{}
	for _, o := range owners {
		if topicProblem(o.topic) != "" {
			continue // reported where the name is checked
		}
		if prev, dup := byName[o.topic]; dup {
			// One DLQ for processors and collector is the default, not a clash; a group
			// shared by two tables is already reported by validateTables.
			sharedDLQ := prev.path == "processor.dlq_topic" && o.path == "collector.dlq_topic"
			sharedGroup := strings.HasSuffix(prev.path, ".group") && strings.HasSuffix(o.path, ".group")
			if !sharedDLQ && !sharedGroup {
				r.errorf(o.path, "topic %q is already %s (%s%s)", o.topic, prev.what, prev.path, r.lineNote(prev.path))
			}
			continue
		}
		byName[o.topic] = o
		metric := strings.ReplaceAll(o.topic, ".", "_")
		if prev, clash := byMetric[metric]; clash {
			r.errorf(o.path, "topic %q collides with %q, %s (%s%s): Kafka treats '.' and '_' alike in topic metrics", o.topic, prev.topic, prev.what, prev.path, r.lineNote(prev.path))
			continue
		}
		byMetric[metric] = o
	}
}

func (c *Config) tableNames() []string {
	names := make([]string, len(c.Tables))
	for i, t := range c.Tables {
		names[i] = t.Name
	}
	return names
}

func (c *Config) checkTableRef(r *report, path, name string, tables []string) {
	switch {
	case name == "":
		r.errorf(path, "required: the name of a table in tables")
	case !contains(tables, name):
		known := "no tables are configured"
		if len(tables) > 0 {
			known = "tables are " + strings.Join(tables, ", ")
		}
		r.errorf(path, "no table named %q%s (%s)", name, didYouMean(name, tables), known)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// lineNote is ", line N" when path is written in the file, for messages that point at a
// second place.
func (r *report) lineNote(path string) string {
	if l := r.lineOf(path); l > 0 {
		return fmt.Sprintf(", line %d", l)
	}
	return ""
}

func didYouMean(word string, known []string) string {
	if s := closest(word, known); s != "" {
		return fmt.Sprintf("; did you mean %q?", s)
	}
	return ""
}

// topicProblem says what is wrong with a Kafka topic name, or "" when nothing is.
func topicProblem(name string) string {
	switch {
	case name == "":
		return "must not be empty"
	case len(name) > maxTopicLength:
		return fmt.Sprintf("a topic name has at most %d characters, got %d in %q", maxTopicLength, len(name), name)
	case name == "." || name == "..":
		return fmt.Sprintf("%q is not a valid topic name", name)
	case !topicRe.MatchString(name):
		return fmt.Sprintf("a topic name is letters, digits, '.', '_' and '-', got %q", name)
	}
	return ""
}

// checkAddr says what is wrong with a host:port, or "" when nothing is. A broker needs a
// host and a port from 1; a listen address may leave the host empty (all interfaces)
// and use port 0 (any free port, for tests).
func checkAddr(addr string, broker bool) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		if broker && addr != "" && !strings.Contains(addr, ":") {
			return fmt.Sprintf("must be host:port, got %q (add the port: %s:9092)", addr, addr)
		}
		return fmt.Sprintf("must be host:port, got %q", addr)
	}
	if broker && host == "" {
		return fmt.Sprintf("must be host:port with a host, got %q", addr)
	}
	n, err := strconv.Atoi(port)
	low := 0
	if broker {
		low = 1
	}
	if err != nil || n < low || n > 65535 {
		return fmt.Sprintf("port must be a number from %d to 65535, got %q", low, addr)
	}
	return ""
}

// checkFile reports a named file that cannot be used; the message names the file.
func checkFile(r *report, path, name string) {
	if name == "" {
		return
	}
	fi, err := os.Stat(name)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		r.errorf(path, "file %q does not exist", name)
	case err != nil:
		r.errorf(path, "file %q: %v", name, err)
	case fi.IsDir():
		r.errorf(path, "%q is a directory, not a file", name)
	}
}

func checkTokens(r *report, path string, tokens []string) {
	for i, t := range tokens {
		if strings.TrimSpace(t) == "" {
			r.errorf(indexPath(path, i), "a token must not be empty (is its variable set but empty?)")
		}
	}
}

func checkEndpoint(r *report, path, endpoint string) {
	if endpoint == "" {
		return
	}
	u, err := url.Parse(endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		r.errorf(path, "must be an http or https URL like http://127.0.0.1:8000, got %q", endpoint)
	}
}

var roleARNRe = regexp.MustCompile(`^arn:aws[a-z-]*:iam::\d{12}:role/.+$`)

func checkRoleARN(r *report, path, arn string) {
	if arn != "" && !roleARNRe.MatchString(arn) {
		r.errorf(path, "must be an IAM role ARN like arn:aws:iam::123456789012:role/name, got %q", arn)
	}
}
