package redshift

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/redshiftdata"
	"github.com/aws/aws-sdk-go-v2/service/redshiftdata/types"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/streamhub/streamhub/internal/awsconfig"
)

// DataAPIClient is the part of *redshiftdata.Client the sink uses.
type DataAPIClient interface {
	BatchExecuteStatement(context.Context, *redshiftdata.BatchExecuteStatementInput, ...func(*redshiftdata.Options)) (*redshiftdata.BatchExecuteStatementOutput, error)
	ExecuteStatement(context.Context, *redshiftdata.ExecuteStatementInput, ...func(*redshiftdata.Options)) (*redshiftdata.ExecuteStatementOutput, error)
	DescribeStatement(context.Context, *redshiftdata.DescribeStatementInput, ...func(*redshiftdata.Options)) (*redshiftdata.DescribeStatementOutput, error)
	GetStatementResult(context.Context, *redshiftdata.GetStatementResultInput, ...func(*redshiftdata.Options)) (*redshiftdata.GetStatementResultOutput, error)
	CancelStatement(context.Context, *redshiftdata.CancelStatementInput, ...func(*redshiftdata.Options)) (*redshiftdata.CancelStatementOutput, error)
}

var _ DataAPIClient = (*redshiftdata.Client)(nil)

// DataAPI runs the sink's statements through the Redshift Data API: a flush is one
// BatchExecuteStatement (its statements run serially in one transaction), polled with
// DescribeStatement until it is FINISHED, FAILED or ABORTED.
type DataAPI struct {
	// Client is required; NewDataAPIClient builds one the streamhub way.
	Client DataAPIClient
	// ClusterIdentifier (provisioned) or WorkgroupName (serverless): exactly one.
	ClusterIdentifier string
	WorkgroupName     string
	// Database is required.
	Database string
	// DbUser (temporary credentials, clusters only) or SecretArn (Secrets Manager); with
	// neither, the database user is derived from the IAM identity.
	DbUser    string
	SecretArn string
	// PollMin and PollMax bound the backoff between DescribeStatement calls (defaults
	// 50ms and 2s); the wait itself is bounded only by the flush's context.
	PollMin, PollMax time.Duration
}

// Direct runs the statements over a PostgreSQL-protocol connection to the cluster
// (pgx, simple protocol): BEGIN, the statements, COMMIT.
type Direct struct {
	// DSN is a pgx connection string to the cluster's endpoint (port 5439 by default).
	DSN string
	// Exec, when set, runs each statement in the transaction instead of tx.Exec and
	// returns its row count; redshifttest.Server.ExecTx plugs its Redshift-to-PostgreSQL
	// translation in here to test this mode on PostgreSQL.
	Exec func(ctx context.Context, tx pgx.Tx, sql string) (int64, error)
}

// ClientOptions build a Data API client.
type ClientOptions struct {
	// Region overrides the SDK's (AWS_REGION, the profile).
	Region string
	// Endpoint overrides the Data API endpoint (redshifttest); empty means the SDK's,
	// which honours AWS_ENDPOINT_URL_REDSHIFT_DATA and AWS_ENDPOINT_URL.
	Endpoint string
	// RoleARN is assumed through STS (cross-account access).
	RoleARN string
	// AWS is the base configuration (tests); nil loads config.LoadDefaultConfig.
	AWS *aws.Config
}

// NewDataAPIClient builds a Data API client from the SDK's default configuration (or
// o.AWS) with streamhub's HTTP client (internal/awshttp).
func NewDataAPIClient(ctx context.Context, o ClientOptions) (*redshiftdata.Client, error) {
	defaultRegion := ""
	if o.Endpoint != "" {
		defaultRegion = "us-east-1" // a local server still needs a region to sign with
	}
	cfg, err := awsconfig.Load(ctx, awsconfig.Options{Base: o.AWS, Region: o.Region, DefaultRegion: defaultRegion,
		RoleARN: o.RoleARN, SessionName: "streamhub-redshift"})
	if err != nil {
		return nil, fmt.Errorf("redshift: %w", err)
	}
	return redshiftdata.NewFromConfig(cfg, func(ro *redshiftdata.Options) {
		if o.Endpoint != "" {
			ro.BaseEndpoint = aws.String(o.Endpoint)
		}
	}), nil
}

