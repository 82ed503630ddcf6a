package state

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata golden files")

func TestCompareDecimal(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"10", "9", 1},
		{"-1.5", "2", -1},
		{"1.50", "1.5", 0},
		{"1e2", "100", 0},
		{"100", "1E+2", 0},
		{"-0", "0", 0},
		{"0.000", "-0e5", 0},
		{"+5", "5", 0},
		{".5", "0.5", 0},
		{"5.", "5", 0},
		{"007", "7", 0},
		{"-2", "-10", 1},
		{"-10", "-2", -1},
		{"0.1", "0.09", 1},
		{"0.001", "1e-3", 0},
		{"123456789012345678901234567890", "123456789012345678901234567891", -1},
		{"100000000000000000000", "99999999999999999999", 1},
		{"1.0000000000000000000000000000000000001", "1", 1},
		{"-1.0000000000000000000000000000000000001", "-1", -1},
		{"1e999999999999999999999", "1e100", 1},
		{"1e-999999999999999999999", "0", 1},
		{"-1e-999999999999999999999", "0", -1},
		{"12.5", "125e-1", 0},
		{"1", "1.1", -1},
		{"2", "10", -1},
		// Not numbers: before every number, bytewise among themselves.
		{"abc", "1", -1},
		{"1", "abc", 1},
		{"abc", "abd", -1},
		{"", "0", -1},
	}
	for _, tt := range tests {
		if got := CompareDecimal(tt.a, tt.b); got != tt.want {
			t.Errorf("CompareDecimal(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
		if got := CompareDecimal(tt.b, tt.a); got != -tt.want {
			t.Errorf("CompareDecimal(%q, %q) = %d, want %d", tt.b, tt.a, got, -tt.want)
		}
	}
}

// Named versions for the golden file. Same stream unless the name says s2.
var goldenVersions = []struct {
	name string
	v    Version
}{
	{"seq1", Version{Seq: "400000000000000000001", Stream: testARN, CreatedAt: 1000}},
	{"seq1-again", Version{Seq: "400000000000000000001", Stream: testARN, CreatedAt: 1000}},
	{"seq1-leading-zero", Version{Seq: "0400000000000000000001", Stream: testARN, CreatedAt: 1000}},
	{"seq2", Version{Seq: "400000000000000000002", Stream: testARN, CreatedAt: 1000}},
	{"seq-99999999999999999999", Version{Seq: "99999999999999999999", Stream: testARN, CreatedAt: 1000}},
	{"seq-100000000000000000000", Version{Seq: "100000000000000000000", Stream: testARN, CreatedAt: 1000}},
	{"seq1-attr-n-100", Version{Attr: "100", HasAttr: true, Seq: "400000000000000000001", Stream: testARN, CreatedAt: 1000}},
	{"seq2-attr-n-99.5", Version{Attr: "99.5", HasAttr: true, Seq: "400000000000000000002", Stream: testARN, CreatedAt: 1000}},
	{"seq3-attr-n-100.0", Version{Attr: "100.0", HasAttr: true, Seq: "400000000000000000003", Stream: testARN, CreatedAt: 1000}},
	{"seq1-attr-s-b", Version{Attr: `"2026-01-02"`, HasAttr: true, Seq: "400000000000000000001", Stream: testARN, CreatedAt: 1000}},
	{"seq2-attr-s-a", Version{Attr: `"2026-01-01"`, HasAttr: true, Seq: "400000000000000000002", Stream: testARN, CreatedAt: 1000}},
	{"s2-seq5-t900", Version{Seq: "5", Stream: testARNNew, CreatedAt: 900}},
	{"s2-seq5-t2000", Version{Seq: "5", Stream: testARNNew, CreatedAt: 2000}},
	{"s2-seq400000000000000000001-t1000", Version{Seq: "400000000000000000001", Stream: testARNNew, CreatedAt: 1000}},
	{"s2-seq1-t1000-attr-n-101", Version{Attr: "101", HasAttr: true, Seq: "1", Stream: testARNNew, CreatedAt: 1000}},
}

// TestVersionOrderGolden pins Compare for every pair of the named versions above in
// testdata/version_order.golden; run with -update after a deliberate change of the rules
// and review the diff.
func TestVersionOrderGolden(t *testing.T) {
	var b bytes.Buffer
	b.WriteString("# Compare(a, b) for every pair of the versions in version_test.go.\n")
	b.WriteString("# Regenerate: go test ./state -run TestVersionOrderGolden -update\n")
	for _, a := range goldenVersions {
		for _, c := range goldenVersions {
			if a.name >= c.name {
				continue
			}
			op := map[int]string{-1: "<", 0: "=", 1: ">"}[Compare(a.v, c.v)]
			fmt.Fprintf(&b, "%s %s %s\n", a.name, op, c.name)
			if Compare(c.v, a.v) != -Compare(a.v, c.v) {
				t.Errorf("Compare is not antisymmetric on %s, %s", a.name, c.name)
			}
		}
	}
	path := filepath.Join("testdata", "version_order.golden")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(b.Bytes(), want) {
		got, wantLines := strings.Split(b.String(), "\n"), strings.Split(string(want), "\n")
		for i := range max(len(got), len(wantLines)) {
			g, w := at(got, i), at(wantLines, i)
			if g != w {
				t.Errorf("line %d: got %q, golden %q", i+1, g, w)
			}
		}
	}
}

func at(s []string, i int) string {
	if i < len(s) {
		return s[i]
	}
	return ""
}

func TestCompareRules(t *testing.T) {
	tests := []struct {
		name string
		a, b Version
		want int
	}{
		{"duplicate delivery is equal",
			Version{Seq: "400000000000000000001", Stream: testARN, CreatedAt: 5},
			Version{Seq: "400000000000000000001", Stream: testARN, CreatedAt: 5}, 0},
		{"greater sequence number is newer",
			Version{Seq: "400000000000000000002", Stream: testARN},
			Version{Seq: "400000000000000000001", Stream: testARN}, 1},
		{"sequence numbers beyond 64 bits compare as integers",
			Version{Seq: "100000000000000000000", Stream: testARN},
			Version{Seq: "99999999999999999999", Stream: testARN}, 1},
		{"same stream ignores creation time",
			Version{Seq: "2", Stream: testARN, CreatedAt: 1},
			Version{Seq: "1", Stream: testARN, CreatedAt: 999}, 1},
		{"version attribute beats sequence number",
			Version{Attr: "200", HasAttr: true, Seq: "1", Stream: testARN},
			Version{Attr: "100", HasAttr: true, Seq: "2", Stream: testARN}, 1},
		{"version attribute numbers compare exactly",
			Version{Attr: "1767225600123.0000000000000000001", HasAttr: true, Seq: "1", Stream: testARN},
			Version{Attr: "1767225600123", HasAttr: true, Seq: "2", Stream: testARN}, 1},
		{"equal version attributes fall through to sequence numbers",
			Version{Attr: "1.50", HasAttr: true, Seq: "1", Stream: testARN},
			Version{Attr: "1.5", HasAttr: true, Seq: "2", Stream: testARN}, -1},
		{"version attribute strings compare bytewise",
			Version{Attr: `"2026-01-02T00:00:00Z"`, HasAttr: true, Seq: "1", Stream: testARN},
			Version{Attr: `"2026-01-01T23:59:59Z"`, HasAttr: true, Seq: "2", Stream: testARN}, 1},
		{"version attribute strings compare decoded",
			Version{Attr: `"\u0041"`, HasAttr: true, Seq: "1", Stream: testARN},
			Version{Attr: `"Z"`, HasAttr: true, Seq: "2", Stream: testARN}, -1},
		{"version attributes of different kinds are skipped",
			Version{Attr: `"9999"`, HasAttr: true, Seq: "1", Stream: testARN},
			Version{Attr: "1", HasAttr: true, Seq: "2", Stream: testARN}, -1},
		{"version attribute on one side only is skipped",
			Version{Attr: "9999", HasAttr: true, Seq: "1", Stream: testARN},
			Version{Seq: "2", Stream: testARN}, -1},
		{"across streams creation time decides",
			Version{Seq: "1", Stream: testARNNew, CreatedAt: 2000},
			Version{Seq: "900000000000000000000", Stream: testARN, CreatedAt: 1000}, 1},
		{"across streams equal times fall back to sequence numbers",
			Version{Seq: "2", Stream: testARNNew, CreatedAt: 1000},
			Version{Seq: "1", Stream: testARN, CreatedAt: 1000}, 1},
		{"across streams a full tie is broken by the stream name",
			Version{Seq: "1", Stream: testARNNew, CreatedAt: 1000},
			Version{Seq: "1", Stream: testARN, CreatedAt: 1000}, 1},
		{"across streams the version attribute still comes first",
			Version{Attr: "5", HasAttr: true, Seq: "1", Stream: testARN, CreatedAt: 1},
			Version{Attr: "4", HasAttr: true, Seq: "1", Stream: testARNNew, CreatedAt: 2}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Compare(tt.a, tt.b); got != tt.want {
				t.Fatalf("Compare = %d, want %d", got, tt.want)
			}
			if got := Compare(tt.b, tt.a); got != -tt.want {
				t.Fatalf("reversed Compare = %d, want %d", got, -tt.want)
			}
		})
	}
}

