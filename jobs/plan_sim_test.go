package jobs_test

import (
	"context"
	"math/big"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
	"github.com/stretchr/testify/require"

	"github.com/nftsync/nftsync/db"
	"github.com/nftsync/nftsync/jobs"
)

// scheduleKindOf maps a planned fetch job to its schedule kind.
var scheduleKindOf = map[string]string{
	"fetch_floor_price":         jobs.RefreshFloorPrice,
	"fetch_volume":              jobs.RefreshVolume,
	"fetch_collection_metadata": jobs.RefreshMetadata,
	"sync_tokens":               jobs.RefreshTokens,
}

// planSim runs the real planner tick after tick on simulated time, with
// workers that serve every planned job at once: each tick plans at now,
// marks every planned pair refreshed at now and removes its job (as a
// completed job would leave the unique window). The planner's transaction
// is its own (a savepoint when db is a test transaction).
type planSim struct {
	db     jobs.DB
	client *river.Client[pgx.Tx]
	opts   jobs.PlanOptions
	now    time.Time
}

// served is one pair a tick planned.
type served struct {
	CollectionID int64
	Kind         string
}

// tick plans at s.now, serves what was planned and returns it.
func (s *planSim) tick(tb testing.TB) []served {
	tb.Helper()
	got, _ := s.timedTick(tb)
	return got
}

// timedTick is tick, also returning how long the planning transaction took
// (begin to commit).
func (s *planSim) timedTick(tb testing.TB) ([]served, time.Duration) {
	tb.Helper()
	ctx := context.Background()
	start := time.Now()
	inner, err := s.db.Begin(ctx)
	require.NoError(tb, err)
	_, err = jobs.PlanTx(ctx, inner, s.client, s.now, s.opts)
	require.NoError(tb, err)
	require.NoError(tb, inner.Commit(ctx))
	took := time.Since(start)
	return s.serve(tb), took
}

// serve marks every pending fetch job's pair refreshed at s.now and deletes
// the jobs.
func (s *planSim) serve(tb testing.TB) []served {
	tb.Helper()
	ctx := context.Background()
	tx, err := s.db.Begin(ctx)
	require.NoError(tb, err)
	defer tx.Rollback(ctx) // after Commit it does nothing
	q := db.New(tx)
	list, err := q.JobListByKinds(ctx, []string{"fetch_floor_price", "fetch_volume", "fetch_collection_metadata", "sync_tokens"})
	require.NoError(tb, err)
	out := make([]served, 0, len(list))
	ids := make([]int64, 0, len(list))
	kinds := make([]string, 0, len(list))
	for _, j := range list {
		id := new(big.Int)
		_, ok := id.SetString(j.CollectionID, 10)
		require.True(tb, ok, j.CollectionID)
		out = append(out, served{id.Int64(), scheduleKindOf[j.Kind]})
		ids = append(ids, id.Int64())
		kinds = append(kinds, scheduleKindOf[j.Kind])
	}
	if len(out) == 0 {
		require.NoError(tb, tx.Commit(ctx))
		return out
	}
	require.NoError(tb, q.ScheduleMarkSuccessMany(ctx, db.ScheduleMarkSuccessManyParams{At: s.now, CollectionIds: ids, Kinds: kinds}))
	params := river.NewJobDeleteManyParams().
		States(rivertype.JobStateAvailable, rivertype.JobStateScheduled, rivertype.JobStatePending).First(10000)
	for {
		res, err := s.client.JobDeleteManyTx(ctx, tx, params)
		require.NoError(tb, err)
		if len(res.Jobs) < 10000 {
			require.NoError(tb, tx.Commit(ctx))
			return out
		}
	}
}

// setVolume1d stores a collection's 1-day volume (in ETH) observed at at.
func setVolume1d(tb testing.TB, q *db.Queries, collectionID int64, eth int64, at time.Time) {
	tb.Helper()
	require.NoError(tb, q.VolumeObserve(context.Background(), db.VolumeObserveParams{
		CollectionID: collectionID, Source: "opensea", TimeWindow: "1d",
		Amount: pgtype.Numeric{Int: big.NewInt(eth), Valid: true}, Currency: "ETH", Decimals: 18, SeenAt: at,
	}))
}
