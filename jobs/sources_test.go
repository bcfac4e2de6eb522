package jobs_test

import (
	"context"
	"math/big"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/stretchr/testify/require"

	"github.com/nftsync/nftsync/db"
	"github.com/nftsync/nftsync/internal/indexer"
	"github.com/nftsync/nftsync/internal/indexer/opensea"
	"github.com/nftsync/nftsync/internal/indexer/subgraph"
	"github.com/nftsync/nftsync/internal/indexersim"
	"github.com/nftsync/nftsync/jobs"
)

// simNoon is the simulator's clock in these tests: noon, so that half of
// the day before a 1-day window lies in it.
var simNoon = time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)

// setupSources is setupWorkers with the simulator's Seaport subgraph (and a
// "blur" one that traded only some collections) as routed volume sources,
// registered, and the cross-check on.
func setupSources(t *testing.T, seaport indexersim.SubgraphConfig) *workerBundle {
	t.Helper()
	seaport.Name, seaport.Mirror = "seaport", true
	cfg := indexersim.Config{Seed: 7, Collections: 6, MinTokens: 250, MaxTokens: 450, Clock: func() time.Time { return simNoon },
		Subgraphs: []indexersim.SubgraphConfig{seaport, {Name: "blur", Coverage: 0.5}}}
	sim, err := indexersim.New(cfg, discardLogger())
	require.NoError(t, err)
	srv := httptest.NewServer(sim.Handler())
	t.Cleanup(srv.Close)
	now := func() time.Time { return simNoon }
	os, err := opensea.NewClient(srv.URL, &http.Client{Timeout: 5 * time.Second}, opensea.Options{Now: now})
	require.NoError(t, err)
	idx := map[string]indexer.Indexer{"opensea": os}
	defaults := map[string][]indexer.DataKind{}
	for _, name := range []string{"seaport", "blur"} {
		c, err := subgraph.NewClient(name, srv.URL+"/subgraphs/name/"+name, nil, subgraph.Options{Now: now})
		require.NoError(t, err)
		idx[c.Source()] = c
		defaults[c.Source()] = []indexer.DataKind{indexer.DataVolume}
	}
	tx := sharedTx(t)
	require.NoError(t, jobs.RegisterSources(context.Background(), tx, idx, defaults, subgraph.SourcePrefix))
	slug := sim.Slugs()[0]
	info, _ := sim.Collection(slug)
	return &workerBundle{
		tx: tx, sim: sim, info: info, coll: trackTx(t, tx, slug, time.Minute),
		deps: &jobs.Deps{
			DB: tx, Logger: discardLogger(), Indexers: idx, Now: now,
			CrossCheck: jobs.CrossCheck{Reference: "opensea", Source: "subgraph:seaport", Tolerance: 0.1},
		},
	}
}

// refreshRound runs one round of the collection's volume from both
// sources: metadata first (it brings the contract address), then OpenSea,
// then the subgraph.
func refreshRound(t *testing.T, b *workerBundle, c db.Collection, round time.Time, source string) *river.EventKind {
	t.Helper()
	args := jobs.CollectionArgs{CollectionID: c.ID, PlannedAt: round}
	require.Equal(t, river.EventKindJobCompleted, work(t, b, &jobs.FetchCollectionMetadataWorker{Deps: b.deps}, jobs.FetchCollectionMetadataArgs{CollectionArgs: args}).EventKind)
	require.Equal(t, river.EventKindJobCompleted, work(t, b, &jobs.FetchVolumeWorker{Deps: b.deps}, jobs.FetchVolumeArgs{CollectionArgs: args}).EventKind)
	ev := work(t, b, &jobs.FetchSourceVolumeWorker{Deps: b.deps}, jobs.FetchSourceVolumeArgs{CollectionArgs: args, Source: source}).EventKind
	return &ev
}

