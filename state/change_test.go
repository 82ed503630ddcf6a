package state

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestParseChangeReducesLambdaRecord(t *testing.T) {
	c, err := bothPaths(t, lambdaRecord(t, EventModify, "400000000000000000001", nil), usersSpec)
	if err != nil {
		t.Fatal(err)
	}
	want := Change{
		Key:     `["user#1","profile"]`,
		EventID: "c4ca4238a0b923820dcc509a6f75849b",
		Version: Version{
			Attr: "1767225600123", HasAttr: true,
			Seq: "400000000000000000001", Stream: testARN, CreatedAt: 1767225600123,
		},
		CreatedAt: time.Date(2026, 1, 1, 0, 0, 0, 123e6, time.UTC),
		Item:      []byte(`{"balance":12345678901234567890.50,"name":"Ada","pk":"user#1","prefs":{"theme":"dark"},"sk":"profile","updatedAt":1767225600123}`),
	}
	if !changesEqual(c, want) {
		t.Fatalf("got  %+v item %s\nwant %+v item %s", c, c.Item, want, want.Item)
	}
}

func TestRemoveTakesVersionAttributeFromOldImage(t *testing.T) {
	c, err := bothPaths(t, lambdaRecord(t, EventRemove, "400000000000000000002", nil), usersSpec)
	if err != nil {
		t.Fatal(err)
	}
	if !c.Deleted || c.Item != nil {
		t.Fatalf("REMOVE: Deleted=%v Item=%s, want a tombstone without item", c.Deleted, c.Item)
	}
	if !c.Version.HasAttr || c.Version.Attr != "1767225600123" {
		t.Fatalf("REMOVE version attribute = %q (has %v), want OldImage's 1767225600123", c.Version.Attr, c.Version.HasAttr)
	}
}

func TestRemoveWithoutOldImageHasNoVersionAttribute(t *testing.T) {
	b := lambdaRecord(t, EventRemove, "400000000000000000002", func(_, ddb map[string]any) {
		delete(ddb, "OldImage")
		ddb["StreamViewType"] = "KEYS_ONLY"
	})
	c, err := bothPaths(t, b, usersSpec)
	if err != nil {
		t.Fatal(err)
	}
	if c.Version.HasAttr || c.Version.Attr != "" {
		t.Fatalf("version attribute = %q (has %v), want none", c.Version.Attr, c.Version.HasAttr)
	}
}

func TestTTLDeleteIsMarked(t *testing.T) {
	b := lambdaRecord(t, EventRemove, "400000000000000000002", func(rec, _ map[string]any) {
		rec["userIdentity"] = map[string]any{"type": "Service", "principalId": "dynamodb.amazonaws.com"}
	})
	c, err := bothPaths(t, b, usersSpec)
	if err != nil {
		t.Fatal(err)
	}
	if !c.TTL {
		t.Fatal("a REMOVE by dynamodb.amazonaws.com is not marked TTL")
	}
}

func TestVersionAttributeOfOtherTypesIsIgnored(t *testing.T) {
	for _, av := range []map[string]any{
		{"BOOL": true}, {"NULL": true}, {"M": map[string]any{}}, {"L": []any{}}, {"NS": []any{"1"}},
	} {
		b := lambdaRecord(t, EventInsert, "1", func(_, ddb map[string]any) {
			ddb["NewImage"].(map[string]any)["updatedAt"] = av
		})
		c, err := bothPaths(t, b, usersSpec)
		if err != nil {
			t.Fatal(err)
		}
		if c.Version.HasAttr {
			t.Errorf("version attribute %v counted as %q", av, c.Version.Attr)
		}
	}
}

func TestStringVersionAttributeIsPlainJSONString(t *testing.T) {
	b := lambdaRecord(t, EventInsert, "1", func(_, ddb map[string]any) {
		ddb["NewImage"].(map[string]any)["updatedAt"] = map[string]any{"S": `2026-01-01T00:00:00.000Z "q"`}
	})
	c, err := bothPaths(t, b, usersSpec)
	if err != nil {
		t.Fatal(err)
	}
	if want := `"2026-01-01T00:00:00.000Z \"q\""`; c.Version.Attr != want {
		t.Fatalf("Attr = %s, want %s", c.Version.Attr, want)
	}
}

