package synthetic

import (
	"encoding/json"
	"testing"

	"github.com/streamhub/streamhub/state"
)

var spec = state.KeySpec{Keys: []string{"pk", "sk"}, VersionAttribute: "updatedAt"}

// TestRecordsParseAndKeysMatchEncodeKey: every generated record is a valid Lambda-shaped
// DynamoDB Streams record whose Kafka key is exactly the item key streamhub computes.
func TestRecordsParseAndKeysMatchEncodeKey(t *testing.T) {
	g := New(Options{Items: 20, Seed: 7})
	var n int
	for range 500 {
		for _, d := range g.Next() {
			n++
			ch, err := state.ParseChange(d.Value, spec)
			if err != nil {
				t.Fatalf("record %s: %v", d.Value, err)
			}
			if ch.Key != d.Key {
				t.Fatalf("Kafka key %s, item key %s", d.Key, ch.Key)
			}
			if !json.Valid(d.Value) {
				t.Fatalf("invalid JSON %s", d.Value)
			}
		}
	}
	if n < 500 {
		t.Errorf("only %d deliveries for 500 changes", n)
	}
}

// TestWorkloadHasDuplicatesReorderingAndRecreates: the workload exercises what the version
// order exists for, or the tests that use it prove nothing.
func TestWorkloadHasDuplicatesReorderingAndRecreates(t *testing.T) {
	g := New(Options{Items: 10, Seed: 3})
	var ds []Delivery
	for range 1000 {
		ds = append(ds, g.Next()...)
	}
	ds = append(ds, g.Flush()...)
	seen := map[string]bool{}
	last := map[string]state.Version{}
	var dups, reordered, recreated int
	removed := map[string]bool{}
	for _, d := range ds {
		ch, err := state.ParseChange(d.Value, spec)
		if err != nil {
			t.Fatal(err)
		}
		if seen[string(d.Value)] {
			dups++
			continue
		}
		seen[string(d.Value)] = true
		if v, ok := last[ch.Key]; ok && state.Compare(ch.Version, v) < 0 {
			reordered++
		} else {
			last[ch.Key] = ch.Version
		}
		if ch.Deleted {
			removed[ch.Key] = true
		} else if removed[ch.Key] {
			recreated++
			removed[ch.Key] = false
		}
	}
	if dups == 0 || reordered == 0 || recreated == 0 {
		t.Errorf("duplicates %d, reordered %d, re-created %d: want all > 0", dups, reordered, recreated)
	}
}