// StatementError is a statement the warehouse refused; the whole transaction was rolled
// back.
type StatementError struct {
	// Index is the statement's position in the transaction, from 1; 0 when the service
	// did not say which statement failed.
	Index int
	// SQL is the statement's text.
	SQL string
	// Message is the warehouse's error text.
	Message string
	// Err is the driver's error (direct connections).
	Err error
}

func (e *StatementError) Error() string {
	if e.Index == 0 {
		return "redshift: transaction failed: " + e.Message
	}
	return fmt.Sprintf("redshift: statement %d (%s) failed: %s", e.Index, abbrev(e.SQL), e.Message)
}

func (e *StatementError) Unwrap() error { return e.Err }

// abbrev is the first line of a statement, cut at 120 bytes.
func abbrev(sql string) string {
	if i := strings.IndexByte(sql, '\n'); i >= 0 {
		sql = sql[:i] + " …"
	}
	if len(sql) > 120 {
		sql = sql[:120] + "…"
	}
	return sql
}

// executor runs statements on the warehouse.
type executor interface {
	// batch runs stmts in one transaction and returns each one's row count (-1: none).
	batch(ctx context.Context, stmts []string) ([]int64, error)
	// query runs one SELECT and returns its rows as text (NULL as nil).
	query(ctx context.Context, sql string) ([][]*string, error)
	close()
}

type dataAPI struct {
	DataAPI
	name string
}

func newDataAPI(d DataAPI, name string) (*dataAPI, error) {
	switch {
	case d.Client == nil:
		return nil, errors.New("redshift: the Data API needs a client")
	case (d.ClusterIdentifier == "") == (d.WorkgroupName == ""):
		return nil, errors.New("redshift: the Data API needs a cluster identifier or a workgroup name, not both")
	case d.Database == "":
		return nil, errors.New("redshift: the Data API needs a database")
	case d.DbUser != "" && d.SecretArn != "":
		return nil, errors.New("redshift: the Data API takes a database user or a secret, not both")
	}
	if d.PollMin <= 0 {
		d.PollMin = 50 * time.Millisecond
	}
	if d.PollMax < d.PollMin {
		d.PollMax = max(2*time.Second, d.PollMin)
	}
	return &dataAPI{DataAPI: d, name: name}, nil
}

func optional(s string) *string {
	if s == "" {
		return nil
	}
	return aws.String(s)
}

func (d *dataAPI) batch(ctx context.Context, stmts []string) ([]int64, error) {
	out, err := d.Client.BatchExecuteStatement(ctx, &redshiftdata.BatchExecuteStatementInput{
		Sqls:              stmts,
		ClusterIdentifier: optional(d.ClusterIdentifier),
		WorkgroupName:     optional(d.WorkgroupName),
		Database:          aws.String(d.Database),
		DbUser:            optional(d.DbUser),
		SecretArn:         optional(d.SecretArn),
		StatementName:     aws.String("streamhub-" + d.name),
	})
	if err != nil {
		return nil, fmt.Errorf("redshift: BatchExecuteStatement: %w", err)
	}
	desc, err := d.wait(ctx, aws.ToString(out.Id))
	if err != nil {
		return nil, err
	}
	if err := statementFailure(desc, stmts); err != nil {
		return nil, err
	}
	counts := make([]int64, len(stmts))
	for i := range counts {
		counts[i] = -1
	}
	for _, sub := range desc.SubStatements {
		if i := subIndex(aws.ToString(sub.Id)); i >= 1 && i <= len(stmts) {
			counts[i-1] = sub.ResultRows
		}
	}
	return counts, nil
}

