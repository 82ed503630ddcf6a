package lambda

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/streamhub/streamhub/topology"
)

// Config is what one Lambda function needs: where to write, and how to key.
type Config struct {
	// Kafka is the connection to the brokers. Brokers are host:port addresses (the
	// embedded broker does not exist in Lambda); TLS, SASL and Compression apply as in a
	// topology file.
	Kafka topology.Kafka
	// Topic is the table's raw CDC topic. Required.
	Topic string
	// DLQTopic receives the records that cannot be parsed or keyed. Empty means there is
	// none: such a record is reported as a batch item failure and blocks its shard.
	DLQTopic string
	// Table names the table in record headers and logs. Empty means the table name of
	// each record's stream ARN (arn:aws:dynamodb:…:table/<name>/stream/<label>).
	Table string
	// Keys are the table's key attributes: hash key, then optional range key. Required.
	Keys []string
	// Timeout bounds one invocation's wait for Kafka's acknowledgements; records not
	// acknowledged by then are reported as failures. It is cut shorter when the
	// invocation's own deadline comes first. Zero means DefaultTimeout.
	Timeout time.Duration
	// TransactionalIDPrefix starts the Kafka transactional ID of each execution
	// environment's producer (the prefix, a dash, 16 random hex digits), for ACLs and
	// MSK IAM policies on transactional IDs. Empty means DefaultTransactionalIDPrefix.
	TransactionalIDPrefix string
	// Logger receives the handler's logs; nil means JSON lines on stderr.
	Logger *slog.Logger
}

// Defaults of ConfigFromEnv.
const (
	DefaultTimeout     = 10 * time.Second
	DefaultCompression = "lz4"
	// ClientID is the Kafka client ID of the function's producer.
	ClientID = "streamhub-lambda"
	// DefaultTransactionalIDPrefix is the prefix of the producer's transactional ID when
	// neither STREAMHUB_TRANSACTIONAL_ID_PREFIX nor AWS_LAMBDA_FUNCTION_NAME is set;
	// ConfigFromEnv makes it streamhub-lambda-<function name> in Lambda.
	DefaultTransactionalIDPrefix = "streamhub-lambda"
)

// Environment variables read by ConfigFromEnv.
const (
	EnvBrokers        = "STREAMHUB_BROKERS"
	EnvTopic          = "STREAMHUB_TOPIC"
	EnvDLQTopic       = "STREAMHUB_DLQ_TOPIC"
	EnvTable          = "STREAMHUB_TABLE"
	EnvKeys           = "STREAMHUB_KEYS"
	EnvTLS            = "STREAMHUB_TLS"
	EnvTLSCAFile      = "STREAMHUB_TLS_CA_FILE"
	EnvSASLMechanism  = "STREAMHUB_SASL_MECHANISM"
	EnvSASLUsername   = "STREAMHUB_SASL_USERNAME"
	EnvSASLPassword   = "STREAMHUB_SASL_PASSWORD"
	EnvSASLRegion     = "STREAMHUB_SASL_REGION"
	EnvCompression    = "STREAMHUB_COMPRESSION"
	EnvProduceTimeout = "STREAMHUB_PRODUCE_TIMEOUT"
	EnvTxnIDPrefix    = "STREAMHUB_TRANSACTIONAL_ID_PREFIX"
	// EnvAWSRegion is set by Lambda itself; it is the default of STREAMHUB_SASL_REGION.
	EnvAWSRegion = "AWS_REGION"
	// EnvFunctionName is set by Lambda itself; it names the default transactional ID prefix.
	EnvFunctionName = "AWS_LAMBDA_FUNCTION_NAME"
)

// EnvVar documents one environment variable of ConfigFromEnv.
type EnvVar struct {
	Name     string
	Required bool
	// Default is the value used when the variable is unset or empty; "" when none.
	Default string
	Help    string
}

