package jobs_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivertest"
	"github.com/stretchr/testify/require"

	"github.com/nftsync/nftsync/db"
	"github.com/nftsync/nftsync/internal/rarity"
	"github.com/nftsync/nftsync/jobs"
)

func TestComputeRarityWorker(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	setup := func(t *testing.T) (*workerBundle, *jobs.ComputeRarityWorker) {
		t.Helper()
		b := setupWorkers(t, nil)
		res := work(t, b, &jobs.SyncTokensWorker{Deps: b.deps}, jobs.SyncTokensArgs{CollectionArgs: jobs.CollectionArgs{CollectionID: b.coll.ID}})
		require.Equal(t, river.EventKindJobCompleted, res.EventKind)
		return b, &jobs.ComputeRarityWorker{Deps: b.deps}
	}

	t.Run("SyncCompletionEnqueuesTraitsThenRarityInSameTransactions", func(t *testing.T) {
		t.Parallel()
		b := setupWorkers(t, nil)
		w := &jobs.SyncTokensWorker{Deps: b.deps}
		jobs.SetAfterSyncForTest(w)
		work(t, b, w, jobs.SyncTokensArgs{CollectionArgs: jobs.CollectionArgs{CollectionID: b.coll.ID}})
		ft := rivertest.RequireInsertedTx[*riverpgxv5.Driver](ctx, t, b.tx, &jobs.FetchTraitsArgs{}, nil)
		require.Equal(t, b.coll.ID, ft.Args.CollectionID)
		tw := &jobs.FetchTraitsWorker{Deps: b.deps}
		jobs.SetAfterTraitsForTest(tw)
		work(t, b, tw, *ft.Args)
		job := rivertest.RequireInsertedTx[*riverpgxv5.Driver](ctx, t, b.tx, &jobs.ComputeRarityArgs{}, nil)
		require.Equal(t, b.coll.ID, job.Args.CollectionID)
		require.Equal(t, ft.Args.SyncRun, job.Args.SyncRun)
	})

	t.Run("ScoresEveryTokenThenNoOpThenRecomputesOnChange", func(t *testing.T) {
		t.Parallel()
		b, w := setup(t)
		q := db.New(b.tx)
		args := jobs.ComputeRarityArgs{CollectionID: b.coll.ID}

		res := work(t, b, w, args)
		require.Equal(t, river.EventKindJobCompleted, res.EventKind)
		ranks, err := q.TokenRarityList(ctx, db.TokenRarityListParams{CollectionID: b.coll.ID, Method: "openrarity"})
		require.NoError(t, err)
		require.Len(t, ranks, b.info.TokenCount)
		require.Equal(t, int32(1), ranks[0].Rank)
		var sum float64
		for _, r := range ranks {
			sum += r.Score
		}
		require.InDelta(t, 1.0, sum/float64(len(ranks)), 1e-9, "OpenRarity scores average 1")
		run1, err := q.RarityRunGet(ctx, db.RarityRunGetParams{CollectionID: b.coll.ID, Method: "openrarity"})
		require.NoError(t, err)
		require.Equal(t, rarity.OpenRarityVersion, run1.Version)

		// Same traits: nothing is rewritten.
		work(t, b, w, args)
		run2, err := q.RarityRunGet(ctx, db.RarityRunGetParams{CollectionID: b.coll.ID, Method: "openrarity"})
		require.NoError(t, err)
		require.Equal(t, run1.ComputedAt, run2.ComputedAt)

		// One token's trait changes: new hash, recomputed.
		tag, err := b.tx.Exec(ctx, "UPDATE token_traits SET value_text = 'changed-for-test' WHERE collection_id = $1 AND token_id = $2 AND ordinal = 0",
			b.coll.ID, fmt.Sprint(b.info.FirstTokenID))
		require.NoError(t, err)
		require.Equal(t, int64(1), tag.RowsAffected())
		work(t, b, w, args)
		run3, err := q.RarityRunGet(ctx, db.RarityRunGetParams{CollectionID: b.coll.ID, Method: "openrarity"})
		require.NoError(t, err)
		require.NotEqual(t, run1.InputHash, run3.InputHash)
		require.True(t, run3.ComputedAt.After(run1.ComputedAt) || run3.ComputedAt.Equal(run1.ComputedAt))
		ranks, err = q.TokenRarityList(ctx, db.TokenRarityListParams{CollectionID: b.coll.ID, Method: "openrarity"})
		require.NoError(t, err)
		require.Len(t, ranks, b.info.TokenCount)
		require.Equal(t, run3.InputHash, ranks[0].InputHash)
	})

	t.Run("OtherMethodsStoredSideBySide", func(t *testing.T) {
		t.Parallel()
		b, w := setup(t)
		for _, m := range []string{"openrarity", "rarity_tools", "statistical"} {
			res := work(t, b, w, jobs.ComputeRarityArgs{CollectionID: b.coll.ID, Method: m})
			require.Equal(t, river.EventKindJobCompleted, res.EventKind, m)
			ranks, err := db.New(b.tx).TokenRarityList(ctx, db.TokenRarityListParams{CollectionID: b.coll.ID, Method: m})
			require.NoError(t, err)
			require.Len(t, ranks, b.info.TokenCount, m)
		}
	})

	t.Run("ERC1155Refused", func(t *testing.T) {
		t.Parallel()
		b, w := setup(t)
		_, err := b.tx.Exec(ctx, "UPDATE tokens SET token_standard = 'erc1155' WHERE collection_id = $1 AND token_id = $2",
			b.coll.ID, fmt.Sprint(b.info.FirstTokenID))
		require.NoError(t, err)
		res := work(t, b, w, jobs.ComputeRarityArgs{CollectionID: b.coll.ID})
		require.Equal(t, river.EventKindJobCancelled, res.EventKind)
		var events int
		require.NoError(t, b.tx.QueryRow(ctx, "SELECT count(*) FROM data_quality_events WHERE collection_id = $1 AND kind = 'rarity_refused'", b.coll.ID).Scan(&events))
		require.Equal(t, 1, events)
		_, err = db.New(b.tx).RarityRunGet(ctx, db.RarityRunGetParams{CollectionID: b.coll.ID, Method: "openrarity"})
		require.ErrorIs(t, db.Interpret(err), db.ErrNotFound)
	})

	t.Run("UnknownMethodCancels", func(t *testing.T) {
		t.Parallel()
		b, w := setup(t)
		res := work(t, b, w, jobs.ComputeRarityArgs{CollectionID: b.coll.ID, Method: "vibes"})
		require.Equal(t, river.EventKindJobCancelled, res.EventKind)
	})
}
