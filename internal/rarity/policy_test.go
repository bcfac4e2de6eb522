package rarity_test

import (
	"errors"
	"math"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/nftsync/nftsync/internal/rarity"
)

func tok(id string, kv ...string) rarity.Token {
	t := rarity.Token{ID: id}
	for i := 0; i+1 < len(kv); i += 2 {
		t.Attributes = append(t.Attributes, rarity.Attribute{Name: kv[i], Value: kv[i+1]})
	}
	return t
}

func scoresOf(r *rarity.Result) []float64 {
	s := make([]float64, len(r.Tokens))
	for i, t := range r.Tokens {
		s[i] = t.Score
	}
	return s
}

func base() []rarity.Token {
	return []rarity.Token{
		tok("1", "hat", "cap", "eyes", "blue"),
		tok("2", "hat", "cap", "eyes", "green"),
		tok("3", "hat", "beanie", "eyes", "blue"),
		tok("4", "eyes", "blue"),
		tok("5", "hat", "crown", "eyes", "red"),
	}
}

func TestNumericTraitsExcluded(t *testing.T) {
	t.Parallel()
	plain, err := rarity.Compute(base(), rarity.Options{})
	require.NoError(t, err)

	toks := base()
	for i := range toks {
		toks[i].Attributes = append(toks[i].Attributes,
			rarity.Attribute{Name: "Level", Value: strconv.Itoa(i), DisplayType: "number"},
			rarity.Attribute{Name: "Born", Value: "1700000000", DisplayType: "date"},
			rarity.Attribute{Name: "Power", Value: "true", Numeric: true},
		)
	}
	toks[2].Attributes = append(toks[2].Attributes, rarity.Attribute{Name: "Boost", Value: "5", DisplayType: "Boost_Percentage"})
	res, err := rarity.Compute(toks, rarity.Options{})
	require.NoError(t, err)
	require.Equal(t, []rarity.ExcludedTrait{
		{Name: "boost", Reason: rarity.ReasonNumeric, Tokens: 1},
		{Name: "born", Reason: rarity.ReasonDate, Tokens: 5},
		{Name: "level", Reason: rarity.ReasonNumeric, Tokens: 5},
		{Name: "power", Reason: rarity.ReasonNumeric, Tokens: 5},
	}, res.Excluded)
	for _, vc := range res.Traits {
		require.Contains(t, []string{"hat", "eyes", rarity.TraitCountName}, vc.Name)
	}
	// Excluded traits still count towards the trait count, as in the
	// reference; here every token gains the same 3, so only token 3
	// (with "boost") changes the trait-count distribution.
	require.Equal(t, plain.Tokens[0].TraitCount+3, res.Tokens[0].TraitCount)
	require.Equal(t, plain.Tokens[2].TraitCount+4, res.Tokens[2].TraitCount)
	require.NotEqual(t, plain.InputHash, res.InputHash)

	// Without "boost" the scores equal the plain collection's.
	toks[2].Attributes = toks[2].Attributes[:len(toks[2].Attributes)-1]
	res, err = rarity.Compute(toks, rarity.Options{})
	require.NoError(t, err)
	require.Equal(t, scoresOf(plain), scoresOf(res))

	// ScoreNumeric scores them as strings.
	res, err = rarity.Compute(toks, rarity.Options{ScoreNumeric: true})
	require.NoError(t, err)
	require.Empty(t, res.Excluded)
	require.NotEqual(t, scoresOf(plain), scoresOf(res))
	names := map[string]bool{}
	for _, vc := range res.Traits {
		names[vc.Name] = true
	}
	require.True(t, names["level"] && names["born"] && names["power"])
}

func TestStandards(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"", "erc721", "ERC-721", "ERC721", "metaplex_non_fungible"} {
		toks := base()
		toks[1].Standard = s
		_, err := rarity.Compute(toks, rarity.Options{})
		require.NoError(t, err, s)
	}
	for _, s := range []string{"erc1155", "ERC-1155", "ERC1155"} {
		toks := base()
		toks[3].Standard = s
		_, err := rarity.Compute(toks, rarity.Options{})
		require.ErrorIs(t, err, rarity.ErrERC1155, s)
		require.ErrorContains(t, err, `token "4"`)
	}
	toks := base()
	toks[0].Standard = "erc20"
	_, err := rarity.Compute(toks, rarity.Options{})
	require.ErrorContains(t, err, "unsupported token standard")
	require.False(t, errors.Is(err, rarity.ErrERC1155))
}

