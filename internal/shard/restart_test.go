package shard_test

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/nftsync/nftsync/internal/pgcluster"
	"github.com/nftsync/nftsync/migrations"
)

// TestDatabaseRestart: while PostgreSQL is down no replica can renew, so
// each gives its shards up before the leases could lapse; when the server
// is back on the same address they take them again and share them as
// before, without being restarted.
func TestDatabaseRestart(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	dir := filepath.Join(t.TempDir(), "pg")
	cl, err := pgcluster.Start(ctx, pgcluster.Options{Dir: dir, Fast: true, Logger: quiet})
	if err != nil && os.Getenv("CI") == "" {
		t.Skipf("no private PostgreSQL for this test: %v", err)
	}
	require.NoError(t, err)
	t.Cleanup(func() { _ = cl.Stop(context.Background()) })
	require.NoError(t, cl.CreateDatabase(ctx, "nftsync"))
	url := cl.DSN("nftsync")
	pool, err := pgxpool.New(ctx, url)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	_, err = migrations.Up(ctx, pool, quiet)
	require.NoError(t, err)

	a := start(t, url, "a", 6, 0)
	b := start(t, url, "b", 6, 0)
	watchDisjoint(t, func() []*replica { return []*replica{a, b} })
	names := map[*replica]string{a: "a", b: "b"}
	balanced(t, pool, 6, map[*replica]int{a: 3, b: 3}, names)

	require.NoError(t, cl.Stop(ctx))
	require.Eventually(t, func() bool { return len(a.m.Owned()) == 0 && len(b.m.Owned()) == 0 }, wait, poll,
		"replicas still serve shards they cannot renew")

	cl, err = pgcluster.Start(ctx, pgcluster.Options{Dir: dir, Fast: true, Logger: quiet})
	require.NoError(t, err)
	require.Equal(t, url, cl.DSN("nftsync"), "same address after restart")
	balanced(t, pool, 6, map[*replica]int{a: 3, b: 3}, names)
}
