package topology

import "time"

// DevDynamoDBEndpoint is where `streamhub dev` serves its DynamoDB Streams API.
const DevDynamoDBEndpoint = "http://127.0.0.1:8000"

// DevLakeDir is where `streamhub dev` writes its file lake (JSON Lines + gzip: zcat reads it).
const DevLakeDir = "streamhub-data/lake"

// DevConfig returns the topology `streamhub dev` runs: the embedded broker on
// 127.0.0.1:9092, one table "users" keyed [pk, sk] and versioned by updatedAt with 8
// partitions, its DynamoDB stream read by the bridge from the in-process DynamoDB
// Streams server (ddbtest) on 127.0.0.1:8000, a file lake sink in ./streamhub-data/lake
// (the CDC topic every 10 s, a snapshot of the table every minute), and the view API on
// 127.0.0.1:8080 without tokens. It goes through
// EnsureDefaults and Validate like a loaded file; testdata/good/dev.yaml is its YAML form.
func DevConfig() *Config {
	c := &Config{
		Env: "dev",
		Kafka: Kafka{
			Brokers:        []string{EmbeddedBrokers},
			EmbeddedListen: "127.0.0.1:9092",
		},
		Tables: []Table{{
			Name:             "users",
			Keys:             []string{"pk", "sk"},
			VersionAttribute: "updatedAt",
			Partitions:       8,
		}},
		Sources: []Source{{
			Type:         SourceDynamoDB,
			Table:        "users",
			Endpoint:     DevDynamoDBEndpoint,
			Region:       "us-east-1",
			PollInterval: 200 * time.Millisecond,
		}},
		Bridge: Bridge{Leases: 4, DiscoveryInterval: 2 * time.Second},
		Sinks: []Sink{{
			Name:          "lake",
			Type:          SinkFile,
			Dir:           DevLakeDir,
			Topics:        []string{"dev.users.cdc"},
			Tables:        []string{"users"},
			Buffer:        Buffer{FlushTime: 10 * time.Second},
			SnapshotEvery: time.Minute,
		}},
		API: API{Listen: "127.0.0.1:8080"},
	}
	c.EnsureDefaults()
	if err := c.Validate(); err != nil {
		panic("topology: DevConfig is invalid: " + err.Error())
	}
	return c
}
