package redshifttest

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/jackc/pgx/v5"
)

// What the server translates, and nothing else (every other statement reaches
// PostgreSQL as Redshift received it, so the portable upsert, the append and the offsets
// statements are proven on PostgreSQL exactly as the sink writes them):
//
//  1. COPY <table> FROM 's3://<bucket>/<key>' [IAM_ROLE '<arn>' | IAM_ROLE default]
//     MANIFEST FORMAT [AS] JSON 'auto' [GZIP] [TIMEFORMAT [AS] 'auto']: the manifest is
//     read from S3 through the S3 client the server was given, every entry fetched
//     (a missing mandatory entry fails the COPY; a content_length that differs from the
//     object's size too), gunzipped with GZIP, split into JSON Lines, and inserted with
//     jsonb_populate_recordset(NULL::<table>, …): object keys are matched to column
//     names exactly (as JSON 'auto' does), a JSON null or a missing key is NULL, a
//     nested value into a SUPER (jsonb) column is stored as that JSON value, a string
//     into a timestamp column is parsed by PostgreSQL (a superset of the ISO 8601 form
//     TIMEFORMAT 'auto' reads). A line that is not a JSON object fails the COPY, as
//     MAXERROR 0 does. The role is not checked. COPY without MANIFEST, other formats
//     (Parquet, CSV) and other options are refused with an error.
//  2. In CREATE and ALTER statements, outside quoted names and literals: DISTSTYLE
//     {KEY|EVEN|ALL|AUTO}, [COMPOUND|INTERLEAVED] SORTKEY (…), DISTKEY (…) and
//     ENCODE <codec> are removed; the type SUPER becomes jsonb; VARCHAR(n) becomes
//     text COLLATE "C" (Redshift compares VARCHAR bytewise, as COLLATE "C" does; the
//     length limit is not enforced).
var (
	copyRe = regexp.MustCompile(`(?is)^\s*COPY\s+((?:"(?:[^"]|"")+"|[A-Za-z_][\w$]*)(?:\s*\.\s*(?:"(?:[^"]|"")+"|[A-Za-z_][\w$]*))?)\s+FROM\s+'s3://([^/']+)/((?:[^']|'')*)'\s*(.*?)\s*;?\s*$`)
	ddlRe  = regexp.MustCompile(`(?is)^\s*(CREATE|ALTER)\s`)

	ddlRewrites = []struct {
		re   *regexp.Regexp
		with string
	}{
		{regexp.MustCompile(`(?i)\bDISTSTYLE\s+(KEY|EVEN|ALL|AUTO)\b`), ""},
		{regexp.MustCompile(`(?i)\b((COMPOUND|INTERLEAVED)\s+)?SORTKEY\s*\(`), "\x00("},
		{regexp.MustCompile(`(?i)\bDISTKEY\s*\(`), "\x00("},
		{regexp.MustCompile(`(?i)\bENCODE\s+[A-Za-z0-9_]+`), ""},
		{regexp.MustCompile(`(?i)\bSUPER\b`), "jsonb"},
		{regexp.MustCompile(`(?i)\b(VARCHAR|CHARACTER\s+VARYING)\s*\(\s*\d+\s*\)`), `text COLLATE "C"`},
	}
)

// Translate rewrites a Redshift DDL statement for PostgreSQL (item 2 above); other
// statements are returned unchanged. COPY is not handled here (see ExecTx).
func Translate(sql string) string {
	if !ddlRe.MatchString(sql) {
		return sql
	}
	// Rewrite only the parts outside "names" and 'literals'.
	var out strings.Builder
	var plain strings.Builder
	flush := func() {
		s := plain.String()
		for _, r := range ddlRewrites {
			s = r.re.ReplaceAllString(s, r.with)
		}
		out.WriteString(s)
		plain.Reset()
	}
	for i := 0; i < len(sql); {
		c := sql[i]
		if c != '"' && c != '\'' {
			plain.WriteByte(c)
			i++
			continue
		}
		flush()
		j := i + 1
		for j < len(sql) {
			if sql[j] == c {
				if j+1 < len(sql) && sql[j+1] == c {
					j += 2
					continue
				}
				break
			}
			j++
		}
		end := min(j+1, len(sql))
		out.WriteString(sql[i:end])
		i = end
	}
	flush()
	// A removed SORTKEY/DISTKEY left "\x00(" before its column list: drop the list.
	s := out.String()
	for {
		k := strings.IndexByte(s, 0)
		if k < 0 {
			break
		}
		depth, j := 0, k+1
		for ; j < len(s); j++ {
			if s[j] == '(' {
				depth++
			} else if s[j] == ')' {
				depth--
				if depth == 0 {
					j++
					break
				}
			}
		}
		s = s[:k] + s[j:]
	}
	return s
}

// copyStmt is a parsed COPY … FROM 's3://…'.
type copyStmt struct {
	table, bucket, key string
	manifest, gzip     bool
}

