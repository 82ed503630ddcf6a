package state

import "testing"

// The processor compares every incoming change with the stored one, so Compare is on
// its hot path; these cover the attribute kinds a table's version attribute holds.
func BenchmarkCompare(b *testing.B) {
	for _, c := range []struct {
		name string
		a, b string
	}{
		{"number", "1767225600123", "1767225600124"},
		{"string", `"user#1042:v17"`, `"user#1042:v18"`},
		{"date", `"2026-11-25"`, `"2026-11-26"`},
		{"rfc3339-same-width", `"2026-11-25T13:17:24.123Z"`, `"2026-11-25T13:17:24.124Z"`},
		{"rfc3339-mixed-width", `"2026-11-25T13:17:24.1Z"`, `"2026-11-25T13:17:24.12Z"`},
		{"rfc3339-offsets", `"2026-11-25T14:17:24.5+01:00"`, `"2026-11-25T13:17:24.25Z"`},
	} {
		va := Version{Attr: c.a, HasAttr: true, Seq: "400000000000000000001", Stream: testARN}
		vb := Version{Attr: c.b, HasAttr: true, Seq: "400000000000000000002", Stream: testARN}
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if Compare(va, vb) == 0 {
					b.Fatal("equal")
				}
			}
		})
	}
}
