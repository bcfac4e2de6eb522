package main

import (
	"github.com/nftsync/nftsync/internal/cli"

	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/nftsync/nftsync/db"
	"github.com/nftsync/nftsync/db/dbtest"
	"github.com/nftsync/nftsync/internal/indexersim"
	"github.com/nftsync/nftsync/internal/rarity"
)

// waitComplete polls until every collection has a floor, a volume, metadata
// and all of its simulated tokens, or the deadline passes.
func waitComplete(t testing.TB, pool *pgxpool.Pool, sim *indexersim.Server, want int, deadline time.Duration) {
	t.Helper()
	ctx := context.Background()
	var last string
	for start := time.Now(); time.Since(start) < deadline; time.Sleep(500 * time.Millisecond) {
		rows, err := db.New(pool).CollectionProgress(ctx)
		require.NoError(t, err)
		complete := 0
		for _, r := range rows {
			info, ok := sim.Collection(r.Slug)
			require.True(t, ok, r.Slug)
			if cli.CollectionComplete(r, int64(info.TokenCount)) {
				complete++
			}
		}
		last = fmt.Sprintf("%d of %d complete: %+v", complete, len(rows), rows)
		if len(rows) == want && complete == want {
			return
		}
	}
	t.Fatalf("collections not complete within %s: %s", deadline, last)
}

// TestDevEndToEnd runs `nftsync dev` in-process against a fresh database:
// simulator (with its defaults: no traits in list answers), migrations and a
// started River client. Every simulated collection must get floor, volume,
// metadata, all tokens, every token's traits (batch calls) and
// a rarity run whose ranks equal those computed from the simulator's own
// ground truth.
func TestDevEndToEnd(t *testing.T) {
	t.Parallel()
	dbURL := dbtest.NewDatabase(t)
	env := map[string]string{
		"DATABASE_URL":            dbURL,
		"NFTSYNC_SIM_COLLECTIONS": "4",
		"NFTSYNC_SIM_SEED":        "11",
		"NFTSYNC_SIM_MIN_TOKENS":  "150",
		"NFTSYNC_SIM_MAX_TOKENS":  "600",
		"NFTSYNC_SIM_RATE":        "400",
		"NFTSYNC_PLAN_INTERVAL":   "1s",
		"NFTSYNC_LOG_LEVEL":       "info",
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, logs bytes.Buffer
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"dev"}, envOf(env), &out, &logs) }()

	// The same seed gives the same collections: the truth to compare with.
	truth, err := indexersim.New(indexersim.Config{Seed: 11, Collections: 4, MinTokens: 150, MaxTokens: 600}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	require.NoError(t, err)
	pool, err := pgxpool.New(context.Background(), dbURL)
	require.NoError(t, err)
	defer pool.Close()
	waitForMigrations(t, pool)
	waitComplete(t, pool, truth, 4, 4*time.Minute)
	// dev streams the simulator's market: every collection gets a live floor.
	require.Eventually(t, func() bool {
		var streamed int
		err := pool.QueryRow(context.Background(), `SELECT count(*) FROM floor_price_latest WHERE source = 'opensea:stream'`).Scan(&streamed)
		return err == nil && streamed == 4
	}, time.Minute, 100*time.Millisecond, "every collection has a stream floor")
	time.Sleep(11 * time.Second) // one progress report with the stream line

	cancel()
	select {
	case err := <-done:
		require.NoError(t, err, "logs:\n%s", logs.String())
	case <-time.After(time.Minute):
		t.Fatal("dev did not stop within a minute of cancellation")
	}
	require.Contains(t, out.String(), "psql '"+dbURL+"'")
	// Our progress line is logged at INFO; River's periodic chatter is not.
	require.Contains(t, logs.String(), "msg=progress")
	require.NotContains(t, logs.String(), "Producer job counts")
	require.Contains(t, logs.String(), "msg=stream events_per_s=", "dev's progress line has the stream's figures")
	require.Contains(t, logs.String(), "audit_calls_per_collection_hour=", "the audits' spare-budget calls apart from the stream's own")

	withUnknown := 0
	for _, slug := range truth.Slugs() {
		if requireTraitsAndRanksMatchTruth(t, pool, truth, slug) > 0 {
			withUnknown++
		}
	}
	// Every collection got its rarity run (waitComplete), also those with
	// tokens whose traits the source does not know.
	require.Positive(t, withUnknown, "the default world has collections with tokens of unknown traits")
	jobs, err := db.New(pool).JobCountsByKindState(context.Background())
	require.NoError(t, err)
	completed := map[string]int64{}
	for _, j := range jobs {
		require.NotEqual(t, "discarded", j.State, "%s jobs discarded", j.Kind)
		if j.State == "completed" {
			completed[j.Kind] += j.Jobs
		}
	}
	for _, kind := range []string{"plan_refresh", "fetch_floor_price", "fetch_volume", "fetch_collection_metadata", "sync_tokens", "fetch_traits", "compute_rarity"} {
		require.Positive(t, completed[kind], kind)
	}
}

