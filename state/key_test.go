package state

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// keyOf encodes keys from a Keys JSON object both ways (EncodeKey on the tree, ParseChange
// on a record) and fails unless they agree.
func keyOf(t *testing.T, keysJSON string, keys ...string) (string, error) {
	t.Helper()
	spec := KeySpec{Keys: keys}
	rec := `{"eventName":"REMOVE","dynamodb":{"Keys":` + keysJSON + `,"SequenceNumber":"1"}}`
	c, err := bothPaths(t, []byte(rec), spec)
	if err != nil {
		return "", err
	}
	return c.Key, nil
}

func TestKeyNumbersAreCanonical(t *testing.T) {
	tests := map[string]string{
		"1": "1", "01": "1", "1.0": "1", "1.000": "1", "+1": "1", "1e0": "1", "10e-1": "1", "0.1E1": "1",
		"0": "0", "-0": "0", "0.000": "0", "0e9": "0", "-0.0e-5": "0",
		"1.50":                                   "1.5",
		"-1.50":                                  "-1.5",
		"-15e-1":                                 "-1.5",
		".5":                                     "0.5",
		"1e3":                                    "1000",
		"1.25e1":                                 "12.5",
		"123e-5":                                 "0.00123",
		"12345678901234567890123456789012345678": "12345678901234567890123456789012345678",
		"99999999999999999999.999999999999999999": "99999999999999999999.999999999999999999",
		"1e-130":   "0." + strings.Repeat("0", 129) + "1",
		"9.99e125": "999" + strings.Repeat("0", 123),
	}
	for in, want := range tests {
		got, err := keyOf(t, `{"id":{"N":"`+in+`"}}`, "id")
		if err != nil {
			t.Errorf("%s: %v", in, err)
			continue
		}
		if got != "["+want+"]" {
			t.Errorf("%s: key %s, want [%s]", in, got, want)
		}
	}
}

func TestKeyNumbersOutOfRangeAreRejected(t *testing.T) {
	for _, in := range []string{"1e1001", "1e-1002", "1e99999999999999999999"} {
		if _, err := keyOf(t, `{"id":{"N":"`+in+`"}}`, "id"); ReasonOf(err) != ReasonBadNumber {
			t.Errorf("%s: %v, want bad_number", in, err)
		}
	}
}

