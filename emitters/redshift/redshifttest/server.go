// Package redshifttest is an in-process server of the Amazon Redshift Data API (the
// JSON 1.1 protocol: X-Amz-Target RedshiftData.BatchExecuteStatement, ExecuteStatement,
// DescribeStatement, GetStatementResult, CancelStatement) backed by PostgreSQL, good
// enough for the real aws-sdk-go-v2 redshiftdata client. Statements run asynchronously:
// DescribeStatement reports SUBMITTED, then STARTED, then FINISHED or FAILED (with the
// error and the failed sub-statement) or ABORTED (cancelled). A batch runs in one
// PostgreSQL transaction, as Redshift runs it. What PostgreSQL cannot run is translated
// (see Translate and ExecTx): COPY from S3 through a manifest, read from an S3 endpoint
// with the real S3 SDK, and Redshift-only DDL. Everything else reaches PostgreSQL as
// sent, so tests through this server prove the sink's SQL semantics on PostgreSQL and
// its Data API protocol use against the SDK — not Redshift's own SQL dialect.
package redshifttest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Options configure a server.
type Options struct {
	// Pool is the PostgreSQL the statements run on. Required.
	Pool *pgxpool.Pool
	// S3 reads the manifests and files of COPY … FROM 's3://…'.
	S3 *s3.Client
	// Delay is how long a statement stays SUBMITTED, and then STARTED, before it runs.
	// Default 5ms.
	Delay time.Duration
	// PageRows is GetStatementResult's page size. Default 1000.
	PageRows int
	// MaxStatements is the largest batch (AWS: 40).
	MaxStatements int
	Logger        *slog.Logger
}

// Server serves the Data API.
type Server struct {
	opts   Options
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu      sync.Mutex
	targets []string
	stmts   map[string]*statement
	batches [][]string
	ln      net.Listener
	srv     *http.Server
	url     string
}

// New returns a server; serve it with an httptest.Server or Start.
func New(o Options) (*Server, error) {
	if o.Pool == nil {
		return nil, errors.New("redshifttest: a server needs a PostgreSQL pool")
	}
	if o.Delay <= 0 {
		o.Delay = 5 * time.Millisecond
	}
	if o.PageRows <= 0 {
		o.PageRows = 1000
	}
	if o.MaxStatements <= 0 {
		o.MaxStatements = 40
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Server{opts: o, ctx: ctx, cancel: cancel, stmts: map[string]*statement{}}, nil
}

// Start serves on addr ("127.0.0.1:0" for any port).
func Start(addr string, o Options) (*Server, error) {
	s, err := New(o)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	s.ln, s.srv, s.url = ln, &http.Server{Handler: s}, "http://"+ln.Addr().String()
	go s.srv.Serve(ln)
	return s, nil
}

// URL is Start's address.
func (s *Server) URL() string { return s.url }

// Close cancels the statements still running, waits for them, and stops Start's
// listener.
func (s *Server) Close() {
	if s.srv != nil {
		s.srv.Close()
	}
	s.cancel()
	s.wg.Wait()
}

// Targets returns the operations received, in order ("BatchExecuteStatement", …).
func (s *Server) Targets() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.targets...)
}

// Batches returns the SQL of every BatchExecuteStatement and ExecuteStatement received,
// as sent.
func (s *Server) Batches() [][]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([][]string, len(s.batches))
	for i, b := range s.batches {
		out[i] = append([]string(nil), b...)
	}
	return out
}

type sub struct {
	status    string
	err       string
	rows      int64
	hasResult bool
	started   time.Time
	updated   time.Time
}

type column struct {
	Name     string `json:"name"`
	Label    string `json:"label"`
	TypeName string `json:"typeName"`
}

type statement struct {
	id      string
	sqls    []string
	batch   bool
	in      connInput
	created time.Time
	updated time.Time
	status  string
	err     string
	subs    []sub
	columns []column
	records [][]map[string]any
	cancel  context.CancelFunc
}

type connInput struct {
	ClusterIdentifier string `json:"ClusterIdentifier,omitempty"`
	WorkgroupName     string `json:"WorkgroupName,omitempty"`
	Database          string `json:"Database,omitempty"`
	DbUser            string `json:"DbUser,omitempty"`
	SecretArn         string `json:"SecretArn,omitempty"`
}

// apiError is an AWS JSON protocol error.
type apiError struct {
	status int
	code   string
	msg    string
}

func (e *apiError) Error() string { return e.code + ": " + e.msg }