func TestDuplicateTraitNames(t *testing.T) {
	t.Parallel()
	toks := base()
	toks[0].Attributes = append(toks[0].Attributes,
		rarity.Attribute{Name: "Hat ", Value: "Beanie"}, // second hat value
		rarity.Attribute{Name: "HAT", Value: "cap"},     // repeats hat=cap
	)
	hatCounts := func(res *rarity.Result) map[string]int {
		counts := map[string]int{}
		for _, vc := range res.Traits {
			if vc.Name == "hat" {
				counts[vc.Value] = vc.Count
				if vc.Null {
					counts["<null>"] = vc.Count
				}
			}
		}
		return counts
	}
	meanIsOne := func(res *rarity.Result) {
		mean := 0.0
		for _, s := range scoresOf(res) {
			mean += s / float64(len(res.Tokens))
		}
		require.InDelta(t, 1, mean, 1e-12)
	}
	plain, err := rarity.Compute(base(), rarity.Options{})
	require.NoError(t, err)
	for _, m := range []rarity.Method{rarity.OpenRarity, rarity.RarityTools, rarity.Statistical} {
		// OpenRarity's mapping: the last of the colliding names wins
		// (HAT=cap), and the hat counts once, so nothing changes.
		res, err := rarity.Compute(toks, rarity.Options{Method: m})
		require.NoError(t, err)
		require.Equal(t, []rarity.DuplicateTrait{{TokenID: "1", Name: "hat", Values: []string{"beanie", "cap"}, Kept: "cap"}}, res.Duplicates)
		require.Equal(t, map[string]int{"cap": 2, "beanie": 1, "crown": 1, "<null>": 1, "": 1}, hatCounts(res))
		require.Equal(t, 2, res.Tokens[0].TraitCount)
		if m == rarity.OpenRarity {
			require.Equal(t, scoresOf(plain), scoresOf(res))
			meanIsOne(res)
		}

		// AllValues: both values of token 1 are counted; token 4 lacks the hat.
		res, err = rarity.Compute(toks, rarity.Options{Method: m, AllValues: true})
		require.NoError(t, err)
		require.Equal(t, []rarity.DuplicateTrait{{TokenID: "1", Name: "hat", Values: []string{"beanie", "cap"}}}, res.Duplicates)
		require.Equal(t, map[string]int{"cap": 2, "beanie": 2, "crown": 1, "": 1, "<null>": 1}, hatCounts(res))
		require.Equal(t, 3, res.Tokens[0].TraitCount)
		if m == rarity.OpenRarity {
			meanIsOne(res)
		}
	}
}

// A repeated raw name keeps its first position and takes its last value
// (a Python dict assignment), then the later normalised name wins; string
// and numeric attributes collapse separately.
func TestDuplicateTraitNamesDictOrder(t *testing.T) {
	t.Parallel()
	toks := base()
	toks[0].Attributes = []rarity.Attribute{
		{Name: "Hat", Value: "a"}, {Name: "hat", Value: "b"}, {Name: "Hat", Value: "c"},
		{Name: "Level", Value: "x"}, {Name: "level", Value: "5", Numeric: true},
	}
	res, err := rarity.Compute(toks, rarity.Options{})
	require.NoError(t, err)
	require.Equal(t, []rarity.DuplicateTrait{
		{TokenID: "1", Name: "hat", Values: []string{"a", "b", "c"}, Kept: "b"},
		{TokenID: "1", Name: "level", Values: []string{"5", "x"}}, // both kept: a string and a number
	}, res.Duplicates)
	require.Equal(t, []rarity.ExcludedTrait{{Name: "level", Reason: rarity.ReasonNumeric, Tokens: 1}}, res.Excluded)
	require.Equal(t, 3, res.Tokens[0].TraitCount, "hat, and level once as a string and once as a number")
	var hats []string
	for _, vc := range res.Traits {
		if vc.Name == "hat" && !vc.Null {
			hats = append(hats, vc.Value)
		}
	}
	require.Equal(t, []string{"b", "beanie", "cap", "crown"}, hats)
}

func TestEmptyAndSingle(t *testing.T) {
	t.Parallel()
	for _, m := range []rarity.Method{rarity.OpenRarity, rarity.RarityTools, rarity.Statistical} {
		res, err := rarity.Compute(nil, rarity.Options{Method: m})
		require.NoError(t, err)
		require.Empty(t, res.Tokens)
		require.NotNil(t, res.Tokens)
		require.Equal(t, m, res.Method)
		require.Len(t, res.InputHash, 64)
	}
	for _, toks := range [][]rarity.Token{
		{tok("9", "hat", "cap")},
		{{ID: "9"}},
	} {
		res, err := rarity.Compute(toks, rarity.Options{})
		require.NoError(t, err)
		require.Len(t, res.Tokens, 1)
		got := res.Tokens[0]
		require.Equal(t, 1, got.Rank)
		require.Zero(t, got.Score)
		require.False(t, math.Signbit(got.Score), "no -0")
		require.Zero(t, res.Entropy)
	}
	// Identical tokens: H = 0, every score 0, every rank 1.
	res, err := rarity.Compute([]rarity.Token{tok("1", "a", "x"), tok("2", "A", "X "), tok("3", "a", "x")}, rarity.Options{})
	require.NoError(t, err)
	for _, x := range res.Tokens {
		require.Equal(t, 1, x.Rank)
		require.Zero(t, x.Score)
		require.False(t, math.Signbit(x.Score))
	}
}

