package lake

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/streamhub/streamhub/state"
	"github.com/streamhub/streamhub/topology"
)

// opLog records the S3 operations a fake server receives and can fail some of them.
type opLog struct {
	mu    sync.Mutex
	ops   []string
	paths []string
	auth  []string
	fail  func(op string) bool
}

func s3Op(r *http.Request) string {
	q := r.URL.Query()
	switch {
	case r.Method == http.MethodPost && q.Has("uploads"):
		return "create"
	case r.Method == http.MethodPut && q.Has("partNumber"):
		return "part:" + q.Get("partNumber")
	case r.Method == http.MethodPost && q.Has("uploadId"):
		return "complete"
	case r.Method == http.MethodDelete && q.Has("uploadId"):
		return "abort"
	case r.Method == http.MethodPut:
		return "put"
	case r.Method == http.MethodGet && q.Get("list-type") == "2":
		return "list"
	case r.Method == http.MethodGet && q.Has("uploads"):
		return "list-uploads"
	case r.Method == http.MethodGet:
		return "get"
	}
	return r.Method
}

func (l *opLog) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		op := s3Op(r)
		l.mu.Lock()
		l.ops = append(l.ops, op)
		l.paths = append(l.paths, r.Host+" "+r.URL.Path)
		l.auth = append(l.auth, r.Header.Get("Authorization")+" token="+r.Header.Get("X-Amz-Security-Token"))
		fail := l.fail != nil && l.fail(op)
		l.mu.Unlock()
		if fail {
			io.Copy(io.Discard, r.Body)
			w.Header().Set("Content-Type", "application/xml")
			w.WriteHeader(http.StatusForbidden)
			io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code><Message>injected</Message></Error>`)
			return
		}
		h.ServeHTTP(w, r)
	})
}

func (l *opLog) take() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	ops := l.ops
	l.ops, l.paths, l.auth = nil, nil, nil
	return ops
}

func randomBytes(n int, seed uint64) []byte {
	rng := rand.New(rand.NewPCG(seed, seed))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.UintN(256))
	}
	return b
}

func TestS3StorePut(t *testing.T) {
	ctx := context.Background()
	var log opLog
	fake := newFakeS3(t, log.wrap)
	s := fake.store(t, 1000)
	for _, tc := range []struct {
		name string
		size int
		ops  []string
	}{
		{"empty", 0, []string{"put"}},
		{"below part size", 999, []string{"put"}},
		{"one part", 1000, []string{"create", "part:1", "complete"}},
		{"parts and a remainder", 3500, []string{"create", "part:1", "part:2", "part:3", "part:4", "complete"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			key := "obj/" + strings.ReplaceAll(tc.name, " ", "-")
			body := randomBytes(tc.size, uint64(tc.size))
			log.take()
			if err := s.Put(ctx, key, body); err != nil {
				t.Fatal(err)
			}
			if ops := log.take(); !slices.Equal(ops, tc.ops) {
				t.Errorf("operations %v, want %v", ops, tc.ops)
			}
			// What gofakes3 assembled, read from its backend.
			obj, err := fake.Backend.GetObject(testBucket, key, nil)
			if err != nil {
				t.Fatal(err)
			}
			stored, _ := io.ReadAll(obj.Contents)
			obj.Contents.Close()
			if !bytes.Equal(stored, body) {
				t.Errorf("stored %d bytes differ from the %d put", len(stored), len(body))
			}
			got, err := s.Get(ctx, key)
			if err != nil || !bytes.Equal(got, body) {
				t.Errorf("get: %d bytes, %v", len(got), err)
			}
		})
	}
}

func TestS3StorePathStyle(t *testing.T) {
	var log opLog
	fake := newFakeS3(t, log.wrap)
	s := fake.store(t, 0)
	if err := s.Put(context.Background(), "a/b.jsonl.gz", []byte("x")); err != nil {
		t.Fatal(err)
	}
	host := strings.TrimPrefix(fake.URL, "http://")
	log.mu.Lock()
	defer log.mu.Unlock()
	if want := host + " /" + testBucket + "/a/b.jsonl.gz"; !slices.Equal(log.paths, []string{want}) {
		t.Errorf("requests %v, want %q", log.paths, want)
	}
}

func TestS3StoreMultipartAbort(t *testing.T) {
	ctx := context.Background()
	for _, failOp := range []string{"part:2", "complete"} {
		t.Run(failOp, func(t *testing.T) {
			log := &opLog{fail: func(op string) bool { return op == failOp }}
			fake := newFakeS3(t, log.wrap)
			s := fake.store(t, 1000)
			err := s.Put(ctx, "big", randomBytes(2500, 1))
			if err == nil {
				t.Fatal("put succeeded")
			}
			ops := log.take()
			if ops[len(ops)-1] != "abort" || slices.Contains(ops[:len(ops)-1], "abort") {
				t.Errorf("operations %v: want one abort, last", ops)
			}
			if failOp == "part:2" && slices.Contains(ops, "part:3") {
				t.Errorf("operations %v: parts after the failed one", ops)
			}
			up, err := s.client.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: aws.String(testBucket)})
			if err != nil {
				t.Fatal(err)
			}
			if len(up.Uploads) != 0 {
				t.Errorf("%d uploads left open", len(up.Uploads))
			}
			if _, err := s.Get(ctx, "big"); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("get after a failed put: %v", err)
			}
		})
	}
}

func TestS3StoreList(t *testing.T) {
	ctx := context.Background()
	var log opLog
	fake := newFakeS3(t, log.wrap)
	s := fake.store(t, 0)

	t.Run("small pages", func(t *testing.T) {
		var want []string
		for i := range 30 {
			k := fmt.Sprintf("p/dt=2024-01-%02d/x", 30-i)
			if err := s.Put(ctx, k, []byte{byte(i)}); err != nil {
				t.Fatal(err)
			}
			want = append(want, k)
		}
		s.Put(ctx, "q/outside", nil)
		slices.Sort(want)
		s.maxKeys = 7
		defer func() { s.maxKeys = 0 }()
		log.take()
		got, err := s.List(ctx, "p/")
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, want) {
			t.Errorf("got %v\nwant %v", got, want)
		}
		if ops := log.take(); len(ops) != 5 {
			t.Errorf("%d list requests, want 5 pages of 7", len(ops))
		}
	})

	t.Run("more than 1000 keys", func(t *testing.T) {
		var want []string
		for i := range 1203 {
			k := fmt.Sprintf("many/%05d", i)
			if _, err := fake.Backend.PutObject(testBucket, k, nil, bytes.NewReader(nil), 0, nil); err != nil {
				t.Fatal(err)
			}
			want = append(want, k)
		}
		log.take()
		got, err := s.List(ctx, "many/")
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, want) {
			t.Errorf("listed %d keys, want %d", len(got), len(want))
		}
		if ops := log.take(); len(ops) != 2 {
			t.Errorf("%d list requests, want 2", len(ops))
		}
	})

	if _, err := s.Get(ctx, "no/such/key"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing key: %v", err)
	}
}

func TestNewS3StoreOptions(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		o    S3Options
		ok   bool
	}{
		{"no bucket", S3Options{AWS: testAWSConfig()}, false},
		{"small parts", S3Options{Bucket: "b", PartSize: 1 << 20, AWS: testAWSConfig()}, false},
		{"default parts", S3Options{Bucket: "b", AWS: testAWSConfig()}, true},
		{"minimum parts", S3Options{Bucket: "b", PartSize: MinPartSize, AWS: testAWSConfig()}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := NewS3Store(ctx, tc.o)
			if (err == nil) != tc.ok {
				t.Fatalf("err = %v, want ok=%v", err, tc.ok)
			}
			if s != nil && tc.o.PartSize == 0 && s.partSize != DefaultPartSize {
				t.Errorf("part size %d", s.partSize)
			}
		})
	}
}

// Without a base config the store reads the SDK's environment: region, credentials and
// AWS_ENDPOINT_URL_S3.
func TestS3StoreFromEnvironment(t *testing.T) {
	var log opLog
	fake := newFakeS3(t, log.wrap)
	isolateAWSEnv(t)
	t.Setenv("AWS_REGION", "eu-west-1")
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDENV")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "secret")
	t.Setenv("AWS_ENDPOINT_URL_S3", fake.URL)
	s, err := NewS3Store(context.Background(), S3Options{Bucket: testBucket, PathStyle: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Put(context.Background(), "env", []byte("x")); err != nil {
		t.Fatal(err)
	}
	log.mu.Lock()
	defer log.mu.Unlock()
	if !strings.Contains(log.auth[0], "Credential=AKIDENV/") || !strings.Contains(log.auth[0], "/eu-west-1/s3/") {
		t.Errorf("request signed as %q", log.auth[0])
	}
}

func isolateAWSEnv(t *testing.T) {
	dir := t.TempDir()
	for _, k := range []string{"AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_SESSION_TOKEN", "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE"} {
		t.Setenv(k, "")
	}
	t.Setenv("AWS_CONFIG_FILE", dir+"/config")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", dir+"/credentials")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
}

// RoleARN: the store assumes the role once (credentials cached) and signs with them.
func TestS3StoreAssumeRole(t *testing.T) {
	var mu sync.Mutex
	var calls []string
	sts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		mu.Lock()
		calls = append(calls, r.Form.Get("Action")+" "+r.Form.Get("RoleArn")+" "+r.Form.Get("RoleSessionName"))
		mu.Unlock()
		w.Header().Set("Content-Type", "text/xml")
		fmt.Fprintf(w, `<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><AssumeRoleResult>
<Credentials><AccessKeyId>ASIAASSUMED</AccessKeyId><SecretAccessKey>s2</SecretAccessKey><SessionToken>tok</SessionToken>
<Expiration>%s</Expiration></Credentials>
<AssumedRoleUser><Arn>arn:aws:sts::123456789012:assumed-role/writer/streamhub-lake</Arn><AssumedRoleId>AROA1:streamhub-lake</AssumedRoleId></AssumedRoleUser>
</AssumeRoleResult><ResponseMetadata><RequestId>1</RequestId></ResponseMetadata></AssumeRoleResponse>`,
			time.Now().Add(time.Hour).UTC().Format(time.RFC3339))
	}))
	defer sts.Close()
	var log opLog
	fake := newFakeS3(t, log.wrap)
	base := testAWSConfig()
	base.BaseEndpoint = aws.String(sts.URL) // STS here; S3 has its own Endpoint
	s, err := NewS3Store(context.Background(), S3Options{
		Bucket: testBucket, Endpoint: fake.URL, PathStyle: true, AWS: base,
		RoleARN: "arn:aws:iam::123456789012:role/writer",
	})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if err := s.Put(context.Background(), fmt.Sprint("k", i), []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	if want := []string{"AssumeRole arn:aws:iam::123456789012:role/writer streamhub-lake"}; !slices.Equal(calls, want) {
		t.Errorf("STS calls %v, want %v", calls, want)
	}
	log.mu.Lock()
	defer log.mu.Unlock()
	for _, a := range log.auth {
		if !strings.Contains(a, "Credential=ASIAASSUMED/") || !strings.HasSuffix(a, "token=tok") {
			t.Errorf("request signed as %q", a)
		}
	}
}

// The sink against S3: parquet objects big enough for multipart uploads, read back
// through the store, and a manifest listing them.
func TestSinkOnS3(t *testing.T) {
	ctx := context.Background()
	var log opLog
	fake := newFakeS3(t, log.wrap)
	store := fake.store(t, 16<<10)
	for _, f := range formats {
		t.Run(f.name, func(t *testing.T) {
			prefix := "lake/" + f.name
			s := newSink(t, Options{Name: "s3", Store: store, Prefix: prefix, Format: f.format,
				ParquetCompression: f.compression, PartitionTime: topology.PartitionByKafka,
				Manifest: true, ManifestBucket: testBucket})
			var recs []*kgo.Record
			for i := range 600 {
				ts := t0.Add(time.Duration(i) * 6 * time.Second) // one hour boundary
				recs = append(recs, cdcRecord(t, int64(i), ts, cdcSpec{event: state.EventInsert,
					pk: fmt.Sprint("u", i), sk: "s", seq: fmt.Sprint(1000 + i), pad: 200, created: ts}))
				// Incompressible bytes, so objects exceed the part size.
				recs[i].Headers = []kgo.RecordHeader{{Key: "noise", Value: randomBytes(64, uint64(i))}}
			}
			log.take()
			mustFlush(t, s, batchOf("dev.users.cdc", 0, recs...))
			if ops := log.take(); !slices.Contains(ops, "part:2") {
				t.Errorf("no multipart upload: %v", ops)
			}
			keys, err := store.List(ctx, prefix+"/")
			if err != nil {
				t.Fatal(err)
			}
			var objects []string
			var n int
			for _, k := range keys {
				if strings.Contains(k, "/_manifests/") {
					continue
				}
				objects = append(objects, k)
				body, err := store.Get(ctx, k)
				if err != nil {
					t.Fatal(err)
				}
				for _, r := range readObject(t, k, body) {
					if r.Offset != int64(n) {
						t.Fatalf("offset %d, want %d", r.Offset, n)
					}
					n++
				}
			}
			if n != len(recs) || len(objects) != 2 {
				t.Errorf("%d records in %d objects", n, len(objects))
			}
			checkManifest(t, store, prefix+"/_manifests/dev.users.cdc/dev.users.cdc+0+00000000000000000000.manifest", testBucket, objects)
		})
	}
}
