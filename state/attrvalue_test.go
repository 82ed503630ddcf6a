package state

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// plainBothWays converts an image with RawToPlainJSON and with ParseRecord's tree +
// ToPlainJSON, and fails unless they agree.
func plainBothWays(t *testing.T, image string) ([]byte, error) {
	t.Helper()
	raw, rawErr := RawToPlainJSON([]byte(image))
	var m map[string]AttributeValue
	l := lexer{b: []byte(image)}
	m, treeErr := parseImage(&l, 0)
	if treeErr == nil {
		treeErr = l.end()
	}
	var tree []byte
	if treeErr == nil {
		tree, treeErr = ToPlainJSON(m)
	}
	if (rawErr == nil) != (treeErr == nil) || string(raw) != string(tree) {
		t.Fatalf("paths disagree on %s:\nraw  %s %v\ntree %s %v", image, raw, rawErr, tree, treeErr)
	}
	if rawErr == nil && !json.Valid(raw) {
		t.Fatalf("plain JSON %s is not valid JSON", raw)
	}
	return raw, rawErr
}

func TestPlainJSONFlattensEveryType(t *testing.T) {
	tests := []struct {
		name, image, want string
	}{
		{"S", `{"a":{"S":"hello"}}`, `{"a":"hello"}`},
		{"S empty", `{"a":{"S":""}}`, `{"a":""}`},
		{"S escapes are decoded and written minimally", `{"a":{"S":"q\"b\\s\/\u00e9\n\u0001"}}`, `{"a":"q\"b\\s/é\n\u0001"}`},
		{"S HTML is not escaped", `{"a":{"S":"<b>&</b>"}}`, `{"a":"<b>&</b>"}`},
		{"S surrogate pair", `{"a":{"S":"\ud83d\ude00"}}`, `{"a":"😀"}`},
		{"S lone surrogate becomes U+FFFD", `{"a":{"S":"\ud83d!"}}`, `{"a":"` + "\uFFFD" + `!"}`},
		{"N integer", `{"a":{"N":"42"}}`, `{"a":42}`},
		{"N keeps trailing zeros", `{"a":{"N":"1.50"}}`, `{"a":1.50}`},
		{"N beyond float64", `{"a":{"N":"12345678901234567890.50"}}`, `{"a":12345678901234567890.50}`},
		{"N 38 digits", `{"a":{"N":"-0.00000000000000000000000000000000000001"}}`, `{"a":-0.00000000000000000000000000000000000001}`},
		{"N exponent kept", `{"a":{"N":"1.5E+10"}}`, `{"a":1.5E+10}`},
		{"N leading plus dropped", `{"a":{"N":"+7"}}`, `{"a":7}`},
		{"N leading zeros dropped", `{"a":{"N":"007.10"}}`, `{"a":7.10}`},
		{"N bare fraction gets a zero", `{"a":{"N":"-.5"}}`, `{"a":-0.5}`},
		{"N trailing point dropped", `{"a":{"N":"5."}}`, `{"a":5}`},
		{"N negative zero", `{"a":{"N":"-0"}}`, `{"a":-0}`},
		{"B", `{"a":{"B":"aGVsbG8="}}`, `{"a":"aGVsbG8="}`},
		{"B empty", `{"a":{"B":""}}`, `{"a":""}`},
		{"B line breaks removed", `{"a":{"B":"aGVs\nbG8="}}`, `{"a":"aGVsbG8="}`},
		{"BOOL", `{"a":{"BOOL":true},"b":{"BOOL":false}}`, `{"a":true,"b":false}`},
		{"NULL", `{"a":{"NULL":true}}`, `{"a":null}`},
		{"SS", `{"a":{"SS":["x","y\"z"]}}`, `{"a":["x","y\"z"]}`},
		{"NS exact", `{"a":{"NS":["1","2.50","-3e2"]}}`, `{"a":[1,2.50,-3e2]}`},
		{"BS", `{"a":{"BS":["AAE=","/w=="]}}`, `{"a":["AAE=","/w=="]}`},
		{"M", `{"a":{"M":{"y":{"N":"1"},"x":{"S":"s"}}}}`, `{"a":{"x":"s","y":1}}`},
		{"M empty", `{"a":{"M":{}}}`, `{"a":{}}`},
		{"L mixed", `{"a":{"L":[{"S":"en"},{"N":"7"},{"NULL":true},{"L":[]},{"M":{"k":{"BOOL":false}}}]}}`, `{"a":["en",7,null,[],{"k":false}]}`},
		{"L empty", `{"a":{"L":[]}}`, `{"a":[]}`},
		{"deep nesting", `{"a":{"M":{"b":{"L":[{"M":{"c":{"L":[{"NS":["1.0"]}]}}}]}}}}`, `{"a":{"b":[{"c":[[1.0]]}]}}`},
		{"members sorted by decoded name", `{"b":{"N":"2"},"\u0061":{"N":"1"},"B":{"N":"0"}}`, `{"B":0,"a":1,"b":2}`},
		{"white space tolerated", " { \"a\" : { \"N\" : \"1\" } , \"b\" : { \"L\" : [ ] } } ", `{"a":1,"b":[]}`},
		{"empty image", `{}`, `{}`},
		{"many members sorted", manyMembers(40), manyMembersPlain(40)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := plainBothWays(t, tt.image)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Fatalf("got  %s\nwant %s", got, tt.want)
			}
		})
	}
}