func TestCreationTimeKeepsMilliseconds(t *testing.T) {
	for in, want := range map[string]int64{
		"1767225600":        1767225600000,
		"1767225600.5":      1767225600500,
		"1767225600.123456": 1767225600123, // finer digits are cut, not rounded
		"1.7672256E9":       1767225600000,
		"0":                 0,
		"0.0009":            0,
	} {
		b := lambdaRecord(t, EventInsert, "1", func(_, ddb map[string]any) {
			ddb["ApproximateCreationDateTime"] = json.Number(in)
		})
		c, err := bothPaths(t, b, usersSpec)
		if err != nil {
			t.Fatalf("%s: %v", in, err)
		}
		if c.Version.CreatedAt != want {
			t.Errorf("%s: CreatedAt = %d, want %d", in, c.Version.CreatedAt, want)
		}
	}
}

func TestRecordWithoutCreationTimeHasZeroTime(t *testing.T) {
	b := lambdaRecord(t, EventInsert, "1", func(_, ddb map[string]any) { delete(ddb, "ApproximateCreationDateTime") })
	c, err := bothPaths(t, b, usersSpec)
	if err != nil {
		t.Fatal(err)
	}
	if !c.CreatedAt.IsZero() || c.Version.CreatedAt != 0 {
		t.Fatalf("CreatedAt = %v / %d, want zero", c.CreatedAt, c.Version.CreatedAt)
	}
}

