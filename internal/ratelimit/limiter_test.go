package ratelimit_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nftsync/nftsync/db/dbtest"
	"github.com/nftsync/nftsync/internal/indexer"
	"github.com/nftsync/nftsync/internal/ratelimit"
)

// noWait never sleeps: every refusal comes back as a *WaitError.
var noWait = ratelimit.Options{MaxWait: -1}

func requireWait(t *testing.T, err error, reason string) *ratelimit.WaitError {
	t.Helper()
	var we *ratelimit.WaitError
	require.ErrorAs(t, err, &we)
	require.Equal(t, reason, we.Reason, we.Error())
	return we
}

func TestNew(t *testing.T) {
	t.Parallel()
	_, err := ratelimit.New(nil, ratelimit.Options{})
	require.ErrorContains(t, err, "nil database pool")
	_, err = ratelimit.New(dbtest.Tx(t), ratelimit.Options{LeaseTTL: -time.Second})
	require.ErrorContains(t, err, "Options.LeaseTTL must not be negative")
}

func TestEnsure(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	t.Run("CreatesFullAndKeepsLevelWhenUnchanged", func(t *testing.T) {
		t.Parallel()
		lim := newLimiter(t, dbtest.DB(t), noWait)
		cfg := ratelimit.BucketConfig{Key: "opensea", Source: "opensea", Rate: 0.01, Burst: 5, MaxInFlight: 3, BulkReserve: 0.2}
		require.NoError(t, lim.Ensure(ctx, []ratelimit.BucketConfig{cfg}))
		b := bucket(t, lim, "opensea")
		require.InDelta(t, 5, b.Tokens, 0.01)
		require.Equal(t, 3, b.MaxInFlight)
		require.InDelta(t, 0.2, b.BulkReserve, 1e-12)

		for range 3 {
			l, err := lim.Acquire(ctx, ratelimit.Request{Source: "opensea"})
			require.NoError(t, err)
			require.NoError(t, l.Release(ctx))
		}
		// A replica starting later with the same configuration must not
		// refill the shared bucket.
		require.NoError(t, lim.Ensure(ctx, []ratelimit.BucketConfig{cfg}))
		require.InDelta(t, 2, bucket(t, lim, "opensea").Tokens, 0.05)
	})

	t.Run("ChangeTakesEffectAndClampsTokens", func(t *testing.T) {
		t.Parallel()
		lim := newLimiter(t, dbtest.DB(t), noWait)
		cfg := ratelimit.BucketConfig{Key: "opensea", Source: "opensea", Rate: 0.01, Burst: 10, MaxInFlight: 3}
		require.NoError(t, lim.Ensure(ctx, []ratelimit.BucketConfig{cfg}))
		require.Equal(t, 3, bucket(t, lim, "opensea").Slots)
		old, err := lim.Acquire(ctx, ratelimit.Request{Source: "opensea"}) // live takes the highest slot
		require.NoError(t, err)

		cfg.Burst, cfg.MaxInFlight = 2, 1
		require.NoError(t, lim.Ensure(ctx, []ratelimit.BucketConfig{cfg}))
		b := bucket(t, lim, "opensea")
		require.InDelta(t, 2, b.Tokens, 0.01, "clamped to the new burst")
		require.Equal(t, 1, b.Slots)
		require.Zero(t, b.InFlight, "a lease over the new cap finishes uncounted")

		l, err := lim.Acquire(ctx, ratelimit.Request{Source: "opensea"})
		require.NoError(t, err)
		_, err = lim.Acquire(ctx, ratelimit.Request{Source: "opensea"})
		requireWait(t, err, "in_flight")
		require.NoError(t, old.Release(ctx), "releasing a dropped slot is harmless")
		require.Equal(t, 1, bucket(t, lim, "opensea").InFlight)
		require.NoError(t, l.Release(ctx))

		cfg.MaxInFlight = 0
		require.NoError(t, lim.Ensure(ctx, []ratelimit.BucketConfig{cfg}))
		require.Zero(t, bucket(t, lim, "opensea").Slots)
	})

	t.Run("ValidatesEverythingBeforeWriting", func(t *testing.T) {
		t.Parallel()
		lim := newLimiter(t, dbtest.DB(t), noWait)
		good := ratelimit.BucketConfig{Key: "a", Source: "s", Rate: 1, Burst: 1}
		err := lim.Ensure(ctx, []ratelimit.BucketConfig{good, {Key: "b", Source: "s", Rate: -1, Burst: 1}, good})
		require.ErrorContains(t, err, `bucket "b"`)
		require.ErrorContains(t, err, `bucket "a" configured twice`)
		all, err := lim.Buckets(ctx, "s")
		require.NoError(t, err)
		require.Empty(t, all)
	})
}

