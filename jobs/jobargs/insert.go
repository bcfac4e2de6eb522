package jobargs

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/nftsync/nftsync/jobs/jobargs/internal/jobargsdb"
)

// DBTX is what Plan reads through: a pgx pool, connection or transaction.
type DBTX = jobargsdb.DBTX

// ErrNotTracked is returned for a slug nftsync does not track.
var ErrNotTracked = errors.New("collection is not tracked")

// ErrContract is wrapped when the database's job table (refresh_kind_jobs)
// names a job these types do not describe the same way: the database was
// migrated by a newer nftsync, or the other way round.
var ErrContract = errors.New("job contract mismatch")

// refreshJob is implemented by the args of the jobs that ask a source for a
// refresh kind.
type refreshJob interface {
	river.JobArgsWithInsertOpts
	// forRefresh returns the job's args for a (source is the source asked
	// when that is not the collection's own, "" otherwise).
	forRefresh(a CollectionArgs, source string) river.JobArgs
}

func (FetchFloorPriceArgs) forRefresh(a CollectionArgs, _ string) river.JobArgs {
	return FetchFloorPriceArgs{a}
}

func (FetchVolumeArgs) forRefresh(a CollectionArgs, _ string) river.JobArgs {
	return FetchVolumeArgs{a}
}

func (FetchCollectionMetadataArgs) forRefresh(a CollectionArgs, source string) river.JobArgs {
	return FetchCollectionMetadataArgs{CollectionArgs: a, Source: source}
}

func (SyncTokensArgs) forRefresh(a CollectionArgs, _ string) river.JobArgs { return SyncTokensArgs{a} }

func (FetchSourceVolumeArgs) forRefresh(a CollectionArgs, source string) river.JobArgs {
	return FetchSourceVolumeArgs{CollectionArgs: a, Source: source}
}

// ForJob returns the args of the refresh job named jobKind; source is the
// source it asks when that is not the collection's own ("" otherwise).
func ForJob(jobKind string, a CollectionArgs, source string) (river.JobArgs, error) {
	for _, proto := range All() {
		if r, ok := proto.(refreshJob); ok && proto.Kind() == jobKind {
			return r.forRefresh(a, source), nil
		}
	}
	return nil, fmt.Errorf("%w: no refresh job kind %q", ErrContract, jobKind)
}

// Planned is one job of a refresh: the refresh kind, the source it asks and
// the job's args and insert options (queue, attempts, uniqueness; priority
// left to the caller).
type Planned struct {
	CollectionID int64
	RefreshKind  string
	Source       string
	Args         river.JobArgs
	Opts         river.InsertOpts
}

