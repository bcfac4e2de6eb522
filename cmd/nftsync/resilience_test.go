package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/nftsync/nftsync/db"
	"github.com/nftsync/nftsync/db/dbtest"
	"github.com/nftsync/nftsync/internal/indexersim"
	"github.com/nftsync/nftsync/internal/pgcluster"
)

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// verifyTruth checks that what is stored is exactly what the simulator
// serves: every token, every trait, nothing invalid, and no data-quality
// event without a message.
func verifyTruth(t testing.TB, pool *pgxpool.Pool, sim *indexersim.Server) {
	t.Helper()
	ctx := context.Background()
	q := db.New(pool)
	for _, slug := range sim.Slugs() {
		info, _ := sim.Collection(slug)
		id := mustCollectionID(t, pool, slug)
		n, err := q.TokenCount(ctx, id)
		require.NoError(t, err)
		require.Equal(t, int64(info.TokenCount), n, slug)
		want := 0
		for i := range info.TokenCount {
			traits, ok := sim.Token(slug, strconv.Itoa(info.FirstTokenID+i))
			require.True(t, ok)
			want += len(traits)
		}
		traits, err := q.TokenTraitCount(ctx, id)
		require.NoError(t, err)
		require.Equal(t, int64(want), traits, slug)
		events, err := q.DataQualityEventList(ctx, pgInt8(id))
		require.NoError(t, err)
		for _, e := range events {
			require.NotEmpty(t, e.Message)
		}
	}
}

// simulated collections of a fixed size make the amount of work predictable.
func simFixed(seed int64, collections, tokens int) indexersim.Config {
	return indexersim.Config{Seed: seed, Collections: collections, MinTokens: tokens, MaxTokens: tokens, ListTraits: true}
}

// fastRecovery is the worker configuration of the crash tests: short job
// timeouts and rescue so that a lost job comes back within seconds.
func fastRecovery() []string {
	return []string{
		"NFTSYNC_OPENSEA_RATE=200/s", "NFTSYNC_PLAN_INTERVAL=1s",
		"NFTSYNC_JOB_TIMEOUT=4s", "NFTSYNC_HTTP_TIMEOUT=2s", "NFTSYNC_TOKEN_SYNC_BUDGET=1s",
		"NFTSYNC_RESCUE_AFTER=14s", "NFTSYNC_RETRY_MAX=2s",
	}
}

// TestKilledReplica: kill -9 one of three replicas mid-run. River's rescuer
// retries its jobs; every collection still completes, with no duplicates.
func TestKilledReplica(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dbURL := dbtest.NewDatabase(t)
	cfg := simFixed(22, 8, 3000)
	cfg.Latency = 20 * time.Millisecond // long enough jobs to die mid-flight
	sim, err := indexersim.Start(ctx, "127.0.0.1:0", cfg, quietLogger())
	require.NoError(t, err)
	defer sim.Close()
	r := newReplicas(t, append(fastRecovery(), "DATABASE_URL="+dbURL, "NFTSYNC_OPENSEA_URL="+sim.URL, "NFTSYNC_LOG_LEVEL=warn")...)
	r.cli(append([]string{"collections", "add"}, sim.Server.Slugs()...)...)
	for i := range 3 {
		r.start(fmt.Sprintf("w%d", i+1))
	}
	pool, err := pgxpool.New(ctx, dbURL)
	require.NoError(t, err)
	defer pool.Close()
	// Kill w1 while it holds running jobs.
	waitRunningOn(t, pool, "w1", 30*time.Second)
	r.kill("w1")

	waitComplete(t, pool, sim.Server, 8, 3*time.Minute)
	r.stopAll()
	verifyTruth(t, pool, sim.Server)
	jobs, err := db.New(pool).JobListByKinds(ctx, []string{"fetch_floor_price", "fetch_volume", "fetch_collection_metadata", "sync_tokens", "compute_rarity"})
	require.NoError(t, err)
	for _, j := range jobs {
		require.NotEqual(t, "discarded", j.State, "job %d %s", j.ID, j.Kind)
	}
}

func waitRunningOn(t *testing.T, pool *pgxpool.Pool, worker string, deadline time.Duration) {
	t.Helper()
	for start := time.Now(); time.Since(start) < deadline; time.Sleep(100 * time.Millisecond) {
		jobs, err := db.New(pool).JobListByKinds(context.Background(), []string{"sync_tokens"})
		require.NoError(t, err)
		for _, j := range jobs {
			if j.State == "running" && len(j.AttemptedBy) > 0 && j.AttemptedBy[len(j.AttemptedBy)-1] == worker {
				return
			}
		}
	}
	t.Fatalf("no job running on %s within %s", worker, deadline)
}

