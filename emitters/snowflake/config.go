package snowflake

import (
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"regexp"
	"strings"

	"github.com/snowflakedb/gosnowflake"
)

// Scheme is the DSN scheme of a Snowflake sink.
const Scheme = "snowflake"

// Config is how the sink reaches Snowflake: key-pair (JWT) authentication only.
type Config struct {
	// Account is the account identifier: "<org>-<account>" or a locator with its region
	// ("xy12345.eu-west-1"). Required.
	Account string
	// User is the user whose public key is registered (ALTER USER … SET RSA_PUBLIC_KEY).
	// Required.
	User string
	// Database and Schema are the session's defaults: the stage table is created in
	// Schema, and tables without a sink schema live there. Both required.
	Database, Schema string
	// Warehouse runs the COPY and the upsert; Role is the session's role. Optional (the
	// user's defaults).
	Warehouse, Role string
	// PrivateKeyFile is the path of the private key (PEM); PrivateKey its content
	// instead (the Kafka connector's snowflake.private.key). Exactly one.
	PrivateKeyFile string
	PrivateKey     []byte
	// PrivateKeyPassphrase decrypts an encrypted PKCS#8 key
	// (snowflake.private.key.passphrase).
	PrivateKeyPassphrase string
	// Host overrides <account>.snowflakecomputing.com (private link); optional.
	Host string
}

// dsnParams are the query parameters ConfigFromDSN knows.
var dsnParams = []string{"warehouse", "role", "private_key_file", "private_key_passphrase", "host"}

// ConfigFromDSN parses a Snowflake sink's DSN:
//
//	snowflake://<user>@<account>/<database>/<schema>?warehouse=<w>&role=<r>&private_key_file=<path>&private_key_passphrase=${SNOWFLAKE_PASSPHRASE}
//
// user, account, database, schema and private_key_file are required; warehouse, role,
// private_key_passphrase and host (a host name replacing <account>.snowflakecomputing.com)
// are optional. Parameter values (and the path parts) may hold ${VAR} or ${VAR:-default},
// replaced by the environment variable (an unset ${VAR} is an error; $${ is a literal
// ${), so the passphrase need not be written in the topology. Values are URL-encoded as
// in any URL (a '&' in a passphrase is %26). A password in the DSN is refused: the sink
// authenticates with a key pair only. The key file is not read here (see
// Config.DriverConfig).
func ConfigFromDSN(dsn string) (Config, error) {
	rest, ok := strings.CutPrefix(dsn, Scheme+"://")
	if !ok {
		return Config{}, fmt.Errorf("snowflake: dsn: want %s://<user>@<account>/<database>/<schema>?…", Scheme)
	}
	// Keep ${…} away from the URL parser: braces are not valid in a host or path.
	u, err := url.Parse(Scheme + "://" + rest)
	if err != nil {
		if ue, ok := err.(*url.Error); ok {
			err = ue.Err // never echo the DSN
		}
		return Config{}, fmt.Errorf("snowflake: dsn: %v", err)
	}
	if u.User == nil || u.User.Username() == "" {
		return Config{}, errors.New("snowflake: dsn: no user: snowflake://<user>@<account>/…")
	}
	if _, has := u.User.Password(); has {
		return Config{}, errors.New("snowflake: dsn: a password is not supported: use private_key_file (key-pair authentication)")
	}
	if u.Port() != "" {
		return Config{}, errors.New("snowflake: dsn: the account takes no port (use host= for a private endpoint)")
	}
	var errs []string
	exp := func(what, s string) string {
		v, err := expand(s)
		if err != nil {
			errs = append(errs, fmt.Sprintf("%s: %v", what, err))
		}
		return v
	}
	c := Config{User: exp("user", u.User.Username()), Account: exp("account", u.Hostname())}
	path := strings.Split(strings.Trim(u.Path, "/"), "/")
	if len(path) != 2 || path[0] == "" || path[1] == "" {
		return Config{}, errors.New("snowflake: dsn: want the path /<database>/<schema>")
	}
	c.Database, c.Schema = exp("database", path[0]), exp("schema", path[1])
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return Config{}, fmt.Errorf("snowflake: dsn: query: %v", err)
	}
	for k, vs := range q {
		known := false
		for _, p := range dsnParams {
			known = known || k == p
		}
		if !known {
			return Config{}, fmt.Errorf("snowflake: dsn: unknown parameter %q (want %s)", k, strings.Join(dsnParams, ", "))
		}
		if len(vs) > 1 {
			return Config{}, fmt.Errorf("snowflake: dsn: parameter %q given %d times", k, len(vs))
		}
	}
	c.Warehouse = exp("warehouse", q.Get("warehouse"))
	c.Role = exp("role", q.Get("role"))
	c.PrivateKeyFile = exp("private_key_file", q.Get("private_key_file"))
	c.PrivateKeyPassphrase = exp("private_key_passphrase", q.Get("private_key_passphrase"))
	c.Host = exp("host", q.Get("host"))
	if len(errs) > 0 {
		return Config{}, fmt.Errorf("snowflake: dsn: %s", strings.Join(errs, "; "))
	}
	if c.Account == "" {
		return Config{}, errors.New("snowflake: dsn: no account: snowflake://<user>@<account>/…")
	}
	if c.PrivateKeyFile == "" {
		return Config{}, errors.New("snowflake: dsn: private_key_file is required (key-pair authentication)")
	}
	return c, nil
}