// subIndex reads the 1-based position from a sub-statement id "<uuid>:<n>".
func subIndex(id string) int {
	i := strings.LastIndexByte(id, ':')
	if i < 0 {
		return 0
	}
	n, err := strconv.Atoi(id[i+1:])
	if err != nil {
		return 0
	}
	return n
}

// statementFailure is nil for a FINISHED statement, else the failed sub-statement's
// error (or the statement's).
func statementFailure(desc *redshiftdata.DescribeStatementOutput, stmts []string) error {
	switch desc.Status {
	case types.StatusStringFinished:
		return nil
	case types.StatusStringAborted:
		return &StatementError{Message: "the statement was aborted (cancelled)" + errSuffix(desc.Error)}
	}
	for _, sub := range desc.SubStatements {
		if sub.Status == types.StatementStatusStringFailed || sub.Error != nil && *sub.Error != "" {
			e := &StatementError{Index: subIndex(aws.ToString(sub.Id)), SQL: aws.ToString(sub.QueryString), Message: aws.ToString(sub.Error)}
			if e.Message == "" {
				e.Message = aws.ToString(desc.Error)
			}
			if e.SQL == "" && e.Index >= 1 && e.Index <= len(stmts) {
				e.SQL = stmts[e.Index-1]
			}
			return e
		}
	}
	e := &StatementError{Message: aws.ToString(desc.Error)}
	if len(stmts) == 1 {
		e.Index, e.SQL = 1, stmts[0]
	}
	if e.Message == "" {
		e.Message = "status " + string(desc.Status)
	}
	return e
}

func errSuffix(s *string) string {
	if s == nil || *s == "" {
		return ""
	}
	return ": " + *s
}

// wait polls DescribeStatement with backoff until the statement ends. When ctx ends
// first, it asks the service to cancel the statement (best effort: it may have
// committed already, which a redone flush tolerates) and returns ctx's error.
func (d *dataAPI) wait(ctx context.Context, id string) (*redshiftdata.DescribeStatementOutput, error) {
	delay := d.PollMin
	timer := time.NewTimer(0)
	defer timer.Stop()
	<-timer.C
	for {
		desc, err := d.Client.DescribeStatement(ctx, &redshiftdata.DescribeStatementInput{Id: aws.String(id)})
		if err != nil {
			if ctx.Err() != nil {
				d.cancel(ctx, id)
				return nil, fmt.Errorf("redshift: waiting for statement %s: %w", id, ctx.Err())
			}
			return nil, fmt.Errorf("redshift: DescribeStatement %s: %w", id, err)
		}
		switch desc.Status {
		case types.StatusStringFinished, types.StatusStringFailed, types.StatusStringAborted:
			return desc, nil
		}
		timer.Reset(delay)
		select {
		case <-ctx.Done():
			d.cancel(ctx, id)
			return nil, fmt.Errorf("redshift: waiting for statement %s: %w", id, ctx.Err())
		case <-timer.C:
		}
		delay = min(2*delay, d.PollMax)
	}
}

func (d *dataAPI) cancel(ctx context.Context, id string) {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	d.Client.CancelStatement(cctx, &redshiftdata.CancelStatementInput{Id: aws.String(id)})
}

func (d *dataAPI) query(ctx context.Context, sql string) ([][]*string, error) {
	out, err := d.Client.ExecuteStatement(ctx, &redshiftdata.ExecuteStatementInput{
		Sql:               aws.String(sql),
		ClusterIdentifier: optional(d.ClusterIdentifier),
		WorkgroupName:     optional(d.WorkgroupName),
		Database:          aws.String(d.Database),
		DbUser:            optional(d.DbUser),
		SecretArn:         optional(d.SecretArn),
		StatementName:     aws.String("streamhub-" + d.name),
	})
	if err != nil {
		return nil, fmt.Errorf("redshift: ExecuteStatement: %w", err)
	}
	id := aws.ToString(out.Id)
	desc, err := d.wait(ctx, id)
	if err != nil {
		return nil, err
	}
	if err := statementFailure(desc, []string{sql}); err != nil {
		return nil, err
	}
	var rows [][]*string
	var token *string
	for {
		res, err := d.Client.GetStatementResult(ctx, &redshiftdata.GetStatementResultInput{Id: aws.String(id), NextToken: token})
		if err != nil {
			return nil, fmt.Errorf("redshift: GetStatementResult %s: %w", id, err)
		}
		for _, rec := range res.Records {
			row := make([]*string, len(rec))
			for i, f := range rec {
				row[i] = fieldText(f)
			}
			rows = append(rows, row)
		}
		if token = res.NextToken; token == nil || *token == "" {
			return rows, nil
		}
	}
}

