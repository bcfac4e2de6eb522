package ratelimit_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nftsync/nftsync/internal/indexer"
	"github.com/nftsync/nftsync/internal/ratelimit"
)

func TestHostBudget(t *testing.T) {
	t.Parallel()
	pools := replicas(t, 2, 4)
	lims := limiters(t, pools, ratelimit.Options{MaxWait: -1})
	def := ratelimit.HostLimit{Rate: 0.01, Burst: 2, MaxInFlight: 2}
	hosts := map[string]ratelimit.HostLimit{"IPFS.example": {Rate: 100, Burst: 5}}
	a, err := ratelimit.NewHostBudget(lims[0], "token_uri", def, hosts)
	require.NoError(t, err)
	b, err := ratelimit.NewHostBudget(lims[1], "token_uri", def, hosts)
	require.NoError(t, err)
	ctx := ratelimit.WithClass(t.Context(), ratelimit.ClassBulk)

	// Two replicas share one host's burst of 2.
	r1, err := a.Acquire(ctx, "Meta.Example")
	require.NoError(t, err)
	r2, err := b.Acquire(ctx, "meta.example")
	require.NoError(t, err)
	_, err = a.Acquire(ctx, "meta.example")
	require.Equal(t, indexer.ClassRateLimited, indexer.ClassOf(err), "%v", err)
	wait, ok := indexer.RetryAfter(err)
	require.True(t, ok)
	require.Positive(t, wait)
	r1()
	r2()

	// Another host has its own bucket; a configured one its own limit.
	for range 5 {
		rel, err := b.Acquire(ctx, "ipfs.example")
		require.NoError(t, err)
		rel()
	}
	rel, err := a.Acquire(ctx, "other.example")
	require.NoError(t, err)
	rel()

	hostBucket := func(key string) ratelimit.BucketState {
		all, err := lims[0].Buckets(t.Context(), key) // each host is its own source
		require.NoError(t, err)
		require.Len(t, all, 1)
		return all[0]
	}
	st := hostBucket("token_uri/meta.example")
	require.Equal(t, "token_uri/meta.example", st.Source)
	require.InDelta(t, 0.01, st.Rate, 1e-9)
	require.Equal(t, 2, st.MaxInFlight)
	require.Zero(t, st.InFlight, "released leases free their slots")
	st = hostBucket("token_uri/ipfs.example")
	require.InDelta(t, 100, st.Rate, 1e-9)

	// A 429 pauses the host for every replica.
	a.Throttled(t.Context(), "other.example", 30*time.Second)
	_, err = b.Acquire(ctx, "other.example")
	wait, ok = indexer.RetryAfter(err)
	require.True(t, ok, "%v", err)
	require.Greater(t, wait, 20*time.Second)
	require.Contains(t, err.Error(), "paused")
}

func TestHostBudgetRejectsBadLimits(t *testing.T) {
	t.Parallel()
	lim := newLimiter(t, replicas(t, 1, 1)[0], ratelimit.Options{})
	_, err := ratelimit.NewHostBudget(lim, "token_uri", ratelimit.HostLimit{Rate: 0, Burst: 1}, nil)
	require.ErrorContains(t, err, "rate must be a positive number")
	_, err = ratelimit.NewHostBudget(lim, "token_uri", ratelimit.HostLimit{Rate: 1, Burst: 1},
		map[string]ratelimit.HostLimit{"x.example": {Rate: 1, Burst: 0}})
	require.ErrorContains(t, err, `bucket "token_uri/x.example"`)
	_, err = ratelimit.NewHostBudget(nil, "token_uri", ratelimit.HostLimit{Rate: 1, Burst: 1}, nil)
	require.Error(t, err)

	b, err := ratelimit.NewHostBudget(lim, "token_uri", ratelimit.HostLimit{Rate: 1, Burst: 1}, nil)
	require.NoError(t, err)
	_, err = b.Acquire(context.Background(), "")
	require.ErrorContains(t, err, "invalid host")
}
