package jobs_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/riverqueue/river"
	"github.com/stretchr/testify/require"

	"github.com/nftsync/nftsync/db"
	"github.com/nftsync/nftsync/internal/indexer"
	"github.com/nftsync/nftsync/internal/ratelimit"
	"github.com/nftsync/nftsync/jobs"
)

// markStream sets a collection's stream state as the stream consumer does.
func markStream(t *testing.T, tx pgx.Tx, id int64, state string, at time.Time) {
	t.Helper()
	require.NoError(t, db.New(tx).StreamStatesMark(context.Background(), db.StreamStatesMarkParams{
		CollectionIds: []int64{id}, State: state, Owner: "replica-1", At: at}))
}

// floorPlannedAt is when the planner last claimed the collection's floor.
func floorPlannedAt(t *testing.T, tx pgx.Tx, id int64) time.Time {
	t.Helper()
	s, err := db.New(tx).ScheduleGet(context.Background(), db.ScheduleGetParams{CollectionID: id, Kind: jobs.RefreshFloorPrice})
	require.NoError(t, err)
	require.True(t, s.LastPlannedAt.Valid)
	return s.LastPlannedAt.Time
}

func TestPlanStreamedFloorOnlyAtReconcile(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	opts := jobs.PlanOptions{Batch: 100, Reconcile: 10 * time.Minute}

	setup := func(t *testing.T) (pgx.Tx, db.Collection, *river.Client[pgx.Tx], time.Time) {
		t.Helper()
		tx := sharedTx(t)
		c := trackTx(t, tx, "stream-plan", time.Minute)
		now := time.Now().Add(time.Second).UTC().Truncate(time.Microsecond)
		client := insertOnlyClient(t)
		_, err := jobs.PlanTx(ctx, tx, client, now, opts)
		require.NoError(t, err)
		require.True(t, floorPlannedAt(t, tx, c.ID).Equal(now), "a floor never planned is due")
		return tx, c, client, now
	}
	// volumePlanned tells whether the volume pair was claimed at at: the
	// tick ran and served the collection's other kinds.
	volumePlanned := func(t *testing.T, tx pgx.Tx, id int64, at time.Time) bool {
		s, err := db.New(tx).ScheduleGet(ctx, db.ScheduleGetParams{CollectionID: id, Kind: jobs.RefreshVolume})
		require.NoError(t, err)
		return s.LastPlannedAt.Time.Equal(at)
	}

	t.Run("LiveStreamWaitsForTheReconcileInterval", func(t *testing.T) {
		t.Parallel()
		tx, c, client, t0 := setup(t)
		for i := 1; i < 10; i++ {
			now := t0.Add(time.Duration(i)*time.Minute + time.Second)
			markStream(t, tx, c.ID, "live", now.Add(-15*time.Second))
			_, err := jobs.PlanTx(ctx, tx, client, now, opts)
			require.NoError(t, err)
			require.True(t, floorPlannedAt(t, tx, c.ID).Equal(t0), "minute %d: a live-streamed floor is not polled", i)
			require.True(t, volumePlanned(t, tx, c.ID, now), "minute %d: the other kinds keep their schedule", i)
		}
		now := t0.Add(10*time.Minute + time.Second)
		markStream(t, tx, c.ID, "live", now.Add(-15*time.Second))
		_, err := jobs.PlanTx(ctx, tx, client, now, opts)
		require.NoError(t, err)
		require.True(t, floorPlannedAt(t, tx, c.ID).Equal(now), "the reconcile is planned after the interval")
	})

	t.Run("VolumeFollowsTheReconcileWhenTheLedgerCoversTheDay", func(t *testing.T) {
		t.Parallel()
		tx, c, client, t0 := setup(t)
		markStream(t, tx, c.ID, "live", t0) // the default options: PollStreamedVolume off
		covered := func(since time.Time) {
			require.NoError(t, db.New(tx).StreamSalesCovered(ctx, db.StreamSalesCoveredParams{CollectionID: c.ID,
				Since: pgtype.Timestamptz{Time: since, Valid: !since.IsZero()}}))
		}
		// Covered only since an hour ago: the volume keeps its schedule.
		covered(t0.Add(-time.Hour))
		now := t0.Add(time.Minute + time.Second)
		markStream(t, tx, c.ID, "live", now.Add(-15*time.Second))
		_, err := jobs.PlanTx(ctx, tx, client, now, opts)
		require.NoError(t, err)
		require.True(t, volumePlanned(t, tx, c.ID, now), "the ledger does not cover the day: volume is polled")

		covered(t0.Add(-25 * time.Hour))
		for i := 2; i < 10; i++ {
			now := t0.Add(time.Duration(i)*time.Minute + time.Second)
			markStream(t, tx, c.ID, "live", now.Add(-15*time.Second))
			_, err := jobs.PlanTx(ctx, tx, client, now, opts)
			require.NoError(t, err)
			require.False(t, volumePlanned(t, tx, c.ID, now), "minute %d: the volume waits for the floor's reconcile", i)
		}
		now = t0.Add(10*time.Minute + time.Second)
		markStream(t, tx, c.ID, "live", now.Add(-15*time.Second))
		_, err = jobs.PlanTx(ctx, tx, client, now, opts)
		require.NoError(t, err)
		require.True(t, floorPlannedAt(t, tx, c.ID).Equal(now))
		require.True(t, volumePlanned(t, tx, c.ID, now), "floor and volume are planned in one tick: one shared stats call")
	})

	t.Run("PollStreamedVolumeKeepsTheVolumeInterval", func(t *testing.T) {
		t.Parallel()
		tx, c, client, t0 := setup(t)
		opts := opts
		opts.PollStreamedVolume = true
		markStream(t, tx, c.ID, "live", t0)
		require.NoError(t, db.New(tx).StreamSalesCovered(ctx, db.StreamSalesCoveredParams{CollectionID: c.ID,
			Since: pgtype.Timestamptz{Time: t0.Add(-25 * time.Hour), Valid: true}}))
		for i := 1; i < 5; i++ {
			now := t0.Add(time.Duration(i)*time.Minute + time.Second)
			markStream(t, tx, c.ID, "live", now.Add(-15*time.Second))
			_, err := jobs.PlanTx(ctx, tx, client, now, opts)
			require.NoError(t, err)
			require.True(t, volumePlanned(t, tx, c.ID, now), "minute %d: the volume is polled on its interval", i)
			require.True(t, floorPlannedAt(t, tx, c.ID).Equal(t0), "minute %d: the floor still waits for its reconcile", i)
		}
	})

	t.Run("StaleLiveMarkFallsBackToPolling", func(t *testing.T) {
		t.Parallel()
		tx, c, client, t0 := setup(t)
		// Live, but the last mark is older than the liveness TTL (60 s): the
		// replica that held the stream is gone.
		markStream(t, tx, c.ID, "live", t0)
		now := t0.Add(time.Minute + 2*time.Second)
		_, err := jobs.PlanTx(ctx, tx, client, now, opts)
		require.NoError(t, err)
		require.True(t, floorPlannedAt(t, tx, c.ID).Equal(now), "a stale stream is polled on the normal schedule")
	})

	t.Run("DownStreamIsPolled", func(t *testing.T) {
		t.Parallel()
		tx, c, client, t0 := setup(t)
		now := t0.Add(time.Minute + time.Second)
		markStream(t, tx, c.ID, "down", now.Add(-time.Second))
		_, err := jobs.PlanTx(ctx, tx, client, now, opts)
		require.NoError(t, err)
		require.True(t, floorPlannedAt(t, tx, c.ID).Equal(now))
	})
}

