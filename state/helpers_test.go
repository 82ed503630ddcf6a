package state

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
)

const (
	testARN    = "arn:aws:dynamodb:us-east-1:123456789012:table/users/stream/2026-01-01T00:00:00.000"
	testARNNew = "arn:aws:dynamodb:us-east-1:123456789012:table/users/stream/2026-03-01T00:00:00.000"
)

var usersSpec = KeySpec{Keys: []string{"pk", "sk"}, VersionAttribute: "updatedAt"}

// lambdaRecord builds a DynamoDB Streams record as Lambda delivers it, with encoding/json
// so the tests do not depend on the code under test to write their input. edit may change
// the top-level map and the "dynamodb" map before they are marshalled.
func lambdaRecord(t testing.TB, eventName, seq string, edit func(rec, ddb map[string]any)) []byte {
	t.Helper()
	ddb := map[string]any{
		"ApproximateCreationDateTime": json.Number("1767225600.123"),
		"Keys": map[string]any{
			"sk": map[string]any{"S": "profile"},
			"pk": map[string]any{"S": "user#1"},
		},
		"SequenceNumber": seq,
		"SizeBytes":      321,
		"StreamViewType": "NEW_AND_OLD_IMAGES",
	}
	img := func(updated, name string) map[string]any {
		return map[string]any{
			"pk":        map[string]any{"S": "user#1"},
			"sk":        map[string]any{"S": "profile"},
			"name":      map[string]any{"S": name},
			"updatedAt": map[string]any{"N": updated},
			"balance":   map[string]any{"N": "12345678901234567890.50"},
			"prefs":     map[string]any{"M": map[string]any{"theme": map[string]any{"S": "dark"}}},
		}
	}
	switch eventName {
	case EventInsert:
		ddb["NewImage"] = img("1767225600123", "Ada")
	case EventModify:
		ddb["NewImage"] = img("1767225600123", "Ada")
		ddb["OldImage"] = img("1767225500000", "Ad")
	case EventRemove:
		ddb["OldImage"] = img("1767225600123", "Ada")
	}
	rec := map[string]any{
		"eventID":        "c4ca4238a0b923820dcc509a6f75849b",
		"eventName":      eventName,
		"eventVersion":   "1.1",
		"eventSource":    "aws:dynamodb",
		"awsRegion":      "us-east-1",
		"eventSourceARN": testARN,
		"dynamodb":       ddb,
	}
	if edit != nil {
		edit(rec, ddb)
	}
	b, err := json.Marshal(rec)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// bothPaths parses b the fast way (ParseChange) and the tree way (ParseRecord, then
// ChangeFromRecord) and checks they agree: whatever the tree path accepts, the fast path
// accepts with the identical Change. It returns the fast path's result.
func bothPaths(t testing.TB, b []byte, spec KeySpec) (Change, error) {
	t.Helper()
	fast, fastErr := ParseChange(b, spec)
	r, slowErr := ParseRecord(b)
	var slow Change
	if slowErr == nil {
		slow, slowErr = ChangeFromRecord(r, spec)
	}
	if slowErr == nil {
		if fastErr != nil {
			t.Fatalf("ParseRecord+ChangeFromRecord accept %q but ParseChange fails: %v", b, fastErr)
		}
		if !changesEqual(fast, slow) {
			t.Fatalf("paths disagree on %q:\nParseChange:      %+v item %s\nChangeFromRecord: %+v item %s", b, fast, fast.Item, slow, slow.Item)
		}
	}
	return fast, fastErr
}

func changesEqual(a, b Change) bool {
	ai, bi := a.Item, b.Item
	a.Item, b.Item = nil, nil
	return bytes.Equal(ai, bi) && (ai == nil) == (bi == nil) && reflect.DeepEqual(a, b)
}

func reasonOf(err error) string {
	if err == nil {
		return ""
	}
	if r := ReasonOf(err); r != "" {
		return r
	}
	return "non-InvalidError: " + err.Error()
}