func TestKeyEncoding(t *testing.T) {
	tests := []struct {
		name, keys string
		spec       []string
		want       string
	}{
		{"hash and range in key-schema order", `{"sk":{"S":"profile"},"pk":{"S":"user#1"}}`, []string{"pk", "sk"}, `["user#1","profile"]`},
		{"number hash", `{"pk":{"N":"42"},"sk":{"S":"x"}}`, []string{"pk", "sk"}, `[42,"x"]`},
		{"binary is canonical base64", `{"pk":{"B":"AA\nE="}}`, []string{"pk"}, `["AAE="]`},
		{"string escapes are minimal", `{"pk":{"S":"a\"b\u00e9\/"}}`, []string{"pk"}, `["a\"bé/"]`},
		{"extra attributes in Keys are ignored", `{"pk":{"S":"a"},"other":{"M":{}}}`, []string{"pk"}, `["a"]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := keyOf(t, tt.keys, tt.spec...)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Fatalf("key %s, want %s", got, tt.want)
			}
			if !json.Valid([]byte(got)) {
				t.Fatalf("key %s is not JSON", got)
			}
		})
	}
}

func TestKeyErrors(t *testing.T) {
	tests := []struct {
		name, keys string
		spec       []string
		reason     string
	}{
		{"missing range key", `{"pk":{"S":"a"}}`, []string{"pk", "sk"}, ReasonMissingKey},
		{"empty Keys", `{}`, []string{"pk"}, ReasonMissingKey},
		{"key of type M", `{"pk":{"M":{}}}`, []string{"pk"}, ReasonBadKeyType},
		{"key of type SS", `{"pk":{"SS":["a"]}}`, []string{"pk"}, ReasonBadKeyType},
		{"key of type NULL", `{"pk":{"NULL":true}}`, []string{"pk"}, ReasonBadKeyType},
		{"key of type BOOL", `{"pk":{"BOOL":true}}`, []string{"pk"}, ReasonBadKeyType},
		{"key number malformed", `{"pk":{"N":"one"}}`, []string{"pk"}, ReasonBadNumber},
		{"key binary malformed", `{"pk":{"B":"%%"}}`, []string{"pk"}, ReasonBadAttribute},
		{"key attribute twice", `{"pk":{"S":"a"},"pk":{"S":"b"}}`, []string{"pk"}, ReasonBadAttribute},
		{"Keys not an object", `[]`, []string{"pk"}, ReasonBadAttribute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := keyOf(t, tt.keys, tt.spec...)
			if got := reasonOf(err); got != tt.reason {
				t.Fatalf("reason %q (%v), want %q", got, err, tt.reason)
			}
		})
	}
}

func TestEncodeKeyFromGoValues(t *testing.T) {
	k, err := EncodeKey(map[string]AttributeValue{
		"pk": BinaryValue([]byte{0, 1}), "sk": NumberValue("010.50"), "x": BoolValue(true),
	}, []string{"pk", "sk"})
	if err != nil || k != `["AAE=",10.5]` {
		t.Fatalf("EncodeKey = %s, %v", k, err)
	}
	if _, err := EncodeKey(map[string]AttributeValue{"pk": StringValue("a")}, nil); err == nil {
		t.Fatal("EncodeKey with no key attributes succeeded")
	}
}

func TestKeyFromStringsFindsTheStoredKey(t *testing.T) {
	stored, err := keyOf(t, `{"pk":{"S":"user#1"},"sk":{"N":"7.0"}}`, "pk", "sk")
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range [][]string{{"user#1", "7"}, {"user#1", "07.00"}, {"user#1", "7e0"}} {
		got, err := KeyFromStrings(q, []bool{false, true})
		if err != nil || got != stored {
			t.Errorf("KeyFromStrings(%q) = %s, %v; want %s", q, got, err, stored)
		}
	}
	if got, _ := KeyFromStrings([]string{"42"}, nil); got != `["42"]` {
		t.Errorf("string lookup of 42 = %s", got)
	}
	for _, bad := range []struct {
		values  []string
		numeric []bool
	}{
		{[]string{"user#1", "seven"}, []bool{false, true}},
		{[]string{"a"}, []bool{false, true}},
		{nil, nil},
	} {
		if k, err := KeyFromStrings(bad.values, bad.numeric); err == nil {
			t.Errorf("KeyFromStrings(%q, %v) = %s, want an error", bad.values, bad.numeric, k)
		}
	}
}

func TestKeyPrefixMatchesOnlyItsHashKey(t *testing.T) {
	p := KeyPrefixString("user#1")
	if p != `["user#1",` {
		t.Fatalf("prefix %s", p)
	}
	for key, want := range map[string]bool{
		`["user#1","profile"]`:  true,
		`["user#1",7]`:          true,
		`["user#10","profile"]`: false,
		`["user#1"]`:            false,
	} {
		if got := strings.HasPrefix(key, p); got != want {
			t.Errorf("HasPrefix(%s, %s) = %v", key, p, got)
		}
	}
	if p, err := KeyPrefixNumber("010.0"); err != nil || p != "[10," {
		t.Fatalf("KeyPrefixNumber = %s, %v", p, err)
	}
	if _, err := KeyPrefixNumber("ten"); err == nil {
		t.Fatal("KeyPrefixNumber accepted text")
	}
	if p := KeyPrefixString(`a"b`); p != `["a\"b",` {
		t.Fatalf("escaped prefix %s", p)
	}
}

func TestDecodeKey(t *testing.T) {
	got, err := DecodeKey(`["user#1",-42.5,"a\"b"]`)
	if err != nil {
		t.Fatal(err)
	}
	want := []any{"user#1", json.Number("-42.5"), `a"b`}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %#v, want %#v", got, want)
	}
	for _, bad := range []string{``, `[]`, `["a"`, `["a",]`, `[01]`, `[true]`, `{"a":1}`, `["a"]x`, `["\x"]`, `[1.]`} {
		if v, err := DecodeKey(bad); err == nil {
			t.Errorf("DecodeKey(%s) = %v, want an error", bad, v)
		}
	}
}

// TestAppendKeyText: the text of DecodeKey's values (numbers as their JSON text),
// appended after what dst holds, and DecodeKey's errors.
func TestAppendKeyText(t *testing.T) {
	for _, key := range []string{`["user#1",-42.5,"a\"b"]`, `[1]`, ` [ "sp" , 1e3 ] `, `["\u00e9\ud83d\ude00","a","b","c","d"]`,
		``, `[]`, `["a"`, `["a",]`, `[01]`, `[true]`, `{"a":1}`, `["a"]x`, `["\x"]`, `[1.]`} {
		vals, decErr := DecodeKey(key)
		got, err := AppendKeyText([]string{"before"}, key)
		if fmt.Sprint(err) != fmt.Sprint(decErr) {
			t.Errorf("AppendKeyText(%s): error %v, DecodeKey's %v", key, err, decErr)
			continue
		}
		want := []string{"before"}
		for _, v := range vals {
			want = append(want, fmt.Sprint(v))
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("AppendKeyText(%s) = %q, want %q", key, got, want)
		}
	}
}

func TestCompareKeysOrdersRangeKeysLikeDynamoDB(t *testing.T) {
	sorted := []string{
		`[1,"a"]`,
		`[1,"b"]`,
		`[2,"a"]`,
		`[10,"a"]`,
		`["a"]`,
		`["a",-1]`,
		`["a",9]`,
		`["a",10]`,
		`["a",10.5]`,
		`["a","10"]`,
		`["a","9"]`,
		`["a","\u0041"]`, // "A" < "Z" after decoding, although the escape sorts after it
		`["a","Z"]`,
		`["a","a"]`,
		`["a\"","a"]`,
		`["b"]`,
		`not a key`,
		`zzz`,
	}
	for range 20 {
		got := slices.Clone(sorted)
		rand.Shuffle(len(got), func(i, j int) { got[i], got[j] = got[j], got[i] })
		slices.SortFunc(got, CompareKeys)
		if !slices.Equal(got, sorted) {
			t.Fatalf("sorted:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(sorted, "\n"))
		}
	}
	if CompareKeys(`[1.50,"x"]`, `[1.5,"x"]`) != 0 {
		t.Fatal("equal numbers in different spellings compare unequal")
	}
}
