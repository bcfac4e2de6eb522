package rarity

import (
	"sort"
	"strings"
	"unicode/utf8"
)

//go:generate sh -c "python3 gen_pytables.py > pytables.go"

// Normalize returns s.lower().strip() exactly as CPython 3.11 computes it,
// the normalisation OpenRarity applies to every trait name and string value.
//
// It differs from strings.TrimSpace(strings.ToLower(s)) in three ways, all of
// which change real rankings:
//   - full lower-casing: U+0130 'İ' becomes "i\u0307" (two runes), and a
//     capital sigma becomes final 'ς' when it ends a word (Unicode's
//     Final_Sigma context: preceded by a cased letter and not followed by
//     one, case-ignorable runes skipped), so "ΣΑΣ" becomes "σας";
//   - the strip set is Python's str.isspace(): Unicode White_Space plus
//     U+001C..U+001F. U+180E, U+200B and U+FEFF are not stripped;
//   - the case tables are CPython 3.11's (Unicode 14.0.0), generated into
//     pytables.go, so results do not move when Go upgrades its Unicode.
//
// Invalid UTF-8 bytes (which Python strings cannot hold) are kept unchanged
// and are never stripped. Strings that are already lower-case ASCII without
// surrounding whitespace are returned as is, without allocating.
func Normalize(s string) string {
	ascii, upper := true, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= utf8.RuneSelf {
			ascii = false
			break
		}
		if 'A' <= c && c <= 'Z' {
			upper = true
		}
	}
	if ascii {
		s = trimASCII(s)
		if !upper {
			return s
		}
		b := make([]byte, len(s))
		for i := 0; i < len(s); i++ {
			c := s[i]
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			b[i] = c
		}
		return string(b)
	}
	return strip(lower(s))
}

// asciiSpace reports whether c is in Python's ASCII whitespace set.
func asciiSpace(c byte) bool {
	return c == ' ' || ('\t' <= c && c <= '\r') || (0x1c <= c && c <= 0x1f)
}

func trimASCII(s string) string {
	i, j := 0, len(s)
	for i < j && asciiSpace(s[i]) {
		i++
	}
	for j > i && asciiSpace(s[j-1]) {
		j--
	}
	return s[i:j]
}

// lower implements str.lower() on a string that contains non-ASCII bytes.
func lower(s string) string {
	var b strings.Builder
	b.Grow(len(s) + 2)
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 {
			b.WriteByte(s[i]) // invalid byte: keep
			i++
			continue
		}
		switch r {
		case 0x130:
			b.WriteString("i\u0307")
		case 0x3A3:
			if finalSigma(s, i, i+n) {
				b.WriteRune(0x3C2)
			} else {
				b.WriteRune(0x3C3)
			}
		default:
			b.WriteRune(lowerRune(r))
		}
		i += n
	}
	return b.String()
}

// finalSigma reports whether the capital sigma at s[i:j] is in the
// Final_Sigma context as CPython's handle_capital_sigma decides it: the
// nearest non-case-ignorable rune before it exists and is cased, and the
// nearest non-case-ignorable rune after it is absent or not cased.
func finalSigma(s string, i, j int) bool {
	before := false
	for k := i; k > 0; {
		r, n := utf8.DecodeLastRuneInString(s[:k])
		k -= n
		if r == utf8.RuneError && n == 1 {
			break // an invalid byte is neither cased nor ignorable
		}
		if inRanges(pyIgnorable[:], r) {
			continue
		}
		before = inRanges(pyCased[:], r)
		break
	}
	if !before {
		return false
	}
	for k := j; k < len(s); {
		r, n := utf8.DecodeRuneInString(s[k:])
		k += n
		if r == utf8.RuneError && n == 1 {
			return true
		}
		if inRanges(pyIgnorable[:], r) {
			continue
		}
		return !inRanges(pyCased[:], r)
	}
	return true
}

// lowerRune is Python's one-rune lower-case mapping.
func lowerRune(r rune) rune {
	if r < utf8.RuneSelf {
		if 'A' <= r && r <= 'Z' {
			r += 'a' - 'A'
		}
		return r
	}
	t := pyLower[:]
	k := sort.Search(len(t), func(i int) bool { return t[i][0] >= r })
	if k < len(t) && t[k][0] == r {
		return t[k][1]
	}
	return r
}

func inRanges(t [][2]rune, r rune) bool {
	k := sort.Search(len(t), func(i int) bool { return t[i][1] >= r })
	return k < len(t) && t[k][0] <= r
}

// isSpace is Python's str.isspace() for one rune.
func isSpace(r rune) bool {
	if r < utf8.RuneSelf {
		return asciiSpace(byte(r))
	}
	return inRanges(pySpace[:], r)
}

// strip removes leading and trailing Python whitespace runes.
func strip(s string) string {
	for len(s) > 0 {
		r, n := utf8.DecodeRuneInString(s)
		if (r == utf8.RuneError && n == 1) || !isSpace(r) {
			break
		}
		s = s[n:]
	}
	for len(s) > 0 {
		r, n := utf8.DecodeLastRuneInString(s)
		if (r == utf8.RuneError && n == 1) || !isSpace(r) {
			break
		}
		s = s[:len(s)-n]
	}
	return s
}
