package ratelimit_test

import (
	"context"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nftsync/nftsync/internal/ratelimit"
)

// The tests in this file saturate shared buckets from several pools (each a
// stand-in for a replica) with many goroutines for a few seconds, and check
// the limits on the grant times the database recorded.

func shortCall() time.Duration { return time.Duration(rand.Int64N(int64(3 * time.Millisecond))) }

func TestContentionRateWindow(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, tc := range []struct {
		name      string
		rate      float64
		burst     int
		maxWindow int
		// minShare is a loose floor on the achieved share of the rate: the
		// properties are the window limits; throughput is BenchmarkAcquire's
		// and BenchmarkReplicas' to measure. Measured 85-95% on a loaded
		// 2-core machine; half of the rate never flakes yet catches a
		// limiter that stalls.
		minShare float64
	}{
		// Any 1 s window: at most burst + rate (the bucket starts full).
		{"Burst5", 20, 5, 25, 0.5},
		// With burst 1, any half-open 1 s window holds at most rate grants.
		{"Burst1", 10, 1, 10, 0.5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			pools := replicas(t, 3, 8)
			lims := limiters(t, pools, ratelimit.Options{})
			require.NoError(t, lims[0].Ensure(ctx, []ratelimit.BucketConfig{{Key: "os", Source: "os", Rate: tc.rate, Burst: tc.burst}}))

			const d = 4 * time.Second
			gs := load{req: ratelimit.Request{Source: "os"}, workers: 6, d: d, hold: shortCall}.run(t, lims)

			mw := maxInWindow(gs, time.Second)
			rate := achievedRate(gs, tc.burst)
			t.Logf("%s: %d grants in %s, max per 1 s window %d (limit %d), achieved %.2f/s of %.0f/s (%.1f%%)",
				tc.name, len(gs), d, mw, tc.maxWindow, rate, tc.rate, 100*rate/tc.rate)
			require.LessOrEqual(t, mw, tc.maxWindow)
			require.GreaterOrEqual(t, rate, tc.minShare*tc.rate, "saturated acquirers reach %.0f%% of the rate", 100*tc.minShare)
			span := gs[len(gs)-1].at.Sub(gs[0].at).Seconds()
			require.LessOrEqual(t, float64(len(gs)), float64(tc.burst)+tc.rate*span+1)
			st := bucket(t, lims[0], "os")
			require.Zero(t, st.InFlight)
			require.Zero(t, st.Expired)
		})
	}
}

func TestContentionInFlight(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pools := replicas(t, 3, 7)
	lims := limiters(t, pools, ratelimit.Options{SlotPoll: 5 * time.Millisecond})
	const maxInFlight = 3
	require.NoError(t, lims[0].Ensure(ctx, []ratelimit.BucketConfig{{Key: "os", Source: "os", Rate: 10000, Burst: 10000, MaxInFlight: maxInFlight}}))

	var (
		mu        sync.Mutex
		cur, peak int
	)
	gs := load{
		req: ratelimit.Request{Source: "os"}, workers: 5, d: 2 * time.Second,
		hold: func() time.Duration {
			return 2*time.Millisecond + time.Duration(rand.Int64N(int64(6*time.Millisecond)))
		},
		onGrant: func(*ratelimit.Lease) {
			mu.Lock()
			defer mu.Unlock()
			cur++
			peak = max(peak, cur)
		},
		onRelease: func(*ratelimit.Lease) {
			mu.Lock()
			defer mu.Unlock()
			cur--
		},
	}.run(t, lims)
	t.Logf("in flight: %d grants, peak %d of %d", len(gs), peak, maxInFlight)
	require.LessOrEqual(t, peak, maxInFlight)
	// The cap, not a lock, limits: several calls are in flight at once
	// (all three on a quiet machine; a loaded one has peaked at two).
	require.GreaterOrEqual(t, peak, 2, "more than one call in flight under load")
	// Enough grants that slots were reused many times; not a throughput
	// floor (a quiet machine grants ~600, a loaded one has given 183).
	require.Greater(t, len(gs), 30)
	st := bucket(t, lims[0], "os")
	require.Zero(t, st.InFlight)
	require.Zero(t, st.Expired, "every lease was released")
	require.Equal(t, maxInFlight, st.Slots)
}

