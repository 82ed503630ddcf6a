package ddbtest

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"regexp"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams/types"

	"github.com/streamhub/streamhub/state"
)

var (
	streamARNPattern = regexp.MustCompile(`^arn:aws:dynamodb:us-east-1:123456789012:table/[A-Za-z0-9_.-]+/stream/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}$`)
	shardIDPattern   = regexp.MustCompile(`^shardId-\d{20}-[0-9a-f]{8}$`)
)

func TestCreateTableValidatesTheSpec(t *testing.T) {
	s := newServer(t)
	createTable(t, s, TableSpec{Name: "taken", HashKey: "pk"})
	for _, tc := range []struct {
		name string
		spec TableSpec
	}{
		{"no name", TableSpec{HashKey: "pk"}},
		{"short name", TableSpec{Name: "ab", HashKey: "pk"}},
		{"bad name", TableSpec{Name: "a b c", HashKey: "pk"}},
		{"no hash key", TableSpec{Name: "t1"}},
		{"bad hash key type", TableSpec{Name: "t1", HashKey: "pk", HashKeyType: "BOOL"}},
		{"bad range key type", TableSpec{Name: "t1", HashKey: "pk", RangeKey: "sk", RangeKeyType: "SS"}},
		{"range type without range key", TableSpec{Name: "t1", HashKey: "pk", RangeKeyType: "S"}},
		{"range key equals hash key", TableSpec{Name: "t1", HashKey: "pk", RangeKey: "pk"}},
		{"negative shards", TableSpec{Name: "t1", HashKey: "pk", Shards: -1}},
		{"too many shards", TableSpec{Name: "t1", HashKey: "pk", Shards: maxShards + 1}},
		{"bad view type", TableSpec{Name: "t1", HashKey: "pk", ViewType: "ALL"}},
		{"existing table", TableSpec{Name: "taken", HashKey: "pk"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := s.CreateTable(tc.spec); err == nil {
				t.Fatal("no error")
			}
		})
	}
	arn := createTable(t, s, TableSpec{Name: "users", HashKey: "pk", RangeKey: "sk", Shards: 3})
	if !streamARNPattern.MatchString(arn) {
		t.Errorf("stream ARN %q", arn)
	}
	shards := s.Shards("users")
	if len(shards) != 3 {
		t.Fatalf("%d shards, want 3", len(shards))
	}
	seen := map[string]bool{}
	for _, sh := range shards {
		if !shardIDPattern.MatchString(sh.ID) || seen[sh.ID] || !sh.Open || sh.Parent != "" || sh.EndingSequenceNumber != "" {
			t.Errorf("shard %+v", sh)
		}
		seen[sh.ID] = true
	}
}

func TestListStreamsPaginatesAndFilters(t *testing.T) {
	s := newServer(t)
	var arns []string
	for i := range 5 {
		arns = append(arns, createTable(t, s, TableSpec{Name: fmt.Sprintf("table%d", i), HashKey: "pk"}))
	}
	c := streamsClient(s)
	ctx := context.Background()
	for _, limit := range []int32{0, 1, 2, 5, 100} {
		t.Run(fmt.Sprintf("limit %d", limit), func(t *testing.T) {
			var got []string
			var start *string
			pages := 0
			for {
				in := &dynamodbstreams.ListStreamsInput{ExclusiveStartStreamArn: start}
				if limit > 0 {
					in.Limit = aws.Int32(limit)
				}
				out, err := c.ListStreams(ctx, in)
				if err != nil {
					t.Fatal(err)
				}
				pages++
				for _, st := range out.Streams {
					got = append(got, *st.StreamArn)
					if *st.TableName != fmt.Sprintf("table%d", slices.Index(arns, *st.StreamArn)) || *st.StreamLabel == "" {
						t.Errorf("stream %s: table %s label %s", *st.StreamArn, *st.TableName, *st.StreamLabel)
					}
				}
				if out.LastEvaluatedStreamArn == nil {
					break
				}
				start = out.LastEvaluatedStreamArn
			}
			if !slices.Equal(got, arns) {
				t.Errorf("streams %v, want %v", got, arns)
			}
			if limit > 0 && limit < 5 && pages < 5/int(limit) {
				t.Errorf("%d pages with limit %d", pages, limit)
			}
		})
	}
	out, err := c.ListStreams(ctx, &dynamodbstreams.ListStreamsInput{TableName: aws.String("table3")})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Streams) != 1 || *out.Streams[0].StreamArn != arns[3] || out.LastEvaluatedStreamArn != nil {
		t.Errorf("filtered: %+v", out.Streams)
	}
	var nf *types.ResourceNotFoundException
	if _, err := c.ListStreams(ctx, &dynamodbstreams.ListStreamsInput{TableName: aws.String("nope")}); !errors.As(err, &nf) {
		t.Errorf("unknown table: %v", err)
	}
	if _, err := c.ListStreams(ctx, &dynamodbstreams.ListStreamsInput{Limit: aws.Int32(101)}); errCode(err) != "ValidationException" {
		t.Errorf("limit 101: %v", err)
	}
}

