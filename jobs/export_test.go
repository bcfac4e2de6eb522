package jobs

import (
	"context"
	"time"

	"github.com/nftsync/nftsync/db"
	"github.com/nftsync/nftsync/internal/rarity"
)

// SetAfterSyncForTest installs the production AfterSync hook (enqueue
// fetch_traits) on a worker built in a test.
func SetAfterSyncForTest(w *SyncTokensWorker) { w.AfterSync = enqueueFetchTraits }

// SetAfterTraitsForTest installs the production AfterTraits hook (enqueue
// compute_rarity) on a worker built in a test.
func SetAfterTraitsForTest(w *FetchTraitsWorker) { w.AfterTraits = enqueueRarity }

// MaxListPages exposes the listing's page bound.
func MaxListPages(n int64, pageSize int) int64 { return maxListPages(n, pageSize) }

// RarityReadCompute times the first two steps of ComputeRarity apart: the
// snapshot read of the collection into the engine, and the computation.
// Nothing is stored.
func RarityReadCompute(ctx context.Context, d *Deps, c *db.Collection, method rarity.Method) (read, compute time.Duration, err error) {
	start := time.Now()
	in, err := readRarityInput(ctx, d, c, method)
	if err != nil {
		return 0, 0, err
	}
	read = time.Since(start)
	if in.refu != nil {
		return read, 0, in.refu
	}
	start = time.Now()
	_, err = in.b.Compute()
	return read, time.Since(start), err
}

// EnsureHistoryPartitions creates the history partitions a write at at
// needs, as the workers do when one is missing.
func EnsureHistoryPartitions(ctx context.Context, dbtx db.DBTX, at time.Time) error {
	return ensureHistoryPartitions(ctx, db.New(dbtx), at)
}