// DriverConfig loads the private key and builds gosnowflake's configuration: JWT
// (key-pair) authentication with the decrypted key. It connects to nothing.
func (c Config) DriverConfig() (*gosnowflake.Config, error) {
	switch {
	case c.Account == "":
		return nil, errors.New("snowflake: config: no account")
	case c.User == "":
		return nil, errors.New("snowflake: config: no user")
	case c.Database == "" || c.Schema == "":
		return nil, errors.New("snowflake: config: the database and the schema are required (the stage table is created in the schema)")
	case (c.PrivateKeyFile == "") == (len(c.PrivateKey) == 0):
		return nil, errors.New("snowflake: config: give exactly one of the private key file and the private key")
	}
	pemBytes := c.PrivateKey
	if c.PrivateKeyFile != "" {
		var err error
		if pemBytes, err = os.ReadFile(c.PrivateKeyFile); err != nil {
			return nil, fmt.Errorf("snowflake: config: private key file: %w", err)
		}
	}
	key, err := LoadPrivateKey(pemBytes, c.PrivateKeyPassphrase)
	if err != nil {
		if c.PrivateKeyFile != "" {
			return nil, fmt.Errorf("%w (file %s)", err, c.PrivateKeyFile)
		}
		return nil, err
	}
	return &gosnowflake.Config{
		Account: c.Account, User: c.User, Database: c.Database, Schema: c.Schema,
		Warehouse: c.Warehouse, Role: c.Role, Host: c.Host,
		Authenticator: gosnowflake.AuthTypeJwt, PrivateKey: key,
		Application: "streamhub",
	}, nil
}

// Open returns a *sql.DB for the configuration (gosnowflake's connector); connections are
// made on first use.
func Open(c Config) (*sql.DB, error) {
	cfg, err := c.DriverConfig()
	if err != nil {
		return nil, err
	}
	return sql.OpenDB(gosnowflake.NewConnector(gosnowflake.SnowflakeDriver{}, *cfg)), nil
}

var tableNameRe = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// ParseTopicToTable parses the Snowflake Kafka connector's snowflake.topic2table.map:
// "topic1:table1,topic2:table2". Spaces around names are ignored; an empty value gives
// an empty map. Table names are identifiers ([A-Za-z_][A-Za-z0-9_]*) and are lower-cased:
// streamhub quotes every name, and its tables are lower case (the connector's unquoted
// names are upper case in Snowflake; write those as quoted lower case or rename). Errors:
// an entry without ':', an empty topic or table, a table name that is not an identifier, a
// topic mapped twice, two topics mapped to one table.
func ParseTopicToTable(s string) (map[string]string, error) {
	out := map[string]string{}
	if strings.TrimSpace(s) == "" {
		return out, nil
	}
	byTable := map[string]string{}
	for i, entry := range strings.Split(s, ",") {
		topic, table, ok := strings.Cut(entry, ":")
		topic, table = strings.TrimSpace(topic), strings.TrimSpace(table)
		switch {
		case strings.TrimSpace(entry) == "":
			return nil, fmt.Errorf("snowflake: topic2table: entry %d is empty", i+1)
		case !ok:
			return nil, fmt.Errorf("snowflake: topic2table: entry %d (%q) is not <topic>:<table>", i+1, strings.TrimSpace(entry))
		case topic == "":
			return nil, fmt.Errorf("snowflake: topic2table: entry %d (%q) has no topic", i+1, strings.TrimSpace(entry))
		case table == "":
			return nil, fmt.Errorf("snowflake: topic2table: entry %d (%q) has no table", i+1, strings.TrimSpace(entry))
		case strings.Contains(table, ":"):
			return nil, fmt.Errorf("snowflake: topic2table: entry %d (%q) has more than one ':'", i+1, strings.TrimSpace(entry))
		case !tableNameRe.MatchString(table):
			return nil, fmt.Errorf("snowflake: topic2table: table %q (topic %s) is not an identifier [A-Za-z_][A-Za-z0-9_]*", table, topic)
		}
		table = strings.ToLower(table)
		if _, dup := out[topic]; dup {
			return nil, fmt.Errorf("snowflake: topic2table: topic %s is mapped twice", topic)
		}
		if other, dup := byTable[table]; dup {
			return nil, fmt.Errorf("snowflake: topic2table: topics %s and %s both map to table %s", other, topic, table)
		}
		out[topic], byTable[table] = table, topic
	}
	return out, nil
}

// expand replaces ${VAR} and ${VAR:-default} with environment variables, as the topology
// does: ${VAR} with VAR unset is an error, ${VAR:-default} takes the default when VAR is
// unset or empty, "$${" is a literal "${", any other '$' stays.
func expand(s string) (string, error) {
	if !strings.Contains(s, "${") {
		return s, nil
	}
	var b strings.Builder
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			b.WriteString(s)
			return b.String(), nil
		}
		if i > 0 && s[i-1] == '$' {
			b.WriteString(s[:i-1] + "${")
			s = s[i+2:]
			continue
		}
		b.WriteString(s[:i])
		end := strings.IndexByte(s[i:], '}')
		if end < 0 {
			return "", errors.New("unterminated ${ (write $${ for a literal ${)")
		}
		ref := s[i+2 : i+end]
		name, def, hasDef := strings.Cut(ref, ":-")
		if name == "" {
			return "", errors.New("empty variable name in ${}")
		}
		v, set := os.LookupEnv(name)
		switch {
		case hasDef && v == "":
			v = def
		case !set:
			return "", fmt.Errorf("environment variable %s is not set", name)
		}
		b.WriteString(v)
		s = s[i+end+1:]
	}
}
