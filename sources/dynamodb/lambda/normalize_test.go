package lambda

import (
	"strings"
	"testing"
	"time"

	"github.com/streamhub/streamhub/state"
)

func withCreated(n string) string {
	return `{"eventID":"c4ca4238a0b923820dcc509a6f75849b","eventName":"MODIFY","eventVersion":"1.1",` +
		`"eventSource":"aws:dynamodb","awsRegion":"us-east-1","dynamodb":{"ApproximateCreationDateTime":` + n +
		`,"Keys":{"Id":{"N":"101"}},"NewImage":{"Message":{"S":"This item has changed"},"Id":{"N":"101"}},` +
		`"SequenceNumber":"4421584500000000017450439092","SizeBytes":59,"StreamViewType":"NEW_AND_OLD_IMAGES"},` +
		`"eventSourceARN":"arn:aws:dynamodb:us-east-1:123456789012:table/ExampleTableWithStream/stream/2015-06-27T00:48:05.899"}`
}

// One instant spelled several ways gives one value.
func TestNormalizeNumberText(t *testing.T) {
	for _, tc := range []struct {
		spellings []string
		want      string
	}{
		{[]string{"1479499740", "1.47949974E9", "1.47949974e+9", "1479499740.0", "14794997400e-1", "1479499740.0004"}, "1479499740"},
		{[]string{"1479499740.5", "1.4794997405E9", "1479499740.500", "1479499740.5009"}, "1479499740.500"},
		{[]string{"1479499740.123", "1.479499740123E9", "1479499740.1239"}, "1479499740.123"},
		{[]string{"0", "0.0", "0E5"}, "0"},
	} {
		var first string
		for _, n := range tc.spellings {
			rec, v, err := Normalize([]byte(withCreated(n)))
			if err != nil {
				t.Fatalf("%s: %v", n, err)
			}
			if got := string(rec.DynamoDB.ApproximateCreationDateTime); got != tc.want {
				t.Errorf("%s: ApproximateCreationDateTime %s, want %s", n, got, tc.want)
			}
			if !strings.Contains(string(v), `"ApproximateCreationDateTime":`+tc.want+`,`) {
				t.Errorf("%s: value %s lacks %s", n, v, tc.want)
			}
			if first == "" {
				first = string(v)
			} else if string(v) != first {
				t.Errorf("%s gives\n%s\nbut %s gives\n%s", n, v, tc.spellings[0], first)
			}
		}
	}
}

// What the polling bridge writes (a Record with state.EpochSeconds, marshalled) is a
// fixed point of Normalize: Lambda mode and bridge mode agree on it byte for byte.
func TestNormalizeBridgeBytesAreFixedPoint(t *testing.T) {
	rec := &state.Record{
		EventID: "e1", EventName: state.EventRemove, EventVersion: "1.1", EventSource: "aws:dynamodb",
		AWSRegion: "eu-west-1", EventSourceARN: testARN,
		DynamoDB: state.StreamRecord{
			ApproximateCreationDateTime: state.EpochSeconds(time.UnixMilli(1767225600123)),
			Keys:                        map[string]state.AttributeValue{"Id": state.NumberValue("7")},
			OldImage: map[string]state.AttributeValue{
				"Id": state.NumberValue("7"), "price": state.NumberValue("1.50"),
				"tags": state.StringSetValue("b", "a"), "blob": state.BinaryValue([]byte{0, 1, 2}),
				"m": state.MapValue(map[string]state.AttributeValue{"z": state.NullValue(), "a": state.BoolValue(true)}),
			},
			SequenceNumber: "4421584500000000017450439093", SizeBytes: 38, StreamViewType: "NEW_AND_OLD_IMAGES",
		},
		UserIdentity: &state.UserIdentity{Type: "Service", PrincipalID: "dynamodb.amazonaws.com"},
	}
	bridge, err := rec.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	_, v, err := Normalize(bridge)
	if err != nil {
		t.Fatal(err)
	}
	if string(v) != string(bridge) {
		t.Errorf("Normalize changed the bridge's bytes:\n%s\n%s", bridge, v)
	}
}

func TestNormalizeRejects(t *testing.T) {
	for _, tc := range []struct{ raw, reason string }{
		{withCreated("1e300"), state.ReasonBadTimestamp},
		{withCreated(`"1479499740"`), state.ReasonBadJSON},
		{`{"eventName":"INSERT","dynamodb":{"SequenceNumber":"1"}}`, state.ReasonMissingKey},
		{`{"eventName":"INSERT"`, state.ReasonBadJSON},
	} {
		rec, v, err := Normalize([]byte(tc.raw))
		if err == nil || rec != nil || v != nil {
			t.Errorf("%s: Normalize = %v, %s, %v; want an error", tc.raw, rec, v, err)
			continue
		}
		if got := state.ReasonOf(err); got != tc.reason {
			t.Errorf("%s: reason %q (%v), want %q", tc.raw, got, err, tc.reason)
		}
	}
}

func TestTableFromARN(t *testing.T) {
	for arn, want := range map[string]string{
		"arn:aws:dynamodb:us-west-2:111122223333:table/TestTable/stream/2015-05-11T21:21:33.291":  "TestTable",
		"arn:aws-cn:dynamodb:cn-north-1:111122223333:table/orders/stream/2026-01-01T00:00:00.000": "orders",
		"arn:aws:dynamodb:us-west-2:111122223333:table/orders":                                    "orders",
		"stream-ARN": "",
		"arn:aws:kinesis:us-west-2:111122223333:stream/x": "",
		"": "",
	} {
		if got := TableFromARN(arn); got != want {
			t.Errorf("TableFromARN(%q) = %q, want %q", arn, got, want)
		}
	}
}
