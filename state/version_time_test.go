package state

import (
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestRFC3339Instant(t *testing.T) {
	tests := []struct {
		s    string
		ok   bool
		unix int64
		frac string
	}{
		{"2026-11-25T13:17:24Z", true, 1795612644, ""},
		{"2026-11-25T13:17:24.1Z", true, 1795612644, "1"},
		{"2026-11-25T13:17:24.120Z", true, 1795612644, "12"},
		{"2026-11-25T13:17:24.000Z", true, 1795612644, ""},
		{"2026-11-25T14:17:24.5+01:00", true, 1795612644, "5"},
		{"2026-11-25T08:47:24-04:30", true, 1795612644, ""},
		{"2026-11-25t13:17:24z", true, 1795612644, ""},
		{"2026-11-25 13:17:24.123456+00:00", true, 1795612644, "123456"},
		{"2026-11-25T13:17:24.1234567891234Z", true, 1795612644, "1234567891234"},
		{"1970-01-01T00:00:00Z", true, 0, ""},
		{"1969-12-31T23:59:59.9Z", true, -1, "9"},
		{"0000-01-01T00:00:00Z", true, -62167219200, ""},
		{"9999-12-31T23:59:59Z", true, 253402300799, ""},
		{"2024-02-29T00:00:00Z", true, 1709164800, ""},
		{"2016-12-31T23:59:60Z", true, 1483228800, ""}, // leap second: next minute's 0
		{"2026-11-25T13:17:24", false, 0, ""},          // local time, no offset
		{"2026-11-25T13:17:24.Z", false, 0, ""},
		{"2026-11-25T13:17:24,1Z", false, 0, ""},
		{"2026-11-25T13:17:24+0100", false, 0, ""},
		{"2026-11-25T13:17:24+01", false, 0, ""},
		{"2026-11-25T13:17:24+24:00", false, 0, ""},
		{"2026-11-25T13:17:24ZZ", false, 0, ""},
		{"2026-11-25T24:00:00Z", false, 0, ""},
		{"2026-11-25T13:60:00Z", false, 0, ""},
		{"2026-11-25T13:17:61Z", false, 0, ""},
		{"2026-02-29T00:00:00Z", false, 0, ""},
		{"1900-02-29T00:00:00Z", false, 0, ""},
		{"2026-13-01T00:00:00Z", false, 0, ""},
		{"2026-00-01T00:00:00Z", false, 0, ""},
		{"2026-11-00T00:00:00Z", false, 0, ""},
		{"2026-11-25_13:17:24Z", false, 0, ""},
		{"+2026-11-25T13:17:24Z", false, 0, ""},
		{"2026-1-25T13:17:24Z", false, 0, ""},
		{"２026-11-25T13:17:24Z", false, 0, ""},
		{"2026-11-25", false, 0, ""},
		{"", false, 0, ""},
		{"user#1042:v17-abc:def", false, 0, ""},
	}
	for _, tt := range tests {
		sec, frac, ok := RFC3339Instant(tt.s)
		if ok != tt.ok || sec != tt.unix || frac != tt.frac {
			t.Errorf("RFC3339Instant(%q) = %d, %q, %v; want %d, %q, %v", tt.s, sec, frac, ok, tt.unix, tt.frac, tt.ok)
		}
	}
}

// randTime spells instants near each other in every way RFC 3339 allows: fractions of
// every width with and without trailing zeros, 'Z' or numeric offsets, lower case.
func randTime(r *rand.Rand, base time.Time) string {
	t := base.Add(time.Duration(r.IntN(4000)-2000) * time.Millisecond / time.Duration(1+r.IntN(1000)))
	if r.IntN(3) == 0 {
		t = t.Truncate(time.Second)
	}
	offs := []int{0, 0, 3600, -3600, 5*3600 + 30*60, -(9*3600 + 45*60), 23*3600 + 59*60}
	t = t.In(time.FixedZone("", offs[r.IntN(len(offs))]))
	layouts := []string{time.RFC3339Nano, time.RFC3339, "2006-01-02T15:04:05.000Z07:00", "2006-01-02T15:04:05.000000000Z07:00", "2006-01-02T15:04:05.00000Z07:00", "2006-01-02 15:04:05.999999-07:00"}
	s := t.Format(layouts[r.IntN(len(layouts))])
	if r.IntN(8) == 0 {
		s = strings.ToLower(s)
	}
	if r.IntN(8) == 0 && strings.HasSuffix(s, "Z") {
		s = s[:len(s)-1] + "+00:00"
	}
	return s
}

// TestRFC3339InstantMatchesTime checks the instant against the standard library for the
// spellings time.Parse also takes.
func TestRFC3339InstantMatchesTime(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	base := time.Date(2026, 11, 25, 13, 17, 24, 0, time.UTC)
	for range 20000 {
		s := randTime(r, base)
		sec, frac, ok := RFC3339Instant(s)
		if !ok {
			t.Fatalf("RFC3339Instant(%q) refused", s)
		}
		want, err := time.Parse(time.RFC3339Nano, strings.ToUpper(strings.Replace(s, " ", "T", 1)))
		if err != nil {
			t.Fatalf("time.Parse(%q): %v", s, err)
		}
		ns := frac + strings.Repeat("0", 9-len(frac))
		n, _ := strconv.Atoi(ns)
		if got := time.Unix(sec, int64(n)); !got.Equal(want) {
			t.Fatalf("RFC3339Instant(%q) = %v, time.Parse = %v", s, got, want)
		}
	}
}

// TestCompareStringsIsATotalOrder: on a mix of date-times (equal instants spelled
// differently among them) and other strings, CompareStrings is antisymmetric and
// transitive, and it orders date-times as time.Time does.
func TestCompareStringsIsATotalOrder(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	base := time.Date(2026, 11, 25, 13, 17, 24, 0, time.UTC)
	others := []string{"", "0", "2026-11-25", "2026-11-25T13:17:24", "2026-11-25T13:17:24.5", "2026-11-25 13:17:24", "2026-11-25T13:17:24,5Z", "A", "a", "z", "~", "9999-99-99T99:99:99Z"}
	var ss []string
	for range 60 {
		ss = append(ss, randTime(r, base))
	}
	ss = append(ss, others...)
	for _, a := range ss {
		for _, b := range ss {
			ab := CompareStrings(a, b)
			if ab != -CompareStrings(b, a) {
				t.Fatalf("not antisymmetric: %q, %q", a, b)
			}
			_, _, ta := RFC3339Instant(a)
			_, _, tb := RFC3339Instant(b)
			if ta && tb {
				pa := parseAny(t, a)
				if want := pa.Compare(parseAny(t, b)); ab != want {
					t.Fatalf("CompareStrings(%q, %q) = %d, instants compare %d", a, b, ab, want)
				}
			}
			for _, c := range ss {
				bc, ac := CompareStrings(b, c), CompareStrings(a, c)
				if ab <= 0 && bc <= 0 && ac > 0 || ab == 0 && bc == 0 && ac != 0 {
					t.Fatalf("not transitive: %q %d %q %d %q but %d", a, ab, b, bc, c, ac)
				}
			}
		}
	}
}

func parseAny(t *testing.T, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339Nano, strings.ToUpper(strings.Replace(s, " ", "T", 1)))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestCompareRFC3339VersionAttributes(t *testing.T) {
	v := func(attr, seq string) Version {
		return Version{Attr: attr, HasAttr: true, Seq: seq, Stream: testARN}
	}
	tests := []struct {
		name string
		a, b Version
		want int
	}{
		{"a wider fraction is newer (Go RFC3339Nano drops trailing zeros)",
			v(`"2026-11-25T13:17:24.12Z"`, "1"), v(`"2026-11-25T13:17:24.1Z"`, "2"), 1},
		{"a fraction is newer than whole seconds",
			v(`"2026-11-25T13:17:24.001Z"`, "1"), v(`"2026-11-25T13:17:24Z"`, "2"), 1},
		{"whole seconds are newer than the previous second's fraction",
			v(`"2026-11-25T13:17:25Z"`, "1"), v(`"2026-11-25T13:17:24.999Z"`, "2"), 1},
		{"offsets are instants",
			v(`"2026-11-25T13:17:24+01:00"`, "1"), v(`"2026-11-25T12:30:00Z"`, "2"), -1},
		{"offsets are instants across midnight",
			v(`"2026-11-26T00:30:00+02:00"`, "1"), v(`"2026-11-25T23:00:00Z"`, "2"), -1},
		{"Python isoformat with microseconds and offset",
			v(`"2026-11-25T13:17:24.000001+00:00"`, "1"), v(`"2026-11-25T13:17:24Z"`, "2"), 1},
		{"one instant spelled twice is equal and falls through to sequence numbers",
			v(`"2026-11-25T14:17:24.500+01:00"`, "2"), v(`"2026-11-25T13:17:24.5Z"`, "1"), 1},
		{"trailing zeros do not matter",
			v(`"2026-11-25T13:17:24.100000000Z"`, "1"), v(`"2026-11-25T13:17:24.1Z"`, "1"), 0},
		{"lower-case t and z are RFC 3339",
			v(`"2026-11-25t13:17:24.12z"`, "1"), v(`"2026-11-25T13:17:24.1Z"`, "2"), 1},
		{"fractions beyond nanoseconds still order",
			v(`"2026-11-25T13:17:24.1234567891Z"`, "1"), v(`"2026-11-25T13:17:24.123456789Z"`, "2"), 1},
		{"a date-time is newer than any other string",
			v(`"2026-01-01T00:00:00Z"`, "1"), v(`"zzz"`, "2"), 1},
		{"a local time without offset is another string",
			v(`"2026-01-01T00:00:00Z"`, "1"), v(`"2027-01-01T00:00:00"`, "2"), 1},
		{"other strings still compare bytewise",
			v(`"2026-01-02"`, "1"), v(`"2026-01-01"`, "2"), 1},
		{"escaped date-times are date-times",
			v(`"2026-11-25T13:17:24.12\u005a"`, "1"), v(`"2026-11-25T13:17:24.1Z"`, "2"), 1},
		{"a date-time meets a number: different kinds, skipped",
			v(`"2026-11-25T13:17:24Z"`, "1"), v("1", "2"), -1},
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

// TestGoRFC3339NanoChangesApply is the reported failure end to end: an app writes
// updatedAt with time.RFC3339Nano, whose width varies, and each later change must apply.
func TestGoRFC3339NanoChangesApply(t *testing.T) {
	base := time.Date(2026, 11, 25, 13, 17, 24, 0, time.UTC)
	var cur *Version
	for i, d := range []time.Duration{0, 100 * time.Millisecond, 120 * time.Millisecond, 999 * time.Millisecond, time.Second, time.Second + 1} {
		next := Version{Attr: `"` + base.Add(d).Format(time.RFC3339Nano) + `"`, HasAttr: true, Seq: strconv.Itoa(100 - i), Stream: testARN}
		if cur != nil && Compare(next, *cur) <= 0 {
			t.Fatalf("%s was taken as not newer than %s", next.Attr, cur.Attr)
		}
		cur = &next
	}
}

func FuzzRFC3339Instant(f *testing.F) {
	for _, s := range []string{"2026-11-25T13:17:24.1Z", "2026-11-25T14:17:24+01:00", "2016-12-31T23:59:60Z", "2026-11-25 13:17:24.123456-07:30"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		sec, frac, ok := RFC3339Instant(s)
		want, err := time.Parse(time.RFC3339Nano, s)
		// time.Parse refuses what RFC 3339 adds to its layout (lower case, a space, leap
		// seconds) and takes more (',' for '.', one-digit hours), so only the strings both
		// accept are checked, and nothing outside those additions may be accepted here.
		if err != nil {
			if ok && !strings.ContainsAny(s, "tz ") && !strings.Contains(s, ":60") {
				t.Fatalf("accepted %q, which time.Parse refuses: %v", s, err)
			}
			return
		}
		if !ok {
			return
		}
		if len(frac) > 9 {
			frac = frac[:9]
		}
		n, _ := strconv.Atoi(frac + strings.Repeat("0", 9-len(frac)))
		if got := time.Unix(sec, int64(n)); !got.Equal(want) {
			t.Fatalf("RFC3339Instant(%q) = %v, time.Parse = %v", s, got, want)
		}
	})
}