func TestContentionPauseBlocksEveryone(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pools := replicas(t, 4, 6)
	lims := limiters(t, pools[:3], ratelimit.Options{})
	const rate = 40.0
	require.NoError(t, lims[0].Ensure(ctx, []ratelimit.BucketConfig{{Key: "os", Source: "os", Rate: rate, Burst: 4}}))

	pauser := newLimiter(t, pools[3], ratelimit.Options{})
	type paused struct {
		until time.Time
		err   error
	}
	pausedCh := make(chan paused, 1)
	timer := time.AfterFunc(time.Second, func() {
		until, err := pauser.PauseFor(ctx, "os", time.Second)
		pausedCh <- paused{until, err}
	})
	defer timer.Stop()
	gs := load{req: ratelimit.Request{Source: "os"}, workers: 4, d: 3500 * time.Millisecond, hold: shortCall}.run(t, lims)
	p := <-pausedCh
	require.NoError(t, p.err)
	until := p.until
	require.False(t, until.IsZero())

	from := until.Add(-time.Second)
	var during, after, before int
	for _, g := range gs {
		switch {
		case g.at.Before(from.Add(-time.Second)):
		case g.at.Before(from):
			before++
		case g.at.Before(from.Add(250 * time.Millisecond)):
			// The pause's time is its transaction's start; it takes effect
			// when it gets the bucket's row lock, after the grants queued
			// before it (20 ms on a quiet machine, more on a busy one).
		case g.at.Before(until):
			during++
		case g.at.Before(until.Add(time.Second)):
			after++
		}
	}
	t.Logf("pause: %d grants in the second before, %d during, %d in the second after", before, during, after)
	require.Zero(t, during, "nobody is served while paused")
	// Loose floors (wall-clock throughput on a shared machine); the
	// properties are "none during" and "no burst after".
	require.GreaterOrEqual(t, float64(before), 0.5*rate)
	require.GreaterOrEqual(t, float64(after), 0.5*rate, "the budget resumes")
	require.LessOrEqual(t, float64(after), rate, "and restarts empty, without a burst")
}

func TestContentionBulkLeavesReserve(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pools := replicas(t, 4, 6)
	lims := limiters(t, pools[:3], ratelimit.Options{})
	const rate, burst, reserve = 20.0, 10, 0.3
	require.NoError(t, lims[0].Ensure(ctx, []ratelimit.BucketConfig{{Key: "os", Source: "os", Rate: rate, Burst: burst, BulkReserve: reserve}}))

	// While bulk saturates, live requests (one every 200 ms, never
	// waiting) always find the reserve. They start once bulk has drained
	// the bucket down to it, and bulk goes on until the last one is done.
	const liveRequests = 10
	live := newLimiter(t, pools[3], ratelimit.Options{MaxWait: -1})
	var (
		liveGrants  []grant
		liveRefused []error
	)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		defer close(stop)
		giveUp := time.Now().Add(time.Minute)
		for {
			bs, err := live.Buckets(ctx, "os")
			if err != nil || len(bs) != 1 {
				t.Errorf("buckets: %v %v", bs, err)
				return
			}
			if bs[0].Tokens < 1+reserve*burst {
				break // bulk cannot take more than this
			}
			if time.Now().After(giveUp) {
				t.Error("bulk never drained the bucket down to the reserve")
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
		for range liveRequests {
			time.Sleep(200 * time.Millisecond)
			l, err := live.Acquire(ctx, ratelimit.Request{Source: "os", Class: ratelimit.ClassLive})
			if err != nil {
				liveRefused = append(liveRefused, err)
				continue
			}
			liveGrants = append(liveGrants, grant{at: l.GrantedAt, key: l.Key})
			_ = l.Release(ctx)
		}
	})
	gs := load{req: ratelimit.Request{Source: "os", Class: ratelimit.ClassBulk}, workers: 4, d: 2 * time.Minute, stop: stop, hold: shortCall}.run(t, lims)
	wg.Wait()

	bulkRate := achievedRate(gs, burst)
	t.Logf("bulk reserve: bulk %d grants (%.1f/s), live %d served at once, %d refused", len(gs), bulkRate, len(liveGrants), len(liveRefused))
	require.Empty(t, liveRefused, "live requests always find the reserve")
	require.Len(t, liveGrants, liveRequests, "every live request was served")
	// A loose floor (wall-clock throughput on a shared machine): bulk is
	// served on, not starved, with the rest of the rate (about 17/s of the
	// 18 left on a quiet machine).
	require.GreaterOrEqual(t, bulkRate, 0.25*(rate-5), "bulk still gets a share of the rest of the rate")
	all := append(slices.Clone(gs), liveGrants...)
	slices.SortFunc(all, func(a, b grant) int { return a.at.Compare(b.at) })
	require.LessOrEqual(t, maxInWindow(all, time.Second), burst+int(rate), "bulk and live together stay within the limit")
}

