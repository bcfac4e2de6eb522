package jobs_test

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nftsync/nftsync/db"
	"github.com/nftsync/nftsync/db/dbtest"
	"github.com/nftsync/nftsync/internal/benchsize"
	"github.com/nftsync/nftsync/jobs"
)

// planBenchKinds are the default refresh intervals of a tracked collection.
var planBenchKinds = []struct {
	kind  string
	every time.Duration
}{
	{jobs.RefreshFloorPrice, time.Minute},
	{jobs.RefreshVolume, 5 * time.Minute},
	{jobs.RefreshMetadata, time.Hour},
	{jobs.RefreshTokens, 6 * time.Hour},
}

// BenchmarkPlannerScale runs the real planner over N tracked collections
// (four kinds each, default intervals, one in ten with a 1-day volume) for
// five simulated minutes of 5 s ticks, with workers that serve every planned
// job at once and an upstream budget 5% above the steady demand (the sum of
// 1/interval over all pairs): a budget that should just hold. The schedules
// start in a steady state (each pair last refreshed a uniformly random part
// of its interval ago). It reports tick-ms (mean time of one planning
// transaction, begin to commit; tick-max-ms the slowest), age-p50-s and
// age-p99-s (the floor price's achieved age over every collection, sampled
// after every tick; volume-age-p99-s likewise) and stale-% (floor and volume
// samples past their freshness target).
//
// At 100k collections each tick plans about 10,000 jobs and takes seconds on a
// two-core machine, so that size simulates two minutes (two floor-price
// cycles) instead of five to keep `make bench` within its budget; its volume
// ages then cover under half of the 5-minute volume cycle.
func BenchmarkPlannerScale(b *testing.B) {
	sizes := benchsize.Pick(b, []int{500, 2_000}, []int{10_000, 100_000})
	for _, n := range sizes {
		b.Run(fmt.Sprintf("collections=%s", sizeName(n)), func(b *testing.B) {
			pool := dbtest.DB(b)
			t0 := time.Now().Add(time.Minute).Truncate(time.Second)
			seedPlannerScale(b, pool, n, t0)
			var demand float64
			for _, k := range planBenchKinds {
				demand += float64(n) / k.every.Seconds()
			}
			const interval = 5 * time.Second
			window := 5 * time.Minute
			if n >= 100_000 {
				window = 2 * time.Minute
			}
			ticks := int(window / interval)
			for b.Loop() {
				b.StopTimer()
				sim := &planSim{db: pool, client: insertOnlyClient(b), now: t0, opts: jobs.PlanOptions{
					Batch: 100_000, Interval: interval, Rates: map[string]float64{"opensea": demand * 1.05},
				}}
				var floorAges, volumeAges []float64
				var planned int
				var total, slowest time.Duration
				stale, samples := 0, 0
				b.StartTimer()
				for range ticks {
					got, took := sim.timedTick(b)
					planned += len(got)
					total += took
					slowest = max(slowest, took)
					b.StopTimer()
					for _, k := range planBenchKinds[:2] { // floor and volume: the kinds the budget is tight for
						ages, err := db.New(pool).ScheduleAgesAt(context.Background(), db.ScheduleAgesAtParams{Now: sim.now, Kind: k.kind})
						require.NoError(b, err)
						require.Len(b, ages, n, "every pair keeps its refresh")
						for _, a := range ages {
							if a > targetOf(k.kind).Seconds() {
								stale++
							}
						}
						samples += len(ages)
						switch k.kind {
						case jobs.RefreshFloorPrice:
							floorAges = append(floorAges, ages...)
						case jobs.RefreshVolume:
							volumeAges = append(volumeAges, ages...)
						}
					}
					sim.now = sim.now.Add(interval)
					b.StartTimer()
				}
				b.StopTimer()
				require.Positive(b, planned)
				b.ReportMetric(float64(total.Microseconds())/1000/float64(ticks), "tick-ms")
				b.ReportMetric(float64(slowest.Microseconds())/1000, "tick-max-ms")
				b.ReportMetric(quantile(floorAges, 0.5), "age-p50-s")
				b.ReportMetric(quantile(floorAges, 0.99), "age-p99-s")
				b.ReportMetric(quantile(volumeAges, 0.99), "volume-age-p99-s")
				b.ReportMetric(100*float64(stale)/float64(samples), "stale-%")
				b.ReportMetric(float64(planned)/float64(ticks), "jobs/tick")
				b.StartTimer()
			}
		})
	}
}

// targetOf is the default freshness target of a kind (migration 0051).
func targetOf(kind string) time.Duration {
	switch kind {
	case jobs.RefreshFloorPrice:
		return time.Minute
	case jobs.RefreshVolume:
		return 5 * time.Minute
	}
	return 24 * time.Hour
}

func sizeName(n int) string {
	if n >= 1000 && n%1000 == 0 {
		return fmt.Sprintf("%dk", n/1000)
	}
	return fmt.Sprint(n)
}

// quantile is the q-quantile of xs (nearest rank).
func quantile(xs []float64, q float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[min(len(s)-1, int(math.Ceil(q*float64(len(s))))-1)]
}

// seedPlannerScale tracks n collections with the four kinds in a steady
// state at t0, one in ten with a 1-day volume (log-uniform up to 10^6).
func seedPlannerScale(b *testing.B, pool jobs.DB, n int, t0 time.Time) {
	b.Helper()
	ctx := context.Background()
	q := db.New(pool)
	rng := rand.New(rand.NewPCG(1, uint64(n)))
	var ids []int64
	for start := 0; start < n; start += 10_000 {
		slugs := make([]string, 0, 10_000)
		for i := start; i < min(n, start+10_000); i++ {
			slugs = append(slugs, fmt.Sprintf("scale-%06d", i))
		}
		got, err := q.CollectionInsertMany(ctx, db.CollectionInsertManyParams{Source: "opensea", Chain: "ethereum", Priority: 2, Slugs: slugs})
		require.NoError(b, err)
		ids = append(ids, got...)
	}
	kinds := make([]string, 0, len(planBenchKinds))
	every := make([]int32, 0, len(planBenchKinds))
	for _, k := range planBenchKinds {
		kinds = append(kinds, k.kind)
		every = append(every, int32(k.every/time.Second))
	}
	require.NoError(b, q.ScheduleEnsureMany(ctx, db.ScheduleEnsureManyParams{CollectionIds: ids, Kinds: kinds, EverySeconds: every}))
	for start := 0; start < len(ids); start += 10_000 {
		chunk := ids[start:min(len(ids), start+10_000)]
		var p db.ScheduleRestoreManyParams
		for _, id := range chunk {
			for _, k := range planBenchKinds {
				last := t0.Add(-time.Duration(rng.Float64() * float64(k.every)))
				p.CollectionIds = append(p.CollectionIds, id)
				p.Kinds = append(p.Kinds, k.kind)
				p.LastSuccessAts = append(p.LastSuccessAts, last)
				p.NextDueAts = append(p.NextDueAts, last.Add(k.every))
			}
		}
		require.NoError(b, q.ScheduleRestoreMany(ctx, p))
	}
	hot := make(chan int64)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for id := range hot {
				setVolume1d(b, q, id, int64(math.Pow(10, 6*float64(id%97)/96)), t0.Add(-time.Hour))
			}
		})
	}
	for i, id := range ids {
		if i%10 == 0 {
			hot <- id
		}
	}
	close(hot)
	wg.Wait()
	_, err := pool.Exec(ctx, "VACUUM ANALYZE")
	require.NoError(b, err)
}
