package jobs

import (
	"context"

	"github.com/riverqueue/river"
)

// FetchFloorPriceArgs refreshes a collection's floor price (and, from the
// same response, its volume).
type FetchFloorPriceArgs struct{ CollectionArgs }

// Kind is stable; never rename it.
func (FetchFloorPriceArgs) Kind() string { return "fetch_floor_price" }

// InsertOpts: floor_price queue, one unfinished job per collection.
func (FetchFloorPriceArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueueFloorPrice, MaxAttempts: 10, UniqueOpts: uniquePending()}
}

// FetchFloorPriceWorker works FetchFloorPriceArgs.
type FetchFloorPriceWorker struct {
	river.WorkerDefaults[FetchFloorPriceArgs]
	Deps *Deps
}

// Work fetches stats and stores a floor and volume snapshot.
func (w *FetchFloorPriceWorker) Work(ctx context.Context, job *river.Job[FetchFloorPriceArgs]) error {
	return refreshStats(ctx, w.Deps, job.JobRow, job.Args.CollectionArgs, KindFloorPrice)
}
