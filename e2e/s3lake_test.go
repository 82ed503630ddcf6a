package e2e

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
	"github.com/parquet-go/parquet-go"

	"github.com/streamhub/streamhub/emitters/lake"
	"github.com/streamhub/streamhub/emitters/snapshot"
	"github.com/streamhub/streamhub/pipeline"
	"github.com/streamhub/streamhub/sources/dynamodb"
)

// TestTableToS3Lake runs a DynamoDB table all the way into an S3 lake: ddbtest's stream,
// the bridge, the processor and an s3 sink (the real SDK against gofakes3, path-style, with
// manifests) in one pipeline. The lake must hold each stream record once, as the bridge
// wrote it, with a Redshift manifest per flush; and a Parquet snapshot of the table whose
// rows equal the table.
func TestTableToS3Lake(t *testing.T) {
	be := s3mem.New()
	if err := be.CreateBucket("acme-lake"); err != nil {
		t.Fatal(err)
	}
	s3srv := httptest.NewServer(gofakes3.New(be).Server())
	t.Cleanup(s3srv.Close)

	tb := newTable(t, 2)
	cfg := bridgeConfig(t, tb.srv.URL(), "embedded\n  embedded_listen: 127.0.0.1:0", `
sinks:
  - name: lake
    type: s3
    bucket: acme-lake
    prefix: streamhub
    endpoint: `+s3srv.URL+`
    region: us-east-1
    path_style: true
    manifest: true
    topics: [bridge.users.cdc]
    tables: [users]
    snapshot_every: 1h
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
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			cancel()
			if err := <-done; err != nil {
				t.Error(err)
			}
		}
	}
	t.Cleanup(stop)

	tb.write(1, 300, 2500)
	waitFor(t, "every record in the lake", 60*time.Second, func() bool { return p.Status().Flushed >= int64(tb.written()) })
	waitFor(t, "the table processed", 60*time.Second, func() bool { return p.Status().Applied >= int64(tb.written()) })
	stop()

	store, err := lake.NewS3Store(context.Background(), lake.S3Options{
		Bucket: "acme-lake", Endpoint: s3srv.URL, Region: "us-east-1", PathStyle: true, AWS: bridgeAWS(),
	})
	if err != nil {
		t.Fatal(err)
	}
	keys, err := store.List(context.Background(), "streamhub/")
	if err != nil {
		t.Fatal(err)
	}
	var got []cdcRecord
	var manifests int
	for _, k := range keys {
		switch {
		case strings.HasPrefix(k, "streamhub/bridge.users.cdc/dt=") && strings.HasSuffix(k, ".jsonl.gz"):
			body, err := store.Get(context.Background(), k)
			if err != nil {
				t.Fatal(err)
			}
			zr, err := gzip.NewReader(bytes.NewReader(body))
			if err != nil {
				t.Fatalf("%s: %v", k, err)
			}
			sc := bufio.NewScanner(zr)
			sc.Buffer(nil, 16<<20)
			for sc.Scan() {
				var row struct {
					Key            string `json:"key"`
					SequenceNumber string `json:"sequence_number"`
					EventName      string `json:"event_name"`
				}
				if err := json.Unmarshal(sc.Bytes(), &row); err != nil {
					t.Fatalf("%s: %v", k, err)
				}
				if row.EventName == "" {
					t.Fatalf("%s: a CDC row without event_name: %s", k, sc.Bytes())
				}
				got = append(got, cdcRecord{key: row.Key, seq: row.SequenceNumber})
			}
		case strings.HasPrefix(k, "streamhub/_manifests/") && strings.HasSuffix(k, ".manifest"):
			manifests++
			body, _ := store.Get(context.Background(), k)
			var m struct {
				Entries []struct {
					URL       string `json:"url"`
					Mandatory bool   `json:"mandatory"`
				} `json:"entries"`
			}
			if err := json.Unmarshal(body, &m); err != nil || len(m.Entries) == 0 {
				t.Fatalf("manifest %s: %v %s", k, err, body)
			}
			for _, e := range m.Entries {
				if !strings.HasPrefix(e.URL, "s3://acme-lake/streamhub/bridge.users.cdc/") || !e.Mandatory {
					t.Errorf("manifest %s entry %+v", k, e)
				}
			}
		}
	}
	checkExactlyOnce(t, got, tb.seqs)
	if manifests == 0 {
		t.Error("no manifests")
	}

	// The snapshot taken at start saw an empty table; take one now and compare.
	res, err := snapshot.Take(context.Background(), snapshot.Options{
		Conn: conn, Table: cfg.Tables[0], Store: store, Prefix: "streamhub", Now: func() time.Time { return time.Now().Add(time.Hour) },
	})
	if err != nil {
		t.Fatal(err)
	}
	final := tb.final()
	live := 0
	for _, e := range final {
		if !e.Deleted {
			live++
		}
	}
	if res.Rows != live {
		t.Errorf("snapshot has %d rows, the table %d items", res.Rows, live)
	}
	for _, part := range res.Parts {
		body, err := store.Get(context.Background(), part)
		if err != nil {
			t.Fatal(err)
		}
		rows, err := parquet.Read[snapshot.Row](bytes.NewReader(body), int64(len(body)))
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rows {
			want, ok := final[r.Key]
			if !ok || want.Deleted || r.Item == nil {
				t.Fatalf("snapshot row %s: not a live item of the table", r.Key)
			}
			if got := decode(t, []byte(*r.Item)); !equalJSON(got, want.Item) {
				t.Fatalf("snapshot row %s: %v, want %v", r.Key, got, want.Item)
			}
		}
	}
}

func equalJSON(a, b map[string]any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}
