package snowflake

import (
	"bytes"
	"compress/gzip"
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"reflect"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/streamhub/streamhub/internal/pgtest"
)

// pgSession runs a flush's Snowflake statements on PostgreSQL. It translates exactly
// this, and passes every other statement through unchanged (so the upsert, the append,
// the offsets statements, BEGIN, COMMIT and ROLLBACK run as the sink wrote them):
//
//  1. PUT 'file://<path>' @<stage>/… …: not run; the path is remembered by file name;
//  2. COPY INTO <stage table> FROM @<stage>/… FILES = ('<name>') FILE_FORMAT = (TYPE = JSON
//     COMPRESSION = GZIP) …: the PUT file of that name is gunzipped, split into JSON
//     Lines and inserted with jsonb_populate_recordset(NULL::<table>, …), which matches
//     keys to column names (the sink writes them exactly) and makes a missing key NULL, as
//     MATCH_BY_COLUMN_NAME does; a line that is not a JSON object fails, as
//     ON_ERROR = ABORT_STATEMENT does;
//  3. CREATE OR REPLACE TEMPORARY TABLE "x" → DROP TABLE IF EXISTS pg_temp."x", then
//     CREATE TEMPORARY TABLE "x" (PostgreSQL has no CREATE OR REPLACE TABLE);
//  4. in CREATE and ALTER statements, outside quoted names and literals: variant → jsonb,
//     timestamp_tz → timestamptz, varchar → text COLLATE "C" (Snowflake compares strings
//     bytewise, as COLLATE "C" does; version_key relies on it).
//
// The sink writes no PARSE_JSON or other Snowflake function, so nothing else differs.
type pgSession struct {
	Exec
	files *sync.Map // file name → local path
}

var (
	putRe    = regexp.MustCompile(`^PUT 'file://([^']+)' @\S+ AUTO_COMPRESS = FALSE OVERWRITE = TRUE$`)
	copyRe   = regexp.MustCompile(`^COPY INTO ("(?:[^"]|"")+") FROM @\S+ FILES = \('([^']+)'\) FILE_FORMAT = \(TYPE = JSON COMPRESSION = GZIP\) MATCH_BY_COLUMN_NAME = CASE_INSENSITIVE ON_ERROR = ABORT_STATEMENT FORCE = TRUE$`)
	ctempRe  = regexp.MustCompile(`^CREATE OR REPLACE TEMPORARY TABLE ("(?:[^"]|"")+") `)
	ddlRe    = regexp.MustCompile(`^(CREATE|ALTER) `)
	typeRews = []struct {
		re   *regexp.Regexp
		with string
	}{
		{regexp.MustCompile(`\bvariant\b`), "jsonb"},
		{regexp.MustCompile(`\btimestamp_tz\b`), "timestamptz"},
		{regexp.MustCompile(`\bvarchar\b`), `text COLLATE "C"`},
	}
)

type rowsAffected int64

func (r rowsAffected) LastInsertId() (int64, error) { return 0, nil }
func (r rowsAffected) RowsAffected() (int64, error) { return int64(r), nil }

func (p pgSession) ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error) {
	if m := putRe.FindStringSubmatch(q); m != nil {
		path := m[1]
		p.files.Store(path[strings.LastIndexByte(path, '/')+1:], path)
		return driver.RowsAffected(1), nil
	}
	if strings.HasPrefix(q, "PUT ") {
		return nil, fmt.Errorf("pgSession: cannot parse %q", q)
	}
	if m := copyRe.FindStringSubmatch(q); m != nil {
		return p.copy(ctx, m[1], m[2])
	}
	if strings.HasPrefix(q, "COPY ") {
		return nil, fmt.Errorf("pgSession: cannot parse %q", q)
	}
	if m := ctempRe.FindStringSubmatch(q); m != nil {
		if _, err := p.Exec.ExecContext(ctx, "DROP TABLE IF EXISTS pg_temp."+m[1]); err != nil {
			return nil, err
		}
		q = "CREATE TEMPORARY TABLE " + q[len(m[0])-len(m[1])-1:]
	}
	if ddlRe.MatchString(q) {
		q = translateTypes(q)
	}
	return p.Exec.ExecContext(ctx, q, args...)
}

