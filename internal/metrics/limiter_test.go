package metrics_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/nftsync/nftsync/db/dbtest"
	"github.com/nftsync/nftsync/internal/metrics"
	"github.com/nftsync/nftsync/internal/ratelimit"
)

// TestLimiterSeries drives a real limiter on PostgreSQL: a grant is
// observed by bucket, and a request that finds no budget within the max
// wait counts as a snooze with its reason.
func TestLimiterSeries(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	m := metrics.New()
	lim, err := ratelimit.New(dbtest.DB(t), ratelimit.Options{MaxWait: 20 * time.Millisecond, OnAcquireFunc: m.ObserveAcquire})
	require.NoError(t, err)
	key := ratelimit.KeyFor("opensea", "k1")
	require.NoError(t, lim.Ensure(ctx, []ratelimit.BucketConfig{{Key: key, Source: "opensea", Rate: 0.01, Burst: 1}}))

	lease, err := lim.Acquire(ctx, ratelimit.Request{Source: "opensea", Class: ratelimit.ClassLive})
	require.NoError(t, err)
	require.NoError(t, lease.Release(ctx))
	_, err = lim.Acquire(ctx, ratelimit.Request{Source: "opensea", Class: ratelimit.ClassLive})
	var we *ratelimit.WaitError
	require.ErrorAs(t, err, &we)

	require.NoError(t, testutil.GatherAndCompare(m.Registry, strings.NewReader(`
# HELP nftsync_limiter_snoozes_total Requests that got no budget within the limiter's max wait, so their job snoozed, by source, class and reason (tokens, paused, priority_hold, in_flight).
# TYPE nftsync_limiter_snoozes_total counter
nftsync_limiter_snoozes_total{class="live",reason="tokens",source="opensea"} 1
`), "nftsync_limiter_snoozes_total"))
	require.Equal(t, 1, testutil.CollectAndCount(m.Registry, "nftsync_limiter_wait_seconds"))
	mfs, err := m.Registry.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() == "nftsync_limiter_wait_seconds" {
			h := mf.GetMetric()[0]
			require.Equal(t, uint64(1), h.GetHistogram().GetSampleCount())
			labels := map[string]string{}
			for _, l := range h.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			require.Equal(t, map[string]string{"source": "opensea", "key": key, "class": "live"}, labels)
			require.NotContains(t, key, "k1", "the bucket label is a digest, never the key")
		}
	}
}