func TestAcquire(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	setup := func(t *testing.T, opts ratelimit.Options, cfgs ...ratelimit.BucketConfig) *ratelimit.Limiter {
		t.Helper()
		lim := newLimiter(t, dbtest.DB(t), opts)
		require.NoError(t, lim.Ensure(ctx, cfgs))
		return lim
	}

	t.Run("BurstThenWaitComputedFromRate", func(t *testing.T) {
		t.Parallel()
		// One token every 5 s: the checks run long before the next one even
		// on a loaded machine. Levels are computed from the grant times
		// (database clock), waits bounded by the time measured around them.
		const rate = 0.2
		lim := setup(t, noWait, ratelimit.BucketConfig{Key: "os", Source: "os", Rate: rate, Burst: 3})
		var last *ratelimit.Lease
		for i := range 3 {
			l, err := lim.Acquire(ctx, ratelimit.Request{Source: "os"})
			require.NoError(t, err, i)
			require.Equal(t, "os", l.Key)
			require.Equal(t, ratelimit.ClassLive, l.Class)
			require.Zero(t, l.Waited)
			want := 2.0 // a new bucket starts full
			if last != nil {
				want = min(3, last.TokensLeft+rate*l.GrantedAt.Sub(last.GrantedAt).Seconds()) - 1
			}
			require.InDelta(t, want, l.TokensLeft, 0.001, i)
			require.NoError(t, l.Release(ctx))
			last = l
		}
		_, err := lim.Acquire(ctx, ratelimit.Request{Source: "os"})
		sinceGrant := time.Since(last.GrantedAt)
		we := requireWait(t, err, "tokens")
		tokenWait := time.Duration((1 - last.TokensLeft) / rate * float64(time.Second))
		require.LessOrEqual(t, we.RetryAfter, tokenWait+50*time.Millisecond, "one token at 0.2/s")
		require.GreaterOrEqual(t, we.RetryAfter, tokenWait-sinceGrant-50*time.Millisecond, "one token at 0.2/s")
		require.Equal(t, "os", we.Source)
	})

	t.Run("WaitsWithinMaxWait", func(t *testing.T) {
		t.Parallel()
		const rate = 0.5 // a token every 2 s
		lim := setup(t, ratelimit.Options{MaxWait: 30 * time.Second}, ratelimit.BucketConfig{Key: "os", Source: "os", Rate: rate, Burst: 1})
		first, err := lim.Acquire(ctx, ratelimit.Request{Source: "os"})
		require.NoError(t, err)
		require.NoError(t, first.Release(ctx))
		l, err := lim.Acquire(ctx, ratelimit.Request{Source: "os"})
		require.NoError(t, err)
		require.NoError(t, l.Release(ctx))
		tokenBack := first.GrantedAt.Add(time.Duration((1 - first.TokensLeft) / rate * float64(time.Second)))
		require.False(t, l.GrantedAt.Before(tokenBack), "granted at %s, before the token was back at %s", l.GrantedAt, tokenBack)
		require.Positive(t, l.Waited, "it slept until the token was back")
	})

	t.Run("CtxDeadlineShorterThanWaitReturnsWaitError", func(t *testing.T) {
		t.Parallel()
		lim := setup(t, ratelimit.Options{MaxWait: time.Minute}, ratelimit.BucketConfig{Key: "os", Source: "os", Rate: 0.02, Burst: 1})
		l, err := lim.Acquire(ctx, ratelimit.Request{Source: "os"})
		require.NoError(t, err)
		require.NoError(t, l.Release(ctx))
		// The token is 50 s away, the deadline 10 s.
		dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		start := time.Now()
		_, err = lim.Acquire(dctx, ratelimit.Request{Source: "os"})
		requireWait(t, err, "tokens")
		require.NoError(t, dctx.Err())
		require.Less(t, time.Since(start), 5*time.Second, "gives up at once instead of sleeping into the deadline")
	})

	t.Run("CancelWhileWaiting", func(t *testing.T) {
		t.Parallel()
		lim := setup(t, ratelimit.Options{MaxWait: 10 * time.Second}, ratelimit.BucketConfig{Key: "os", Source: "os", Rate: 0.2, Burst: 1})
		l, err := lim.Acquire(ctx, ratelimit.Request{Source: "os"})
		require.NoError(t, err)
		require.NoError(t, l.Release(ctx))
		cctx, cancel := context.WithCancel(ctx)
		time.AfterFunc(100*time.Millisecond, cancel)
		_, err = lim.Acquire(cctx, ratelimit.Request{Source: "os"})
		require.ErrorIs(t, err, context.Canceled)
	})

	t.Run("UnknownSourceAndBadRequests", func(t *testing.T) {
		t.Parallel()
		lim := setup(t, noWait, ratelimit.BucketConfig{Key: "os", Source: "os", Rate: 1, Burst: 1})
		_, err := lim.Acquire(ctx, ratelimit.Request{Source: "nope"})
		require.ErrorIs(t, err, ratelimit.ErrNoBucket)
		_, err = lim.Acquire(ctx, ratelimit.Request{Source: "os", Keys: []string{"os/key-other"}})
		require.ErrorIs(t, err, ratelimit.ErrNoBucket)
		_, err = lim.Acquire(ctx, ratelimit.Request{})
		require.ErrorContains(t, err, "empty source")
		_, err = lim.Acquire(ctx, ratelimit.Request{Source: "os", Class: 7})
		require.ErrorContains(t, err, "invalid class(7)")
	})

	t.Run("PoolsKeysMostTokensFirstAndHonoursKeys", func(t *testing.T) {
		t.Parallel()
		lim := setup(t, noWait,
			ratelimit.BucketConfig{Key: "os/key-a", Source: "os", Rate: 0.01, Burst: 2},
			ratelimit.BucketConfig{Key: "os/key-b", Source: "os", Rate: 0.01, Burst: 3},
		)
		count := map[string]int{}
		for i := range 5 {
			l, err := lim.Acquire(ctx, ratelimit.Request{Source: "os"})
			require.NoError(t, err)
			if i == 0 {
				require.Equal(t, "os/key-b", l.Key, "the bucket with most tokens first")
			}
			count[l.Key]++
			require.NoError(t, l.Release(ctx))
		}
		require.Equal(t, map[string]int{"os/key-a": 2, "os/key-b": 3}, count, "each key keeps its own budget")
		_, err := lim.Acquire(ctx, ratelimit.Request{Source: "os"})
		requireWait(t, err, "tokens")

		require.NoError(t, lim.Ensure(ctx, []ratelimit.BucketConfig{{Key: "os/key-c", Source: "os", Rate: 0.01, Burst: 1}}))
		_, err = lim.Acquire(ctx, ratelimit.Request{Source: "os", Keys: []string{"os/key-a", "os/key-b"}})
		requireWait(t, err, "tokens")
		l, err := lim.Acquire(ctx, ratelimit.Request{Source: "os", Keys: []string{"os/key-c"}})
		require.NoError(t, err)
		require.Equal(t, "os/key-c", l.Key)
		require.NoError(t, l.Release(ctx))
	})

	t.Run("ReleaseIsIdempotent", func(t *testing.T) {
		t.Parallel()
		lim := setup(t, noWait, ratelimit.BucketConfig{Key: "os", Source: "os", Rate: 100, Burst: 10, MaxInFlight: 2})
		a, err := lim.Acquire(ctx, ratelimit.Request{Source: "os"})
		require.NoError(t, err)
		b, err := lim.Acquire(ctx, ratelimit.Request{Source: "os"})
		require.NoError(t, err)
		require.NotEqual(t, a.ID, b.ID)
		require.Equal(t, 2, bucket(t, lim, "os").InFlight)
		require.NoError(t, a.Release(ctx))
		require.NoError(t, a.Release(ctx))
		require.Equal(t, 1, bucket(t, lim, "os").InFlight, "a second release frees nothing")
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		require.NoError(t, b.Release(cctx), "release works on a cancelled ctx")
		st := bucket(t, lim, "os")
		require.Zero(t, st.InFlight)
		require.Zero(t, st.Expired)
		require.NoError(t, (*ratelimit.Lease)(nil).Release(ctx))
	})

	t.Run("NoCapNeedsNoSlot", func(t *testing.T) {
		t.Parallel()
		lim := setup(t, noWait, ratelimit.BucketConfig{Key: "os", Source: "os", Rate: 100, Burst: 10})
		for range 5 {
			_, err := lim.Acquire(ctx, ratelimit.Request{Source: "os"}) // never released
			require.NoError(t, err)
		}
		st := bucket(t, lim, "os")
		require.Zero(t, st.Slots)
		require.Zero(t, st.InFlight)
	})
}

