package jsonstr

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestAppend(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", `""`},
		{"plain ascii", `"plain ascii"`},
		{`q"b\`, `"q\"b\\"`},
		{"\n\r\t\b\f", `"\n\r\t\b\f"`},
		{"\x00\x01\x1f", `"\u0000\u0001\u001f"`},
		{"<&> stay", `"<&> stay"`},
		{"héllo ✓ 𝄞", `"héllo ✓ 𝄞"`},
		{"bad \xff\xfe end", "\"bad \uFFFD\uFFFD end\""},
		{"\u2028", "\"\u2028\""},
	} {
		if got := string(Append(nil, tc.in)); got != tc.want {
			t.Errorf("Append(%q) = %s, want %s", tc.in, got, tc.want)
		}
		if got := string(Append([]byte("x"), []byte(tc.in))); got != "x"+tc.want {
			t.Errorf("Append([]byte %q) = %s, want x%s", tc.in, got, tc.want)
		}
	}
}

// FuzzAppend: the output is valid JSON that decodes to what encoding/json's does, and for
// valid UTF-8 without U+2028/U+2029 (which encoding/json escapes for JavaScript) it is the
// very bytes encoding/json writes with HTML escaping off.
func FuzzAppend(f *testing.F) {
	for _, s := range []string{"", "a", `"\`, "\x00\b\f\n", "\xff", "é\u2028", "<>&"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := Append(nil, s)
		var back string
		if err := json.Unmarshal(out, &back); err != nil {
			t.Fatalf("Append(%q) = %s: not JSON: %v", s, out, err)
		}
		if want := strings.ToValidUTF8(s, "\uFFFD"); back != want {
			// ToValidUTF8 folds a run of bad bytes into one U+FFFD; Append, like
			// encoding/json, writes one per byte. Compare with encoding/json instead.
			var std string
			b, _ := json.Marshal(s)
			_ = json.Unmarshal(b, &std)
			if back != std {
				t.Fatalf("Append(%q) decodes to %q, encoding/json's to %q", s, back, std)
			}
		}
		if strings.ContainsAny(s, "\u2028\u2029") || !utf8.ValidString(s) {
			return // encoding/json escapes these (\u2028, \ufffd); Append writes them as they are
		}
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(s); err != nil {
			t.Fatal(err)
		}
		if std := bytes.TrimSuffix(buf.Bytes(), []byte("\n")); !bytes.Equal(out, std) {
			t.Fatalf("Append(%q) = %s, encoding/json writes %s", s, out, std)
		}
	})
}
