package ddbtest

import (
	"crypto/sha256"
	"encoding/base32"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/streamhub/streamhub/internal/jsonstr"
)

// Option configures a Server.
type Option func(*config)

type config struct {
	region, account string
	clock           func() time.Time
	retention       time.Duration
	iteratorTTL     time.Duration
	seed            int64
}

// WithRegion sets the region in ARNs and records' awsRegion (default "us-east-1").
func WithRegion(region string) Option { return func(c *config) { c.region = region } }

// WithAccount sets the account ID in ARNs (default "123456789012").
func WithAccount(account string) Option { return func(c *config) { c.account = account } }

// WithClock sets the server clock (default time.Now). It stamps records and iterators,
// so moving it ages both.
func WithClock(now func() time.Time) Option { return func(c *config) { c.clock = now } }

// WithRetention sets how long records are kept (default 24h); older records are trimmed
// lazily, when the stream is next read.
func WithRetention(d time.Duration) Option { return func(c *config) { c.retention = d } }

// WithIteratorTTL sets how long a shard iterator stays valid (default 15m).
func WithIteratorTTL(d time.Duration) Option { return func(c *config) { c.iteratorTTL = d } }

// WithSeed seeds the fault RNG and the event IDs (default 0).
func WithSeed(seed int64) Option { return func(c *config) { c.seed = seed } }

// Faults makes the server answer a fraction of calls with errors.
type Faults struct {
	// ThrottleRate is the fraction of matching calls answered with a throttle:
	// LimitExceededException and ProvisionedThroughputExceededException in turn (400).
	ThrottleRate float64
	// ServerErrorRate is the fraction answered with InternalServerError (500).
	ServerErrorRate float64
	// Ops are the operations (e.g. "GetRecords", "PutItem") the faults apply to; empty
	// means GetRecords, GetShardIterator and DescribeStream.
	Ops []string
}

// Stats counts what the server did.
type Stats struct {
	// Calls counts API calls by operation name ("GetRecords", "DescribeTable", …),
	// faulted ones included.
	Calls map[string]int
	// Throttled and ServerErrors count injected faults.
	Throttled, ServerErrors int
	// ExpiredIterators and TrimmedErrors count ExpiredIteratorException and
	// TrimmedDataAccessException answers.
	ExpiredIterators, TrimmedErrors int
	// Records counts the stream records emitted.
	Records int
}

// Server is an in-process DynamoDB Streams (and minimal DynamoDB) server. It is safe
// for concurrent use.
type Server struct {
	cfg  config
	ln   net.Listener
	http *http.Server
	url  string
	done chan struct{}

	mu      sync.Mutex
	tables  map[string]*table
	order   []*table // creation order, for ListStreams and ListTables
	streams map[string]*table
	seq     uint64 // the newest sequence number's counter, across all streams
	// iterators: iterN counts iterators issued; those numbered below expiredBelow expired.
	iterN, expiredBelow uint64
	faults              Faults
	faultOps            map[string]bool
	rng                 *rand.Rand
	throttleFlip        bool
	stats               Stats
	keys                []string
	keySeen             map[string]bool
	requests            uint64
	closeOnce           sync.Once
}

// New starts a server on 127.0.0.1 at a free port. It panics if it cannot listen, as
// httptest.NewServer does.
func New(opts ...Option) *Server {
	s, err := Start("127.0.0.1:0", opts...)
	if err != nil {
		panic("ddbtest: " + err.Error())
	}
	return s
}

