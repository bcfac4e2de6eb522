package jobs_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/stretchr/testify/require"

	"github.com/nftsync/nftsync/db"
	"github.com/nftsync/nftsync/db/dbtest"
	"github.com/nftsync/nftsync/internal/indexer"
	"github.com/nftsync/nftsync/internal/indexer/opensea"
	"github.com/nftsync/nftsync/internal/indexersim"
	"github.com/nftsync/nftsync/jobs"
)

// TestStatsSingleFlightAcrossReplicas runs three River clients (replicas)
// whose floor and volume jobs are due in the same rounds and race for the
// same collections, and counts the upstream stats calls at the simulator:
// exactly one per collection and round.
func TestStatsSingleFlightAcrossReplicas(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := dbtest.DB(t)
	// Some latency keeps a call in flight while the other kind's job starts.
	sim, err := indexersim.New(indexersim.Config{Seed: 3, Collections: 6, MinTokens: 100, MaxTokens: 200, Latency: 40 * time.Millisecond}, discardLogger())
	require.NoError(t, err)
	srv := httptest.NewServer(sim.Handler())
	t.Cleanup(srv.Close)
	t.Cleanup(sim.Close)
	client, err := opensea.NewClient(srv.URL, &http.Client{Timeout: 5 * time.Second}, opensea.Options{})
	require.NoError(t, err)

	q := db.New(pool)
	for _, slug := range sim.Slugs() {
		c, err := q.CollectionUpsert(ctx, db.CollectionUpsertParams{Source: "opensea", Slug: slug, Chain: "ethereum", Priority: 2})
		require.NoError(t, err)
		for _, kind := range []string{jobs.KindFloorPrice, jobs.KindVolume} {
			require.NoError(t, q.ScheduleEnsure(ctx, db.ScheduleEnsureParams{CollectionID: c.ID, Kind: kind, EverySeconds: 2}))
		}
	}

	cfg := jobs.Config{
		MaxWorkers:   map[string]int{jobs.QueuePlanner: 1, jobs.QueueFloorPrice: 4, jobs.QueueVolume: 4},
		PlanInterval: time.Second,
	}
	deps := &jobs.Deps{DB: pool, Logger: discardLogger(), Indexers: map[string]indexer.Indexer{"opensea": client}}
	var clients []*river.Client[pgx.Tx]
	for i := range 3 {
		workers := river.NewWorkers()
		jobs.Register(workers, deps, cfg)
		rc, err := river.NewClient(riverpgxv5.New(pool), &river.Config{
			ID: fmt.Sprintf("replica-%d", i), Logger: discardLogger(), Queues: jobs.Queues(cfg), Workers: workers,
			PeriodicJobs: jobs.PeriodicJobs(cfg), FetchPollInterval: 100 * time.Millisecond,
		})
		require.NoError(t, err)
		require.NoError(t, rc.Start(ctx))
		clients = append(clients, rc)
	}
	time.Sleep(12 * time.Second)
	for _, rc := range clients {
		stopCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
		require.NoError(t, rc.Stop(stopCtx)) // running jobs finish
		cancel()
	}

	list, err := q.JobListByKinds(ctx, []string{"fetch_floor_price", "fetch_volume"})
	require.NoError(t, err)
	rounds := map[string]map[string]bool{} // collection+bucket -> kinds completed
	for _, j := range list {
		if j.State != "completed" {
			continue
		}
		key := j.CollectionID + "@" + j.Bucket
		if rounds[key] == nil {
			rounds[key] = map[string]bool{}
		}
		rounds[key][j.Kind] = true
	}
	both := 0
	for _, kinds := range rounds {
		if len(kinds) == 2 {
			both++
		}
	}
	// Counted from outside, as an operator would: GET /_sim/stats.
	resp, err := http.Get(srv.URL + "/_sim/stats") //nolint:noctx // loopback test server
	require.NoError(t, err)
	defer resp.Body.Close()
	var st indexersim.Stats
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&st))
	calls := st.ByEndpoint[indexersim.EndpointStats]
	t.Logf("%d rounds (%d with floor and volume), %d stats calls: %.2f calls per round", len(rounds), both, calls, float64(calls)/float64(len(rounds)))
	require.GreaterOrEqual(t, both, len(sim.Slugs()), "floor and volume were due together in several rounds")
	require.Equal(t, int64(len(rounds)), calls, "exactly one upstream stats call per collection and round")
}
