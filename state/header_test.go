package state

import (
	"bytes"
	"strings"
	"testing"
)

// headerBothWays reads b with ParseRecordHeader and with ParseRecord, and fails unless
// they accept the same records and give the same header (Keys as ToPlainJSON writes
// them).
func headerBothWays(t testing.TB, b []byte) (RecordHeader, error) {
	t.Helper()
	h, herr := ParseRecordHeader(b)
	r, rerr := ParseRecord(b)
	if (herr == nil) != (rerr == nil) {
		t.Fatalf("ParseRecordHeader and ParseRecord disagree on %q:\nheader %v\nrecord %v", b, herr, rerr)
	}
	if rerr != nil {
		// The reasons may differ for a record wrong in two ways: the tree parser finds a
		// duplicate attribute when it reads it, the writer at the end of its object.
		if _, ok := herr.(*InvalidError); !ok {
			t.Fatalf("%q: error is not an *InvalidError: %v", b, herr)
		}
		return h, herr
	}
	want := RecordHeader{
		EventName:                   r.EventName,
		SequenceNumber:              r.DynamoDB.SequenceNumber,
		ApproximateCreationDateTime: r.DynamoDB.ApproximateCreationDateTime,
	}
	if r.DynamoDB.Keys != nil {
		keys, err := ToPlainJSON(r.DynamoDB.Keys)
		if err != nil {
			t.Fatalf("%q: ToPlainJSON(Keys): %v", b, err)
		}
		want.Keys = keys
	}
	if h.EventName != want.EventName || h.SequenceNumber != want.SequenceNumber ||
		h.ApproximateCreationDateTime != want.ApproximateCreationDateTime ||
		!bytes.Equal(h.Keys, want.Keys) || (h.Keys == nil) != (want.Keys == nil) {
		t.Fatalf("%q:\nheader %+v keys %s\nrecord %+v keys %s", b, h, h.Keys, want, want.Keys)
	}
	return h, nil
}

func TestParseRecordHeaderAgreesWithParseRecord(t *testing.T) {
	const keys = `"Keys":{"sk":{"S":"profile"},"pk":{"S":"user#1"}}`
	rec := func(ddb string) string {
		return `{"eventID":"e1","eventName":"MODIFY","dynamodb":{` + ddb + `,"SequenceNumber":"400000000000000000001"}}`
	}
	tests := []struct {
		name   string
		record string
		ok     bool
	}{
		{"the benchmark record", benchRecord, true},
		{"keys sorted, numbers exact", rec(`"Keys":{"sk":{"N":"12345678901234567890.50"},"pk":{"B":"AAE="}}`), true},
		{"keys with escapes in names and values", rec(`"Keys":{"p\u006b":{"S":"a\"b"},"sk":{"S":"\u00e9"}}`), true},
		{"no created time", rec(keys), true},
		{"created time with an exponent", rec(keys + `,"ApproximateCreationDateTime":1.5E9`), true},
		{"null images", rec(keys + `,"NewImage":null,"OldImage":null`), true},
		{"every type in NewImage", rec(keys + `,"NewImage":{"a":{"L":[{"NS":["1",".5"]},{"BS":[""]},{"NULL":true},{"BOOL":false},{"M":{"x":{"SS":["y"]}}}]}}`), true},
		{"bad number in NewImage", rec(keys + `,"NewImage":{"a":{"N":"12a"}}`), false},
		{"bad number in OldImage", rec(keys + `,"OldImage":{"a":{"N":"--1"}}`), false},
		{"unknown type in OldImage", rec(keys + `,"OldImage":{"a":{"X":"1"}}`), false},
		{"duplicate attribute in NewImage", rec(keys + `,"NewImage":{"a":{"S":"1"},"a":{"S":"2"}}`), false},
		{"duplicate key attribute", rec(`"Keys":{"pk":{"S":"1"},"pk":{"S":"2"}}`), false},
		{"bad base64 in Keys", rec(`"Keys":{"pk":{"B":"!!"}}`), false},
		{"two types in one value", rec(keys + `,"NewImage":{"a":{"S":"1","N":"2"}}`), false},
		{"NewImage not an object", rec(keys + `,"NewImage":[1]`), false},
		{"no Keys", rec(`"NewImage":{}`), false},
		{"no eventName", `{"dynamodb":{` + keys + `,"SequenceNumber":"1"}}`, false},
		{"bad JSON", `{"eventName":"MODIFY","dynamodb":{` + keys, false},
		{"nested too deep", rec(keys + `,"NewImage":{"a":` + strings.Repeat(`{"L":[`, 40) + `{"S":"x"}` + strings.Repeat(`]}`, 40) + `}`), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := headerBothWays(t, []byte(tt.record))
			if (err == nil) != tt.ok {
				t.Fatalf("accepted %v, want %v: %v", err == nil, tt.ok, err)
			}
		})
	}
}

// A header's Keys is its own: the pooled buffers behind it are reused by the next record.
func TestParseRecordHeaderKeysOutliveTheNextParse(t *testing.T) {
	first, err := ParseRecordHeader([]byte(benchRecord))
	if err != nil {
		t.Fatal(err)
	}
	want := string(first.Keys)
	other := strings.Replace(benchRecord, `"pk":{"S":"user#1042"}},"NewImage"`, `"pk":{"S":"user#9999"}},"NewImage"`, 1)
	if _, err := ParseRecordHeader([]byte(other)); err != nil {
		t.Fatal(err)
	}
	if string(first.Keys) != want {
		t.Fatalf("Keys changed to %s after another parse, want %s", first.Keys, want)
	}
}
