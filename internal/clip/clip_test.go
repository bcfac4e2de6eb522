package clip

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestText(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, in string
		n        int
		want     string
	}{
		{"Short", "abc", 3, "abc"},
		{"Cut", "abcdef", 5, "ab…"},
		{"NeverSplitsARune", "aééé", 5, "a…"}, // "é" is 2 bytes, "…" 3
		{"ThreeByteRunes", "€€€€", 10, "€€…"}, // not "€€\xe2…"
		{"FourByteRunes", "😀😀", 6, "…"},       // no room for a whole emoji
		{"TinyLimit", "ééé", 2, "é"},          // no room for the marker
		{"Zero", "abc", 0, ""},
		{"InvalidUTF8Replaced", "a\xffb", 10, "a\uFFFDb"},
		{"NULReplaced", "a\x00b", 10, "a\uFFFDb"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := Text(tc.in, tc.n); got != tc.want {
				t.Fatalf("Text(%q, %d) = %q, want %q", tc.in, tc.n, got, tc.want)
			}
		})
	}
}

func FuzzText(f *testing.F) {
	f.Add("identifier-ä€😀", 7)
	f.Add(strings.Repeat("é", 1000), 2000)
	f.Add("a\x00\xff", 2)
	f.Fuzz(func(t *testing.T, s string, n int) {
		n %= 4096
		got := Text(s, n)
		if !utf8.ValidString(got) || strings.IndexByte(got, 0) >= 0 {
			t.Fatalf("Text(%q, %d) = %q: not storable", s, n, got)
		}
		if len(got) > max(n, 0) {
			t.Fatalf("Text(%q, %d) = %q: %d bytes", s, n, got, len(got))
		}
		if utf8.ValidString(s) && strings.IndexByte(s, 0) < 0 && len(s) <= n && got != s {
			t.Fatalf("Text(%q, %d) = %q: changed text that fits", s, n, got)
		}
	})
}
