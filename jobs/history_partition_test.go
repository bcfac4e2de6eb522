package jobs_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/stretchr/testify/require"

	"github.com/nftsync/nftsync/db"
	"github.com/nftsync/nftsync/db/dbtest"
	"github.com/nftsync/nftsync/internal/indexer"
	"github.com/nftsync/nftsync/internal/indexer/opensea"
	"github.com/nftsync/nftsync/jobs"
)

// TestWorkerCreatesMissingHistoryPartition: a worker storing history on a
// day whose partition maintenance has not made yet creates it and stores.
// (The tests on the shared database find simNoon's partitions made.)
func TestWorkerCreatesMissingHistoryPartition(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := dbtest.DB(t) // own database: the worker creates partitions
	tx, err := pool.Begin(ctx)
	require.NoError(t, err)
	t.Cleanup(func() { _ = tx.Rollback(context.Background()) })
	q := db.New(tx)

	day := time.Date(2025, 3, 3, 0, 0, 0, 0, time.UTC) // long before the migration's partitions
	up := &marketStatsUpstream{floor: "1.5", vol1d: "10", now: day.Add(12 * time.Hour)}
	srv := httptest.NewServer(up)
	t.Cleanup(srv.Close)
	client, err := opensea.NewClient(srv.URL, &http.Client{Timeout: 5 * time.Second}, opensea.Options{Now: up.clock})
	require.NoError(t, err)
	b := &workerBundle{
		tx:   tx,
		coll: trackTx(t, tx, "partition-missing", time.Minute),
		deps: &jobs.Deps{DB: tx, Logger: discardLogger(), Now: up.clock, Indexers: map[string]indexer.Indexer{"opensea": client}},
	}
	partitions := func() []string {
		names, err := q.HistoryPartitions(ctx, "floor_price_history")
		require.NoError(t, err)
		return names
	}
	require.NotContains(t, partitions(), "floor_price_history_p20250303")

	args := jobs.CollectionArgs{CollectionID: b.coll.ID, PlannedAt: up.clock()}
	require.Equal(t, river.EventKindJobCompleted, work(t, b, &jobs.FetchFloorPriceWorker{Deps: b.deps}, jobs.FetchFloorPriceArgs{CollectionArgs: args}).EventKind)
	require.Contains(t, partitions(), "floor_price_history_p20250303")
	floor, err := q.FloorPriceLatest(ctx, db.FloorPriceLatestParams{CollectionID: b.coll.ID, Source: "opensea"})
	require.NoError(t, err)
	require.Equal(t, "1.5", num(t, floor.Amount))
	counts, err := q.SnapshotCounts(ctx, b.coll.ID)
	require.NoError(t, err)
	require.Equal(t, int64(1), counts.Floors, "stored once, by the second try")
}
