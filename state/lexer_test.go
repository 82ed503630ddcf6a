package state

import (
	"encoding/binary"
	"encoding/json"
	"math/rand/v2"
	"strings"
	"testing"
)

func TestHasSpecialFlagsExactlyTheBytesAStringMustLookAt(t *testing.T) {
	special := func(c byte) bool { return c < 0x20 || c == '"' || c == '\\' || c >= 0x80 }
	for pos := range 8 {
		for c := range 256 {
			w := []byte("abcdefgh")
			w[pos] = byte(c)
			if got := hasSpecial(binary.LittleEndian.Uint64(w)); got != special(byte(c)) {
				t.Fatalf("byte %#x at %d: hasSpecial = %v", c, pos, got)
			}
		}
	}
}

func TestHasSpecialAgreesWithBytewiseCheckOnRandomWords(t *testing.T) {
	special := func(c byte) bool { return c < 0x20 || c == '"' || c == '\\' || c >= 0x80 }
	rng := rand.New(rand.NewPCG(1, 2))
	alphabet := []byte{0, 0x1f, 0x20, 0x21, '"', '#', '[', '\\', ']', 0x7f, 0x80, 0xff, 'a'}
	for range 200000 {
		var w [8]byte
		want := false
		for i := range w {
			if rng.IntN(2) == 0 {
				w[i] = alphabet[rng.IntN(len(alphabet))]
			} else {
				w[i] = byte(rng.Uint32())
			}
			want = want || special(w[i])
		}
		if got := hasSpecial(binary.LittleEndian.Uint64(w[:])); got != want {
			t.Fatalf("% x: hasSpecial = %v, want %v", w, got, want)
		}
	}
}

func TestLexerStringsMatchEncodingJSON(t *testing.T) {
	tests := []string{
		`""`, `"a"`, `"plain ASCII longer than sixteen bytes, read eight at a time"`,
		`"é and 😀 after sixteen plain bytes: é😀"`,
		`"escapes \" \\ \/ \b \f \n \r \t \u00e9 \ud83d\ude00 at the end\n"`,
		`"` + strings.Repeat("x", 17) + `\"` + strings.Repeat("y", 9) + `"`,
	}
	for _, in := range tests {
		l := lexer{b: []byte(in)}
		raw, esc, err := l.str()
		if err != nil || l.i != len(in) {
			t.Fatalf("%s: err %v, stopped at %d", in, err, l.i)
		}
		var want string
		if err := json.Unmarshal([]byte(in), &want); err != nil {
			t.Fatal(err)
		}
		if got := rawText(raw, esc); got != want {
			t.Errorf("%s: decoded %q, encoding/json %q", in, got, want)
		}
		if back := appendQuoted(nil, want); !json.Valid(back) {
			t.Errorf("%s: re-quoted %s is not JSON", in, back)
		}
	}
}

func TestLexerRejectsMalformedStrings(t *testing.T) {
	for _, in := range []string{
		`"unterminated`, `"bad escape \x"`, `"short \u12"`, `"\`, `"` + strings.Repeat("a", 20) + "\x00\"",
		"\"" + strings.Repeat("a", 20) + "\xff\"", `"` + strings.Repeat("a", 20) + `\`, `x"`,
	} {
		l := lexer{b: []byte(in)}
		if _, _, err := l.str(); ReasonOf(err) != ReasonBadJSON {
			t.Errorf("%q: err = %v, want bad_json", in, err)
		}
	}
}

func TestSkipAcceptsExactlyValidJSON(t *testing.T) {
	for _, in := range []string{
		`{"a":[1,-2.5e+3,true,false,null,"x",{}],"b":{"c":[]}}`,
		` [ 1 , { "a" : null } ] `,
		`[1,]`, `{"a"}`, `{"a":01}`, `[1.]`, `[-]`, `[tru]`, `[nul]`, `{"a":1,}`, `[1 2]`, `{"a":1}}`,
	} {
		l := lexer{b: []byte(in)}
		err := l.skip(0)
		if err == nil {
			err = l.end()
		}
		if want := json.Valid([]byte(in)); (err == nil) != want {
			t.Errorf("%s: err = %v, encoding/json says valid=%v", in, err, want)
		}
	}
}

func TestSkipRejectsNestingDeeperThanTheBound(t *testing.T) {
	deep := strings.Repeat("[", maxDepth+2) + strings.Repeat("]", maxDepth+2)
	l := lexer{b: []byte(deep)}
	if err := l.skip(0); err == nil {
		t.Fatal("skip accepted nesting beyond maxDepth")
	}
}
