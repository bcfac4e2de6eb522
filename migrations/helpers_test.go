package migrations_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/nftsync/nftsync/db/dbtest"
	"github.com/nftsync/nftsync/migrations"
)

// migratedUpTo gives a pool on a fresh database with our migrations up to
// and including version applied (and recorded), River's not at all: the
// schema an older release left, for tests of what a later migration does
// with existing rows.
func migratedUpTo(t *testing.T, version int) *pgxpool.Pool {
	t.Helper()
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, dbtest.EmptyDatabase(t))
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	all, err := migrations.All()
	require.NoError(t, err)
	for _, m := range all {
		if m.Version > version {
			break
		}
		_, err := pool.Exec(ctx, m.SQL)
		require.NoError(t, err, m.Name)
		_, err = pool.Exec(ctx, `INSERT INTO nftsync_migration (version, name) VALUES ($1, $2)`, m.Version, m.Name)
		require.NoError(t, err)
	}
	return pool
}
