package lambda

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/streamhub/streamhub/topology"
)

func getenv(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func baseEnv() map[string]string {
	return map[string]string{
		EnvBrokers: "b-1.msk.example:9092, b-2.msk.example:9092",
		EnvTopic:   "prod.orders.cdc",
		EnvKeys:    "pk, sk",
	}
}

func TestConfigFromEnvDefaults(t *testing.T) {
	cfg, err := ConfigFromEnv(getenv(baseEnv()))
	if err != nil {
		t.Fatal(err)
	}
	want := Config{
		Kafka: topology.Kafka{
			Brokers:     []string{"b-1.msk.example:9092", "b-2.msk.example:9092"},
			ClientID:    ClientID,
			Compression: "lz4",
		},
		Topic:   "prod.orders.cdc",
		Keys:    []string{"pk", "sk"},
		Timeout: 10 * time.Second,
	}
	if !reflect.DeepEqual(cfg, want) {
		t.Fatalf("got  %+v\nwant %+v", cfg, want)
	}
}

func TestConfigFromEnvAll(t *testing.T) {
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, []byte("-----BEGIN CERTIFICATE-----\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		env   map[string]string
		check func(t *testing.T, c Config)
	}{
		{"scram", map[string]string{EnvSASLMechanism: "scram-sha-512", EnvSASLUsername: "u", EnvSASLPassword: "p w", EnvTLS: "true"},
			func(t *testing.T, c Config) {
				if *c.Kafka.SASL != (topology.SASL{Mechanism: "SCRAM-SHA-512", Username: "u", Password: "p w"}) {
					t.Errorf("SASL %+v", c.Kafka.SASL)
				}
				if c.Kafka.TLS == nil || *c.Kafka.TLS != (topology.TLS{}) {
					t.Errorf("TLS %+v, want system roots", c.Kafka.TLS)
				}
			}},
		{"msk iam from AWS_REGION", map[string]string{EnvSASLMechanism: "AWS_MSK_IAM", EnvAWSRegion: "eu-west-1"},
			func(t *testing.T, c Config) {
				if *c.Kafka.SASL != (topology.SASL{Mechanism: "AWS_MSK_IAM", Region: "eu-west-1"}) {
					t.Errorf("SASL %+v", c.Kafka.SASL)
				}
			}},
		{"msk iam own region", map[string]string{EnvSASLMechanism: "AWS_MSK_IAM", EnvAWSRegion: "eu-west-1", EnvSASLRegion: "us-east-1"},
			func(t *testing.T, c Config) {
				if c.Kafka.SASL.Region != "us-east-1" {
					t.Errorf("region %q", c.Kafka.SASL.Region)
				}
			}},
		{"ca file", map[string]string{EnvTLSCAFile: ca},
			func(t *testing.T, c Config) {
				if c.Kafka.TLS == nil || c.Kafka.TLS.CAFile != ca {
					t.Errorf("TLS %+v", c.Kafka.TLS)
				}
			}},
		{"tls false", map[string]string{EnvTLS: "false"},
			func(t *testing.T, c Config) {
				if c.Kafka.TLS != nil {
					t.Errorf("TLS %+v", c.Kafka.TLS)
				}
			}},
		{"transactional ID prefix from the function name", map[string]string{EnvFunctionName: "orders-to-kafka"},
			func(t *testing.T, c Config) {
				if c.TransactionalIDPrefix != "streamhub-lambda-orders-to-kafka" {
					t.Errorf("prefix %q", c.TransactionalIDPrefix)
				}
			}},
		{"own transactional ID prefix", map[string]string{EnvFunctionName: "orders-to-kafka", EnvTxnIDPrefix: "prod-orders"},
			func(t *testing.T, c Config) {
				if c.TransactionalIDPrefix != "prod-orders" {
					t.Errorf("prefix %q", c.TransactionalIDPrefix)
				}
			}},
		{"rest", map[string]string{EnvDLQTopic: "prod.streamhub.dlq", EnvTable: "orders", EnvCompression: "ZSTD",
			EnvProduceTimeout: "1m30s", EnvKeys: "pk"},
			func(t *testing.T, c Config) {
				if c.DLQTopic != "prod.streamhub.dlq" || c.Table != "orders" || c.Kafka.Compression != "zstd" ||
					c.Timeout != 90*time.Second || !reflect.DeepEqual(c.Keys, []string{"pk"}) {
					t.Errorf("%+v", c)
				}
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := baseEnv()
			for k, v := range tc.env {
				env[k] = v
			}
			c, err := ConfigFromEnv(getenv(env))
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, c)
		})
	}
}

