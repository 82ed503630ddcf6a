package ddbtest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams/types"

	"github.com/streamhub/streamhub/state"
)

func TestDescribeTable(t *testing.T) {
	clock := newClock()
	s := newServer(t, WithClock(clock.Now))
	arn := createTable(t, s, TableSpec{Name: "orders", HashKey: "customer", RangeKey: "order", RangeKeyType: "N", ViewType: "NEW_IMAGE"})
	for i := range 3 {
		must(s.PutItem("orders", Item{"customer": state.StringValue("c"), "order": state.NumberValue(strconv.Itoa(i))}))
	}
	c := tablesClient(s, testKeyID)
	ctx := context.Background()
	out, err := c.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String("orders")})
	if err != nil {
		t.Fatal(err)
	}
	tb := out.Table
	if *tb.LatestStreamArn != arn || *tb.LatestStreamLabel != "2026-11-25T09:39:42.123" || *tb.TableName != "orders" ||
		*tb.TableArn != "arn:aws:dynamodb:us-east-1:123456789012:table/orders" || tb.TableStatus != ddbtypes.TableStatusActive ||
		*tb.ItemCount != 3 || !tb.CreationDateTime.Equal(clock.Now()) {
		t.Errorf("table %+v", tb)
	}
	if sp := tb.StreamSpecification; sp == nil || !*sp.StreamEnabled || sp.StreamViewType != ddbtypes.StreamViewTypeNewImage {
		t.Errorf("stream specification %+v", sp)
	}
	if len(tb.KeySchema) != 2 || *tb.KeySchema[0].AttributeName != "customer" || tb.KeySchema[0].KeyType != ddbtypes.KeyTypeHash ||
		*tb.KeySchema[1].AttributeName != "order" || tb.KeySchema[1].KeyType != ddbtypes.KeyTypeRange {
		t.Errorf("key schema %+v", tb.KeySchema)
	}
	if len(tb.AttributeDefinitions) != 2 || tb.AttributeDefinitions[1].AttributeType != ddbtypes.ScalarAttributeTypeN {
		t.Errorf("attribute definitions %+v", tb.AttributeDefinitions)
	}
	var nf *ddbtypes.ResourceNotFoundException
	if _, err := c.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String("nope")}); !errors.As(err, &nf) || httpStatus(err) != 400 {
		t.Errorf("unknown table: %v", err)
	}
	createTable(t, s, TableSpec{Name: "accounts", HashKey: "id"})
	lt, err := c.ListTables(ctx, &dynamodb.ListTablesInput{})
	if err != nil || !slices.Equal(lt.TableNames, []string{"accounts", "orders"}) {
		t.Errorf("ListTables %v %v", lt, err)
	}
	lt, err = c.ListTables(ctx, &dynamodb.ListTablesInput{Limit: aws.Int32(1), ExclusiveStartTableName: aws.String("accounts")})
	if err != nil || !slices.Equal(lt.TableNames, []string{"orders"}) {
		t.Errorf("ListTables page %v %v", lt, err)
	}
}

