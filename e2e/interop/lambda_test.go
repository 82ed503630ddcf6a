package interop

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	ddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"
	streamtypes "github.com/aws/aws-sdk-go-v2/service/dynamodbstreams/types"
	"github.com/aws/smithy-go/logging"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/streamhub/streamhub/kafka"
	"github.com/streamhub/streamhub/pipeline"
	ddblambda "github.com/streamhub/streamhub/sources/dynamodb/lambda"
	"github.com/streamhub/streamhub/topology"
)

// lambdaRIEVersion pins AWS's Lambda Runtime Interface Emulator; keep it equal to
// rieVersion in cmd/streamhub-lambda/rie_test.go and RIE_VERSION in scripts/peers.sh.
const lambdaRIEVersion = "v0.0.0-20261030222936-bef5c4ba774d"

const (
	lambdaTable       = "orders"
	lambdaBridgeTopic = "interop.orders.cdc" // the bridge's, by the topology's default name
	lambdaTopic       = "interop.orders.lambda"
	lambdaPartitions  = 3
)

// TestLambdaUnderRIE runs cmd/streamhub-lambda inside AWS's Lambda Runtime Interface
// Emulator and invokes it as an event source mapping would: with AWS's documented sample
// event, and with batches made from DynamoDB Local's own GetRecords output, read through
// the real SDK and turned into the Lambda event shape here, independently of the bridge.
// The real bridge reads the same DynamoDB Local stream into its own topic. Then:
//
//   - the function's topic holds, for every stream record, the key and value bytes the
//     bridge wrote for it, in the same partition;
//   - with the function's broker stopped, an invocation answers batchItemFailures naming
//     every record of its batch, the first failed sequence number first;
//   - with the broker back (same address, same data), the batch retried from that record
//     is committed;
//   - when the connection drops at a batch's commit, after its records reached the broker,
//     the batch is reported whole, and its retry is committed;
//   - a read_committed reader finds every eventID exactly once (the log holds the aborted
//     copy of the batch whose commit dropped too).
func TestLambdaUnderRIE(t *testing.T) {
	began := time.Now()
	rie := lambdaRIEBinary(t)
	endpoint := dynamoDBLocal(t)
	useAWSEnv(t, endpoint)
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()

	awsCfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		t.Fatal(err)
	}
	awsCfg.Logger = logging.Nop{}
	db := ddb.NewFromConfig(awsCfg)
	streams := dynamodbstreams.NewFromConfig(awsCfg)

	// The key is AWS's sample's (Id, a number), so the sample and DynamoDB Local's records
	// go through one function.
	arn := lambdaCreateTable(ctx, t, db)
	writes := lambdaWrite(ctx, t, db)
	records := lambdaStreamRecords(ctx, t, streams, arn, writes)
	t.Logf("%d stream records from DynamoDB Local (%s since start)", len(records), time.Since(began).Round(time.Millisecond))

	// The bridge, on the same stream, into its own topic on its own broker.
	p, err := pipeline.New(ctx, pipeline.Options{
		Config: lambdaBridgeConfig(t), Roles: pipeline.Roles{Bridge: true}, Logger: testLogger(),
	})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stopBridge := context.WithCancel(context.Background())
	bridgeDone := make(chan error, 1)
	go func() { bridgeDone <- p.Run(runCtx) }()
	defer func() {
		stopBridge()
		select {
		case err := <-bridgeDone:
			if err != nil {
				t.Errorf("bridge: %v", err)
			}
		case <-time.After(60 * time.Second):
			t.Error("bridge did not stop within 60s")
		}
	}()

	// The function's broker keeps its log in a directory, so it can be stopped and come
	// back on the same address with the same data.
	broker := &lambdaBroker{t: t, dir: t.TempDir(), listen: fmt.Sprintf("127.0.0.1:%d", freePort(t))}
	broker.start()
	defer broker.stop()

	fn := startLambdaFunction(ctx, t, rie, broker.listen)

	// AWS's documented sample event.
	sample, err := os.ReadFile(filepath.Join("..", "..", "sources", "dynamodb", "lambda", "testdata", "aws-lambda-dg-ddb-example-event.json"))
	if err != nil {
		t.Fatal(err)
	}
	if failed := fn.invoke(ctx, sample); len(failed) != 0 {
		t.Fatalf("AWS's sample event: reported %v", failed)
	}
	var sampleEvent struct{ Records []json.RawMessage }
	if err := json.Unmarshal(sample, &sampleEvent); err != nil {
		t.Fatal(err)
	}

	// DynamoDB Local's records in batches of different sizes, the third one while the
	// broker is stopped.
	var batches [][]streamtypes.Record
	for i, size := 0, 1; i < len(records); size += 4 {
		end := min(i+size, len(records))
		batches = append(batches, records[i:end])
		i = end
	}
	var aborted []streamtypes.Record // the batch whose first transaction was aborted
	if len(batches) < 5 {
		t.Fatalf("only %d batches from %d records", len(batches), len(records))
	}
	for i, b := range batches {
		event := lambdaEvent(t, arn, b)
		if i == 2 {
			broker.stop()
			failed := fn.invoke(ctx, event)
			want := make([]string, len(b))
			for j, r := range b {
				want[j] = aws.ToString(r.Dynamodb.SequenceNumber)
			}
			if !slices.Equal(failed, want) {
				t.Fatalf("broker stopped, batch %d: reported %v, want every record of the batch %v", i, failed, want)
			}
			t.Logf("broker stopped: batch %d of %d records reported from sequence number %s", i, len(b), failed[0])
			broker.start()
		}
		if i == 3 {
			// The records reach the broker, the commit's connection drops.
			broker.dropCommit.Store(true)
			failed := fn.invoke(ctx, event)
			broker.dropCommit.Store(false)
			if broker.commitsDropped.Load() == 0 {
				t.Fatal("the function never asked to commit batch 3")
			}
			if len(failed) != len(b) || failed[0] != aws.ToString(b[0].Dynamodb.SequenceNumber) {
				t.Fatalf("commit dropped, batch %d: reported %v, want all %d records from %s", i, failed, len(b), aws.ToString(b[0].Dynamodb.SequenceNumber))
			}
			t.Logf("%d commit requests dropped: batch %d of %d records reported from sequence number %s",
				broker.commitsDropped.Load(), i, len(b), failed[0])
			aborted = b
		}
		// As the event source mapping does: retry from the first reported record until
		// nothing is reported.
		for attempt := 1; ; attempt++ {
			failed := fn.invoke(ctx, event)
			if len(failed) == 0 {
				if attempt > 1 || i == 2 {
					t.Logf("batch %d written on attempt %d after the broker came back", i, attempt)
				}
				break
			}
			if attempt == 10 {
				t.Fatalf("batch %d still reports %v after %d attempts", i, failed, attempt)
			}
			from := slices.IndexFunc(b, func(r streamtypes.Record) bool { return aws.ToString(r.Dynamodb.SequenceNumber) == failed[0] })
			if from < 0 {
				t.Fatalf("batch %d: reported sequence number %s is not in the batch", i, failed[0])
			}
			b = b[from:]
			event = lambdaEvent(t, arn, b)
		}
	}

	// The function's topic, as a read_committed reader sees it.
	got := lambdaReadCommitted(ctx, t, broker.addrs(), lambdaTopic)
	byID := map[string][]*kgo.Record{}
	for _, r := range got {
		id := lambdaEventID(t, r.Value)
		byID[id] = append(byID[id], r)
	}
	wantIDs := len(records) + len(sampleEvent.Records)
	if len(got) != wantIDs || len(byID) != wantIDs {
		t.Errorf("the function's topic holds %d records with %d eventIDs, want %d (%d from DynamoDB Local, %d of the sample)",
			len(got), len(byID), wantIDs, len(records), len(sampleEvent.Records))
	}
	for _, raw := range sampleEvent.Records {
		_, want, err := ddblambda.Normalize(raw)
		if err != nil {
			t.Fatal(err)
		}
		id := lambdaEventID(t, want)
		if rs := byID[id]; len(rs) != 1 || !bytes.Equal(rs[0].Value, want) {
			t.Errorf("sample record %s: %d copies in the topic, want one with value %s", id, len(rs), want)
		}
	}

	// The aborted transaction's copy of batch 3 is in the log; only a read_committed
	// reader skips it.
	all := map[string]int{}
	for _, r := range lambdaRead(ctx, t, broker.addrs(), lambdaTopic, kgo.ReadUncommitted()) {
		all[lambdaEventID(t, r.Value)]++
	}
	for _, r := range aborted {
		// At least: a retry that failed again aborted another copy.
		if id := aws.ToString(r.EventID); all[id] < 2 {
			t.Errorf("eventID %s of the batch whose commit dropped: %d copies in the log, want an aborted and a committed one", id, all[id])
		}
	}

	// The bridge's topic: wait until it holds every record.
	bridged := lambdaBridged(ctx, t, p, records)
	same := 0
	for _, r := range records {
		id := aws.ToString(r.EventID)
		b := bridged[id]
		rs := byID[id]
		switch {
		case len(rs) != 1:
			t.Errorf("eventID %s: %d times in the function's topic, want once", id, len(rs))
		case !bytes.Equal(rs[0].Value, b.Value):
			t.Errorf("eventID %s: value\nlambda %s\nbridge %s", id, rs[0].Value, b.Value)
		case !bytes.Equal(rs[0].Key, b.Key) || rs[0].Partition != b.Partition:
			t.Errorf("eventID %s: key %s in partition %d, the bridge's %s in partition %d", id, rs[0].Key, rs[0].Partition, b.Key, b.Partition)
		default:
			same++
		}
	}
	t.Logf("%d of %d DynamoDB Local records: same key, partition and value bytes as the bridge's, each once; run time %s",
		same, len(records), time.Since(began).Round(time.Millisecond))
}

