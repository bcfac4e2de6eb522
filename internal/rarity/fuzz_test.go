package rarity

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"
)

// Names and values the decoder picks from: case and whitespace variants,
// strings where Python and Go normalise differently, literal none/null/"",
// the reserved trait-count name.
var (
	fuzzNames  = []string{"hat", "Hat ", "HAT", "eyes", "Σ", "level", "meta_trait:trait_count", "\x1fbg", "bg", "İ"}
	fuzzValues = []string{"a", "A", " a", "b", "c", "none", "None ", "", "null", "ΣΑΣ", "σας", "İ", "i\u0307", "\x1fstar", "star", "\u00a0star", "1", "01", "\u200bx"}
	fuzzDT     = []string{"", "", "", "number", "date", "boost_percentage", "string"}
)

// decodeCollection turns fuzz bytes into options and a collection of up
// to 40 tokens with unique ids of several shapes.
func decodeCollection(data []byte) ([]Token, Options) {
	i := 0
	next := func() int {
		if i >= len(data) {
			return 0
		}
		i++
		return int(data[i-1])
	}
	var o Options
	m := next()
	switch m % 4 {
	case 0:
		o.Method = OpenRarity
	case 1:
		o.Method = RarityTools
	case 2:
		o.Method, o.TraitCount = RarityTools, true
	case 3:
		o.Method = Statistical
	}
	o.AllValues = m&4 != 0
	o.ScoreNumeric = next()%5 == 0
	n := next() % 41
	toks := make([]Token, n)
	for k := range toks {
		var id string
		switch next() % 4 {
		case 0:
			id = strconv.Itoa(k)
		case 1:
			id = "000" + strconv.Itoa(k)
		case 2:
			id = fmt.Sprintf("1%030d", k) // beyond 64 bits
		case 3:
			id = "mint-" + strconv.Itoa(k)
		}
		na := next() % 6
		attrs := make([]Attribute, na)
		for j := range attrs {
			b := next()
			attrs[j] = Attribute{
				Name:        fuzzNames[b%len(fuzzNames)],
				Value:       fuzzValues[next()%len(fuzzValues)],
				DisplayType: fuzzDT[(b/16)%len(fuzzDT)],
				Numeric:     b >= 250,
			}
		}
		toks[k] = Token{ID: id, Attributes: attrs}
	}
	return toks, o
}

// checkResult asserts the properties every Result must have.
func checkResult(t *testing.T, toks []Token, o Options, r *Result) {
	t.Helper()
	require.Len(t, r.Tokens, len(toks))
	require.False(t, math.IsNaN(r.Entropy) || math.IsInf(r.Entropy, 0) || r.Entropy < 0)
	sum := 0.0
	for i, x := range r.Tokens {
		require.False(t, math.IsNaN(x.Score) || math.IsInf(x.Score, 0), "token %s score %v", x.ID, x.Score)
		require.False(t, math.Signbit(x.Score), "token %s score %v", x.ID, x.Score)
		if i > 0 {
			require.Equal(t, -1, CompareIDs(r.Tokens[i-1].ID, x.ID), "id order")
		}
		sum += x.Score
	}
	// The ranks are a valid competition ranking (1, 2, 2, 4) ...
	ranks := make([]int, len(r.Tokens))
	for i, x := range r.Tokens {
		ranks[i] = x.Rank
	}
	slices.Sort(ranks)
	for i, rk := range ranks {
		if i == 0 || rk != ranks[i-1] {
			require.Equal(t, i+1, rk, "competition rank")
		}
	}
	// ... and follow the spec: sort by the method's key (OpenRarity: unique
	// desc, then score desc; others: score desc), exact ties in id order,
	// then rank = position unless isclose to the predecessor.
	order := make([]int, len(r.Tokens))
	for i := range order {
		order[i] = i
	}
	byU := r.Method == OpenRarity
	slices.SortStableFunc(order, func(a, b int) int {
		ta, tb := r.Tokens[a], r.Tokens[b]
		if byU && ta.Unique != tb.Unique {
			return tb.Unique - ta.Unique
		}
		switch {
		case ta.Score > tb.Score:
			return -1
		case ta.Score < tb.Score:
			return 1
		}
		return 0
	})
	for i, p := range order {
		want := i + 1
		if i > 0 && isClose(r.Tokens[p].Score, r.Tokens[order[i-1]].Score) {
			want = r.Tokens[order[i-1]].Rank
		}
		require.Equal(t, want, r.Tokens[p].Rank, "rank of token %s", r.Tokens[p].ID)
	}
	if r.Method == OpenRarity && r.Entropy > 0 {
		require.InDelta(t, 1, sum/float64(len(toks)), 1e-12, "mean score")
	}
	if r.Method == OpenRarity && r.Entropy == 0 {
		require.Zero(t, sum)
	}
}

// shuffled returns a copy of toks with tokens in a random order, and with
// attrs also each token's attributes (their order matters where a name
// repeats, unless Options.AllValues is set).
func shuffled(toks []Token, seed uint64, attrs bool) []Token {
	rng := rand.New(rand.NewPCG(seed, 1))
	out := slices.Clone(toks)
	rng.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	for i := range out {
		if !attrs {
			break
		}
		a := slices.Clone(out[i].Attributes)
		rng.Shuffle(len(a), func(i, j int) { a[i], a[j] = a[j], a[i] })
		out[i].Attributes = a
	}
	return out
}

func checkCollection(t *testing.T, data []byte) {
	toks, o := decodeCollection(data)
	r, err := Compute(toks, o)
	require.NoError(t, err)
	checkResult(t, toks, o, r)
	// Independent of input order, exactly (ties included: they follow ids).
	seed := uint64(len(data))
	for _, b := range data {
		seed = seed*31 + uint64(b)
	}
	r2, err := Compute(shuffled(toks, seed, o.AllValues), o)
	require.NoError(t, err)
	require.Equal(t, withoutInput(r), withoutInput(r2))
	// Changing one token's trait changes the input hash.
	if len(toks) > 0 {
		k := int(seed % uint64(len(toks)))
		changed := slices.Clone(toks)
		changed[k].Attributes = append(slices.Clone(changed[k].Attributes), Attribute{Name: "extra", Value: "x"})
		r3, err := Compute(changed, o)
		require.NoError(t, err)
		require.NotEqual(t, r.InputHash, r3.InputHash)
	}
}

// withoutInput returns r's tokens without their input index, which
// depends on the input order.
func withoutInput(r *Result) *Result {
	c := *r
	c.Tokens = slices.Clone(r.Tokens)
	for i := range c.Tokens {
		c.Tokens[i].Input = 0
	}
	return &c
}

func FuzzCompute(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{0, 1, 5, 0, 2, 1, 2, 3, 4})
	f.Fuzz(func(t *testing.T, data []byte) {
		checkCollection(t, data)
	})
}

// TestProperties runs the fuzz properties on pseudo-random inputs, so that
// plain `go test` covers more than the seed corpus.
func TestProperties(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 2))
	for range 500 {
		data := make([]byte, rng.IntN(300))
		for i := range data {
			data[i] = byte(rng.Uint32())
		}
		checkCollection(t, data)
	}
}