func TestCrashedHolderLeasesExpire(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pools := replicas(t, 2, 4)
	const ttl = 500 * time.Millisecond
	crashed := newLimiter(t, pools[0], ratelimit.Options{LeaseTTL: ttl, MaxWait: -1})
	require.NoError(t, crashed.Ensure(ctx, []ratelimit.BucketConfig{{Key: "os", Source: "os", Rate: 1000, Burst: 100, MaxInFlight: 2}}))
	// Before the leases are taken: their TTL runs from then, however long
	// a busy machine takes to get here.
	start := time.Now()
	for range 2 {
		_, err := crashed.Acquire(ctx, ratelimit.Request{Source: "os"})
		require.NoError(t, err)
	}
	pools[0].Close() // the process dies holding both slots

	other := newLimiter(t, pools[1], ratelimit.Options{LeaseTTL: ttl, MaxWait: -1})
	_, err := other.Acquire(ctx, ratelimit.Request{Source: "os"})
	we := requireWait(t, err, "in_flight")
	require.Equal(t, ratelimit.DefaultSlotRetryAfter, we.RetryAfter)

	patient := newLimiter(t, pools[1], ratelimit.Options{LeaseTTL: ttl, MaxWait: 3 * time.Second})
	l, err := patient.Acquire(ctx, ratelimit.Request{Source: "os"})
	require.NoError(t, err)
	require.GreaterOrEqual(t, time.Since(start), ttl-50*time.Millisecond, "slots come back only after the TTL")
	st := bucket(t, patient, "os")
	// The second crashed lease may not have run out yet when the first did
	// (on a loaded machine the two grants can be far apart).
	require.Equal(t, 2, st.InFlight+st.Expired, "the new lease plus one crashed lease, live or expired")
	require.GreaterOrEqual(t, st.InFlight, 1, "one new lease")
	l2, err := patient.Acquire(ctx, ratelimit.Request{Source: "os"})
	require.NoError(t, err, "both expired slots are usable")
	require.NoError(t, l.Release(ctx))
	require.NoError(t, l2.Release(ctx))
	st = bucket(t, patient, "os")
	require.Zero(t, st.InFlight)
	require.Zero(t, st.Expired)
}

