package metrics_test

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/nftsync/nftsync/internal/metrics"
)

// TestStreamSeries: the stream consumer's series are registered once and
// an event type upstream invents is counted as "other", so the label set
// stays bounded.
func TestStreamSeries(t *testing.T) {
	t.Parallel()
	m := metrics.New()
	s := m.Stream()
	require.Same(t, s, m.Stream(), "registered once")
	s.Event("item_listed")
	s.Event("item_listed")
	s.Event("item_teleported")
	s.Dropped("duplicate")
	s.Lag(300 * time.Millisecond)
	s.GapBackfilled(3)
	s.Connections(2)
	families, err := m.Registry.Gather()
	require.NoError(t, err)
	got := map[string]bool{}
	for _, f := range families {
		got[f.GetName()] = true
	}
	for _, name := range []string{"nftsync_stream_connections", "nftsync_stream_joined_topics", "nftsync_stream_events_total",
		"nftsync_stream_events_dropped_total", "nftsync_stream_lag_seconds", "nftsync_stream_reconnects_total",
		"nftsync_stream_gaps_backfilled_total", "nftsync_stream_backfilled_sales_total", "nftsync_stream_book_refills_total",
		"nftsync_stream_reconcile_differences_total"} {
		require.True(t, got[name], name)
	}
	require.NoError(t, testutil.GatherAndCompare(m.Registry, strings.NewReader(`
# HELP nftsync_stream_events_total Stream events received, by event type (other: a type the consumer does not know).
# TYPE nftsync_stream_events_total counter
nftsync_stream_events_total{type="item_listed"} 2
nftsync_stream_events_total{type="other"} 1
`), "nftsync_stream_events_total"))
}

// TestStreamSeriesEachCountsItsOwn: every method moves its own series and
// no other (values distinct per series).
func TestStreamSeriesEachCountsItsOwn(t *testing.T) {
	t.Parallel()
	m := metrics.New()
	s := m.Stream()
	s.Connections(1)
	s.Topics(2)
	for range 3 {
		s.Reconnect()
	}
	s.GapBackfilled(5)
	for range 4 {
		s.BookRefill()
	}
	for range 6 {
		s.ReconcileDifference()
	}
	require.NoError(t, testutil.GatherAndCompare(m.Registry, strings.NewReader(`
# HELP nftsync_stream_connections Stream API websocket connections this process holds open (joined or reconnecting).
# TYPE nftsync_stream_connections gauge
nftsync_stream_connections 1
# HELP nftsync_stream_joined_topics Collection topics joined on this process's stream connections.
# TYPE nftsync_stream_joined_topics gauge
nftsync_stream_joined_topics 2
# HELP nftsync_stream_reconnects_total Stream connections lost (each is reconnected with capped exponential backoff).
# TYPE nftsync_stream_reconnects_total counter
nftsync_stream_reconnects_total 3
# HELP nftsync_stream_gaps_backfilled_total Collection topics joined again after a gap whose missed sales were read back from the events endpoint.
# TYPE nftsync_stream_gaps_backfilled_total counter
nftsync_stream_gaps_backfilled_total 1
# HELP nftsync_stream_backfilled_sales_total Sales read from the events endpoint to fill stream gaps (duplicates of stored sales included).
# TYPE nftsync_stream_backfilled_sales_total counter
nftsync_stream_backfilled_sales_total 5
# HELP nftsync_stream_book_refills_total Best-listings calls to bootstrap or refill a collection's book (after a join, when it ran dry, or after a reconcile difference).
# TYPE nftsync_stream_book_refills_total counter
nftsync_stream_book_refills_total 4
# HELP nftsync_stream_reconcile_differences_total Books bootstrapped again because a reconcile found the stream's floor different from /stats.
# TYPE nftsync_stream_reconcile_differences_total counter
nftsync_stream_reconcile_differences_total 6
`), "nftsync_stream_connections", "nftsync_stream_joined_topics", "nftsync_stream_reconnects_total", "nftsync_stream_gaps_backfilled_total",
		"nftsync_stream_backfilled_sales_total", "nftsync_stream_book_refills_total", "nftsync_stream_reconcile_differences_total"))
}
