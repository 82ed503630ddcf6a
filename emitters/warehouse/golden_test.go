package warehouse

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/streamhub/streamhub/topology"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// goldenTable has a range key and three projected columns.
func goldenTable(deletes string) Table {
	return StateTable(topology.Table{
		Name: "user-profiles", Keys: []string{"userId", "sk"}, Group: "dev.user-profiles.state",
		Columns: []topology.Column{
			{Name: "email", Path: "contact.email", Type: "string"},
			{Name: "age", Path: "age", Type: "int"},
			{Name: "prefs", Path: "prefs", Type: "json"},
		},
	}, "analytics", deletes)
}

func TestGolden(t *testing.T) {
	for _, target := range []string{Postgres, Redshift, Snowflake} {
		t.Run(target, func(t *testing.T) {
			var parts []string
			add := func(title string, stmts []string) {
				parts = append(parts, "-- "+title+"\n"+strings.Join(stmts, ";\n\n")+";\n")
			}
			soft, hard := goldenTable(topology.DeletesSoft), goldenTable(topology.DeletesHard)
			events := EventTable("dev.web.page_view", "analytics")
			add("state table DDL", DDL(target, soft))
			add("event table DDL", DDL(target, events))
			add("offsets DDL", OffsetsDDL(target, "analytics"))
			add("stage DDL", []string{StageDDL(target, soft, "_streamhub_stage")})
			add("upsert, soft deletes", Upsert(target, soft, "_streamhub_stage"))
			add("upsert, hard deletes", Upsert(target, hard, "_streamhub_stage"))
			var app []string
			for _, s := range AppendSteps(target, events, "_streamhub_stage") {
				app = append(app, s.SQL)
			}
			add("event append", app)
			got := strings.Join(parts, "\n")
			path := filepath.Join("testdata", target+".sql")
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
		})
	}
}

func TestUpsertSameTextOnAllTargets(t *testing.T) {
	for _, d := range []string{topology.DeletesSoft, topology.DeletesHard} {
		pg := strings.Join(Upsert(Postgres, goldenTable(d), "s"), ";")
		for _, target := range []string{Redshift, Snowflake} {
			if got := strings.Join(Upsert(target, goldenTable(d), "s"), ";"); got != pg {
				t.Errorf("%s upsert (%s deletes) differs from PostgreSQL's", target, d)
			}
		}
	}
}

func TestStateTableNames(t *testing.T) {
	tb := StateTable(topology.Table{Name: "Orders", Keys: []string{"key", "Order-Id"}, Group: "g",
		Columns: []topology.Column{{Name: "order_id", Path: "x"}}}, "", "")
	var names []string
	for _, c := range tb.Columns() {
		names = append(names, c.Name)
	}
	want := "key_key order_id_key key doc deleted_at version_key version_seq version_created_at _streamhub_updated_at order_id"
	if got := strings.Join(names, " "); got != want {
		t.Errorf("columns\n got %s\nwant %s", got, want)
	}
	if tb.Name != "orders" || tb.Topic != "g-table" || tb.Deletes != topology.DeletesSoft {
		t.Errorf("table %+v", tb)
	}
	if e := EventTable("dev.Web-app.click", ""); e.Name != "dev_web_app_click" {
		t.Errorf("event table name %q", e.Name)
	}
}