func manyMembers(n int) string {
	var b strings.Builder
	b.WriteString("{")
	for i := n - 1; i >= 0; i-- {
		if i != n-1 {
			b.WriteString(",")
		}
		b.WriteString(`"k` + string(rune('a'+i%26)) + string(rune('a'+i/26)) + `":{"N":"` + string(rune('0'+i%10)) + `"}`)
	}
	return b.String() + "}"
}

func manyMembersPlain(n int) string {
	m := map[string]json.Number{}
	for i := range n {
		m["k"+string(rune('a'+i%26))+string(rune('a'+i/26))] = json.Number(string(rune('0' + i%10)))
	}
	b, _ := json.Marshal(m) // encoding/json sorts map keys: the order we promise
	return string(b)
}

func TestPlainJSONRejectsMalformedAttributes(t *testing.T) {
	tests := []struct {
		name, image, reason string
	}{
		{"N letters", `{"a":{"N":"abc"}}`, ReasonBadNumber},
		{"N empty", `{"a":{"N":""}}`, ReasonBadNumber},
		{"N two points", `{"a":{"N":"1.2.3"}}`, ReasonBadNumber},
		{"N space", `{"a":{"N":" 1"}}`, ReasonBadNumber},
		{"N hex", `{"a":{"N":"0x10"}}`, ReasonBadNumber},
		{"N NaN", `{"a":{"N":"NaN"}}`, ReasonBadNumber},
		{"N Infinity", `{"a":{"N":"Infinity"}}`, ReasonBadNumber},
		{"N exponent without digits", `{"a":{"N":"1e"}}`, ReasonBadNumber},
		{"N double sign", `{"a":{"N":"--1"}}`, ReasonBadNumber},
		{"N thousands separator", `{"a":{"N":"1,000"}}`, ReasonBadNumber},
		{"N only a point", `{"a":{"N":"."}}`, ReasonBadNumber},
		{"N as JSON number", `{"a":{"N":1}}`, ReasonBadAttribute},
		{"NS element malformed", `{"a":{"NS":["1","x"]}}`, ReasonBadNumber},
		{"NS element not a string", `{"a":{"NS":[1]}}`, ReasonBadAttribute},
		{"S not a string", `{"a":{"S":5}}`, ReasonBadAttribute},
		{"B not base64", `{"a":{"B":"!!!"}}`, ReasonBadAttribute},
		{"B unpadded", `{"a":{"B":"AAE"}}`, ReasonBadAttribute},
		{"BOOL as string", `{"a":{"BOOL":"true"}}`, ReasonBadAttribute},
		{"NULL false", `{"a":{"NULL":false}}`, ReasonBadAttribute},
		{"unknown type", `{"a":{"X":"1"}}`, ReasonBadAttribute},
		{"lower-case type", `{"a":{"s":"1"}}`, ReasonBadAttribute},
		{"no type", `{"a":{}}`, ReasonBadAttribute},
		{"two types", `{"a":{"S":"1","N":"1"}}`, ReasonBadAttribute},
		{"same type twice", `{"a":{"S":"1","S":"2"}}`, ReasonBadAttribute},
		{"plain value instead of attribute", `{"a":"x"}`, ReasonBadAttribute},
		{"null attribute", `{"a":null}`, ReasonBadAttribute},
		{"S null", `{"a":{"S":null}}`, ReasonBadAttribute},
		{"M not an object", `{"a":{"M":[]}}`, ReasonBadAttribute},
		{"L element not an attribute", `{"a":{"L":["x"]}}`, ReasonBadAttribute},
		{"duplicate names", `{"a":{"N":"1"},"a":{"N":"2"}}`, ReasonBadAttribute},
		{"duplicate names after decoding", `{"a":{"N":"1"},"\u0061":{"N":"2"}}`, ReasonBadAttribute},
		{"duplicate names in M", `{"m":{"M":{"z":{"N":"1"},"y":{"N":"1"},"z":{"N":"2"}}}}`, ReasonBadAttribute},
		{"nested too deep", deepImage(maxDepth), ReasonBadAttribute},
		{"image not an object", `[]`, ReasonBadAttribute},
		{"bad JSON", `{"a":{"S":"x"}`, ReasonBadJSON},
		{"bad escape", `{"a":{"S":"\x"}}`, ReasonBadJSON},
		{"raw control character", "{\"a\":{\"S\":\"\x01\"}}", ReasonBadJSON},
		{"invalid UTF-8", "{\"a\":{\"S\":\"\xc3\x28\"}}", ReasonBadJSON},
		{"UTF-8 encoded surrogate", "{\"a\":{\"S\":\"\xed\xa0\x80\"}}", ReasonBadJSON},
		{"trailing data", `{"a":{"S":"x"}} {}`, ReasonBadJSON},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := plainBothWays(t, tt.image)
			if got := reasonOf(err); got != tt.reason {
				t.Fatalf("reason = %q (%v), want %q", got, err, tt.reason)
			}
		})
	}
}

