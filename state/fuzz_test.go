package state

import (
	"bytes"
	"encoding/json"
	"math/big"
	"reflect"
	"strings"
	"testing"
)

func recordSeeds(f *testing.F) {
	f.Add([]byte(benchRecord))
	for _, ev := range []string{EventInsert, EventModify, EventRemove} {
		f.Add(lambdaRecord(f, ev, "400000000000000000001", nil))
	}
	f.Add(lambdaRecord(f, EventRemove, "1", func(rec, ddb map[string]any) {
		rec["userIdentity"] = map[string]any{"type": "Service", "principalId": "dynamodb.amazonaws.com"}
		delete(ddb, "OldImage")
	}))
	f.Add([]byte(`{"eventName":"INSERT","dynamodb":{"Keys":{"pk":{"N":"-01.50e1"},"sk":{"B":"AAE="}},"NewImage":{"\u0061":{"L":[{"NS":["1",".5"]},{"BS":[""]},{"NULL":true},{"BOOL":false}]},"s":{"SS":["\ud83d\ude00"]}},"SequenceNumber":"1","ApproximateCreationDateTime":1.5e9}}`))
	f.Add([]byte(`{"eventName":"MODIFY","dynamodb":{"Keys":{"pk":{"S":"a"},"sk":{"S":"b"}},"NewImage":{"updatedAt":{"S":"x\"y"}},"SequenceNumber":"00"}}`))
	f.Add([]byte(`{"eventName":"REMOVE","dynamodb":{"Keys":{"pk":{"S":"a"},"sk":{"S":"b"}},"OldImage":{"updatedAt":{"N":"+.5E-3"}},"SequenceNumber":"2"},"eventSourceARN":"arn"}`))
	f.Add([]byte(`{"event\u0049D":"id\u0031","eventName":"\u0052EMOVE","dynamodb":{"Keys":{"p\u006b":{"\u0053":"a"},"sk":{"N":"\u0037"}},"OldImage":{"updated\u0041t":{"N":"1"}},"SequenceNumber":"\u00312"}}`))
	f.Add([]byte(`{}`))
	f.Add([]byte(`null`))
}

// FuzzParseRecord: ParseRecord never panics, accepts only valid JSON, and whatever it
// accepts Marshal writes back as JSON that parses to the same Record.
func FuzzParseRecord(f *testing.F) {
	recordSeeds(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := ParseRecord(b)
		if err != nil {
			return
		}
		if !json.Valid(b) {
			t.Fatalf("ParseRecord accepted invalid JSON %q", b)
		}
		out, err := r.Marshal()
		if err != nil {
			t.Fatalf("Marshal of a parsed record: %v", err)
		}
		if !json.Valid(out) {
			t.Fatalf("Marshal wrote invalid JSON %q", out)
		}
		back, err := ParseRecord(out)
		if err != nil {
			t.Fatalf("re-parse of %q: %v", out, err)
		}
		if !reflect.DeepEqual(r, back) {
			t.Fatalf("round trip changed the record:\n%+v\n%+v", r, back)
		}
	})
}

// FuzzParseChange: ParseChange never panics, agrees with ParseRecord+ChangeFromRecord
// (see bothPaths), writes valid JSON, and gives the same Change for the record Marshal
// rewrites.
func FuzzParseChange(f *testing.F) {
	recordSeeds(f)
	specs := []KeySpec{usersSpec, {Keys: []string{"pk"}}, {Keys: []string{"pk", "sk"}, VersionAttribute: "a"}}
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, spec := range specs {
			c, err := bothPaths(t, b, spec)
			if err != nil {
				if _, ok := err.(*InvalidError); !ok {
					t.Fatalf("error is not an *InvalidError: %v", err)
				}
				continue
			}
			if !json.Valid(b) {
				t.Fatalf("ParseChange accepted invalid JSON %q", b)
			}
			if !json.Valid([]byte(c.Key)) || (c.Item != nil && !json.Valid(c.Item)) {
				t.Fatalf("invalid JSON out: key %s item %s", c.Key, c.Item)
			}
			if c.Version.HasAttr && !json.Valid([]byte(c.Version.Attr)) {
				t.Fatalf("version attribute %s is not JSON", c.Version.Attr)
			}
			if _, err := DecodeKey(c.Key); err != nil {
				t.Fatalf("DecodeKey(%s): %v", c.Key, err)
			}
			if r, err := ParseRecord(b); err == nil {
				out, _ := r.Marshal()
				again, err := ParseChange(out, spec)
				if err != nil || !changesEqual(c, again) {
					t.Fatalf("the re-marshalled record gives another change: %v\n%+v\n%+v", err, c, again)
				}
			}
		}
	})
}