// applyChange is the processor's rule (processors/cdc.go), kept here so the version
// order can be tested on sequences of changes: a change replaces the state only when it
// is greater; a REMOVE leaves a tombstone with its version.
func applyChange(cur *Value, c Change) (*Value, string) {
	if cur != nil {
		switch Compare(c.Version, cur.Version) {
		case 0:
			return cur, "duplicate"
		case -1:
			return cur, "stale"
		}
	}
	return &Value{Item: c.Item, Deleted: c.Deleted, Version: c.Version, EventID: c.EventID, UpdatedAt: c.CreatedAt}, "applied"
}

// change parses a Lambda record for item user#1 with the given name, sequence number,
// updatedAt and item name.
func change(t *testing.T, event, seq, updatedAt, name string) Change {
	t.Helper()
	b := lambdaRecord(t, event, seq, func(rec, ddb map[string]any) {
		rec["eventID"] = event + "-" + seq
		for _, img := range []string{"NewImage", "OldImage"} {
			if m, ok := ddb[img].(map[string]any); ok {
				m["updatedAt"] = map[string]any{"N": updatedAt}
				m["name"] = map[string]any{"S": name}
			}
		}
	})
	c, err := bothPaths(t, b, usersSpec)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func applyAll(changes []Change) (*Value, []string) {
	var cur *Value
	var outcomes []string
	for _, c := range changes {
		var o string
		cur, o = applyChange(cur, c)
		outcomes = append(outcomes, o)
	}
	return cur, outcomes
}

func itemName(v *Value) string {
	if v == nil {
		return "<none>"
	}
	if v.Deleted {
		return "<deleted>"
	}
	_, after, _ := strings.Cut(string(v.Item), `"name":"`)
	name, _, _ := strings.Cut(after, `"`)
	return name
}

func TestRemoveThenRecreateKeepsItem(t *testing.T) {
	ins := change(t, EventInsert, "400000000000000000001", "100", "v1")
	rm := change(t, EventRemove, "400000000000000000002", "100", "v1")
	re := change(t, EventInsert, "400000000000000000003", "101", "v2")
	cur, outcomes := applyAll([]Change{ins, rm, re})
	if itemName(cur) != "v2" || !slices.Equal(outcomes, []string{"applied", "applied", "applied"}) {
		t.Fatalf("state %s after %v, want the re-created item v2", itemName(cur), outcomes)
	}
}

func TestLateModifyAfterRemoveIsIgnored(t *testing.T) {
	mod := change(t, EventModify, "400000000000000000002", "101", "v2")
	rm := change(t, EventRemove, "400000000000000000003", "101", "v2")
	cur, outcomes := applyAll([]Change{rm, mod})
	if itemName(cur) != "<deleted>" || outcomes[1] != "stale" {
		t.Fatalf("state %s after %v: a late MODIFY brought a deleted item back", itemName(cur), outcomes)
	}
}

func TestDuplicateDeliveryIsIgnored(t *testing.T) {
	c := change(t, EventModify, "400000000000000000002", "101", "v2")
	_, outcomes := applyAll([]Change{c, c})
	if outcomes[1] != "duplicate" {
		t.Fatalf("outcomes %v, want the second delivery counted as duplicate", outcomes)
	}
}

func TestStaleChangeIsIgnored(t *testing.T) {
	old := change(t, EventModify, "400000000000000000001", "100", "v1")
	cur := change(t, EventModify, "400000000000000000002", "101", "v2")
	state, outcomes := applyAll([]Change{cur, old})
	if itemName(state) != "v2" || outcomes[1] != "stale" {
		t.Fatalf("state %s after %v", itemName(state), outcomes)
	}
}

func TestVersionAttributeBeatsSequenceNumber(t *testing.T) {
	// A writer restored an older updatedAt with a later write (say, a replayed backup):
	// the configured version attribute decides, whatever the sequence numbers say.
	newer := change(t, EventModify, "400000000000000000001", "200", "by-attr")
	later := change(t, EventModify, "400000000000000000009", "150", "by-seq")
	for _, order := range [][]Change{{newer, later}, {later, newer}} {
		if cur, _ := applyAll(order); itemName(cur) != "by-attr" {
			t.Fatalf("state %s, want the change with the greater updatedAt", itemName(cur))
		}
	}
}

func TestRemoveUsesOldImageVersionAttribute(t *testing.T) {
	// The REMOVE carries updatedAt 300 from its OldImage, so the MODIFY with updatedAt 200
	// that arrives late is older even though nothing else would tell.
	rm := change(t, EventRemove, "400000000000000000005", "300", "v3")
	mod := change(t, EventModify, "400000000000000000004", "200", "v2")
	if cur, _ := applyAll([]Change{rm, mod}); itemName(cur) != "<deleted>" {
		t.Fatalf("state %s, want the tombstone", itemName(cur))
	}
}

func TestCrossStreamUsesCreationTime(t *testing.T) {
	// The table was re-created: its new stream starts again at small sequence numbers.
	old := change(t, EventModify, "900000000000000000000", "100", "old-table")
	recreated := change(t, EventInsert, "100", "100", "new-table")
	recreated.Version.Stream = testARNNew
	recreated.Version.CreatedAt = old.Version.CreatedAt + 1
	for _, order := range [][]Change{{old, recreated}, {recreated, old}} {
		if cur, _ := applyAll(order); itemName(cur) != "new-table" {
			t.Fatalf("state %s, want the later change from the new stream", itemName(cur))
		}
	}
}

// TestEveryDeliveryOrderGivesTheSameState is the metamorphic form of the rules above:
// the changes of one item, each delivered once or twice, in every order, must end in the
// state of the greatest change.
func TestEveryDeliveryOrderGivesTheSameState(t *testing.T) {
	changes := []Change{
		change(t, EventInsert, "400000000000000000001", "100", "v1"),
		change(t, EventModify, "400000000000000000002", "101", "v2"),
		change(t, EventRemove, "400000000000000000003", "101", "v2"),
		change(t, EventInsert, "400000000000000000004", "102", "v3"),
		change(t, EventModify, "400000000000000000005", "103", "v4"),
	}
	deliveries := append(slices.Clone(changes), changes[1], changes[4]) // two duplicates
	n := 0
	permute(deliveries, 0, func(order []Change) {
		n++
		cur, _ := applyAll(order)
		if itemName(cur) != "v4" || cur.EventID != "MODIFY-400000000000000000005" {
			t.Fatalf("order %d ended in %s (%s)", n, itemName(cur), cur.EventID)
		}
	})
	if n != 5040 {
		t.Fatalf("tried %d orders", n)
	}
}

func permute(s []Change, k int, f func([]Change)) {
	if k == len(s) {
		f(s)
		return
	}
	for i := k; i < len(s); i++ {
		s[k], s[i] = s[i], s[k]
		permute(s, k+1, f)
		s[k], s[i] = s[i], s[k]
	}
}