func TestParseChangeRejectsUnusableRecords(t *testing.T) {
	tests := []struct {
		name   string
		event  string
		edit   func(rec, ddb map[string]any)
		raw    string // used instead of a generated record when set
		reason string
	}{
		{name: "not JSON", raw: `{"eventName":`, reason: ReasonBadJSON},
		{name: "not an object", raw: `[1,2]`, reason: ReasonBadJSON},
		{name: "trailing data", raw: string(lambdaRecord(t, EventInsert, "1", nil)) + "x", reason: ReasonBadJSON},
		{name: "eventName missing", event: EventInsert, edit: func(rec, _ map[string]any) { delete(rec, "eventName") }, reason: ReasonMissingField},
		{name: "eventName a number", event: EventInsert, edit: func(rec, _ map[string]any) { rec["eventName"] = 1 }, reason: ReasonBadJSON},
		{name: "eventName unknown", event: EventInsert, edit: func(rec, _ map[string]any) { rec["eventName"] = "UPSERT" }, reason: ReasonUnknownEventName},
		{name: "eventName lower case", event: EventInsert, edit: func(rec, _ map[string]any) { rec["eventName"] = "insert" }, reason: ReasonUnknownEventName},
		{name: "dynamodb missing", event: EventInsert, edit: func(rec, _ map[string]any) { delete(rec, "dynamodb") }, reason: ReasonMissingField},
		{name: "SequenceNumber missing", event: EventInsert, edit: func(_, ddb map[string]any) { delete(ddb, "SequenceNumber") }, reason: ReasonMissingField},
		{name: "SequenceNumber not digits", event: EventInsert, edit: func(_, ddb map[string]any) { ddb["SequenceNumber"] = "4000-1" }, reason: ReasonBadSequenceNumber},
		{name: "SequenceNumber a number", event: EventInsert, edit: func(_, ddb map[string]any) { ddb["SequenceNumber"] = 4 }, reason: ReasonBadJSON},
		{name: "Keys missing", event: EventInsert, edit: func(_, ddb map[string]any) { delete(ddb, "Keys") }, reason: ReasonMissingKey},
		{name: "range key missing", event: EventInsert, edit: func(_, ddb map[string]any) {
			delete(ddb["Keys"].(map[string]any), "sk")
		}, reason: ReasonMissingKey},
		{name: "key of type M", event: EventInsert, edit: func(_, ddb map[string]any) {
			ddb["Keys"].(map[string]any)["pk"] = map[string]any{"M": map[string]any{}}
		}, reason: ReasonBadKeyType},
		{name: "key of type BOOL", event: EventInsert, edit: func(_, ddb map[string]any) {
			ddb["Keys"].(map[string]any)["sk"] = map[string]any{"BOOL": true}
		}, reason: ReasonBadKeyType},
		{name: "key number malformed", event: EventInsert, edit: func(_, ddb map[string]any) {
			ddb["Keys"].(map[string]any)["sk"] = map[string]any{"N": "1x"}
		}, reason: ReasonBadNumber},
		{name: "INSERT without NewImage", event: EventInsert, edit: func(_, ddb map[string]any) { delete(ddb, "NewImage") }, reason: ReasonMissingImage},
		{name: "MODIFY with null NewImage", event: EventModify, edit: func(_, ddb map[string]any) { ddb["NewImage"] = nil }, reason: ReasonMissingImage},
		{name: "NewImage number not decimal", event: EventInsert, edit: func(_, ddb map[string]any) {
			ddb["NewImage"].(map[string]any)["balance"] = map[string]any{"N": "12,50"}
		}, reason: ReasonBadNumber},
		{name: "NewImage attribute with two types", event: EventInsert, edit: func(_, ddb map[string]any) {
			ddb["NewImage"].(map[string]any)["name"] = map[string]any{"S": "a", "N": "1"}
		}, reason: ReasonBadAttribute},
		{name: "NewImage attribute not an AttributeValue", event: EventInsert, edit: func(_, ddb map[string]any) {
			ddb["NewImage"].(map[string]any)["name"] = "Ada"
		}, reason: ReasonBadAttribute},
		{name: "REMOVE with malformed OldImage version attribute", event: EventRemove, edit: func(_, ddb map[string]any) {
			ddb["OldImage"].(map[string]any)["updatedAt"] = map[string]any{"N": "soon"}
		}, reason: ReasonBadNumber},
		{name: "creation time not a number", event: EventInsert, edit: func(_, ddb map[string]any) {
			ddb["ApproximateCreationDateTime"] = "2026-01-01"
		}, reason: ReasonBadJSON},
		{name: "creation time beyond int64 milliseconds", event: EventInsert, edit: func(_, ddb map[string]any) {
			ddb["ApproximateCreationDateTime"] = json.Number("1e300")
		}, reason: ReasonBadTimestamp},
		{name: "SizeBytes a fraction", event: EventInsert, edit: func(_, ddb map[string]any) { ddb["SizeBytes"] = 1.5 }, reason: ReasonBadJSON},
		{name: "duplicate eventName", raw: `{"eventName":"INSERT","eventName":"REMOVE","dynamodb":{"Keys":{"pk":{"S":"a"},"sk":{"S":"b"}},"NewImage":{},"SequenceNumber":"1"}}`, reason: ReasonBadJSON},
		{name: "duplicate attribute in NewImage", raw: `{"eventName":"INSERT","dynamodb":{"Keys":{"pk":{"S":"a"},"sk":{"S":"b"}},"NewImage":{"x":{"S":"1"},"y":{"S":"2"},"x":{"S":"3"}},"SequenceNumber":"1"}}`, reason: ReasonBadAttribute},
		{name: "invalid UTF-8", raw: "{\"eventName\":\"INSERT\xff\",\"dynamodb\":{}}", reason: ReasonBadJSON},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := []byte(tt.raw)
			if tt.raw == "" {
				b = lambdaRecord(t, tt.event, "400000000000000000001", tt.edit)
			}
			// bothPaths also fails the test if the tree path accepts what ParseChange rejects.
			_, err := bothPaths(t, b, usersSpec)
			if got := reasonOf(err); got != tt.reason {
				t.Fatalf("reason = %q (%v), want %q", got, err, tt.reason)
			}
		})
	}
}

func TestInvalidErrorNamesFieldAndValue(t *testing.T) {
	b := lambdaRecord(t, EventInsert, "1", func(_, ddb map[string]any) {
		ddb["NewImage"].(map[string]any)["prefs"] = map[string]any{"M": map[string]any{
			"sizes": map[string]any{"L": []any{map[string]any{"N": "1"}, map[string]any{"N": "big"}}},
		}}
	})
	_, err := ParseChange(b, usersSpec)
	var ie *InvalidError
	if !errors.As(err, &ie) {
		t.Fatalf("err = %v, want *InvalidError", err)
	}
	if ie.Field != "dynamodb.NewImage.prefs.sizes[1]" || !strings.Contains(ie.Error(), `"big"`) {
		t.Fatalf("Field = %q, Error() = %q; want the path to the bad number and its value", ie.Field, ie.Error())
	}
}