// lambdaRIEBinary is aws-lambda-rie: $STREAMHUB_LAMBDA_RIE, or what `scripts/peers.sh
// rie` built (pinned, cached outside the work tree).
func lambdaRIEBinary(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("STREAMHUB_LAMBDA_RIE"); p != "" {
		return p
	}
	script, err := filepath.Abs(filepath.Join("..", "..", "scripts", "peers.sh"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("bash", script, "rie")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		unavailable(t, "AWS Lambda Runtime Interface Emulator", "scripts/peers.sh rie: %v\n%s", err, stderr.String())
	}
	bin := strings.TrimSpace(string(out))
	if !strings.Contains(bin, lambdaRIEVersion) {
		t.Fatalf("scripts/peers.sh rie gave %s, not version %s: keep the pins equal", bin, lambdaRIEVersion)
	}
	if _, err := os.Stat(bin); err != nil {
		unavailable(t, "AWS Lambda Runtime Interface Emulator", "%v", err)
	}
	return bin
}

func lambdaCreateTable(ctx context.Context, t *testing.T, db *ddb.Client) string {
	t.Helper()
	_, err := db.CreateTable(ctx, &ddb.CreateTableInput{
		TableName: aws.String(lambdaTable),
		AttributeDefinitions: []ddbtypes.AttributeDefinition{
			{AttributeName: aws.String("Id"), AttributeType: ddbtypes.ScalarAttributeTypeN},
		},
		KeySchema:   []ddbtypes.KeySchemaElement{{AttributeName: aws.String("Id"), KeyType: ddbtypes.KeyTypeHash}},
		BillingMode: ddbtypes.BillingModePayPerRequest,
		StreamSpecification: &ddbtypes.StreamSpecification{
			StreamEnabled: aws.Bool(true), StreamViewType: ddbtypes.StreamViewTypeNewAndOldImages,
		},
	})
	if err != nil {
		t.Fatalf("create table %s: %v", lambdaTable, err)
	}
	out, err := db.DescribeTable(ctx, &ddb.DescribeTableInput{TableName: aws.String(lambdaTable)})
	if err != nil {
		t.Fatal(err)
	}
	if out.Table.LatestStreamArn == nil {
		t.Fatalf("table %s has no stream after CreateTable", lambdaTable)
	}
	return *out.Table.LatestStreamArn
}

// lambdaWrite makes inserts, updates, deletes and a re-creation, with every attribute
// type, and returns how many stream records they make (every write changes its item).
func lambdaWrite(ctx context.Context, t *testing.T, db *ddb.Client) int {
	t.Helper()
	num := func(v string) ddbtypes.AttributeValue { return &ddbtypes.AttributeValueMemberN{Value: v} }
	str := func(v string) ddbtypes.AttributeValue { return &ddbtypes.AttributeValueMemberS{Value: v} }
	key := func(i int) map[string]ddbtypes.AttributeValue {
		return map[string]ddbtypes.AttributeValue{"Id": num(strconv.Itoa(i))}
	}
	item := func(i int) map[string]ddbtypes.AttributeValue {
		m := key(i)
		m["s"] = str(fmt.Sprintf("item %d <&> \u2028 é", i))
		m["n38"] = num("12345678901234567890123456789012345678")
		m["frac"] = num("-0.12345678901234567890123456789012345678")
		m["big"] = num("9.9999999999999999999999999999999999999E+125")
		m["tiny"] = num("1E-130")
		m["b"] = &ddbtypes.AttributeValueMemberB{Value: []byte{0, byte(i), 0xff}}
		m["ok"] = &ddbtypes.AttributeValueMemberBOOL{Value: i%2 == 0}
		m["nothing"] = &ddbtypes.AttributeValueMemberNULL{Value: true}
		m["ss"] = &ddbtypes.AttributeValueMemberSS{Value: []string{"x", "y", fmt.Sprint(i)}}
		m["ns"] = &ddbtypes.AttributeValueMemberNS{Value: []string{"1", "-2.5", fmt.Sprint(100 + i)}}
		m["bs"] = &ddbtypes.AttributeValueMemberBS{Value: [][]byte{{1}, {2, byte(i)}}}
		m["l"] = &ddbtypes.AttributeValueMemberL{Value: []ddbtypes.AttributeValue{str("a"), num("1.500"), &ddbtypes.AttributeValueMemberNULL{Value: true}}}
		m["m"] = &ddbtypes.AttributeValueMemberM{Value: map[string]ddbtypes.AttributeValue{
			"nested": &ddbtypes.AttributeValueMemberM{Value: map[string]ddbtypes.AttributeValue{"deep": num(fmt.Sprint(i))}},
			"list":   &ddbtypes.AttributeValueMemberL{Value: []ddbtypes.AttributeValue{&ddbtypes.AttributeValueMemberBOOL{Value: true}}},
		}}
		return m
	}
	writes := 0
	must := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		writes++
	}
	const items = 24
	for i := 1; i <= items; i++ {
		_, err := db.PutItem(ctx, &ddb.PutItemInput{TableName: aws.String(lambdaTable), Item: item(i)})
		must("put", err)
	}
	for i := 1; i <= items; i += 3 {
		_, err := db.UpdateItem(ctx, &ddb.UpdateItemInput{
			TableName: aws.String(lambdaTable), Key: key(i),
			UpdateExpression:          aws.String("SET n38 = n38 + :one, s = :s ADD ss :more REMOVE tiny"),
			ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{":one": num("1"), ":s": str("updated"), ":more": &ddbtypes.AttributeValueMemberSS{Value: []string{"z"}}},
		})
		must("update", err)
	}
	for i := 2; i <= items; i += 5 {
		_, err := db.DeleteItem(ctx, &ddb.DeleteItemInput{TableName: aws.String(lambdaTable), Key: key(i)})
		must("delete", err)
	}
	// Deleted and created again.
	_, err := db.PutItem(ctx, &ddb.PutItemInput{TableName: aws.String(lambdaTable), Item: item(2)})
	must("re-create", err)
	return writes
}

