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
