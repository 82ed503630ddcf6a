package ddbtest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams/types"
)

func TestTrimRaisesTrimmedDataAccess(t *testing.T) {
	clock := newClock()
	s := newServer(t, WithClock(clock.Now))
	arn := createTable(t, s, TableSpec{Name: "users", HashKey: "pk"})
	c := streamsClient(s, noRetry)
	ctx := context.Background()
	shardID := s.Shards("users")[0].ID
	var old, kept []string
	for i := range 5 {
		old = append(old, must(s.PutItem("users", key(fmt.Sprint("old", i)))).SequenceNumber)
	}
	horizon := iter(t, c, arn, shardID, types.ShardIteratorTypeTrimHorizon, "")
	afterSecond := iter(t, c, arn, shardID, types.ShardIteratorTypeAfterSequenceNumber, old[1])
	afterLast := iter(t, c, arn, shardID, types.ShardIteratorTypeAfterSequenceNumber, old[4])
	clock.Add(time.Minute)
	cut := clock.Now()
	for i := range 3 {
		kept = append(kept, must(s.PutItem("users", key(fmt.Sprint("new", i)))).SequenceNumber)
	}
	if n := s.Trim("users", cut); n != 5 {
		t.Fatalf("trimmed %d, want 5", n)
	}
	if n := s.Trim("users", cut); n != 0 {
		t.Fatalf("trimmed %d again", n)
	}
	if sh := s.Shards("users")[0]; sh.Records != 3 || !sh.Open {
		t.Fatalf("after trim: %+v", sh)
	}

	var trimmed *types.TrimmedDataAccessException
	for _, tc := range []struct {
		name    string
		typ     types.ShardIteratorType
		seq     string
		trimmed bool
		want    []string
	}{
		{"at a trimmed record", types.ShardIteratorTypeAtSequenceNumber, old[4], true, nil},
		{"after a trimmed record", types.ShardIteratorTypeAfterSequenceNumber, old[2], true, nil},
		{"after the newest trimmed record", types.ShardIteratorTypeAfterSequenceNumber, old[4], false, kept},
		{"at the oldest kept record", types.ShardIteratorTypeAtSequenceNumber, kept[0], false, kept},
		{"trim horizon", types.ShardIteratorTypeTrimHorizon, "", false, kept},
	} {
		t.Run("GetShardIterator "+tc.name, func(t *testing.T) {
			in := &dynamodbstreams.GetShardIteratorInput{StreamArn: &arn, ShardId: &shardID, ShardIteratorType: tc.typ}
			if tc.seq != "" {
				in.SequenceNumber = aws.String(tc.seq)
			}
			out, err := c.GetShardIterator(ctx, in)
			if tc.trimmed {
				if !errors.As(err, &trimmed) || httpStatus(err) != 400 {
					t.Fatalf("error %v, want *types.TrimmedDataAccessException", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := seqs(getRecords(t, c, *out.ShardIterator, 0).Records); !slices.Equal(got, tc.want) {
				t.Errorf("records %v, want %v", got, tc.want)
			}
		})
	}
	// Iterators handed out before the trim.
	for _, tc := range []struct {
		name    string
		it      string
		trimmed bool
	}{{"trim horizon", horizon, true}, {"after the second", afterSecond, true}, {"after the last trimmed", afterLast, false}} {
		t.Run("GetRecords "+tc.name, func(t *testing.T) {
			out, err := c.GetRecords(ctx, &dynamodbstreams.GetRecordsInput{ShardIterator: aws.String(tc.it)})
			if tc.trimmed {
				if !errors.As(err, &trimmed) {
					t.Fatalf("error %v, want *types.TrimmedDataAccessException", err)
				}
				return
			}
			if err != nil || !slices.Equal(seqs(out.Records), kept) {
				t.Fatalf("records %v err %v", out, err)
			}
		})
	}
	if st := s.Stats(); st.TrimmedErrors != 4 {
		t.Errorf("stats: %d trimmed errors, want 4", st.TrimmedErrors)
	}
}

func TestTrimDropsEmptyClosedShards(t *testing.T) {
	clock := newClock()
	s := newServer(t, WithClock(clock.Now), WithIteratorTTL(48*time.Hour))
	arn := createTable(t, s, TableSpec{Name: "users", HashKey: "pk"})
	c := streamsClient(s, noRetry)
	parent := s.Shards("users")[0].ID
	must(s.PutItem("users", key("a")))
	drained := iter(t, c, arn, parent, types.ShardIteratorTypeTrimHorizon, "")
	out := getRecords(t, c, drained, 0)
	drained = *out.NextShardIterator
	left, right, err := s.SplitShard("users", parent)
	if err != nil {
		t.Fatal(err)
	}
	clock.Add(time.Hour)
	must(s.PutItem("users", key("a")))
	// A cut before the split: the parent loses nothing it has not closed by then.
	if n := s.Trim("users", clock.Now().Add(-2*time.Hour)); n != 0 || len(s.Shards("users")) != 3 {
		t.Fatalf("early trim: %d records, %d shards", n, len(s.Shards("users")))
	}
	if n := s.Trim("users", clock.Now()); n != 1 {
		t.Fatalf("trimmed %d, want the parent's record", n)
	}
	shards := describeAll(t, c, arn, 0)
	if len(shards) != 2 || *shards[0].ShardId != left || *shards[1].ShardId != right || aws.ToString(shards[0].ParentShardId) != parent {
		t.Fatalf("after the parent was trimmed away: %+v", shards)
	}
	var nf *types.ResourceNotFoundException
	if _, err := c.GetShardIterator(context.Background(), &dynamodbstreams.GetShardIteratorInput{
		StreamArn: &arn, ShardId: &parent, ShardIteratorType: types.ShardIteratorTypeTrimHorizon}); !errors.As(err, &nf) {
		t.Errorf("iterator for a dropped shard: %v", err)
	}
	// An iterator that had read the whole parent still ends it cleanly.
	out = getRecords(t, c, drained, 0)
	if len(out.Records) != 0 || out.NextShardIterator != nil {
		t.Errorf("drained iterator of a dropped shard: %d records, next %v", len(out.Records), out.NextShardIterator)
	}
}

func TestRetentionTrimsLazily(t *testing.T) {
	clock := newClock()
	s := newServer(t, WithClock(clock.Now), WithRetention(time.Hour), WithIteratorTTL(48*time.Hour))
	arn := createTable(t, s, TableSpec{Name: "users", HashKey: "pk"})
	c := streamsClient(s, noRetry)
	shardID := s.Shards("users")[0].ID
	first := must(s.PutItem("users", key("a"))).SequenceNumber
	it := iter(t, c, arn, shardID, types.ShardIteratorTypeTrimHorizon, "")
	clock.Add(50 * time.Minute)
	second := must(s.PutItem("users", key("b"))).SequenceNumber
	if got := seqs(getRecords(t, c, it, 0).Records); !slices.Equal(got, []string{first, second}) {
		t.Fatalf("within retention: %v", got)
	}
	it = iter(t, c, arn, shardID, types.ShardIteratorTypeTrimHorizon, "")
	clock.Add(20 * time.Minute) // the first record is 70 minutes old
	var trimmed *types.TrimmedDataAccessException
	if _, err := c.GetRecords(context.Background(), &dynamodbstreams.GetRecordsInput{ShardIterator: &it}); !errors.As(err, &trimmed) {
		t.Fatalf("GetRecords past retention: %v", err)
	}
	it = iter(t, c, arn, shardID, types.ShardIteratorTypeTrimHorizon, "")
	if got := seqs(getRecords(t, c, it, 0).Records); !slices.Equal(got, []string{second}) {
		t.Errorf("after retention: %v", got)
	}
	if sh := s.Shards("users"); sh[0].Records != 1 {
		t.Errorf("shard holds %d records", sh[0].Records)
	}
}

func TestIteratorsExpire(t *testing.T) {
	clock := newClock()
	s := newServer(t, WithClock(clock.Now))
	arn := createTable(t, s, TableSpec{Name: "users", HashKey: "pk"})
	c := streamsClient(s, noRetry)
	ctx := context.Background()
	shardID := s.Shards("users")[0].ID
	seq := must(s.PutItem("users", key("a"))).SequenceNumber
	var expired *types.ExpiredIteratorException
	expectExpired := func(t *testing.T, it string) {
		t.Helper()
		_, err := c.GetRecords(ctx, &dynamodbstreams.GetRecordsInput{ShardIterator: &it})
		if !errors.As(err, &expired) || httpStatus(err) != 400 {
			t.Fatalf("error %v, want *types.ExpiredIteratorException", err)
		}
	}

	t.Run("ExpireIterators", func(t *testing.T) {
		it := iter(t, c, arn, shardID, types.ShardIteratorTypeTrimHorizon, "")
		out := getRecords(t, c, it, 0)
		// Old iterators stay usable until they expire.
		if again := getRecords(t, c, it, 0); !slices.Equal(seqs(again.Records), seqs(out.Records)) {
			t.Fatalf("re-read %v, first read %v", seqs(again.Records), seqs(out.Records))
		}
		s.ExpireIterators()
		expectExpired(t, it)
		expectExpired(t, *out.NextShardIterator)
		fresh := iter(t, c, arn, shardID, types.ShardIteratorTypeAfterSequenceNumber, seq)
		if out := getRecords(t, c, fresh, 0); len(out.Records) != 0 || out.NextShardIterator == nil {
			t.Fatalf("fresh iterator: %+v", out)
		}
	})
	t.Run("TTL", func(t *testing.T) {
		it := iter(t, c, arn, shardID, types.ShardIteratorTypeTrimHorizon, "")
		clock.Add(14 * time.Minute)
		out := getRecords(t, c, it, 0) // 14 minutes old: still good
		clock.Add(2 * time.Minute)
		expectExpired(t, it)
		// The NextShardIterator was handed out 2 minutes ago: good for 13 more.
		getRecords(t, c, *out.NextShardIterator, 0)
		clock.Add(13*time.Minute + time.Second)
		expectExpired(t, *out.NextShardIterator)
	})
	t.Run("WithIteratorTTL", func(t *testing.T) {
		s := newServer(t, WithClock(clock.Now), WithIteratorTTL(time.Minute))
		arn := createTable(t, s, TableSpec{Name: "users", HashKey: "pk"})
		c := streamsClient(s, noRetry)
		it := iter(t, c, arn, s.Shards("users")[0].ID, types.ShardIteratorTypeLatest, "")
		clock.Add(61 * time.Second)
		if _, err := c.GetRecords(ctx, &dynamodbstreams.GetRecordsInput{ShardIterator: &it}); !errors.As(err, &expired) {
			t.Fatalf("error %v", err)
		}
	})
	if st := s.Stats(); st.ExpiredIterators != 4 {
		t.Errorf("stats: %d expired iterators, want 4", st.ExpiredIterators)
	}
}

func TestFaultsSurfaceAsTypedErrors(t *testing.T) {
	s := newServer(t, WithSeed(9))
	arn := createTable(t, s, TableSpec{Name: "users", HashKey: "pk"})
	c := streamsClient(s, func(o *dynamodbstreams.Options) { o.RetryMaxAttempts = 1 })
	ctx := context.Background()
	shardID := s.Shards("users")[0].ID
	it := iter(t, c, arn, shardID, types.ShardIteratorTypeTrimHorizon, "")

	s.SetFaults(Faults{ThrottleRate: 1})
	var limit *types.LimitExceededException
	var codes []string
	for range 4 {
		_, err := c.GetRecords(ctx, &dynamodbstreams.GetRecordsInput{ShardIterator: &it})
		if httpStatus(err) != 400 || retry.IsErrorThrottles(retry.DefaultThrottles).IsErrorThrottle(err) != aws.TrueTernary ||
			retry.IsErrorRetryables(retry.DefaultRetryables).IsErrorRetryable(err) != aws.TrueTernary {
			t.Fatalf("throttle %v is not a retryable throttle", err)
		}
		if errCode(err) == "LimitExceededException" && !errors.As(err, &limit) {
			t.Fatalf("%T is not *types.LimitExceededException", err)
		}
		codes = append(codes, errCode(err))
	}
	if !slices.Equal(codes, []string{"LimitExceededException", "ProvisionedThroughputExceededException", "LimitExceededException", "ProvisionedThroughputExceededException"}) {
		t.Errorf("throttle codes %v", codes)
	}
	for _, op := range []func() error{
		func() error {
			_, err := c.GetShardIterator(ctx, &dynamodbstreams.GetShardIteratorInput{StreamArn: &arn, ShardId: &shardID, ShardIteratorType: types.ShardIteratorTypeLatest})
			return err
		},
		func() error {
			_, err := c.DescribeStream(ctx, &dynamodbstreams.DescribeStreamInput{StreamArn: &arn})
			return err
		},
	} {
		if err := op(); errCode(err) == "" {
			t.Errorf("default ops: no throttle: %v", err)
		}
	}
	if _, err := c.ListStreams(ctx, &dynamodbstreams.ListStreamsInput{}); err != nil {
		t.Errorf("ListStreams is not a default fault op: %v", err)
	}

	s.SetFaults(Faults{ServerErrorRate: 1})
	var internal *types.InternalServerError
	_, err := c.GetRecords(ctx, &dynamodbstreams.GetRecordsInput{ShardIterator: &it})
	if !errors.As(err, &internal) || httpStatus(err) != 500 || !retry.IsErrorRetryables(retry.DefaultRetryables).IsErrorRetryable(err).Bool() {
		t.Fatalf("server error %v (%T), status %d", err, err, httpStatus(err))
	}

	s.SetFaults(Faults{ThrottleRate: 1, Ops: []string{"DescribeTable"}})
	if _, err := c.GetRecords(ctx, &dynamodbstreams.GetRecordsInput{ShardIterator: &it}); err != nil {
		t.Errorf("GetRecords outside Ops: %v", err)
	}
	tc := tablesClient(s, testKeyID, func(o *dynamodb.Options) { o.RetryMaxAttempts = 1 })
	var ddbLimit *ddbtypes.LimitExceededException
	var ddbPTE *ddbtypes.ProvisionedThroughputExceededException
	for range 2 {
		_, err := tc.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String("users")})
		if !errors.As(err, &ddbLimit) && !errors.As(err, &ddbPTE) {
			t.Errorf("DescribeTable in Ops: %v (%T)", err, err)
		}
	}

	s.SetFaults(Faults{})
	if _, err := c.GetRecords(ctx, &dynamodbstreams.GetRecordsInput{ShardIterator: &it}); err != nil {
		t.Errorf("faults off: %v", err)
	}
	st := s.Stats()
	if st.Throttled != 8 || st.ServerErrors != 1 || st.Calls["GetRecords"] != 7 || st.Calls["DescribeTable"] != 2 || st.Calls["ListStreams"] != 1 {
		t.Errorf("stats %+v", st)
	}
}

func TestRetryerRidesOutThrottles(t *testing.T) {
	s := newServer(t, WithSeed(3))
	arn := createTable(t, s, TableSpec{Name: "users", HashKey: "pk", Shards: 2})
	var want []string
	for i := range 100 {
		want = append(want, must(s.PutItem("users", key(fmt.Sprint("k", i)))).SequenceNumber)
	}
	c := streamsClient(s, func(o *dynamodbstreams.Options) {
		o.Retryer = retry.NewStandard(func(o *retry.StandardOptions) {
			o.MaxAttempts = 25
			o.Backoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { return time.Millisecond, nil })
			o.RateLimiter = ratelimit.None
		})
	})
	s.SetFaults(Faults{ThrottleRate: 0.5, ServerErrorRate: 0.1})
	var got []string
	for _, sh := range describeAll(t, c, arn, 1) {
		it := iter(t, c, arn, *sh.ShardId, types.ShardIteratorTypeTrimHorizon, "")
		for {
			out := getRecords(t, c, it, 7)
			got = append(got, seqs(out.Records)...)
			if len(out.Records) == 0 {
				break
			}
			it = *out.NextShardIterator
		}
	}
	slices.SortFunc(got, cmpSeq)
	if !slices.Equal(got, want) {
		t.Errorf("read %d records through throttles, want %d", len(got), len(want))
	}
	if st := s.Stats(); st.Throttled == 0 || st.ServerErrors == 0 {
		t.Errorf("no faults injected: %+v", st)
	}
}