// translateTypes rewrites the types outside "names" and 'literals'.
func translateTypes(q string) string {
	var out, plain strings.Builder
	flush := func() {
		s := plain.String()
		for _, r := range typeRews {
			s = r.re.ReplaceAllString(s, r.with)
		}
		out.WriteString(s)
		plain.Reset()
	}
	for i := 0; i < len(q); {
		c := q[i]
		if c != '"' && c != '\'' {
			plain.WriteByte(c)
			i++
			continue
		}
		flush()
		j := i + 1
		for j < len(q) && !(q[j] == c && (j+1 >= len(q) || q[j+1] != c)) {
			if q[j] == c {
				j++
			}
			j++
		}
		end := min(j+1, len(q))
		out.WriteString(q[i:end])
		i = end
	}
	flush()
	return out.String()
}

func (p pgSession) copy(ctx context.Context, table, name string) (sql.Result, error) {
	v, ok := p.files.Load(name)
	if !ok {
		return nil, fmt.Errorf("Remote file '%s' was not found (no PUT)", name)
	}
	gz, err := os.ReadFile(v.(string))
	if err != nil {
		return nil, err
	}
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		return nil, err
	}
	body, err := io.ReadAll(zr)
	if err != nil {
		return nil, err
	}
	var arr bytes.Buffer
	arr.WriteByte('[')
	n := 0
	for i, line := range bytes.Split(body, []byte{'\n'}) {
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		if line[0] != '{' || !json.Valid(line) {
			return nil, fmt.Errorf("Error parsing JSON: %s line %d", name, i+1)
		}
		if n > 0 {
			arr.WriteByte(',')
		}
		arr.Write(line)
		n++
	}
	arr.WriteByte(']')
	if n == 0 {
		return rowsAffected(0), nil
	}
	return p.Exec.ExecContext(ctx, fmt.Sprintf("INSERT INTO %s SELECT * FROM jsonb_populate_recordset(NULL::%s, $1::jsonb)", table, table), arr.String())
}

func TestTranslateTypes(t *testing.T) {
	got := translateTypes(`CREATE TABLE "variant" ("varchar" varchar NOT NULL, "d" variant, 'timestamp_tz', "t" timestamp_tz)`)
	want := `CREATE TABLE "variant" ("varchar" text COLLATE "C" NOT NULL, "d" jsonb, 'timestamp_tz', "t" timestamptz)`
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

// testDB opens the test PostgreSQL (database/sql through pgx's stdlib) and creates a
// fresh schema, dropped at cleanup. Without PostgreSQL the test skips loudly, or fails
// when CI=true.
func testDB(t testing.TB) (*sql.DB, string) {
	t.Helper()
	dsn := pgtest.DSN()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	db, err := sql.Open("pgx", dsn)
	if err == nil {
		err = db.PingContext(ctx)
	}
	if err != nil {
		pgtest.Unreachable(t, err, "the Snowflake sink tests (they run on PostgreSQL)")
	}
	schema := fmt.Sprintf("t_%016x", rand.Uint64())
	if _, err := db.ExecContext(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if _, err := db.ExecContext(context.Background(), "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("drop schema: %v", err)
		}
		db.Close()
	})
	return db, schema
}

// newPGSink builds a sink whose statements run on PostgreSQL through pgSession.
func newPGSink(t testing.TB, db *sql.DB, o Options) *Sink {
	t.Helper()
	if o.Name == "" {
		o.Name = "sf"
	}
	o.DB = db
	o.TempDir = t.TempDir()
	files := &sync.Map{}
	o.Wrap = func(e Exec) Exec { return pgSession{Exec: e, files: files} }
	if o.Registry == nil {
		o.Registry = prometheus.NewRegistry()
	}
	s, err := New(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func jsonEqual(a, b []byte) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	return reflect.DeepEqual(x, y)
}
