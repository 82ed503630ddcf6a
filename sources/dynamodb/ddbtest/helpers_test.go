package ddbtest

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/streamhub/streamhub/state"
)

// testClock is a settable server clock.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *testClock {
	return &testClock{t: time.Date(2026, 11, 25, 9, 39, 42, 123_000_000, time.UTC)}
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func newServer(t testing.TB, opts ...Option) *Server {
	t.Helper()
	s := New(opts...)
	t.Cleanup(s.Close)
	return s
}

func createTable(t testing.TB, s *Server, spec TableSpec) string {
	t.Helper()
	arn, err := s.CreateTable(spec)
	if err != nil {
		t.Fatal(err)
	}
	return arn
}

const (
	testKeyID  = "AKIDDDBTEST"
	testSecret = "secret"
)

// awsConfig is an SDK config for the server with static credentials.
func awsConfig(keyID string) aws.Config {
	return aws.Config{
		Region:      "us-east-1",
		Credentials: credentials.NewStaticCredentialsProvider(keyID, testSecret, ""),
		HTTPClient:  HTTPClient(),
	}
}

// streamsClient is a real DynamoDB Streams client pointed at s.
func streamsClient(s *Server, opts ...func(*dynamodbstreams.Options)) *dynamodbstreams.Client {
	return dynamodbstreams.NewFromConfig(awsConfig(testKeyID), append([]func(*dynamodbstreams.Options){func(o *dynamodbstreams.Options) {
		o.BaseEndpoint = aws.String(s.URL())
	}}, opts...)...)
}

// noRetry makes a Streams client surface every error from its first attempt.
func noRetry(o *dynamodbstreams.Options) { o.Retryer = aws.NopRetryer{} }

// tablesClient is a real DynamoDB client pointed at s.
func tablesClient(s *Server, keyID string, opts ...func(*dynamodb.Options)) *dynamodb.Client {
	return dynamodb.NewFromConfig(awsConfig(keyID), append([]func(*dynamodb.Options){func(o *dynamodb.Options) {
		o.BaseEndpoint = aws.String(s.URL())
	}}, opts...)...)
}

func str(s string) *string { return &s }

func key(pk string) Item { return Item{"pk": state.StringValue(pk)} }

func key2(pk, sk string) Item {
	return Item{"pk": state.StringValue(pk), "sk": state.StringValue(sk)}
}

// describeAll reads every page of DescribeStream.
func describeAll(t testing.TB, c *dynamodbstreams.Client, arn string, limit int32) []types.Shard {
	t.Helper()
	var out []types.Shard
	var start *string
	for {
		in := &dynamodbstreams.DescribeStreamInput{StreamArn: &arn, ExclusiveStartShardId: start}
		if limit > 0 {
			in.Limit = aws.Int32(limit)
		}
		res, err := c.DescribeStream(context.Background(), in)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, res.StreamDescription.Shards...)
		if res.StreamDescription.LastEvaluatedShardId == nil {
			return out
		}
		start = res.StreamDescription.LastEvaluatedShardId
	}
}

func iter(t testing.TB, c *dynamodbstreams.Client, arn, shardID string, typ types.ShardIteratorType, seq string) string {
	t.Helper()
	in := &dynamodbstreams.GetShardIteratorInput{StreamArn: &arn, ShardId: &shardID, ShardIteratorType: typ}
	if seq != "" {
		in.SequenceNumber = &seq
	}
	out, err := c.GetShardIterator(context.Background(), in)
	if err != nil {
		t.Fatalf("GetShardIterator %s %s: %v", typ, seq, err)
	}
	if out.ShardIterator == nil {
		t.Fatalf("GetShardIterator %s: no iterator", typ)
	}
	return *out.ShardIterator
}

func getRecords(t testing.TB, c *dynamodbstreams.Client, it string, limit int32) *dynamodbstreams.GetRecordsOutput {
	t.Helper()
	in := &dynamodbstreams.GetRecordsInput{ShardIterator: &it}
	if limit > 0 {
		in.Limit = aws.Int32(limit)
	}
	out, err := c.GetRecords(context.Background(), in)
	if err != nil {
		t.Fatalf("GetRecords: %v", err)
	}
	return out
}

