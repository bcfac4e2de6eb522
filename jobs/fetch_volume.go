package jobs

import (
	"context"

	"github.com/riverqueue/river"
)

// FetchVolumeArgs refreshes a collection's trading volume windows (and, from
// the same response, its floor price).
type FetchVolumeArgs struct{ CollectionArgs }

// Kind is stable; never rename it.
func (FetchVolumeArgs) Kind() string { return "fetch_volume" }

// InsertOpts: volume queue, one unfinished job per collection.
func (FetchVolumeArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueueVolume, MaxAttempts: 10, UniqueOpts: uniquePending()}
}

// FetchVolumeWorker works FetchVolumeArgs.
type FetchVolumeWorker struct {
	river.WorkerDefaults[FetchVolumeArgs]
	Deps *Deps
}

// Work fetches stats (or reuses a fresh stored response) and stores volume
// and floor snapshots.
func (w *FetchVolumeWorker) Work(ctx context.Context, job *river.Job[FetchVolumeArgs]) error {
	return refreshStats(ctx, w.Deps, job.JobRow, job.Args.CollectionArgs, KindVolume)
}
