package jobs

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"github.com/nftsync/nftsync/jobs/jobargs"
)

// PriorityBulk is the River priority of backfill jobs: every queue serves
// live refreshes (priorities 1-3) before them.
const PriorityBulk = 4

// EnqueueBulk inserts, in tx, the jobs of each of the collection's schedule
// kinds at bulk priority: the ones the planner inserts (one per source routed
// for the kind), with the same uniqueness: a job whose previous one has not
// finished is skipped, so running a backfill twice enqueues nothing twice. It
// returns how many jobs were inserted.
func EnqueueBulk(ctx context.Context, tx pgx.Tx, client *river.Client[pgx.Tx], collectionID int64, kinds []string, now time.Time) (int, error) {
	ids := make([]int64, len(kinds))
	for i := range ids {
		ids[i] = collectionID
	}
	plan, err := jobargs.Plan(ctx, tx, ids, kinds, func(int) CollectionArgs { return CollectionArgs{PlannedAt: now} })
	if err != nil {
		return 0, fmt.Errorf("backfill collection %d: %w", collectionID, err)
	}
	for i := range plan {
		plan[i].Opts.Priority = PriorityBulk
	}
	n, err := insertPlanned(ctx, tx, client, plan)
	if err != nil {
		return 0, fmt.Errorf("backfill collection %d: %w", collectionID, err)
	}
	return n, nil
}
