package e2e

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"github.com/streamhub/streamhub/emitters/lake"
	"github.com/streamhub/streamhub/emitters/redshift/redshifttest"
	"github.com/streamhub/streamhub/pipeline"
	"github.com/streamhub/streamhub/sources/dynamodb"
)

// TestTableToRedshiftThroughTheDataAPI runs a DynamoDB table into a redshift sink
// configured in the topology like production (S3 stage bucket, COPY role, a
// redshift-data:// DSN): the real Data API and S3 clients, redshifttest executing the
// statements on PostgreSQL (COPY loads the staged files from gofakes3). The warehouse
// table must equal the table, row by row.
func TestTableToRedshiftThroughTheDataAPI(t *testing.T) {
	dsn, db := pgConn(t)
	schema := fmt.Sprintf("e2e_rs_%d", rand.Uint32())
	t.Cleanup(func() { db.Exec(context.Background(), "DROP SCHEMA IF EXISTS "+schema+" CASCADE") })

	be := s3mem.New()
	if err := be.CreateBucket("stage"); err != nil {
		t.Fatal(err)
	}
	s3srv := httptest.NewServer(gofakes3.New(be).Server())
	t.Cleanup(s3srv.Close)
	stage, err := lake.NewS3Store(context.Background(), lake.S3Options{Bucket: "stage", Endpoint: s3srv.URL, PathStyle: true, AWS: bridgeAWS()})
	if err != nil {
		t.Fatal(err)
	}
	pool, err := pgxpool.New(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	rs, err := redshifttest.New(redshifttest.Options{Pool: pool, S3: stage.Client()})
	if err != nil {
		t.Fatal(err)
	}
	rsSrv := httptest.NewServer(rs)
	t.Cleanup(func() { rsSrv.Close(); rs.Close() })

	tb := newTable(t, 2)
	cfg := bridgeConfig(t, tb.srv.URL(), "embedded\n  embedded_listen: 127.0.0.1:0", `
sinks:
  - name: rs
    type: redshift
    dsn: "redshift-data:///test?cluster=analytics&db_user=streamhub&endpoint=`+url.QueryEscape(rsSrv.URL)+`"
    schema: `+schema+`
    bucket: stage
    prefix: streamhub
    endpoint: `+s3srv.URL+`
    region: us-east-1
    path_style: true
    copy_role_arn: arn:aws:iam::123456789012:role/redshift-copy
    tables: [users]
    buffer: {count_records: 500, flush_time: 300ms}`)
	conn := startBroker(t, cfg)
	p, err := pipeline.New(context.Background(), pipeline.Options{
		Config: cfg, Conn: conn, Roles: pipeline.Roles{Bridge: true, Process: true, Emit: true},
		MemoryStorage: true, Logger: testLogger(t), AWS: bridgeAWS(), Bridge: dynamodb.Options{AWS: bridgeAWS()},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})

	tb.write(1, 200, 1500)
	deadline := time.Now().Add(90 * time.Second)
	var diffs []string
	for time.Now().Before(deadline) {
		if p.Status().Applied >= int64(tb.written()) {
			if diffs = diffPostgres(t, db, schema, tb); len(diffs) == 0 {
				break
			}
		}
		time.Sleep(300 * time.Millisecond)
	}
	if len(diffs) == 0 {
		diffs = diffPostgres(t, db, schema, tb) // also when the wait ran out
	}
	for i, d := range diffs {
		if i == 10 {
			t.Errorf("... and %d more", len(diffs)-10)
			break
		}
		t.Error(d)
	}
	if len(rs.Batches()) == 0 {
		t.Error("no BatchExecuteStatement reached the Data API server")
	}
	keys, err := stage.List(context.Background(), "streamhub/_stage/rs/")
	if err != nil || len(keys) == 0 {
		t.Errorf("no staged files (%v)", err)
	}
}