func TestSourceVolumeWithProvenanceAndCrossCheck(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setupSources(t, indexersim.SubgraphConfig{})
	q := db.New(b.tx)
	round := simNoon.Add(-time.Minute)
	require.Equal(t, river.EventKindJobCompleted, *refreshRound(t, b, b.coll, round, "subgraph:seaport"))

	rows, err := q.VolumeLatest(ctx, db.VolumeLatestParams{CollectionID: b.coll.ID, Source: "subgraph:seaport"})
	require.NoError(t, err)
	require.Len(t, rows, 4)
	for _, r := range rows {
		require.Equal(t, "subgraph:seaport", r.Source)
		require.Equal(t, simNoon, r.FetchedAt.UTC(), "fetched_at")
		require.True(t, r.SourceAsOf.Valid)
		require.Equal(t, simNoon, r.SourceAsOf.Time.UTC(), "source as-of is the head block's time")
	}
	os, err := q.VolumeLatest(ctx, db.VolumeLatestParams{CollectionID: b.coll.ID, Source: "opensea"})
	require.NoError(t, err)
	require.Len(t, os, 4, "OpenSea's own rows stay apart")

	checks, err := q.CrossCheckList(ctx, b.coll.ID)
	require.NoError(t, err)
	require.Len(t, checks, 1)
	require.True(t, checks[0].Agree, "the mirror subgraph agrees with OpenSea: %+v", checks[0])
	require.Equal(t, "volume_1d", checks[0].Metric)

	// A retry of the round checks nothing again.
	work(t, b, &jobs.FetchSourceVolumeWorker{Deps: b.deps}, jobs.FetchSourceVolumeArgs{CollectionArgs: jobs.CollectionArgs{CollectionID: b.coll.ID, PlannedAt: round}, Source: "subgraph:seaport"})
	checks, err = q.CrossCheckList(ctx, b.coll.ID)
	require.NoError(t, err)
	require.Len(t, checks, 1)

	// Metadata routed to the subgraph carries its as-of time.
	require.NoError(t, jobs.SetRoute(ctx, b.tx, b.coll.ID, jobs.RefreshMetadata, []string{"subgraph:seaport"}))
	args := jobs.FetchCollectionMetadataArgs{CollectionArgs: jobs.CollectionArgs{CollectionID: b.coll.ID}, Source: "subgraph:seaport"}
	require.Equal(t, river.EventKindJobCompleted, work(t, b, &jobs.FetchCollectionMetadataWorker{Deps: b.deps}, args).EventKind)
	m, err := q.MetadataGet(ctx, b.coll.ID)
	require.NoError(t, err)
	require.Equal(t, "subgraph:seaport", m.Source)
	require.Equal(t, simNoon, m.SourceAsOf.Time.UTC())
	require.Equal(t, b.info.Name, m.Name)
}

func TestCrossCheckDisagreementOneEventPerRound(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setupSources(t, indexersim.SubgraphConfig{VolumeFactor: 0.2})
	q := db.New(b.tx)
	rounds := []time.Time{simNoon.Add(-3 * time.Minute), simNoon.Add(-2 * time.Minute)}
	for i, round := range rounds {
		refreshRound(t, b, b.coll, round, "subgraph:seaport")
		// The retry of a round adds nothing.
		work(t, b, &jobs.FetchSourceVolumeWorker{Deps: b.deps}, jobs.FetchSourceVolumeArgs{CollectionArgs: jobs.CollectionArgs{CollectionID: b.coll.ID, PlannedAt: round}, Source: "subgraph:seaport"})
		events, err := q.DataQualityEventList(ctx, pgtypeInt8(b.coll.ID))
		require.NoError(t, err)
		var dis []db.DataQualityEvent
		for _, e := range events {
			if e.Kind == "cross_source_disagreement" {
				dis = append(dis, e)
			}
		}
		require.Len(t, dis, i+1, "exactly one event per round")
		e := dis[i]
		require.Equal(t, "subgraph:seaport", e.Source)
		require.Contains(t, e.Message, "opensea says ")
		require.Contains(t, e.Message, "subgraph:seaport says ")
	}
	checks, err := q.CrossCheckList(ctx, b.coll.ID)
	require.NoError(t, err)
	require.Len(t, checks, 2)
	for _, c := range checks {
		require.False(t, c.Agree)
	}
}

