package jobs

import (
	"context"

	"github.com/riverqueue/river"

	"github.com/nftsync/nftsync/jobs/jobargs"
)

// FetchFloorPriceArgs is the job contract in jobargs.
type FetchFloorPriceArgs = jobargs.FetchFloorPriceArgs

// FetchFloorPriceWorker works FetchFloorPriceArgs.
type FetchFloorPriceWorker struct {
	river.WorkerDefaults[FetchFloorPriceArgs]
	Deps *Deps
}

// Work fetches stats and stores a floor and volume snapshot.
func (w *FetchFloorPriceWorker) Work(ctx context.Context, job *river.Job[FetchFloorPriceArgs]) error {
	return refreshMarketStats(ctx, w.Deps, job.JobRow, job.Args.CollectionArgs, RefreshFloorPrice)
}
