package jobs_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivertest"
	"github.com/riverqueue/river/rivertype"
	"github.com/stretchr/testify/require"

	"github.com/nftsync/nftsync/db"
	"github.com/nftsync/nftsync/internal/indexer"
	"github.com/nftsync/nftsync/internal/indexer/opensea"
	"github.com/nftsync/nftsync/internal/indexersim"
	"github.com/nftsync/nftsync/jobs"
)

type workerBundle struct {
	tx   pgx.Tx
	deps *jobs.Deps
	sim  *indexersim.Server
	coll db.Collection
	info indexersim.CollectionInfo
	url  string // the simulator's base URL
}

// setupWorkers gives a test transaction, a simulator behind a real HTTP
// server (configured by mutate) and the production OpenSea client pointed at
// it, with the simulator's first collection tracked.
func setupWorkers(t testing.TB, mutate func(*indexersim.Config)) *workerBundle {
	t.Helper()
	cfg := indexersim.Config{Seed: 7, Collections: 2, MinTokens: 250, MaxTokens: 450, ListTraits: true}
	if mutate != nil {
		mutate(&cfg)
	}
	sim, err := indexersim.New(cfg, discardLogger())
	require.NoError(t, err)
	srv := httptest.NewServer(sim.Handler())
	t.Cleanup(srv.Close)
	t.Cleanup(sim.Close)
	client, err := opensea.NewClient(srv.URL, &http.Client{Timeout: 5 * time.Second}, opensea.Options{})
	require.NoError(t, err)
	tx := sharedTx(t)
	slug := sim.Slugs()[0]
	info, ok := sim.Collection(slug)
	require.True(t, ok)
	return &workerBundle{
		tx:  tx,
		sim: sim,
		deps: &jobs.Deps{
			DB: tx, Logger: discardLogger(),
			Indexers:     map[string]indexer.Indexer{"opensea": client},
			TraitSources: map[string]indexer.TraitSource{"opensea": client},
		},
		coll: trackTx(t, tx, slug, time.Minute),
		info: info,
		url:  srv.URL,
	}
}

func work[T river.JobArgs](t testing.TB, b *workerBundle, w river.Worker[T], args T) *rivertest.WorkResult {
	t.Helper()
	tw := rivertest.NewWorker(t, riverpgxv5.New(nil), &river.Config{Logger: discardLogger()}, w)
	res, err := tw.Work(context.Background(), t, b.tx, args, nil)
	require.NoError(t, err)
	return res
}