// FuzzValueUnmarshal: the decoder never panics and what it accepts re-encodes to a value
// that decodes the same. Each input is also tried with its checksum fixed up, or the
// fuzzer would never get past the checksum to the field decoding behind it.
func FuzzValueUnmarshal(f *testing.F) {
	for _, v := range sampleValues() {
		if len(v.Item) < 1000 {
			data, _ := v.MarshalBinary()
			f.Add(data)
		}
	}
	f.Add([]byte{})
	f.Add([]byte{1})
	f.Add([]byte{2, 0, 0, 0})
	f.Add(withCRC([]byte{1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}))
	f.Fuzz(func(t *testing.T, data []byte) {
		checkDecode(t, data)
		if len(data) > 0 {
			checkDecode(t, withCRC(data))
		}
	})
}

func checkDecode(t *testing.T, data []byte) {
	t.Helper()
	var v Value
	if err := v.UnmarshalBinary(data); err != nil {
		return
	}
	again, err := v.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	var back Value
	if err := back.UnmarshalBinary(again); err != nil {
		t.Fatalf("re-decode: %v", err)
	}
	if !valuesEqual(&v, &back) {
		t.Fatalf("re-encode changed the value:\n%+v\n%+v", v, back)
	}
}

// FuzzCompareDecimal checks CompareDecimal and the canonical key form against math/big.
func FuzzCompareDecimal(f *testing.F) {
	for _, s := range [][2]string{{"1.50", "1.5"}, {"-0", "0"}, {"1e2", "99.9"}, {".5", "5."}, {"+007", "-7e-3"}} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		got := CompareDecimal(a, b)
		if CompareDecimal(b, a) != -got {
			t.Fatalf("not antisymmetric on %q, %q", a, b)
		}
		ra, oka := ratOf(a)
		rb, okb := ratOf(b)
		if oka && okb {
			if want := ra.Cmp(rb); got != want {
				t.Fatalf("CompareDecimal(%q, %q) = %d, math/big says %d", a, b, got, want)
			}
		}
		if canon, ok := appendCanonicalNumber(nil, a); ok {
			if CompareDecimal(string(canon), a) != 0 {
				t.Fatalf("canonical %s of %q is another number", canon, a)
			}
			if again, _ := appendCanonicalNumber(nil, canon); !bytes.Equal(again, canon) {
				t.Fatalf("canonical form is not stable: %s → %s", canon, again)
			}
			if !json.Valid(canon) {
				t.Fatalf("canonical %s is not a JSON number", canon)
			}
		}
		if plain, ok := appendPlainNumber(nil, a); ok {
			if !json.Valid(plain) || CompareDecimal(string(plain), a) != 0 {
				t.Fatalf("plain %s of %q is not the same JSON number", plain, a)
			}
		}
	})
}

// ratOf parses a number our grammar accepts with math/big, skipping huge exponents that
// big would spell out.
func ratOf(s string) (*big.Rat, bool) {
	p, ok := scanNum(s)
	if !ok || p.exp > 400 || p.exp < -400 {
		return nil, false
	}
	t := strings.TrimPrefix(s, "+")
	if strings.HasPrefix(t, ".") || strings.HasPrefix(t, "-.") {
		t = strings.Replace(t, ".", "0.", 1)
	}
	t = strings.Replace(t, ".e", "e", 1)
	t = strings.Replace(t, ".E", "E", 1)
	t = strings.TrimSuffix(t, ".")
	r, ok := new(big.Rat).SetString(t)
	return r, ok
}

// FuzzParseRecordHeader: ParseRecordHeader accepts exactly what ParseRecord accepts and
// gives the same header (see headerBothWays).
func FuzzParseRecordHeader(f *testing.F) {
	recordSeeds(f)
	f.Fuzz(func(t *testing.T, b []byte) { headerBothWays(t, b) })
}