func TestContentionTwoKeysDoubleThroughput(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pools := replicas(t, 3, 8)
	lims := limiters(t, pools, ratelimit.Options{})
	const rate, burst = 10.0, 2
	a, b := ratelimit.KeyFor("os", "key-a"), ratelimit.KeyFor("os", "key-b")
	require.NoError(t, lims[0].Ensure(ctx, []ratelimit.BucketConfig{
		{Key: a, Source: "os", Rate: rate, Burst: burst},
		{Key: b, Source: "os", Rate: rate, Burst: burst},
	}))
	gs := load{req: ratelimit.Request{Source: "os"}, workers: 6, d: 3 * time.Second, hold: shortCall}.run(t, lims)

	total := achievedRate(gs, 2*burst)
	ga, gb := filterKey(gs, a), filterKey(gs, b)
	t.Logf("two keys: %d grants, %.1f/s of %.0f/s; key a %d (max/1s %d), key b %d (max/1s %d)",
		len(gs), total, 2*rate, len(ga), maxInWindow(ga, time.Second), len(gb), maxInWindow(gb, time.Second))
	// Two keys serve more than one key ever could (loose: wall-clock).
	require.Greater(t, total, 1.2*rate)
	require.LessOrEqual(t, maxInWindow(ga, time.Second), burst+int(rate))
	require.LessOrEqual(t, maxInWindow(gb, time.Second), burst+int(rate))
	require.InDelta(t, len(ga), len(gb), 3)
}

func TestContentionPriorityGoesFirst(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pools := replicas(t, 3, 6)
	lims := limiters(t, pools[:2], ratelimit.Options{})
	const rate = 5.0
	require.NoError(t, lims[0].Ensure(ctx, []ratelimit.BucketConfig{{Key: "os", Source: "os", Rate: rate, Burst: 1}}))

	prio := newLimiter(t, pools[2], ratelimit.Options{})
	var waits []time.Duration
	var wg sync.WaitGroup
	wg.Go(func() {
		for range 3 {
			time.Sleep(800 * time.Millisecond)
			l, err := prio.Acquire(ctx, ratelimit.Request{Source: "os", Class: ratelimit.ClassPriority})
			if err != nil {
				t.Error(err)
				return
			}
			waits = append(waits, l.Waited)
			_ = l.Release(ctx)
		}
	})
	gs := load{req: ratelimit.Request{Source: "os"}, workers: 4, d: 3 * time.Second, hold: shortCall}.run(t, lims)
	wg.Wait()
	t.Logf("priority waits %v among %d saturating live acquirers; live grants %d, max/1s %d", waits, 8, len(gs), maxInWindow(gs, time.Second))
	require.Len(t, waits, 3)
	for _, w := range waits {
		// A live request queued behind 8 saturating acquirers waits about
		// 8/rate = 1.6 s; priority is served with one of the next tokens.
		// The slack absorbs scheduling delay on a busy machine.
		require.LessOrEqual(t, w, time.Duration(float64(time.Second)/rate)+500*time.Millisecond, "served with the next token")
	}
	require.LessOrEqual(t, maxInWindow(gs, time.Second), int(rate))
}
