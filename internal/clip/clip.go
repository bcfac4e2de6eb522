// Package clip shortens text for messages and text columns without ever
// producing bytes PostgreSQL refuses: the result is valid UTF-8, holds no NUL
// byte, and is never cut inside a multi-byte character.
//
// Every bounded message nftsync stores (data-quality events, collection
// status reasons) or quotes from upstream goes through Text, so a non-ASCII
// identifier or upstream message cut at an arbitrary byte cannot make the
// insert fail with "invalid byte sequence for encoding UTF8" and lose the
// event.
package clip

import (
	"strings"
	"unicode/utf8"
)

// Ellipsis marks text that Text shortened.
const Ellipsis = "…"

// Text returns s made storable and at most n bytes long, Ellipsis included:
// invalid UTF-8 sequences and NUL bytes (which PostgreSQL text rejects)
// become U+FFFD, and when the result is longer than n it is cut at the last
// character boundary that leaves room for Ellipsis. For n smaller than the
// Ellipsis, the cut text has no marker. n ≤ 0 gives "".
func Text(s string, n int) string {
	if n <= 0 {
		return ""
	}
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, string(utf8.RuneError))
	}
	if strings.IndexByte(s, 0) >= 0 {
		s = strings.ReplaceAll(s, "\x00", string(utf8.RuneError))
	}
	if len(s) <= n {
		return s
	}
	mark := Ellipsis
	if n < len(mark) {
		mark = ""
	}
	cut := n - len(mark)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + mark
}