// statsClassRecorder passes Stats calls to the real client and records the
// rate-limit class each was made under.
type statsClassRecorder struct {
	indexer.Indexer
	mu      sync.Mutex
	classes []ratelimit.Class
}

func (r *statsClassRecorder) Stats(ctx context.Context, slug string) (*indexer.Stats, error) {
	r.mu.Lock()
	r.classes = append(r.classes, ratelimit.ClassFrom(ctx))
	r.mu.Unlock()
	return r.Indexer.Stats(ctx, slug)
}

func (r *statsClassRecorder) last() ratelimit.Class {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.classes[len(r.classes)-1]
}

func TestFloorReconcileAgainstStream(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	setup := func(t *testing.T) (*marketStatsBundle, *statsClassRecorder) {
		t.Helper()
		b := setupMarketStats(t, "ethereum")
		rec := &statsClassRecorder{Indexer: b.deps.Indexers["opensea"]}
		b.deps.Indexers = map[string]indexer.Indexer{"opensea": rec}
		return b, rec
	}
	// streamFloor stores a floor as the stream consumer does, at.
	streamFloor := func(t *testing.T, b *marketStatsBundle, amount string, at time.Time) {
		t.Helper()
		require.NoError(t, db.New(b.tx).FloorPriceObserve(ctx, db.FloorPriceObserveParams{
			CollectionID: b.coll.ID, Source: jobs.StreamSource("opensea"), Amount: decimal(t, amount),
			Currency: "ETH", Decimals: 18, SeenAt: at, SourceAsOf: pgtype.Timestamptz{Time: at, Valid: true}}))
	}
	events := func(t *testing.T, b *marketStatsBundle) []db.DataQualityEvent {
		t.Helper()
		evs, err := db.New(b.tx).DataQualityEventList(ctx, pgtypeInt8(b.coll.ID))
		require.NoError(t, err)
		return evs
	}
	needsBootstrap := func(t *testing.T, b *marketStatsBundle) bool {
		t.Helper()
		s, err := db.New(b.tx).StreamStateGet(ctx, b.coll.ID)
		require.NoError(t, err)
		return s.NeedsBootstrap
	}

	t.Run("DifferenceIsRecordedAndAsksForABootstrap", func(t *testing.T) {
		t.Parallel()
		b, rec := setup(t)
		now := b.up.clock()
		markStream(t, b.tx, b.coll.ID, "live", now.Add(-5*time.Second))
		streamFloor(t, b, "1.4", now.Add(-2*time.Minute))
		b.up.set("1.5", "10")
		require.Equal(t, river.EventKindJobCompleted, b.floorRound(t))
		require.Equal(t, ratelimit.ClassBulk, rec.last(), "a reconcile is bulk work")

		evs := events(t, b)
		require.Len(t, evs, 1)
		require.Equal(t, "stream_floor_mismatch", evs[0].Kind)
		require.Equal(t, "opensea:stream", evs[0].Source)
		require.Contains(t, evs[0].Message, "1.4")
		require.True(t, needsBootstrap(t, b))
		rest, err := db.New(b.tx).FloorPriceLatest(ctx, db.FloorPriceLatestParams{CollectionID: b.coll.ID, Source: "opensea"})
		require.NoError(t, err)
		require.Equal(t, "1.5", num(t, rest.Amount), "the REST value is stored")
	})

	t.Run("AgreementRecordsNothing", func(t *testing.T) {
		t.Parallel()
		b, rec := setup(t)
		now := b.up.clock()
		markStream(t, b.tx, b.coll.ID, "live", now.Add(-5*time.Second))
		streamFloor(t, b, "1.50", now.Add(-2*time.Minute))
		b.up.set("1.5", "10")
		require.Equal(t, river.EventKindJobCompleted, b.floorRound(t))
		require.Equal(t, ratelimit.ClassBulk, rec.last())
		require.Empty(t, events(t, b))
		require.False(t, needsBootstrap(t, b))
	})

	t.Run("RecentStreamChangeIsNotCompared", func(t *testing.T) {
		t.Parallel()
		b, _ := setup(t)
		now := b.up.clock()
		markStream(t, b.tx, b.coll.ID, "live", now.Add(-5*time.Second))
		streamFloor(t, b, "1.4", now.Add(-time.Second))
		b.up.set("1.5", "10")
		require.Equal(t, river.EventKindJobCompleted, b.floorRound(t))
		require.Empty(t, events(t, b), "the stream saw a change the REST answer may not have yet")
	})

	for _, covered := range []bool{false, true} {
		t.Run(fmt.Sprintf("VolumeIsBulkOnlyWhileTheLedgerCoversTheDay/covered=%t", covered), func(t *testing.T) {
			t.Parallel()
			b, rec := setup(t)
			now := b.up.clock()
			markStream(t, b.tx, b.coll.ID, "live", now.Add(-5*time.Second))
			if covered {
				require.NoError(t, db.New(b.tx).StreamSalesCovered(ctx, db.StreamSalesCoveredParams{CollectionID: b.coll.ID,
					Since: pgtype.Timestamptz{Time: now.Add(-25 * time.Hour), Valid: true}}))
			}
			require.Equal(t, river.EventKindJobCompleted, b.volumeRound(t))
			want := ratelimit.ClassLive
			if covered {
				want = ratelimit.ClassBulk
			}
			require.Equal(t, want, rec.last(), "covered %t", covered)
		})
	}

	t.Run("PolledCollectionIsNotCrossChecked", func(t *testing.T) {
		t.Parallel()
		b, rec := setup(t)
		now := b.up.clock()
		markStream(t, b.tx, b.coll.ID, "live", now.Add(-2*time.Minute)) // stale mark
		streamFloor(t, b, "1.4", now.Add(-2*time.Minute))
		b.up.set("1.5", "10")
		require.Equal(t, river.EventKindJobCompleted, b.floorRound(t))
		require.Equal(t, ratelimit.ClassLive, rec.last(), "a polled floor is live work")
		require.Empty(t, events(t, b))
		require.False(t, needsBootstrap(t, b))
	})
}

// decimal parses a decimal string into a numeric.
func decimal(t *testing.T, s string) pgtype.Numeric {
	t.Helper()
	var n pgtype.Numeric
	require.NoError(t, n.Scan(s))
	return n
}