// Start starts a server listening on addr (streamhub dev uses 127.0.0.1:8000).
func Start(addr string, opts ...Option) (*Server, error) {
	cfg := config{
		region: "us-east-1", account: "123456789012", clock: time.Now,
		retention: 24 * time.Hour, iteratorTTL: 15 * time.Minute,
	}
	for _, o := range opts {
		o(&cfg)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	s := &Server{
		cfg:     cfg,
		ln:      ln,
		url:     "http://" + ln.Addr().String(),
		done:    make(chan struct{}),
		tables:  map[string]*table{},
		streams: map[string]*table{},
		rng:     rand.New(rand.NewPCG(uint64(cfg.seed), 0x64646274657374)),
		keySeen: map[string]bool{},
		stats:   Stats{Calls: map[string]int{}},
	}
	s.http = &http.Server{Handler: s, ReadHeaderTimeout: 30 * time.Second}
	go func() {
		defer close(s.done)
		_ = s.http.Serve(ln)
	}()
	return s, nil
}

// URL is the server's endpoint, http://host:port; hand it to the SDK clients as
// BaseEndpoint.
func (s *Server) URL() string { return s.url }

// Close stops the server and closes its connections. It may be called more than once.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		_ = s.http.Close()
		<-s.done
	})
}

func (s *Server) now() time.Time { return s.cfg.clock() }

// SetFaults replaces the fault settings; the zero Faults turns faults off.
func (s *Server) SetFaults(f Faults) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f.Ops = append([]string(nil), f.Ops...)
	s.faults = f
	ops := f.Ops
	if len(ops) == 0 {
		ops = []string{"GetRecords", "GetShardIterator", "DescribeStream"}
	}
	s.faultOps = map[string]bool{}
	for _, op := range ops {
		s.faultOps[op] = true
	}
}

// ExpireIterators expires every shard iterator handed out so far: using one gets
// ExpiredIteratorException.
func (s *Server) ExpireIterators() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.expiredBelow = s.iterN + 1
}

// Stats returns a copy of the counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stats
	st.Calls = make(map[string]int, len(s.stats.Calls))
	for k, v := range s.stats.Calls {
		st.Calls[k] = v
	}
	return st
}

// AccessKeys returns the distinct access key IDs that signed requests, in the order
// first seen.
func (s *Server) AccessKeys() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.keys...)
}

// Targets of the two APIs.
const (
	streamsPrefix  = "DynamoDBStreams_20120810."
	dynamodbPrefix = "DynamoDB_20120810."
	errNamespace   = "com.amazonaws.dynamodb.v20120810#"
	maxBody        = 16 << 20
)

// apiError is an error answer in AWS's JSON error shape.
type apiError struct {
	status int
	code   string
	msg    string
	typ    string // __type; empty: errNamespace + code
}

func (e *apiError) Error() string { return e.code + ": " + e.msg }

func newErr(status int, code, format string, args ...any) *apiError {
	return &apiError{status: status, code: code, msg: fmt.Sprintf(format, args...)}
}

func validation(format string, args ...any) *apiError {
	return newErr(http.StatusBadRequest, "ValidationException", format, args...)
}

func notFound(format string, args ...any) *apiError {
	return newErr(http.StatusBadRequest, "ResourceNotFoundException", format, args...)
}

// handler answers one operation: the response body, or an error.
type handler func(s *Server, body []byte) ([]byte, error)

var handlers = map[string]handler{
	streamsPrefix + "ListStreams":      (*Server).listStreams,
	streamsPrefix + "DescribeStream":   (*Server).describeStream,
	streamsPrefix + "GetShardIterator": (*Server).getShardIterator,
	streamsPrefix + "GetRecords":       (*Server).getRecords,
	dynamodbPrefix + "DescribeTable":   (*Server).describeTable,
	dynamodbPrefix + "ListTables":      (*Server).listTables,
	dynamodbPrefix + "PutItem":         (*Server).apiPutItem,
	dynamodbPrefix + "DeleteItem":      (*Server).apiDeleteItem,
	dynamodbPrefix + "GetItem":         (*Server).apiGetItem,
}

