package snowflake

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/streamhub/streamhub/emitters/warehouse"
	"github.com/streamhub/streamhub/topology"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

func goldenState(deletes string) warehouse.Table {
	return warehouse.StateTable(topology.Table{
		Name: "user-profiles", Keys: []string{"userId", "sk"}, Group: "dev.user-profiles.state",
		Columns: []topology.Column{
			{Name: "email", Path: "contact.email", Type: "string"},
			{Name: "age", Path: "age", Type: "int"},
			{Name: "prefs", Path: "prefs", Type: "json"},
		},
	}, "analytics", deletes)
}

func render(t *testing.T, stmts []Statement) string {
	t.Helper()
	var b strings.Builder
	for _, s := range stmts {
		if s.Kind != "" {
			b.WriteString("-- counts: " + s.Kind + "\n")
		}
		b.WriteString(s.SQL + ";\n\n")
	}
	return b.String()
}

func checkGolden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs from the generated SQL (run go test -run TestGolden -update and review the diff)\n%s", path, got)
	}
}

// TestGolden pins the statements of a state-table flush (soft and hard deletes, a stage
// with live changes and tombstones), an event-table flush and a flush with nothing to
// stage.
func TestGolden(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 678901000, time.UTC)
	st := goldenState(topology.DeletesSoft)
	f := Flush{Sink: "sf", Topic: st.Topic, Partition: 3, Next: 42, Now: now, Live: true, Deleted: true,
		File: "/tmp/streamhub-snowflake-1/" + FileName(st.Topic, 3, 17)}
	var parts []string
	for _, c := range []struct {
		title string
		t     warehouse.Table
		f     Flush
	}{
		{"state table, soft deletes", st, f},
		{"state table, hard deletes", goldenState(topology.DeletesHard), f},
		{"state table, live changes only", st, func() Flush { g := f; g.Deleted = false; return g }()},
	} {
		stmts, err := Statements(c.t, c.f)
		if err != nil {
			t.Fatal(err)
		}
		parts = append(parts, "-- "+c.title+"\n"+render(t, stmts))
	}
	checkGolden(t, "state_flush.sql", strings.Join(parts, ""))

	ev := warehouse.EventTable("dev.web.page_view", "analytics")
	stmts, err := Statements(ev, Flush{Sink: "sf", Topic: ev.Topic, Partition: 0, Next: 1000, Now: now,
		File: "/tmp/streamhub-snowflake-2/" + FileName(ev.Topic, 0, 990)})
	if err != nil {
		t.Fatal(err)
	}
	empty, err := Statements(ev, Flush{Sink: "sf", Topic: ev.Topic, Partition: 1, Next: 7, TopicID: "Zm9v", Now: now})
	if err != nil {
		t.Fatal(err)
	}
	checkGolden(t, "event_flush.sql", "-- event table\n"+render(t, stmts)+"-- nothing to stage\n"+render(t, empty))
}

func TestStatementsRefuse(t *testing.T) {
	st := goldenState("")
	for name, f := range map[string]Flush{
		"relative file": {Sink: "sf", Topic: st.Topic, File: "x.json.gz"},
		"quote in path": {Sink: "sf", Topic: st.Topic, File: "/tmp/a'b/x.json.gz"},
		"space in path": {Sink: "sf", Topic: st.Topic, File: "/tmp/a b/x.json.gz"},
		"bad sink":      {Sink: "S F", Topic: st.Topic, File: "/tmp/x.json.gz"},
		"backslash":     {Sink: "sf", Topic: `a\b`},
	} {
		if _, err := Statements(st, f); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