func fieldText(f types.Field) *string {
	var s string
	switch f := f.(type) {
	case *types.FieldMemberIsNull:
		return nil
	case *types.FieldMemberStringValue:
		s = f.Value
	case *types.FieldMemberLongValue:
		s = strconv.FormatInt(f.Value, 10)
	case *types.FieldMemberDoubleValue:
		s = strconv.FormatFloat(f.Value, 'g', -1, 64)
	case *types.FieldMemberBooleanValue:
		s = strconv.FormatBool(f.Value)
	case *types.FieldMemberBlobValue:
		s = string(f.Value)
	default:
		return nil
	}
	return &s
}

func (d *dataAPI) close() {}

type direct struct {
	pool *pgxpool.Pool
	exec func(ctx context.Context, tx pgx.Tx, sql string) (int64, error)
}

func newDirect(ctx context.Context, d Direct) (*direct, error) {
	cfg, err := pgxpool.ParseConfig(d.DSN)
	if err != nil {
		return nil, fmt.Errorf("redshift: DSN: %w", err)
	}
	// Redshift speaks the PostgreSQL protocol but not all of pgx's extended-protocol
	// habits (statement caching, binary formats): plain simple-protocol queries only.
	cfg.ConnConfig.DefaultQueryExecMode = pgx.QueryExecModeSimpleProtocol
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("redshift: connect: %w", err)
	}
	exec := d.Exec
	if exec == nil {
		exec = func(ctx context.Context, tx pgx.Tx, sql string) (int64, error) {
			tag, err := tx.Exec(ctx, sql)
			return tag.RowsAffected(), err
		}
	}
	return &direct{pool: pool, exec: exec}, nil
}

func (d *direct) batch(ctx context.Context, stmts []string) ([]int64, error) {
	tx, err := d.pool.Begin(ctx)
	if err != nil {
		return nil, fmt.Errorf("redshift: begin: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	counts := make([]int64, len(stmts))
	for i, q := range stmts {
		n, err := d.exec(ctx, tx, q)
		if err != nil {
			if ctx.Err() != nil {
				return nil, fmt.Errorf("redshift: statement %d: %w", i+1, err)
			}
			return nil, &StatementError{Index: i + 1, SQL: q, Message: err.Error(), Err: err}
		}
		counts[i] = n
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, fmt.Errorf("redshift: commit: %w", err)
	}
	return counts, nil
}

func (d *direct) query(ctx context.Context, sql string) ([][]*string, error) {
	rows, err := d.pool.Query(ctx, sql)
	if err != nil {
		return nil, &StatementError{Index: 1, SQL: sql, Message: err.Error(), Err: err}
	}
	defer rows.Close()
	var out [][]*string
	for rows.Next() {
		vals, err := rows.Values()
		if err != nil {
			return nil, err
		}
		row := make([]*string, len(vals))
		for i, v := range vals {
			if v != nil {
				s := fmt.Sprint(v)
				row[i] = &s
			}
		}
		out = append(out, row)
	}
	if err := rows.Err(); err != nil {
		return nil, &StatementError{Index: 1, SQL: sql, Message: err.Error(), Err: err}
	}
	return out, nil
}

func (d *direct) close() { d.pool.Close() }