// deepImage nests n levels of M.
func deepImage(n int) string {
	return strings.Repeat(`{"a":{"M":`, n) + "{}" + strings.Repeat("}}", n)
}

func TestPlainJSONAcceptsDynamoDBsDeepestNesting(t *testing.T) {
	// DynamoDB allows 32 levels of nested attributes.
	if _, err := plainBothWays(t, deepImage(32)); err != nil {
		t.Fatal(err)
	}
}

func TestToPlainJSONRejectsBadValuesBuiltInGo(t *testing.T) {
	cyclic := map[string]AttributeValue{}
	cyclic["self"] = MapValue(cyclic)
	for name, img := range map[string]map[string]AttributeValue{
		"bad number":   {"n": NumberValue("1.2.3")},
		"no type":      {"x": {}},
		"bad NS":       {"ns": NumberSetValue("1", "one")},
		"cyclic map":   cyclic,
		"bad L member": {"l": ListValue(StringValue("ok"), AttributeValue{Type: "X"})},
	} {
		if _, err := ToPlainJSON(img); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestToPlainJSONFromConstructors(t *testing.T) {
	img := map[string]AttributeValue{
		"s":       StringValue("a"),
		"n":       NumberValue("-1.50"),
		"b":       BinaryValue([]byte{0, 1}),
		"t":       BoolValue(true),
		"z":       NullValue(),
		"ss":      StringSetValue("x"),
		"ns":      NumberSetValue("1", "2.0"),
		"bs":      BinarySetValue([]byte{0xff}),
		"m":       MapValue(map[string]AttributeValue{"k": StringValue("v")}),
		"l":       ListValue(NumberValue("1"), StringValue("2")),
		"e":       ListValue(),
		"bad\xff": StringValue("ok\xfe"), // invalid UTF-8 from Go becomes U+FFFD
	}
	got, err := ToPlainJSON(img)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"b":"AAE=","bad` + "\uFFFD" + `":"ok` + "\uFFFD" + `","bs":["/w=="],"e":[],"l":[1,"2"],"m":{"k":"v"},"n":-1.50,"ns":[1,2.0],"s":"a","ss":["x"],"t":true,"z":null}`
	if string(got) != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
}

func TestAttributeValueJSONRoundTrip(t *testing.T) {
	in := `{"M":{"b":{"B":"AAE="},"bs":{"BS":[]},"l":{"L":[{"N":"1.50"},{"NULL":true},{"BOOL":false}]},"ns":{"NS":["1e2"]},"s":{"S":"<é>"},"ss":{"SS":["a"]}}}`
	var av AttributeValue
	if err := json.Unmarshal([]byte(in), &av); err != nil {
		t.Fatal(err)
	}
	out, err := json.Marshal(av)
	if err != nil {
		t.Fatal(err)
	}
	var back AttributeValue
	if err := json.Unmarshal(out, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(av, back) {
		t.Fatalf("round trip changed the value:\n%+v\n%+v", av, back)
	}
	if av.M["l"].L[0].N != "1.50" || string(av.M["b"].B) != "\x00\x01" {
		t.Fatalf("decoded wrongly: %+v", av)
	}
}

func TestPlainJSONOfASingleValue(t *testing.T) {
	got, err := NumberValue("0012.340").PlainJSON()
	if err != nil || string(got) != "12.340" {
		t.Fatalf("got %s, %v", got, err)
	}
}
