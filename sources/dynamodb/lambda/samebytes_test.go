package lambda

import (
	"testing"

	"github.com/streamhub/streamhub/sources/dynamodb/ddbtest"
	"github.com/streamhub/streamhub/state"
)

// Lambda mode and the polling bridge write the same bytes for the same stream record.
// ddbtest's Change.Record is the record in the shape Lambda delivers it, and the bridge's
// tests require its CDC values to equal Change.Record byte for byte; here Normalize must
// leave every such record exactly as it is, for every kind of change and attribute type.
func TestNormalizeWritesTheBridgesBytes(t *testing.T) {
	t.Parallel()
	srv := ddbtest.New()
	defer srv.Close()
	if _, err := srv.CreateTable(ddbtest.TableSpec{Name: "users", HashKey: "pk", RangeKey: "sk", Shards: 2}); err != nil {
		t.Fatal(err)
	}
	key := ddbtest.Item{"pk": state.StringValue("user#1"), "sk": state.StringValue("profile")}
	item := ddbtest.Item{"pk": key["pk"], "sk": key["sk"],
		"n":    state.NumberValue("123456789012345678901234567890.50"),
		"b":    state.BinaryValue([]byte{0, 1, 2}),
		"ok":   state.BoolValue(true),
		"null": state.NullValue(),
		"ss":   state.StringSetValue("x", "y"),
		"ns":   state.NumberSetValue("1", "-2.5"),
		"bs":   state.BinarySetValue([]byte{9}),
		"l":    state.ListValue(state.StringValue("<&>\u2028"), state.NumberValue("0")),
		"m":    state.MapValue(map[string]state.AttributeValue{"z": state.StringValue("é")}),
	}
	var changes []ddbtest.Change
	add := func(ch ddbtest.Change, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		changes = append(changes, ch)
	}
	add(srv.PutItem("users", item)) // INSERT
	item["ok"] = state.BoolValue(false)
	add(srv.PutItem("users", item)) // MODIFY
	ch, _, err := srv.DeleteItem("users", key)
	add(ch, err) // REMOVE
	add(srv.PutItem("users", item))
	ch, _, err = srv.ExpireItem("users", key)
	add(ch, err) // REMOVE by TTL
	for _, ch := range changes {
		_, value, err := Normalize(ch.Record)
		if err != nil {
			t.Fatalf("%s: %v", ch.EventName, err)
		}
		if string(value) != string(ch.Record) {
			t.Errorf("%s:\nlambda %s\nbridge %s", ch.EventName, value, ch.Record)
		}
	}
}
