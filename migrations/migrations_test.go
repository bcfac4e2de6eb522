package migrations_test

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/nftsync/nftsync/db/dbtest"
	"github.com/nftsync/nftsync/migrations"
)

func TestUpIsIdempotentAndSafeConcurrently(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	// An empty database (not the migrated template).
	url := dbtest.EmptyDatabase(t)
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))

	// Three "replicas" migrate at once; the advisory lock serialises them.
	var wg sync.WaitGroup
	results := make([]*migrations.Result, 3)
	errs := make([]error, 3)
	for i := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			pool, err := pgxpool.New(ctx, url)
			if err != nil {
				errs[i] = err
				return
			}
			defer pool.Close()
			results[i], errs[i] = migrations.Up(ctx, pool, logger)
		}()
	}
	wg.Wait()
	appliedOurs := 0
	for i := range 3 {
		require.NoError(t, errs[i])
		appliedOurs += len(results[i].Ours)
	}
	all, err := migrations.All()
	require.NoError(t, err)
	require.Equal(t, len(all), appliedOurs, "every migration applied exactly once across replicas")
	appliedFiles := 0
	for i := range 3 {
		appliedFiles += len(results[i].Files)
	}
	require.Equal(t, 2, appliedFiles, "functions.sql and catalog.sql applied once across replicas")

	pool, err := pgxpool.New(ctx, url)
	require.NoError(t, err)
	defer pool.Close()
	res, err := migrations.Up(ctx, pool, logger)
	require.NoError(t, err)
	require.Empty(t, res.Ours)
	require.Empty(t, res.River)
	require.Empty(t, res.Files)
}

// TestChangedFunctionsAreReapplied: a database whose functions.sql is
// older than this binary's (its recorded hash differs) gets the file
// applied again, which replaces the old function bodies, and Check says so
// before.
func TestChangedFunctionsAreReapplied(t *testing.T) {
	t.Parallel()
	ctx, pool, logger := migrated(t)

	// An "older" function body and hash.
	_, err := pool.Exec(ctx, `
CREATE OR REPLACE FUNCTION nftsync_route_sources(route_collection_id bigint, route_kind text) RETURNS text[]
LANGUAGE sql STABLE AS $$ SELECT ARRAY['old'] $$;
UPDATE nftsync_migration_file SET sha256 = 'old' WHERE name = 'functions.sql';`)
	require.NoError(t, err)
	p, err := migrations.Check(ctx, pool)
	require.NoError(t, err)
	require.Equal(t, []string{migrations.FunctionsFile}, p.Files)
	require.Empty(t, p.Ours)

	res, err := migrations.Up(ctx, pool, logger)
	require.NoError(t, err)
	require.Equal(t, []string{migrations.FunctionsFile}, res.Files)
	require.Empty(t, res.Ours, "the schema file is not applied again")
	var sources []string
	require.NoError(t, pool.QueryRow(ctx, `SELECT nftsync_route_sources(0, 'volume')`).Scan(&sources))
	require.Nil(t, sources, "the current body: no such collection, NULL")
}

// TestOlderReleaseLeavesNewerFunctions: a replica of an older release
// (its functions.sql was applied, then replaced by a newer release's) does
// not apply its own again, and does not call the database behind.
func TestOlderReleaseLeavesNewerFunctions(t *testing.T) {
	t.Parallel()
	ctx, pool, logger := migrated(t)

	// A newer release replaced functions.sql after this one applied it.
	_, err := pool.Exec(ctx, `
CREATE OR REPLACE FUNCTION nftsync_route_sources(route_collection_id bigint, route_kind text) RETURNS text[]
LANGUAGE sql STABLE AS $$ SELECT ARRAY['newer'] $$;
INSERT INTO nftsync_migration_file (name, sha256, applied_at) VALUES ('functions.sql', 'newer', clock_timestamp() + interval '1 second');`)
	require.NoError(t, err)
	p, err := migrations.Check(ctx, pool)
	require.NoError(t, err)
	require.False(t, p.Behind(), "pending: %s", p)
	res, err := migrations.Up(ctx, pool, logger)
	require.NoError(t, err)
	require.Empty(t, res.Files)
	var sources []string
	require.NoError(t, pool.QueryRow(ctx, `SELECT nftsync_route_sources(0, 'volume')`).Scan(&sources))
	require.Equal(t, []string{"newer"}, sources, "the newer body stays")
}

// TestCatalogRowsAreApplied: catalog.sql writes the refresh kinds and
// sources, and a stale row is put right when the file is applied again
// (its upserts are idempotent).
func TestCatalogRowsAreApplied(t *testing.T) {
	t.Parallel()
	ctx, pool, logger := migrated(t)
	var n int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM refresh_kinds`).Scan(&n))
	require.Positive(t, n)

	_, err := pool.Exec(ctx, `UPDATE refresh_kinds SET target_age_seconds = 1;
UPDATE nftsync_migration_file SET sha256 = 'old' WHERE name = 'catalog.sql';`)
	require.NoError(t, err)
	res, err := migrations.Up(ctx, pool, logger)
	require.NoError(t, err)
	require.Equal(t, []string{migrations.CatalogFile}, res.Files)
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM refresh_kinds WHERE target_age_seconds = 1`).Scan(&n))
	require.Zero(t, n)

	// A name outside the catalogue is refused by the foreign keys and the
	// trigger on indexer_sources.kinds.
	_, err = pool.Exec(ctx, `INSERT INTO indexer_sources (source, kinds, default_kinds) VALUES ('x', '{volume,bogus}', '{}')`)
	require.ErrorContains(t, err, `unknown refresh kind 'bogus'`)
	_, err = pool.Exec(ctx, `INSERT INTO collections (source, slug) VALUES ('opensea', 'c');
INSERT INTO collection_schedules (collection_id, kind, interval_seconds) SELECT id, 'bogus', 60 FROM collections`)
	require.ErrorContains(t, err, "collection_schedules_kind_fkey")
}

func TestCheck(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, dbtest.EmptyDatabase(t))
	require.NoError(t, err)
	defer pool.Close()

	p, err := migrations.Check(ctx, pool)
	require.NoError(t, err)
	require.True(t, p.Behind())
	all, err := migrations.All()
	require.NoError(t, err)
	require.Len(t, p.Ours, len(all), "a database never migrated has everything pending")
	require.NotEmpty(t, p.River)
	require.Contains(t, p.String(), "nftsync 0001_schema")
	require.Contains(t, p.String(), "changed functions.sql, catalog.sql")

	_, err = migrations.Up(ctx, pool, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	p, err = migrations.Check(ctx, pool)
	require.NoError(t, err)
	require.False(t, p.Behind(), "pending after Up: %s", p)
}

// migrated is a new database with every migration applied, and the logger
// to run them again with.
func migrated(t *testing.T) (context.Context, *pgxpool.Pool, *slog.Logger) {
	t.Helper()
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, dbtest.EmptyDatabase(t))
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	logger := slog.New(slog.DiscardHandler)
	_, err = migrations.Up(ctx, pool, logger)
	require.NoError(t, err)
	return ctx, pool, logger
}
