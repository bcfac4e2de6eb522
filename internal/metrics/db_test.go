package metrics_test

import (
	"context"
	"log/slog"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/nftsync/nftsync/db/dbtest"
	"github.com/nftsync/nftsync/internal/metrics"
)

// TestFreshness fills one collection's schedules with known refresh times:
// collection_freshness reports age, target and staleness per kind (with a
// per-collection target override), and the data-age series agree.
func TestFreshness(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tx := dbtest.Tx(t)
	var id int64
	require.NoError(t, tx.QueryRow(ctx, `INSERT INTO collections (source, slug) VALUES ('opensea', 'fresh-test') RETURNING id`).Scan(&id))
	_, err := tx.Exec(ctx, `INSERT INTO collection_schedules (collection_id, kind, interval_seconds, last_success_at, target_age_seconds) VALUES
		($1, 'floor_price', 60, now() - interval '30 seconds', NULL),
		($1, 'volume', 300, now() - interval '10 minutes', NULL),
		($1, 'metadata', 3600, NULL, NULL),
		($1, 'tokens', 3600, now() - interval '20 seconds', 10)`, id)
	require.NoError(t, err)

	rows, err := tx.Query(ctx, `SELECT kind, target_age_seconds, stale, COALESCE(overdue_seconds, -1) FROM collection_freshness WHERE collection_id = $1 ORDER BY kind`, id)
	require.NoError(t, err)
	type fresh struct {
		target  int32
		stale   bool
		overdue float64
	}
	got := map[string]fresh{}
	for rows.Next() {
		var k string
		var f fresh
		require.NoError(t, rows.Scan(&k, &f.target, &f.stale, &f.overdue))
		got[k] = f
	}
	require.NoError(t, rows.Err())
	require.Equal(t, int32(60), got["floor_price"].target)
	require.False(t, got["floor_price"].stale)
	require.InDelta(t, -30, got["floor_price"].overdue, 5)
	require.Equal(t, int32(300), got["volume"].target)
	require.True(t, got["volume"].stale)
	require.InDelta(t, 300, got["volume"].overdue, 5)
	require.Equal(t, int32(86400), got["metadata"].target)
	require.True(t, got["metadata"].stale, "never refreshed is stale")
	require.Equal(t, int32(10), got["tokens"].target, "per-collection override")
	require.True(t, got["tokens"].stale)

	m := metrics.New()
	m.RegisterDatabase(tx, slog.New(slog.DiscardHandler))
	n, err := testutil.GatherAndCount(m.Registry, "nftsync_data_stale_collections")
	require.NoError(t, err)
	require.GreaterOrEqual(t, n, 4)
	mfs, err := m.Registry.Gather()
	require.NoError(t, err)
	stale := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != "nftsync_data_stale_collections" {
			continue
		}
		for _, s := range mf.GetMetric() {
			stale[s.GetLabel()[0].GetValue()] = s.GetGauge().GetValue()
		}
	}
	require.Equal(t, map[string]float64{"floor_price": 0, "volume": 1, "metadata": 1, "tokens": 1}, stale)
}

// TestFreshnessLiveStream: a floor a live stream keeps current is fresh
// whatever its last poll, in the view (mode live) and in the data-age
// series alike; a stale live mark falls back to the last poll.
func TestFreshnessLiveStream(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := dbtest.DB(t)
	var live, stale int64
	require.NoError(t, pool.QueryRow(ctx, `INSERT INTO collections (source, slug) VALUES ('opensea', 'live') RETURNING id`).Scan(&live))
	require.NoError(t, pool.QueryRow(ctx, `INSERT INTO collections (source, slug) VALUES ('opensea', 'gone') RETURNING id`).Scan(&stale))
	_, err := pool.Exec(ctx, `INSERT INTO collection_schedules (collection_id, kind, interval_seconds, last_success_at) VALUES
		($1, 'floor_price', 60, now() - interval '10 minutes'), ($2, 'floor_price', 60, now() - interval '10 minutes')`, live, stale)
	require.NoError(t, err)
	_, err = pool.Exec(ctx, `INSERT INTO collection_streams (collection_id, state, owner, since, updated_at) VALUES
		($1, 'live', 'r1', now() - interval '1 hour', now() - interval '5 seconds'),
		($2, 'live', 'r1', now() - interval '1 hour', now() - interval '5 minutes')`, live, stale)
	require.NoError(t, err)

	mode := map[int64]string{}
	staleness := map[int64]bool{}
	rows, err := pool.Query(ctx, `SELECT collection_id, mode, stale FROM collection_freshness WHERE kind = 'floor_price'`)
	require.NoError(t, err)
	for rows.Next() {
		var id int64
		var m string
		var s bool
		require.NoError(t, rows.Scan(&id, &m, &s))
		mode[id], staleness[id] = m, s
	}
	require.NoError(t, rows.Err())
	require.Equal(t, map[int64]string{live: "live", stale: "polled"}, mode)
	require.Equal(t, map[int64]bool{live: false, stale: true}, staleness)

	m := metrics.New()
	m.RegisterDatabase(pool, slog.New(slog.DiscardHandler))
	mfs, err := m.Registry.Gather()
	require.NoError(t, err)
	gauges := map[string]float64{}
	for _, mf := range mfs {
		for _, s := range mf.GetMetric() {
			if len(s.GetLabel()) > 0 && s.GetLabel()[0].GetValue() == "floor_price" {
				gauges[mf.GetName()] = s.GetGauge().GetValue()
			}
		}
	}
	require.InDelta(t, 600, gauges["nftsync_data_age_max_seconds"], 30, "the gone stream's floor: its last poll")
	require.InDelta(t, (600+5)/2.0, gauges["nftsync_data_age_avg_seconds"], 30, "the live floor counts its last mark")
	require.InDelta(t, 1, gauges["nftsync_data_stale_collections"], 0)
}
