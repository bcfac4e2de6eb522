package ratelimit_test

import (
	"bytes"
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nftsync/nftsync/internal/ratelimit"
)

// adaptive is an adaptive bucket of source "os" without caps.
func adaptive(key string) ratelimit.BucketConfig {
	return ratelimit.BucketConfig{Key: key, Source: "os", Adaptive: true, MaxInFlight: 4, BulkReserve: ratelimit.DefaultBulkReserve}
}

// answer is a successful response reporting limit per window, remaining,
// with the window ending in toReset.
func answer(limit, remaining int64, toReset time.Duration) ratelimit.ResponseInfo {
	return ratelimit.ResponseInfo{Status: 200, Limit: limit, Remaining: remaining, Reset: time.Now().Add(toReset)}
}

// TestAdoptHeaderBudget: each key's bucket takes the budget its own answers
// report, and every replica sees it at once; a replica that (re)starts with
// the same configuration keeps it.
func TestAdoptHeaderBudget(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	lims := limiters(t, replicas(t, 2, 4), ratelimit.Options{})
	require.NoError(t, lims[0].Ensure(ctx, []ratelimit.BucketConfig{adaptive("os/a"), adaptive("os/b")}))

	lims[0].Observe("os/a", answer(60, 59, time.Minute))
	a := bucket(t, lims[1], "os/a")
	require.True(t, a.Adaptive)
	require.Equal(t, ratelimit.Budget{Limit: 60, Window: time.Minute, At: a.Reported.At}, a.Reported)
	require.Equal(t, 2.0, a.Burst)
	require.InDelta(t, 58.0/60, a.Rate, 1e-9, "burst + rate × window = the limit")
	b := bucket(t, lims[1], "os/b")
	require.True(t, b.Reported.IsZero(), "the other key reported nothing yet")
	require.Equal(t, ratelimit.StartRate, b.Rate)

	lims[1].Observe("os/b", answer(600, 599, time.Hour))
	b = bucket(t, lims[0], "os/b")
	require.Equal(t, "600/1h0m0s", b.Reported.String())
	require.InDelta(t, 598.0/3600, b.Rate, 1e-9)
	require.InDelta(t, 58.0/60, bucket(t, lims[0], "os/a").Rate, 1e-9, "per key")

	// An answer in the middle of a window sees only its rest: the window
	// stays the longest seen for the limit.
	lims[1].Observe("os/a", answer(60, 20, 20*time.Second))
	require.Equal(t, time.Minute, bucket(t, lims[0], "os/a").Reported.Window)

	// A replica starting with the same configuration keeps the budget.
	require.NoError(t, lims[1].Ensure(ctx, []ratelimit.BucketConfig{adaptive("os/a"), adaptive("os/b")}))
	require.InDelta(t, 58.0/60, bucket(t, lims[0], "os/a").Rate, 1e-9)

	// A changed limit is adopted with its own window.
	lims[0].Observe("os/a", answer(120, 119, time.Minute))
	a = bucket(t, lims[1], "os/a")
	require.Equal(t, "120/1m0s", a.Reported.String())
	require.InDelta(t, 116.0/60, a.Rate, 1e-9) // burst 4: 2 s of the rate
	require.Equal(t, 4.0, a.Burst)
}

// TestAdaptiveStartsConservatively: before its key's first answer an
// adaptive bucket grants one request per second, no burst.
func TestAdaptiveStartsConservatively(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	lim := newLimiter(t, replicas(t, 1, 4)[0], ratelimit.Options{MaxWait: -1})
	require.NoError(t, lim.Ensure(ctx, []ratelimit.BucketConfig{adaptive("os/k")}))
	st := bucket(t, lim, "os/k")
	require.Equal(t, 1.0, st.Rate)
	require.Equal(t, 1.0, st.Burst)

	req := ratelimit.Request{Source: "os", Class: ratelimit.ClassLive}
	l, err := lim.Acquire(ctx, req)
	require.NoError(t, err)
	require.NoError(t, l.Release(ctx))
	_, err = lim.Acquire(ctx, req)
	sinceGrant := time.Since(l.GrantedAt)
	var we *ratelimit.WaitError
	require.ErrorAs(t, err, &we, "a second request at once exceeds 1/s")
	// The next token a second after the grant (the refill since measured
	// loosely, so that a loaded machine does not fail it).
	require.LessOrEqual(t, we.RetryAfter, time.Second+50*time.Millisecond)
	require.GreaterOrEqual(t, we.RetryAfter, time.Second-sinceGrant-50*time.Millisecond)
}