func TestSourceVolumeUnknownAndBrokenSource(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	t.Run("MarketplaceNeverTradedIt", func(t *testing.T) {
		t.Parallel()
		b := setupSources(t, indexersim.SubgraphConfig{})
		q := db.New(b.tx)
		covered := 0
		for _, slug := range b.sim.Slugs()[1:] {
			c := trackTx(t, b.tx, slug, time.Minute)
			ev := refreshRound(t, b, c, simNoon, "subgraph:blur")
			require.Equal(t, river.EventKindJobCompleted, *ev)
			rows, err := q.VolumeLatest(ctx, db.VolumeLatestParams{CollectionID: c.ID, Source: "subgraph:blur"})
			require.NoError(t, err)
			require.True(t, len(rows) == 0 || len(rows) == 4)
			covered += len(rows) / 4
			// Seaport too: the all-marketplaces total is the sum of both,
			// never with OpenSea's own figure.
			require.Equal(t, river.EventKindJobCompleted, work(t, b, &jobs.FetchSourceVolumeWorker{Deps: b.deps},
				jobs.FetchSourceVolumeArgs{CollectionArgs: jobs.CollectionArgs{CollectionID: c.ID, PlannedAt: simNoon}, Source: "subgraph:seaport"}).EventKind)
			total, err := q.VolumeAllMarketplaces(ctx, c.ID)
			require.NoError(t, err)
			require.Len(t, total, 4)
			for _, w := range total {
				want := new(big.Rat)
				for _, src := range []string{"subgraph:seaport", "subgraph:blur"} {
					v, err := q.VolumeCurrentWindow(ctx, db.VolumeCurrentWindowParams{CollectionID: c.ID, Source: src, TimeWindow: w.TimeWindow})
					if err == nil {
						r, _ := new(big.Rat).SetString(v.Amount)
						want.Add(want, r)
					}
				}
				got, _ := new(big.Rat).SetString(w.Amount)
				require.Zero(t, want.Cmp(got), "%s %s: %s", c.Slug, w.TimeWindow, w.Amount)
				require.NotContains(t, w.Sources, "opensea")
				require.Len(t, w.Sources, 1+len(rows)/4)
			}
			got, err := q.CollectionGetByID(ctx, c.ID)
			require.NoError(t, err)
			require.Equal(t, "active", got.Status, "a source that lacks the collection never fails it")
		}
		require.Positive(t, covered)
		require.Less(t, covered, 5, "blur lacks some collections")
	})

	t.Run("PermanentSourceErrorCancelsWithoutFailingCollection", func(t *testing.T) {
		t.Parallel()
		b := setupSources(t, indexersim.SubgraphConfig{})
		q := db.New(b.tx)
		args := jobs.CollectionArgs{CollectionID: b.coll.ID}
		work(t, b, &jobs.FetchCollectionMetadataWorker{Deps: b.deps}, jobs.FetchCollectionMetadataArgs{CollectionArgs: args})
		// An endpoint that answers "subgraph not found".
		srv := httptest.NewServer(b.sim.Handler())
		t.Cleanup(srv.Close)
		broken, err := subgraph.NewClient("seaport", srv.URL+"/subgraphs/name/nope", nil, subgraph.Options{})
		require.NoError(t, err)
		b.deps.Indexers["subgraph:seaport"] = broken
		res := work(t, b, &jobs.FetchSourceVolumeWorker{Deps: b.deps}, jobs.FetchSourceVolumeArgs{CollectionArgs: args, Source: "subgraph:seaport"})
		require.Equal(t, river.EventKindJobCancelled, res.EventKind)
		got, err := q.CollectionGetByID(ctx, b.coll.ID)
		require.NoError(t, err)
		require.Equal(t, "active", got.Status)
		events, err := q.DataQualityEventList(ctx, pgtypeInt8(b.coll.ID))
		require.NoError(t, err)
		require.Len(t, events, 1)
		require.Equal(t, "source_error", events[0].Kind)
		require.Equal(t, "subgraph:seaport", events[0].Source)
	})
}