// EnvVars lists the environment variables ConfigFromEnv reads, in the order --help
// prints them.
var EnvVars = []EnvVar{
	{Name: EnvBrokers, Required: true, Help: "Kafka bootstrap brokers, comma-separated host:port"},
	{Name: EnvTopic, Required: true, Help: "the table's raw CDC topic"},
	{Name: EnvKeys, Required: true, Help: "key attributes, comma-separated: hash key, then optional range key"},
	{Name: EnvTable, Default: "table name in the stream ARN", Help: "table name for record headers and logs"},
	{Name: EnvDLQTopic, Help: "topic for records that cannot be parsed or keyed; unset: such a record blocks its shard"},
	{Name: EnvTLS, Default: "false", Help: "true: TLS to the brokers with the system roots (AWS_MSK_IAM implies it)"},
	{Name: EnvTLSCAFile, Help: "PEM file of the CA that signed the brokers' certificates; implies TLS"},
	{Name: EnvSASLMechanism, Help: "PLAIN, SCRAM-SHA-512 or AWS_MSK_IAM; unset: no SASL"},
	{Name: EnvSASLUsername, Help: "SASL user name (PLAIN, SCRAM-SHA-512)"},
	{Name: EnvSASLPassword, Help: "SASL password (PLAIN, SCRAM-SHA-512)"},
	{Name: EnvSASLRegion, Default: "$" + EnvAWSRegion, Help: "AWS region of the MSK cluster (AWS_MSK_IAM)"},
	{Name: EnvCompression, Default: DefaultCompression, Help: "none, lz4, snappy, zstd or gzip"},
	{Name: EnvProduceTimeout, Default: DefaultTimeout.String(), Help: "how long an invocation waits for Kafka's acknowledgements (Go duration)"},
	{Name: EnvTxnIDPrefix, Default: DefaultTransactionalIDPrefix + "-$" + EnvFunctionName,
		Help: "prefix of the producer's Kafka transactional ID (prefix-<16 random hex digits> per execution environment), for ACLs and IAM policies"},
}