// readShard reads a shard from TRIM_HORIZON until a response has no records (open
// shard) or no NextShardIterator (closed shard).
func readShard(t testing.TB, c *dynamodbstreams.Client, arn, shardID string) []types.Record {
	t.Helper()
	it := iter(t, c, arn, shardID, types.ShardIteratorTypeTrimHorizon, "")
	var recs []types.Record
	for {
		out := getRecords(t, c, it, 0)
		recs = append(recs, out.Records...)
		if out.NextShardIterator == nil || len(out.Records) == 0 {
			return recs
		}
		it = *out.NextShardIterator
	}
}

func seqs(recs []types.Record) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = *r.Dynamodb.SequenceNumber
	}
	return out
}

// errCode is the AWS error code of err, or "".
func errCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

// httpStatus is the HTTP status of a failed call, or 0.
func httpStatus(err error) int {
	var re *smithyhttp.ResponseError
	if errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	return 0
}

// fromSDK converts a record as the SDK decoded it into the Lambda shape, the way the
// bridge does: if the server's wire format is right, the result marshals to the bytes
// of Change.Record.
func fromSDK(t testing.TB, r types.Record, streamARN string) []byte {
	t.Helper()
	out := state.Record{
		EventID: aws.ToString(r.EventID), EventName: string(r.EventName), EventVersion: aws.ToString(r.EventVersion),
		EventSource: aws.ToString(r.EventSource), AWSRegion: aws.ToString(r.AwsRegion), EventSourceARN: streamARN,
	}
	if u := r.UserIdentity; u != nil {
		out.UserIdentity = &state.UserIdentity{Type: aws.ToString(u.Type), PrincipalID: aws.ToString(u.PrincipalId)}
	}
	d := r.Dynamodb
	if d.ApproximateCreationDateTime != nil {
		out.DynamoDB.ApproximateCreationDateTime = state.EpochSeconds(*d.ApproximateCreationDateTime)
	}
	out.DynamoDB.SequenceNumber = aws.ToString(d.SequenceNumber)
	out.DynamoDB.SizeBytes = aws.ToInt64(d.SizeBytes)
	out.DynamoDB.StreamViewType = string(d.StreamViewType)
	out.DynamoDB.Keys = sdkImage(t, d.Keys)
	out.DynamoDB.NewImage = sdkImage(t, d.NewImage)
	out.DynamoDB.OldImage = sdkImage(t, d.OldImage)
	b, err := out.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func sdkImage(t testing.TB, m map[string]types.AttributeValue) Item {
	if m == nil {
		return nil
	}
	out := Item{}
	for k, v := range m {
		out[k] = sdkAttr(t, v)
	}
	return out
}

func sdkAttr(t testing.TB, av types.AttributeValue) state.AttributeValue {
	switch v := av.(type) {
	case *types.AttributeValueMemberS:
		return state.StringValue(v.Value)
	case *types.AttributeValueMemberN:
		return state.NumberValue(v.Value)
	case *types.AttributeValueMemberB:
		return state.BinaryValue(v.Value)
	case *types.AttributeValueMemberBOOL:
		return state.BoolValue(v.Value)
	case *types.AttributeValueMemberNULL:
		return state.NullValue()
	case *types.AttributeValueMemberSS:
		return state.StringSetValue(v.Value...)
	case *types.AttributeValueMemberNS:
		return state.NumberSetValue(v.Value...)
	case *types.AttributeValueMemberBS:
		return state.BinarySetValue(v.Value...)
	case *types.AttributeValueMemberL:
		l := make([]state.AttributeValue, len(v.Value))
		for i, e := range v.Value {
			l[i] = sdkAttr(t, e)
		}
		return state.ListValue(l...)
	case *types.AttributeValueMemberM:
		return state.MapValue(sdkImage(t, v.Value))
	}
	t.Fatalf("unexpected attribute value %T", av)
	return state.AttributeValue{}
}

// post sends one raw request to the server.
func post(t testing.TB, s *Server, target, body string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, s.URL()+"/", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Amz-Target", target)
	req.Header.Set("Content-Type", "application/x-amz-json-1.0")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(fmt.Sprintf("unexpected error: %v", err))
	}
	return v
}
