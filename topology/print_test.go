package topology

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/good/*.golden from the current Print output")

func TestPrintMatchesGoldenFiles(t *testing.T) {
	files, err := filepath.Glob("testdata/good/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			c, err := parseFile(t, f, testEnv)
			if err != nil {
				t.Fatal(err)
			}
			var b strings.Builder
			Print(&b, c)
			golden := strings.TrimSuffix(f, ".yaml") + ".golden"
			if *update {
				if err := os.WriteFile(golden, []byte(b.String()), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test ./topology -run TestPrint -update to create it)", err)
			}
			if b.String() != string(want) {
				t.Errorf("Print differs from %s (run with -update after checking):\ngot:\n%s\nwant:\n%s", golden, b.String(), want)
			}
		})
	}
}

func TestPrintNeverShowsSecrets(t *testing.T) {
	t.Parallel()
	c, err := parseFile(t, "testdata/good/production.yaml", testEnv)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	Print(&b, c)
	for name, v := range testEnv {
		if strings.Contains(v, "secret") && strings.Contains(b.String(), v) {
			t.Errorf("Print shows the value of %s:\n%s", name, b.String())
		}
	}
	for _, s := range []string{c.Kafka.SASL.Username, "db.internal"} {
		if strings.Contains(b.String(), s) {
			t.Errorf("Print shows %q (a username or a DSN part):\n%s", s, b.String())
		}
	}
}

func TestPrintDoesNotPanicOnAnIncompleteConfig(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	Print(&b, &Config{Tables: []Table{{}}, Sinks: []Sink{{}}, Sources: []Source{{}}, Collector: &Collector{}})
	if b.Len() == 0 {
		t.Error("printed nothing")
	}
}
