package snowflake

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/snowflakedb/gosnowflake"
)

func TestConfigFromDSN(t *testing.T) {
	t.Setenv("SF_TEST_PASS", "p&ss:word")
	t.Setenv("SF_TEST_DIR", "/keys")
	tests := []struct {
		dsn     string
		want    Config
		wantErr string
	}{
		{dsn: "snowflake://streamhub@myorg-acct/ANALYTICS/PUBLIC?warehouse=LOAD_WH&role=LOADER&private_key_file=/keys/rsa.p8&private_key_passphrase=${SF_TEST_PASS}",
			want: Config{User: "streamhub", Account: "myorg-acct", Database: "ANALYTICS", Schema: "PUBLIC", Warehouse: "LOAD_WH", Role: "LOADER",
				PrivateKeyFile: "/keys/rsa.p8", PrivateKeyPassphrase: "p&ss:word"}},
		{dsn: "snowflake://u@xy12345.eu-west-1/db/sch?private_key_file=${SF_TEST_DIR}/k.p8&host=acct.privatelink.snowflakecomputing.com",
			want: Config{User: "u", Account: "xy12345.eu-west-1", Database: "db", Schema: "sch", PrivateKeyFile: "/keys/k.p8", Host: "acct.privatelink.snowflakecomputing.com"}},
		{dsn: "snowflake://u@a/db/sch?private_key_file=/k&private_key_passphrase=a%26b%3D", want: Config{User: "u", Account: "a", Database: "db", Schema: "sch", PrivateKeyFile: "/k", PrivateKeyPassphrase: "a&b="}},
		{dsn: "snowflake://u@a/db/sch?private_key_file=/k&private_key_passphrase=$${literal}", want: Config{User: "u", Account: "a", Database: "db", Schema: "sch", PrivateKeyFile: "/k", PrivateKeyPassphrase: "${literal}"}},
		{dsn: "snowflake://u@a/db/sch?private_key_file=/k&private_key_passphrase=${SF_TEST_UNSET:-dflt}", want: Config{User: "u", Account: "a", Database: "db", Schema: "sch", PrivateKeyFile: "/k", PrivateKeyPassphrase: "dflt"}},
		{dsn: "postgres://u@a/db/sch", wantErr: "want snowflake://<user>@<account>/<database>/<schema>"},
		{dsn: "snowflake://a/db/sch?private_key_file=/k", wantErr: "no user"},
		{dsn: "snowflake://u:pw@a/db/sch?private_key_file=/k", wantErr: "a password is not supported"},
		{dsn: "snowflake://u@a:443/db/sch?private_key_file=/k", wantErr: "takes no port"},
		{dsn: "snowflake://u@a/db?private_key_file=/k", wantErr: "want the path /<database>/<schema>"},
		{dsn: "snowflake://u@a/db/sch/x?private_key_file=/k", wantErr: "want the path /<database>/<schema>"},
		{dsn: "snowflake://u@a/db/sch", wantErr: "private_key_file is required"},
		{dsn: "snowflake://u@a/db/sch?private_key_file=/k&password=x", wantErr: `unknown parameter "password"`},
		{dsn: "snowflake://u@a/db/sch?private_key_file=/k&role=a&role=b", wantErr: `parameter "role" given 2 times`},
		{dsn: "snowflake://u@a/db/sch?private_key_file=/k&private_key_passphrase=${SF_TEST_UNSET}", wantErr: "private_key_passphrase: environment variable SF_TEST_UNSET is not set"},
		{dsn: "snowflake://u@a/db/sch?private_key_file=/k&private_key_passphrase=${SF_TEST_PASS", wantErr: "private_key_passphrase: unterminated ${"},
		{dsn: "snowflake://u@/db/sch?private_key_file=/k", wantErr: "no account"},
	}
	for _, tt := range tests {
		got, err := ConfigFromDSN(tt.dsn)
		switch {
		case tt.wantErr != "":
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("%s: error %v, want %q", tt.dsn, err, tt.wantErr)
			}
			if err != nil && strings.Contains(err.Error(), "pw@") {
				t.Errorf("%s: the error echoes the DSN: %v", tt.dsn, err)
			}
		case err != nil:
			t.Errorf("%s: %v", tt.dsn, err)
		case !reflect.DeepEqual(got, tt.want):
			t.Errorf("%s:\n got %+v\nwant %+v", tt.dsn, got, tt.want)
		}
	}
}

