package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/nftsync/nftsync/db/dbtest"
	"github.com/nftsync/nftsync/internal/indexersim"
)

// TestBackfill tracks 20 simulated collections. The first run is
// interrupted before any worker runs: its jobs stay queued. A second run,
// with a worker up, enqueues nothing twice and follows the collections to
// completion with periodic progress lines.
func TestBackfill(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	sim, err := indexersim.Start(ctx, "127.0.0.1:0", indexersim.Config{Seed: 5, Collections: 24, MinTokens: 20, MaxTokens: 120}, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	t.Cleanup(func() { _ = sim.Close() })
	env := envOf(map[string]string{
		"DATABASE_URL":          dbtest.NewDatabase(t),
		"NFTSYNC_OPENSEA_URL":   sim.URL,
		"NFTSYNC_OPENSEA_RATE":  "200/s",
		"NFTSYNC_PLAN_INTERVAL": "1s",
		"NFTSYNC_LOG_LEVEL":     "error",
	})
	pool, err := pgxpool.New(ctx, env("DATABASE_URL"))
	require.NoError(t, err)
	t.Cleanup(pool.Close)

	// Usage errors name what is wrong.
	err = run(ctx, []string{"backfill"}, env, io.Discard, io.Discard)
	require.ErrorContains(t, err, "exactly one of --from-file FILE or --from-sim N")
	bad := filepath.Join(t.TempDir(), "bad.txt")
	require.NoError(t, os.WriteFile(bad, []byte("# slugs\nok-slug\nnot a slug\n"), 0o600))
	err = run(ctx, []string{"backfill", "--from-file", bad}, env, io.Discard, io.Discard)
	require.ErrorContains(t, err, `bad.txt:3: "not a slug" is not a collection slug`)
	err = run(ctx, []string{"backfill", "--from-sim", "99"}, env, io.Discard, io.Discard)
	require.ErrorContains(t, err, "the simulator has only 24 collections")

	// Run 1: no workers; interrupted while following.
	first := &syncBuffer{}
	ctx1, cancel1 := context.WithCancel(ctx)
	done1 := make(chan error, 1)
	go func() {
		done1 <- run(ctx1, []string{"backfill", "--from-sim", "20", "--log-every", "200ms"}, env, first, io.Discard)
	}()
	require.Eventually(t, func() bool { return bytes.Contains([]byte(first.String()), []byte("0/20 collections complete")) }, time.Minute, 50*time.Millisecond)
	cancel1()
	err = <-done1
	require.ErrorContains(t, err, "backfill interrupted with 0 of 20 collections done")
	require.Contains(t, first.String(), "20 collections tracked at bulk priority, 80 jobs enqueued")
	var queued, bulk int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*), count(*) FILTER (WHERE priority = 4) FROM river_job WHERE kind <> 'plan_refresh'`).Scan(&queued, &bulk))
	require.Equal(t, 80, queued)
	require.Equal(t, 80, bulk)

	// Run 2 with a worker: nothing enqueued twice, everything completes.
	wctx, stopWorker := context.WithCancel(ctx)
	workerDone := make(chan error, 1)
	go func() { workerDone <- run(wctx, []string{"worker"}, env, io.Discard, io.Discard) }()
	t.Cleanup(func() { stopWorker(); <-workerDone })
	second := &syncBuffer{}
	ctx2, cancel2 := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel2()
	require.NoError(t, run(ctx2, []string{"backfill", "--from-sim", "20", "--log-every", "500ms"}, env, second, io.Discard), second.String())
	out := second.String()
	require.Contains(t, out, "0 jobs enqueued")
	require.Contains(t, out, "20/20 collections complete, 0 failed")
	require.Contains(t, out, "backfill: done in")
	t.Log(out)

	var total int64
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM tokens`).Scan(&total))
	rows, err := pool.Query(ctx, `SELECT slug FROM collections`)
	require.NoError(t, err)
	var want int64
	for rows.Next() {
		var slug string
		require.NoError(t, rows.Scan(&slug))
		info, ok := sim.Server.Collection(slug)
		require.True(t, ok, slug)
		want += int64(info.TokenCount)
	}
	require.NoError(t, rows.Err())
	require.Equal(t, want, total, "every token of the 20 collections stored")

	// A third run finds everything complete and enqueues nothing.
	third := &syncBuffer{}
	require.NoError(t, run(ctx, []string{"backfill", "--from-sim", "20", "--no-wait"}, env, third, io.Discard))
	require.Contains(t, third.String(), "0 jobs enqueued, 20 already complete")
}
