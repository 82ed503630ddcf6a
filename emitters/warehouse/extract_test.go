package warehouse

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
)

var extractDocs = []string{
	`{"a":1,"b":"x","c":true,"d":null,"e":{"f":{"g":"deep"}},"h":[1,2,{"i":3}]}`,
	` { "a" : -1.5e3 , "b" : "x\"y\\z" , "c" : false } `,
	"{\"a\":1,\n\t\"a\":\"dup\",\r\n\"e\":{\"f\":1},\"e\":{\"g\":2}}",
	`{"e":{"f":1},"e":"not an object"}`,
	`{"e":"str","e":{"f":{"g":[true,{"x":"]}"}]}}}`,
	`{"n\u0061me":"escaped key","name":"plain","b":"\u00e9t\u00e9 \ud83d\ude00"}`,
	`{"name":"plain","n\u0061me":"escaped key wins"}`,
	"{\"b\":\"caf\xc3\xa9\",\"c\":\"bad \xff utf8\",\"\xff\":1}",
	`{"a":12345678901234567890,"b":1.0,"c":1e2,"d":-0,"e":9.9e400,"ts":"2026-01-01T00:00:00Z","t2":1767225600.5}`,
	`{"a":[],"b":{},"c":"","d":" { } [ ] , : ","e":{"":{"x":1}},"":"empty name"}`,
	`{"a":{"b":{"c":{"d":{"e":"five"}}}},"a.b":"dotted name"}`,
	`{"a":"\\","b":"\\\"","c":"\/"}`,
	`{}`,
}

var extractPaths = []string{"a", "b", "c", "d", "e", "e.f", "e.g", "e.f.g", "h", "h.i", "name", "ts", "t2", "", "e.", "a.b", "a.b.c.d.e", "a.b.c.d", "x", "a.b.c"}

var extractTypes = []string{"string", "int", "float", "bool", "timestamp", "json", ""}

// extractRaw reads one projected column from doc (isObject) as the converter does.
func extractRaw(doc []byte, path, typ string) (any, error) {
	c := newConverter(Table{Projected: []Column{{Path: path, Source: typ}}}, time.Time{}, 1)
	c.members(doc)
	return c.column(0, typ)
}

// TestExtractRaw compares the converter's reading of a projected column in place with
// decoding the item and Extract.
func TestExtractRaw(t *testing.T) {
	for _, doc := range extractDocs {
		for _, path := range extractPaths {
			for _, typ := range extractTypes {
				compareExtract(t, []byte(doc), path, typ)
			}
		}
	}
}

func compareExtract(t *testing.T, doc []byte, path, typ string) {
	t.Helper()
	if !isObject(doc) {
		t.Fatalf("%s: not an object", doc)
	}
	var item map[string]any
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	if err := dec.Decode(&item); err != nil {
		t.Fatalf("%s: %v", doc, err)
	}
	want, wantErr := Extract(item, path, typ)
	got, gotErr := extractRaw(doc, path, typ)
	if fmt.Sprint(wantErr) != fmt.Sprint(gotErr) || !reflect.DeepEqual(want, got) {
		t.Errorf("%s path %q type %q:\n got %#v, %v\nwant %#v, %v", doc, path, typ, got, gotErr, want, wantErr)
	}
}

func FuzzExtractRaw(f *testing.F) {
	for _, doc := range extractDocs {
		f.Add([]byte(doc), "e.f", "json")
	}
	f.Fuzz(func(t *testing.T, doc []byte, path, typ string) {
		if !isObject(doc) {
			return
		}
		compareExtract(t, doc, path, typ)
	})
}

func TestIsObject(t *testing.T) {
	for doc, want := range map[string]bool{
		`{}`: true, ` {"a":1} `: true, `[]`: false, `null`: false, `{"a":1} x`: false, `{"a":}`: false, ``: false, `"{}"`: false,
	} {
		if got := isObject([]byte(doc)); got != want {
			t.Errorf("isObject(%q) = %v", doc, got)
		}
	}
}

var validDocs = []string{
	``, ` `, `{}`, `[]`, `[ ]`, `{ }`, `{"a":1}`, ` {"a":[1,2,{"b":null}]} `, `{"a":1,}`, `[1,]`, `[,1]`, `{"a"}`, `{"a":}`,
	`{1:2}`, `{"a":1 "b":2}`, `{"a":1}x`, `{"a":1}{}`, `0`, `-0`, `01`, `-`, `1.`, `.5`, `1.5e`, `1e+`, `1E-7`, `-12.34e+56`,
	`true`, `tru`, `truex`, `[true,false,null]`, `nul`, `"a`, `"\u00e9"`, `"\u00g9"`, `"\x"`, `"\/\b\f\n\r\t\"\\"`,
	"\"\x01\"", "\"\xff\xfe\"", "\"tab\there\"", "[1,\n\t2\r]", `{"a":[}`, `{"a":]}`, `[{]}`, `"\u12"`,
	strings.Repeat("[", maxDepth) + strings.Repeat("]", maxDepth),
	strings.Repeat("[", maxDepth+1) + strings.Repeat("]", maxDepth+1),
	strings.Repeat(`{"a":`, maxDepth) + "1" + strings.Repeat("}", maxDepth),
	strings.Repeat(`{"a":`, maxDepth+1) + "1" + strings.Repeat("}", maxDepth+1),
}

// TestValidJSON: validJSON is json.Valid.
func TestValidJSON(t *testing.T) {
	for _, doc := range append(validDocs, extractDocs...) {
		if got, want := validJSON([]byte(doc)), json.Valid([]byte(doc)); got != want {
			t.Errorf("validJSON(%.60q) = %v, json.Valid %v", doc, got, want)
		}
	}
}

func FuzzValidJSON(f *testing.F) {
	for _, doc := range append(validDocs[:len(validDocs)-4], extractDocs...) {
		f.Add([]byte(doc))
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		if got, want := validJSON(doc), json.Valid(doc); got != want {
			t.Errorf("validJSON(%q) = %v, json.Valid %v", doc, got, want)
		}
	})
}
