package main

import (
	"bytes"
	"context"
	"io"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/nftsync/nftsync/db"
	"github.com/nftsync/nftsync/db/dbtest"
	"github.com/nftsync/nftsync/internal/ratelimit"
)

func TestRunUsage(t *testing.T) {
	t.Parallel()
	var out, errOut bytes.Buffer
	require.NoError(t, run(context.Background(), []string{"help"}, envOf(nil), &out, &errOut))
	require.Contains(t, out.String(), "Usage: nftsync <command>")

	out.Reset()
	err := run(context.Background(), []string{"frobnicate"}, envOf(nil), &out, &errOut)
	require.ErrorContains(t, err, `unknown command "frobnicate"`)
	require.Contains(t, errOut.String(), "Usage:")
}

func TestRunNeedsDatabaseURL(t *testing.T) {
	t.Parallel()
	var out, errOut bytes.Buffer
	err := run(context.Background(), []string{"worker"}, envOf(nil), &out, &errOut)
	require.ErrorContains(t, err, "DATABASE_URL is not set")
}

func TestCollectionsCommands(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	env := envOf(map[string]string{"DATABASE_URL": dbtest.NewDatabase(t), "NFTSYNC_LOG_LEVEL": "error", "NFTSYNC_API_REFRESH_COOLDOWN": "0"})
	cli := func(args ...string) (string, error) {
		var out, errOut bytes.Buffer
		err := run(ctx, args, env, &out, &errOut)
		return out.String(), err
	}

	out, err := cli("collections", "add", "-priority", "1", "alpha", "beta")
	require.NoError(t, err)
	require.Contains(t, out, "tracking alpha")

	out, err = cli("collections", "refresh", "alpha")
	require.NoError(t, err)
	require.Contains(t, out, "alpha: 4 refresh jobs enqueued")
	out, err = cli("collections", "refresh", "alpha")
	require.NoError(t, err)
	require.Contains(t, out, "alpha: 0 refresh jobs enqueued", "pending kinds are not doubled")

	_, err = cli("collections", "refresh", "gamma")
	require.ErrorContains(t, err, `collection "gamma" is not tracked`)

	pool, err := pgxpool.New(ctx, env("DATABASE_URL"))
	require.NoError(t, err)
	defer pool.Close()
	q := db.New(pool)
	beta := mustCollectionID(t, pool, "beta")
	require.NoError(t, q.CollectionSetStatus(ctx, db.CollectionSetStatusParams{ID: beta, Status: "failed", StatusReason: "fetch stats beta: permanent (HTTP 404)"}))
	out, err = cli("collections", "resume", "beta")
	require.NoError(t, err)
	require.Contains(t, out, "beta: active again (was failed: fetch stats beta: permanent (HTTP 404))")
	c, err := q.CollectionGetByID(ctx, beta)
	require.NoError(t, err)
	require.Equal(t, "active", c.Status)

	out, err = cli("collections", "list")
	require.NoError(t, err)
	require.Contains(t, out, "alpha")
	require.Contains(t, out, "beta")

	_, err = cli("collections", "add", "-priority", "9", "x")
	require.ErrorContains(t, err, "-priority 9")
}