// requireTraitsAndRanksMatchTruth checks a collection's stored traits
// against the simulator's and its OpenRarity ranks against those computed
// from the simulator's traits of the tokens whose traits it knows (the
// others are unranked and counted on the run). It returns how many tokens'
// traits the simulator does not know.
func requireTraitsAndRanksMatchTruth(t testing.TB, pool *pgxpool.Pool, truth *indexersim.Server, slug string) (unknown int) {
	t.Helper()
	ctx := context.Background()
	info, _ := truth.Collection(slug)
	id := mustCollectionID(t, pool, slug)
	stored := map[string][]string{}
	rows, err := pool.Query(ctx, "SELECT token_id, trait_type, value_text FROM token_traits WHERE collection_id = $1 ORDER BY token_id, ordinal", id)
	require.NoError(t, err)
	for rows.Next() {
		var tok, name, value string
		require.NoError(t, rows.Scan(&tok, &name, &value))
		stored[tok] = append(stored[tok], name+"="+value)
	}
	rows.Close()
	require.NoError(t, rows.Err())

	input := make([]rarity.Token, 0, info.TokenCount)
	unknown = 0
	for i := range info.TokenCount {
		tokenID := strconv.Itoa(info.FirstTokenID + i)
		traits, ok := truth.Token(slug, tokenID)
		require.True(t, ok)
		if traits == nil { // the source does not know them: stored as unknown, unranked
			require.Empty(t, stored[tokenID], "%s token %s", slug, tokenID)
			unknown++
			continue
		}
		var want []string
		tok := rarity.Token{ID: tokenID, Standard: "erc721"}
		for _, tr := range traits {
			want = append(want, tr.Type+"="+tr.Value)
			tok.Attributes = append(tok.Attributes, rarity.Attribute{Name: tr.Type, Value: tr.Value, DisplayType: tr.DisplayType, Numeric: tr.Numeric})
		}
		require.Equal(t, want, stored[tokenID], "%s token %s", slug, tokenID)
		input = append(input, tok)
	}
	res, err := rarity.Compute(input, rarity.Options{Method: rarity.OpenRarity})
	require.NoError(t, err)
	got, err := db.New(pool).TokenRarityList(ctx, db.TokenRarityListParams{CollectionID: id, Method: string(rarity.OpenRarity)})
	require.NoError(t, err)
	require.Len(t, got, info.TokenCount-unknown, slug)
	run, err := db.New(pool).RarityRunGet(ctx, db.RarityRunGetParams{CollectionID: id, Method: string(rarity.OpenRarity)})
	require.NoError(t, err)
	require.Equal(t, int32(unknown), run.UnknownCount, slug)
	ranks := make(map[string]int32, len(got))
	for _, r := range got {
		ranks[r.TokenID] = r.Rank
	}
	for _, r := range res.Tokens {
		require.Equal(t, int32(r.Rank), ranks[r.ID], "%s token %s rank", slug, r.ID)
	}
	return unknown
}

func waitForMigrations(t *testing.T, pool *pgxpool.Pool) {
	t.Helper()
	for start := time.Now(); time.Since(start) < time.Minute; time.Sleep(200 * time.Millisecond) {
		if _, err := db.New(pool).CollectionList(context.Background()); err == nil {
			return
		}
	}
	t.Fatal("schema not migrated within a minute")
}

func mustCollectionID(t testing.TB, pool *pgxpool.Pool, slug string) int64 {
	t.Helper()
	c, err := db.New(pool).CollectionGetBySlug(context.Background(), db.CollectionGetBySlugParams{Source: "opensea", Slug: slug})
	require.NoError(t, err)
	return c.ID
}

var (
	binOnce sync.Once
	binPath string
	binErr  error
)