func validation(format string, args ...any) *apiError {
	return &apiError{http.StatusBadRequest, "ValidationException", fmt.Sprintf(format, args...)}
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	target := r.Header.Get("X-Amz-Target")
	op, ok := strings.CutPrefix(target, "RedshiftData.")
	body, err := io.ReadAll(r.Body)
	var out any
	switch {
	case err != nil:
		err = &apiError{http.StatusBadRequest, "SerializationException", err.Error()}
	case r.Method != http.MethodPost || !ok:
		err = &apiError{http.StatusBadRequest, "UnknownOperationException", "unknown target " + target}
	case !strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-amz-json-1.1"):
		err = &apiError{http.StatusBadRequest, "SerializationException", "Content-Type must be application/x-amz-json-1.1"}
	default:
		s.mu.Lock()
		s.targets = append(s.targets, op)
		s.mu.Unlock()
		switch op {
		case "BatchExecuteStatement":
			out, err = s.execute(body, true)
		case "ExecuteStatement":
			out, err = s.execute(body, false)
		case "DescribeStatement":
			out, err = s.describe(body)
		case "GetStatementResult":
			out, err = s.result(body)
		case "CancelStatement":
			out, err = s.cancelStatement(body)
		default:
			err = &apiError{http.StatusBadRequest, "UnknownOperationException", "operation " + op + " is not supported"}
		}
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("X-Amzn-RequestId", newID())
	if err != nil {
		var ae *apiError
		if !errors.As(err, &ae) {
			ae = &apiError{http.StatusInternalServerError, "InternalServerException", err.Error()}
		}
		w.Header().Set("X-Amzn-ErrorType", ae.code)
		w.WriteHeader(ae.status)
		json.NewEncoder(w).Encode(map[string]string{"__type": ae.code, "message": ae.msg})
		return
	}
	json.NewEncoder(w).Encode(out)
}

func newID() string {
	var b [16]byte
	rand.Read(b[:])
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

func epoch(t time.Time) float64 { return float64(t.UnixNano()) / 1e9 }

func (s *Server) execute(body []byte, batch bool) (any, error) {
	var in struct {
		connInput
		Sqls          []string `json:"Sqls"`
		Sql           *string  `json:"Sql"`
		Parameters    []any    `json:"Parameters"`
		StatementName string   `json:"StatementName"`
		ClientToken   string   `json:"ClientToken"`
		SessionId     string   `json:"SessionId"`
	}
	if err := json.Unmarshal(body, &in); err != nil {
		return nil, &apiError{http.StatusBadRequest, "SerializationException", err.Error()}
	}
	switch {
	case in.SessionId != "":
		return nil, validation("sessions are not supported by redshifttest")
	case len(in.Parameters) > 0:
		return nil, validation("parameters are not supported by redshifttest")
	case in.Database == "":
		return nil, validation("Database is required")
	case (in.ClusterIdentifier == "") == (in.WorkgroupName == ""):
		return nil, validation("Either ClusterIdentifier or WorkgroupName is required, not both")
	case in.DbUser != "" && in.SecretArn != "":
		return nil, validation("DbUser and SecretArn cannot both be given")
	case in.WorkgroupName != "" && in.DbUser != "":
		return nil, validation("DbUser is not supported with WorkgroupName")
	}
	sqls := in.Sqls
	if batch {
		if len(sqls) == 0 || len(sqls) > s.opts.MaxStatements {
			return nil, validation("Sqls must hold 1 to %d statements, not %d", s.opts.MaxStatements, len(sqls))
		}
	} else {
		if in.Sql == nil || *in.Sql == "" {
			return nil, validation("Sql is required")
		}
		sqls = []string{*in.Sql}
	}
	now := time.Now()
	st := &statement{id: newID(), sqls: sqls, batch: batch, in: in.connInput, created: now, updated: now, status: "SUBMITTED"}
	st.subs = make([]sub, len(sqls))
	for i := range st.subs {
		st.subs[i] = sub{status: "SUBMITTED", rows: -1, updated: now}
	}
	ctx, cancel := context.WithCancel(s.ctx)
	st.cancel = cancel
	s.mu.Lock()
	s.stmts[st.id] = st
	s.batches = append(s.batches, append([]string(nil), sqls...))
	s.mu.Unlock()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer cancel()
		s.run(ctx, st)
	}()
	out := map[string]any{"Id": st.id, "CreatedAt": epoch(now), "Database": in.Database}
	for k, v := range map[string]string{"ClusterIdentifier": in.ClusterIdentifier, "WorkgroupName": in.WorkgroupName, "DbUser": in.DbUser, "SecretArn": in.SecretArn} {
		if v != "" {
			out[k] = v
		}
	}
	return out, nil
}

func (s *Server) set(st *statement, f func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f()
	st.updated = time.Now()
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// run executes a statement: SUBMITTED for Delay, STARTED for Delay, then every SQL in
// one transaction.
func (s *Server) run(ctx context.Context, st *statement) {
	abort := func() {
		s.set(st, func() {
			st.status = "ABORTED"
			for i := range st.subs {
				if st.subs[i].status != "FINISHED" {
					st.subs[i].status = "ABORTED"
				}
			}
		})
	}
	if !sleep(ctx, s.opts.Delay) {
		abort()
		return
	}
	s.set(st, func() { st.status = "STARTED" })
	if !sleep(ctx, s.opts.Delay) {
		abort()
		return
	}
	fail := func(i int, err error) {
		msg := errorText(err)
		s.opts.Logger.Debug("statement failed", "id", st.id, "sub", i+1, "error", msg)
		if ctx.Err() != nil {
			abort()
			return
		}
		s.set(st, func() {
			st.status, st.err = "FAILED", msg
			for j := range st.subs {
				switch {
				case j == i:
					st.subs[j].status, st.subs[j].err = "FAILED", msg
				case j > i:
					st.subs[j].status = "ABORTED"
				}
			}
		})
	}
	tx, err := s.opts.Pool.Begin(ctx)
	if err != nil {
		fail(0, err)
		return
	}
	defer tx.Rollback(context.Background())
	for i, q := range st.sqls {
		s.set(st, func() { st.subs[i].status, st.subs[i].started = "STARTED", time.Now() })
		var n int64
		var cols []column
		var recs [][]map[string]any
		var err error
		if isQuery(q) {
			cols, recs, err = s.query(ctx, tx, q)
			n = int64(len(recs))
		} else {
			n, err = s.ExecTx(ctx, tx, q)
		}
		if err != nil {
			fail(i, err)
			return
		}
		s.set(st, func() {
			st.subs[i].status, st.subs[i].rows = "FINISHED", n
			if cols != nil {
				st.subs[i].hasResult = true
				st.columns, st.records = cols, recs
			}
		})
	}
	if err := tx.Commit(ctx); err != nil {
		fail(len(st.sqls)-1, err)
		return
	}
	s.set(st, func() { st.status = "FINISHED" })
}

func isQuery(sql string) bool {
	u := strings.ToUpper(strings.TrimSpace(sql))
	return strings.HasPrefix(u, "SELECT") || strings.HasPrefix(u, "WITH")
}

// errorText is the message Redshift would put in DescribeStatement's Error.
func errorText(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		msg := "ERROR: " + pe.Message
		if pe.Detail != "" {
			msg += "\n  Detail: " + pe.Detail
		}
		return msg
	}
	return "ERROR: " + err.Error()
}

// ExecTx runs one statement in tx the way the server does: a COPY from S3 is loaded
// from the manifest, DDL is translated (Translate), anything else runs as it is. It
// returns the rows affected (loaded, for COPY). Plug it into redshift.Direct.Exec to run
// the direct-connection mode on PostgreSQL.
func (s *Server) ExecTx(ctx context.Context, tx pgx.Tx, sql string) (int64, error) {
	c, isCopy, err := parseCopy(sql)
	if err != nil {
		return 0, err
	}
	if isCopy {
		return runCopy(ctx, s.opts.S3, tx, c)
	}
	tag, err := tx.Exec(ctx, Translate(sql))
	if err != nil {
		return 0, err
	}
	return tag.RowsAffected(), nil
}

func (s *Server) query(ctx context.Context, tx pgx.Tx, sql string) ([]column, [][]map[string]any, error) {
	rows, err := tx.Query(ctx, sql)
	if err != nil {
		return nil, nil, err
	}
	defer rows.Close()
	var cols []column
	for _, f := range rows.FieldDescriptions() {
		typ := "varchar"
		if t, ok := tx.Conn().TypeMap().TypeForOID(f.DataTypeOID); ok {
			typ = t.Name
		}
		cols = append(cols, column{Name: f.Name, Label: f.Name, TypeName: typ})
	}
	var recs [][]map[string]any
	for rows.Next() {
		vals, err := rows.Values()
		if err != nil {
			return nil, nil, err
		}
		rec := make([]map[string]any, len(vals))
		for i, v := range vals {
			rec[i] = field(v)
		}
		recs = append(recs, rec)
	}
	if err := rows.Err(); err != nil {
		return nil, nil, err
	}
	if cols == nil {
		cols = []column{}
	}
	return cols, recs, nil
}

// field is a value in the Data API's Field union.
func field(v any) map[string]any {
	switch v := v.(type) {
	case nil:
		return map[string]any{"isNull": true}
	case bool:
		return map[string]any{"booleanValue": v}
	case int16:
		return map[string]any{"longValue": v}
	case int32:
		return map[string]any{"longValue": v}
	case int64:
		return map[string]any{"longValue": v}
	case float32:
		return map[string]any{"doubleValue": float64(v)}
	case float64:
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return map[string]any{"doubleValue": strconv.FormatFloat(v, 'g', -1, 64)}
		}
		return map[string]any{"doubleValue": v}
	case string:
		return map[string]any{"stringValue": v}
	case time.Time:
		return map[string]any{"stringValue": v.UTC().Format("2006-01-02 15:04:05.999999+00")}
	case []byte:
		return map[string]any{"stringValue": string(v)}
	default:
		if b, err := json.Marshal(v); err == nil {
			return map[string]any{"stringValue": string(b)}
		}
		return map[string]any{"stringValue": fmt.Sprint(v)}
	}
}

