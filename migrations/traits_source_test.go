package migrations_test

import (
	"context"
	"io"
	"log/slog"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/nftsync/nftsync/migrations"
)

// TestTokenTraitsSourceBackfill upgrades a database whose tokens' traits came
// from a list answer, from a per-token fetch during a recorded run, and from
// before any run recorded its source, and finds each token's traits_source.
func TestTokenTraitsSourceBackfill(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := migratedUpTo(t, 41)
	_, err := pool.Exec(ctx, `
INSERT INTO collections (source, slug, traits_source) VALUES ('opensea', 'a', 'token_uri');
INSERT INTO token_sync_runs (collection_id, run, started_at, traits_source, traits_started_at, updated_at)
VALUES (1, 1, '2026-10-01 10:00Z', 'opensea', '2026-10-01 10:05Z', '2026-10-01 10:05Z');
INSERT INTO tokens (collection_id, contract, token_id, traits_known, fetched_at, sync_run, raw, traits_checked_at, traits_as_of)
VALUES (1, '0xa', '1', true,  '2026-10-01 10:00Z', 1, '{}', '2026-10-01 10:00Z', NULL),  -- the list carried them
       (1, '0xa', '2', true,  '2026-10-01 10:00Z', 1, '{}', '2026-10-01 10:06Z', NULL),  -- run 1 fetched them
       (1, '0xa', '3', true,  '2026-10-01 10:00Z', 1, '{}', '2026-10-01 09:00Z', NULL),  -- before any recorded run
       (1, '0xa', '4', false, '2026-10-01 10:00Z', 1, '{}', NULL, NULL);                 -- none yet`)
	require.NoError(t, err)

	_, err = migrations.Up(ctx, pool, slog.New(slog.NewTextHandler(io.Discard, nil)))
	require.NoError(t, err)
	rows, err := pool.Query(ctx, `SELECT token_id, traits_source FROM tokens ORDER BY token_id`)
	require.NoError(t, err)
	defer rows.Close()
	got := map[string]string{}
	for rows.Next() {
		var id, src string
		require.NoError(t, rows.Scan(&id, &src))
		got[id] = src
	}
	require.NoError(t, rows.Err())
	require.Equal(t, map[string]string{"1": "opensea:list", "2": "opensea", "3": "token_uri", "4": ""}, got)
}