func TestFetchFloorPriceWorker(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	t.Run("StoresFloorThenVolumeFromOneCallIdempotently", func(t *testing.T) {
		t.Parallel()
		b := setupWorkers(t, nil)
		bucket := time.Now().UTC().Add(-time.Second)
		args := jobs.CollectionArgs{CollectionID: b.coll.ID, PlannedAt: bucket}
		fw := &jobs.FetchFloorPriceWorker{Deps: b.deps}

		res := work(t, b, fw, jobs.FetchFloorPriceArgs{CollectionArgs: args})
		require.Equal(t, river.EventKindJobCompleted, res.EventKind)
		q := db.New(b.tx)
		floor, err := q.FloorPriceLatest(ctx, db.FloorPriceLatestParams{CollectionID: b.coll.ID, Source: "opensea"})
		require.NoError(t, err)
		require.True(t, floor.Amount.Valid)
		counts, err := q.SnapshotCounts(ctx, b.coll.ID)
		require.NoError(t, err)
		require.Equal(t, int64(1), counts.Floors)
		require.Zero(t, counts.Volumes, "a floor job stores no volume: volume has its own interval")

		// NUMERIC round trip: what is stored is exactly what the source sent.
		stats, err := b.deps.Indexers["opensea"].Stats(ctx, b.coll.Slug)
		require.NoError(t, err)
		got, err := floor.Amount.Value()
		require.NoError(t, err)
		require.Equal(t, normDecimal(stats.Floor.Amount), normDecimal(got.(string)))
		require.Equal(t, "ETH", floor.Currency)
		require.Equal(t, int16(18), floor.Decimals)

		// The volume job of the same round uses the stored response.
		before := b.sim.Stats().Requests
		res = work(t, b, &jobs.FetchVolumeWorker{Deps: b.deps}, jobs.FetchVolumeArgs{CollectionArgs: args})
		require.Equal(t, river.EventKindJobCompleted, res.EventKind)
		require.Equal(t, before, b.sim.Stats().Requests, "no second upstream call in one round")
		vols, err := q.VolumeLatest(ctx, db.VolumeLatestParams{CollectionID: b.coll.ID, Source: "opensea"})
		require.NoError(t, err)
		require.Len(t, vols, 4) // 1d, 7d, 30d, all

		// Running the same jobs again (a retry) adds no rows.
		work(t, b, fw, jobs.FetchFloorPriceArgs{CollectionArgs: args})
		work(t, b, &jobs.FetchVolumeWorker{Deps: b.deps}, jobs.FetchVolumeArgs{CollectionArgs: args})
		counts, err = q.SnapshotCounts(ctx, b.coll.ID)
		require.NoError(t, err)
		require.Equal(t, int64(1), counts.Floors)
		require.Equal(t, int64(4), counts.Volumes)
	})

	t.Run("UnknownCollectionCancelsAndMarksFailed", func(t *testing.T) {
		t.Parallel()
		b := setupWorkers(t, nil)
		c := trackTx(t, b.tx, "no-such-collection", time.Minute)
		res := work(t, b, &jobs.FetchFloorPriceWorker{Deps: b.deps}, jobs.FetchFloorPriceArgs{CollectionArgs: jobs.CollectionArgs{CollectionID: c.ID}})
		require.Equal(t, river.EventKindJobCancelled, res.EventKind)
		got, err := db.New(b.tx).CollectionGetByID(ctx, c.ID)
		require.NoError(t, err)
		require.Equal(t, "failed", got.Status)
		require.Contains(t, got.StatusReason, "no-such-collection")
	})

	t.Run("RateLimitedSnoozes", func(t *testing.T) {
		t.Parallel()
		b := setupWorkers(t, func(c *indexersim.Config) { c.Rate, c.Burst = 0.01, 1 })
		// Spend the only token.
		_, _ = b.deps.Indexers["opensea"].Collection(ctx, b.coll.Slug)
		res := work(t, b, &jobs.FetchFloorPriceWorker{Deps: b.deps}, jobs.FetchFloorPriceArgs{CollectionArgs: jobs.CollectionArgs{CollectionID: b.coll.ID}})
		require.Equal(t, river.EventKindJobSnoozed, res.EventKind)
		require.Equal(t, rivertype.JobStateScheduled, res.Job.State)
		require.Equal(t, 0, res.Job.Attempt, "a snooze spends no attempt")
	})

	t.Run("MalformedPayloadStoresNothingAndRecordsEvent", func(t *testing.T) {
		t.Parallel()
		b := setupWorkers(t, func(c *indexersim.Config) { c.MalformedRate = 1 })
		tw := rivertest.NewWorker(t, riverpgxv5.New(nil), &river.Config{Logger: discardLogger()}, &jobs.FetchFloorPriceWorker{Deps: b.deps})
		_, err := tw.Work(ctx, t, b.tx, jobs.FetchFloorPriceArgs{CollectionArgs: jobs.CollectionArgs{CollectionID: b.coll.ID}}, nil)
		require.ErrorContains(t, err, "malformed", "retried with backoff")
		q := db.New(b.tx)
		counts, err := q.SnapshotCounts(ctx, b.coll.ID)
		require.NoError(t, err)
		require.Zero(t, counts.Floors)
		require.Zero(t, counts.Volumes)
		events, err := q.DataQualityEventList(ctx, pgtypeInt8(b.coll.ID))
		require.NoError(t, err)
		require.Len(t, events, 1)
		require.Equal(t, "malformed_payload", events[0].Kind)
	})
}