func TestReleaseAfterExpiryDoesNotFreeTheNextLease(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	lim := newLimiter(t, dbtest.DB(t), ratelimit.Options{LeaseTTL: 200 * time.Millisecond, MaxWait: -1})
	require.NoError(t, lim.Ensure(ctx, []ratelimit.BucketConfig{{Key: "os", Source: "os", Rate: 1000, Burst: 100, MaxInFlight: 1}}))
	slow, err := lim.Acquire(ctx, ratelimit.Request{Source: "os"})
	require.NoError(t, err)
	// The call outlives its lease: once the lease expired, the slot is
	// free again (until then Acquire refuses at once: MaxWait -1).
	var fresh *ratelimit.Lease
	require.Eventually(t, func() bool {
		fresh, err = lim.Acquire(ctx, ratelimit.Request{Source: "os"})
		return err == nil
	}, 30*time.Second, 20*time.Millisecond, "the expired slot is free again")
	require.NoError(t, slow.Release(ctx))
	require.Equal(t, 1, bucket(t, lim, "os").InFlight, "the late release must not free the new lease's slot")
	_, err = lim.Acquire(ctx, ratelimit.Request{Source: "os"})
	requireWait(t, err, "in_flight")
	require.NoError(t, fresh.Release(ctx))
	require.Zero(t, bucket(t, lim, "os").InFlight)
}

