package jobs

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"math"
	"slices"
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

// PlanRefreshWorker turns due (collection, kind) pairs into fetch jobs,
// stalest and hottest first, no more per tick than the upstream budget
// serves (see PlanOptions).
type PlanRefreshWorker struct {
	river.WorkerDefaults[PlanRefreshArgs]
	Deps *Deps
	// Options bound and order each tick.
	Options PlanOptions
}

// PlanOptions bound one planning tick.
//
// Order. Every due pair of an active collection gets
//
//	score = weight × age / target
//	weight = (1 + min(log10(1 + volume_1d), 6)) × 2^(2 − priority)
//
// where age is the time since the pair's last successful refresh (a pair
// never refreshed counts from its collection's tracking time plus one
// target, so it starts as "just at its target"), target is the pair's
// freshness target (collection_schedules.target_age_seconds, else the
// refresh kind's Target in the catalogue, stored in refresh_kinds: floor
// 60 s, volume 5 min, metadata and tokens 24 h), volume_1d is the collection's last 1-day volume from its own source
// in the source's currency (0 when unknown) and priority the collection's
// class (1..4). Age over target makes kinds comparable (a floor 2 min old
// and metadata 48 h old are equally late); the weight makes a hot
// collection's lateness count up to 7 times a cold one's, and a priority-1
// collection's 8 times a priority-4 one's, so weights lie in [0.25, 14].
//
// No starvation. The weight is bounded (at most W = 56 times another's) and
// age/target grows without bound while a pair waits, so a waiting pair
// outranks every pair whose own age/target is below its own divided by W.
// With N due pairs of one target, a budget of B pairs per tick and pairs
// refreshed when planned, no pair waits more than
// 2 (N − 1)(W + 1) / B ticks: while a pair has waited L ticks, each other
// pair can be served at most W + 1 times in the second half of the wait (it
// must have aged at least L/(2W) ticks each time to outrank it), and the
// B × L/2 services of that half cannot exceed (N − 1)(W + 1). Kinds with
// longer targets wait proportionally longer in ticks, the same in
// age/target.
//
// Budget. Rates gives each source's upstream request rate (all keys
// together); a tick plans at most rate × Interval pairs of collections of
// that source, less the planned jobs still waiting in the live queues (those
// calls are already spoken for), so the queues never hold much more than a
// tick of work and the order above, not River's FIFO, decides what is served
// when the budget is short. A pair counts as one call: floor and volume
// share OpenSea's stats call, so a round where both are due costs one call
// and the estimate errs on the safe side; a token sync counts its first
// page (the rest of a backfill is bulk class, which the limiter keeps from
// starving live refreshes). Jobs asking another source (volume from a
// subgraph) are throttled by that source's limiter. A source not in Rates
// is bounded only by Batch.
//
// Streams. A collection whose floor a live stream keeps current (its
// collection_streams row is live and was marked within StreamLiveTTL; the
// stream consumer marks live collections every 15 s) has its floor planned
// only every Reconcile, as a check of the stream against /stats (the floor
// job then calls under the bulk class and cross-checks; see
// fetch_floor_price). So is its volume while the sales ledger has covered
// the last day (see PollStreamedVolume). When the stream goes down or its
// mark goes stale (a dead replica), or the ledger's coverage is lost, the
// pairs are back on their own intervals at the next tick.
type PlanOptions struct {
	// Batch is the most pairs planned per tick; 0 means 1000.
	Batch int32
	// Rates is each source's request rate per second; nil plans by Batch
	// only.
	Rates map[string]float64
	// Interval is the time between ticks the budget covers; 0 means 5 s.
	Interval time.Duration
	// Reconcile is how often the floor of a live-streamed collection is
	// still fetched over REST; 0 means DefaultReconcile.
	Reconcile time.Duration
	// StreamLiveTTL is how recent a stream's live mark must be for the
	// collection to count as streamed; 0 means DefaultStreamLiveTTL.
	StreamLiveTTL time.Duration
	// PollStreamedVolume keeps polling the volume of a live-streamed
	// collection on its own interval even while its sales ledger has
	// covered the last day. By default (false) such a volume is planned
	// only with its floor's reconcile: the API serves the 1-day figure
	// live from the ledger, /stats still gives 7d, 30d and all, and the two
	// kinds share one stats call, so a streamed collection costs one REST
	// call per Reconcile (4 per collection-hour at the default 15 min).
	// collection_freshness then counts the stream's live mark as the
	// volume's success, as it does for the floor. A collection whose ledger
	// does not cover the day (or whose stream is down or stale) has its
	// volume polled on its own interval either way.
	PollStreamedVolume bool
}

// Defaults of PlanOptions' stream fields.
const (
	DefaultReconcile     = 15 * time.Minute
	DefaultStreamLiveTTL = 60 * time.Second
)

func (o PlanOptions) reconcile() time.Duration {
	if o.Reconcile <= 0 {
		return DefaultReconcile
	}
	return o.Reconcile
}

func (o PlanOptions) streamLiveTTL() time.Duration {
	if o.StreamLiveTTL <= 0 {
		return DefaultStreamLiveTTL
	}
	return o.StreamLiveTTL
}

