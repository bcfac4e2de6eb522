package jobs_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivertest"
	"github.com/stretchr/testify/require"

	"github.com/nftsync/nftsync/db"
	"github.com/nftsync/nftsync/internal/indexer"
	"github.com/nftsync/nftsync/jobs"
)

// marketStatsSource answers every stats call with one floor and one volume.
type marketStatsSource struct {
	*pagedSource
	floor, volume string
}

func (s *marketStatsSource) Stats(context.Context, string) (*indexer.Stats, error) {
	eth := func(a string) indexer.Money { return indexer.Money{Amount: a, Currency: "ETH", Decimals: 18} }
	floor := eth(s.floor)
	return &indexer.Stats{Floor: &floor, Volumes: []indexer.Volume{{Window: "1d", Amount: eth(s.volume), Sales: 3}}}, nil
}

// Amounts the numeric(78,18) columns cannot hold are refused before the
// database: a data-quality event and a cancelled job (retrying the same
// answer would store nothing either), instead of a failed transaction
// retried until discarded (too big) or a silent 0 (below 1e-18).
func TestMarketStatsAmountOutOfRange(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	big := "1" + strings.Repeat("0", 60) // 61 integer digits
	tiny := "0." + strings.Repeat("0", 18) + "1"

	run := func(t *testing.T, kind string, src *marketStatsSource) (*rivertest.WorkResult, *db.Queries, db.Collection) {
		t.Helper()
		tx := sharedTx(t)
		deps := &jobs.Deps{DB: tx, Logger: discardLogger(), Indexers: map[string]indexer.Indexer{"opensea": src}}
		coll := trackTx(t, tx, "amounts", time.Minute)
		args := jobs.CollectionArgs{CollectionID: coll.ID}
		var (
			res *rivertest.WorkResult
			err error
		)
		if kind == jobs.RefreshFloorPrice {
			tw := rivertest.NewWorker(t, riverpgxv5.New(nil), &river.Config{Logger: discardLogger()}, &jobs.FetchFloorPriceWorker{Deps: deps})
			res, err = tw.Work(ctx, t, tx, jobs.FetchFloorPriceArgs{CollectionArgs: args}, nil)
		} else {
			tw := rivertest.NewWorker(t, riverpgxv5.New(nil), &river.Config{Logger: discardLogger()}, &jobs.FetchVolumeWorker{Deps: deps})
			res, err = tw.Work(ctx, t, tx, jobs.FetchVolumeArgs{CollectionArgs: args}, nil)
		}
		_ = err // a cancelled job reports its reason as an error
		return res, db.New(tx), coll
	}
	requireOutOfRange := func(t *testing.T, res *rivertest.WorkResult, q *db.Queries, coll db.Collection, what string) {
		t.Helper()
		require.Equal(t, river.EventKindJobCancelled, res.EventKind, "a permanent outcome, not a retry")
		events, err := q.DataQualityEventList(ctx, pgtypeInt8(coll.ID))
		require.NoError(t, err)
		require.Len(t, events, 1)
		require.Equal(t, "out_of_range", events[0].Kind)
		require.Contains(t, events[0].Message, what)
		require.Contains(t, events[0].Message, "numeric(78,18)")
	}

	t.Run("FloorTooBig", func(t *testing.T) {
		t.Parallel()
		res, q, coll := run(t, jobs.RefreshFloorPrice, &marketStatsSource{pagedSource: &pagedSource{}, floor: big, volume: "1"})
		requireOutOfRange(t, res, q, coll, "floor price")
	})

	t.Run("FloorBelowResolution", func(t *testing.T) {
		t.Parallel()
		res, q, coll := run(t, jobs.RefreshFloorPrice, &marketStatsSource{pagedSource: &pagedSource{}, floor: tiny, volume: "1"})
		requireOutOfRange(t, res, q, coll, "floor price")
	})

	t.Run("VolumeTooBig", func(t *testing.T) {
		t.Parallel()
		res, q, coll := run(t, jobs.RefreshVolume, &marketStatsSource{pagedSource: &pagedSource{}, floor: "1", volume: big})
		requireOutOfRange(t, res, q, coll, "volume 1d")
	})

	t.Run("EdgesOfTheRangeAreStored", func(t *testing.T) {
		t.Parallel()
		edge := strings.Repeat("9", 60) + "." + strings.Repeat("9", 17) + "1"
		res, _, _ := run(t, jobs.RefreshFloorPrice, &marketStatsSource{pagedSource: &pagedSource{}, floor: edge, volume: "0." + strings.Repeat("0", 17) + "1"})
		require.Equal(t, river.EventKindJobCompleted, res.EventKind)
	})
}