func TestPause(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pools := replicas(t, 2, 4)
	a := newLimiter(t, pools[0], noWait)
	b := newLimiter(t, pools[1], noWait)
	// Five tokens a second: a bucket that resumed with a burst is told
	// apart from one that restarted empty for most of a second after the
	// pause. The pause is long enough that the checks below run during it
	// even on a loaded machine; times are compared on the database clock.
	const rate = 5.0
	require.NoError(t, a.Ensure(ctx, []ratelimit.BucketConfig{{Key: "os", Source: "os", Rate: rate, Burst: 5}}))

	until, err := a.PauseFor(ctx, "os", 3*time.Second)
	require.NoError(t, err)
	require.False(t, until.IsZero())

	// The other replica is paused too, and told how long: until the end
	// of the pause and the first token after it (50 ms of slack for the
	// database's clock).
	firstToken := time.Duration(float64(time.Second) / rate)
	before := time.Now()
	_, err = b.Acquire(ctx, ratelimit.Request{Source: "os"})
	after := time.Now()
	we := requireWait(t, err, "paused")
	require.LessOrEqual(t, we.RetryAfter, until.Sub(before)+firstToken+50*time.Millisecond)
	require.GreaterOrEqual(t, we.RetryAfter, until.Sub(after)-50*time.Millisecond)
	_, err = b.Acquire(ctx, ratelimit.Request{Source: "os", Class: ratelimit.ClassPriority})
	requireWait(t, err, "paused")

	// A shorter pause does not shorten it; a zero one does nothing.
	u2, err := b.PauseFor(ctx, "os", 10*time.Millisecond)
	require.NoError(t, err)
	require.Equal(t, until, u2)
	u3, err := b.PauseFor(ctx, "os", 0)
	require.NoError(t, err)
	require.True(t, u3.IsZero())

	// Afterwards the budget resumes at the rate, not with a burst: the
	// grant leaves what refilled since the end of the pause, less one.
	patient := newLimiter(t, pools[1], ratelimit.Options{MaxWait: 30 * time.Second})
	l, err := patient.Acquire(ctx, ratelimit.Request{Source: "os"})
	require.NoError(t, err)
	require.False(t, l.GrantedAt.Before(until.Add(firstToken)), "granted at %s, paused until %s", l.GrantedAt, until)
	refilled := min(5, rate*l.GrantedAt.Sub(until).Seconds())
	require.InDelta(t, refilled-1, l.TokensLeft, 0.01, "the bucket restarts empty at %s (granted at %s)", until, l.GrantedAt)
	require.NoError(t, l.Release(ctx))

	_, err = a.PauseFor(ctx, "missing", time.Second)
	require.ErrorIs(t, err, ratelimit.ErrNoBucket)

	t.Run("CappedAtMaxPause", func(t *testing.T) {
		t.Parallel()
		lim := newLimiter(t, dbtest.DB(t), ratelimit.Options{MaxWait: -1, MaxPause: 300 * time.Millisecond})
		require.NoError(t, lim.Ensure(ctx, []ratelimit.BucketConfig{{Key: "os", Source: "os", Rate: 20, Burst: 5}}))
		_, err := lim.Pause(ctx, "os", time.Now().Add(time.Hour))
		require.NoError(t, err)
		_, err = lim.Acquire(ctx, ratelimit.Request{Source: "os"})
		we := requireWait(t, err, "paused")
		// The bucket restarts empty: the first token comes 1/rate after the pause.
		require.LessOrEqual(t, we.RetryAfter, 300*time.Millisecond+50*time.Millisecond)
	})

	t.Run("OnError", func(t *testing.T) {
		t.Parallel()
		// Pauses long enough that the checks run during them even on a
		// loaded machine; each RetryAfter is checked against the time
		// measured around its pause and refusal.
		const defaultPause, firstToken = 3 * time.Second, 50 * time.Millisecond
		lim := newLimiter(t, dbtest.DB(t), ratelimit.Options{MaxWait: -1, DefaultPause: defaultPause})
		require.NoError(t, lim.Ensure(ctx, []ratelimit.BucketConfig{{Key: "os", Source: "os", Rate: 20, Burst: 5}}))
		requirePausedFor := func(pause time.Duration, pauseErr error, msg string) {
			t.Helper()
			before := time.Now()
			paused, err := lim.PauseOnError(ctx, "os", pauseErr)
			require.NoError(t, err)
			require.True(t, paused)
			_, err = lim.Acquire(ctx, ratelimit.Request{Source: "os"})
			elapsed := time.Since(before)
			we := requireWait(t, err, "paused")
			require.LessOrEqual(t, we.RetryAfter, pause+firstToken+50*time.Millisecond, msg)
			require.GreaterOrEqual(t, we.RetryAfter, pause-elapsed-50*time.Millisecond, msg)
		}

		paused, err := lim.PauseOnError(ctx, "os", &indexer.Error{Class: indexer.ClassTransient, Status: 503})
		require.NoError(t, err)
		require.False(t, paused)
		paused, err = lim.PauseOnError(ctx, "os", errors.New("boom"))
		require.NoError(t, err)
		require.False(t, paused)
		l, err := lim.Acquire(ctx, ratelimit.Request{Source: "os"})
		require.NoError(t, err)
		require.NoError(t, l.Release(ctx))

		requirePausedFor(defaultPause, &indexer.Error{Class: indexer.ClassRateLimited, Status: 429}, "DefaultPause without Retry-After")
		requirePausedFor(8*time.Second, &indexer.Error{Class: indexer.ClassRateLimited, Status: 599, RetryAfter: 8 * time.Second}, "the Retry-After asked for")
	})
}