func TestDescribeStreamPaginatesShardsInCreationOrder(t *testing.T) {
	clock := newClock()
	s := newServer(t, WithClock(clock.Now))
	arn := createTable(t, s, TableSpec{Name: "many", HashKey: "id", HashKeyType: "N", Shards: 150, ViewType: "NEW_IMAGE"})
	c := streamsClient(s)
	ctx := context.Background()

	out, err := c.DescribeStream(ctx, &dynamodbstreams.DescribeStreamInput{StreamArn: &arn})
	if err != nil {
		t.Fatal(err)
	}
	d := out.StreamDescription
	if len(d.Shards) != 100 || d.LastEvaluatedShardId == nil || *d.LastEvaluatedShardId != *d.Shards[99].ShardId {
		t.Fatalf("default page: %d shards, last evaluated %v", len(d.Shards), d.LastEvaluatedShardId)
	}
	if *d.StreamArn != arn || d.StreamStatus != types.StreamStatusEnabled || d.StreamViewType != types.StreamViewTypeNewImage ||
		*d.TableName != "many" || *d.StreamLabel != "2026-11-25T09:39:42.123" || !d.CreationRequestDateTime.Equal(clock.Now()) {
		t.Errorf("description: %+v", d)
	}
	if len(d.KeySchema) != 1 || *d.KeySchema[0].AttributeName != "id" || d.KeySchema[0].KeyType != "HASH" {
		t.Errorf("key schema %+v", d.KeySchema)
	}
	want := s.Shards("many")
	for _, limit := range []int32{1, 7, 100} {
		got := describeAll(t, c, arn, limit)
		if len(got) != len(want) {
			t.Fatalf("limit %d: %d shards, want %d", limit, len(got), len(want))
		}
		for i := range got {
			if *got[i].ShardId != want[i].ID || *got[i].SequenceNumberRange.StartingSequenceNumber != want[i].StartingSequenceNumber ||
				got[i].SequenceNumberRange.EndingSequenceNumber != nil || got[i].ParentShardId != nil {
				t.Fatalf("limit %d: shard %d = %+v, want %+v", limit, i, got[i], want[i])
			}
		}
	}
	for _, limit := range []int32{0, 101} {
		if _, err := c.DescribeStream(ctx, &dynamodbstreams.DescribeStreamInput{StreamArn: &arn, Limit: aws.Int32(limit)}); errCode(err) != "ValidationException" {
			t.Errorf("limit %d: %v", limit, err)
		}
	}
	var nf *types.ResourceNotFoundException
	_, err = c.DescribeStream(ctx, &dynamodbstreams.DescribeStreamInput{StreamArn: aws.String(arn + "x")})
	if !errors.As(err, &nf) || httpStatus(err) != 400 {
		t.Errorf("unknown stream: %v", err)
	}
}

