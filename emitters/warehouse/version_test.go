package warehouse

import (
	"encoding/hex"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/streamhub/streamhub/state"
)

func sign(c int) int {
	switch {
	case c < 0:
		return -1
	case c > 0:
		return 1
	}
	return 0
}

func randDigits(r *rand.Rand, n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte('0' + r.IntN(10))
	}
	return string(b)
}

// randNumber spells random decimals in every way DynamoDB accepts: signs, fractions,
// exponents, leading and trailing zeros, and collisions ("1.50" and "1.5").
func randNumber(r *rand.Rand) string {
	switch r.IntN(8) {
	case 0:
		return []string{"0", "-0", "0.0", "1", "1.0", "1.50", "1.5", "10", "1e1", "-1", "-1.5", "-1.50", "0.001", "1E-3", "-10", "100e-2"}[r.IntN(16)]
	case 1:
		return strconv.Itoa(r.IntN(2000) - 1000)
	}
	var b strings.Builder
	if r.IntN(2) == 0 {
		b.WriteByte('-')
	}
	if r.IntN(4) == 0 {
		b.WriteString("0")
	}
	b.WriteString(randDigits(r, 1+r.IntN(6)))
	if r.IntN(2) == 0 {
		b.WriteString("." + randDigits(r, 1+r.IntN(6)))
	}
	if r.IntN(3) == 0 {
		b.WriteString("e" + strconv.Itoa(r.IntN(40)-20))
	}
	return b.String()
}

// randString mixes RFC 3339 date-times (see randTime) with other strings, some of
// which nearly are date-times.
func randString(r *rand.Rand) string {
	if r.IntN(2) == 0 {
		return `"` + randTime(r) + `"`
	}
	alphabet := []string{"a", "b", "ab", "z", "A", "2026-01-01T00:00:00Z", "2026-01-01T00:00:00.5Z", "é", "\\n", "\\u00e9", "~", " ", "\\\"", "0"}
	var b strings.Builder
	for range r.IntN(4) {
		b.WriteString(alphabet[r.IntN(len(alphabet))])
	}
	return `"` + b.String() + `"`
}

// randTime spells a few instants in every way RFC 3339 allows, so equal instants are
// often spelled differently: fractions of every width (Go's RFC3339Nano drops trailing
// zeros), 'Z', "+00:00" and other offsets, lower case, a space for 'T', a leap second,
// an escaped character.
func randTime(r *rand.Rand) string {
	base := time.Date(2026, 11, 25, 13, 17, 24, 0, time.UTC)
	steps := []time.Duration{0, 1, 100 * time.Millisecond, 120 * time.Millisecond, 999 * time.Millisecond, time.Second, time.Hour, -time.Nanosecond, -time.Second}
	t := base.Add(steps[r.IntN(len(steps))])
	offs := []int{0, 0, 3600, -3600, 5*3600 + 30*60, -(9*3600 + 45*60), 23*3600 + 59*60}
	t = t.In(time.FixedZone("", offs[r.IntN(len(offs))]))
	layouts := []string{time.RFC3339Nano, time.RFC3339, "2006-01-02T15:04:05.000Z07:00", "2006-01-02T15:04:05.000000000Z07:00", "2006-01-02T15:04:05.000000000000Z07:00", "2006-01-02 15:04:05.999999-07:00"}
	s := t.Format(layouts[r.IntN(len(layouts))])
	switch r.IntN(10) {
	case 0:
		s = strings.ToLower(s)
	case 1:
		if strings.HasSuffix(s, "Z") {
			s = s[:len(s)-1] + "+00:00"
		}
	case 2:
		s = strings.Replace(s, "T", `\u0054`, 1)
	case 3:
		return []string{"2016-12-31T23:59:60Z", "2017-01-01T00:00:00Z", "2017-01-01T00:00:00.000+00:00", "0000-01-01T00:00:00+23:59", "9999-12-31T23:59:60-23:59"}[r.IntN(5)]
	case 4:
		// Nearly date-times, which stay other strings.
		return []string{"2026-11-25T13:17:24", "2026-11-25T13:17:24,1Z", "2026-02-29T00:00:00Z", "2026-11-25T13:17:24.Z", "2026-11-25"}[r.IntN(5)]
	}
	return s
}

// TestVersionKeyOrder: within one stream, for versions whose attributes are all numbers,
// all strings or all absent, and whose creation times grow with the sequence number,
// comparing VersionKeys bytewise equals state.Compare.
func TestVersionKeyOrder(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for iter := range 300 {
		mode := iter % 4 // 0 absent, 1 numbers, 2 strings, 3 date-times
		n := 2 + r.IntN(30)
		seqs := make([]string, n)
		for i := range seqs {
			seqs[i] = randDigits(r, 1+r.IntN(40))
			if r.IntN(5) == 0 && i > 0 {
				seqs[i] = seqs[r.IntN(i)] // duplicates
			}
		}
		slices.SortFunc(seqs, func(a, b string) int {
			return state.Compare(state.Version{Seq: a}, state.Version{Seq: b})
		})
		created := make([]int64, n)
		ms := int64(1767225600000)
		for i := range seqs {
			if i > 0 && strings.TrimLeft(seqs[i], "0") == strings.TrimLeft(seqs[i-1], "0") {
				created[i] = created[i-1]
				continue
			}
			ms += int64(r.IntN(3)) // sometimes equal across different sequence numbers
			created[i] = ms
		}
		vs := make([]state.Version, n)
		for i := range vs {
			vs[i] = state.Version{Seq: seqs[i], CreatedAt: created[i], Stream: "arn:aws:dynamodb:eu-west-1:1:table/t/stream/2026"}
			switch mode {
			case 1:
				vs[i].HasAttr, vs[i].Attr = true, randNumber(r)
			case 2:
				vs[i].HasAttr, vs[i].Attr = true, randString(r)
			case 3:
				vs[i].HasAttr, vs[i].Attr = true, `"`+randTime(r)+`"`
			}
		}
		for i := range vs {
			for j := range vs {
				want := state.Compare(vs[i], vs[j])
				ki, kj := VersionKey(vs[i]), VersionKey(vs[j])
				if got := sign(strings.Compare(ki, kj)); got != want {
					t.Fatalf("Compare(%v, %v) = %d, keys compare %d:\n%s\n%s", vs[i], vs[j], want, got, ki, kj)
				}
			}
		}
	}
}