func TestObserve(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC) // injected local clock
	setup := func(t *testing.T) *ratelimit.Limiter {
		t.Helper()
		lim := newLimiter(t, dbtest.DB(t), ratelimit.Options{MaxWait: -1, Now: func() time.Time { return now }, DefaultPause: 900 * time.Millisecond})
		require.NoError(t, lim.Ensure(ctx, []ratelimit.BucketConfig{{Key: "os", Source: "os", Rate: 20, Burst: 5}}))
		return lim
	}
	pausedFor := func(t *testing.T, lim *ratelimit.Limiter) time.Duration {
		t.Helper()
		_, err := lim.Acquire(ctx, ratelimit.Request{Source: "os"})
		if err == nil {
			return 0
		}
		return requireWait(t, err, "paused").RetryAfter
	}

	t.Run("RemainingZeroPausesUntilReset", func(t *testing.T) {
		t.Parallel()
		lim := setup(t)
		lim.Observe("os", ratelimit.ResponseInfo{Status: 200, Remaining: 0, Reset: now.Add(2 * time.Second)})
		require.InDelta(t, 2*time.Second, pausedFor(t, lim), float64(150*time.Millisecond))
	})
	t.Run("RemainingLeftDoesNothing", func(t *testing.T) {
		t.Parallel()
		lim := setup(t)
		lim.Observe("os", ratelimit.ResponseInfo{Status: 200, Remaining: 3, Reset: now.Add(2 * time.Second)})
		lim.Observe("os", ratelimit.ResponseInfo{Status: 200, Remaining: -1})
		lim.Observe("os", ratelimit.ResponseInfo{Status: 200, Remaining: 0, Reset: now.Add(-time.Second)})
		require.Zero(t, pausedFor(t, lim))
	})
	t.Run("TooManyRequestsUsesRetryAfterThenResetThenDefault", func(t *testing.T) {
		t.Parallel()
		lim := setup(t)
		lim.Observe("os", ratelimit.ResponseInfo{Status: 429, RetryAfter: 1500 * time.Millisecond, Remaining: -1})
		require.InDelta(t, 1500*time.Millisecond, pausedFor(t, lim), float64(150*time.Millisecond))

		lim = setup(t)
		lim.Observe("os", ratelimit.ResponseInfo{Status: 599, Remaining: 0, Reset: now.Add(1200 * time.Millisecond)})
		require.InDelta(t, 1200*time.Millisecond, pausedFor(t, lim), float64(150*time.Millisecond))

		lim = setup(t)
		lim.Observe("os", ratelimit.ResponseInfo{Status: 429, Remaining: -1})
		require.InDelta(t, 900*time.Millisecond, pausedFor(t, lim), float64(150*time.Millisecond))
	})
	t.Run("UnknownBucketIsLoggedNotFatal", func(t *testing.T) {
		t.Parallel()
		lim := setup(t)
		lim.Observe("missing", ratelimit.ResponseInfo{Status: 429, RetryAfter: time.Second})
		require.Zero(t, pausedFor(t, lim))
	})
}