func TestConfigFromEnvErrors(t *testing.T) {
	const secret = "hunter2-secret"
	for _, tc := range []struct {
		name string
		set  map[string]string // "" deletes
		want []string          // substrings of the error
	}{
		{"brokers missing", map[string]string{EnvBrokers: ""}, []string{EnvBrokers, "not set"}},
		{"brokers no port", map[string]string{EnvBrokers: "a:9092,broker-b"}, []string{EnvBrokers, "broker-b", "host:port"}},
		{"brokers bad port", map[string]string{EnvBrokers: "a:99999"}, []string{EnvBrokers, "a:99999", "port"}},
		{"brokers empty entry", map[string]string{EnvBrokers: "a:9092,,b:9092"}, []string{EnvBrokers, "empty address"}},
		{"brokers embedded", map[string]string{EnvBrokers: "embedded"}, []string{EnvBrokers, "embedded"}},
		{"topic missing", map[string]string{EnvTopic: ""}, []string{EnvTopic, "not set"}},
		{"topic bad", map[string]string{EnvTopic: "orders/cdc"}, []string{EnvTopic, "orders/cdc", "'/'"}},
		{"dlq bad", map[string]string{EnvDLQTopic: "dlq topic"}, []string{EnvDLQTopic, "dlq topic"}},
		{"dlq same", map[string]string{EnvDLQTopic: "prod.orders.cdc"}, []string{EnvDLQTopic, "prod.orders.cdc", "differ"}},
		{"keys missing", map[string]string{EnvKeys: ""}, []string{EnvKeys, "not set"}},
		{"keys three", map[string]string{EnvKeys: "a,b,c"}, []string{EnvKeys, "a,b,c", "not 3"}},
		{"keys empty", map[string]string{EnvKeys: "a,"}, []string{EnvKeys, `"a,"`, "empty"}},
		{"keys same", map[string]string{EnvKeys: "a,a"}, []string{EnvKeys, "a,a", "same"}},
		{"tls bad", map[string]string{EnvTLS: "yes please"}, []string{EnvTLS, "yes please"}},
		{"ca file missing", map[string]string{EnvTLSCAFile: "/no/such/ca.pem"}, []string{EnvTLSCAFile, "/no/such/ca.pem", "no such file"}},
		{"ca file without tls", map[string]string{EnvTLSCAFile: "/etc/hostname", EnvTLS: "false"}, []string{EnvTLSCAFile, EnvTLS}},
		{"mechanism bad", map[string]string{EnvSASLMechanism: "GSSAPI"}, []string{EnvSASLMechanism, "GSSAPI"}},
		{"scram no user", map[string]string{EnvSASLMechanism: "SCRAM-SHA-512", EnvSASLPassword: secret}, []string{EnvSASLUsername, "not set"}},
		{"plain no password", map[string]string{EnvSASLMechanism: "PLAIN", EnvSASLUsername: "u"}, []string{EnvSASLPassword, "not set"}},
		{"password without mechanism", map[string]string{EnvSASLPassword: secret}, []string{EnvSASLPassword, EnvSASLMechanism}},
		{"user without mechanism", map[string]string{EnvSASLUsername: "u"}, []string{EnvSASLUsername, EnvSASLMechanism}},
		{"iam with password", map[string]string{EnvSASLMechanism: "AWS_MSK_IAM", EnvSASLPassword: secret, EnvAWSRegion: "eu-west-1"}, []string{EnvSASLPassword, "AWS_MSK_IAM"}},
		{"iam no region", map[string]string{EnvSASLMechanism: "AWS_MSK_IAM"}, []string{EnvSASLRegion, EnvAWSRegion}},
		{"region without iam", map[string]string{EnvSASLRegion: "eu-west-1"}, []string{EnvSASLRegion, "eu-west-1"}},
		{"compression bad", map[string]string{EnvCompression: "brotli"}, []string{EnvCompression, "brotli"}},
		{"timeout bad", map[string]string{EnvProduceTimeout: "10"}, []string{EnvProduceTimeout, `"10"`, "duration"}},
		{"timeout negative", map[string]string{EnvProduceTimeout: "-1s"}, []string{EnvProduceTimeout, "-1s", "positive"}},
		{"timeout zero", map[string]string{EnvProduceTimeout: "0s"}, []string{EnvProduceTimeout, "0s", "positive"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := baseEnv()
			for k, v := range tc.set {
				if v == "" {
					delete(env, k)
				} else {
					env[k] = v
				}
			}
			_, err := ConfigFromEnv(getenv(env))
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if strings.Contains(err.Error(), secret) {
				t.Errorf("error %q shows the password", err)
			}
		})
	}
}

// All problems at once, one per line.
func TestConfigFromEnvReportsAll(t *testing.T) {
	_, err := ConfigFromEnv(getenv(map[string]string{EnvCompression: "brotli"}))
	if err == nil {
		t.Fatal("no error")
	}
	for _, name := range []string{EnvBrokers, EnvTopic, EnvKeys, EnvCompression} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("error does not name %s:\n%v", name, err)
		}
	}
}

func TestEnvVarsDocumented(t *testing.T) {
	seen := map[string]bool{}
	for _, v := range EnvVars {
		if v.Help == "" || seen[v.Name] {
			t.Errorf("%s: empty help or listed twice", v.Name)
		}
		seen[v.Name] = true
	}
	for _, name := range []string{EnvBrokers, EnvTopic, EnvDLQTopic, EnvTable, EnvKeys, EnvTLS, EnvTLSCAFile,
		EnvSASLMechanism, EnvSASLUsername, EnvSASLPassword, EnvSASLRegion, EnvCompression, EnvProduceTimeout,
		EnvTxnIDPrefix} {
		if !seen[name] {
			t.Errorf("%s is read but not in EnvVars", name)
		}
	}
}