func parseCopy(sql string) (*copyStmt, bool, error) {
	m := copyRe.FindStringSubmatch(sql)
	if m == nil {
		if strings.HasPrefix(strings.ToUpper(strings.TrimSpace(sql)), "COPY ") && strings.Contains(sql, "s3://") {
			return nil, true, errors.New("redshifttest: cannot parse this COPY")
		}
		return nil, false, nil
	}
	c := &copyStmt{table: m[1], bucket: m[2], key: strings.ReplaceAll(m[3], "''", "'")}
	opts := m[4]
	format := false
	for opts = strings.TrimSpace(opts); opts != ""; opts = strings.TrimSpace(opts) {
		switch {
		case consume(&opts, `(?i)^IAM_ROLE\s+('(?:[^']|'')*'|default)`):
		case consume(&opts, `(?i)^MANIFEST\b`):
			c.manifest = true
		case consume(&opts, `(?i)^GZIP\b`):
			c.gzip = true
		case consume(&opts, `(?i)^FORMAT\s+(AS\s+)?JSON\s+'auto'`):
			format = true
		case consume(&opts, `(?i)^JSON\s+'auto'`):
			format = true
		case consume(&opts, `(?i)^TIMEFORMAT\s+(AS\s+)?'auto'`):
		default:
			return nil, true, fmt.Errorf("redshifttest: unsupported COPY option at %q", opts)
		}
	}
	if !format {
		return nil, true, errors.New("redshifttest: only COPY … FORMAT AS JSON 'auto' is supported")
	}
	if !c.manifest {
		return nil, true, errors.New("redshifttest: only COPY … MANIFEST is supported")
	}
	return c, true, nil
}

var consumeRes = map[string]*regexp.Regexp{}

func consume(s *string, pattern string) bool {
	re, ok := consumeRes[pattern]
	if !ok {
		re = regexp.MustCompile(pattern)
		consumeRes[pattern] = re
	}
	loc := re.FindStringIndex(*s)
	if loc == nil {
		return false
	}
	*s = (*s)[loc[1]:]
	return true
}

func init() {
	// Compile the option patterns up front: consume is called concurrently.
	for _, p := range []string{
		`(?i)^IAM_ROLE\s+('(?:[^']|'')*'|default)`, `(?i)^MANIFEST\b`, `(?i)^GZIP\b`,
		`(?i)^FORMAT\s+(AS\s+)?JSON\s+'auto'`, `(?i)^JSON\s+'auto'`, `(?i)^TIMEFORMAT\s+(AS\s+)?'auto'`,
	} {
		consumeRes[p] = regexp.MustCompile(p)
	}
}

type manifestDoc struct {
	Entries []struct {
		URL       string `json:"url"`
		Mandatory bool   `json:"mandatory"`
		Meta      *struct {
			ContentLength *int64 `json:"content_length"`
		} `json:"meta"`
	} `json:"entries"`
}

// runCopy loads the COPY's files into its table; it returns the rows loaded.
func runCopy(ctx context.Context, client *s3.Client, tx pgx.Tx, c *copyStmt) (int64, error) {
	if client == nil {
		return 0, errors.New("redshifttest: COPY from S3 needs the server's S3 client")
	}
	mb, err := getObject(ctx, client, c.bucket, c.key)
	if err != nil {
		return 0, fmt.Errorf("S3ServiceException: manifest s3://%s/%s: %w", c.bucket, c.key, err)
	}
	var m manifestDoc
	if err := json.Unmarshal(mb, &m); err != nil {
		return 0, fmt.Errorf("Manifest file is not in correct json format: %w", err)
	}
	var total int64
	for _, e := range m.Entries {
		rest, ok := strings.CutPrefix(e.URL, "s3://")
		bucket, key, ok2 := strings.Cut(rest, "/")
		if !ok || !ok2 {
			return 0, fmt.Errorf("manifest entry %q is not an s3:// URL", e.URL)
		}
		body, err := getObject(ctx, client, bucket, key)
		if err != nil {
			if e.Mandatory {
				return 0, fmt.Errorf("S3ServiceException: mandatory manifest entry %s: %w", e.URL, err)
			}
			continue
		}
		if e.Meta != nil && e.Meta.ContentLength != nil && *e.Meta.ContentLength != int64(len(body)) {
			return 0, fmt.Errorf("manifest entry %s: content_length %d, the object has %d bytes", e.URL, *e.Meta.ContentLength, len(body))
		}
		if c.gzip {
			zr, err := gzip.NewReader(bytes.NewReader(body))
			if err != nil {
				return 0, fmt.Errorf("gzip %s: %w", e.URL, err)
			}
			if body, err = io.ReadAll(zr); err != nil {
				return 0, fmt.Errorf("gzip %s: %w", e.URL, err)
			}
		}
		var arr bytes.Buffer
		arr.WriteByte('[')
		n := 0
		for i, line := range bytes.Split(body, []byte{'\n'}) {
			line = bytes.TrimSpace(line)
			if len(line) == 0 {
				continue
			}
			if line[0] != '{' || !json.Valid(line) {
				return 0, fmt.Errorf("Load into table failed: %s line %d is not a JSON object", e.URL, i+1)
			}
			if n > 0 {
				arr.WriteByte(',')
			}
			arr.Write(line)
			n++
		}
		arr.WriteByte(']')
		if n == 0 {
			continue
		}
		tag, err := tx.Exec(ctx, fmt.Sprintf("INSERT INTO %s SELECT * FROM jsonb_populate_recordset(NULL::%s, $1::jsonb)", c.table, c.table), arr.String())
		if err != nil {
			return 0, fmt.Errorf("Load into table failed (%s): %w", e.URL, err)
		}
		total += tag.RowsAffected()
	}
	return total, nil
}

func getObject(ctx context.Context, client *s3.Client, bucket, key string) ([]byte, error) {
	out, err := client.GetObject(ctx, &s3.GetObjectInput{Bucket: &bucket, Key: &key})
	if err != nil {
		return nil, err
	}
	defer out.Body.Close()
	return io.ReadAll(out.Body)
}
