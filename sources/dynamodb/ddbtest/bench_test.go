package ddbtest

import (
	"context"
	"fmt"
	"strconv"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams/types"

	"github.com/streamhub/streamhub/state"
)

// BenchmarkGetRecords reads full batches of 1000 typical records (NEW_AND_OLD_IMAGES,
// MODIFY, six attributes) through the SDK's Streams client: the ceiling the bridge reads
// at. It reports records/s.
func BenchmarkGetRecords(b *testing.B) {
	s := newServer(b)
	arn := createTable(b, s, TableSpec{Name: "users", HashKey: "pk", RangeKey: "sk"})
	const n = 20_000
	for i := range n {
		must(s.PutItem("users", Item{
			"pk": state.StringValue(fmt.Sprintf("user#%d", i%5000)), "sk": state.StringValue("profile"),
			"name": state.StringValue(fmt.Sprintf("User %d", i)), "score": state.NumberValue(strconv.Itoa(i)),
			"updatedAt": state.NumberValue("1764063582123000"), "tags": state.StringSetValue("a", "b"),
		}))
	}
	c := streamsClient(s, noRetry)
	shardID := s.Shards("users")[0].ID
	ctx := context.Background()
	it := iter(b, c, arn, shardID, types.ShardIteratorTypeTrimHorizon, "")
	records := 0
	b.ReportAllocs()
	for b.Loop() {
		out, err := c.GetRecords(ctx, &dynamodbstreams.GetRecordsInput{ShardIterator: &it, Limit: aws.Int32(1000)})
		if err != nil {
			b.Fatal(err)
		}
		records += len(out.Records)
		it = *out.NextShardIterator
		if len(out.Records) < 1000 {
			it = iter(b, c, arn, shardID, types.ShardIteratorTypeTrimHorizon, "")
		}
	}
	b.ReportMetric(float64(records)/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkServerGetRecords is the server's share alone: one GetRecords of 1000 records
// over raw HTTP, without the SDK's decoding.
func BenchmarkServerGetRecords(b *testing.B) {
	s := newServer(b)
	arn := createTable(b, s, TableSpec{Name: "users", HashKey: "pk"})
	for i := range 1000 {
		must(s.PutItem("users", Item{"pk": state.StringValue(fmt.Sprintf("user#%d", i)), "name": state.StringValue("x")}))
	}
	c := streamsClient(s)
	it := iter(b, c, arn, s.Shards("users")[0].ID, types.ShardIteratorTypeTrimHorizon, "")
	body := fmt.Sprintf(`{"ShardIterator":%q}`, it)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.getRecords([]byte(body)); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(1000*float64(b.N)/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkPutItem is the Go API's write path: one stream record per call.
func BenchmarkPutItem(b *testing.B) {
	s := newServer(b)
	createTable(b, s, TableSpec{Name: "users", HashKey: "pk", RangeKey: "sk", Shards: 4})
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		must(s.PutItem("users", Item{
			"pk": state.StringValue(fmt.Sprintf("user#%d", i%5000)), "sk": state.StringValue("profile"),
			"name": state.StringValue("User"), "score": state.NumberValue(strconv.Itoa(i)),
		}))
		i++
	}
}
