package ddbtest

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams/types"

	"github.com/streamhub/streamhub/state"
)

// TestConcurrentWritersReadersAndSplits runs writers (Go API and SDK), a splitter, an
// iterator expirer and a lineage-following reader at once, then checks that the reader
// saw every change exactly once and each item's changes in order.
func TestConcurrentWritersReadersAndSplits(t *testing.T) {
	s := newServer(t, WithSeed(11))
	arn := createTable(t, s, TableSpec{Name: "users", HashKey: "pk", Shards: 3})
	sc := streamsClient(s)
	tc := tablesClient(s, testKeyID)
	ctx := context.Background()

	const writers, perWriter, items = 4, 250, 40
	var counter atomic.Int64
	var mu sync.Mutex
	want := map[string]bool{}
	var wg sync.WaitGroup
	var writing sync.WaitGroup
	for w := range writers {
		writing.Add(1)
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer writing.Done()
			for i := range perWriter {
				k := fmt.Sprintf("user#%d", (w*perWriter+i)%items)
				if w == 0 {
					// The SDK's data plane, on keys of its own so that its versions grow
					// in write order.
					k = fmt.Sprintf("sdk#%d", i%items)
					_, err := tc.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String("users"), Item: map[string]ddbtypes.AttributeValue{
						"pk": &ddbtypes.AttributeValueMemberS{Value: k}, "v": &ddbtypes.AttributeValueMemberN{Value: strconv.FormatInt(counter.Add(1), 10)}}})
					if err != nil {
						t.Error(err)
						return
					}
					continue
				}
				var ch Change
				var ok = true
				var err error
				if i%9 == 8 {
					ch, ok, err = s.DeleteItem("users", key(k))
				} else {
					// Under mu: the counter order must be the write order.
					mu.Lock()
					ch, err = s.PutItem("users", Item{"pk": state.StringValue(k), "v": state.NumberValue(strconv.FormatInt(counter.Add(1), 10))})
					mu.Unlock()
				}
				if err != nil {
					t.Error(err)
					return
				}
				if ok {
					mu.Lock()
					want[ch.SequenceNumber] = true
					mu.Unlock()
				}
			}
		}()
	}
	wg.Add(1)
	writing.Add(1)
	go func() { // splitter, expirer and observers
		defer wg.Done()
		defer writing.Done()
		for i := 0; i < 4; i++ {
			time.Sleep(5 * time.Millisecond)
			for _, sh := range s.Shards("users") {
				if sh.Open {
					if _, _, err := s.SplitShard("users", sh.ID); err != nil {
						t.Error(err)
					}
					break
				}
			}
			s.ExpireIterators()
			_ = s.Stats()
			_ = s.Items("users")
			s.Trim("users", time.Unix(0, 0))
		}
	}()

	// The reader: parents before children, resuming after the last record on expiry.
	type pos struct {
		last  string
		iter  string
		ended bool
	}
	shards := map[string]*pos{}
	var order []string
	lastV := map[string]int64{}
	seen := map[string]int{}
	done := make(chan struct{})
	go func() { writing.Wait(); close(done) }()
	for {
		finished := false
		select {
		case <-done:
			finished = true
		default:
		}
		desc := describeAll(t, sc, arn, 0)
		progress := false
		for _, sh := range desc {
			id := *sh.ShardId
			p := shards[id]
			if p == nil {
				p = &pos{}
				shards[id] = p
				order = append(order, id)
			}
			if p.ended || sh.ParentShardId != nil && shards[*sh.ParentShardId] != nil && !shards[*sh.ParentShardId].ended {
				continue
			}
			if p.iter == "" {
				typ, seq := types.ShardIteratorTypeTrimHorizon, ""
				if p.last != "" {
					typ, seq = types.ShardIteratorTypeAfterSequenceNumber, p.last
				}
				p.iter = iter(t, sc, arn, id, typ, seq)
			}
			out, err := sc.GetRecords(ctx, &dynamodbstreams.GetRecordsInput{ShardIterator: &p.iter})
			var expired *types.ExpiredIteratorException
			if errors.As(err, &expired) {
				p.iter = ""
				progress = true
				continue
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range out.Records {
				seq := *r.Dynamodb.SequenceNumber
				seen[seq]++
				p.last = seq
				k := r.Dynamodb.Keys["pk"].(*types.AttributeValueMemberS).Value
				if r.EventName == types.OperationTypeRemove {
					continue
				}
				v, _ := strconv.ParseInt(r.Dynamodb.NewImage["v"].(*types.AttributeValueMemberN).Value, 10, 64)
				if v <= lastV[k] {
					t.Fatalf("%s: version %d after %d", k, v, lastV[k])
				}
				lastV[k] = v
			}
			progress = progress || len(out.Records) > 0
			if out.NextShardIterator == nil {
				p.ended = true
				progress = true
			} else {
				p.iter = *out.NextShardIterator
			}
		}
		if finished && !progress {
			break
		}
	}
	wg.Wait()
	for seq := range want {
		if seen[seq] != 1 {
			t.Fatalf("record %s read %d times", seq, seen[seq])
		}
	}
	total := 0
	for _, n := range seen {
		total += n
	}
	if st := s.Stats(); total != st.Records {
		t.Errorf("read %d records, %d emitted", total, st.Records)
	}
	// The last version read of each live item is its current content.
	for _, it := range s.Items("users") {
		v, _ := strconv.ParseInt(it["v"].N, 10, 64)
		if lastV[it["pk"].S] != v {
			t.Errorf("%s: table has v=%d, stream ended at %d", it["pk"].S, v, lastV[it["pk"].S])
		}
	}
	if len(order) != 3+2*4 {
		t.Errorf("%d shards seen, want 11", len(order))
	}
}
