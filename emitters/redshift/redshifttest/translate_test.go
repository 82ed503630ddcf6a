package redshifttest

import (
	"strings"
	"testing"
)

func TestTranslate(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"CREATE TABLE IF NOT EXISTS \"s\".\"t\" (\n  \"key\" varchar(65535) NOT NULL,\n  \"doc\" super,\n  PRIMARY KEY (\"key\")\n)\nDISTSTYLE KEY DISTKEY (\"key\") SORTKEY (\"key\")",
			"CREATE TABLE IF NOT EXISTS \"s\".\"t\" (\n  \"key\" text COLLATE \"C\" NOT NULL,\n  \"doc\" jsonb,\n  PRIMARY KEY (\"key\")\n)\n  "},
		{`CREATE TABLE x ("a" VARCHAR(10) ENCODE zstd, "super" int) DISTSTYLE EVEN COMPOUND SORTKEY ("partition", "offset")`,
			`CREATE TABLE x ("a" text COLLATE "C" , "super" int)  `},
		{`ALTER TABLE "t" ADD COLUMN "c" super`, `ALTER TABLE "t" ADD COLUMN "c" jsonb`},
		{`INSERT INTO t VALUES ('super varchar(3) DISTKEY (x)')`, `INSERT INTO t VALUES ('super varchar(3) DISTKEY (x)')`},
		{`CREATE TEMP TABLE "s" ("v" varchar(65535), "note" varchar(4)) `, `CREATE TEMP TABLE "s" ("v" text COLLATE "C", "note" text COLLATE "C") `},
	} {
		if got := Translate(tc.in); got != tc.want {
			t.Errorf("Translate(%q)\n got %q\nwant %q", tc.in, got, tc.want)
		}
	}
}

func TestParseCopy(t *testing.T) {
	c, ok, err := parseCopy(`COPY "_streamhub_stage" FROM 's3://b/p/x+0+00000000000000000001.manifest' IAM_ROLE 'arn:aws:iam::1:role/r' MANIFEST FORMAT AS JSON 'auto' GZIP TIMEFORMAT 'auto'`)
	if err != nil || !ok || c.table != `"_streamhub_stage"` || c.bucket != "b" || c.key != "p/x+0+00000000000000000001.manifest" || !c.gzip || !c.manifest {
		t.Errorf("%+v %v %v", c, ok, err)
	}
	if _, ok, err := parseCopy(`SELECT 1`); ok || err != nil {
		t.Errorf("a SELECT parsed as COPY: %v %v", ok, err)
	}
	for _, q := range []string{
		`COPY t FROM 's3://b/k' IAM_ROLE default FORMAT AS JSON 'auto'`,              // no manifest
		`COPY t FROM 's3://b/k' IAM_ROLE default MANIFEST FORMAT AS PARQUET`,         // parquet
		`COPY t FROM 's3://b/k' IAM_ROLE default MANIFEST FORMAT AS JSON 'auto' CSV`, // unknown option
	} {
		if _, ok, err := parseCopy(q); !ok || err == nil || !strings.Contains(err.Error(), "redshifttest") {
			t.Errorf("%s: %v %v", q, ok, err)
		}
	}
}
