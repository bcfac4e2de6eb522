package jobs

import (
	"context"

	"github.com/riverqueue/river"

	"github.com/nftsync/nftsync/jobs/jobargs"
)

// FetchVolumeArgs is the job contract in jobargs.
type FetchVolumeArgs = jobargs.FetchVolumeArgs

// FetchVolumeWorker works FetchVolumeArgs.
type FetchVolumeWorker struct {
	river.WorkerDefaults[FetchVolumeArgs]
	Deps *Deps
}

// Work fetches market stats (or reuses a fresh stored response) and stores volume
// and floor snapshots.
func (w *FetchVolumeWorker) Work(ctx context.Context, job *river.Job[FetchVolumeArgs]) error {
	return refreshMarketStats(ctx, w.Deps, job.JobRow, job.Args.CollectionArgs, RefreshVolume)
}