// lambdaStreamRecords reads every shard of the stream from TRIM_HORIZON through the real
// SDK until it has want records.
func lambdaStreamRecords(ctx context.Context, t *testing.T, api *dynamodbstreams.Client, arn string, want int) []streamtypes.Record {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		recs, err := lambdaReadStream(ctx, api, arn)
		if err != nil {
			t.Fatalf("read the stream: %v", err)
		}
		if len(recs) >= want {
			if len(recs) > want {
				t.Fatalf("the stream holds %d records for %d writes", len(recs), want)
			}
			return recs
		}
		if time.Now().After(deadline) {
			t.Fatalf("the stream holds %d records for %d writes after 2 minutes", len(recs), want)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func lambdaReadStream(ctx context.Context, api *dynamodbstreams.Client, arn string) ([]streamtypes.Record, error) {
	var shards []streamtypes.Shard
	var start *string
	for {
		out, err := api.DescribeStream(ctx, &dynamodbstreams.DescribeStreamInput{StreamArn: aws.String(arn), ExclusiveStartShardId: start})
		if err != nil {
			return nil, err
		}
		shards = append(shards, out.StreamDescription.Shards...)
		if out.StreamDescription.LastEvaluatedShardId == nil {
			break
		}
		start = out.StreamDescription.LastEvaluatedShardId
	}
	var recs []streamtypes.Record
	for _, sh := range shards {
		it, err := api.GetShardIterator(ctx, &dynamodbstreams.GetShardIteratorInput{StreamArn: aws.String(arn),
			ShardId: sh.ShardId, ShardIteratorType: streamtypes.ShardIteratorTypeTrimHorizon})
		if err != nil {
			return nil, err
		}
		for iter := it.ShardIterator; iter != nil; {
			out, err := api.GetRecords(ctx, &dynamodbstreams.GetRecordsInput{ShardIterator: iter})
			if err != nil {
				return nil, err
			}
			recs = append(recs, out.Records...)
			if len(out.Records) == 0 {
				break
			}
			iter = out.NextShardIterator
		}
	}
	return recs, nil
}

// lambdaEvent is the event an event source mapping sends for these records: each record
// as GetRecords gave it, with the stream ARN as eventSourceARN and
// ApproximateCreationDateTime in epoch seconds, spelled as Lambda's Java serializer
// spells a double (1.73253E9).
func lambdaEvent(t *testing.T, arn string, recs []streamtypes.Record) []byte {
	t.Helper()
	out := make([]map[string]any, len(recs))
	for i, r := range recs {
		if src := aws.ToString(r.EventSource); src != "aws:dynamodb" {
			t.Fatalf("record %s: eventSource %q", aws.ToString(r.EventID), src)
		}
		d := r.Dynamodb
		dyn := map[string]any{
			"Keys":           lambdaImage(t, d.Keys),
			"SequenceNumber": aws.ToString(d.SequenceNumber),
			"SizeBytes":      aws.ToInt64(d.SizeBytes),
			"StreamViewType": string(d.StreamViewType),
		}
		if d.ApproximateCreationDateTime != nil {
			dyn["ApproximateCreationDateTime"] = json.Number(javaDouble(float64(d.ApproximateCreationDateTime.UnixMilli()) / 1000))
		}
		if d.NewImage != nil {
			dyn["NewImage"] = lambdaImage(t, d.NewImage)
		}
		if d.OldImage != nil {
			dyn["OldImage"] = lambdaImage(t, d.OldImage)
		}
		rec := map[string]any{
			"eventID":        aws.ToString(r.EventID),
			"eventName":      string(r.EventName),
			"eventVersion":   aws.ToString(r.EventVersion),
			"eventSource":    "aws:dynamodb",
			"awsRegion":      aws.ToString(r.AwsRegion),
			"dynamodb":       dyn,
			"eventSourceARN": arn,
		}
		if u := r.UserIdentity; u != nil {
			rec["userIdentity"] = map[string]string{"type": aws.ToString(u.Type), "principalId": aws.ToString(u.PrincipalId)}
		}
		out[i] = rec
	}
	b, err := json.Marshal(map[string]any{"Records": out})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// javaDouble spells v as Java's Double.toString does for values of 10⁷ and more.
func javaDouble(v float64) string {
	mant, exp, _ := strings.Cut(strconv.FormatFloat(v, 'E', -1, 64), "E")
	if !strings.Contains(mant, ".") {
		mant += ".0"
	}
	neg := strings.HasPrefix(exp, "-")
	exp = strings.TrimLeft(strings.TrimLeft(exp, "+-"), "0")
	if exp == "" {
		exp = "0"
	}
	if neg {
		exp = "-" + exp
	}
	return mant + "E" + exp
}

func lambdaImage(t *testing.T, m map[string]streamtypes.AttributeValue) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = lambdaAttr(t, v)
	}
	return out
}

// lambdaAttr is the AttributeValue JSON of DynamoDB's wire format, which Lambda passes on.
func lambdaAttr(t *testing.T, v streamtypes.AttributeValue) map[string]any {
	b64 := base64.StdEncoding.EncodeToString
	switch v := v.(type) {
	case *streamtypes.AttributeValueMemberS:
		return map[string]any{"S": v.Value}
	case *streamtypes.AttributeValueMemberN:
		return map[string]any{"N": v.Value}
	case *streamtypes.AttributeValueMemberB:
		return map[string]any{"B": b64(v.Value)}
	case *streamtypes.AttributeValueMemberBOOL:
		return map[string]any{"BOOL": v.Value}
	case *streamtypes.AttributeValueMemberNULL:
		return map[string]any{"NULL": v.Value}
	case *streamtypes.AttributeValueMemberSS:
		return map[string]any{"SS": v.Value}
	case *streamtypes.AttributeValueMemberNS:
		return map[string]any{"NS": v.Value}
	case *streamtypes.AttributeValueMemberBS:
		out := make([]string, len(v.Value))
		for i, b := range v.Value {
			out[i] = b64(b)
		}
		return map[string]any{"BS": out}
	case *streamtypes.AttributeValueMemberL:
		out := make([]any, len(v.Value))
		for i, e := range v.Value {
			out[i] = lambdaAttr(t, e)
		}
		return map[string]any{"L": out}
	case *streamtypes.AttributeValueMemberM:
		return map[string]any{"M": lambdaImage(t, v.Value)}
	}
	t.Fatalf("attribute value of type %T", v)
	return nil
}

func lambdaBridgeConfig(t *testing.T) *topology.Config {
	t.Helper()
	yaml := fmt.Sprintf(`env: interop
kafka:
  brokers: embedded
  embedded_listen: 127.0.0.1:0
tables:
  - name: %s
    keys: [Id]
    partitions: %d
sources:
  - type: dynamodb
    table: %s
    poll_interval: 100ms
bridge:
  leases: 1
  discovery_interval: 500ms
  max_backoff: 1s
`, lambdaTable, lambdaPartitions, lambdaTable)
	cfg, err := topology.Parse("interop-lambda.yaml", []byte(yaml))
	if err != nil {
		t.Fatalf("%v\n%s", err, yaml)
	}
	if got := cfg.Tables[0].Topic; got != lambdaBridgeTopic {
		t.Fatalf("the bridge's topic is %s, the test reads %s", got, lambdaBridgeTopic)
	}
	return cfg
}

// lambdaBridged reads the bridge's topic until it holds every record, and returns its
// records by eventID.
func lambdaBridged(ctx context.Context, t *testing.T, p *pipeline.Pipeline, recs []streamtypes.Record) map[string]*kgo.Record {
	t.Helper()
	cl, err := p.Conn().Client(kgo.ConsumeTopics(lambdaBridgeTopic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	out := map[string]*kgo.Record{}
	missing := func() int {
		n := 0
		for _, r := range recs {
			if out[aws.ToString(r.EventID)] == nil {
				n++
			}
		}
		return n
	}
	pctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	for missing() > 0 {
		fs := cl.PollFetches(pctx)
		if pctx.Err() != nil {
			t.Fatalf("the bridge's topic lacks %d of %d records", missing(), len(recs))
		}
		fs.EachError(func(_ string, _ int32, err error) { t.Fatalf("fetch %s: %v", lambdaBridgeTopic, err) })
		fs.EachRecord(func(r *kgo.Record) {
			id := lambdaEventID(t, r.Value)
			if out[id] != nil {
				t.Errorf("eventID %s twice in the bridge's topic", id)
			}
			out[id] = r
		})
	}
	return out
}

func lambdaEventID(t *testing.T, value []byte) string {
	t.Helper()
	var v struct {
		EventID string `json:"eventID"`
	}
	if err := json.Unmarshal(value, &v); err != nil || v.EventID == "" {
		t.Fatalf("record without eventID (%v): %s", err, value)
	}
	return v.EventID
}

const lambdaSentinelHeader = "streamhub.test.sentinel"

// lambdaReadCommitted reads every committed record of topic. Transactions leave control
// and aborted records behind, so end offsets do not count records: a sentinel produced
// into each partition marks the end, and a read_committed consumer that has seen every
// sentinel has seen everything committed before it and nothing aborted.
func lambdaReadCommitted(ctx context.Context, t *testing.T, brokers []string, topic string) []*kgo.Record {
	t.Helper()
	return lambdaRead(ctx, t, brokers, topic, kgo.ReadCommitted())
}

// lambdaRead reads every record of topic a reader of that isolation level sees.
func lambdaRead(ctx context.Context, t *testing.T, brokers []string, topic string, level kgo.IsolationLevel) []*kgo.Record {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchIsolationLevel(level),
		kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	rctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	ends, err := kadm.NewClient(cl).ListEndOffsets(rctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	var sentinels []*kgo.Record
	ends.Each(func(o kadm.ListedOffset) {
		sentinels = append(sentinels, &kgo.Record{Topic: topic, Partition: o.Partition,
			Headers: []kgo.RecordHeader{{Key: lambdaSentinelHeader}}})
	})
	if err := cl.ProduceSync(rctx, sentinels...).FirstErr(); err != nil {
		t.Fatalf("sentinels into %s: %v", topic, err)
	}
	var out []*kgo.Record
	for seen := 0; seen < len(sentinels); {
		fs := cl.PollFetches(rctx)
		if rctx.Err() != nil {
			t.Fatalf("read %s: %d of %d partitions read to their end", topic, seen, len(sentinels))
		}
		fs.EachError(func(_ string, _ int32, err error) { t.Fatalf("fetch %s: %v", topic, err) })
		fs.EachRecord(func(r *kgo.Record) {
			if len(r.Headers) == 1 && r.Headers[0].Key == lambdaSentinelHeader {
				seen++
				return
			}
			out = append(out, r)
		})
	}
	return out
}

// lambdaBroker is the function's Kafka broker, which the test stops and starts again.
type lambdaBroker struct {
	t      *testing.T
	dir    string
	listen string
	e      *kafka.Embedded
	// dropCommit makes the broker close the connection of every commit request, without
	// committing: the client retries a commit whose connection broke, so one drop is
	// not enough to fail it.
	dropCommit     atomic.Bool
	commitsDropped atomic.Int32
}

func (b *lambdaBroker) start() {
	b.t.Helper()
	var err error
	// The address was just given up by the broker's previous life; the kernel may still
	// hold it for a moment.
	for range 100 {
		if b.e, err = kafka.StartEmbedded(b.listen, kfake.DataDir(b.dir), kfake.SeedTopics(lambdaPartitions, lambdaTopic)); err == nil {
			c := b.e.Cluster()
			c.ControlKey(int16(kmsg.EndTxn), func(req kmsg.Request) (kmsg.Response, error, bool) {
				c.KeepControl()
				if req.(*kmsg.EndTxnRequest).Commit && b.dropCommit.Load() {
					// The connection closes: the client cannot know whether it committed.
					b.commitsDropped.Add(1)
					return nil, errors.New("interop: connection dropped at the commit"), true
				}
				return nil, nil, false
			})
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	b.t.Fatalf("start the function's broker on %s: %v", b.listen, err)
}

func (b *lambdaBroker) stop() {
	if b.e != nil {
		b.e.Close()
		b.e = nil
	}
}

func (b *lambdaBroker) addrs() []string { return b.e.Addrs() }

// lambdaFunction is streamhub-lambda running under the emulator.
type lambdaFunction struct {
	t   *testing.T
	url string
	out *syncBuffer
}

// startLambdaFunction builds cmd/streamhub-lambda and runs it under aws-lambda-rie,
// writing to the broker at brokers.
func startLambdaFunction(ctx context.Context, t *testing.T, rie, brokers string) *lambdaFunction {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "bootstrap")
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, "../../cmd/streamhub-lambda")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	invokeAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	apiAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	cmd := exec.Command(rie, "--runtime-interface-emulator-address", invokeAddr, "--runtime-api-address", apiAddr, bin)
	cmd.Env = append(os.Environ(),
		ddblambda.EnvBrokers+"="+brokers,
		ddblambda.EnvTopic+"="+lambdaTopic,
		ddblambda.EnvKeys+"=Id",
		// Short, so that invocations while the broker is stopped end soon.
		ddblambda.EnvProduceTimeout+"=5s",
		"AWS_LAMBDA_FUNCTION_TIMEOUT=120",
	)
	dieWithParent(cmd)
	fn := &lambdaFunction{t: t, url: "http://" + invokeAddr + "/2015-03-31/functions/function/invocations", out: &syncBuffer{}}
	cmd.Stdout, cmd.Stderr = fn.out, fn.out
	if err := cmd.Start(); err != nil {
		unavailable(t, "AWS Lambda Runtime Interface Emulator", "start %s: %v", rie, err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
		if t.Failed() || os.Getenv("STREAMHUB_TEST_DEBUG") != "" {
			t.Logf("aws-lambda-rie and streamhub-lambda output:\n%s", fn.out.String())
		}
	})
	return fn
}

// invoke posts an event to the emulator (waiting for it to listen) and returns the
// reported ItemIdentifiers, in order.
func (f *lambdaFunction) invoke(ctx context.Context, event []byte) []string {
	f.t.Helper()
	ictx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	var body []byte
	for {
		req, _ := http.NewRequestWithContext(ictx, http.MethodPost, f.url, bytes.NewReader(event))
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			body, err = io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil {
				f.t.Fatalf("invoke: %v", err)
			}
			break
		}
		select {
		case <-ictx.Done():
			f.t.Fatalf("invoke: %v", err)
		case <-time.After(100 * time.Millisecond):
		}
	}
	var resp struct {
		BatchItemFailures *[]struct {
			ItemIdentifier string `json:"itemIdentifier"`
		} `json:"batchItemFailures"`
	}
	if err := json.Unmarshal(body, &resp); err != nil || resp.BatchItemFailures == nil {
		f.t.Fatalf("the function answered %s, want a DynamoDBEventResponse", body)
	}
	out := []string{}
	for _, f := range *resp.BatchItemFailures {
		out = append(out, f.ItemIdentifier)
	}
	return out
}