// TestDataPlaneWritesEmitRecords writes through the SDK's DynamoDB client and reads the
// stream through the SDK's Streams client.
func TestDataPlaneWritesEmitRecords(t *testing.T) {
	s := newServer(t)
	arn := createTable(t, s, TableSpec{Name: "users", HashKey: "pk", RangeKey: "sk"})
	c := tablesClient(s, testKeyID)
	ctx := context.Background()
	k := map[string]ddbtypes.AttributeValue{"pk": &ddbtypes.AttributeValueMemberS{Value: "u1"}, "sk": &ddbtypes.AttributeValueMemberS{Value: "profile"}}
	item := func(name string) map[string]ddbtypes.AttributeValue {
		return map[string]ddbtypes.AttributeValue{
			"pk": k["pk"], "sk": k["sk"], "name": &ddbtypes.AttributeValueMemberS{Value: name},
			"tags": &ddbtypes.AttributeValueMemberSS{Value: []string{"a", "b"}}, "n": &ddbtypes.AttributeValueMemberN{Value: "1.5"},
			"m": &ddbtypes.AttributeValueMemberM{Value: map[string]ddbtypes.AttributeValue{"x": &ddbtypes.AttributeValueMemberNULL{Value: true}}},
		}
	}
	if out, err := c.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String("users"), Item: item("Ann"), ReturnValues: ddbtypes.ReturnValueAllOld}); err != nil || out.Attributes != nil {
		t.Fatalf("insert: %v %v", out, err)
	}
	out, err := c.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String("users"), Item: item("Bob"), ReturnValues: ddbtypes.ReturnValueAllOld})
	if err != nil || out.Attributes["name"].(*ddbtypes.AttributeValueMemberS).Value != "Ann" {
		t.Fatalf("update ALL_OLD: %v %v", out, err)
	}
	got, err := c.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String("users"), Key: k})
	if err != nil || got.Item["name"].(*ddbtypes.AttributeValueMemberS).Value != "Bob" || len(got.Item) != 6 {
		t.Fatalf("GetItem %v %v", got, err)
	}
	got, err = c.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String("users"), Key: k, AttributesToGet: []string{"name", "absent"}})
	if err != nil || len(got.Item) != 1 {
		t.Fatalf("GetItem AttributesToGet %v %v", got, err)
	}
	if it, ok := s.Item("users", key2("u1", "profile")); !ok || it["name"].S != "Bob" || it["n"].N != "1.5" || !slices.Equal(it["tags"].SS, []string{"a", "b"}) {
		t.Errorf("Item %v %v", it, ok)
	}
	del, err := c.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String("users"), Key: k, ReturnValues: ddbtypes.ReturnValueAllOld})
	if err != nil || del.Attributes["name"].(*ddbtypes.AttributeValueMemberS).Value != "Bob" {
		t.Fatalf("DeleteItem %v %v", del, err)
	}
	// Deleting an absent item succeeds and writes no record.
	if del, err := c.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String("users"), Key: k}); err != nil || del.Attributes != nil {
		t.Fatalf("DeleteItem absent %v %v", del, err)
	}
	if got, err := c.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String("users"), Key: k}); err != nil || got.Item != nil {
		t.Fatalf("GetItem absent %v %v", got, err)
	}
	if n := len(s.Items("users")); n != 0 {
		t.Errorf("%d items left", n)
	}

	recs := readShard(t, streamsClient(s), arn, s.Shards("users")[0].ID)
	var names []string
	for _, r := range recs {
		names = append(names, string(r.EventName))
	}
	if !slices.Equal(names, []string{"INSERT", "MODIFY", "REMOVE"}) {
		t.Fatalf("records %v", names)
	}
	if r := recs[1].Dynamodb; r.OldImage["name"].(*types.AttributeValueMemberS).Value != "Ann" || r.NewImage["name"].(*types.AttributeValueMemberS).Value != "Bob" ||
		len(r.Keys) != 2 || r.NewImage["m"].(*types.AttributeValueMemberM).Value["x"].(*types.AttributeValueMemberNULL).Value != true {
		t.Errorf("MODIFY record %+v", r)
	}
	if recs[2].UserIdentity != nil || recs[2].Dynamodb.NewImage != nil {
		t.Errorf("REMOVE record %+v", recs[2])
	}

	var ve *ddbtypes.ResourceNotFoundException
	for _, tc := range []struct {
		name string
		call func() error
		code string
	}{
		{"condition", func() error {
			_, err := c.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String("users"), Item: item("x"), ConditionExpression: aws.String("attribute_not_exists(pk)")})
			return err
		}, "ValidationException"},
		{"delete condition", func() error {
			_, err := c.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String("users"), Key: k, ConditionExpression: aws.String("attribute_exists(pk)")})
			return err
		}, "ValidationException"},
		{"return new", func() error {
			_, err := c.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String("users"), Item: item("x"), ReturnValues: ddbtypes.ReturnValueAllNew})
			return err
		}, "ValidationException"},
		{"missing range key", func() error {
			_, err := c.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String("users"), Item: map[string]ddbtypes.AttributeValue{"pk": k["pk"]}})
			return err
		}, "ValidationException"},
		{"key type", func() error {
			_, err := c.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String("users"), Item: map[string]ddbtypes.AttributeValue{"pk": &ddbtypes.AttributeValueMemberN{Value: "1"}, "sk": k["sk"]}})
			return err
		}, "ValidationException"},
		{"key with extra attribute", func() error {
			_, err := c.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String("users"), Key: item("x")})
			return err
		}, "ValidationException"},
		{"projection", func() error {
			_, err := c.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String("users"), Key: k, ProjectionExpression: aws.String("pk")})
			return err
		}, "ValidationException"},
		{"unknown table", func() error {
			_, err := c.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String("nope"), Item: item("x")})
			if err != nil && !errors.As(err, &ve) {
				return fmt.Errorf("%T is not *ddbtypes.ResourceNotFoundException", err)
			}
			return err
		}, "ResourceNotFoundException"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.call(); errCode(err) != tc.code || httpStatus(err) != 400 {
				t.Errorf("error %v, want %s", err, tc.code)
			}
		})
	}
	if n := s.Stats().Records; n != 3 {
		t.Errorf("%d records after failed writes", n)
	}
}

