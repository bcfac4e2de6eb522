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

// ForKind returns the fetch job of a refresh kind for a.
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

// InsertRefreshTx inserts, in the caller's transaction tx, one fetch job per
// requested kind for the tracked collection slug, with the same arguments,
// queues and uniqueness the planner uses: a kind whose previous job has not
// finished is skipped (its result has UniqueSkippedAsDuplicate set). client
// may be insert-only (river.NewClient(riverpgxv5.New(pool), &river.Config{})).
// Nothing is visible to workers until tx commits.
func InsertRefreshTx(ctx context.Context, client *river.Client[pgx.Tx], tx pgx.Tx, slug string, opts RefreshOpts) ([]*rivertype.JobInsertResult, error) {
	source := opts.Source
	if source == "" {
		source = "opensea"
	}
	kinds := opts.Kinds
	if len(kinds) == 0 {
		kinds = RefreshKinds()
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
	params := make([]river.InsertManyParams, 0, len(kinds))
	for _, kind := range slices.Compact(slices.Sorted(slices.Values(kinds))) {
		args, err := ForKind(kind, CollectionArgs{CollectionID: c.ID, Manual: opts.Manual})
		if err != nil {
			return nil, fmt.Errorf("refresh %s/%s: %w", source, slug, err)
		}
		io := args.(interface{ InsertOpts() river.InsertOpts }).InsertOpts()
		io.Priority = priority
		params = append(params, river.InsertManyParams{Args: args, InsertOpts: &io})
	}
	res, err := client.InsertManyTx(ctx, tx, params)
	if err != nil {
		return nil, fmt.Errorf("refresh %s/%s: insert jobs: %w", source, slug, err)
	}
	return res, nil
}
