package migrations_test

import (
	"context"
	"io"
	"log/slog"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/nftsync/nftsync/migrations"
)

// TestHistoryCarriesOldSnapshotsOver upgrades a database with per-tick
// snapshots (migrations up to 0003) and finds them as change-based runs,
// the current values in the views, and volume rows without a currency left
// behind. The old schema is gone, so this test writes it with plain SQL.
func TestHistoryCarriesOldSnapshotsOver(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := migratedUpTo(t, 3)
	_, err := pool.Exec(ctx, `
INSERT INTO collections (source, slug) VALUES ('opensea', 'old');
INSERT INTO floor_price_snapshots (collection_id, source, as_of_bucket, amount, currency, decimals, owners, fetched_at)
SELECT 1, 'opensea', t, v, 'ETH', 18, 10, t
FROM (VALUES ('2026-10-01 10:00Z'::timestamptz, 1.5), ('2026-10-01 10:01Z', 1.5), ('2026-10-01 10:02Z', 1.6),
             ('2026-10-01 10:03Z', 1.5), ('2026-10-02 00:01Z', 1.5)) AS s(t, v);
INSERT INTO volume_snapshots (collection_id, source, time_window, as_of_bucket, amount, currency, decimals, sales, fetched_at)
VALUES (1, 'opensea', 'all', '2026-10-01 10:00Z', 7, 'ETH', 18, 3, '2026-10-01 10:00Z'),
       (1, 'opensea', 'all', '2026-10-01 10:01Z', 7, 'ETH', 18, 3, '2026-10-01 10:01Z'),
       (1, 'opensea', '1d', '2026-10-01 10:01Z', 2, '', 0, 1, '2026-10-01 10:01Z');`)
	require.NoError(t, err)

	res, err := migrations.Up(ctx, pool, slog.New(slog.NewTextHandler(io.Discard, nil)))
	require.NoError(t, err)
	require.Contains(t, res.Ours, 4)

	var floorRuns, volumeRuns, emptyCurrency int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM floor_price_history`).Scan(&floorRuns))
	require.Equal(t, 4, floorRuns, "1.5 (10:00-10:01), 1.6, 1.5, and 1.5 again on the next day")
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM volume_history`).Scan(&volumeRuns))
	require.Equal(t, 1, volumeRuns, "one run of 'all'; the '1d' row without a currency is not carried over")
	var amount, fetched string
	require.NoError(t, pool.QueryRow(ctx, `SELECT amount::text, to_char(fetched_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI') FROM floor_price_current`).Scan(&amount, &fetched))
	require.Equal(t, "1.500000000000000000", amount)
	require.Equal(t, "2026-10-02 00:01", fetched)
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM volume_current WHERE currency = ''`).Scan(&emptyCurrency))
	require.Zero(t, emptyCurrency)
}
