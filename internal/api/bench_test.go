package api_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/nftsync/nftsync/internal/api"
)

// typicalQuery is what the client app asks most: one collection with its
// current floor and volumes, and its 50 rarest tokens with traits.
const typicalQuery = `query($slug: String!) {
	collection(slug: $slug) { slug metadata { name imageUrl } floor { amount currency decimals fetchedAt }
		volumes { window amount sales } rarity { method computedAt } }
	tokens(collection: $slug, first: 50) { edges { node { tokenId name imageUrl
		rarity { rank score } traits { type value frequency } } } pageInfo { hasNextPage endCursor } } }`

// BenchmarkTypicalQuery measures p50/p99 latency and throughput of the
// typical client query over real HTTP at 1, 16 and 64 concurrent clients, on
// a database of 50 collections and 200k tokens (4,000 per collection, six
// traits each, all ranked):
//
//	.ci/with-postgres.sh go test -run '^$' -bench BenchmarkTypicalQuery -benchtime 2000x ./internal/api
func BenchmarkTypicalQuery(b *testing.B) {
	bundle := setup(b, setupOpts{opts: api.Options{RequestTimeout: time.Minute, WriteTimeout: 2 * time.Minute}})
	const collections, perCollection = 50, 4000
	start := time.Now()
	for c := 0; c < collections; c++ {
		toks := make([]seedToken, perCollection)
		for i := range toks {
			toks[i] = seedToken{id: fmt.Sprint(i + 1), rank: int32(i + 1), score: float64(perCollection - i),
				traits: [][2]string{{"Background", fmt.Sprint("bg", i%7)}, {"Body", fmt.Sprint("body", i%11)}, {"Eyes", fmt.Sprint("eyes", i%13)},
					{"Hat", fmt.Sprint("hat", i%17)}, {"Mouth", fmt.Sprint("mouth", i%19)}, {"Clothes", fmt.Sprint("clothes", i%23)}}}
		}
		bundle.seedCollection(b, fmt.Sprintf("bench-%02d", c), "1.25", fmt.Sprint(100+c), toks)
	}
	b.Logf("seeded %d collections x %d tokens in %s", collections, perCollection, time.Since(start).Round(time.Second))
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 128}}
	for _, clients := range []int{1, 16, 64} {
		b.Run(fmt.Sprintf("clients=%d", clients), func(b *testing.B) {
			lat := make([]time.Duration, b.N)
			var next int64
			var mu sync.Mutex
			var wg sync.WaitGroup
			b.ResetTimer()
			t0 := time.Now()
			for w := 0; w < clients; w++ {
				wg.Add(1)
				go func(w int) {
					defer wg.Done()
					for {
						mu.Lock()
						i := next
						next++
						mu.Unlock()
						if i >= int64(b.N) {
							return
						}
						body, _ := json.Marshal(map[string]any{"query": typicalQuery, "variables": map[string]any{"slug": fmt.Sprintf("bench-%02d", i%collections)}})
						s := time.Now()
						resp, err := client.Post(bundle.url+"/graphql", "application/json", bytes.NewReader(body))
						if err != nil {
							b.Error(err)
							return
						}
						raw, _ := io.ReadAll(resp.Body)
						resp.Body.Close()
						lat[i] = time.Since(s)
						if resp.StatusCode != http.StatusOK || bytes.Contains(raw, []byte(`"errors"`)) {
							b.Errorf("status %d: %.300s", resp.StatusCode, raw)
							return
						}
					}
				}(w)
			}
			wg.Wait()
			elapsed := time.Since(t0)
			b.StopTimer()
			slices.Sort(lat)
			p := func(q float64) float64 { return float64(lat[int(q*float64(len(lat)-1))].Microseconds()) / 1000 }
			b.ReportMetric(p(0.50), "p50_ms")
			b.ReportMetric(p(0.99), "p99_ms")
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "req/s")
		})
	}
}