func TestGoAPI(t *testing.T) {
	s := newServer(t)
	createTable(t, s, TableSpec{Name: "users", HashKey: "pk", RangeKey: "n", RangeKeyType: "N"})
	createTable(t, s, TableSpec{Name: "blobs", HashKey: "id", HashKeyType: "B", ViewType: "KEYS_ONLY"})
	for _, tc := range []struct {
		name  string
		table string
		item  Item
	}{
		{"unknown table", "nope", Item{"pk": state.StringValue("a"), "n": state.NumberValue("1")}},
		{"missing hash key", "users", Item{"n": state.NumberValue("1")}},
		{"missing range key", "users", Item{"pk": state.StringValue("a")}},
		{"hash key type", "users", Item{"pk": state.NumberValue("1"), "n": state.NumberValue("1")}},
		{"range key type", "users", Item{"pk": state.StringValue("a"), "n": state.StringValue("1")}},
		{"empty string key", "users", Item{"pk": state.StringValue(""), "n": state.NumberValue("1")}},
		{"bad number key", "users", Item{"pk": state.StringValue("a"), "n": state.NumberValue("1x")}},
		{"bad number", "users", Item{"pk": state.StringValue("a"), "n": state.NumberValue("1"), "x": state.NumberValue("--1")}},
		{"empty set", "users", Item{"pk": state.StringValue("a"), "n": state.NumberValue("1"), "x": state.StringSetValue()}},
		{"duplicate set member", "users", Item{"pk": state.StringValue("a"), "n": state.NumberValue("1"), "x": state.NumberSetValue("1", "1.0")}},
		{"unknown type", "users", Item{"pk": state.StringValue("a"), "n": state.NumberValue("1"), "x": {Type: "X"}}},
		{"empty binary key", "blobs", Item{"id": state.BinaryValue(nil)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := s.PutItem(tc.table, tc.item); err == nil {
				t.Error("no error")
			}
		})
	}
	if n := s.Stats().Records; n != 0 {
		t.Fatalf("%d records from failed writes", n)
	}

	// Numbers are keys by value: 1, 1.0 and 10e-1 are one item.
	ch1 := must(s.PutItem("users", Item{"pk": state.StringValue("a"), "n": state.NumberValue("1"), "v": state.StringValue("x")}))
	ch2 := must(s.PutItem("users", Item{"pk": state.StringValue("a"), "n": state.NumberValue("1.0"), "v": state.StringValue("y")}))
	if ch1.EventName != "INSERT" || ch2.EventName != "MODIFY" || ch1.ShardID != ch2.ShardID {
		t.Errorf("changes %+v %+v", ch1, ch2)
	}
	// The caller may reuse its item: the server keeps a copy.
	item := Item{"pk": state.StringValue("b"), "n": state.NumberValue("2"), "l": state.ListValue(state.StringValue("orig"))}
	must(s.PutItem("users", item))
	item["l"].L[0] = state.StringValue("changed")
	if got, ok := s.Item("users", Item{"pk": state.StringValue("b"), "n": state.NumberValue("2")}); !ok || got["l"].L[0].S != "orig" {
		t.Errorf("stored item changed with the caller's: %v", got)
	}
	if _, ok := s.Item("users", Item{"pk": state.StringValue("a"), "n": state.NumberValue("10e-1"), "v": state.StringValue("y")}); ok {
		t.Error("Item with a non-key attribute found an item")
	}
	if got, ok := s.Item("users", Item{"pk": state.StringValue("a"), "n": state.NumberValue("10e-1")}); !ok || got["v"].S != "y" {
		t.Errorf("Item by an equal number: %v %v", got, ok)
	}
	if _, ok, err := s.DeleteItem("users", Item{"pk": state.StringValue("zz"), "n": state.NumberValue("1")}); ok || err != nil {
		t.Errorf("delete absent: %v %v", ok, err)
	}
	if _, ok, err := s.ExpireItem("users", Item{"pk": state.StringValue("zz"), "n": state.NumberValue("1")}); ok || err != nil {
		t.Errorf("expire absent: %v %v", ok, err)
	}
	if _, _, err := s.DeleteItem("users", Item{"pk": state.StringValue("a")}); err == nil {
		t.Error("delete with half a key: no error")
	}
	if _, _, err := s.DeleteItem("nope", Item{"pk": state.StringValue("a")}); err == nil {
		t.Error("delete in an unknown table: no error")
	}
	ch, ok, err := s.ExpireItem("users", Item{"pk": state.StringValue("a"), "n": state.NumberValue("1")})
	if err != nil || !ok || ch.EventName != "REMOVE" || !regexp.MustCompile(`"userIdentity":\{"type":"Service","principalId":"dynamodb.amazonaws.com"\}`).Match(ch.Record) {
		t.Errorf("expire: %+v %v %v", ch, ok, err)
	}
	if items := s.Items("users"); len(items) != 1 || items[0]["pk"].S != "b" {
		t.Errorf("items %v", items)
	}
	// KEYS_ONLY with a binary key.
	ch = must(s.PutItem("blobs", Item{"id": state.BinaryValue([]byte{1, 2}), "data": state.StringValue("x")}))
	r := must(state.ParseRecord(ch.Record))
	if r.DynamoDB.NewImage != nil || r.DynamoDB.OldImage != nil || string(r.DynamoDB.Keys["id"].B) != "\x01\x02" {
		t.Errorf("KEYS_ONLY record %s", ch.Record)
	}
	if s.Items("nope") != nil || s.Shards("nope") != nil || s.Trim("nope", time.Time{}) != 0 {
		t.Error("unknown table answered")
	}
}

