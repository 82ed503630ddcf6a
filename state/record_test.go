package state

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"
)

func TestParseRecordReadsLambdaShape(t *testing.T) {
	b := lambdaRecord(t, EventRemove, "400000000000000000001", func(rec, ddb map[string]any) {
		rec["userIdentity"] = map[string]any{"type": "Service", "principalId": "dynamodb.amazonaws.com"}
		rec["somethingNew"] = map[string]any{"nested": []any{1, "x", nil}}
		ddb["ApproximateCreationDateTimePrecision"] = "MILLISECOND"
	})
	r, err := ParseRecord(b)
	if err != nil {
		t.Fatal(err)
	}
	if r.EventName != EventRemove || r.EventSource != "aws:dynamodb" || r.AWSRegion != "us-east-1" ||
		r.EventSourceARN != testARN || r.EventVersion != "1.1" || r.EventID != "c4ca4238a0b923820dcc509a6f75849b" {
		t.Fatalf("envelope: %+v", r)
	}
	d := r.DynamoDB
	if d.ApproximateCreationDateTime != "1767225600.123" || d.SequenceNumber != "400000000000000000001" ||
		d.SizeBytes != 321 || d.StreamViewType != "NEW_AND_OLD_IMAGES" || d.NewImage != nil {
		t.Fatalf("dynamodb: %+v", d)
	}
	if !reflect.DeepEqual(d.Keys["pk"], StringValue("user#1")) || d.OldImage["balance"].N != "12345678901234567890.50" {
		t.Fatalf("images: %+v", d)
	}
	if !reflect.DeepEqual(d.OldImage["prefs"].M["theme"], StringValue("dark")) {
		t.Fatalf("nested map: %+v", d.OldImage["prefs"])
	}
	if r.UserIdentity == nil || *r.UserIdentity != (UserIdentity{Type: "Service", PrincipalID: "dynamodb.amazonaws.com"}) {
		t.Fatalf("userIdentity: %+v", r.UserIdentity)
	}
}

func TestMarshalRoundTripsToTheSameRecord(t *testing.T) {
	for _, event := range []string{EventInsert, EventModify, EventRemove} {
		b := lambdaRecord(t, event, "400000000000000000001", func(rec, ddb map[string]any) {
			if event == EventRemove {
				rec["userIdentity"] = map[string]any{"type": "Service", "principalId": "dynamodb.amazonaws.com"}
			}
		})
		r, err := ParseRecord(b)
		if err != nil {
			t.Fatal(err)
		}
		out, err := r.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		back, err := ParseRecord(out)
		if err != nil {
			t.Fatalf("%s: re-parse: %v\n%s", event, err, out)
		}
		if !reflect.DeepEqual(r, back) {
			t.Fatalf("%s: round trip changed the record:\n%+v\n%+v", event, r, back)
		}
		// Same JSON shape: encoding/json sees the same document as the input.
		var in, again map[string]any
		_ = json.Unmarshal(b, &in)
		_ = json.Unmarshal(out, &again)
		if !reflect.DeepEqual(in, again) {
			t.Fatalf("%s: JSON differs:\n%s\n%s", event, b, out)
		}
	}
}

func TestMarshalKeepsEmptyImagesAndOmitsAbsentOnes(t *testing.T) {
	r := &Record{EventName: EventInsert, DynamoDB: StreamRecord{
		Keys: map[string]AttributeValue{"pk": StringValue("a")}, NewImage: map[string]AttributeValue{}, SequenceNumber: "1",
	}}
	out, err := r.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	want := `{"eventID":"","eventName":"INSERT","eventSource":"","awsRegion":"","eventSourceARN":"","dynamodb":{"Keys":{"pk":{"S":"a"}},"NewImage":{},"SequenceNumber":"1","SizeBytes":0}}`
	if string(out) != want {
		t.Fatalf("got  %s\nwant %s", out, want)
	}
}

func TestMarshalRejectsInvalidValues(t *testing.T) {
	for name, r := range map[string]*Record{
		"bad number":        {DynamoDB: StreamRecord{Keys: map[string]AttributeValue{"n": NumberValue("x")}}},
		"untyped attribute": {DynamoDB: StreamRecord{NewImage: map[string]AttributeValue{"n": {}}}},
		"bad creation time": {DynamoDB: StreamRecord{ApproximateCreationDateTime: "soon"}},
	} {
		if _, err := r.Marshal(); err == nil {
			t.Errorf("%s: Marshal succeeded", name)
		}
	}
}

func TestRecordWorksWithEncodingJSON(t *testing.T) {
	// A Lambda event holds a list of records; encoding/json must use our parser and writer.
	rec := lambdaRecord(t, EventInsert, "400000000000000000001", nil)
	event := []byte(`{"Records":[` + string(rec) + `]}`)
	var ev struct{ Records []Record }
	if err := json.Unmarshal(event, &ev); err != nil {
		t.Fatal(err)
	}
	if len(ev.Records) != 1 || ev.Records[0].DynamoDB.NewImage["balance"].N != "12345678901234567890.50" {
		t.Fatalf("decoded %+v", ev.Records)
	}
	out, err := json.Marshal(ev.Records[0])
	if err != nil {
		t.Fatal(err)
	}
	direct, _ := ev.Records[0].Marshal()
	if string(out) != string(direct) {
		t.Fatalf("json.Marshal differs from Marshal:\n%s\n%s", out, direct)
	}
	var bad struct{ Records []Record }
	if err := json.Unmarshal([]byte(`{"Records":[{"eventName":"INSERT"}]}`), &bad); err == nil {
		t.Fatal("a record without SequenceNumber decoded")
	}
}

func TestEpochSecondsRoundTripsThroughChange(t *testing.T) {
	for _, tm := range []time.Time{
		time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(2026, 1, 1, 0, 0, 0, 5e6, time.UTC),
		time.Date(2026, 1, 1, 0, 0, 0, 123456789, time.UTC),
		time.Unix(-1, 500e6),
	} {
		n := EpochSeconds(tm)
		ms, ok := epochMillis(string(n))
		if !ok || ms != tm.UnixMilli() {
			t.Errorf("%v: EpochSeconds = %s → %d ms, want %d", tm, n, ms, tm.UnixMilli())
		}
	}
	if got := EpochSeconds(time.Date(2026, 1, 1, 0, 0, 0, 5e6, time.UTC)); got != "1767225600.005" {
		t.Errorf("EpochSeconds = %s", got)
	}
}

func TestParseEpochSeconds(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want int64 // milliseconds
		bad  bool
	}{
		{in: "1479499740", want: 1479499740000},
		{in: "1479499740.0", want: 1479499740000},
		{in: "1.47949974E9", want: 1479499740000},
		{in: "1479499740.1239", want: 1479499740123},
		{in: "0", want: 0},
		{in: "1e30", bad: true},
		{in: "x", bad: true},
	}
	for _, tt := range tests {
		got, err := ParseEpochSeconds(json.Number(tt.in))
		switch {
		case tt.bad && ReasonOf(err) != ReasonBadTimestamp:
			t.Errorf("%s: error %v, want bad_timestamp", tt.in, err)
		case !tt.bad && (err != nil || got.UnixMilli() != tt.want):
			t.Errorf("%s: %v %v, want %d ms", tt.in, got, err, tt.want)
		}
	}
}
