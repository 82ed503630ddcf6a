package topology

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestExpandReplacesVariablesAndDefaults(t *testing.T) {
	t.Parallel()
	env := map[string]string{"A": "alpha", "EMPTY": "", "TRICKY": "${A} $x }", "N_1": "one"}
	tests := []struct {
		name, in, want string
		errs           []string
	}{
		{"no reference", "plain $text with $ signs", "plain $text with $ signs", nil},
		{"a variable", "${A}", "alpha", nil},
		{"inside text", "pre-${A}-post", "pre-alpha-post", nil},
		{"several", "${A}/${N_1}/${A}", "alpha/one/alpha", nil},
		{"default when unset", "${UNSET:-fallback}", "fallback", nil},
		{"default when empty", "${EMPTY:-fallback}", "fallback", nil},
		{"empty default", "${UNSET:-}", "", nil},
		{"value wins over default", "${A:-fallback}", "alpha", nil},
		{"default with special characters", "${UNSET:-a:b/c?d=e}", "a:b/c?d=e", nil},
		{"set but empty without default", "${EMPTY}", "", nil},
		{"a value is not expanded again", "${TRICKY}", "${A} $x }", nil},
		{"$${ is a literal ${", "$${A} and ${A}", "${A} and alpha", nil},
		{"missing", "x${MISSING}y", "xy", []string{"environment variable MISSING is not set (write ${MISSING:-default} for a default)"}},
		{"two missing", "${M1}${M2}", "", []string{
			"environment variable M1 is not set (write ${M1:-default} for a default)",
			"environment variable M2 is not set (write ${M2:-default} for a default)",
		}},
		{"unterminated", "a${A", "a", []string{`unterminated variable reference "${A" (write $${ for a literal ${)`}},
		{"empty name", "${}", "", []string{"invalid variable reference ${}: a name is letters, digits and _, not starting with a digit; a default is written ${NAME:-default} (write $${ for a literal ${)"}},
		{"digit first", "${1A}", "", []string{"invalid variable reference ${1A}: a name is letters, digits and _, not starting with a digit; a default is written ${NAME:-default} (write $${ for a literal ${)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, errs := expand(tt.in, lookupIn(env), false)
			if got != tt.want || !reflect.DeepEqual(errs, tt.errs) {
				t.Errorf("expand(%q) = %q, %q; want %q, %q", tt.in, got, errs, tt.want, tt.errs)
			}
		})
	}
}

func TestSecretsWithYAMLSyntaxSurviveExpansion(t *testing.T) {
	t.Parallel()
	// Expansion happens after YAML parsing, so none of this is read as YAML.
	secret := "p@ss: {w0rd} # not a comment\n- [x] &y *z 'q\" ${A} $$"
	c := mustParse(t, `
kafka:
  brokers: k:9096
  sasl:
    mechanism: PLAIN
    username: app
    password: ${SECRET}
tables: [{name: users, keys: [pk]}]
`, map[string]string{"SECRET": secret})
	if c.Kafka.SASL.Password != secret {
		t.Errorf("password: got %q, want %q", c.Kafka.SASL.Password, secret)
	}
}

func TestVariablesExpandInEveryKindOfScalar(t *testing.T) {
	t.Parallel()
	c := mustParse(t, `
env: ${ENV}
kafka: {brokers: "${BROKERS}"}
tables:
  - name: ${TABLE}
    keys: ["${HASH}", sk]
    partitions: ${PARTITIONS}
processor:
  shutdown_timeout: ${TIMEOUT}
  enabled: ${ENABLED}
collector:
  max_body_bytes: ${BODY}
`, map[string]string{
		"ENV": "qa", "BROKERS": "k1:9092,k2:9092", "TABLE": "users", "HASH": "pk",
		"PARTITIONS": "3", "TIMEOUT": "45s", "ENABLED": "false", "BODY": "2MiB",
	})
	got := []any{c.Env, c.Kafka.Brokers, c.Tables[0].Name, c.Tables[0].Keys, c.Tables[0].Partitions,
		c.Tables[0].Topic, c.Processor.ShutdownTimeout, c.Processor.On(), c.Collector.MaxBodyBytes}
	want := []any{"qa", []string{"k1:9092", "k2:9092"}, "users", []string{"pk", "sk"}, 3,
		"qa.users.cdc", 45 * time.Second, false, int64(2 << 20)}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %v\nwant %v", got, want)
	}
}

func TestVariablesAreNotExpandedInKeys(t *testing.T) {
	t.Parallel()
	_, err := parseString(t, "kafka: {brokers: embedded}\ntables: [{name: u, keys: [pk]}]\n${KEY}: 1\n", map[string]string{"KEY": "env"})
	want := `t.yaml:3: unknown field "${KEY}"; known fields: env, kafka, tables, api, processor, sources, bridge, sinks, collector`
	if err == nil || err.Error() != want {
		t.Errorf("got %v, want %s", err, want)
	}
}

func TestAMissingVariableNamesTheVariableAndTheFieldButNoValue(t *testing.T) {
	t.Parallel()
	_, err := parseString(t, `
kafka:
  brokers: k:9096
  sasl:
    mechanism: PLAIN
    username: app
    password: prefix-${KAFKA_PASSWORD}
tables: [{name: users, keys: [pk]}]
`, map[string]string{"OTHER": "x"})
	want := "t.yaml:7: kafka.sasl.password: environment variable KAFKA_PASSWORD is not set (write ${KAFKA_PASSWORD:-default} for a default)"
	if err == nil || err.Error() != want {
		t.Errorf("got %v\nwant %s", err, want)
	}
	if err != nil && strings.Contains(err.Error(), "prefix-") {
		t.Errorf("the message shows the value of a secret field: %v", err)
	}
}

func TestABadReferenceInASecretIsReportedWithoutItsText(t *testing.T) {
	t.Parallel()
	_, err := parseString(t, `
kafka: {brokers: embedded}
tables: [{name: users, keys: [pk]}]
api:
  tokens: ["s3cr${et", "t0ps${e cret}"]
`, nil)
	want := "t.yaml:5: api.tokens[0]: unterminated variable reference (write $${ for a literal ${)\n" +
		"t.yaml:5: api.tokens[1]: invalid variable reference: a name is letters, digits and _, not starting with a digit; a default is written ${NAME:-default} (write $${ for a literal ${)"
	if err == nil || err.Error() != want {
		t.Errorf("got %v\nwant %s", err, want)
	}
}
