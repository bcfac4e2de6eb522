package rarity

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestNormalizePython(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, want string }{
		{"Red", "red"},
		{" RED ", "red"},
		{"Shape ", "shape"},
		{"ΣΑΣ", "σας"},           // final sigma
		{"ΑΣ", "ας"},             // final after a cased letter
		{"Σ", "σ"},               // alone: nothing cased before it
		{"ΣΣ", "σς"},             // second is final
		{"ΑΣΑ", "ασα"},           // followed by a cased letter
		{"ΑΣ'", "ας'"},           // apostrophe is case-ignorable: skipped
		{"Α'Σ", "α'ς"},           // ignorable before, cased before that
		{"ΑΣ'Α", "ασ'α"},         // cased after the ignorable
		{"1Σ", "1σ"},             // digits are not cased
		{"ΑΣ 1", "ας 1"},         // space is neither: ends the context
		{"Α\u0345Σ", "α\u0345ς"}, // U+0345 is cased but also ignorable
		{"İ", "i\u0307"},         // U+0130: two runes
		{"İSTANBUL", "i\u0307stanbul"},
		{"ẞ", "ß"},
		{"Ω", "ω"}, // U+2126 OHM SIGN
		{"K", "k"}, // U+212A KELVIN SIGN
		{"Ⅰ", "ⅰ"}, // U+2160, Nl with a lower-case mapping
		{"\x1fstar", "star"},
		{"\x1c\x1d\x1e\x1fstar\x1c", "star"},
		{"\u00a0star\u00a0", "star"},
		{"\u0085star\u3000", "star"},
		{"\u2028\u2029\u202f\u205f\u1680x\u2000\u200a", "x"},
		{"\t\n\v\f\r x", "x"},
		{"\u180ex\u180e", "\u180ex\u180e"}, // MONGOLIAN VOWEL SEPARATOR: not space since Unicode 6.3
		{"\u200bx\u200b", "\u200bx\u200b"}, // ZERO WIDTH SPACE: not space
		{"\ufeffx\ufeff", "\ufeffx\ufeff"}, // BOM / ZWNBSP: not space
		{"", ""},
		{"   ", ""},
		{"None ", "none"},
		{"a\xffB", "a\xffb"}, // invalid UTF-8 is kept
		{"\xff ", "\xff"},
	} {
		require.Equal(t, tc.want, Normalize(tc.in), "Normalize(%q)", tc.in)
	}
}

// TestNormalizeStdlibDiffers documents why the stdlib is not used.
func TestNormalizeStdlibDiffers(t *testing.T) {
	t.Parallel()
	std := func(s string) string { return strings.TrimSpace(strings.ToLower(s)) }
	for _, s := range []string{"ΣΑΣ", "İ", "\x1fstar"} {
		require.NotEqual(t, std(s), Normalize(s), s)
	}
}

// TestNormalizeGolden compares with testdata/normalize.jsonl, pairs of
// [s, s.lower().strip()] written by CPython 3.11 (gen_normalize.py).
func TestNormalizeGolden(t *testing.T) {
	t.Parallel()
	f, err := os.Open(filepath.Join("testdata", "normalize.jsonl"))
	require.NoError(t, err)
	defer f.Close()
	sc := bufio.NewScanner(f)
	n := 0
	for sc.Scan() {
		var pair [2]string
		require.NoError(t, json.Unmarshal(sc.Bytes(), &pair))
		require.Equal(t, pair[1], Normalize(pair[0]), "Normalize(%+q)", pair[0])
		n++
	}
	require.NoError(t, sc.Err())
	require.Greater(t, n, 4000)
}

func TestNormalizeNoAlloc(t *testing.T) { //nolint:paralleltest // testing.AllocsPerRun panics in parallel tests
	s := "background_003"
	allocs := testing.AllocsPerRun(100, func() { _ = Normalize(s) })
	require.Zero(t, allocs)
	require.Equal(t, "14.0.0", pyUnicodeVersion)
}