func TestParseChangeAcceptsUnusedPartsThatTheTreePathRejects(t *testing.T) {
	// A MODIFY's OldImage is never read by ParseChange; it only has to be JSON. This pins
	// the documented difference, so that it stays deliberate.
	b := lambdaRecord(t, EventModify, "1", func(_, ddb map[string]any) {
		ddb["OldImage"].(map[string]any)["balance"] = map[string]any{"N": "not a number"}
	})
	if _, err := ParseChange(b, usersSpec); err != nil {
		t.Fatalf("ParseChange: %v", err)
	}
	if _, err := ParseRecord(b); ReasonOf(err) != ReasonBadNumber {
		t.Fatalf("ParseRecord: %v, want bad_number", err)
	}
}

func TestEmptyKeySpecIsAConfigurationError(t *testing.T) {
	b := lambdaRecord(t, EventInsert, "1", nil)
	if _, err := ParseChange(b, KeySpec{}); err == nil || ReasonOf(err) != "" {
		t.Fatalf("ParseChange with no keys: %v, want a non-record error", err)
	}
}

func TestParseChangeResultDoesNotAliasInputOrPool(t *testing.T) {
	b := lambdaRecord(t, EventInsert, "1", nil)
	c1, err := ParseChange(b, usersSpec)
	if err != nil {
		t.Fatal(err)
	}
	item := string(c1.Item)
	for i := range b {
		b[i] = ' '
	}
	for range 10 {
		if _, err := ParseChange(lambdaRecord(t, EventModify, "2", nil), usersSpec); err != nil {
			t.Fatal(err)
		}
	}
	if string(c1.Item) != item || c1.Key != `["user#1","profile"]` {
		t.Fatalf("a Change changed after its input was reused: %s %s", c1.Key, c1.Item)
	}
}

func TestParseChangeIsSafeForConcurrentUse(t *testing.T) {
	recs := [][]byte{
		lambdaRecord(t, EventInsert, "1", nil),
		lambdaRecord(t, EventRemove, "2", nil),
		lambdaRecord(t, EventModify, "3", nil),
	}
	want := make([]Change, len(recs))
	for i, r := range recs {
		want[i], _ = ParseChange(r, usersSpec)
	}
	done := make(chan error)
	for g := range 4 {
		go func() {
			for n := range 500 {
				i := (g + n) % len(recs)
				c, err := ParseChange(recs[i], usersSpec)
				if err != nil || !changesEqual(c, want[i]) {
					done <- errors.New("concurrent ParseChange gave a different result")
					return
				}
			}
			done <- nil
		}()
	}
	for range 4 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
}

func TestEscapedSpellingsGiveTheSameChange(t *testing.T) {
	plain := `{"eventID":"id1","eventName":"INSERT","eventSourceARN":"arn:x","dynamodb":{"ApproximateCreationDateTime":1.5,"Keys":{"pk":{"S":"user#1"},"sk":{"N":"7"}},"NewImage":{"updatedAt":{"S":"a/b"},"n":{"N":"1"}},"SequenceNumber":"12"},"userIdentity":{"type":"Service","principalId":"dynamodb.amazonaws.com"}}`
	escaped := `{"event\u0049D":"id\u0031","eventName":"\u0049NSERT","eventSourceARN":"arn:\u0078","dynam\u006fdb":{"ApproximateCreationDateTime":15e-1,"K\u0065ys":{"p\u006b":{"\u0053":"user\u00231"},"sk":{"N":"\u0037"}},"NewImage":{"updated\u0041t":{"S":"a\/b"},"\u006e":{"N":"\u0031"}},"SequenceNumber":"\u00312"},"userIdentity":{"type":"Servic\u0065","principalId":"dynamodb.amazonaws.com"}}`
	spec := KeySpec{Keys: []string{"pk", "sk"}, VersionAttribute: "updatedAt"}
	want, err := bothPaths(t, []byte(plain), spec)
	if err != nil {
		t.Fatal(err)
	}
	got, err := bothPaths(t, []byte(escaped), spec)
	if err != nil {
		t.Fatal(err)
	}
	if !changesEqual(got, want) {
		t.Fatalf("escaped record:\n%+v %s\nwant\n%+v %s", got, got.Item, want, want.Item)
	}
}
