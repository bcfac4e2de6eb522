package main

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/nftsync/nftsync/db/dbtest"
	"github.com/nftsync/nftsync/internal/indexersim"
)

// TestKilledDuringTraitFetch: kill -9 the only worker while it fetches
// traits (the simulator's default: no traits in list answers). A new worker
// resumes: it calls the single-NFT endpoint exactly once for every token
// that was not stored when the first one died, never for a stored one, and
// every collection ends with all traits and rarity equal to the truth. The
// single-NFT path (NFTSYNC_TRAITS_BATCH_SIZE=1) lets the simulator count
// calls per token; the batch path stores its steps the same way.
func TestKilledDuringTraitFetch(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dbURL := dbtest.NewDatabase(t)
	cfg := indexersim.Config{Seed: 31, Collections: 2, MinTokens: 800, MaxTokens: 800, Latency: 5 * time.Millisecond}
	sim, err := indexersim.Start(ctx, "127.0.0.1:0", cfg, quietLogger())
	require.NoError(t, err)
	defer sim.Close()
	r := newReplicas(t, append(fastRecovery(), "DATABASE_URL="+dbURL, "NFTSYNC_OPENSEA_URL="+sim.URL,
		"NFTSYNC_LOG_LEVEL=warn", "NFTSYNC_TRAITS_BATCH=20", "NFTSYNC_TRAITS_BATCH_SIZE=1", "NFTSYNC_REFRESH_TOKENS=1h")...)
	r.cli(append([]string{"collections", "add"}, sim.Server.Slugs()...)...)
	// Its sessions are named, to see when the last one is gone after the kill.
	r.start("w1", "DATABASE_URL="+dbURL+"&application_name=killed-w1")
	pool, err := pgxpool.New(ctx, dbURL)
	require.NoError(t, err)
	defer pool.Close()

	total := int64(2 * 800)
	storedTraits := func() int64 {
		var n int64
		require.NoError(t, pool.QueryRow(ctx, "SELECT count(*) FROM tokens WHERE traits_checked_at IS NOT NULL").Scan(&n))
		return n
	}
	deadline := time.Now().Add(2 * time.Minute)
	for storedTraits() < 300 {
		require.True(t, time.Now().Before(deadline), "trait fetch did not start")
		time.Sleep(50 * time.Millisecond)
	}
	r.kill("w1")
	// Commits in flight land before the server ends the dead worker's
	// sessions: wait until none is left.
	require.Eventually(t, func() bool {
		var n int
		require.NoError(t, pool.QueryRow(ctx, "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'killed-w1'").Scan(&n))
		return n == 0
	}, time.Minute, 10*time.Millisecond, "the killed worker's sessions end")
	stored := storedTraits()
	require.Less(t, stored, total, "killed mid fetch")
	callsAtKill := sim.Server.Stats().ByEndpoint[indexersim.EndpointNFT]
	require.GreaterOrEqual(t, callsAtKill, stored)

	r.start("w2")
	waitComplete(t, pool, sim.Server, 2, 3*time.Minute)
	r.stopAll()
	after := sim.Server.Stats().ByEndpoint[indexersim.EndpointNFT] - callsAtKill
	require.Equal(t, total-stored, after, "after the crash only tokens not yet stored are fetched, each once")
	t.Logf("killed with %d of %d tokens' traits stored after %d calls (%d lost in flight); the restart made %d calls",
		stored, total, callsAtKill, callsAtKill-stored, after)
	for _, slug := range sim.Server.Slugs() {
		requireTraitsAndRanksMatchTruth(t, pool, sim.Server, slug)
	}
}