// TestPostgresRestart: the database goes away mid-run and comes back on the
// same address. Workers recover without being restarted; nothing is lost.
func TestPostgresRestart(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "pg")
	cl, err := pgcluster.Start(ctx, pgcluster.Options{Dir: dir, Fast: true, Logger: quietLogger()})
	if err != nil && os.Getenv("CI") == "" {
		t.Skipf("no private PostgreSQL for this test: %v", err)
	}
	require.NoError(t, err)
	t.Cleanup(func() { _ = cl.Stop(context.Background()) })
	require.NoError(t, cl.CreateDatabase(ctx, "nftsync"))
	dbURL := cl.DSN("nftsync")

	cfg := simFixed(23, 6, 3000)
	cfg.Latency = 10 * time.Millisecond
	sim, err := indexersim.Start(ctx, "127.0.0.1:0", cfg, quietLogger())
	require.NoError(t, err)
	defer sim.Close()
	r := newReplicas(t, append(fastRecovery(), "DATABASE_URL="+dbURL, "NFTSYNC_OPENSEA_URL="+sim.URL, "NFTSYNC_LOG_LEVEL=error")...)
	r.cli("migrate") // a fresh database: collections add only checks the schema
	r.cli(append([]string{"collections", "add"}, sim.Server.Slugs()...)...)
	r.start("w1")
	r.start("w2")

	pool, err := pgxpool.New(ctx, dbURL)
	require.NoError(t, err)
	defer pool.Close()
	waitRunningOn(t, pool, "w1", 30*time.Second)
	before := map[string]int{"w1": r.output("w1"), "w2": r.output("w2")}
	require.NoError(t, cl.Stop(ctx))
	// The database stays away until both workers have hit the outage (each
	// logged an error: the log level is error).
	require.Eventually(t, func() bool { return r.output("w1") > before["w1"] && r.output("w2") > before["w2"] },
		time.Minute, 50*time.Millisecond, "workers notice the outage")
	cl, err = pgcluster.Start(ctx, pgcluster.Options{Dir: dir, Fast: true, Logger: quietLogger()})
	require.NoError(t, err)
	require.Equal(t, dbURL, cl.DSN("nftsync"), "same address after restart")

	waitComplete(t, pool, sim.Server, 6, 3*time.Minute)
	r.stopAll()
	verifyTruth(t, pool, sim.Server)
}

// TestAllFaultModes: latency, 5xx, 429 storms, timeouts, malformed and
// oversize bodies all at once. Every collection still completes with exactly
// the simulator's data, no invalid row is stored, and every failure is
// explained in a job error or a data-quality event.
func TestAllFaultModes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dbURL := dbtest.NewDatabase(t)
	cfg := simFixed(24, 6, 1000)
	cfg.Latency = 2 * time.Millisecond
	cfg.ErrorRate = 0.05
	cfg.StormEvery, cfg.StormDuration = 7*time.Second, time.Second
	cfg.TimeoutRate = 0.02
	cfg.MalformedRate = 0.05
	cfg.OversizeRate = 0.01
	cfg.OversizeBytes = 9 << 20 // just over the client's 8 MiB limit
	sim, err := indexersim.Start(ctx, "127.0.0.1:0", cfg, quietLogger())
	require.NoError(t, err)
	defer sim.Close()
	r := newReplicas(t,
		"DATABASE_URL="+dbURL, "NFTSYNC_OPENSEA_URL="+sim.URL, "NFTSYNC_LOG_LEVEL=error",
		"NFTSYNC_OPENSEA_RATE=200/s", "NFTSYNC_PLAN_INTERVAL=1s",
		"NFTSYNC_JOB_TIMEOUT=10s", "NFTSYNC_HTTP_TIMEOUT=1s", "NFTSYNC_TOKEN_SYNC_BUDGET=2s",
		"NFTSYNC_RESCUE_AFTER=20s", "NFTSYNC_RETRY_BASE=100ms", "NFTSYNC_RETRY_MAX=1s",
	)
	r.cli(append([]string{"collections", "add"}, sim.Server.Slugs()...)...)
	r.start("w1")
	r.start("w2")
	pool, err := pgxpool.New(ctx, dbURL)
	require.NoError(t, err)
	defer pool.Close()
	waitComplete(t, pool, sim.Server, 6, 4*time.Minute)
	r.stopAll()
	verifyTruth(t, pool, sim.Server)

	st := sim.Server.Stats()
	t.Logf("simulator: %d requests, faults %v, throttled %d", st.Requests, st.Faults, st.Throttled)
	var faults int64
	for _, n := range st.Faults {
		faults += n
	}
	require.Positive(t, faults)

	// Every malformed answer that reached a worker left an event; every
	// failed attempt left a job error.
	var events int
	for _, slug := range sim.Server.Slugs() {
		ev, err := db.New(pool).DataQualityEventList(ctx, pgInt8(mustCollectionID(t, pool, slug)))
		require.NoError(t, err)
		events += len(ev)
	}
	malformed := st.Faults[indexersim.FaultMalformedTruncate] + st.Faults[indexersim.FaultMalformedSyntax] +
		st.Faults[indexersim.FaultMalformedType] + st.Faults[indexersim.FaultMalformedNegative] + st.Faults[indexersim.FaultOversize]
	require.Positive(t, events)
	require.LessOrEqual(t, int64(events), malformed, "no event without a malformed answer")
	counts, err := db.New(pool).JobErrorSummary(ctx)
	require.NoError(t, err)
	require.Positive(t, counts.WithErrors, "failed attempts are recorded on the jobs")
	require.Zero(t, counts.ErrorsWithoutText)
}