func TestIDs(t *testing.T) {
	t.Parallel()
	ids := []string{"mint-b", "18446744073709551616", "10", "9", "0", "mint-a", "340282366920938463463374607431768211456", "18446744073709551615"}
	toks := make([]rarity.Token, len(ids))
	for i, id := range ids {
		toks[i] = tok(id, "v", strconv.Itoa(i%3))
	}
	res, err := rarity.Compute(toks, rarity.Options{})
	require.NoError(t, err)
	var got []string
	for _, x := range res.Tokens {
		got = append(got, x.ID)
	}
	require.Equal(t, []string{"0", "9", "10", "18446744073709551615", "18446744073709551616",
		"340282366920938463463374607431768211456", "mint-a", "mint-b"}, got)

	for _, bad := range [][]string{{"7", "007"}, {"1", "1"}, {"x", "x"}, {"1", ""}} {
		_, err := rarity.Compute([]rarity.Token{tok(bad[0]), tok(bad[1])}, rarity.Options{})
		require.Error(t, err, bad)
	}
	require.Equal(t, 0, rarity.CompareIDs("7", "007"))
	require.Equal(t, -1, rarity.CompareIDs("99", "100"))
	require.Equal(t, -1, rarity.CompareIDs("99999999999999999999999", "a"))
}

func TestOptionsErrors(t *testing.T) {
	t.Parallel()
	_, err := rarity.Compute(base(), rarity.Options{Method: "harmonic"})
	require.ErrorContains(t, err, "unknown rarity method")
	_, err = rarity.Compute(base(), rarity.Options{TraitCount: true})
	require.ErrorContains(t, err, "TraitCount")
	_, err = rarity.Compute(base(), rarity.Options{Method: rarity.Statistical, TraitCount: true})
	require.Error(t, err)
	m, err := rarity.ParseMethod("")
	require.NoError(t, err)
	require.Equal(t, rarity.OpenRarity, m)
	require.Equal(t, "0.7.5-compat.2", m.Version())
}

// TestNoneIsAValue: literal "none"/""/"null" values keep their own buckets,
// separate from the Null bucket of tokens that lack the trait, and do not
// count towards the trait count.
func TestNoneIsAValue(t *testing.T) {
	t.Parallel()
	toks := []rarity.Token{
		tok("1", "hat", "None "), tok("2", "hat", ""), tok("3", "hat", "null"),
		tok("4"), tok("5", "hat", "cap"),
	}
	res, err := rarity.Compute(toks, rarity.Options{})
	require.NoError(t, err)
	var hat []rarity.ValueCount
	for _, vc := range res.Traits {
		if vc.Name == "hat" {
			hat = append(hat, vc)
		}
	}
	require.Equal(t, []rarity.ValueCount{
		{Name: "hat", Value: "", Count: 1, Frequency: 0.2},
		{Name: "hat", Value: "cap", Count: 1, Frequency: 0.2},
		{Name: "hat", Value: "none", Count: 1, Frequency: 0.2},
		{Name: "hat", Value: "null", Count: 1, Frequency: 0.2},
		{Name: "hat", Value: "", Null: true, Count: 1, Frequency: 0.2},
	}, hat)
	tc := []int{}
	for _, x := range res.Tokens {
		tc = append(tc, x.TraitCount)
	}
	require.Equal(t, []int{0, 0, 1, 0, 1}, tc)
}

// TestReservedTraitCount pins the reference quirk for a user attribute
// named meta_trait:trait_count.
func TestReservedTraitCount(t *testing.T) {
	t.Parallel()
	toks := []rarity.Token{
		tok("1", "a", "x", "meta_trait:trait_count", "none"), // 1 - 1 = 0, not 1
		tok("2", "a", "x", "Meta_Trait:Trait_Count", "7"),    // 1 + 1 - 1 = 1
		tok("3", "meta_trait:trait_count", ""),               // 0 - 1 = -1
		tok("4", "a", "y"),
	}
	res, err := rarity.Compute(toks, rarity.Options{})
	require.NoError(t, err)
	require.Equal(t, []rarity.ExcludedTrait{{Name: rarity.TraitCountName, Reason: rarity.ReasonReserved, Tokens: 3}}, res.Excluded)
	want := []int{0, 1, -1, 1}
	for i, x := range res.Tokens {
		require.Equal(t, want[i], x.TraitCount, x.ID)
	}
	var meta []string
	for _, vc := range res.Traits {
		if vc.Name == rarity.TraitCountName {
			meta = append(meta, vc.Value+"="+strconv.Itoa(vc.Count))
		}
	}
	require.Equal(t, []string{"-1=1", "0=1", "1=2"}, meta)
	// Without the quirk for the other methods.
	res, err = rarity.Compute(toks, rarity.Options{Method: rarity.RarityTools, TraitCount: true})
	require.NoError(t, err)
	want = []int{1, 1, 0, 1}
	for i, x := range res.Tokens {
		require.Equal(t, want[i], x.TraitCount, x.ID)
	}
}

