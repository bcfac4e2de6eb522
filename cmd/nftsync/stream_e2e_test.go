package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/nftsync/nftsync/db/dbtest"
	"github.com/nftsync/nftsync/internal/indexersim"
)

// streamOwners returns the owner of each live collection stream.
func streamOwners(t *testing.T, pool *pgxpool.Pool) map[int64]string {
	t.Helper()
	rows, err := pool.Query(context.Background(), `SELECT collection_id, owner FROM collection_streams WHERE state = 'live'`)
	require.NoError(t, err)
	defer rows.Close()
	out := map[int64]string{}
	for rows.Next() {
		var id int64
		var owner string
		require.NoError(t, rows.Scan(&id, &owner))
		out[id] = owner
	}
	require.NoError(t, rows.Err())
	return out
}

// TestStreamReplicaKilled: two worker processes share the stream's shards;
// kill -9 of one leaves its leases unrenewed, and the other takes its
// collections over within about 30 s (lease TTL 20 s, renewal 5 s, the
// defaults): their topics are joined there, their books bootstrapped, and
// their floors stored again as opensea:stream. A clean stop (SIGTERM)
// marks the survivor's collections down.
func TestStreamReplicaKilled(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dbURL := dbtest.NewDatabase(t)
	cfg := indexersim.Config{Seed: 184, Collections: 8, MinTokens: 50, MaxTokens: 50}
	cfg.Market.ListingsPerMinute = 30
	sim, err := indexersim.Start(ctx, "127.0.0.1:0", cfg, quietLogger())
	require.NoError(t, err)
	defer sim.Close()
	r := newReplicas(t, "DATABASE_URL="+dbURL, "NFTSYNC_OPENSEA_URL="+sim.URL, "NFTSYNC_LOG_LEVEL=warn",
		"NFTSYNC_STREAM=on", "NFTSYNC_STREAM_URL=ws"+strings.TrimPrefix(sim.URL, "http")+"/socket/websocket",
		"NFTSYNC_STREAM_SHARDS=8", "NFTSYNC_OPENSEA_RATE=100/s",
		// Only the stream and the floor refreshes matter here.
		"NFTSYNC_WORKERS_TOKENS=0", "NFTSYNC_WORKERS_TRAITS=0", "NFTSYNC_WORKERS_RARITY=0", "NFTSYNC_WORKERS_METADATA=0")
	r.cli(append([]string{"collections", "add"}, sim.Server.Slugs()...)...)
	r.start("w1")
	r.start("w2")
	pool, err := pgxpool.New(ctx, dbURL)
	require.NoError(t, err)
	defer pool.Close()

	// Both replicas serve some collections.
	require.Eventually(t, func() bool {
		owners := streamOwners(t, pool)
		by := map[string]int{}
		for _, o := range owners {
			by[o]++
		}
		return len(owners) == 8 && by["w1"] > 0 && by["w2"] > 0
	}, 90*time.Second, 200*time.Millisecond, "both replicas stream some of the 8 collections")
	var lost []int64
	for id, o := range streamOwners(t, pool) {
		if o == "w1" {
			lost = append(lost, id)
		}
	}
	r.kill("w1")
	killed := time.Now()
	require.Eventually(t, func() bool {
		owners := streamOwners(t, pool)
		for _, id := range lost {
			if owners[id] != "w2" {
				return false
			}
		}
		return true
	}, 60*time.Second, 200*time.Millisecond, "w2 takes over the collections of the killed w1")
	took := time.Since(killed)
	t.Logf("w2 streams w1's %d collections %s after the kill", len(lost), took.Round(100*time.Millisecond))
	require.Less(t, took, 45*time.Second, "taken over within about 30 s")
	// Their floors flow again from w2: a stream floor stored after the
	// takeover (the bootstrap's, then the events').
	require.Eventually(t, func() bool {
		var n int
		err := pool.QueryRow(ctx, `SELECT count(*) FROM floor_price_latest WHERE source = 'opensea:stream'
			AND collection_id = ANY($1) AND last_seen_at > $2`, lost, killed).Scan(&n)
		return err == nil && n == len(lost)
	}, 30*time.Second, 200*time.Millisecond, "floors of the taken-over collections are stored again")

	r.stopAll()
	var live int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM collection_streams WHERE state = 'live'`).Scan(&live))
	require.Zero(t, live, "a stopped replica marks its collections down (they are polled until another takes them)")
}