func TestBulkReserve(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	t.Run("Tokens", func(t *testing.T) {
		t.Parallel()
		lim := newLimiter(t, dbtest.DB(t), noWait)
		require.NoError(t, lim.Ensure(ctx, []ratelimit.BucketConfig{{Key: "os", Source: "os", Rate: 0.001, Burst: 10, BulkReserve: 0.3}}))
		take := func(c ratelimit.Class) error {
			l, err := lim.Acquire(ctx, ratelimit.Request{Source: "os", Class: c})
			if err == nil {
				require.NoError(t, l.Release(ctx))
			}
			return err
		}
		for i := range 7 {
			require.NoError(t, take(ratelimit.ClassBulk), i)
		}
		requireWait(t, take(ratelimit.ClassBulk), "tokens")
		for i := range 3 {
			require.NoError(t, take(ratelimit.ClassLive), "live uses the reserve %d", i)
		}
		requireWait(t, take(ratelimit.ClassLive), "tokens")
	})

	t.Run("Slots", func(t *testing.T) {
		t.Parallel()
		lim := newLimiter(t, dbtest.DB(t), noWait)
		require.NoError(t, lim.Ensure(ctx, []ratelimit.BucketConfig{{Key: "os", Source: "os", Rate: 1000, Burst: 1000, MaxInFlight: 10, BulkReserve: 0.3}}))
		for i := range 7 {
			_, err := lim.Acquire(ctx, ratelimit.Request{Source: "os", Class: ratelimit.ClassBulk})
			require.NoError(t, err, i)
		}
		_, err := lim.Acquire(ctx, ratelimit.Request{Source: "os", Class: ratelimit.ClassBulk})
		requireWait(t, err, "in_flight")
		for i := range 2 {
			_, err := lim.Acquire(ctx, ratelimit.Request{Source: "os", Class: ratelimit.ClassLive})
			require.NoError(t, err, i)
		}
		_, err = lim.Acquire(ctx, ratelimit.Request{Source: "os", Class: ratelimit.ClassPriority})
		require.NoError(t, err)
		_, err = lim.Acquire(ctx, ratelimit.Request{Source: "os", Class: ratelimit.ClassPriority})
		requireWait(t, err, "in_flight")
	})

	t.Run("BurstOneHasNoReserve", func(t *testing.T) {
		t.Parallel()
		lim := newLimiter(t, dbtest.DB(t), noWait)
		require.NoError(t, lim.Ensure(ctx, []ratelimit.BucketConfig{{Key: "os", Source: "os", Rate: 0.001, Burst: 1, MaxInFlight: 1, BulkReserve: 0.3}}))
		l, err := lim.Acquire(ctx, ratelimit.Request{Source: "os", Class: ratelimit.ClassBulk})
		require.NoError(t, err, "bulk is not starved forever by a reserve that cannot exist")
		require.NoError(t, l.Release(ctx))
	})
}

func TestSpareClass(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	spare := ratelimit.Request{Source: "os", Class: ratelimit.ClassSpare}

	t.Run("RefusedWhileAnotherRequestComesBack", func(t *testing.T) {
		t.Parallel()
		lim := newLimiter(t, dbtest.DB(t), ratelimit.Options{MaxWait: -1})
		require.NoError(t, lim.Ensure(ctx, []ratelimit.BucketConfig{{Key: "os", Source: "os", Rate: 0.2, Burst: 10, MaxInFlight: 20, BulkReserve: 0.3}}))
		for i := range 7 {
			l, err := lim.Acquire(ctx, spare)
			require.NoError(t, err, "spare takes idle tokens down to the bulk reserve (%d)", i)
			require.NoError(t, l.Release(ctx))
		}
		_, err := lim.Acquire(ctx, spare)
		requireWait(t, err, "tokens")
		for i := range 3 {
			_, err := lim.Acquire(ctx, ratelimit.Request{Source: "os"})
			require.NoError(t, err, "live uses the reserve %d", i)
		}
		_, err = lim.Acquire(ctx, ratelimit.Request{Source: "os", Class: ratelimit.ClassBulk})
		bulkWait := requireWait(t, err, "tokens").RetryAfter
		require.Greater(t, bulkWait, 10*time.Second)
		_, err = lim.Acquire(ctx, spare)
		we := requireWait(t, err, "wanted")
		require.GreaterOrEqual(t, we.RetryAfter, bulkWait, "spare keeps off until the refused bulk request is back")
	})

	t.Run("TakesIdleTokens", func(t *testing.T) {
		t.Parallel()
		lim := newLimiter(t, dbtest.DB(t), ratelimit.Options{})
		require.NoError(t, lim.Ensure(ctx, []ratelimit.BucketConfig{{Key: "os", Source: "os", Rate: 10, Burst: 1, MaxInFlight: 4}}))
		deadline := time.Now().Add(30 * time.Second)
		grants := 0
		for grants < 3 && time.Now().Before(deadline) {
			l, err := lim.Acquire(ctx, spare)
			if err != nil {
				we := requireWait(t, err, "tokens")
				time.Sleep(we.RetryAfter)
				continue
			}
			require.Equal(t, ratelimit.ClassSpare, l.Class)
			require.NoError(t, l.Release(ctx))
			grants++
		}
		require.Equal(t, 3, grants, "an idle bucket serves spare requests")
	})

	t.Run("YieldsToWaitersOfEveryReplica", func(t *testing.T) {
		t.Parallel()
		// One replica's bulk work (a reconcile) wants every token for 3 s;
		// another replica's spare requests (audits) poll meanwhile. Each
		// refusal of the bulk waiter marks the bucket wanted until it is
		// back (plus a generous slack here, so a stalled machine cannot
		// fail the test), so spare gets nothing until the bulk work ends.
		pools := replicas(t, 2, 4)
		opts := ratelimit.Options{SpareSlack: time.Second, MaxWait: 10 * time.Second}
		busy, idle := newLimiter(t, pools[0], opts), newLimiter(t, pools[1], opts)
		require.NoError(t, busy.Ensure(ctx, []ratelimit.BucketConfig{{Key: "os", Source: "os", Rate: 4, Burst: 1, MaxInFlight: 4}}))
		bulkDone := make(chan error, 1)
		go func() {
			for range 12 {
				l, err := busy.Acquire(ctx, ratelimit.Request{Source: "os", Class: ratelimit.ClassBulk})
				if err != nil {
					bulkDone <- err
					return
				}
				if err := l.Release(ctx); err != nil {
					bulkDone <- err
					return
				}
			}
			bulkDone <- nil
		}()
		stolen := 0
		for running := true; running; {
			select {
			case err := <-bulkDone:
				require.NoError(t, err)
				running = false
				continue
			default:
			}
			if l, err := idle.Acquire(ctx, spare); err == nil {
				stolen++
				require.NoError(t, l.Release(ctx))
			}
			time.Sleep(10 * time.Millisecond)
		}
		require.Zero(t, stolen, "spare requests took tokens a bulk waiter was waiting for")
		// Once nobody else wants the budget, spare gets it.
		deadline := time.Now().Add(30 * time.Second)
		for {
			l, err := idle.Acquire(ctx, spare)
			if err == nil {
				require.NoError(t, l.Release(ctx))
				break
			}
			require.True(t, time.Now().Before(deadline), "spare never served by an idle bucket: %v", err)
			time.Sleep(50 * time.Millisecond)
		}
	})
}

