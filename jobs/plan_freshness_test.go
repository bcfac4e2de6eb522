package jobs_test

import (
	"context"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/nftsync/nftsync/db"
	"github.com/nftsync/nftsync/jobs"
)

// trackFloorOnly tracks n collections whose only schedule is the floor
// price every minute (target 60 s), due now; collection i has a 1-day volume
// of volumes(i) ETH (none when negative).
func trackFloorOnly(t *testing.T, tx pgx.Tx, prefix string, n int, volumes func(i int) int64) []int64 {
	t.Helper()
	ctx := context.Background()
	q := db.New(tx)
	ids := make([]int64, n)
	for i := range n {
		c, err := q.CollectionUpsert(ctx, db.CollectionUpsertParams{Source: "opensea", Slug: fmt.Sprintf("%s-%02d", prefix, i), Chain: "ethereum", Priority: 2})
		require.NoError(t, err)
		require.NoError(t, q.ScheduleEnsure(ctx, db.ScheduleEnsureParams{CollectionID: c.ID, Kind: jobs.RefreshFloorPrice, EverySeconds: 60}))
		if v := volumes(i); v >= 0 {
			setVolume1d(t, q, c.ID, v, time.Now())
		}
		ids[i] = c.ID
	}
	return ids
}

// TestPlanFreshness runs the real planner on simulated minutes with an
// upstream budget for half the due work.
func TestPlanFreshness(t *testing.T) {
	t.Parallel()

	type testBundle struct {
		tx  pgx.Tx
		sim *planSim
	}
	// One tick is one target (60 s); budget pairs per tick for opensea.
	setup := func(t *testing.T, budget int) *testBundle {
		t.Helper()
		tx := sharedTx(t)
		return &testBundle{tx: tx, sim: &planSim{
			db: tx, client: insertOnlyClient(t), now: time.Now().Add(time.Second),
			opts: jobs.PlanOptions{Batch: 1000, Interval: time.Minute, Rates: map[string]float64{"opensea": float64(budget) / 60}},
		}}
	}

	t.Run("HottestFirstColdestWithinBound", func(t *testing.T) {
		t.Parallel()
		const n, budget, ticks = 20, 10, 60
		b := setup(t, budget)
		// Collection 0 is the hottest (1,000,000 ETH a day), 19 the coldest
		// (no volume at all).
		ids := trackFloorOnly(t, b.tx, "fresh", n, func(i int) int64 {
			if i == n-1 {
				return -1
			}
			return int64(math.Pow(10, float64(6*(n-2-i))/float64(n-2)))
		})
		index := map[int64]int{}
		for i, id := range ids {
			index[id] = i
		}

		lastServed := make([]int, n) // tick of the last service; -1 before the first
		for i := range lastServed {
			lastServed[i] = -1
		}
		maxWait := make([]int, n) // most ticks between services (or from the start)
		ageSum := make([]int, n)  // sum over ticks of the age in ticks at planning time
		for tick := range ticks {
			for i := range n {
				ageSum[i] += tick - lastServed[i]
			}
			got := b.sim.tick(t)
			require.Len(t, got, budget, "tick %d: the budget is spent, and never exceeded", tick)
			servedNow := map[int]bool{}
			for _, s := range got {
				servedNow[index[s.CollectionID]] = true
			}
			if tick == 0 {
				// All equally stale (never refreshed): the hottest half goes first.
				for i := range budget {
					require.True(t, servedNow[i], "tick 0 serves the %d hottest, not %v", budget, servedNow)
				}
			}
			for i := range n {
				if servedNow[i] {
					maxWait[i] = max(maxWait[i], tick-lastServed[i])
					lastServed[i] = tick
				}
			}
			b.sim.now = b.sim.now.Add(time.Minute)
		}
		for i := range n {
			maxWait[i] = max(maxWait[i], ticks-lastServed[i]) // still waiting at the end
		}
		bound := jobs.StarvationBoundTicks(n, budget)
		t.Logf("bound %d ticks; max wait per collection (hottest first): %v", bound, maxWait)
		for i := range n {
			require.LessOrEqual(t, maxWait[i], bound, "collection %d waited longer than the bound", i)
			require.Positive(t, lastServed[i], "collection %d was never served", i)
		}
		// Hot collections stay fresher than cold ones: the two hottest are
		// served every tick, the coldest only every few ticks.
		require.Equal(t, []int{1, 1}, maxWait[:2], "the hottest are refreshed every tick")
		hot, cold := 0, 0
		for i := range 5 {
			hot += ageSum[i]
			cold += ageSum[n-1-i]
		}
		require.Less(t, hot*2, cold, "mean age of the 5 hottest is well under the 5 coldest's")
		require.Greater(t, maxWait[n-1], 1, "the coldest collection degrades, it is not served every tick")
	})

	t.Run("StalestFirstAmongEquals", func(t *testing.T) {
		t.Parallel()
		b := setup(t, 3)
		ctx := context.Background()
		ids := trackFloorOnly(t, b.tx, "stale", 8, func(int) int64 { return 10 })
		q := db.New(b.tx)
		// Collection i was last refreshed i+1 minutes ago: all are due, the
		// three oldest (7, 6, 5) go first.
		for i, id := range ids {
			require.NoError(t, q.ScheduleMarkSuccess(ctx, db.ScheduleMarkSuccessParams{At: b.sim.now.Add(-time.Duration(i+1) * time.Minute), CollectionID: id, Kind: jobs.RefreshFloorPrice}))
		}
		got := b.sim.tick(t)
		require.ElementsMatch(t, []served{{ids[7], jobs.RefreshFloorPrice}, {ids[6], jobs.RefreshFloorPrice}, {ids[5], jobs.RefreshFloorPrice}}, got)
	})

	t.Run("StaleColdBeatsFreshHot", func(t *testing.T) {
		t.Parallel()
		b := setup(t, 1)
		ctx := context.Background()
		ids := trackFloorOnly(t, b.tx, "cold", 2, func(i int) int64 { return []int64{1_000_000, 0}[i] })
		q := db.New(b.tx)
		// The hot one is 2 targets old (score 7 × 2), the cold one 15
		// (score 1 × 15): overdue-ness outgrows any hotness.
		require.NoError(t, q.ScheduleMarkSuccess(ctx, db.ScheduleMarkSuccessParams{At: b.sim.now.Add(-2 * time.Minute), CollectionID: ids[0], Kind: jobs.RefreshFloorPrice}))
		require.NoError(t, q.ScheduleMarkSuccess(ctx, db.ScheduleMarkSuccessParams{At: b.sim.now.Add(-15 * time.Minute), CollectionID: ids[1], Kind: jobs.RefreshFloorPrice}))
		require.Equal(t, []served{{ids[1], jobs.RefreshFloorPrice}}, b.sim.tick(t))
	})

	t.Run("PendingJobsUseTheBudget", func(t *testing.T) {
		t.Parallel()
		b := setup(t, 4)
		ctx := context.Background()
		trackFloorOnly(t, b.tx, "pending", 10, func(int) int64 { return -1 })
		n, err := jobs.PlanTx(ctx, b.tx, b.sim.client, b.sim.now, b.sim.opts)
		require.NoError(t, err)
		require.Equal(t, 4, n, "the budget, not the 10 due pairs")
		// Nobody worked them: the next tick's budget is already spoken for.
		n, err = jobs.PlanTx(ctx, b.tx, b.sim.client, b.sim.now.Add(time.Minute), b.sim.opts)
		require.NoError(t, err)
		require.Zero(t, n)
		require.Len(t, b.sim.serve(t), 4)
		n, err = jobs.PlanTx(ctx, b.tx, b.sim.client, b.sim.now.Add(2*time.Minute), b.sim.opts)
		require.NoError(t, err)
		require.Equal(t, 4, n, "served jobs free the budget again")
	})

	t.Run("PerCollectionTargetOverride", func(t *testing.T) {
		t.Parallel()
		b := setup(t, 1)
		ctx := context.Background()
		ids := trackFloorOnly(t, b.tx, "target", 2, func(int) int64 { return 10 })
		q := db.New(b.tx)
		for _, id := range ids {
			require.NoError(t, q.ScheduleMarkSuccess(ctx, db.ScheduleMarkSuccessParams{At: b.sim.now.Add(-5 * time.Minute), CollectionID: id, Kind: jobs.RefreshFloorPrice}))
		}
		// Same age, but collection 1 wants its floor within 30 s: it is
		// further past its target.
		require.NoError(t, q.ScheduleSetTarget(ctx, db.ScheduleSetTargetParams{CollectionID: ids[1], Kind: jobs.RefreshFloorPrice, TargetSeconds: pgtypeInt4(30)}))
		require.Equal(t, []served{{ids[1], jobs.RefreshFloorPrice}}, b.sim.tick(t))
	})
}
