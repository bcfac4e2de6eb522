package jobs_test

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/stretchr/testify/require"

	"github.com/nftsync/nftsync/db"
	"github.com/nftsync/nftsync/jobs"
)

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// trackTx tracks a collection with every schedule kind due now.
func trackTx(t testing.TB, tx pgx.Tx, slug string, every time.Duration) db.Collection {
	t.Helper()
	ctx := context.Background()
	q := db.New(tx)
	c := upsertCollection(t, tx, slug)
	for _, kind := range jobs.ScheduleKinds {
		require.NoError(t, q.ScheduleEnsure(ctx, db.ScheduleEnsureParams{CollectionID: c.ID, Kind: kind, EverySeconds: int32(every / time.Second)}))
	}
	return c
}

// upsertCollection tracks slug in tx.
func upsertCollection(t testing.TB, tx pgx.Tx, slug string) db.Collection {
	t.Helper()
	c, err := db.New(tx).CollectionUpsert(context.Background(), db.CollectionUpsertParams{Source: "opensea", Slug: slug, Chain: "ethereum", Priority: 2})
	require.NoError(t, err)
	return c
}

func jobCounts(t *testing.T, tx pgx.Tx) map[string]int64 {
	t.Helper()
	rows, err := db.New(tx).JobCountsByKindState(context.Background())
	require.NoError(t, err)
	out := map[string]int64{}
	for _, r := range rows {
		out[r.Kind] += r.Jobs
	}
	return out
}

func insertOnlyClient(t testing.TB) *river.Client[pgx.Tx] {
	t.Helper()
	client, err := river.NewClient(riverpgxv5.New(nil), &river.Config{Logger: discardLogger()})
	require.NoError(t, err)
	return client
}

func TestPlanTx(t *testing.T) {
	t.Parallel()

	type testBundle struct {
		tx     pgx.Tx
		client *river.Client[pgx.Tx]
		now    time.Time
	}
	setup := func(t *testing.T) *testBundle {
		t.Helper()
		// The schedules' default next_due_at is the database's now(); plan a
		// little later so every pair is due.
		return &testBundle{tx: sharedTx(t), client: insertOnlyClient(t), now: time.Now().Add(time.Second)}
	}

	t.Run("DuePairsBecomeOneJobEach", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		ctx := context.Background()
		c1 := trackTx(t, b.tx, "plan-a", time.Minute)
		c2 := trackTx(t, b.tx, "plan-b", time.Minute)

		n, err := jobs.PlanTx(ctx, b.tx, b.client, b.now, jobs.PlanOptions{Batch: 100})
		require.NoError(t, err)
		require.Equal(t, 8, n)
		require.Equal(t, map[string]int64{
			"fetch_floor_price": 2, "fetch_volume": 2, "fetch_collection_metadata": 2, "sync_tokens": 2,
		}, jobCounts(t, b.tx))

		// Next due time advanced by one interval.
		for _, c := range []db.Collection{c1, c2} {
			scheds, err := db.New(b.tx).ScheduleListForCollection(ctx, c.ID)
			require.NoError(t, err)
			for _, s := range scheds {
				require.WithinDuration(t, b.now.Add(time.Minute), s.NextDueAt, time.Millisecond, s.Kind)
			}
		}
		// Nothing is due any more.
		n, err = jobs.PlanTx(ctx, b.tx, b.client, b.now, jobs.PlanOptions{Batch: 100})
		require.NoError(t, err)
		require.Zero(t, n)
	})

	t.Run("SecondTickBeforeCompletionAddsNoDuplicates", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		ctx := context.Background()
		trackTx(t, b.tx, "plan-dup", time.Second)

		n, err := jobs.PlanTx(ctx, b.tx, b.client, b.now, jobs.PlanOptions{Batch: 100})
		require.NoError(t, err)
		require.Equal(t, 4, n)
		// Due again one interval later, but the first jobs are still pending.
		n, err = jobs.PlanTx(ctx, b.tx, b.client, b.now.Add(2*time.Second), jobs.PlanOptions{Batch: 100})
		require.NoError(t, err)
		require.Zero(t, n)
		for kind, count := range jobCounts(t, b.tx) {
			require.Equal(t, int64(1), count, kind)
		}
	})

	t.Run("RolledBackPlanEnqueuesNothing", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		ctx := context.Background()
		c := trackTx(t, b.tx, "plan-rollback", time.Minute)

		inner, err := b.tx.Begin(ctx) // savepoint
		require.NoError(t, err)
		n, err := jobs.PlanTx(ctx, inner, b.client, b.now, jobs.PlanOptions{Batch: 100})
		require.NoError(t, err)
		require.Equal(t, 4, n)
		require.NoError(t, inner.Rollback(ctx))

		require.Empty(t, jobCounts(t, b.tx))
		scheds, err := db.New(b.tx).ScheduleListForCollection(ctx, c.ID)
		require.NoError(t, err)
		for _, s := range scheds {
			require.False(t, s.LastPlannedAt.Valid, "schedule %s must not have advanced", s.Kind)
		}
	})

	t.Run("InactiveCollectionsAreNotPlanned", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		ctx := context.Background()
		c := trackTx(t, b.tx, "plan-failed", time.Minute)
		require.NoError(t, db.New(b.tx).CollectionSetStatus(ctx, db.CollectionSetStatusParams{ID: c.ID, Status: "failed", StatusReason: "test"}))
		n, err := jobs.PlanTx(ctx, b.tx, b.client, b.now, jobs.PlanOptions{Batch: 100})
		require.NoError(t, err)
		require.Zero(t, n)
	})
}