// Plan returns the jobs a refresh of kinds[i] for collectionIDs[i] means,
// pair by pair and within a pair in route order, as the database's
// nftsync_refresh_jobs says (the function the SQL path inserts from too):
// one job per source routed for the kind that serves it, so a volume
// refresh asks OpenSea (fetch_volume) when it is routed and each routed
// subgraph (fetch_source_volume), and a kind routed away from a source
// never asks it. args gives each pair's common args (bucket, manual). A
// job the Go types describe differently from the database (kind, queue,
// attempts, unique args) is an ErrContract error, never a silent mismatch.
func Plan(ctx context.Context, dbtx DBTX, collectionIDs []int64, kinds []string, args func(i int) CollectionArgs) ([]Planned, error) {
	rows, err := jobargsdb.New(dbtx).RefreshJobs(ctx, jobargsdb.RefreshJobsParams{CollectionIds: collectionIDs, Kinds: kinds})
	if err != nil {
		return nil, fmt.Errorf("plan refresh jobs: %w", err)
	}
	index := make(map[pairKey]int, len(kinds))
	for i := range kinds {
		index[pairKey{collectionIDs[i], kinds[i]}] = i
	}
	out := make([]Planned, 0, len(rows))
	for _, r := range rows {
		a := args(index[pairKey{r.CollectionID, r.Kind}])
		a.CollectionID = r.CollectionID
		p, err := planned(r, a)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

type pairKey struct {
	id   int64
	kind string
}

// planned turns one nftsync_refresh_jobs row into typed args, checking that
// the Go type agrees with the row.
func planned(r jobargsdb.RefreshJobsRow, a CollectionArgs) (Planned, error) {
	source := ""
	if !r.OwnSource {
		source = r.Source
	}
	args, err := ForJob(r.JobKind, a, source)
	if err != nil {
		return Planned{}, err
	}
	opts := args.(interface{ InsertOpts() river.InsertOpts }).InsertOpts()
	if args.Kind() != r.JobKind || opts.Queue != r.JobQueue || opts.MaxAttempts != int(r.MaxAttempts) {
		return Planned{}, fmt.Errorf("%w: the database enqueues %s on queue %s with %d attempts, this build %s on %s with %d",
			ErrContract, r.JobKind, r.JobQueue, r.MaxAttempts, args.Kind(), opts.Queue, opts.MaxAttempts)
	}
	return Planned{CollectionID: r.CollectionID, RefreshKind: r.Kind, Source: r.Source, Args: args, Opts: opts}, nil
}

// RefreshOpts says what InsertRefreshTx enqueues.
type RefreshOpts struct {
	// Source of the collection; "" means opensea.
	Source string
	// Kinds to refresh (RefreshFloorPrice, ...); empty means all of them.
	Kinds []string
	// Manual asks for an operator's "refresh now": priority 1 and first
	// call on the upstream budget. Otherwise jobs get the collection's own
	// priority, like the planner's.
	Manual bool
}

// RefreshJob is one job a refresh inserted (or found pending): the refresh
// kind, the source it asks, and River's insert result (Job, and
// UniqueSkippedAsDuplicate when an unfinished job was there already).
type RefreshJob struct {
	RefreshKind string
	Source      string
	*rivertype.JobInsertResult
}

// InsertRefreshTx inserts, in the caller's transaction tx, the jobs a
// refresh of each requested kind means for the tracked collection slug (see
// Plan: one per source routed for the kind), with the same arguments,
// queues and uniqueness the planner uses: a job whose previous one has not
// finished is skipped (its result has UniqueSkippedAsDuplicate set). Kinds
// go in sorted order, each kind's jobs in route order; a kind routed to no
// source that serves it inserts nothing. client may be insert-only
// (river.NewClient(riverpgxv5.New(pool), &river.Config{})). Nothing is
// visible to workers until tx commits.
func InsertRefreshTx(ctx context.Context, client *river.Client[pgx.Tx], tx pgx.Tx, slug string, opts RefreshOpts) ([]RefreshJob, error) {
	source := opts.Source
	if source == "" {
		source = "opensea"
	}
	q := jobargsdb.New(tx)
	known, err := q.RefreshKindNames(ctx)
	if err != nil {
		return nil, fmt.Errorf("refresh %s/%s: list refresh kinds: %w", source, slug, err)
	}
	kinds := opts.Kinds
	if len(kinds) == 0 {
		kinds = known
	}
	kinds = slices.Compact(slices.Sorted(slices.Values(kinds)))
	for _, kind := range kinds {
		if !slices.Contains(known, kind) {
			return nil, fmt.Errorf("refresh %s/%s: unknown refresh kind %q (want one of %v)", source, slug, kind, known)
		}
	}
	c, err := q.CollectionBySlug(ctx, jobargsdb.CollectionBySlugParams{Source: source, Slug: slug})
	if err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, fmt.Errorf("refresh %s/%s: %w", source, slug, ErrNotTracked)
		}
		return nil, fmt.Errorf("refresh %s/%s: look up collection: %w", source, slug, err)
	}
	if c.Status != "active" {
		return nil, fmt.Errorf("refresh %s/%s: collection is %s (%s)", source, slug, c.Status, c.StatusReason)
	}
	priority := int(c.Priority)
	if opts.Manual {
		priority = 1
	}
	ids := make([]int64, len(kinds))
	for i := range ids {
		ids[i] = c.ID
	}
	plan, err := Plan(ctx, tx, ids, kinds, func(int) CollectionArgs { return CollectionArgs{Manual: opts.Manual} })
	if err != nil {
		return nil, fmt.Errorf("refresh %s/%s: %w", source, slug, err)
	}
	if len(plan) == 0 {
		return nil, nil
	}
	params := make([]river.InsertManyParams, len(plan))
	for i := range plan {
		plan[i].Opts.Priority = priority
		params[i] = river.InsertManyParams{Args: plan[i].Args, InsertOpts: &plan[i].Opts}
	}
	res, err := client.InsertManyTx(ctx, tx, params)
	if err != nil {
		return nil, fmt.Errorf("refresh %s/%s: insert jobs: %w", source, slug, err)
	}
	out := make([]RefreshJob, len(res))
	for i, r := range res {
		out[i] = RefreshJob{RefreshKind: plan[i].RefreshKind, Source: plan[i].Source, JobInsertResult: r}
	}
	return out, nil
}