func TestParseTopicToTable(t *testing.T) {
	tests := []struct {
		in      string
		want    map[string]string
		wantErr string
	}{
		{in: "", want: map[string]string{}},
		{in: "  ", want: map[string]string{}},
		{in: "topic1:table1,topic2:table2", want: map[string]string{"topic1": "table1", "topic2": "table2"}},
		{in: " dev.web.click : Clicks , dev.items.state-table:ITEMS_2", want: map[string]string{"dev.web.click": "clicks", "dev.items.state-table": "items_2"}},
		{in: "a:t1,", wantErr: "entry 2 is empty"},
		{in: "a", wantErr: `entry 1 ("a") is not <topic>:<table>`},
		{in: ":t", wantErr: `entry 1 (":t") has no topic`},
		{in: "a:", wantErr: `entry 1 ("a:") has no table`},
		{in: "a:b:c", wantErr: `has more than one ':'`},
		{in: "a:1t", wantErr: `table "1t" (topic a) is not an identifier`},
		{in: "a:my-table", wantErr: `table "my-table" (topic a) is not an identifier`},
		{in: "a:t1,a:t2", wantErr: "topic a is mapped twice"},
		{in: "a:T,b:t", wantErr: "topics a and b both map to table t"},
	}
	for _, tt := range tests {
		got, err := ParseTopicToTable(tt.in)
		switch {
		case tt.wantErr != "":
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("%q: error %v, want %q", tt.in, err, tt.wantErr)
			}
		case err != nil:
			t.Errorf("%q: %v", tt.in, err)
		case !reflect.DeepEqual(got, tt.want):
			t.Errorf("%q: %v, want %v", tt.in, got, tt.want)
		}
	}
}

// TestDriverConfig builds gosnowflake's configuration from a generated, encrypted key:
// JWT authentication with the decrypted key. gosnowflake.DSN validates it (and fills
// the defaults) without connecting.
func TestDriverConfig(t *testing.T) {
	k := rsaTestKey(t)
	path := filepath.Join(t.TempDir(), "rsa_key.p8")
	if err := os.WriteFile(path, encryptPKCS8(t, k, "pass", 1000), 0o600); err != nil {
		t.Fatal(err)
	}
	c := Config{Account: "myorg-acct", User: "streamhub", Database: "ANALYTICS", Schema: "PUBLIC", Warehouse: "WH", Role: "LOADER",
		PrivateKeyFile: path, PrivateKeyPassphrase: "pass"}
	cfg, err := c.DriverConfig()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Authenticator != gosnowflake.AuthTypeJwt || cfg.PrivateKey == nil || !cfg.PrivateKey.Equal(k) || cfg.Password != "" {
		t.Errorf("config: authenticator %v, key set %v", cfg.Authenticator, cfg.PrivateKey != nil)
	}
	if cfg.Account != "myorg-acct" || cfg.User != "streamhub" || cfg.Database != "ANALYTICS" || cfg.Schema != "PUBLIC" || cfg.Warehouse != "WH" || cfg.Role != "LOADER" {
		t.Errorf("config %+v", cfg)
	}
	dsn, err := gosnowflake.DSN(cfg)
	if err != nil {
		t.Fatalf("gosnowflake refuses the config: %v", err)
	}
	if !strings.Contains(strings.ToLower(dsn), "authenticator=snowflake_jwt") || !strings.Contains(dsn, "privateKey=") ||
		!strings.HasPrefix(dsn, "streamhub:@myorg-acct.snowflakecomputing.com:443?") || !strings.Contains(dsn, "database=ANALYTICS") {
		t.Errorf("dsn %.80s…", dsn)
	}
	parsed, err := gosnowflake.ParseDSN(dsn)
	if err != nil || parsed.Authenticator != gosnowflake.AuthTypeJwt || !parsed.PrivateKey.Equal(k) {
		t.Errorf("the DSN does not round-trip: %v", err)
	}
	db, err := Open(c)
	if err != nil {
		t.Fatal(err)
	}
	db.Close() // nothing connected

	for name, bad := range map[string]struct {
		c       Config
		wantErr string
	}{
		"wrong passphrase": {func() Config { x := c; x.PrivateKeyPassphrase = "no"; return x }(), "wrong passphrase"},
		"missing file":     {func() Config { x := c; x.PrivateKeyFile = "/nonexistent/k.p8"; return x }(), "private key file: open /nonexistent/k.p8"},
		"no key":           {func() Config { x := c; x.PrivateKeyFile = ""; return x }(), "exactly one of the private key file and the private key"},
		"no schema":        {func() Config { x := c; x.Schema = ""; return x }(), "the database and the schema are required"},
		"no account":       {func() Config { x := c; x.Account = ""; return x }(), "no account"},
		"no user":          {func() Config { x := c; x.User = ""; return x }(), "no user"},
	} {
		if _, err := bad.c.DriverConfig(); err == nil || !strings.Contains(err.Error(), bad.wantErr) {
			t.Errorf("%s: error %v, want %q", name, err, bad.wantErr)
		}
	}
	// The key's content instead of a file (snowflake.private.key).
	inline := Config{Account: "a", User: "u", Database: "d", Schema: "s", PrivateKey: pkcs8PEM(t, k)}
	if cfg, err := inline.DriverConfig(); err != nil || !cfg.PrivateKey.Equal(k) {
		t.Errorf("inline key: %v", err)
	}
}
