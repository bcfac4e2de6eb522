package jobs_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivertest"
	"github.com/stretchr/testify/require"

	"github.com/nftsync/nftsync/db"
	"github.com/nftsync/nftsync/db/dbtest"
	"github.com/nftsync/nftsync/internal/indexer"
	"github.com/nftsync/nftsync/internal/indexer/opensea"
	"github.com/nftsync/nftsync/internal/indexersim"
	"github.com/nftsync/nftsync/jobs"
)

// TestMarketStatsSingleFlightAcrossReplicas runs three River clients (replicas)
// whose floor and volume jobs are due in the same rounds and race for the
// same collections, and counts the upstream stats calls at the simulator:
// exactly one per collection and round.
func TestMarketStatsSingleFlightAcrossReplicas(t *testing.T) {
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
		for _, kind := range []string{jobs.RefreshFloorPrice, jobs.RefreshVolume} {
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
	// Run until every collection had two rounds with both kinds completed
	// (a few seconds at a 2 s interval); the deadline is only a backstop.
	rounds := map[string]map[string]bool{} // collection+bucket -> kinds completed
	both := 0
	count := func() {
		list, err := q.JobListByKinds(ctx, []string{"fetch_floor_price", "fetch_volume"})
		require.NoError(t, err)
		rounds, both = map[string]map[string]bool{}, 0
		for _, j := range list {
			if j.State != "completed" {
				continue
			}
			key := j.CollectionID + "@" + j.PlannedAt
			if rounds[key] == nil {
				rounds[key] = map[string]bool{}
			}
			rounds[key][j.Kind] = true
		}
		for _, kinds := range rounds {
			if len(kinds) == 2 {
				both++
			}
		}
	}
	require.Eventually(t, func() bool { count(); return both >= 2*len(sim.Slugs()) }, 2*time.Minute, 100*time.Millisecond,
		"every collection gets two rounds with floor and volume")
	for _, rc := range clients {
		stopCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
		require.NoError(t, rc.Stop(stopCtx)) // running jobs finish
		cancel()
	}
	count() // jobs that finished while the replicas stopped
	// Counted from outside, as an operator would: GET /_sim/stats.
	resp, err := http.Get(srv.URL + "/_sim/stats")
	require.NoError(t, err)
	defer resp.Body.Close()
	var st indexersim.Stats
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&st))
	calls := st.ByEndpoint[indexersim.EndpointStats]
	t.Logf("%d rounds (%d with floor and volume), %d stats calls: %.2f calls per round", len(rounds), both, calls, float64(calls)/float64(len(rounds)))
	require.GreaterOrEqual(t, both, len(sim.Slugs()), "floor and volume were due together in several rounds")
	require.Equal(t, int64(len(rounds)), calls, "exactly one upstream stats call per collection and round")
}

// signalHandler is a slog handler that closes seen at the first record with
// message msg.
type signalHandler struct {
	slog.Handler
	msg  string
	once sync.Once
	seen chan struct{}
}

func (h *signalHandler) Enabled(context.Context, slog.Level) bool { return true }

func (h *signalHandler) Handle(_ context.Context, r slog.Record) error {
	if r.Message == h.msg {
		h.once.Do(func() { close(h.seen) })
	}
	return nil
}

// TestMarketStatsWaitForACallInFlightWithoutSnoozing: the volume job of a round
// finds the floor job's stats call in flight; when that call ends moments
// later, the volume job uses its answer in the same run instead of snoozing
// (a River round trip, a re-run and a second of latency), and no second
// call is made.
func TestMarketStatsWaitForACallInFlightWithoutSnoozing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := dbtest.DB(t)
	up := &marketStatsUpstream{floor: "1.5", vol1d: "10", now: time.Now().UTC()}
	srv := httptest.NewServer(up)
	t.Cleanup(srv.Close)
	client, err := opensea.NewClient(srv.URL, &http.Client{Timeout: 5 * time.Second}, opensea.Options{Now: up.clock})
	require.NoError(t, err)
	setupTx, err := pool.Begin(ctx)
	require.NoError(t, err)
	c := trackTx(t, setupTx, "stats-in-flight", time.Minute)
	require.NoError(t, setupTx.Commit(ctx))
	waiting := &signalHandler{msg: "stats call in flight, waiting", seen: make(chan struct{})}
	deps := &jobs.Deps{DB: pool, Logger: slog.New(waiting), Now: up.clock, Indexers: map[string]indexer.Indexer{"opensea": client}}

	// The floor job of the round holds the lease and is calling.
	q := db.New(pool)
	_, err = q.StatsFetchClaim(ctx, db.StatsFetchClaimParams{CollectionID: c.ID, Source: "opensea"})
	require.NoError(t, err)
	require.NoError(t, q.StatsFetchLease(ctx, db.StatsFetchLeaseParams{
		JobID: pgtypeInt8(-1), LeaseUntil: pgtype.Timestamptz{Time: up.clock().Add(10 * time.Second), Valid: true},
		CollectionID: c.ID, Source: "opensea",
	}))
	stats, err := client.Stats(ctx, c.Slug)
	require.NoError(t, err)
	body, err := json.Marshal(stats)
	require.NoError(t, err)
	stored := make(chan error, 1)
	go func() {
		<-waiting.seen // the volume job saw the call in flight: the call ends now
		stored <- q.StatsFetchStore(ctx, db.StatsFetchStoreParams{
			FetchedAt: up.clock(), Response: body, JobID: pgtypeInt8(-1), CollectionID: c.ID, Source: "opensea",
		})
	}()

	jobTx, err := pool.Begin(ctx)
	require.NoError(t, err)
	defer func() { _ = jobTx.Rollback(ctx) }()
	tw := rivertest.NewWorker(t, riverpgxv5.New(nil), &river.Config{Logger: discardLogger()}, &jobs.FetchVolumeWorker{Deps: deps})
	res, err := tw.Work(ctx, t, jobTx, jobs.FetchVolumeArgs{CollectionArgs: jobs.CollectionArgs{CollectionID: c.ID, PlannedAt: up.clock()}}, nil)
	require.NoError(t, err)
	require.NoError(t, <-stored)
	require.Equal(t, river.EventKindJobCompleted, res.EventKind, "used the answer of the call in flight instead of snoozing")
	require.Equal(t, int64(1), up.calls.Load(), "one upstream call for the round")
	vols, err := q.VolumeLatest(ctx, db.VolumeLatestParams{CollectionID: c.ID, Source: "opensea"})
	require.NoError(t, err)
	require.NotEmpty(t, vols)
}
