package indexersim

import (
	"regexp"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestConfig(t *testing.T) {
	t.Parallel()

	t.Run("Defaults", func(t *testing.T) {
		t.Parallel()
		cfg := DefaultConfig()
		require.Equal(t, 50, cfg.Collections)
		require.Equal(t, 1000, cfg.MinTokens)
		require.Equal(t, 10000, cfg.MaxTokens)
		require.Equal(t, int64(17<<20), cfg.OversizeBytes)
		require.NotNil(t, cfg.Clock)
		require.Zero(t, cfg.Rate)
		require.Zero(t, cfg.ErrorRate)
		require.NoError(t, cfg.Validate())
		require.NoError(t, Config{}.Validate())
	})

	t.Run("BurstDefaultsToRate", func(t *testing.T) {
		t.Parallel()
		cfg := Config{Rate: 2.5, PerKeyRate: 4}.withDefaults()
		require.Equal(t, 3, cfg.Burst)
		require.Equal(t, 4, cfg.PerKeyBurst)
	})

	t.Run("Invalid", func(t *testing.T) {
		t.Parallel()
		for name, cfg := range map[string]Config{
			"collections":    {Collections: -1},
			"token bounds":   {MinTokens: 500, MaxTokens: 100},
			"negative rate":  {Rate: -1},
			"negative burst": {Rate: 1, Burst: -1},
			"empty key":      {APIKeys: []string{"a", ""}},
			"latency":        {Latency: -time.Second},
			"storm duration": {StormEvery: time.Second, StormDuration: 2 * time.Second},
			"storm zero":     {StormEvery: time.Second},
			"fraction":       {ErrorRate: 1.5},
			"fraction sum":   {ErrorRate: 0.6, TimeoutRate: 0.6},
			"oversize":       {OversizeBytes: 10},
		} {
			err := cfg.Validate()
			require.Error(t, err, name)
			require.Contains(t, err.Error(), "invalid simulator config", name)
			_, err = New(cfg, nil)
			require.Error(t, err, name)
		}
	})
}

func TestCollections(t *testing.T) {
	t.Parallel()
	sim, err := New(Config{Seed: 7}, nil)
	require.NoError(t, err)

	slugs := sim.Slugs()
	require.Len(t, slugs, 50)
	require.Equal(t, "sim-collection-000", slugs[0])
	require.Equal(t, "sim-collection-049", slugs[49])

	contract := regexp.MustCompile(`^0x[0-9a-f]{40}$`)
	contracts := map[string]bool{}
	total := 0
	for _, slug := range slugs {
		info, ok := sim.Collection(slug)
		require.True(t, ok)
		require.Equal(t, slug, info.Slug)
		require.Equal(t, "ethereum", info.Chain)
		require.Regexp(t, contract, info.Contract)
		require.False(t, contracts[info.Contract], "duplicate contract")
		contracts[info.Contract] = true
		require.GreaterOrEqual(t, info.TokenCount, 1000)
		require.LessOrEqual(t, info.TokenCount, 10000)
		require.Equal(t, 1, info.FirstTokenID)
		require.GreaterOrEqual(t, len(info.TraitTypes), 4)
		require.LessOrEqual(t, len(info.TraitTypes), 9)
		require.LessOrEqual(t, len(info.NumericTraitTypes), 2)
		total += info.TokenCount
	}
	mean := total / len(slugs)
	require.Greater(t, mean, 2500, "log-uniform sizes: mean about 3900")
	require.Less(t, mean, 5500)

	_, ok := sim.Collection("nope")
	require.False(t, ok)

	t.Run("SameSeedSameCollections", func(t *testing.T) {
		t.Parallel()
		other, err := New(Config{Seed: 7}, nil)
		require.NoError(t, err)
		a, _ := sim.Collection(slugs[3])
		b, _ := other.Collection(slugs[3])
		require.Equal(t, a, b)

		third, err := New(Config{Seed: 8}, nil)
		require.NoError(t, err)
		c, _ := third.Collection(slugs[3])
		require.NotEqual(t, a.Contract, c.Contract)
	})
}

func TestTokenTraits(t *testing.T) {
	t.Parallel()
	sim, err := New(Config{Seed: 3, Collections: 8}, nil)
	require.NoError(t, err)

	var sawNumber, sawDate bool
	for _, c := range sim.collections {
		n := c.info.TokenCount
		counts := map[string]map[string]int{} // type -> value -> tokens
		present := map[string]int{}
		bare := 0
		for i := range n {
			traits := c.tokenTraits(i)
			if c.unknown[i] {
				require.Nil(t, traits, "unknown traits are nil")
				continue
			}
			require.NotNil(t, traits)
			if i%101 == 0 {
				require.Equal(t, traits, c.tokenTraits(i), "pure function of (seed, slug, i)")
			}
			if len(traits) == 0 {
				bare++
			}
			for _, tr := range traits {
				require.Contains(t, c.info.TraitTypes, tr.Type)
				present[tr.Type]++
				if tr.Numeric {
					require.Contains(t, c.info.NumericTraitTypes, tr.Type)
					v, err := strconv.ParseInt(tr.Value, 10, 64)
					require.NoError(t, err)
					switch tr.DisplayType {
					case "number":
						sawNumber = true
						require.Positive(t, v)
					case "date":
						sawDate = true
						require.Zero(t, v%86400, "dates at midnight")
						require.Greater(t, v, int64(1546300799))
					default:
						t.Fatalf("numeric trait with display type %q", tr.DisplayType)
					}
					continue
				}
				require.Empty(t, tr.DisplayType)
				if counts[tr.Type] == nil {
					counts[tr.Type] = map[string]int{}
				}
				counts[tr.Type][tr.Value]++
			}
		}
		require.Equal(t, len(c.bare), bare, c.info.Slug)
		require.Positive(t, bare, "a few tokens without traits")

		oneOfOnes := 0
		for typ, values := range counts {
			freq := make([]int, 0, len(values))
			for _, k := range values {
				freq = append(freq, k)
				if k == 1 {
					oneOfOnes++
				}
			}
			slices.Sort(freq)
			if len(freq) >= 5 {
				top, median := freq[len(freq)-1], freq[len(freq)/2]
				require.Greater(t, top, 2*median, "Zipf-like: a few common values (%s %s)", c.info.Slug, typ)
			}
		}
		require.Positive(t, oneOfOnes, "1-of-1 values exist")
		missing := false
		for _, typ := range c.info.TraitTypes {
			if present[typ] < n-len(c.bare) {
				missing = true
			}
		}
		require.True(t, missing, "some tokens miss some traits (%s)", c.info.Slug)
	}
	require.True(t, sawNumber, "number traits present")
	require.True(t, sawDate, "date traits present")
}

func TestTokenTruth(t *testing.T) {
	t.Parallel()
	sim, err := New(Config{Collections: 1}, nil)
	require.NoError(t, err)
	slug := sim.Slugs()[0]
	info, _ := sim.Collection(slug)

	traits, ok := sim.Token(slug, "1")
	require.True(t, ok)
	require.Equal(t, sim.collections[0].tokenTraits(0), traits)
	_, ok = sim.Token(slug, strconv.Itoa(info.TokenCount))
	require.True(t, ok)
	for _, id := range []string{"0", strconv.Itoa(info.TokenCount + 1), "01", "x"} {
		_, ok = sim.Token(slug, id)
		require.False(t, ok, id)
	}
	_, ok = sim.Token("nope", "1")
	require.False(t, ok)
}
