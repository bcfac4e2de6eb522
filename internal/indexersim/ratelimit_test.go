package indexersim

import (
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

const collectionPath = "/api/v2/collections/sim-collection-000"

// statuses fetches path n times and returns the statuses.
func (b *testBundle) statuses(t *testing.T, n int, header ...string) []int {
	t.Helper()
	out := make([]int, n)
	for i := range out {
		out[i] = b.get(t, collectionPath, header...).status
	}
	return out
}

func TestRateLimit(t *testing.T) {
	t.Parallel()

	t.Run("GlobalBucket", func(t *testing.T) {
		t.Parallel()
		b := setup(t, Config{Collections: 1, Rate: 5, Burst: 5})

		for i := range 5 {
			res := b.get(t, collectionPath)
			require.Equal(t, http.StatusOK, res.status)
			require.Equal(t, "5", res.header.Get("X-RateLimit-Limit"))
			require.Equal(t, strconv.Itoa(4-i), res.header.Get("X-RateLimit-Remaining"))
			reset, err := strconv.ParseInt(res.header.Get("X-RateLimit-Reset"), 10, 64)
			require.NoError(t, err)
			require.GreaterOrEqual(t, reset, b.clock.Now().Unix())
		}
		for range 2 {
			res := b.get(t, collectionPath)
			require.Equal(t, http.StatusTooManyRequests, res.status)
			require.Equal(t, "1", res.header.Get("Retry-After"))
			require.Equal(t, "0", res.header.Get("X-RateLimit-Remaining"))
			require.JSONEq(t, `{"detail":"Request was throttled. Expected available in 1 second."}`, string(res.body))
		}
		st := b.sim.Stats()
		require.Equal(t, int64(7), st.Requests)
		require.Equal(t, int64(5), st.Served)
		require.Equal(t, int64(2), st.RateLimited, "excess requests are counted")
		require.Equal(t, int64(2), st.Throttled)
		require.Equal(t, map[int]int64{200: 5, 429: 2}, st.ByStatus)

		b.clock.Advance(200 * time.Millisecond) // one token
		require.Equal(t, []int{200, 429}, b.statuses(t, 2))
		b.clock.Advance(10 * time.Second) // refills to the burst, not beyond
		require.Equal(t, []int{200, 200, 200, 200, 200, 429}, b.statuses(t, 6))
	})

	t.Run("RetryAfterRoundsUp", func(t *testing.T) {
		t.Parallel()
		b := setup(t, Config{Collections: 1, Rate: 0.2}) // one request per 5 s
		require.Equal(t, http.StatusOK, b.get(t, collectionPath).status)
		res := b.get(t, collectionPath)
		require.Equal(t, http.StatusTooManyRequests, res.status)
		require.Equal(t, "5", res.header.Get("Retry-After"))
		require.JSONEq(t, `{"detail":"Request was throttled. Expected available in 5 seconds."}`, string(res.body))
		b.clock.Advance(4500 * time.Millisecond)
		require.Equal(t, "1", b.get(t, collectionPath).header.Get("Retry-After"))
		b.clock.Advance(500 * time.Millisecond)
		require.Equal(t, http.StatusOK, b.get(t, collectionPath).status)
	})

	t.Run("Unlimited", func(t *testing.T) {
		t.Parallel()
		b := setup(t, Config{Collections: 1})
		res := b.get(t, collectionPath)
		require.Empty(t, res.header.Get("X-RateLimit-Limit"))
		require.Equal(t, []int{200, 200, 200, 200, 200, 200, 200, 200}, b.statuses(t, 8))
	})
}

func TestPerKeyLimitsAndAuth(t *testing.T) {
	t.Parallel()

	t.Run("Auth", func(t *testing.T) {
		t.Parallel()
		b := setup(t, Config{Collections: 1, APIKeys: []string{"alpha", "beta"}, PerKeyRate: 2})
		for _, h := range [][]string{nil, {"X-API-KEY", "gamma"}} {
			res := b.get(t, collectionPath, h...)
			require.Equal(t, http.StatusUnauthorized, res.status)
			require.JSONEq(t, `{"errors":["invalid or missing API key"]}`, string(res.body))
		}
		require.Equal(t, []int{200, 200, 429}, b.statuses(t, 3, "X-API-KEY", "alpha"))
		require.Equal(t, []int{200, 200, 429}, b.statuses(t, 3, "x-api-key", "beta"), "own bucket per key")
		st := b.sim.Stats()
		require.Equal(t, int64(2), st.Unauthorized)
		require.Equal(t, int64(2), st.RateLimited)
		require.Equal(t, int64(4), st.Served)
		require.Equal(t, int64(8), st.Requests)
	})

	t.Run("GlobalAndPerKey", func(t *testing.T) {
		t.Parallel()
		b := setup(t, Config{Collections: 1, Rate: 3, PerKeyRate: 2})
		require.Equal(t, []int{200, 200, 429}, b.statuses(t, 3, "X-API-KEY", "a"))
		// The per-key refusal took no global token: one is left for b.
		res := b.get(t, collectionPath, "X-API-KEY", "b")
		require.Equal(t, http.StatusOK, res.status)
		require.Equal(t, "0", res.header.Get("X-RateLimit-Remaining"), "headers show the tighter bucket")
		res = b.get(t, collectionPath, "X-API-KEY", "b")
		require.Equal(t, http.StatusTooManyRequests, res.status)
		require.Equal(t, "3", res.header.Get("X-RateLimit-Limit"), "the global bucket refused")
	})
}

func TestMaxServedPerSecond(t *testing.T) {
	t.Parallel()

	t.Run("Exact", func(t *testing.T) {
		t.Parallel()
		b := setup(t, Config{Collections: 1})
		start := b.clock.Now()
		at := func(ms, n int) {
			b.clock.Advance(start.Add(time.Duration(ms) * time.Millisecond).Sub(b.clock.Now()))
			b.statuses(t, n)
		}
		at(0, 3)    // window (-1s, 0]: 3
		at(500, 4)  // (-0.5s, 0.5s]: 7
		at(1000, 2) // (0, 1s]: the requests at 0 fell out: 6
		at(1400, 3) // (0.4s, 1.4s]: 4+2+3 = 9
		at(2000, 1) // (1s, 2s]: 3+1 = 4
		at(5000, 8) // 8
		st := b.sim.Stats()
		require.Equal(t, int64(21), st.Served)
		require.Equal(t, int64(9), st.MaxServedPerSecond)
	})

	t.Run("RateLimitedClient", func(t *testing.T) {
		t.Parallel()
		b := setup(t, Config{Collections: 1, Rate: 10, Burst: 10})
		for range 300 { // 100 requests/s for 3 s
			b.get(t, collectionPath)
			b.clock.Advance(10 * time.Millisecond)
		}
		st := b.sim.Stats()
		require.Equal(t, int64(300), st.Served+st.RateLimited)
		require.Equal(t, int64(10+29), st.Served, "burst plus rate x 2.99 s")
		require.GreaterOrEqual(t, st.MaxServedPerSecond, int64(10))
		require.LessOrEqual(t, st.MaxServedPerSecond, int64(10+10), "never more than burst + rate in 1 s")
	})
}

func TestTier(t *testing.T) {
	t.Parallel()

	t.Run("FixedWindowPerKey", func(t *testing.T) {
		t.Parallel()
		b := setup(t, Config{Collections: 1, Tier: Tier{Limit: 3, Window: time.Minute}})
		start := b.clock.Now()
		for i := range 3 {
			b.clock.Advance(10 * time.Second) // the window opened at the first request
			res := b.get(t, collectionPath, "X-API-KEY", "k1")
			require.Equal(t, http.StatusOK, res.status)
			require.Equal(t, "3", res.header.Get("X-RateLimit-Limit"))
			require.Equal(t, strconv.Itoa(2-i), res.header.Get("X-RateLimit-Remaining"))
		}
		res := b.get(t, collectionPath, "X-API-KEY", "k1")
		require.Equal(t, http.StatusTooManyRequests, res.status)
		require.Equal(t, "0", res.header.Get("X-RateLimit-Remaining"))
		first := start.Add(10 * time.Second)
		require.Equal(t, strconv.FormatInt(ceilUnix(first.Add(time.Minute)), 10), res.header.Get("X-RateLimit-Reset"))
		require.Equal(t, "40", res.header.Get("Retry-After"), "until the window ends")

		// Another key has its own window.
		require.Equal(t, http.StatusOK, b.get(t, collectionPath, "X-API-KEY", "k2").status)

		b.clock.Advance(first.Add(time.Minute).Sub(b.clock.Now())) // the window ends
		res = b.get(t, collectionPath, "X-API-KEY", "k1")
		require.Equal(t, http.StatusOK, res.status)
		require.Equal(t, "2", res.header.Get("X-RateLimit-Remaining"), "a new window")
		st := b.sim.Stats()
		require.Equal(t, int64(1), st.RateLimited)
	})

	t.Run("Parse", func(t *testing.T) {
		t.Parallel()
		for in, want := range map[string]Tier{
			"60/m": TierPerMinute, "600/h": TierPerHour, "60/10s": {60, 10 * time.Second},
			" 5 / s ": {5, time.Second}, "off": {}, "": {},
		} {
			got, err := ParseTier(in)
			require.NoError(t, err, in)
			require.Equal(t, want, got, in)
		}
		for _, in := range []string{"60", "0/m", "-1/m", "1.5/m", "60/fortnight", "60/-1s", "x/m"} {
			_, err := ParseTier(in)
			require.ErrorContains(t, err, strconv.Quote(in), in)
		}
		require.Error(t, Config{Tier: Tier{Limit: 5}}.Validate(), "a tier needs a window")
	})
}
