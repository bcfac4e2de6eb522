package rarity

import (
	"cmp"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
)

func ranksOf(m Method, scores []float64, unique []int32) []int32 {
	c := &calc{opts: Options{Method: m}, n: len(scores), scores: scores, unique: unique, ranks: make([]int32, len(scores))}
	c.rank()
	return c.ranks
}

func TestRankRules(t *testing.T) {
	t.Parallel()
	// The reference's own test: 1.5 with u=2 and 1.5 with u=1 share rank 2.
	require.Equal(t, []int32{1, 2, 2}, ranksOf(OpenRarity, []float64{9, 1.5, 1.5}, []int32{3, 2, 1}))
	// Sorted (u=1, 1.5), (u=0, 9.0), (u=0, 1.5): equal scores, different ranks.
	require.Equal(t, []int32{1, 2, 3}, ranksOf(OpenRarity, []float64{1.5, 9, 1.5}, []int32{1, 0, 0}))
	// Ties chain through neighbours: the first and last are not "close".
	require.Equal(t, []int32{1, 1, 1}, ranksOf(OpenRarity, []float64{1.0 + 1.2e-9, 1.0 + 6e-10, 1.0}, []int32{0, 0, 0}))
	// Without a middle link they are not tied.
	require.Equal(t, []int32{1, 2}, ranksOf(OpenRarity, []float64{1.0 + 1.2e-9, 1.0}, []int32{0, 0}))
	// Competition ranks: 1, 2, 2, 4.
	require.Equal(t, []int32{1, 2, 2, 4}, ranksOf(Statistical, []float64{4, 3, 3, 1}, []int32{0, 0, 0, 0}))
	// Other methods ignore u.
	require.Equal(t, []int32{2, 1}, ranksOf(RarityTools, []float64{1, 2}, []int32{5, 0}))
	// Exact ties keep position (id) order and share the rank.
	require.Equal(t, []int32{1, 1, 3}, ranksOf(OpenRarity, []float64{2, 2, 1}, []int32{0, 0, 0}))
}

func TestIsClose(t *testing.T) {
	t.Parallel()
	// Expected values from CPython's math.isclose.
	require.True(t, isClose(1, 1+9e-10))
	require.True(t, isClose(1+9e-10, 1))
	require.False(t, isClose(1, 1+1e-9)) // 1+1e-9 rounds up: just outside
	require.False(t, isClose(1, 1+2e-9))
	require.True(t, isClose(0, 0))
	require.False(t, isClose(0, 1e-300)) // abs_tol is 0
	require.True(t, isClose(math.Inf(1), math.Inf(1)))
	require.False(t, isClose(math.Inf(1), math.MaxFloat64))
}

func TestInfoTerm(t *testing.T) {
	t.Parallel()
	require.False(t, math.Signbit(infoTerm(7, 7)))
	require.Equal(t, 1.0, infoTerm(5, 10))
	require.InDelta(t, math.Log2(10000), infoTerm(1, 10000), 1e-12)
}

// TestSortOrder compares the bucket sort with a plain stable sort on
// score distributions that stress it: ties, outliers, clusters, zeros,
// huge ranges and few buckets.
func TestSortOrder(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(3, 4))
	gens := map[string]func(i int) float64{
		"uniform":  func(int) float64 { return rng.Float64() },
		"ties":     func(int) float64 { return float64(rng.IntN(5)) / 3 },
		"outlier":  func(i int) float64 { return map[bool]float64{true: 1e6, false: 1 + rng.Float64()*1e-6}[i == 7] },
		"zeros":    func(int) float64 { return float64(rng.IntN(2)) * rng.Float64() },
		"huge":     func(int) float64 { return math.Ldexp(rng.Float64(), rng.IntN(2000)-1000) },
		"equal":    func(int) float64 { return 0.9999999999999996 },
		"clusters": func(int) float64 { return float64(rng.IntN(3)*1000) + rng.Float64()*1e-9 },
		"maxfloat": func(i int) float64 { return []float64{0, math.MaxFloat64, 1}[i%3] },
	}
	for name, gen := range gens {
		for _, n := range []int{1, 2, 3, 30, 1000, 5000} {
			for _, m := range []Method{OpenRarity, Statistical} {
				c := &calc{opts: Options{Method: m}, n: n, scores: make([]float64, n), unique: make([]int32, n)}
				for i := range c.scores {
					c.scores[i] = gen(i)
					c.unique[i] = int32(rng.IntN(3))
				}
				want := make([]int32, n)
				for i := range want {
					want[i] = int32(i)
				}
				slices.SortStableFunc(want, func(a, b int32) int {
					if m == OpenRarity && c.unique[a] != c.unique[b] {
						return int(c.unique[b] - c.unique[a])
					}
					return cmp.Compare(c.scores[b], c.scores[a])
				})
				require.Equal(t, want, c.sortOrder(), "%s n=%d %s", name, n, m)
			}
		}
	}
}