func TestPriorityHold(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := dbtest.DB(t)
	// One token every 4 s: the priority request waits for it long enough
	// that the checks below run during its wait even on a loaded machine.
	// Times are compared on the database clock, durations only loosely.
	const rate = 0.25
	lim := newLimiter(t, pool, ratelimit.Options{MaxWait: 30 * time.Second})
	live := newLimiter(t, pool, noWait)
	require.NoError(t, lim.Ensure(ctx, []ratelimit.BucketConfig{{Key: "os", Source: "os", Rate: rate, Burst: 1}}))
	l, err := lim.Acquire(ctx, ratelimit.Request{Source: "os"})
	require.NoError(t, err)
	require.NoError(t, l.Release(ctx))
	tokenBack := l.GrantedAt.Add(time.Duration((1 - l.TokensLeft) / rate * float64(time.Second)))

	done := make(chan *ratelimit.Lease, 1)
	go func() {
		l, err := lim.Acquire(ctx, ratelimit.Request{Source: "os", Class: ratelimit.ClassPriority})
		if err != nil {
			t.Error(err)
		}
		done <- l
	}()
	// Once the priority request waits, the bucket is held for it until the
	// token is back plus a slack for the waiter's wake-up: live requests
	// are refused until the hold ends, even when the token is back.
	var hold time.Time
	require.Eventually(t, func() bool {
		hold = bucket(t, lim, "os").PriorityHoldUntil
		return !hold.IsZero()
	}, 30*time.Second, 5*time.Millisecond, "the waiting priority request holds the bucket")
	require.WithinDuration(t, tokenBack.Add(100*time.Millisecond), hold, 5*time.Millisecond,
		"the hold outlasts the token wait by the slack (token back at %s)", tokenBack)
	before := time.Now()
	_, err = live.Acquire(ctx, ratelimit.Request{Source: "os"})
	after := time.Now()
	we := requireWait(t, err, "priority_hold")
	// Told to come back when the hold ends (50 ms of slack for the clocks).
	require.LessOrEqual(t, we.RetryAfter, hold.Sub(before)+50*time.Millisecond)
	require.GreaterOrEqual(t, we.RetryAfter, hold.Sub(after)-50*time.Millisecond)

	p := <-done
	require.NotNil(t, p)
	require.Equal(t, ratelimit.ClassPriority, p.Class)
	require.False(t, p.GrantedAt.Before(tokenBack), "granted at %s, before the token was back at %s", p.GrantedAt, tokenBack)
	require.Positive(t, p.Waited, "the priority request waited for the token")
	require.NoError(t, p.Release(ctx))
	require.True(t, bucket(t, lim, "os").PriorityHoldUntil.IsZero(), "the grant ends the hold")
}
