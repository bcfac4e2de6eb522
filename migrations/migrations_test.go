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

	pool, err := pgxpool.New(ctx, url)
	require.NoError(t, err)
	defer pool.Close()
	res, err := migrations.Up(ctx, pool, logger)
	require.NoError(t, err)
	require.Empty(t, res.Ours)
	require.Empty(t, res.River)
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
	require.Contains(t, p.String(), "nftsync 0001_migrations_table")

	_, err = migrations.Up(ctx, pool, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	p, err = migrations.Check(ctx, pool)
	require.NoError(t, err)
	require.False(t, p.Behind(), "pending after Up: %s", p)
}
