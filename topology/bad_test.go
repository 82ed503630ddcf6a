package topology

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// badConfigs pins every file in testdata/bad to the exact problems it must report, all of
// them, in file order. A change to a message shows up here as a diff to review.
var badConfigs = map[string][]string{
	"api.yaml": {
		`api.yaml:1: env: must be letters, digits, '.', '_' or '-' (it starts topic names), got "prod env"`,
		`api.yaml:4: kafka.embedded_listen: port must be a number from 0 to 65535, got "127.0.0.1:99999"`,
		`api.yaml:6: tables[0].topic: a topic name is letters, digits, '.', '_' and '-', got "prod env.users.cdc"`,
		`api.yaml:6: tables[0].group: a topic name is letters, digits, '.', '_' and '-', got "prod env.users.state"`,
		`api.yaml:9: api.listen: must be host:port, got "localhost"`,
		`api.yaml:10: api.tokens[0]: a token must not be empty (is its variable set but empty?)`,
		`api.yaml:10: api.tokens[1]: a token must not be empty (is its variable set but empty?)`,
		`api.yaml:13: processor.dlq_topic: a topic name is letters, digits, '.', '_' and '-', got "dlq!"`,
		`api.yaml:14: processor.shutdown_timeout: must be positive, got -5s`,
	},
	"brokers-missing.yaml": {
		`brokers-missing.yaml:1: kafka.brokers: required: "embedded" or a list of host:port`,
	},
	"brokers.yaml": {
		`brokers.yaml:3: kafka.brokers[0]: must be host:port, got "kafka1" (add the port: kafka1:9092)`,
		`brokers.yaml:4: kafka.brokers[1]: "embedded" must be the only broker`,
		`brokers.yaml:5: kafka.brokers[2]: must be host:port with a host, got ":9092"`,
		`brokers.yaml:6: kafka.brokers[3]: port must be a number from 1 to 65535, got "kafka2:0"`,
		`brokers.yaml:7: kafka.brokers[4]: port must be a number from 1 to 65535, got "kafka3:99999"`,
		`brokers.yaml:8: kafka.embedded_listen: only used with brokers: embedded; remove it or the brokers`,
	},
	"bridge.yaml": {
		`bridge.yaml:10: bridge.group: a group name is letters, digits, '.', '_' and '-', got "bridge group"`,
		`bridge.yaml:11: bridge.checkpoint_topic: a topic name is letters, digits, '.', '_' and '-', got "checkpoints!"`,
		`bridge.yaml:12: bridge.leases: must be 1..1000, got 0`,
		`bridge.yaml:13: bridge.discovery_interval: must be positive, got -1s`,
		`bridge.yaml:14: bridge.max_backoff: must be positive, got 0s`,
	},
	"compression.yaml": {
		`compression.yaml:3: kafka.compression: must be none, lz4, snappy, zstd or gzip, got "brotli"`,
	},
	"collector.yaml": {
		`collector.yaml:4: collector.listen: must be host:port, got "localhost"`,
		`collector.yaml:5: collector.max_body_bytes: must be at least 1, got 0`,
		`collector.yaml:6: collector.dlq_topic: a topic name is letters, digits, '.', '_' and '-', got "dead letters"`,
		`collector.yaml:7: collector.tokens[0]: a token must not be empty (is its variable set but empty?)`,
	},
	"collector-events.yaml": {
		`collector-events.yaml:4: collector.max_events: must be at least 1, got 0`,
		`collector-events.yaml:5: collector.max_event_bytes: must not be greater than max_body_bytes (1048576), got 2097152`,
		`collector-events.yaml:6: collector.client_address: must be remote or none, got "header"`,
		`collector-events.yaml:7: collector.trusted_proxies[1]: must be an IP address or a CIDR like 10.0.0.0/8, got "proxy.internal"`,
		`collector-events.yaml:8: collector.linger: must be from 0 to 1s (requests wait this long for company), got 5s`,
		`collector-events.yaml:9: collector.producers: must be 1..64, got 0`,
		`collector-events.yaml:10: collector.produce_timeout: must be positive, got 0s`,
		`collector-events.yaml:11: collector.partitions: must be between 1 and 10000, got 0`,
		`collector-events.yaml:12: collector.group: a group name is letters, digits, '.', '_' and '-', got "events group"`,
		`collector-events.yaml:13: collector.input_topics[1]: a topic name is letters, digits, '.', '_' and '-', got "raw events"`,
		`collector-events.yaml:15: collector.keys[0].key: required, and must not be empty (is its variable set but empty?)`,
		`collector-events.yaml:15: collector.keys[0].source: required: the source the key sends for, or "*"`,
		`collector-events.yaml:16: collector.keys[0].events: required: the event names the key may send, or ["*"]`,
		`collector-events.yaml:19: collector.keys[1].events[1]: must not be empty`,
		`collector-events.yaml:20: collector.keys[2].key: the same key as collector.keys[1]: a key belongs to one source`,
		`collector-events.yaml:25: collector.events[0].schema: file "schemas/missing.json" does not exist`,
		`collector-events.yaml:26: collector.events[1].name: event "page_view" is already declared at collector.events[0].name, line 24`,
		`collector-events.yaml:27: collector.events[2].name: must not be empty`,
		`collector-events.yaml:29: collector.events[3].schema: file "schemas/not-a-schema.json" is not a valid JSON Schema: "#" is not valid against metaschema: jsonschema validation failed with 'https://json-schema.org/draft/2020-12/schema#'; at '': 'allOf' failed; at '/type': 'anyOf' failed; at '/type': value must be one of 'array', 'boolean', 'integer', 'null', 'number', 'object', 'string'; at '/type': got number, want array`,
		`collector-events.yaml:31: collector.events[4].schema: file "schemas/broken.json" is not JSON: unexpected EOF`,
		`collector-events.yaml:34: collector.routes[0].topic: a topic name is letters, digits, '.', '_' and '-', got "bad topic"`,
		`collector-events.yaml:36: collector.routes[1].topic: "dev.streamhub.dlq" is the collector's DLQ or an input topic`,
	},
	"duplicate-keys.yaml": {
		`duplicate-keys.yaml:6: tables[0].name: written twice (first at line 4)`,
		`duplicate-keys.yaml:7: kafka: written twice (first at line 1)`,
	},
	"empty.yaml": {
		`empty.yaml: the file is empty; a topology needs at least kafka.brokers and a table or a collector`,
	},
	"env.yaml": {
		`env.yaml:2: kafka.brokers: environment variable KAFKA_BROKERS is not set (write ${KAFKA_BROKERS:-default} for a default)`,
		`env.yaml:6: kafka.sasl.password: environment variable KAFKA_PASSWORD is not set (write ${KAFKA_PASSWORD:-default} for a default)`,
		`env.yaml:8: tables[0].name: invalid variable reference ${TABLE-users}: a name is letters, digits and _, not starting with a digit; a default is written ${NAME:-default} (write $${ for a literal ${)`,
		`env.yaml:10: tables[0].partitions: unterminated variable reference "${PARTITIONS" (write $${ for a literal ${)`,
		`env.yaml:13: api.tokens[0]: a token must not be empty (is its variable set but empty?)`,
		`env.yaml:14: api.tokens[1]: a token must not be empty (is its variable set but empty?)`,
	},
	"lake.yaml": {
		`lake.yaml:12: sinks[0].parquet_compression: must be zstd or snappy, got "brotli"`,
		`lake.yaml:13: sinks[0].partition_time: must be record or kafka, got "wallclock"`,
		`lake.yaml:14: sinks[0].snapshot_every: must not be negative, got -1h0m0s`,
		`lake.yaml:15: sinks[0].manifest: only for s3 sinks; this sink is file`,
		`lake.yaml:20: sinks[1].parquet_compression: only with format: parquet`,
		`lake.yaml:25: sinks[2].partition_time: only for s3 and file sinks; this sink is postgres`,
		`lake.yaml:26: sinks[2].snapshot_every: only for s3 and file sinks; this sink is postgres`,
		`lake.yaml:27: sinks[2].path_style: only for s3 and redshift sinks; this sink is postgres`,
	},
	"warehouse.yaml": {
		`warehouse.yaml:8: tables[0].columns[1].name: must be lower-case letters, digits and '_', not starting with a digit, at most 63 characters, got "App"`,
		`warehouse.yaml:9: tables[0].columns[2].name: "doc" is a column streamhub writes itself (key, doc, deleted_at, version_attr, version_seq, version_stream, version_created_at, _streamhub_updated_at)`,
		`warehouse.yaml:10: tables[0].columns[3].name: "pk" is already a column of this table`,
		`warehouse.yaml:11: tables[0].columns[4].path: must be a dotted path into the item like app.id, got ".a"`,
		`warehouse.yaml:11: tables[0].columns[4].type: must be one of string, int, float, bool, timestamp, json, got "decimal"`,
		`warehouse.yaml:17: sinks[0].deletes: must be soft or hard, got "never"`,
		`warehouse.yaml:22: sinks[1].deletes: only for postgres, redshift and snowflake sinks; this sink is file`,
		`warehouse.yaml:23: sinks[1].topic_to_table: only for snowflake sinks; this sink is file`,
	},
	"merge-itself.yaml": {
		`merge-itself.yaml:4: tables[0]: << merges a mapping into itself`,
		`merge-itself.yaml:4: tables[0].keys: required: the hash key, then the range key if the table has one ([pk] or [pk, sk])`,
	},
	"merge.yaml": {
		`merge.yaml:8: tables[0].partitions: must be between 1 and 10000, got 0`,
	},
	"not-a-mapping.yaml": {
		`not-a-mapping.yaml:1: expected a mapping of settings (kafka, tables, ...), got a list`,
	},
	"nothing.yaml": {
		`nothing.yaml: tables: a topology needs at least one table or a collector section`,
	},
	"partitions.yaml": {
		`partitions.yaml:6: tables[0].partitions: must be between 1 and 10000, got 0`,
		`partitions.yaml:9: tables[1].partitions: must be between 1 and 10000, got 20000`,
		`partitions.yaml:12: tables[2].partitions: must be between 1 and 10000, got -1`,
	},
	"replication-zero.yaml": {
		`replication-zero.yaml:3: kafka.replication_factor: must be at least 1, got 0`,
		`replication-zero.yaml:4: kafka.min_insync_replicas: must be at least 1, got 0`,
	},
	"replication.yaml": {
		`replication.yaml:4: kafka.min_insync_replicas: must not be greater than replication_factor (2), got 3`,
	},
	"sasl-empty.yaml": {
		`sasl-empty.yaml:3: kafka.sasl.mechanism: required: one of PLAIN, SCRAM-SHA-512, AWS_MSK_IAM`,
	},
	"sasl-iam.yaml": {
		`sasl-iam.yaml:3: kafka.sasl.region: required for AWS_MSK_IAM`,
		`sasl-iam.yaml:5: kafka.sasl.username: not used with AWS_MSK_IAM (credentials come from the AWS SDK)`,
		`sasl-iam.yaml:6: kafka.sasl.role_arn: must be an IAM role ARN like arn:aws:iam::123456789012:role/name, got "streamhub-role"`,
	},
	"sasl-mechanism.yaml": {
		`sasl-mechanism.yaml:4: kafka.sasl.mechanism: must be one of PLAIN, SCRAM-SHA-512, AWS_MSK_IAM, got "SCRAM-SHA-256"`,
	},
	"sasl-scram.yaml": {
		`sasl-scram.yaml:3: kafka.sasl.username: required for SCRAM-SHA-512`,
		`sasl-scram.yaml:3: kafka.sasl.password: required for SCRAM-SHA-512`,
		`sasl-scram.yaml:5: kafka.sasl.region: only for AWS_MSK_IAM, not SCRAM-SHA-512`,
	},
	"sinks.yaml": {
		`sinks.yaml:7: sinks[0].bucket: required for s3 sinks`,
		`sinks.yaml:10: sinks[1].name: "lake" is also the name of sinks[0], line 7`,
		`sinks.yaml:10: sinks[1].dir: required for file sinks`,
		`sinks.yaml:13: sinks[1].dsn: only for postgres, redshift and snowflake sinks; this sink is file`,
		`sinks.yaml:15: sinks[2].type: must be one of s3, file, postgres, redshift, snowflake, got "postgresql"; did you mean "postgres"?`,
		`sinks.yaml:17: sinks[3].dsn: required for postgres sinks`,
		`sinks.yaml:19: sinks[3].tables[0]: no table named "user"; did you mean "users"? (tables are users)`,
		`sinks.yaml:20: sinks[3].format: only for s3 and file sinks; this sink is postgres`,
		`sinks.yaml:21: sinks[3].bucket: only for s3 and redshift sinks; this sink is postgres`,
		`sinks.yaml:24: sinks[4].bucket: must be a bucket name (put the path in prefix), got "s3://acme/raw"`,
		`sinks.yaml:25: sinks[4].format: must be jsonl_gz or parquet, got "json"`,
		`sinks.yaml:26: sinks[4].topics[0]: a topic name is letters, digits, '.', '_' and '-', got "bad topic"`,
		`sinks.yaml:27: sinks[5].name: must be lower-case letters, digits, '_' or '-', got "Empty"`,
		`sinks.yaml:27: sinks[5]: writes nothing: give it topics (raw topics) or tables (their latest state)`,
		`sinks.yaml:35: sinks[6].buffer.count_records: must be at least 1, got 0`,
		`sinks.yaml:36: sinks[6].buffer.size_bytes: must be at least 1, got 0`,
		`sinks.yaml:37: sinks[6].buffer.flush_time: must be positive, got 0s`,
		`sinks.yaml:38: sinks[7].name: required`,
		`sinks.yaml:38: sinks[7].bucket: required for redshift sinks: the S3 stage COPY loads from`,
		`sinks.yaml:38: sinks[7].dsn: required for redshift sinks`,
		`sinks.yaml:40: sinks[7].endpoint: must be an http or https URL like http://127.0.0.1:8000, got "minio:9000"`,
	},
	"sources.yaml": {
		`sources.yaml:8: sources[0].table: no table named "user"; did you mean "users"? (tables are users)`,
		`sources.yaml:9: sources[1].type: must be dynamodb, got "kinesis"`,
		`sources.yaml:11: sources[2].type: required: dynamodb`,
		`sources.yaml:14: sources[3].stream_arn: must be a DynamoDB stream ARN like arn:aws:dynamodb:<region>:<account>:table/<table>/stream/<label>, got "arn:aws:dynamodb:eu-west-1:123456789012:table/users"`,
		`sources.yaml:15: sources[3].endpoint: must be an http or https URL like http://127.0.0.1:8000, got "localhost:8000"`,
		`sources.yaml:16: sources[3].external_id: only used with role_arn (it is passed when assuming the role)`,
		`sources.yaml:17: sources[3].start: must be TRIM_HORIZON or LATEST, got "EARLIEST"`,
		`sources.yaml:18: sources[3].poll_interval: must be positive, got 0s`,
		`sources.yaml:21: sources[4].role_arn: must be an IAM role ARN like arn:aws:iam::123456789012:role/name, got "reader"`,
		`sources.yaml:22: sources[5]: reads the same stream as sources[4], line 19; every change would be written twice`,
	},
	"syntax.yaml": {
		`syntax.yaml:4: invalid YAML: found a tab character that violates indentation`,
	},
	"tables.yaml": {
		`tables.yaml:4: tables[0].name: must be lower-case letters, digits, '_' or '-', got "Users"`,
		`tables.yaml:7: tables[1].keys: must be the hash key and at most one range key, got 3 keys ["pk" "sk" "extra"]`,
		`tables.yaml:8: tables[2].name: "users" is also the name of tables[1], line 6`,
		`tables.yaml:9: tables[2].keys[1]: the range key must differ from the hash key, both are "pk"`,
		`tables.yaml:10: tables[3].keys: required: the hash key, then the range key if the table has one ([pk] or [pk, sk])`,
		`tables.yaml:12: tables[4].keys[0]: must not be empty`,
		`tables.yaml:13: tables[5].name: required`,
	},
	"tls.yaml": {
		`tls.yaml:3: kafka.tls.key_file: required with cert_file (a client certificate needs its key)`,
		`tls.yaml:4: kafka.tls.ca_file: file "certs/missing-ca.pem" does not exist`,
		`tls.yaml:5: kafka.tls.cert_file: file "/nonexistent/client.pem" does not exist`,
	},
	"topics.yaml": {
		`topics.yaml:9: tables[1].topic: topic "prod.users.cdc" is already the CDC topic of table "users" (tables[0].topic, line 5)`,
		`topics.yaml:12: tables[2].group: "prod.users.state" is also the group of tables[0], line 5; each table needs its own`,
		`topics.yaml:15: tables[3].topic: topic "prod_users_cdc" collides with "prod.users.cdc", the CDC topic of table "users" (tables[0].topic, line 5): Kafka treats '.' and '_' alike in topic metrics`,
		`topics.yaml:18: tables[4].topic: a topic name is letters, digits, '.', '_' and '-', got "orders/cdc"`,
		`topics.yaml:21: tables[5].group: has at most 243 characters, so that its state topic "<group>-table" fits Kafka's 249, got 244 in "gggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggg"`,
		`topics.yaml:24: tables[6].topic: topic "prod.streamhub.dlq" is already the processor DLQ (processor.dlq_topic)`,
	},
	"two-documents.yaml": {
		`two-documents.yaml:6: a second YAML document; a topology is one document (remove the ---)`,
	},
	"unknown-fields.yaml": {
		`unknown-fields.yaml:3: kafka: unknown field "minInsyncReplicas"; did you mean "min_insync_replicas"?`,
		`unknown-fields.yaml:4: unknown field "tabels"; did you mean "tables"?`,
		`unknown-fields.yaml:9: tables[0]: unknown field "partiton"; did you mean "partitions"?`,
		`unknown-fields.yaml:10: tables[0]: unknown field "colour"; known fields: name, topic, keys, version_attribute, partitions, group, columns`,
		`unknown-fields.yaml:13: api: unknown field "token"; did you mean "tokens"?`,
	},
	"wrong-types.yaml": {
		`wrong-types.yaml:3: kafka.replication_factor: must be an integer, got "one"`,
		`wrong-types.yaml:4: kafka.tls: expected a mapping, got "true" (write tls: {} for the defaults)`,
		`wrong-types.yaml:7: tables[0].keys: expected a list, got "pk" (write [pk] for a list)`,
		`wrong-types.yaml:8: tables[0].partitions: must be an integer, got "eight"`,
		`wrong-types.yaml:11: tables[1].partitions: must be an integer, got "4.5"`,
		`wrong-types.yaml:12: api: expected a mapping, got "http://127.0.0.1:8080"`,
		`wrong-types.yaml:14: processor.shutdown_timeout: must be a duration like 30s, 5m or 1h30m, got "30" (add a unit: 30s)`,
		`wrong-types.yaml:15: processor.enabled: must be true or false, got "yes"`,
		`wrong-types.yaml:17: collector.max_body_bytes: must be a size in bytes like 1048576 or 1MiB, got "2 megs"`,
		`wrong-types.yaml:18: collector.tokens: expected a list, got a string (value hidden)`,
	},
}