// ServeHTTP implements the AWS JSON 1.0 protocol.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	target := r.Header.Get("X-Amz-Target")
	op := target[strings.LastIndexByte(target, '.')+1:]
	s.mu.Lock()
	s.requests++
	reqN := s.requests
	if key := accessKey(r.Header.Get("Authorization")); key != "" && !s.keySeen[key] {
		s.keySeen[key] = true
		s.keys = append(s.keys, key)
	}
	h, known := handlers[target]
	var fault *apiError
	if known {
		s.stats.Calls[op]++
		fault = s.fault(op)
	}
	s.mu.Unlock()

	var body []byte
	var err error
	switch {
	case r.Method != http.MethodPost:
		err = &apiError{status: http.StatusMethodNotAllowed, code: "UnknownOperationException",
			typ: "com.amazon.coral.service#UnknownOperationException", msg: "only POST is supported"}
	case !known:
		err = &apiError{status: http.StatusBadRequest, code: "UnknownOperationException",
			typ: "com.amazon.coral.service#UnknownOperationException", msg: fmt.Sprintf("unknown operation %q", target)}
	case fault != nil:
		_, _ = io.Copy(io.Discard, r.Body)
		err = fault
	default:
		var in []byte
		in, err = io.ReadAll(io.LimitReader(r.Body, maxBody+1))
		switch {
		case err != nil:
			err = &apiError{status: http.StatusBadRequest, code: "SerializationException", msg: "cannot read the request body: " + err.Error(),
				typ: "com.amazon.coral.service#SerializationException"}
		case len(in) > maxBody:
			err = validation("request body larger than %d bytes", maxBody)
		default:
			body, err = h(s, in)
		}
	}
	status := http.StatusOK
	if err != nil {
		var ae *apiError
		if !errors.As(err, &ae) {
			ae = &apiError{status: http.StatusInternalServerError, code: "InternalServerError", msg: err.Error()}
		}
		status = ae.status
		typ := ae.typ
		if typ == "" {
			typ = errNamespace + ae.code
		}
		body = append(append(append(jsonstr.Append([]byte(`{"__type":`), typ), `,"message":`...), jsonstr.Append(nil, ae.msg)...), '}')
	}
	hd := w.Header()
	hd["Content-Type"] = []string{"application/x-amz-json-1.0"}
	hd["X-Amzn-Requestid"] = []string{requestID(reqN)}
	hd["X-Amz-Crc32"] = []string{strconv.FormatUint(uint64(crc32.ChecksumIEEE(body)), 10)}
	hd["Content-Length"] = []string{strconv.Itoa(len(body))}
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// fault draws whether this call of op fails. Called with s.mu held.
func (s *Server) fault(op string) *apiError {
	f := s.faults
	if !s.faultOps[op] || f.ThrottleRate <= 0 && f.ServerErrorRate <= 0 {
		return nil
	}
	u := s.rng.Float64()
	switch {
	case u < f.ThrottleRate:
		s.stats.Throttled++
		s.throttleFlip = !s.throttleFlip
		if s.throttleFlip {
			return newErr(http.StatusBadRequest, "LimitExceededException",
				"Too many requests for the stream; slow down (injected by ddbtest)")
		}
		return newErr(http.StatusBadRequest, "ProvisionedThroughputExceededException",
			"The level of configured provisioned throughput for the table was exceeded (injected by ddbtest)")
	case u < f.ThrottleRate+f.ServerErrorRate:
		s.stats.ServerErrors++
		return newErr(http.StatusInternalServerError, "InternalServerError", "Internal server error (injected by ddbtest)")
	}
	return nil
}

// accessKey reads the access key ID from a SigV4 Authorization header.
func accessKey(auth string) string {
	_, rest, ok := strings.Cut(auth, "Credential=")
	if !ok {
		return ""
	}
	key, _, _ := strings.Cut(rest, "/")
	return strings.TrimSpace(key)
}

// requestID is a request ID shaped like DynamoDB's: 52 characters of A-Z and 2-7.
func requestID(n uint64) string {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], n)
	h := sha256.Sum256(b[:])
	return base32.StdEncoding.EncodeToString(h[:])[:52]
}

// decode reads a request body into v; unknown members are ignored as AWS ignores them.
func decode(body []byte, v any) error {
	if len(body) == 0 {
		body = []byte("{}")
	}
	if err := json.Unmarshal(body, v); err != nil {
		return &apiError{status: http.StatusBadRequest, code: "SerializationException",
			typ: "com.amazon.coral.service#SerializationException", msg: err.Error()}
	}
	return nil
}

// encode writes a response body.
func encode(v any) ([]byte, error) { return json.Marshal(v) }
