package jobargs

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/nftsync/nftsync/db"
)

// ErrNotTracked is returned for a slug nftsync does not track.
var ErrNotTracked = errors.New("collection is not tracked")

// ErrContract is wrapped when the database's job table
// (nftsync_refresh_job_kinds) names a job these types do not describe the
// same way: the database was migrated by a newer nftsync, or the other way
// round.
var ErrContract = errors.New("job contract mismatch")

// ForKind returns the fetch job of a refresh kind for a, asking the
// collection's own source. A refresh through InsertRefreshTx (or the
// planner) also asks the other sources routed for the kind; see Plan.
func ForKind(kind string, a CollectionArgs) (river.JobArgs, error) {
	switch kind {
	case KindFloorPrice:
		return FetchFloorPriceArgs{a}, nil
	case KindVolume:
		return FetchVolumeArgs{a}, nil
	case KindMetadata:
		return FetchCollectionMetadataArgs{CollectionArgs: a}, nil
	case KindTokens:
		return SyncTokensArgs{a}, nil
	}
	return nil, fmt.Errorf("unknown refresh kind %q (want one of %v)", kind, RefreshKinds())
}

// ForJob returns the args of the refresh job named jobKind; source is the
// source it asks when that is not the collection's own ("" otherwise).
func ForJob(jobKind string, a CollectionArgs, source string) (river.JobArgs, error) {
	switch jobKind {
	case FetchFloorPriceArgs{}.Kind():
		return FetchFloorPriceArgs{a}, nil
	case FetchVolumeArgs{}.Kind():
		return FetchVolumeArgs{a}, nil
	case FetchCollectionMetadataArgs{}.Kind():
		return FetchCollectionMetadataArgs{CollectionArgs: a, Source: source}, nil
	case SyncTokensArgs{}.Kind():
		return SyncTokensArgs{a}, nil
	case FetchSourceVolumeArgs{}.Kind():
		return FetchSourceVolumeArgs{CollectionArgs: a, Source: source}, nil
	}
	return nil, fmt.Errorf("%w: no refresh job kind %q", ErrContract, jobKind)
}

// Planned is one job of a refresh: the refresh kind, the source it asks and
// the job's args and insert options (queue, attempts, uniqueness; priority
// left to the caller).
type Planned struct {
	CollectionID int64
	Kind         string
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
func Plan(ctx context.Context, dbtx db.DBTX, collectionIDs []int64, kinds []string, args func(i int) CollectionArgs) ([]Planned, error) {
	rows, err := db.New(dbtx).RefreshJobs(ctx, db.RefreshJobsParams{CollectionIds: collectionIDs, Kinds: kinds})
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
func planned(r db.RefreshJobsRow, a CollectionArgs) (Planned, error) {
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
	return Planned{CollectionID: r.CollectionID, Kind: r.Kind, Source: r.Source, Args: args, Opts: opts}, nil
}

// RefreshOpts says what InsertRefreshTx enqueues.
type RefreshOpts struct {
	// Source of the collection; "" means opensea.
	Source string
	// Kinds to refresh (KindFloorPrice, ...); empty means all of them.
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
	Kind   string
	Source string
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
	kinds := opts.Kinds
	if len(kinds) == 0 {
		kinds = RefreshKinds()
	}
	kinds = slices.Compact(slices.Sorted(slices.Values(kinds)))
	for _, kind := range kinds {
		if !slices.Contains(RefreshKinds(), kind) {
			return nil, fmt.Errorf("refresh %s/%s: unknown refresh kind %q (want one of %v)", source, slug, kind, RefreshKinds())
		}
	}
	c, err := db.New(tx).CollectionGetBySlug(ctx, db.CollectionGetBySlugParams{Source: source, Slug: slug})
	if err != nil {
		if errors.Is(db.Interpret(err), db.ErrNotFound) {
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
		out[i] = RefreshJob{Kind: plan[i].Kind, Source: plan[i].Source, JobInsertResult: r}
	}
	return out, nil
}
