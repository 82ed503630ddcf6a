package dynamodb

import (
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams/types"

	"github.com/streamhub/streamhub/state"
)

const testARN = "arn:aws:dynamodb:us-east-1:123456789012:table/users/stream/2026-11-25T00:00:00.000"

func TestToRecordWritesLambdasShape(t *testing.T) {
	t.Parallel()
	created := time.Date(2026, 11, 25, 9, 30, 0, 0, time.UTC)
	tests := []struct {
		name string
		in   types.Record
		want string
	}{{
		name: "every attribute type, exact numbers, sorted names",
		in: types.Record{
			EventID: aws.String("e1"), EventName: types.OperationTypeInsert, EventVersion: aws.String("1.1"),
			EventSource: aws.String("aws:dynamodb"), AwsRegion: aws.String("us-east-1"),
			Dynamodb: &types.StreamRecord{
				ApproximateCreationDateTime: &created,
				Keys: map[string]types.AttributeValue{
					"pk": &types.AttributeValueMemberS{Value: "user#1"},
					"sk": &types.AttributeValueMemberN{Value: "10"},
				},
				NewImage: map[string]types.AttributeValue{
					"pk":   &types.AttributeValueMemberS{Value: "user#1"},
					"sk":   &types.AttributeValueMemberN{Value: "10"},
					"big":  &types.AttributeValueMemberN{Value: "123456789012345678901234567890.50"},
					"bin":  &types.AttributeValueMemberB{Value: []byte{0, 1, 2}},
					"ok":   &types.AttributeValueMemberBOOL{Value: true},
					"nil":  &types.AttributeValueMemberNULL{Value: true},
					"ss":   &types.AttributeValueMemberSS{Value: []string{"a", "b"}},
					"ns":   &types.AttributeValueMemberNS{Value: []string{"1", "2.5"}},
					"bs":   &types.AttributeValueMemberBS{Value: [][]byte{{1}}},
					"list": &types.AttributeValueMemberL{Value: []types.AttributeValue{&types.AttributeValueMemberS{Value: "x"}}},
					"map":  &types.AttributeValueMemberM{Value: map[string]types.AttributeValue{"z": &types.AttributeValueMemberS{Value: "<&>"}}},
				},
				SequenceNumber: aws.String("400000000000000000001"), SizeBytes: aws.Int64(99),
				StreamViewType: types.StreamViewTypeNewAndOldImages,
			},
		},
		want: `{"eventID":"e1","eventName":"INSERT","eventVersion":"1.1","eventSource":"aws:dynamodb","awsRegion":"us-east-1",` +
			`"eventSourceARN":"` + testARN + `","dynamodb":{"ApproximateCreationDateTime":1795599000,` +
			`"Keys":{"pk":{"S":"user#1"},"sk":{"N":"10"}},` +
			`"NewImage":{"big":{"N":"123456789012345678901234567890.50"},"bin":{"B":"AAEC"},"bs":{"BS":["AQ=="]},` +
			`"list":{"L":[{"S":"x"}]},"map":{"M":{"z":{"S":"<&>"}}},"nil":{"NULL":true},"ns":{"NS":["1","2.5"]},` +
			`"ok":{"BOOL":true},"pk":{"S":"user#1"},"sk":{"N":"10"},"ss":{"SS":["a","b"]}},` +
			`"SequenceNumber":"400000000000000000001","SizeBytes":99,"StreamViewType":"NEW_AND_OLD_IMAGES"}}`,
	}, {
		name: "TTL delete keeps userIdentity; missing eventSource filled in",
		in: types.Record{
			EventID: aws.String("e2"), EventName: types.OperationTypeRemove, AwsRegion: aws.String("eu-west-1"),
			UserIdentity: &types.Identity{Type: aws.String("Service"), PrincipalId: aws.String("dynamodb.amazonaws.com")},
			Dynamodb: &types.StreamRecord{
				Keys:           map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: "a"}},
				SequenceNumber: aws.String("5"), StreamViewType: types.StreamViewTypeKeysOnly,
			},
		},
		want: `{"eventID":"e2","eventName":"REMOVE","eventSource":"aws:dynamodb","awsRegion":"eu-west-1",` +
			`"eventSourceARN":"` + testARN + `","dynamodb":{"Keys":{"pk":{"S":"a"}},"SequenceNumber":"5","SizeBytes":0,` +
			`"StreamViewType":"KEYS_ONLY"},"userIdentity":{"type":"Service","principalId":"dynamodb.amazonaws.com"}}`,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rec, err := toRecord(tt.in, testARN)
			if err != nil {
				t.Fatal(err)
			}
			got, err := rec.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("got\n%s\nwant\n%s", got, tt.want)
			}
			back, err := state.ParseRecord(got)
			if err != nil {
				t.Fatalf("ParseRecord of the written record: %v", err)
			}
			again, _ := back.Marshal()
			if string(again) != string(got) {
				t.Errorf("not stable through ParseRecord:\n%s\n%s", again, got)
			}
		})
	}
}

func TestToRecordRefusesWhatItCannotRepresent(t *testing.T) {
	t.Parallel()
	tests := map[string]types.Record{
		"no dynamodb part": {EventID: aws.String("x")},
		"unknown union member": {EventID: aws.String("x"), Dynamodb: &types.StreamRecord{
			Keys: map[string]types.AttributeValue{"pk": &types.UnknownUnionMember{Tag: "Z"}},
		}},
		"nil value in a list": {EventID: aws.String("x"), Dynamodb: &types.StreamRecord{
			NewImage: map[string]types.AttributeValue{"l": &types.AttributeValueMemberL{Value: []types.AttributeValue{nil}}},
		}},
	}
	for name, in := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if _, err := toRecord(in, testARN); err == nil {
				t.Error("no error")
			}
		})
	}
}