// TestAdaptiveCappedByExplicitRate: a configured rate and burst cap what the
// headers allow, and are the start; a budget below them is adopted.
func TestAdaptiveCappedByExplicitRate(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	lim := newLimiter(t, replicas(t, 1, 4)[0], ratelimit.Options{})
	cfg := adaptive("os/k")
	cfg.Rate, cfg.Burst = 0.5, 3
	require.NoError(t, lim.Ensure(ctx, []ratelimit.BucketConfig{cfg}))
	st := bucket(t, lim, "os/k")
	require.Equal(t, 0.5, st.Rate, "starts at the cap the operator gave")
	require.Equal(t, 3.0, st.Burst)
	require.Equal(t, 0.5, st.RateCap)

	lim.Observe("os/k", answer(12000, 11999, time.Minute)) // 200/s reported
	st = bucket(t, lim, "os/k")
	require.Equal(t, int64(12000), st.Reported.Limit)
	require.Equal(t, 0.5, st.Rate, "the cap holds")
	require.Equal(t, 3.0, st.Burst)

	lim.Observe("os/k", answer(6, 5, time.Minute)) // below the cap
	st = bucket(t, lim, "os/k")
	require.InDelta(t, 4.0/60, st.Rate, 1e-9)
	require.Equal(t, 2.0, st.Burst)

	// Raising the cap keeps the adopted budget; lowering it applies at once.
	cfg.Rate = 0.01
	require.NoError(t, lim.Ensure(ctx, []ratelimit.BucketConfig{cfg}))
	require.Equal(t, 0.01, bucket(t, lim, "os/k").Rate)
	cfg.Rate = 0
	require.NoError(t, lim.Ensure(ctx, []ratelimit.BucketConfig{cfg}))
	require.InDelta(t, 4.0/60, bucket(t, lim, "os/k").Rate, 1e-9)
}

// TestAdaptivePacing: the adopted pacing never lets more than the limit
// through in any stretch of the window's length, spreads requests instead of
// spending the window at its start, and uses at least 90% of the budget.
// The formula for the documented tiers and more; then real grants.
func TestAdaptivePacing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pools := replicas(t, 2, 8)
	lims := limiters(t, pools, ratelimit.Options{MaxWait: 5 * time.Second})

	for i, tc := range []struct {
		limit  int64
		window time.Duration
	}{{60, time.Minute}, {600, time.Hour}, {60, 10 * time.Second}, {12000, time.Minute}, {5, time.Minute}, {2, 10 * time.Second}, {1, time.Minute}} {
		key := "os/f" + string(rune('a'+i))
		require.NoError(t, lims[0].Ensure(ctx, []ratelimit.BucketConfig{adaptive(key)}))
		lims[0].Observe(key, answer(tc.limit, tc.limit-1, tc.window))
		st := bucket(t, lims[0], key)
		w := tc.window.Seconds()
		if tc.limit > 1 {
			require.LessOrEqual(t, st.Burst+st.Rate*w, float64(tc.limit)+1e-9, "%d/%s: burst %v rate %v", tc.limit, tc.window, st.Burst, st.Rate)
		}
		require.LessOrEqual(t, st.Burst, max(2, 0.05*float64(tc.limit)), "%d/%s: a small burst, not the window's budget", tc.limit, tc.window)
		if tc.limit >= 20 {
			require.GreaterOrEqual(t, st.Rate*w, 0.9*float64(tc.limit), "%d/%s: rate %v uses the budget", tc.limit, tc.window, st.Rate)
		}
	}

	// Real grants from two replicas on a key of 12 per 3 s (paced at
	// 10/3 per s, burst 2), everything the load can take for 5 s.
	require.NoError(t, lims[0].Ensure(ctx, []ratelimit.BucketConfig{adaptive("os/g")}))
	lims[1].Observe("os/g", answer(12, 11, 3*time.Second))
	st := bucket(t, lims[0], "os/g")
	require.Equal(t, 2.0, st.Burst)
	require.InDelta(t, 10.0/3, st.Rate, 1e-9)
	grants := load{req: ratelimit.Request{Source: "os", Keys: []string{"os/g"}}, workers: 3, d: 5 * time.Second}.run(t, lims)
	require.GreaterOrEqual(t, len(grants), 15, "the budget is used")
	for i := range grants {
		for j := i; j < len(grants); j++ {
			span := grants[j].at.Sub(grants[i].at)
			n := float64(j - i + 1)
			// Spacing: no more than burst + rate × span in any stretch
			// (the level carried at start never exceeds the burst; a
			// millisecond of slack for the clock's resolution).
			require.LessOrEqual(t, n, st.Burst+st.Rate*(span.Seconds()+0.001), "grants %d..%d within %s", i, j, span)
			if span < 3*time.Second {
				require.LessOrEqual(t, n, 12.0, "more than the key's 12 within one window")
			}
		}
	}
}