// StarvationBoundTicks is the most ticks a due pair waits before it is
// planned, for n due pairs of one target and a budget of b pairs per tick
// (see PlanOptions).
func StarvationBoundTicks(n, b int) int {
	const w = maxWeight / minWeight
	return int(math.Ceil(2 * float64(n-1) * (w + 1) / float64(b)))
}

// The planner's weight bounds (queries/schedules.sql, ScheduleClaimDue):
// hotness 1..7 times 2^(2 − priority) for priorities 1..4.
const (
	minWeight = 1 * 0.25
	maxWeight = 7 * 2.0
)

func (o PlanOptions) batch() int32 {
	if o.Batch <= 0 {
		return 1000
	}
	return o.Batch
}

func (o PlanOptions) interval() time.Duration {
	if o.Interval <= 0 {
		return 5 * time.Second
	}
	return o.Interval
}

// liveQueues hold the planned jobs whose calls the budget counts.
var liveQueues = []string{QueueFloorPrice, QueueVolume, QueueMetadata, QueueSourceVolume} //nolint:gochecknoglobals // read-only

// budget returns each budgeted source's pairs for a tick at now: its rate
// times the interval, less its planned jobs due to run before the next tick.
func (o PlanOptions) budget(ctx context.Context, q *db.Queries, now time.Time) ([]string, []int64, error) {
	if len(o.Rates) == 0 {
		return nil, nil, nil
	}
	rows, err := q.PlannerOutstanding(ctx, db.PlannerOutstandingParams{Queues: liveQueues, Horizon: now.Add(o.interval())})
	if err != nil {
		return nil, nil, fmt.Errorf("count outstanding jobs: %w", err)
	}
	waiting := make(map[string]int64, len(rows))
	for _, r := range rows {
		waiting[r.Source] = r.Jobs
	}
	sources := make([]string, 0, len(o.Rates))
	calls := make([]int64, 0, len(o.Rates))
	for src, rate := range o.Rates {
		sources = append(sources, src)
		calls = append(calls, max(0, int64(rate*o.interval().Seconds())-waiting[src]))
	}
	return sources, calls, nil
}

// Work plans in ONE transaction: it locks the pairs it serves (FOR UPDATE
// SKIP LOCKED, so concurrent planners never take the same pair), advances
// their next-due time and inserts the fetch jobs with InsertManyTx. A crash
// or rollback enqueues nothing and advances nothing. Unique options skip a
// pair whose previous job of that kind has not finished yet. Due pairs left
// out by the budget stay due and rank higher next tick.
func (w *PlanRefreshWorker) Work(ctx context.Context, job *river.Job[PlanRefreshArgs]) error {
	client, err := river.ClientFromContextSafely[pgx.Tx](ctx)
	if err != nil {
		return fmt.Errorf("plan refresh: %w", err)
	}
	n, err := Plan(ctx, w.Deps, client, w.Options)
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
func Plan(ctx context.Context, d *Deps, client *river.Client[pgx.Tx], opts PlanOptions) (int, error) {
	now := d.now()
	inserted := 0
	err := withTx(ctx, d, func(tx pgx.Tx) error {
		var err error
		inserted, err = PlanTx(ctx, tx, client, now, opts)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("plan refresh: %w", err)
	}
	return inserted, nil
}

// PlanTx is the body of Plan inside the caller's transaction; exported so a
// test can roll the transaction back and see that nothing was enqueued.
func PlanTx(ctx context.Context, tx pgx.Tx, client *river.Client[pgx.Tx], now time.Time, opts PlanOptions) (int, error) {
	q := db.New(tx)
	sources, calls, err := opts.budget(ctx, q, now)
	if err != nil {
		return 0, err
	}
	ledgerKind := RefreshVolume
	if opts.PollStreamedVolume {
		ledgerKind = ""
	}
	// Claimed pairs are advanced by the same statement.
	due, err := q.ScheduleClaimDue(ctx, db.ScheduleClaimDueParams{
		Now: now, BudgetSources: sources, BudgetCalls: calls, MaxRows: opts.batch(),
		StreamKind: RefreshFloorPrice, StreamLiveAfter: now.Add(-opts.streamLiveTTL()), ReconcileBefore: now.Add(-opts.reconcile()),
		LedgerKind: ledgerKind, CoveredBefore: now.Add(-24 * time.Hour),
	})
	if err != nil {
		return 0, fmt.Errorf("claim due schedules: %w", err)
	}
	if len(due) == 0 {
		return 0, nil
	}
	// Most urgent first, so River's FIFO among equal priorities follows it.
	slices.SortFunc(due, func(a, b db.ScheduleClaimDueRow) int {
		return cmp.Or(cmp.Compare(b.Score, a.Score), cmp.Compare(a.CollectionID, b.CollectionID), cmp.Compare(a.Kind, b.Kind))
	})
	ids := make([]int64, len(due))
	kinds := make([]string, len(due))
	for i, row := range due {
		ids[i], kinds[i] = row.CollectionID, row.Kind
	}
	// One job per source routed for each pair, as every enqueue path does.
	plan, err := jobargs.Plan(ctx, tx, ids, kinds, func(int) CollectionArgs { return CollectionArgs{PlannedAt: now} })
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
