package jobs

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"github.com/nftsync/nftsync/db"
	"github.com/nftsync/nftsync/jobs/jobargs"
)

// PlanRefreshArgs is the periodic planning tick. It carries nothing: what is
// due lives in collection_schedules, so a tick skipped around a leader change
// is caught up by the next one.
type PlanRefreshArgs struct{}

// Kind is stable; never rename it.
func (PlanRefreshArgs) Kind() string { return "plan_refresh" }

// InsertOpts puts planning on its own queue.
func (PlanRefreshArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueuePlanner, MaxAttempts: 3}
}

// PlanRefreshWorker turns due (collection, kind) pairs into fetch jobs.
type PlanRefreshWorker struct {
	river.WorkerDefaults[PlanRefreshArgs]
	Deps *Deps
	// Batch is the most pairs planned per tick; 0 means 1000.
	Batch int32
}

// Work plans in ONE transaction: it locks due pairs (FOR UPDATE SKIP LOCKED,
// so concurrent planners never take the same pair), advances their next-due
// time and inserts the fetch jobs with InsertManyTx. A crash or rollback
// enqueues nothing and advances nothing. Unique options skip a pair whose
// previous job of that kind has not finished yet.
func (w *PlanRefreshWorker) Work(ctx context.Context, job *river.Job[PlanRefreshArgs]) error {
	client, err := river.ClientFromContextSafely[pgx.Tx](ctx)
	if err != nil {
		return fmt.Errorf("plan refresh: %w", err)
	}
	n, err := Plan(ctx, w.Deps, client, w.Batch)
	if err != nil {
		return err
	}
	if n > 0 {
		w.Deps.Logger.DebugContext(ctx, "planned refreshes", slog.Int("jobs", n))
	}
	return nil
}

// Plan runs one planning round with the given client (it may be an
// insert-only client) and returns how many jobs were inserted (duplicates of
// unfinished jobs are not counted).
func Plan(ctx context.Context, d *Deps, client *river.Client[pgx.Tx], batch int32) (int, error) {
	if batch <= 0 {
		batch = 1000
	}
	now := d.now()
	inserted := 0
	err := withTx(ctx, d, func(tx pgx.Tx) error {
		var err error
		inserted, err = PlanTx(ctx, tx, client, now, batch)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("plan refresh: %w", err)
	}
	return inserted, nil
}

// PlanTx is the body of Plan inside the caller's transaction; exported so a
// test can roll the transaction back and see that nothing was enqueued.
func PlanTx(ctx context.Context, tx pgx.Tx, client *river.Client[pgx.Tx], now time.Time, batch int32) (int, error) {
	q := db.New(tx)
	due, err := q.ScheduleClaimDue(ctx, db.ScheduleClaimDueParams{Now: now, MaxRows: batch})
	if err != nil {
		return 0, fmt.Errorf("claim due schedules: %w", err)
	}
	if len(due) == 0 {
		return 0, nil
	}
	ids := make([]int64, len(due))
	kinds := make([]string, len(due))
	for i, row := range due {
		ids[i], kinds[i] = row.CollectionID, row.Kind
	}
	// One job per source routed for each pair, as every enqueue path does.
	plan, err := jobargs.Plan(ctx, tx, ids, kinds, func(int) CollectionArgs { return CollectionArgs{Bucket: now} })
	if err != nil {
		return 0, err
	}
	priority := make(map[int64]int, len(due))
	for _, row := range due {
		priority[row.CollectionID] = int(row.Priority)
	}
	for i := range plan {
		plan[i].Opts.Priority = priority[plan[i].CollectionID]
	}
	if err := q.ScheduleAdvance(ctx, db.ScheduleAdvanceParams{Now: now, CollectionIds: ids, Kinds: kinds}); err != nil {
		return 0, fmt.Errorf("advance schedules: %w", err)
	}
	return insertPlanned(ctx, tx, client, plan)
}

// insertPlanned inserts the jobs in one InsertManyTx and returns how many
// were new (jobs whose previous one has not finished are skipped as
// duplicates).
func insertPlanned(ctx context.Context, tx pgx.Tx, client *river.Client[pgx.Tx], plan []jobargs.Planned) (int, error) {
	if len(plan) == 0 {
		return 0, nil
	}
	params := make([]river.InsertManyParams, len(plan))
	for i := range plan {
		params[i] = river.InsertManyParams{Args: plan[i].Args, InsertOpts: &plan[i].Opts}
	}
	res, err := client.InsertManyTx(ctx, tx, params)
	if err != nil {
		return 0, fmt.Errorf("insert fetch jobs: %w", err)
	}
	inserted := 0
	for _, r := range res {
		if !r.UniqueSkippedAsDuplicate {
			inserted++
		}
	}
	return inserted, nil
}