// TestVersionKeyAcrossStreams: across streams the key orders by attribute, creation
// time, then sequence number, as DESIGN.md says (and state.Compare does).
func TestVersionKeyAcrossStreams(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	streams := []string{"arn:a", "arn:b", "arn:c"}
	for range 5000 {
		a := state.Version{Seq: randDigits(r, 1+r.IntN(25)), CreatedAt: int64(r.IntN(5)), Stream: streams[r.IntN(3)]}
		b := state.Version{Seq: randDigits(r, 1+r.IntN(25)), CreatedAt: int64(r.IntN(5)), Stream: streams[r.IntN(3)]}
		if a.Stream == b.Stream {
			continue
		}
		if got, want := sign(strings.Compare(VersionKey(a), VersionKey(b))), state.Compare(a, b); got != want {
			t.Fatalf("%v vs %v: keys %d, Compare %d", a, b, got, want)
		}
	}
}

// TestVersionKeyUpgradeFromBytewiseDateTimes: keys written before date-times had their
// own order spell them as other strings ("s…"). Every new date-time key sorts above
// them, so the first change after the upgrade replaces such a row whatever its instant,
// and only a change older than the row's could be taken once as newer.
func TestVersionKeyUpgradeFromBytewiseDateTimes(t *testing.T) {
	oldKey := func(attr string) string {
		return "s" + hex.EncodeToString([]byte(attr)) + ".~" + strings.Repeat("0", 19) + "~" + strings.Repeat("0", 47) + "9~"
	}
	for _, old := range []string{"2026-11-25T13:17:24.999Z", "9999-12-31T23:59:59Z"} {
		for _, now := range []string{"0000-01-01T00:00:00Z", "2026-11-25T13:17:25Z"} {
			k := VersionKey(state.Version{HasAttr: true, Attr: `"` + now + `"`, Seq: "1"})
			if k <= oldKey(old) {
				t.Errorf("new key for %s %s not above the old key for %s", now, k, old)
			}
		}
	}
}

func TestVersionKeyExamples(t *testing.T) {
	for _, c := range []struct {
		v    state.Version
		want string
	}{
		{state.Version{Seq: "000123", CreatedAt: 1767225600123, Stream: "s"},
			"0~0000001767225600123~000000000000000000000000000000000000000000000123~s"},
		{state.Version{HasAttr: true, Attr: "-1.5", Seq: "1"}, "1499884z~" + strings.Repeat("0", 19) + "~" + strings.Repeat("0", 47) + "1~"},
		{state.Version{HasAttr: true, Attr: "1.50e2", Seq: "1"}, "3500315.~" + strings.Repeat("0", 19) + "~" + strings.Repeat("0", 47) + "1~"},
		{state.Version{HasAttr: true, Attr: "-0.0", Seq: "1"}, "2~" + strings.Repeat("0", 19) + "~" + strings.Repeat("0", 47) + "1~"},
		{state.Version{HasAttr: true, Attr: `"ab"`, Seq: "1"}, "s6162.~" + strings.Repeat("0", 19) + "~" + strings.Repeat("0", 47) + "1~"},
		// 1795612644 + 62167305600 = 63962918244
		{state.Version{HasAttr: true, Attr: `"2026-11-25T13:17:24.120Z"`, Seq: "1"}, "t06396291824412.~" + strings.Repeat("0", 19) + "~" + strings.Repeat("0", 47) + "1~"},
		{state.Version{HasAttr: true, Attr: `"2026-11-25T14:17:24.12+01:00"`, Seq: "1"}, "t06396291824412.~" + strings.Repeat("0", 19) + "~" + strings.Repeat("0", 47) + "1~"},
		{state.Version{HasAttr: true, Attr: `"2026-11-25T13:17:24Z"`, Seq: "1"}, "t063962918244.~" + strings.Repeat("0", 19) + "~" + strings.Repeat("0", 47) + "1~"},
		{state.Version{HasAttr: true, Attr: `"0000-01-01T00:00:00+23:59"`, Seq: "1"}, "t000000000060.~" + strings.Repeat("0", 19) + "~" + strings.Repeat("0", 47) + "1~"},
	} {
		if got := VersionKey(c.v); got != c.want {
			t.Errorf("VersionKey(%v)\n got %s\nwant %s", c.v, got, c.want)
		}
	}
}