// TestOtherMethods checks hand-computed scores.
func TestOtherMethods(t *testing.T) {
	t.Parallel()
	// N=5. hat: cap 2, beanie 1, crown 1, Null 1. eyes: blue 3, green 1, red 1.
	// trait counts: 2,2,2,1,2 -> "2" 4, "1" 1.
	toks := base()
	n := 5.0
	rt := []float64{n/2 + n/3, n/2 + n/1, n/1 + n/3, n/1 + n/3, n/1 + n/1}
	res, err := rarity.Compute(toks, rarity.Options{Method: rarity.RarityTools})
	require.NoError(t, err)
	require.Equal(t, rarity.RarityToolsVersion, res.Version)
	require.InDeltaSlice(t, rt, scoresOf(res), 1e-12)
	require.Equal(t, []int{5, 2, 3, 3, 1}, ranks(res))

	res, err = rarity.Compute(toks, rarity.Options{Method: rarity.RarityTools, TraitCount: true})
	require.NoError(t, err)
	tc := []float64{n / 4, n / 4, n / 4, n / 1, n / 4}
	for i := range rt {
		require.InDelta(t, rt[i]+tc[i], res.Tokens[i].Score, 1e-12)
	}

	l := func(c float64) float64 { return -math.Log2(c / n) }
	st := []float64{l(2) + l(3), l(2) + l(1), l(1) + l(3), l(1) + l(3), l(1) + l(1)}
	res, err = rarity.Compute(toks, rarity.Options{Method: rarity.Statistical})
	require.NoError(t, err)
	require.Equal(t, rarity.Statistical, res.Method)
	require.InDeltaSlice(t, st, scoresOf(res), 1e-12)
	require.Equal(t, []int{5, 2, 3, 3, 1}, ranks(res))
}

func ranks(r *rarity.Result) []int {
	out := make([]int, len(r.Tokens))
	for i, t := range r.Tokens {
		out[i] = t.Rank
	}
	return out
}

func TestInputHash(t *testing.T) {
	t.Parallel()
	a, err := rarity.Compute(base(), rarity.Options{})
	require.NoError(t, err)
	// Same input, other order and spelling that normalises the same.
	toks := base()
	toks[0], toks[4] = toks[4], toks[0]
	toks[1].Attributes[0], toks[1].Attributes[1] = toks[1].Attributes[1], toks[1].Attributes[0]
	toks[2].Attributes[0].Name = " HAT"
	toks[3].ID = "0004"
	b, err := rarity.Compute(toks, rarity.Options{})
	require.NoError(t, err)
	require.Equal(t, a.InputHash, b.InputHash)
	require.Equal(t, scoresOf(a), scoresOf(b))

	seen := map[string]string{a.InputHash: "base"}
	change := func(what string, f func([]rarity.Token), o rarity.Options) {
		toks := base()
		f(toks)
		r, err := rarity.Compute(toks, o)
		require.NoError(t, err)
		prev, dup := seen[r.InputHash]
		require.False(t, dup, "%s has the hash of %s", what, prev)
		seen[r.InputHash] = what
	}
	change("one value", func(ts []rarity.Token) { ts[2].Attributes[1].Value = "red" }, rarity.Options{})
	change("one name", func(ts []rarity.Token) { ts[2].Attributes[1].Name = "eye" }, rarity.Options{})
	change("one id", func(ts []rarity.Token) { ts[2].ID = "33" }, rarity.Options{})
	change("removed attr", func(ts []rarity.Token) { ts[2].Attributes = ts[2].Attributes[:1] }, rarity.Options{})
	change("numeric mark", func(ts []rarity.Token) { ts[2].Attributes[1].Numeric = true }, rarity.Options{})
	change("moved value", func(ts []rarity.Token) {
		ts[0].Attributes[1].Value, ts[1].Attributes[1].Value = ts[1].Attributes[1].Value, ts[0].Attributes[1].Value
	}, rarity.Options{})
	change("method", func([]rarity.Token) {}, rarity.Options{Method: rarity.Statistical})
	change("option", func([]rarity.Token) {}, rarity.Options{ScoreNumeric: true})
}
