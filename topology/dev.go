package topology

// DevConfig returns the topology `streamhub dev` runs: the embedded broker on
// 127.0.0.1:9092, one table "users" keyed [pk, sk] and versioned by updatedAt with 8
// partitions, and the view API on 127.0.0.1:8080 without tokens. It goes through
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
		API: API{Listen: "127.0.0.1:8080"},
	}
	c.EnsureDefaults()
	if err := c.Validate(); err != nil {
		panic("topology: DevConfig is invalid: " + err.Error())
	}
	return c
}
