package indexersim

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

const statsPath = "/api/v2/collections/sim-collection-000/stats"

func TestFaults(t *testing.T) {
	t.Parallel()

	t.Run("Errors", func(t *testing.T) {
		t.Parallel()
		b := setup(t, Config{Collections: 1, ErrorRate: 1})
		seen := map[int]bool{}
		for range 30 {
			res := b.get(t, statsPath)
			require.Contains(t, []int{500, 502, 503}, res.status)
			var body struct {
				Errors []string `json:"errors"`
			}
			require.NoError(t, json.Unmarshal(res.body, &body))
			require.NotEmpty(t, body.Errors)
			seen[res.status] = true
		}
		require.Len(t, seen, 3, "500, 502 and 503 all occur")
		st := b.sim.Stats()
		require.Equal(t, int64(30), st.Faults[FaultError500]+st.Faults[FaultError502]+st.Faults[FaultError503])
		require.Equal(t, int64(30), st.Served)
	})

	t.Run("Storm", func(t *testing.T) {
		t.Parallel()
		b := setup(t, Config{Collections: 1, StormEvery: 10 * time.Second, StormDuration: 2 * time.Second})
		require.Equal(t, http.StatusOK, b.get(t, statsPath).status)
		b.clock.Advance(8500 * time.Millisecond)
		for range 3 {
			res := b.get(t, statsPath)
			require.Equal(t, http.StatusTooManyRequests, res.status)
			require.Equal(t, "2", res.header.Get("Retry-After"), "1.5 s left, rounded up")
			require.Contains(t, string(res.body), "Request was throttled.")
		}
		b.clock.Advance(1500 * time.Millisecond)
		require.Equal(t, http.StatusOK, b.get(t, statsPath).status, "storm over")
		b.clock.Advance(9 * time.Second)
		res := b.get(t, statsPath)
		require.Equal(t, http.StatusTooManyRequests, res.status, "next storm")
		require.Equal(t, "1", res.header.Get("Retry-After"))
		st := b.sim.Stats()
		require.Equal(t, int64(4), st.Faults[FaultStorm])
		require.Equal(t, int64(4), st.Throttled)
		require.Zero(t, st.RateLimited)
		require.Equal(t, int64(2), st.Served)
	})

	t.Run("Timeout", func(t *testing.T) {
		t.Parallel()
		b := setup(t, Config{Collections: 1, TimeoutRate: 1})
		client := &http.Client{Timeout: 100 * time.Millisecond}
		started := time.Now()
		_, err := client.Get(b.ts.URL + statsPath) //nolint:bodyclose // the request fails: there is no body
		require.Error(t, err)
		require.GreaterOrEqual(t, time.Since(started), 100*time.Millisecond)
		// On a busy machine the client may give up before the handler ran.
		require.Eventually(t, func() bool { return b.sim.Stats().Faults[FaultTimeout] == 1 }, 5*time.Second, 5*time.Millisecond)

		// Close drops hanging requests instead of answering them.
		errc := make(chan error, 1)
		go func() {
			res, err := http.Get(b.ts.URL + statsPath)
			if err == nil {
				res.Body.Close()
			}
			errc <- err
		}()
		require.Eventually(t, func() bool { return b.sim.Stats().Faults[FaultTimeout] == 2 }, 5*time.Second, 5*time.Millisecond)
		b.sim.Close()
		select {
		case err := <-errc:
			require.Error(t, err)
		case <-time.After(5 * time.Second):
			t.Fatal("Close did not release the hanging request")
		}
	})

	t.Run("Malformed", func(t *testing.T) {
		t.Parallel()
		b := setup(t, Config{Collections: 1, MalformedRate: 1})
		observed := map[string]int64{}
		check := func(path string, negative func([]byte) bool, v any) {
			res := b.get(t, path)
			require.Equal(t, http.StatusOK, res.status)
			switch {
			case !json.Valid(res.body):
				observed["invalid"]++
			case strictDecode(res.body, v) != nil:
				observed["type"]++
			case negative(res.body):
				observed["negative"]++
			default:
				t.Fatalf("%s: body not broken: %.300s", path, res.body)
			}
		}
		for range 60 {
			check(statsPath, func(body []byte) bool {
				var st apiStats
				require.NoError(t, json.Unmarshal(body, &st))
				return st.Total.FloorPrice < 0
			}, &apiStats{})
		}
		for range 30 {
			check("/api/v2/collection/sim-collection-000/nfts?limit=20", func(body []byte) bool {
				var page apiPage
				require.NoError(t, json.Unmarshal(body, &page))
				for _, nft := range page.NFTs {
					if strings.HasPrefix(nft.Identifier, "-") {
						return true
					}
				}
				return false
			}, &apiPage{})
			check(collectionPath, func(body []byte) bool {
				var c struct {
					TotalSupply int64 `json:"total_supply"`
				}
				require.NoError(t, json.Unmarshal(body, &c))
				return c.TotalSupply < 0
			}, &struct {
				TotalSupply int64         `json:"total_supply"`
				Contracts   []apiContract `json:"contracts"`
			}{})
		}
		st := b.sim.Stats()
		require.Positive(t, st.Faults[FaultMalformedTruncate])
		require.Positive(t, st.Faults[FaultMalformedSyntax])
		require.Positive(t, st.Faults[FaultMalformedType])
		require.Positive(t, st.Faults[FaultMalformedNegative])
		require.Equal(t, st.Faults[FaultMalformedTruncate]+st.Faults[FaultMalformedSyntax], observed["invalid"])
		require.Equal(t, st.Faults[FaultMalformedType], observed["type"])
		require.Equal(t, st.Faults[FaultMalformedNegative], observed["negative"])
	})

	t.Run("Oversize", func(t *testing.T) {
		t.Parallel()
		b := setup(t, Config{Collections: 1, OversizeRate: 1})
		res := b.get(t, statsPath)
		require.Equal(t, http.StatusOK, res.status)
		require.Greater(t, len(res.body), 16<<20)
		require.Len(t, res.body, DefaultOversizeBytes)
		var st apiStats
		require.NoError(t, json.Unmarshal(res.body, &st), "valid JSON, only too big")
		require.Positive(t, st.Total.FloorPrice)
	})

	t.Run("OversizeStreamed", func(t *testing.T) {
		t.Parallel()
		b := setup(t, Config{Collections: 1, OversizeRate: 1, OversizeBytes: 1 << 20})
		lengths := map[bool]bool{}
		for range 8 {
			res, err := b.ts.Client().Get(b.ts.URL + "/api/v2/collection/sim-collection-000/nfts?limit=200")
			require.NoError(t, err)
			n, err := io.Copy(io.Discard, res.Body)
			require.NoError(t, err)
			res.Body.Close()
			require.Equal(t, int64(1<<20), n)
			lengths[res.ContentLength >= 0] = true
		}
		require.Len(t, lengths, 2, "both with Content-Length and chunked")
		require.Equal(t, int64(8), b.sim.Stats().Faults[FaultOversize])
	})

	t.Run("Latency", func(t *testing.T) {
		t.Parallel()
		b := setup(t, Config{Collections: 1, Latency: 80 * time.Millisecond})
		started := time.Now()
		require.Equal(t, http.StatusOK, b.get(t, statsPath).status)
		require.GreaterOrEqual(t, time.Since(started), 80*time.Millisecond)
	})

	t.Run("Deterministic", func(t *testing.T) {
		t.Parallel()
		cfg := Config{Collections: 1, Seed: 9, ErrorRate: 0.3, MalformedRate: 0.3}
		run := func(cfg Config) ([]int, [][]byte) {
			b := setup(t, cfg)
			var statuses []int
			var bodies [][]byte
			for range 40 {
				res := b.get(t, statsPath)
				statuses = append(statuses, res.status)
				bodies = append(bodies, res.body)
			}
			return statuses, bodies
		}
		statuses, bodies := run(cfg)
		statuses2, bodies2 := run(cfg)
		require.Equal(t, statuses, statuses2, "same seed, same request sequence: same faults")
		require.Equal(t, bodies, bodies2)
		cfg.Seed = 10
		statuses3, _ := run(cfg)
		require.NotEqual(t, statuses, statuses3)
	})
}

type apiContract struct {
	Address string `json:"address"`
	Chain   string `json:"chain"`
}

// strictDecode decodes body into v, failing on type mismatches.
func strictDecode(body []byte, v any) error {
	return json.NewDecoder(bytes.NewReader(body)).Decode(v)
}