func TestSplitShardLineage(t *testing.T) {
	s := newServer(t)
	arn := createTable(t, s, TableSpec{Name: "users", HashKey: "pk", Shards: 2})
	c := streamsClient(s)
	before := s.Shards("users")
	// Which keys live on which shard before the split.
	home := map[string]string{}
	for i := range 200 {
		k := fmt.Sprintf("user#%d", i)
		ch := must(s.PutItem("users", Item{"pk": state.StringValue(k), "v": state.NumberValue("1")}))
		home[k] = ch.ShardID
	}
	for _, sh := range before {
		if n := s.Shards("users"); n[slices.IndexFunc(n, func(x ShardInfo) bool { return x.ID == sh.ID })].Records == 0 {
			t.Fatalf("shard %s got no items: the hash space is not divided", sh.ID)
		}
	}
	left, right, err := s.SplitShard("users", before[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	after := s.Shards("users")
	if len(after) != 4 || after[0].ID != before[0].ID || after[1].ID != before[1].ID || after[2].ID != left || after[3].ID != right {
		t.Fatalf("shards after split: %+v", after)
	}
	parent := after[0]
	if parent.Open || parent.EndingSequenceNumber == "" || after[2].Parent != parent.ID || after[3].Parent != parent.ID ||
		!after[2].Open || !after[3].Open || after[1].Parent != "" {
		t.Fatalf("lineage: %+v", after)
	}
	if cmpSeq(parent.EndingSequenceNumber, after[2].StartingSequenceNumber) >= 0 {
		t.Errorf("parent ends at %s, child starts at %s", parent.EndingSequenceNumber, after[2].StartingSequenceNumber)
	}
	// Every key of the parent now goes to one of its children, the same child every
	// time; keys of the other shard stay there.
	child := map[string]string{}
	for round := range 2 {
		for k, sh := range home {
			ch := must(s.PutItem("users", Item{"pk": state.StringValue(k), "v": state.NumberValue(strconv.Itoa(round + 2))}))
			switch {
			case sh == before[1].ID && ch.ShardID != sh:
				t.Fatalf("%s moved from %s to %s", k, sh, ch.ShardID)
			case sh == before[0].ID && ch.ShardID != left && ch.ShardID != right:
				t.Fatalf("%s of the split parent went to %s", k, ch.ShardID)
			case sh == before[0].ID && child[k] != "" && child[k] != ch.ShardID:
				t.Fatalf("%s went to %s, then %s", k, child[k], ch.ShardID)
			}
			child[k] = ch.ShardID
		}
	}
	if !slices.Contains(mapValues(child), left) || !slices.Contains(mapValues(child), right) {
		t.Error("the children do not both take keys")
	}

	// DescribeStream: parents before children; ShardFilter lists the children.
	shards := describeAll(t, c, arn, 1)
	if len(shards) != 4 || *shards[0].ShardId != parent.ID || *shards[0].SequenceNumberRange.EndingSequenceNumber != parent.EndingSequenceNumber ||
		aws.ToString(shards[2].ParentShardId) != parent.ID || aws.ToString(shards[3].ParentShardId) != parent.ID {
		t.Fatalf("DescribeStream after split: %+v", shards)
	}
	out, err := c.DescribeStream(context.Background(), &dynamodbstreams.DescribeStreamInput{StreamArn: &arn,
		ShardFilter: &types.ShardFilter{Type: types.ShardFilterTypeChildShards, ShardId: aws.String(parent.ID)}})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.StreamDescription.Shards) != 2 || *out.StreamDescription.Shards[0].ShardId != left || *out.StreamDescription.Shards[1].ShardId != right {
		t.Errorf("child shards: %+v", out.StreamDescription.Shards)
	}

	// Per-item order across the split: the parent's records, then the child's.
	for k, sh := range home {
		if sh != before[0].ID {
			continue
		}
		var versions []string
		for _, shardID := range []string{parent.ID, child[k]} {
			for _, r := range readShard(t, c, arn, shardID) {
				if r.Dynamodb.Keys["pk"].(*types.AttributeValueMemberS).Value == k {
					versions = append(versions, r.Dynamodb.NewImage["v"].(*types.AttributeValueMemberN).Value)
				}
			}
		}
		if !slices.Equal(versions, []string{"1", "2", "3"}) {
			t.Fatalf("%s: versions %v", k, versions)
		}
		break
	}

	for _, tc := range []struct{ table, shard string }{
		{"users", parent.ID}, {"users", "shardId-00000000000000000000-00000000"}, {"nope", left},
	} {
		if _, _, err := s.SplitShard(tc.table, tc.shard); err == nil {
			t.Errorf("split %s %s: no error", tc.table, tc.shard)
		}
	}
}

func mapValues(m map[string]string) []string {
	var out []string
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

func cmpSeq(a, b string) int {
	x, _ := new(big.Int).SetString(a, 10)
	y, _ := new(big.Int).SetString(b, 10)
	return x.Cmp(y)
}

func TestClosedShardEndsWithoutNextShardIterator(t *testing.T) {
	s := newServer(t)
	arn := createTable(t, s, TableSpec{Name: "users", HashKey: "pk"})
	c := streamsClient(s)
	parent := s.Shards("users")[0].ID
	// An open shard without records: no records and a NextShardIterator, every time.
	it := iter(t, c, arn, parent, types.ShardIteratorTypeTrimHorizon, "")
	for range 3 {
		out := getRecords(t, c, it, 0)
		if len(out.Records) != 0 || out.NextShardIterator == nil {
			t.Fatalf("empty open shard: %d records, next %v", len(out.Records), out.NextShardIterator)
		}
		it = *out.NextShardIterator
	}
	var want []string
	for i := range 10 {
		want = append(want, must(s.PutItem("users", key(fmt.Sprint("k", i)))).SequenceNumber)
	}
	// Read while open: the records and a NextShardIterator.
	out := getRecords(t, c, it, 0)
	if !slices.Equal(seqs(out.Records), want) || out.NextShardIterator == nil {
		t.Fatalf("open shard: %v next %v", seqs(out.Records), out.NextShardIterator)
	}
	if _, _, err := s.SplitShard("users", parent); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name  string
		limit int32
	}{{"one page", 0}, {"exact pages", 5}, {"pages", 3}} {
		t.Run(tc.name, func(t *testing.T) {
			it := iter(t, c, arn, parent, types.ShardIteratorTypeTrimHorizon, "")
			var got []string
			var last string
			for {
				out := getRecords(t, c, it, tc.limit)
				got = append(got, seqs(out.Records)...)
				if out.NextShardIterator == nil {
					last = it
					// The response that reaches the end has records and no next iterator.
					if len(out.Records) == 0 {
						t.Error("the end of the shard came in an empty response")
					}
					break
				}
				it = *out.NextShardIterator
			}
			if !slices.Equal(got, want) {
				t.Fatalf("records %v, want %v", got, want)
			}
			// Old iterators stay usable: the last one answers the same again.
			again := getRecords(t, c, last, tc.limit)
			if len(again.Records) == 0 || again.NextShardIterator != nil {
				t.Errorf("re-read: %d records, next %v", len(again.Records), again.NextShardIterator)
			}
		})
	}
	// A drained closed shard: no records and no NextShardIterator.
	for _, typ := range []types.ShardIteratorType{types.ShardIteratorTypeLatest, types.ShardIteratorTypeAfterSequenceNumber} {
		seq := ""
		if typ == types.ShardIteratorTypeAfterSequenceNumber {
			seq = want[len(want)-1]
		}
		out := getRecords(t, c, iter(t, c, arn, parent, typ, seq), 0)
		if len(out.Records) != 0 || out.NextShardIterator != nil {
			t.Errorf("%s on a drained closed shard: %d records, next %v", typ, len(out.Records), out.NextShardIterator)
		}
	}
	// The old open-shard iterator reads the end of the now closed shard too.
	out = getRecords(t, c, *out.NextShardIterator, 0)
	if len(out.Records) != 0 || out.NextShardIterator != nil {
		t.Errorf("open-shard iterator after close: %d records, next %v", len(out.Records), out.NextShardIterator)
	}
}

func TestShardIteratorTypes(t *testing.T) {
	clock := newClock()
	s := newServer(t, WithClock(clock.Now))
	arn := createTable(t, s, TableSpec{Name: "users", HashKey: "pk"})
	c := streamsClient(s, noRetry)
	shardID := s.Shards("users")[0].ID
	var all []string
	var times []time.Time
	for i := range 6 {
		all = append(all, must(s.PutItem("users", key(fmt.Sprint("k", i)))).SequenceNumber)
		times = append(times, clock.Now())
		clock.Add(2 * time.Second)
	}
	start := s.Shards("users")[0].StartingSequenceNumber
	for _, tc := range []struct {
		name string
		typ  types.ShardIteratorType
		seq  string
		ts   *time.Time
		want []string
	}{
		{"trim horizon", types.ShardIteratorTypeTrimHorizon, "", nil, all},
		{"latest", types.ShardIteratorTypeLatest, "", nil, nil},
		{"at first", types.ShardIteratorTypeAtSequenceNumber, all[0], nil, all},
		{"at third", types.ShardIteratorTypeAtSequenceNumber, all[2], nil, all[2:]},
		{"after third", types.ShardIteratorTypeAfterSequenceNumber, all[2], nil, all[3:]},
		{"after last", types.ShardIteratorTypeAfterSequenceNumber, all[5], nil, nil},
		{"at shard start", types.ShardIteratorTypeAtSequenceNumber, start, nil, all},
		{"at timestamp", types.ShardIteratorTypeAtTimestamp, "", &times[3], all[3:]},
		{"at old timestamp", types.ShardIteratorTypeAtTimestamp, "", aws.Time(times[0].Add(-time.Hour)), all},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := &dynamodbstreams.GetShardIteratorInput{StreamArn: &arn, ShardId: &shardID, ShardIteratorType: tc.typ, Timestamp: tc.ts}
			if tc.seq != "" {
				in.SequenceNumber = &tc.seq
			}
			out, err := c.GetShardIterator(context.Background(), in)
			if err != nil {
				t.Fatal(err)
			}
			if len(*out.ShardIterator) >= 2048 || !regexp.MustCompile(`^`+regexp.QuoteMeta(arn)+`\|1\|`).MatchString(*out.ShardIterator) {
				t.Errorf("iterator %q", *out.ShardIterator)
			}
			got := getRecords(t, c, *out.ShardIterator, 0)
			if !slices.Equal(seqs(got.Records), tc.want) || got.NextShardIterator == nil {
				t.Errorf("records %v (next %v), want %v", seqs(got.Records), got.NextShardIterator != nil, tc.want)
			}
		})
	}
	// LATEST sees what is written after it.
	latest := iter(t, c, arn, shardID, types.ShardIteratorTypeLatest, "")
	next := must(s.PutItem("users", key("new"))).SequenceNumber
	if got := seqs(getRecords(t, c, latest, 0).Records); !slices.Equal(got, []string{next}) {
		t.Errorf("LATEST then a write: %v, want [%s]", got, next)
	}

	var nf *types.ResourceNotFoundException
	for _, tc := range []struct {
		name             string
		arn, shard, typ  string
		seq              *string
		ts               *time.Time
		code             string
		resourceNotFound bool
	}{
		{name: "bad type", arn: arn, shard: shardID, typ: "OLDEST", code: "ValidationException"},
		{name: "no sequence number", arn: arn, shard: shardID, typ: "AT_SEQUENCE_NUMBER", code: "ValidationException"},
		{name: "not a number", arn: arn, shard: shardID, typ: "AFTER_SEQUENCE_NUMBER", seq: str("12x"), code: "ValidationException"},
		{name: "before the shard", arn: arn, shard: shardID, typ: "AT_SEQUENCE_NUMBER", seq: str("1"), code: "ValidationException"},
		{name: "beyond the stream", arn: arn, shard: shardID, typ: "AFTER_SEQUENCE_NUMBER", seq: str("499999999999999999999"), code: "ValidationException"},
		{name: "huge", arn: arn, shard: shardID, typ: "AT_SEQUENCE_NUMBER", seq: str("9999999999999999999999999999999999"), code: "ValidationException"},
		{name: "future timestamp", arn: arn, shard: shardID, typ: "AT_TIMESTAMP", ts: aws.Time(clock.Now().Add(time.Hour)), code: "ValidationException"},
		{name: "timestamp missing", arn: arn, shard: shardID, typ: "AT_TIMESTAMP", code: "ValidationException"},
		{name: "unknown shard", arn: arn, shard: "shardId-00000000000000000001-00000000", typ: "LATEST", code: "ResourceNotFoundException", resourceNotFound: true},
		{name: "unknown stream", arn: arn + "0", shard: shardID, typ: "LATEST", code: "ResourceNotFoundException", resourceNotFound: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.GetShardIterator(context.Background(), &dynamodbstreams.GetShardIteratorInput{
				StreamArn: &tc.arn, ShardId: &tc.shard, ShardIteratorType: types.ShardIteratorType(tc.typ), SequenceNumber: tc.seq, Timestamp: tc.ts})
			if errCode(err) != tc.code || httpStatus(err) != 400 {
				t.Fatalf("error %v, want %s", err, tc.code)
			}
			if tc.resourceNotFound && !errors.As(err, &nf) {
				t.Errorf("%T is not *types.ResourceNotFoundException", err)
			}
		})
	}
}