func TestAccessKeysAreRecorded(t *testing.T) {
	s := newServer(t)
	arn := createTable(t, s, TableSpec{Name: "users", HashKey: "pk"})
	ctx := context.Background()
	for _, keyID := range []string{"AKIAFIRST", "AKIASECOND", "AKIAFIRST"} {
		c := dynamodbstreams.NewFromConfig(awsConfig(keyID), func(o *dynamodbstreams.Options) { o.BaseEndpoint = aws.String(s.URL()) })
		if _, err := c.DescribeStream(ctx, &dynamodbstreams.DescribeStreamInput{StreamArn: &arn}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := tablesClient(s, "AKIATHIRD").DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String("users")}); err != nil {
		t.Fatal(err)
	}
	if got := s.AccessKeys(); !slices.Equal(got, []string{"AKIAFIRST", "AKIASECOND", "AKIATHIRD"}) {
		t.Errorf("access keys %v", got)
	}
}

// TestWireProtocol checks the HTTP exchange below the SDK.
func TestWireProtocol(t *testing.T) {
	s := newServer(t)
	arn := createTable(t, s, TableSpec{Name: "users", HashKey: "pk"})
	for _, tc := range []struct {
		name, target, body string
		status             int
		errType            string
	}{
		{"describe stream", "DynamoDBStreams_20120810.DescribeStream", fmt.Sprintf(`{"StreamArn":%q}`, arn), 200, ""},
		{"describe table", "DynamoDB_20120810.DescribeTable", `{"TableName":"users"}`, 200, ""},
		{"unknown stream", "DynamoDBStreams_20120810.DescribeStream", `{"StreamArn":"arn:x"}`, 400, "com.amazonaws.dynamodb.v20120810#ResourceNotFoundException"},
		{"missing member", "DynamoDBStreams_20120810.DescribeStream", `{}`, 400, "com.amazonaws.dynamodb.v20120810#ValidationException"},
		{"bad JSON", "DynamoDBStreams_20120810.GetRecords", `{"ShardIterator":`, 400, "com.amazon.coral.service#SerializationException"},
		{"unknown operation", "DynamoDBStreams_20120810.PutRecord", `{}`, 400, "com.amazon.coral.service#UnknownOperationException"},
		{"no target", "", `{}`, 400, "com.amazon.coral.service#UnknownOperationException"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := post(t, s, tc.target, tc.body)
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tc.status || resp.Header.Get("Content-Type") != "application/x-amz-json-1.0" ||
				len(resp.Header.Get("X-Amzn-Requestid")) != 52 ||
				resp.Header.Get("X-Amz-Crc32") != strconv.FormatUint(uint64(crc32.ChecksumIEEE(body)), 10) {
				t.Errorf("status %d headers %v", resp.StatusCode, resp.Header)
			}
			var e struct {
				Type    string `json:"__type"`
				Message string `json:"message"`
			}
			if err := json.Unmarshal(body, &e); err != nil {
				t.Fatalf("%v: %s", err, body)
			}
			if e.Type != tc.errType || (tc.errType != "") != (e.Message != "") {
				t.Errorf("error body %s", body)
			}
		})
	}
	resp, err := http.Get(s.URL() + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET: %d", resp.StatusCode)
	}
}