// TestObserve429PausesUntilReset: a 429 without Retry-After pauses the key
// until the reset its headers give, for every replica, and the adopted
// budget stays.
func TestObserve429PausesUntilReset(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	lims := limiters(t, replicas(t, 2, 4), ratelimit.Options{MaxWait: -1})
	require.NoError(t, lims[0].Ensure(ctx, []ratelimit.BucketConfig{adaptive("os/k")}))
	lims[0].Observe("os/k", answer(60, 30, time.Minute))

	info := ratelimit.ResponseInfo{Status: 429, Limit: 60, Remaining: -1, Reset: time.Now().Add(30 * time.Second)}
	lims[0].Observe("os/k", info)
	st := bucket(t, lims[1], "os/k")
	require.WithinDuration(t, info.Reset, st.PausedUntil, 2*time.Second)
	require.InDelta(t, 58.0/60, st.Rate, 1e-9)
	_, err := lims[1].Acquire(ctx, ratelimit.Request{Source: "os"})
	var we *ratelimit.WaitError
	require.ErrorAs(t, err, &we)
	require.Equal(t, "paused", we.Reason)
	require.Greater(t, we.RetryAfter, 25*time.Second)
}

// TestObserveIgnoresMalformedHeaders: headers the client could not parse,
// and headers that contradict each other, change nothing and are logged
// with what was wrong, at most once a minute per key.
func TestObserveIgnoresMalformedHeaders(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	var buf syncBuffer
	lim := newLimiter(t, replicas(t, 1, 4)[0], ratelimit.Options{Logger: slog.New(slog.NewTextHandler(&buf, nil))})
	require.NoError(t, lim.Ensure(ctx, []ratelimit.BucketConfig{adaptive("os/k"), adaptive("os/j")}))

	lim.Observe("os/k", ratelimit.ResponseInfo{Status: 200, Limit: -1, Remaining: 59, Reset: time.Now().Add(time.Minute),
		Malformed: []string{`X-RateLimit-Limit: "sixty"`}})
	lim.Observe("os/k", answer(0, 5, time.Minute)) // within the minute: not logged again
	lim.Observe("os/j", answer(60, 61, time.Minute))
	lim.Observe("os/j", answer(60, 59, 48*time.Hour))
	for _, key := range []string{"os/k", "os/j"} {
		st := bucket(t, lim, key)
		require.True(t, st.Reported.IsZero(), key)
		require.Equal(t, ratelimit.StartRate, st.Rate, key)
		require.True(t, st.PausedUntil.IsZero(), key)
	}
	logs := buf.String()
	require.Contains(t, logs, `X-RateLimit-Limit: \"sixty\"`)
	require.Contains(t, logs, "bucket=os/k")
	require.Contains(t, logs, "X-RateLimit-Remaining exceeds X-RateLimit-Limit")
	require.Equal(t, 2, bytes.Count([]byte(logs), []byte("ignoring malformed or inconsistent rate-limit headers")), logs)

	// A well-formed answer afterwards is adopted.
	lim.Observe("os/j", answer(60, 59, time.Minute))
	require.Equal(t, int64(60), bucket(t, lim, "os/j").Reported.Limit)
}