func TestSequenceNumbersExceed64BitsAndIncrease(t *testing.T) {
	s := newServer(t)
	arn := createTable(t, s, TableSpec{Name: "users", HashKey: "pk", Shards: 4})
	c := streamsClient(s)
	limit := new(big.Int).Lsh(big.NewInt(1), 64)
	var written []string
	bySeq := map[string]Change{}
	for i := range 300 {
		if i == 150 {
			if _, _, err := s.SplitShard("users", s.Shards("users")[1].ID); err != nil {
				t.Fatal(err)
			}
		}
		var ch Change
		var err error
		if i%7 == 6 {
			ch, _, err = s.DeleteItem("users", key(fmt.Sprint("k", i%40)))
		} else {
			ch, err = s.PutItem("users", Item{"pk": state.StringValue(fmt.Sprint("k", i%40)), "i": state.NumberValue(strconv.Itoa(i))})
		}
		if err != nil {
			t.Fatal(err)
		}
		if ch.SequenceNumber == "" {
			continue
		}
		written = append(written, ch.SequenceNumber)
		bySeq[ch.SequenceNumber] = ch
	}
	for i, seq := range written {
		n, ok := new(big.Int).SetString(seq, 10)
		if !ok || len(seq) < 21 || n.Cmp(limit) <= 0 {
			t.Fatalf("sequence number %q is not a decimal beyond 2^64", seq)
		}
		if i > 0 && cmpSeq(written[i-1], seq) >= 0 {
			t.Fatalf("sequence numbers %s then %s", written[i-1], seq)
		}
	}
	read := 0
	for _, sh := range s.Shards("users") {
		recs := readShard(t, c, arn, sh.ID)
		for i, r := range recs {
			seq := *r.Dynamodb.SequenceNumber
			if i > 0 && cmpSeq(*recs[i-1].Dynamodb.SequenceNumber, seq) >= 0 {
				t.Fatalf("shard %s: %s then %s", sh.ID, *recs[i-1].Dynamodb.SequenceNumber, seq)
			}
			if cmpSeq(seq, sh.StartingSequenceNumber) < 0 || sh.EndingSequenceNumber != "" && cmpSeq(seq, sh.EndingSequenceNumber) > 0 {
				t.Fatalf("shard %s [%s, %s] holds %s", sh.ID, sh.StartingSequenceNumber, sh.EndingSequenceNumber, seq)
			}
			if ch := bySeq[seq]; ch.ShardID != sh.ID {
				t.Fatalf("record %s read from %s, written to %q", seq, sh.ID, ch.ShardID)
			}
			read++
		}
	}
	if read != len(written) || s.Stats().Records != len(written) {
		t.Errorf("read %d records, stats %d, wrote %d", read, s.Stats().Records, len(written))
	}
}