// ConfigFromEnv reads the Config from the environment variables in EnvVars through getenv
// (os.Getenv in the function). Every problem is reported, each naming its variable and
// the offending value; the password is never printed.
func ConfigFromEnv(getenv func(string) string) (Config, error) {
	get := func(name string) string { return strings.TrimSpace(getenv(name)) }
	var errs []error
	bad := func(name, value, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s=%q: %s", name, value, fmt.Sprintf(format, args...)))
	}
	missing := func(name, why string) {
		errs = append(errs, fmt.Errorf("%s is not set: %s", name, why))
	}

	cfg := Config{
		Kafka: topology.Kafka{ClientID: ClientID},
		Table: get(EnvTable),
	}

	// Brokers.
	if v := get(EnvBrokers); v == "" {
		missing(EnvBrokers, "want the Kafka bootstrap brokers, comma-separated host:port")
	} else {
		for _, b := range strings.Split(v, ",") {
			b = strings.TrimSpace(b)
			if b == topology.EmbeddedBrokers {
				bad(EnvBrokers, v, "the embedded broker does not run in Lambda: name real brokers")
				break
			}
			if err := checkHostPort(b); err != nil {
				bad(EnvBrokers, v, "%q: %v", b, err)
				break
			}
			cfg.Kafka.Brokers = append(cfg.Kafka.Brokers, b)
		}
	}

	// Topics.
	cfg.Topic = get(EnvTopic)
	if cfg.Topic == "" {
		missing(EnvTopic, "want the table's raw CDC topic")
	} else if err := checkTopic(cfg.Topic); err != nil {
		bad(EnvTopic, cfg.Topic, "%v", err)
	}
	cfg.DLQTopic = get(EnvDLQTopic)
	if cfg.DLQTopic != "" {
		if err := checkTopic(cfg.DLQTopic); err != nil {
			bad(EnvDLQTopic, cfg.DLQTopic, "%v", err)
		} else if cfg.DLQTopic == cfg.Topic {
			bad(EnvDLQTopic, cfg.DLQTopic, "the DLQ topic must differ from %s", EnvTopic)
		}
	}

	// Keys.
	if v := get(EnvKeys); v == "" {
		missing(EnvKeys, "want the key attributes, comma-separated: hash key, then optional range key")
	} else {
		keys := strings.Split(v, ",")
		for i := range keys {
			keys[i] = strings.TrimSpace(keys[i])
		}
		switch {
		case len(keys) > 2:
			bad(EnvKeys, v, "a DynamoDB key has one or two attributes (hash, then range), not %d", len(keys))
		case slices.Contains(keys, ""):
			bad(EnvKeys, v, "empty attribute name")
		case len(keys) == 2 && keys[0] == keys[1]:
			bad(EnvKeys, v, "hash and range key are the same attribute")
		default:
			cfg.Keys = keys
		}
	}

	// TLS.
	tlsOn := false
	tlsSet := false
	if v := get(EnvTLS); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			bad(EnvTLS, v, "want true or false")
		} else {
			tlsOn, tlsSet = b, true
		}
	}
	if ca := get(EnvTLSCAFile); ca != "" {
		switch {
		case tlsSet && !tlsOn:
			bad(EnvTLSCAFile, ca, "a CA file means TLS, but %s is false", EnvTLS)
		default:
			if st, err := os.Stat(ca); err != nil {
				bad(EnvTLSCAFile, ca, "%v", errors.Unwrap(err))
			} else if st.IsDir() {
				bad(EnvTLSCAFile, ca, "is a directory, want a PEM file")
			}
			tlsOn = true
			cfg.Kafka.TLS = &topology.TLS{CAFile: ca}
		}
	}
	if tlsOn && cfg.Kafka.TLS == nil {
		cfg.Kafka.TLS = &topology.TLS{}
	}

	// SASL.
	mech := strings.ToUpper(get(EnvSASLMechanism))
	user, pass, region := get(EnvSASLUsername), getenv(EnvSASLPassword), get(EnvSASLRegion)
	switch mech {
	case "":
		if user != "" {
			bad(EnvSASLUsername, user, "set, but %s is not", EnvSASLMechanism)
		}
		if pass != "" {
			errs = append(errs, fmt.Errorf("%s is set, but %s is not", EnvSASLPassword, EnvSASLMechanism))
		}
		if region != "" {
			bad(EnvSASLRegion, region, "only used with %s=%s", EnvSASLMechanism, topology.SASLAWSMSKIAM)
		}
	case topology.SASLPlain, topology.SASLScram512:
		if user == "" {
			missing(EnvSASLUsername, EnvSASLMechanism+"="+mech+" needs a user name")
		}
		if pass == "" {
			missing(EnvSASLPassword, EnvSASLMechanism+"="+mech+" needs a password")
		}
		if region != "" {
			bad(EnvSASLRegion, region, "only used with %s=%s", EnvSASLMechanism, topology.SASLAWSMSKIAM)
		}
		cfg.Kafka.SASL = &topology.SASL{Mechanism: mech, Username: user, Password: pass}
	case topology.SASLAWSMSKIAM:
		if user != "" {
			bad(EnvSASLUsername, user, "not used with %s (credentials come from the function's execution role)", mech)
		}
		if pass != "" {
			errs = append(errs, fmt.Errorf("%s is set, but is not used with %s (credentials come from the function's execution role)", EnvSASLPassword, mech))
		}
		if region == "" {
			region = get(EnvAWSRegion)
		}
		if region == "" {
			missing(EnvSASLRegion, mech+" needs the cluster's region, and "+EnvAWSRegion+" is not set either")
		}
		cfg.Kafka.SASL = &topology.SASL{Mechanism: mech, Region: region}
	default:
		bad(EnvSASLMechanism, getenv(EnvSASLMechanism), "want %s, %s or %s",
			topology.SASLPlain, topology.SASLScram512, topology.SASLAWSMSKIAM)
	}

	// Compression.
	cfg.Kafka.Compression = DefaultCompression
	if v := get(EnvCompression); v != "" {
		switch c := strings.ToLower(v); c {
		case "none", "lz4", "snappy", "zstd", "gzip":
			cfg.Kafka.Compression = c
		default:
			bad(EnvCompression, v, "want none, lz4, snappy, zstd or gzip")
		}
	}

	// Produce timeout.
	cfg.Timeout = DefaultTimeout
	if v := get(EnvProduceTimeout); v != "" {
		d, err := time.ParseDuration(v)
		switch {
		case err != nil:
			bad(EnvProduceTimeout, v, "want a Go duration such as 10s or 1m30s")
		case d <= 0:
			bad(EnvProduceTimeout, v, "must be positive")
		default:
			cfg.Timeout = d
		}
	}

	// Transactional ID prefix.
	if v := get(EnvTxnIDPrefix); v != "" {
		cfg.TransactionalIDPrefix = v
	} else if fn := get(EnvFunctionName); fn != "" {
		cfg.TransactionalIDPrefix = DefaultTransactionalIDPrefix + "-" + fn
	}

	if len(errs) > 0 {
		return Config{}, fmt.Errorf("streamhub-lambda: bad configuration:\n%w", errors.Join(errs...))
	}
	return cfg, nil
}

func checkHostPort(addr string) error {
	if addr == "" {
		return errors.New("empty address")
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return errors.New("want host:port")
	}
	if host == "" {
		return errors.New("no host")
	}
	if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
		return fmt.Errorf("port %q is not a number in 1..65535", port)
	}
	return nil
}

// checkTopic applies Kafka's rules for topic names.
func checkTopic(t string) error {
	if t == "." || t == ".." {
		return errors.New(`"." and ".." are not topic names`)
	}
	if len(t) > 249 {
		return fmt.Errorf("%d characters, Kafka allows 249", len(t))
	}
	for _, c := range t {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return fmt.Errorf("%q is not allowed in a topic name (only a-z A-Z 0-9 . _ -)", c)
		}
	}
	return nil
}
