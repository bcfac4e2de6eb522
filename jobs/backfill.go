package jobs

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
)

// PriorityBulk is the River priority of backfill jobs: every queue serves
// live refreshes (priorities 1-3) before them.
const PriorityBulk = 4

// EnqueueBulk inserts, in tx, one fetch job at bulk priority for each of the
// collection's schedule kinds. The jobs are the ones the planner inserts, with
// the same uniqueness: a kind whose previous job has not finished is skipped,
// so running a backfill twice enqueues nothing twice. It returns how many jobs
// were inserted.
func EnqueueBulk(ctx context.Context, tx pgx.Tx, client *river.Client[pgx.Tx], collectionID int64, kinds []string, now time.Time) (int, error) {
	planned := make([]plannedJob, 0, len(kinds))
	for _, kind := range kinds {
		planned = append(planned, plannedJob{kind: kind, priority: PriorityBulk,
			args: CollectionArgs{CollectionID: collectionID, Bucket: now}})
	}
	n, err := insertJobs(ctx, tx, client, planned)
	if err != nil {
		return 0, fmt.Errorf("backfill collection %d: %w", collectionID, err)
	}
	return n, nil
}