func TestGetRecordsLimitsAndPages(t *testing.T) {
	s := newServer(t)
	arn := createTable(t, s, TableSpec{Name: "users", HashKey: "pk", ViewType: "KEYS_ONLY"})
	c := streamsClient(s, noRetry)
	shardID := s.Shards("users")[0].ID
	const total = 2345
	for i := range total {
		must(s.PutItem("users", key(fmt.Sprint("k", i))))
	}
	for _, tc := range []struct {
		limit int32
		pages []int
	}{
		{0, []int{1000, 1000, 345}},
		{1000, []int{1000, 1000, 345}},
		{999, []int{999, 999, 347}},
		{1, nil},
	} {
		t.Run(fmt.Sprintf("limit %d", tc.limit), func(t *testing.T) {
			it := iter(t, c, arn, shardID, types.ShardIteratorTypeTrimHorizon, "")
			var sizes []int
			n := 0
			for n < total {
				out := getRecords(t, c, it, tc.limit)
				sizes = append(sizes, len(out.Records))
				n += len(out.Records)
				it = *out.NextShardIterator
				if tc.limit == 1 && len(out.Records) != 1 {
					t.Fatalf("limit 1: %d records", len(out.Records))
				}
				if tc.limit == 1 && n == 20 {
					return
				}
			}
			if !slices.Equal(sizes, tc.pages) {
				t.Errorf("pages %v, want %v", sizes, tc.pages)
			}
			if out := getRecords(t, c, it, tc.limit); len(out.Records) != 0 || out.NextShardIterator == nil {
				t.Errorf("after the last record: %d records, next %v", len(out.Records), out.NextShardIterator)
			}
		})
	}
	it := iter(t, c, arn, shardID, types.ShardIteratorTypeTrimHorizon, "")
	for _, limit := range []int32{0, 1001, -1} {
		if _, err := c.GetRecords(context.Background(), &dynamodbstreams.GetRecordsInput{ShardIterator: &it, Limit: aws.Int32(limit)}); errCode(err) != "ValidationException" {
			t.Errorf("limit %d: %v", limit, err)
		}
	}
	flipped := []byte(it)
	flipped[len(flipped)-3] ^= 'A' ^ 'B' // one character of the checksum
	for _, bad := range []string{"x", arn + "|1|AAAA", string(flipped), "|1|" + it[len(arn)+3:]} {
		if _, err := c.GetRecords(context.Background(), &dynamodbstreams.GetRecordsInput{ShardIterator: &bad}); errCode(err) != "ValidationException" {
			t.Errorf("iterator %q: %v", bad, err)
		}
	}
}

func TestGetRecordsStopsAtOneMegabyte(t *testing.T) {
	s := newServer(t)
	arn := createTable(t, s, TableSpec{Name: "blobs", HashKey: "pk"})
	c := streamsClient(s)
	big := make([]byte, 100_000)
	for i := range 25 {
		must(s.PutItem("blobs", Item{"pk": state.StringValue(fmt.Sprint("k", i)), "blob": state.BinaryValue(big)}))
	}
	it := iter(t, c, arn, s.Shards("blobs")[0].ID, types.ShardIteratorTypeTrimHorizon, "")
	n := 0
	for n < 25 {
		out := getRecords(t, c, it, 0)
		var bytes int64
		for _, r := range out.Records {
			bytes += int64(len(r.Dynamodb.NewImage["blob"].(*types.AttributeValueMemberB).Value))
		}
		if len(out.Records) == 0 || len(out.Records) == 25 || bytes > 1<<20 {
			t.Fatalf("%d records of %d image bytes in one response", len(out.Records), bytes)
		}
		n += len(out.Records)
		it = *out.NextShardIterator
	}
}