func TestBadConfigsReportEveryProblemWithFileLineFieldAndValue(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob("testdata/bad/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if _, ok := badConfigs[filepath.Base(f)]; !ok {
			t.Errorf("%s is not pinned in badConfigs", f)
		}
	}
	for name, want := range badConfigs {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join("testdata", "bad", name)
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			c, err := parse(path, data, lookupIn(map[string]string{"EMPTY": ""}))
			if err == nil {
				t.Fatalf("no error; config %+v", c)
			}
			if c != nil {
				t.Errorf("a config came back with the error")
			}
			got := strings.Split(strings.ReplaceAll(err.Error(), "testdata/bad/", ""), "\n")
			if strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
			var list ErrorList
			if !errors.As(err, &list) || len(list) != len(want) {
				t.Errorf("errors.As: got %d problems in an ErrorList, want %d", len(list), len(want))
			}
		})
	}
}

func TestAllProblemsAreReportedInOnePassInFileOrder(t *testing.T) {
	t.Parallel()
	// Decode problems (types, unknown fields, variables) and validation problems
	// (ranges, references) mixed in one file, validation ones first in Go's order.
	_, err := parseString(t, `kafka:
  brokers: embedded
sinks:
  - name: lake
    type: s3
    bucket: b
    tables: [nope]
tables:
  - name: users
    keys: [pk]
    partitions: 0
  - name: orders
    keys: [id]
    partitions: many
    colour: red
api:
  listen: ${API_LISTEN}
`, nil)
	list, ok := errors.AsType[ErrorList](err)
	if !ok {
		t.Fatalf("got %v, want an ErrorList", err)
	}
	want := []Problem{
		{File: "t.yaml", Line: 7, Field: "sinks[0].tables[0]", Msg: `no table named "nope" (tables are users, orders)`},
		{File: "t.yaml", Line: 11, Field: "tables[0].partitions", Msg: "must be between 1 and 10000, got 0"},
		{File: "t.yaml", Line: 14, Field: "tables[1].partitions", Msg: `must be an integer, got "many"`},
		{File: "t.yaml", Line: 15, Field: "tables[1]", Msg: `unknown field "colour"; known fields: name, topic, keys, version_attribute, partitions, group, columns`},
		{File: "t.yaml", Line: 17, Field: "api.listen", Msg: "environment variable API_LISTEN is not set (write ${API_LISTEN:-default} for a default)"},
	}
	if len(list) != len(want) {
		t.Fatalf("got %d problems, want %d:\n%v", len(list), len(want), err)
	}
	for i := range want {
		if *list[i] != want[i] {
			t.Errorf("problem %d:\n got %+v\nwant %+v", i, *list[i], want[i])
		}
	}
	var p *Problem
	if !errors.As(err, &p) || *p != want[0] {
		t.Errorf("errors.As(*Problem): got %+v, want the first problem", p)
	}
}
