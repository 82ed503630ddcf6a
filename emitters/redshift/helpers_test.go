package redshift

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"reflect"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/streamhub/streamhub/emitters"
	"github.com/streamhub/streamhub/emitters/lake"
	"github.com/streamhub/streamhub/emitters/redshift/redshifttest"
	"github.com/streamhub/streamhub/internal/pgtest"
	"github.com/streamhub/streamhub/state"
)

func testDSN() string { return pgtest.DSN() }

// testDB connects to the test PostgreSQL and creates a fresh schema, dropped at cleanup.
func testDB(t testing.TB) (*pgxpool.Pool, string) {
	t.Helper()
	return pgtest.Schema(t, "the Redshift sink tests (they run on PostgreSQL through redshifttest)")
}

const stageBucket = "stage"

func testAWSConfig() *aws.Config {
	return &aws.Config{
		Region:      "eu-west-1",
		Credentials: credentials.NewStaticCredentialsProvider("AKIDTEST", "secret", ""),
	}
}

// env is one test's world: PostgreSQL (a fresh schema), gofakes3 as the S3 stage, and
// redshifttest serving the Data API on that PostgreSQL.
type env struct {
	pool    *pgxpool.Pool
	schema  string
	s3      *s3mem.Backend
	stage   *lake.S3Store
	rs      *redshifttest.Server
	rsURL   string
	dataAPI DataAPI
}

func newEnv(t testing.TB) *env {
	t.Helper()
	pool, schema := testDB(t)
	be := s3mem.New()
	if err := be.CreateBucket(stageBucket); err != nil {
		t.Fatal(err)
	}
	s3srv := httptest.NewServer(gofakes3.New(be).Server())
	t.Cleanup(s3srv.Close)
	ctx := context.Background()
	stage, err := lake.NewS3Store(ctx, lake.S3Options{Bucket: stageBucket, Endpoint: s3srv.URL, PathStyle: true, AWS: testAWSConfig()})
	if err != nil {
		t.Fatal(err)
	}
	rs, err := redshifttest.New(redshifttest.Options{Pool: pool, S3: stage.Client(), PageRows: 2})
	if err != nil {
		t.Fatal(err)
	}
	rsSrv := httptest.NewServer(rs)
	t.Cleanup(func() {
		rsSrv.Close()
		rs.Close()
	})
	client, err := NewDataAPIClient(ctx, ClientOptions{Endpoint: rsSrv.URL, AWS: testAWSConfig()})
	if err != nil {
		t.Fatal(err)
	}
	return &env{
		pool: pool, schema: schema, s3: be, stage: stage, rs: rs, rsURL: rsSrv.URL,
		dataAPI: DataAPI{Client: client, ClusterIdentifier: "streamhub-test", Database: "test", DbUser: "streamhub", PollMin: time.Millisecond, PollMax: 20 * time.Millisecond},
	}
}

// newSink builds a Data API sink in the env unless o says otherwise.
func (e *env) newSink(t testing.TB, o Options) *Sink {
	t.Helper()
	if o.Name == "" {
		o.Name = "rs"
	}
	if o.Schema == "" {
		o.Schema = e.schema
	}
	if o.Stage == nil {
		o.Stage = e.stage
	}
	if o.Prefix == "" {
		o.Prefix = "wh"
	}
	if o.IAMRole == "" {
		o.IAMRole = "arn:aws:iam::123456789012:role/streamhub-copy"
	}
	if o.DataAPI == nil && o.Direct == nil {
		d := e.dataAPI
		o.DataAPI = &d
	}
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

func stateRecord(t testing.TB, topic, key string, v state.Value, offset int64) *kgo.Record {
	t.Helper()
	b, err := v.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	return &kgo.Record{Topic: topic, Key: []byte(key), Value: b, Offset: offset, Timestamp: time.UnixMilli(1767225600000 + offset)}
}

func batch(topic string, part int32, recs ...*kgo.Record) *emitters.Batch {
	return &emitters.Batch{Topic: topic, Partition: part, Records: recs}
}

func mustFlush(t testing.TB, s *Sink, b *emitters.Batch) []emitters.Reject {
	t.Helper()
	rej, err := s.Flush(context.Background(), b)
	if err != nil {
		t.Fatalf("flush %s[%d] %d-%d: %v", b.Topic, b.Partition, b.First(), b.Last(), err)
	}
	return rej
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
