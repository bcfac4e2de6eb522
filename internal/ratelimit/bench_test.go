package ratelimit_test

import (
	"context"
	"math/rand/v2"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nftsync/nftsync/internal/ratelimit"
)

// BenchmarkAcquire measures one Acquire plus Release against the real
// database, on buckets that never run dry (so no sleeping is measured) with
// an in-flight cap of 16 (so slots are taken and freed), and reports the
// pair's latency percentiles in microseconds and the pairs per second:
//   - Single: one goroutine, back to back.
//   - Contended-3x4: 12 goroutines on 3 pools (replicas) sharing one
//     bucket, each pausing ~60 ms (exponential) between pairs: about 200
//     pairs/s, well above the budgets the limiter guards (OpenSea: a few
//     requests/s per key), all queueing on the same row.
//   - OwnBuckets-12x1: the same load and pacing, but every goroutine has its
//     own pool and bucket, so nothing contends for a row. The difference to
//     Contended is the cost of contention; what both share is this machine's
//     scheduling noise (waking idle processes).
//   - Saturated-3x4: Contended's goroutines back to back. Latency is then
//     mostly queueing for the row lock; pairs/s is one bucket's capacity.
func BenchmarkAcquire(b *testing.B) {
	for _, bc := range []struct {
		name              string
		replicas, workers int
		pace              time.Duration // mean pause between one goroutine's pairs
		ownBucket         bool          // a bucket per replica instead of one shared
	}{
		{"Single", 1, 1, 0, false},
		{"Contended-3x4", 3, 4, 60 * time.Millisecond, false},
		{"OwnBuckets-12x1", 12, 1, 60 * time.Millisecond, true},
		{"Saturated-3x4", 3, 4, 0, false},
	} {
		b.Run(bc.name, func(b *testing.B) {
			ctx := context.Background()
			pools := replicas(b, bc.replicas, bc.workers+1)
			lims := limiters(b, pools, ratelimit.Options{})
			reqs := make([]ratelimit.Request, len(lims))
			for i, lim := range lims {
				key := "os"
				if bc.ownBucket {
					key = "os-" + strconv.Itoa(i)
				}
				require.NoError(b, lim.Ensure(ctx, []ratelimit.BucketConfig{{Key: key, Source: key, Rate: 1e9, Burst: 1e9, MaxInFlight: 16}}))
				reqs[i] = ratelimit.Request{Source: key, Keys: []string{key}}
				for range 10 { // warm the connections and statement caches
					l, err := lim.Acquire(ctx, reqs[i])
					require.NoError(b, err)
					require.NoError(b, l.Release(ctx))
				}
			}

			var (
				next atomic.Int64
				mu   sync.Mutex
				all  = make([]time.Duration, 0, b.N)
				wg   sync.WaitGroup
			)
			b.ResetTimer()
			for i, lim := range lims {
				for range bc.workers {
					wg.Go(func() {
						lat := make([]time.Duration, 0, b.N/(bc.replicas*bc.workers)+1)
						for next.Add(1) <= int64(b.N) {
							if bc.pace > 0 {
								time.Sleep(time.Duration(rand.ExpFloat64() * float64(bc.pace)))
							}
							start := time.Now()
							l, err := lim.Acquire(ctx, reqs[i])
							if err != nil {
								b.Error(err)
								return
							}
							if err := l.Release(ctx); err != nil {
								b.Error(err)
								return
							}
							lat = append(lat, time.Since(start))
						}
						mu.Lock()
						all = append(all, lat...)
						mu.Unlock()
					})
				}
			}
			wg.Wait()
			b.StopTimer()
			if len(all) == 0 {
				return
			}
			slices.Sort(all)
			pct := func(p float64) float64 {
				return float64(all[min(len(all)-1, int(p*float64(len(all))))].Nanoseconds()) / 1e3
			}
			b.ReportMetric(pct(0.50), "p50-µs")
			b.ReportMetric(pct(0.99), "p99-µs")
			b.ReportMetric(float64(len(all))/b.Elapsed().Seconds(), "pairs/s")
		})
	}
}