// Only migrate, worker, dev (and api) apply migrations; the other commands
// check the schema version, change nothing, and say what to run.
func TestSchemaCheckedNotMigrated(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := dbtest.EmptyDatabase(t)
	env := envOf(map[string]string{"DATABASE_URL": url, "NFTSYNC_LOG_LEVEL": "error"})
	cli := func(args ...string) (string, error) {
		var out bytes.Buffer
		err := run(ctx, args, env, &out, io.Discard)
		return out.String(), err
	}
	pool, err := pgxpool.New(ctx, url)
	require.NoError(t, err)
	defer pool.Close()
	tables := func() int {
		var n int
		require.NoError(t, pool.QueryRow(ctx, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").Scan(&n))
		return n
	}

	for _, args := range [][]string{{"collections", "list"}, {"collections", "add", "alpha"}, {"collections", "refresh", "alpha"}} {
		_, err := cli(args...)
		require.ErrorContains(t, err, "run `nftsync migrate` first", "%v", args)
		require.ErrorContains(t, err, "0001_schema", "%v names what is missing", args)
	}
	require.Zero(t, tables(), "a read-only command created tables")

	out, err := cli("migrate")
	require.NoError(t, err)
	require.Contains(t, out, "migrations are up to date")
	out, err = cli("collections", "list")
	require.NoError(t, err)
	require.Contains(t, out, "SLUG")
}

// With every API key rejected, `collections list` says so for the
// collections of that source instead of leaving their snoozing jobs silent.
func TestCollectionsListShowsNoUsableKey(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := dbtest.NewDatabase(t)
	env := envOf(map[string]string{"DATABASE_URL": url, "NFTSYNC_LOG_LEVEL": "error"})
	list := func() string {
		var out bytes.Buffer
		require.NoError(t, run(ctx, []string{"collections", "list"}, env, &out, io.Discard))
		return out.String()
	}
	require.NoError(t, run(ctx, []string{"collections", "add", "alpha"}, env, io.Discard, io.Discard))
	pool, err := pgxpool.New(ctx, url)
	require.NoError(t, err)
	defer pool.Close()
	lim, err := ratelimit.New(pool, ratelimit.Options{})
	require.NoError(t, err)
	key := ratelimit.KeyFor("opensea", "revoked")
	require.NoError(t, lim.Ensure(ctx, []ratelimit.BucketConfig{{Key: key, Source: "opensea", Rate: 4, Burst: 4}}))

	out := list()
	require.Contains(t, out, "UPSTREAM")
	require.Regexp(t, `alpha\s+active\s+ok\s`, out)

	require.NoError(t, lim.RejectKey(ctx, "opensea", key, 401))
	require.Regexp(t, `alpha\s+active\s+no usable key until \S+ \(1 of 1 rejected\)`, list())
}

// `collections list` shows each kind's age against its target and which
// kinds are stale, from the collection_freshness view.
func TestCollectionsListShowsFreshness(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := dbtest.NewDatabase(t)
	env := envOf(map[string]string{"DATABASE_URL": url, "NFTSYNC_LOG_LEVEL": "error"})
	require.NoError(t, run(ctx, []string{"collections", "add", "alpha"}, env, io.Discard, io.Discard))
	pool, err := pgxpool.New(ctx, url)
	require.NoError(t, err)
	defer pool.Close()
	q := db.New(pool)
	c, err := q.CollectionGetBySlug(ctx, db.CollectionGetBySlugParams{Source: "opensea", Slug: "alpha"})
	require.NoError(t, err)
	now := time.Now()
	for kind, age := range map[string]time.Duration{"floor_price": 90 * time.Second, "volume": 2 * time.Minute, "metadata": 26 * time.Hour} {
		require.NoError(t, q.ScheduleMarkSuccess(ctx, db.ScheduleMarkSuccessParams{At: now.Add(-age), CollectionID: c.ID, Kind: kind}))
	}
	var out bytes.Buffer
	require.NoError(t, run(ctx, []string{"collections", "list"}, env, &out, io.Discard))
	require.Contains(t, out.String(), "FLOOR  ")
	require.Regexp(t, `alpha\s+active\s+ok\s+1m3\ds/1m\s+polled\s+2m\d*s?/5m\s+26h\d*m?/24h\s+never/24h\s+floor_price,metadata,tokens\s`, out.String())

	// The collection's own targets: floor within 2 minutes, metadata 2 days.
	require.NoError(t, run(ctx, []string{"collections", "targets", "-floor-price", "2m", "-metadata", "48h", "alpha"}, env, io.Discard, io.Discard))
	out.Reset()
	require.NoError(t, run(ctx, []string{"collections", "list"}, env, &out, io.Discard))
	require.Regexp(t, `alpha\s+active\s+ok\s+1m3\ds/2m\s+polled\s+2m\d*s?/5m\s+26h\d*m?/48h\s+never/24h\s+tokens\s`, out.String())
	require.NoError(t, run(ctx, []string{"collections", "targets", "-reset", "alpha"}, env, io.Discard, io.Discard))
	out.Reset()
	require.NoError(t, run(ctx, []string{"collections", "list"}, env, &out, io.Discard))
	require.Regexp(t, `alpha\s+active\s+ok\s+1m3\ds/1m\s`, out.String())
	err = run(ctx, []string{"collections", "targets", "-volume", "0s", "alpha"}, env, io.Discard, io.Discard)
	require.ErrorContains(t, err, "give at least one kind")
}
