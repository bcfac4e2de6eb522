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
	ids := make([]int64, 0, len(due))
	kinds := make([]string, 0, len(due))
	pairs := make([]routeKey, 0, len(due))
	for _, row := range due {
		ids = append(ids, row.CollectionID)
		kinds = append(kinds, row.Kind)
		pairs = append(pairs, routeKey{row.CollectionID, row.Kind})
	}
	routes, err := resolveRoutes(ctx, q, pairs)
	if err != nil {
		return 0, err
	}
	jobs := make([]plannedJob, 0, len(due))
	for _, row := range due {
		jobs = appendRouted(jobs, routes[routeKey{row.CollectionID, row.Kind}], row.Source, plannedJob{
			kind: row.Kind, priority: int(row.Priority), args: CollectionArgs{CollectionID: row.CollectionID, Bucket: now},
		})
	}
	if err := q.ScheduleAdvance(ctx, db.ScheduleAdvanceParams{Now: now, CollectionIds: ids, Kinds: kinds}); err != nil {
		return 0, fmt.Errorf("advance schedules: %w", err)
	}
	return insertJobs(ctx, tx, client, jobs)
}

// appendRouted appends one job of j's kind per routed source: the kind's
// own job for the collection's own source, a source-specific job for any
// other source.
func appendRouted(jobs []plannedJob, sources []string, own string, j plannedJob) []plannedJob {
	for _, src := range sources {
		j.source = ""
		if src != own {
			j.source = src
		}
		jobs = append(jobs, j)
	}
	return jobs
}

// plannedJob is one fetch job to insert: its schedule kind, River priority
// and arguments.
type plannedJob struct {
	kind     string
	priority int
	args     CollectionArgs
	// source is the source to ask when it is not the collection's own.
	source string
}

// insertJobs inserts the jobs in one InsertManyTx and returns how many were
// new (jobs whose previous one of that kind has not finished are skipped as
// duplicates).
func insertJobs(ctx context.Context, tx pgx.Tx, client *river.Client[pgx.Tx], jobs []plannedJob) (int, error) {
	params := make([]river.InsertManyParams, 0, len(jobs))
	for _, j := range jobs {
		args, err := argsForKind(j.kind, j.args, j.source)
		if err != nil {
			return 0, err
		}
		if args == nil {
			continue
		}
		opts := args.(interface{ InsertOpts() river.InsertOpts }).InsertOpts()
		opts.Priority = j.priority
		params = append(params, river.InsertManyParams{Args: args, InsertOpts: &opts})
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

// RefreshNow inserts one manual job of every kind for the collection in tx
// (priority 1, budget first). Kinds whose previous job has not finished are
// skipped as duplicates; it returns how many jobs were inserted.
func RefreshNow(ctx context.Context, tx pgx.Tx, client *river.Client[pgx.Tx], collectionID int64, now time.Time) (int, error) {
	q := db.New(tx)
	c, err := q.CollectionGetByID(ctx, collectionID)
	if err != nil {
		return 0, fmt.Errorf("refresh collection %d: %w", collectionID, db.Interpret(err))
	}
	pairs := make([]routeKey, 0, len(ScheduleKinds))
	for _, kind := range ScheduleKinds {
		pairs = append(pairs, routeKey{collectionID, kind})
	}
	routes, err := resolveRoutes(ctx, q, pairs)
	if err != nil {
		return 0, err
	}
	jobs := make([]plannedJob, 0, len(ScheduleKinds))
	for _, kind := range ScheduleKinds {
		jobs = appendRouted(jobs, routes[routeKey{collectionID, kind}], c.Source, plannedJob{kind: kind, priority: 1,
			args: CollectionArgs{CollectionID: collectionID, Bucket: now, Manual: true}})
	}
	n, err := insertJobs(ctx, tx, client, jobs)
	if err != nil {
		return 0, fmt.Errorf("refresh collection %d: %w", collectionID, err)
	}
	return n, nil
}

// argsForKind maps a schedule kind to its fetch job; a source other than
// the collection's own gets its source-specific job, and nil when no job
// asks that source for that kind.
func argsForKind(kind string, a CollectionArgs, source string) (river.JobArgs, error) {
	if source != "" {
		switch kind {
		case KindVolume:
			return FetchSourceVolumeArgs{CollectionArgs: a, Source: source}, nil
		case KindMetadata:
			return FetchCollectionMetadataArgs{CollectionArgs: a, Source: source}, nil
		}
		return nil, nil //nolint:nilnil // no job serves this kind from another source
	}
	return jobargs.ForKind(kind, a)
}