func TestRoutingPlansOnlyServingSources(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setupSources(t, indexersim.SubgraphConfig{})
	client := insertOnlyClient(t)
	other := trackTx(t, b.tx, b.sim.Slugs()[1], time.Minute)

	// Default: volume from OpenSea and both subgraphs; floor, metadata and
	// tokens from OpenSea only.
	routes, err := jobs.CollectionRoutes(ctx, b.tx, b.coll.ID)
	require.NoError(t, err)
	want := map[string][]string{
		jobs.RefreshFloorPrice: {"opensea"}, jobs.RefreshVolume: {"opensea", "subgraph:blur", "subgraph:seaport"},
		jobs.RefreshMetadata: {"opensea"}, jobs.RefreshTokens: {"opensea"},
	}
	for _, r := range routes {
		require.Equal(t, want[r.Kind], r.Sources, r.Kind)
		require.False(t, r.Own)
	}

	// A source never serves a kind it lacks; metadata has one source.
	require.ErrorIs(t, jobs.SetRoute(ctx, b.tx, b.coll.ID, jobs.RefreshFloorPrice, []string{"subgraph:seaport"}), jobs.ErrBadRoute)
	require.ErrorIs(t, jobs.SetRoute(ctx, b.tx, b.coll.ID, jobs.RefreshTokens, []string{"subgraph:seaport"}), jobs.ErrBadRoute)
	require.ErrorIs(t, jobs.SetRoute(ctx, b.tx, b.coll.ID, jobs.RefreshMetadata, []string{"opensea", "subgraph:seaport"}), jobs.ErrBadRoute)
	require.ErrorIs(t, jobs.SetRoute(ctx, b.tx, b.coll.ID, jobs.RefreshVolume, []string{"subgraph:nope"}), jobs.ErrBadRoute)
	require.ErrorIs(t, jobs.SetRoute(ctx, b.tx, b.coll.ID, "price", []string{"opensea"}), jobs.ErrBadRoute)

	// This collection: volume only from the Seaport subgraph.
	require.NoError(t, jobs.SetRoute(ctx, b.tx, b.coll.ID, jobs.RefreshVolume, []string{"subgraph:seaport"}))
	n, err := jobs.PlanTx(ctx, b.tx, client, time.Now(), jobs.PlanOptions{Batch: 100})
	require.NoError(t, err)
	var kinds []string
	rows, err := b.tx.Query(ctx, `SELECT kind || ':' || coalesce(args->>'source', '') FROM river_job WHERE (args->>'collection_id')::bigint = $1 ORDER BY 1`, b.coll.ID)
	require.NoError(t, err)
	for rows.Next() {
		var k string
		require.NoError(t, rows.Scan(&k))
		kinds = append(kinds, k)
	}
	require.NoError(t, rows.Err())
	require.Equal(t, []string{"fetch_collection_metadata:", "fetch_floor_price:", "fetch_source_volume:subgraph:seaport", "sync_tokens:"}, kinds)
	// The other collection keeps the default: OpenSea plus both subgraphs.
	var otherVolume int64
	require.NoError(t, b.tx.QueryRow(ctx, `SELECT count(*) FROM river_job WHERE (args->>'collection_id')::bigint = $1 AND kind IN ('fetch_volume', 'fetch_source_volume')`, other.ID).Scan(&otherVolume))
	require.EqualValues(t, 3, otherVolume)
	require.Equal(t, 4+6, n)

	// A backfill enqueues the same routed set, at bulk priority.
	bulk := trackTx(t, b.tx, b.sim.Slugs()[2], time.Minute)
	require.NoError(t, jobs.SetRoute(ctx, b.tx, bulk.ID, jobs.RefreshVolume, []string{"subgraph:blur", "subgraph:seaport"}))
	n, err = jobs.EnqueueBulk(ctx, b.tx, client, bulk.ID, []string{jobs.RefreshVolume, jobs.RefreshFloorPrice}, time.Now())
	require.NoError(t, err)
	require.Equal(t, 3, n)
	var bulkJobs []string
	rows, err = b.tx.Query(ctx, `SELECT kind || ':' || coalesce(args->>'source', '') || ':' || priority FROM river_job WHERE (args->>'collection_id')::bigint = $1 ORDER BY 1`, bulk.ID)
	require.NoError(t, err)
	for rows.Next() {
		var k string
		require.NoError(t, rows.Scan(&k))
		bulkJobs = append(bulkJobs, k)
	}
	require.NoError(t, rows.Err())
	require.Equal(t, []string{"fetch_floor_price::4", "fetch_source_volume:subgraph:blur:4", "fetch_source_volume:subgraph:seaport:4"}, bulkJobs)

	// Back to the default.
	require.NoError(t, jobs.SetRoute(ctx, b.tx, b.coll.ID, jobs.RefreshVolume, nil))
	routes, err = jobs.CollectionRoutes(ctx, b.tx, b.coll.ID)
	require.NoError(t, err)
	require.Equal(t, want[jobs.RefreshVolume], routes[1].Sources, "%+v", routes)
}