// buildBinary builds the real nftsync binary once per test process.
func buildBinary(t testing.TB) string {
	t.Helper()
	binOnce.Do(func() {
		dir, err := os.MkdirTemp("", "nftsync-bin-")
		if err != nil {
			binErr = err
			return
		}
		binPath = filepath.Join(dir, "nftsync")
		cmd := exec.Command("go", "build", "-o", binPath, ".")
		cmd.Stderr = os.Stderr
		binErr = cmd.Run()
	})
	require.NoError(t, binErr, "build nftsync")
	return binPath
}

// TestThreeWorkerProcesses runs three real `nftsync worker` processes against
// one database and checks that every planned job ran exactly once (one job
// per collection, kind and tick, each completed on its first attempt) and
// that snapshots were not duplicated.
func TestThreeWorkerProcesses(t *testing.T) {
	t.Parallel()
	dbURL := dbtest.NewDatabase(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	simCfg := indexersim.Config{Seed: 5, Collections: 6, MinTokens: 300, MaxTokens: 1500, ListTraits: true}
	sim, err := indexersim.Start(ctx, "127.0.0.1:0", simCfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	require.NoError(t, err)
	defer sim.Close()

	r := newReplicas(t,
		"DATABASE_URL="+dbURL,
		"NFTSYNC_OPENSEA_URL="+sim.URL,
		"NFTSYNC_OPENSEA_RATE=500/s",
		"NFTSYNC_PLAN_INTERVAL=1s",
		"NFTSYNC_REFRESH_FLOOR_PRICE=3s",
		"NFTSYNC_REFRESH_VOLUME=4s",
		"NFTSYNC_LOG_LEVEL=warn",
	)
	r.cli(append([]string{"collections", "add"}, sim.Server.Slugs()...)...)
	for i := range 3 {
		r.start(fmt.Sprintf("w%d", i+1))
	}

	pool, err := pgxpool.New(context.Background(), dbURL)
	require.NoError(t, err)
	defer pool.Close()
	waitComplete(t, pool, sim.Server, len(sim.Server.Slugs()), 3*time.Minute)
	// A few more floor/volume ticks across replicas: every collection's
	// floor refreshed at least twice more.
	q := db.New(pool)
	require.Eventually(t, func() bool {
		list, err := q.JobListByKinds(context.Background(), []string{"fetch_floor_price"})
		require.NoError(t, err)
		done := 0
		for _, j := range list {
			if j.State == "completed" {
				done++
			}
		}
		return done >= 3*len(sim.Server.Slugs())
	}, 2*time.Minute, 100*time.Millisecond, "floor ticks across replicas")
	r.stopAll()

	jobs, err := q.JobListByKinds(context.Background(), []string{"fetch_floor_price", "fetch_volume", "fetch_collection_metadata", "sync_tokens"})
	require.NoError(t, err)
	seen := map[string]int64{}
	workers := map[string]bool{}
	perKind := map[string]int{}
	for _, j := range jobs {
		key := j.Kind + "/" + j.CollectionID + "/" + j.PlannedAt
		require.Zero(t, seen[key], "job %s planned twice (jobs %d and %d)", key, seen[key], j.ID)
		seen[key] = j.ID
		require.Contains(t, []string{"completed", "available"}, j.State, "job %d %s", j.ID, j.Kind)
		if j.State == "completed" {
			require.Equal(t, int16(1), j.Attempt, "job %d %s worked more than once", j.ID, j.Kind)
			workers[j.AttemptedBy[len(j.AttemptedBy)-1]] = true
		}
		perKind[j.Kind]++
	}
	require.Greater(t, perKind["fetch_floor_price"], len(sim.Server.Slugs()), "several floor ticks happened")
	require.GreaterOrEqual(t, len(workers), 2, "work was spread over replicas: %v", workers)

	// History: a floor row and a row per volume window at least, one new
	// row only when a value changed (never more than the upstream calls).
	stats := sim.Server.Stats()
	var floors int64
	for _, slug := range sim.Server.Slugs() {
		counts, err := q.SnapshotCounts(context.Background(), mustCollectionID(t, pool, slug))
		require.NoError(t, err)
		require.Positive(t, counts.Floors)
		require.GreaterOrEqual(t, counts.Volumes, int64(4), slug)
		floors += counts.Floors
	}
	require.LessOrEqual(t, floors, stats.ByEndpoint[indexersim.EndpointStats], "every history row comes from an upstream call")
	require.LessOrEqual(t, stats.ByEndpoint[indexersim.EndpointStats], int64(perKind["fetch_floor_price"]+perKind["fetch_volume"]))
}