func TestFetchCollectionMetadataWorker(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setupWorkers(t, nil)
	args := jobs.FetchCollectionMetadataArgs{CollectionArgs: jobs.CollectionArgs{CollectionID: b.coll.ID}}
	w := &jobs.FetchCollectionMetadataWorker{Deps: b.deps}
	for range 2 { // idempotent
		res := work(t, b, w, args)
		require.Equal(t, river.EventKindJobCompleted, res.EventKind)
	}
	m, err := db.New(b.tx).MetadataGet(ctx, b.coll.ID)
	require.NoError(t, err)
	require.Equal(t, b.info.Name, m.Name)
	require.Equal(t, int64(b.info.TokenCount), m.TotalSupply.Int64)
}

func TestSyncTokensWorker(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	traitTotal := func(b *workerBundle) int64 {
		n := 0
		for i := range b.info.TokenCount {
			traits, ok := b.sim.Token(b.info.Slug, itoa(b.info.FirstTokenID+i))
			require.True(t, ok)
			n += len(traits)
		}
		return int64(n)
	}

	t.Run("StoresAllTokensWithTraitsIdempotently", func(t *testing.T) {
		t.Parallel()
		b := setupWorkers(t, nil)
		w := &jobs.SyncTokensWorker{Deps: b.deps}
		args := jobs.SyncTokensArgs{CollectionArgs: jobs.CollectionArgs{CollectionID: b.coll.ID}}
		q := db.New(b.tx)
		want := traitTotal(b)
		for range 2 { // a second full run leaves the same rows
			res := work(t, b, w, args)
			require.Equal(t, river.EventKindJobCompleted, res.EventKind)
			n, err := q.TokenCount(ctx, b.coll.ID)
			require.NoError(t, err)
			require.Equal(t, int64(b.info.TokenCount), n)
			traits, err := q.TokenTraitCount(ctx, b.coll.ID)
			require.NoError(t, err)
			require.Equal(t, want, traits)
		}
		st, err := q.TokenSyncStateGet(ctx, b.coll.ID)
		require.NoError(t, err)
		require.True(t, st.CompletedAt.Valid)
		require.Equal(t, int64(2), st.Run)
	})

	t.Run("ResumesFromPersistedCursor", func(t *testing.T) {
		t.Parallel()
		b := setupWorkers(t, nil)
		b.deps.TokenSyncBudget = time.Nanosecond // one page per run, then yield
		w := &jobs.SyncTokensWorker{Deps: b.deps}
		args := jobs.SyncTokensArgs{CollectionArgs: jobs.CollectionArgs{CollectionID: b.coll.ID}}
		q := db.New(b.tx)

		res := work(t, b, w, args)
		require.Equal(t, river.EventKindJobSnoozed, res.EventKind)
		st, err := q.TokenSyncStateGet(ctx, b.coll.ID)
		require.NoError(t, err)
		require.Equal(t, int32(1), st.Pages)
		require.NotEmpty(t, st.Cursor)
		require.False(t, st.CompletedAt.Valid)

		pages := (b.info.TokenCount + 199) / 200
		for i := 2; i <= pages; i++ {
			res = work(t, b, w, args)
		}
		require.Equal(t, river.EventKindJobCompleted, res.EventKind)
		st, err = q.TokenSyncStateGet(ctx, b.coll.ID)
		require.NoError(t, err)
		require.Equal(t, int32(pages), st.Pages, "no page fetched twice")
		require.Equal(t, int64(1), st.Run)
		n, err := q.TokenCount(ctx, b.coll.ID)
		require.NoError(t, err)
		require.Equal(t, int64(b.info.TokenCount), n)
	})
}