// TestCrossCheckOnlyRoutedAndRecent: the cross-check compares only figures
// fetched within MaxAge of each other, and never against a reference the
// collection's volume is not routed to (its last figure only grows stale).
func TestCrossCheckOnlyRoutedAndRecent(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setupSources(t, indexersim.SubgraphConfig{VolumeFactor: 0.2})
	b.deps.CrossCheck.MaxAge = 2 * time.Minute
	q := db.New(b.tx)
	checks := func() int {
		t.Helper()
		list, err := q.CrossCheckList(ctx, b.coll.ID)
		require.NoError(t, err)
		return len(list)
	}
	sourceRound := func(round time.Time) {
		t.Helper()
		ev := work(t, b, &jobs.FetchSourceVolumeWorker{Deps: b.deps}, jobs.FetchSourceVolumeArgs{
			CollectionArgs: jobs.CollectionArgs{CollectionID: b.coll.ID, PlannedAt: round}, Source: "subgraph:seaport"}).EventKind
		require.Equal(t, river.EventKindJobCompleted, ev)
	}

	// Both routed, fetched together: compared (and disagree).
	refreshRound(t, b, b.coll, simNoon.Add(-5*time.Minute), "subgraph:seaport")
	require.Equal(t, 1, checks())

	// OpenSea's figure fetched longer ago than MaxAge: not compared.
	_, err := b.tx.Exec(ctx, `UPDATE volume_latest SET last_seen_at = $2 WHERE collection_id = $1 AND source = 'opensea'`,
		b.coll.ID, simNoon.Add(-3*time.Minute))
	require.NoError(t, err)
	sourceRound(simNoon.Add(-4 * time.Minute))
	require.Equal(t, 1, checks(), "a figure older than MaxAge is not compared")

	// Within MaxAge again, but the volume is routed to the subgraph alone:
	// OpenSea's last figure is never compared, however recent.
	_, err = b.tx.Exec(ctx, `UPDATE volume_latest SET last_seen_at = $2 WHERE collection_id = $1 AND source = 'opensea'`,
		b.coll.ID, simNoon.Add(-time.Minute))
	require.NoError(t, err)
	require.NoError(t, jobs.SetRoute(ctx, b.tx, b.coll.ID, jobs.RefreshVolume, []string{"subgraph:seaport"}))
	sourceRound(simNoon.Add(-3 * time.Minute))
	require.Equal(t, 1, checks(), "OpenSea is not routed for this collection's volume")

	// Routed to both again: compared.
	require.NoError(t, jobs.SetRoute(ctx, b.tx, b.coll.ID, jobs.RefreshVolume, []string{"opensea", "subgraph:seaport"}))
	sourceRound(simNoon.Add(-2 * time.Minute))
	require.Equal(t, 2, checks())
	events, err := q.DataQualityEventList(ctx, pgtypeInt8(b.coll.ID))
	require.NoError(t, err)
	n := 0
	for _, e := range events {
		if e.Kind == "cross_source_disagreement" {
			n++
		}
	}
	require.Equal(t, 2, n, "one event per compared round, none for the rounds not compared")
}
