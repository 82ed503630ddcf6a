package topology

import (
	"fmt"
	"strings"
	"time"
)

// Defaults that do not depend on other fields; each is documented on the field it fills.
const (
	defaultEnv              = "dev"
	defaultEmbeddedListen   = "127.0.0.1:9092"
	defaultClientID         = "streamhub"
	defaultPartitions       = 8
	defaultAPIListen        = "127.0.0.1:8080"
	defaultStorageDir       = ".streamhub/state"
	defaultShutdownTimeout  = 30 * time.Second
	defaultPollInterval     = time.Second
	defaultBufferRecords    = 10000
	defaultBufferBytes      = 5 << 20
	defaultFlushTime        = 60 * time.Second
	defaultCollectorListen  = "127.0.0.1:8081"
	defaultCollectorMaxBody = 1 << 20
	// A batch of 1000 small events is ~0.5 MB, under the body limit; an event of 64 KiB
	// is far above any log line and far below Kafka's 1 MB record limit.
	defaultCollectorMaxEvents  = 1000
	defaultCollectorMaxEvent   = 64 << 10
	defaultCollectorInFlight   = 50000
	defaultCollectorLinger     = 2 * time.Millisecond
	defaultCollectorProducers  = 2
	defaultCollectorTimeout    = 10 * time.Second
	defaultCollectorPartitions = 3
	defaultDLQPartitions       = 1
	defaultCheckpointTopic     = "streamhub.bridge.checkpoints"
	defaultLeases              = 16
	defaultDiscovery           = 10 * time.Second
	defaultMaxBackoff          = 5 * time.Second
	defaultSnapshotEvery       = 24 * time.Hour
	replicationReal            = 3
	minInsyncReal              = 2
	replicationEmbedded        = 1
	minInsyncEmbedded          = 1
)

// EnsureDefaults fills every field left empty with its default, as Load and Parse do, and
// brings enumerations to their canonical case (sasl.mechanism, source start, types).
// A zero number or duration counts as empty here (a Config built in Go); calling it twice
// changes nothing.
func (c *Config) EnsureDefaults() { c.ensureDefaults(newReport(c.Path)) }