func (s *Server) lookup(body []byte) (*statement, string, error) {
	var in struct {
		Id        string `json:"Id"`
		NextToken string `json:"NextToken"`
	}
	if err := json.Unmarshal(body, &in); err != nil {
		return nil, "", &apiError{http.StatusBadRequest, "SerializationException", err.Error()}
	}
	id, _, _ := strings.Cut(in.Id, ":")
	s.mu.Lock()
	st := s.stmts[id]
	s.mu.Unlock()
	if st == nil {
		return nil, "", &apiError{http.StatusBadRequest, "ResourceNotFoundException", "Query does not exist: " + in.Id}
	}
	return st, in.NextToken, nil
}

func (s *Server) describe(body []byte) (any, error) {
	st, _, err := s.lookup(body)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]any{
		"Id": st.id, "Status": st.status, "CreatedAt": epoch(st.created), "UpdatedAt": epoch(st.updated),
		"Database": st.in.Database, "Duration": st.updated.Sub(st.created).Nanoseconds(),
		"HasResultSet": false, "ResultRows": int64(-1), "ResultSize": int64(-1), "RedshiftPid": 1, "RedshiftQueryId": 0,
		"QueryString": strings.Join(st.sqls, "; "),
	}
	for k, v := range map[string]string{"ClusterIdentifier": st.in.ClusterIdentifier, "WorkgroupName": st.in.WorkgroupName, "DbUser": st.in.DbUser, "SecretArn": st.in.SecretArn, "Error": st.err} {
		if v != "" {
			out[k] = v
		}
	}
	if !st.batch {
		out["QueryString"] = st.sqls[0]
		out["ResultRows"] = st.subs[0].rows
		out["HasResultSet"] = st.subs[0].hasResult
		return out, nil
	}
	var subs []map[string]any
	var total int64
	for i, sb := range st.subs {
		m := map[string]any{
			"Id": fmt.Sprintf("%s:%d", st.id, i+1), "Status": sb.status, "QueryString": st.sqls[i],
			"ResultRows": sb.rows, "ResultSize": int64(-1), "HasResultSet": sb.hasResult,
			"CreatedAt": epoch(st.created), "UpdatedAt": epoch(sb.updated), "RedshiftQueryId": i + 1,
		}
		if !sb.started.IsZero() {
			m["Duration"] = time.Since(sb.started).Nanoseconds()
		}
		if sb.err != "" {
			m["Error"] = sb.err
		}
		if sb.rows > 0 {
			total += sb.rows
		}
		subs = append(subs, m)
	}
	out["SubStatements"] = subs
	out["ResultRows"] = total
	return out, nil
}

func (s *Server) result(body []byte) (any, error) {
	st, token, err := s.lookup(body)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if st.status != "FINISHED" || st.columns == nil {
		return nil, &apiError{http.StatusBadRequest, "ResourceNotFoundException", "Query does not have result. Please check query status with DescribeStatement."}
	}
	start := 0
	if token != "" {
		n, err := strconv.Atoi(token)
		if err != nil || n < 0 || n > len(st.records) {
			return nil, validation("invalid NextToken")
		}
		start = n
	}
	end := min(start+s.opts.PageRows, len(st.records))
	recs := st.records[start:end]
	if recs == nil {
		recs = [][]map[string]any{}
	}
	out := map[string]any{"Records": recs, "ColumnMetadata": st.columns, "TotalNumRows": len(st.records)}
	if end < len(st.records) {
		out["NextToken"] = strconv.Itoa(end)
	}
	return out, nil
}

func (s *Server) cancelStatement(body []byte) (any, error) {
	st, _, err := s.lookup(body)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	status := st.status
	s.mu.Unlock()
	if status == "FINISHED" || status == "FAILED" || status == "ABORTED" {
		return nil, validation("Could not cancel a query that is already in %s state", status)
	}
	st.cancel()
	return map[string]any{"Status": true}, nil
}