// ensureDefaults is the one place defaults live. r says which scalars the file wrote:
// those keep their value, even a zero one, so that validation can reject it.
func (c *Config) ensureDefaults(r *report) {
	setString := func(s *string, def string) {
		if *s == "" {
			*s = def
		}
	}
	setInt := func(path string, n *int, def int) {
		if *n == 0 && !r.written(path) {
			*n = def
		}
	}
	setInt64 := func(path string, n *int64, def int64) {
		if *n == 0 && !r.written(path) {
			*n = def
		}
	}
	setDuration := func(path string, d *time.Duration, def time.Duration) {
		if *d == 0 && !r.written(path) {
			*d = def
		}
	}

	setString(&c.Env, defaultEnv)

	k := &c.Kafka
	setString(&k.ClientID, defaultClientID)
	if k.Embedded() {
		setString(&k.EmbeddedListen, defaultEmbeddedListen)
		setInt("kafka.replication_factor", &k.ReplicationFactor, replicationEmbedded)
		setInt("kafka.min_insync_replicas", &k.MinInsyncReplicas, minInsyncEmbedded)
	} else {
		setInt("kafka.replication_factor", &k.ReplicationFactor, replicationReal)
		setInt("kafka.min_insync_replicas", &k.MinInsyncReplicas, minInsyncReal)
	}
	setString(&k.Compression, "lz4")
	k.Compression = strings.ToLower(k.Compression)
	if k.SASL != nil {
		k.SASL.Mechanism = strings.ToUpper(k.SASL.Mechanism)
	}

	for i := range c.Tables {
		t := &c.Tables[i]
		p := indexPath("tables", i)
		setString(&t.Topic, fmt.Sprintf("%s.%s.cdc", c.Env, t.Name))
		setString(&t.Group, fmt.Sprintf("%s.%s.state", c.Env, t.Name))
		setInt(p+".partitions", &t.Partitions, defaultPartitions)
		for j := range t.Columns {
			setString(&t.Columns[j].Type, ColumnString)
			t.Columns[j].Type = strings.ToLower(t.Columns[j].Type)
		}
	}

	setString(&c.API.Listen, defaultAPIListen)

	pr := &c.Processor
	setString(&pr.StorageDir, defaultStorageDir)
	setString(&pr.DLQTopic, fmt.Sprintf("%s.streamhub.dlq", c.Env))
	setDuration("processor.shutdown_timeout", &pr.ShutdownTimeout, defaultShutdownTimeout)

	for i := range c.Sources {
		s := &c.Sources[i]
		p := indexPath("sources", i)
		s.Type = strings.ToLower(s.Type)
		s.Start = strings.ToUpper(s.Start)
		if s.Type == SourceDynamoDB {
			setString(&s.Start, StartTrimHorizon)
			setDuration(p+".poll_interval", &s.PollInterval, defaultPollInterval)
		}
	}

	br := &c.Bridge
	setString(&br.Group, fmt.Sprintf("%s.streamhub.bridge", c.Env))
	setString(&br.CheckpointTopic, defaultCheckpointTopic)
	setInt("bridge.leases", &br.Leases, defaultLeases)
	setDuration("bridge.discovery_interval", &br.DiscoveryInterval, defaultDiscovery)
	setDuration("bridge.max_backoff", &br.MaxBackoff, defaultMaxBackoff)

	for i := range c.Sinks {
		s := &c.Sinks[i]
		p := indexPath("sinks", i)
		s.Type = strings.ToLower(s.Type)
		setInt(p+".buffer.count_records", &s.Buffer.CountRecords, defaultBufferRecords)
		setInt64(p+".buffer.size_bytes", &s.Buffer.SizeBytes, defaultBufferBytes)
		setDuration(p+".buffer.flush_time", &s.Buffer.FlushTime, defaultFlushTime)
		if s.Warehouse() {
			setString(&s.Deletes, DeletesSoft)
			s.Deletes = strings.ToLower(s.Deletes)
		}
		if s.Lake() {
			setString(&s.Format, FormatJSONLGzip)
			s.Format = strings.ToLower(s.Format)
			setString(&s.PartitionTime, PartitionByRecord)
			s.PartitionTime = strings.ToLower(s.PartitionTime)
			if s.Format == FormatParquet {
				setString(&s.ParquetCompression, ParquetZstd)
			}
			if len(s.Tables) > 0 {
				setDuration(p+".snapshot_every", &s.SnapshotEvery, defaultSnapshotEvery)
			}
			s.ParquetCompression = strings.ToLower(s.ParquetCompression)
		}
	}

	if col := c.Collector; col != nil {
		setString(&col.Listen, defaultCollectorListen)
		setInt64("collector.max_body_bytes", &col.MaxBodyBytes, defaultCollectorMaxBody)
		setString(&col.DLQTopic, pr.DLQTopic)
		setInt("collector.max_events", &col.MaxEvents, defaultCollectorMaxEvents)
		setInt64("collector.max_event_bytes", &col.MaxEventBytes, min(defaultCollectorMaxEvent, max(col.MaxBodyBytes, 1)))
		setString(&col.ClientAddress, ClientAddressRemote)
		col.ClientAddress = strings.ToLower(col.ClientAddress)
		setInt("collector.max_in_flight", &col.MaxInFlight, defaultCollectorInFlight)
		setDuration("collector.linger", &col.Linger, defaultCollectorLinger)
		setInt("collector.producers", &col.Producers, defaultCollectorProducers)
		setDuration("collector.produce_timeout", &col.ProduceTimeout, defaultCollectorTimeout)
		setInt("collector.partitions", &col.Partitions, defaultCollectorPartitions)
		setString(&col.Group, fmt.Sprintf("%s.streamhub.events", c.Env))
	}
}
