// Package jobargs is nftsync's job contract for other services: the River
// job argument types, their queues and uniqueness, and helpers that insert
// refresh jobs inside the caller's own transaction with an insert-only River
// client. It has no workers, no rarity code and no HTTP clients, so importing
// it costs River, pgx and nothing else of nftsync's.
//
// The contract is versioned (Version): kinds, JSON field names, queues and
// uniqueness only ever gain optional fields; a breaking change gets a new
// kind. The README's "Enqueuing from other services" table lists it.
//
//	client, _ := river.NewClient(riverpgxv5.New(pool), &river.Config{})
//	tx, _ := pool.Begin(ctx)
//	_, err := jobargs.InsertRefreshTx(ctx, client, tx, "my-collection", jobargs.RefreshOpts{})
//	// ... your own writes ...
//	err = tx.Commit(ctx)
package jobargs

import (
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
)

// Version of the job contract described here.
const Version = 1

// Queue names: one per refresh kind, plus the jobs that follow a token sync
// and planning.
const (
	QueuePlanner    = "planner"
	QueueFloorPrice = "floor_price"
	QueueVolume     = "volume"
	QueueMetadata   = "metadata"
	QueueTokens     = "tokens"
	QueueRarity     = "rarity"
	// QueueSourceVolume works volumes from sources other than a
	// collection's own (marketplace subgraphs).
	QueueSourceVolume = "source_volume"
	// QueueTraits works fetch_traits.
	QueueTraits = "traits"
)

// Refresh kinds, as stored in collection_schedules.kind and accepted by
// InsertRefreshTx and the SQL function nftsync_enqueue_refresh. nftsync's
// catalogue (the refresh_kinds table) is the full list; these name the
// kinds of this contract's Version.
const (
	RefreshFloorPrice = "floor_price"
	RefreshVolume     = "volume"
	RefreshMetadata   = "metadata"
	RefreshTokens     = "tokens"
)

// CollectionArgs is embedded by every per-collection fetch job. Only
// CollectionID takes part in uniqueness, so a collection never has two
// unfinished jobs of one kind. PlannedAt is the refresh time the planner
// planned the job for (JSON "bucket", the name jobs have always carried);
// the stored observations of one refresh round are keyed by it, so a
// retried job overwrites its own row instead of adding one. Services that
// enqueue by hand may leave it out: the job's creation time is used.
//
// Manual marks an operator's "refresh now": such jobs are inserted with
// priority 1 and their upstream calls get the rate budget first (class
// priority); a token sync only for its first page, the rest of the backfill
// stays bulk.
type CollectionArgs struct {
	CollectionID int64     `json:"collection_id" river:"unique"`
	PlannedAt    time.Time `json:"bucket,omitzero"`
	Manual       bool      `json:"manual,omitempty"`
}

// UniquePending keeps one job per (kind, unique args) among jobs not yet
// finished; completed, cancelled and discarded jobs do not block a new one.
// River stores it as unique_states B'11110001'.
func UniquePending() river.UniqueOpts {
	return river.UniqueOpts{
		ByArgs: true,
		ByState: []rivertype.JobState{
			rivertype.JobStateAvailable, rivertype.JobStatePending, rivertype.JobStateRunning,
			rivertype.JobStateRetryable, rivertype.JobStateScheduled,
		},
	}
}

// FetchFloorPriceArgs refreshes a collection's floor price (and, from the
// same response, its volume).
type FetchFloorPriceArgs struct{ CollectionArgs }

// Kind is stable; never rename it.
func (FetchFloorPriceArgs) Kind() string { return "fetch_floor_price" }

// InsertOpts: floor_price queue, one unfinished job per collection.
func (FetchFloorPriceArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueueFloorPrice, MaxAttempts: 10, UniqueOpts: UniquePending()}
}

// FetchVolumeArgs refreshes a collection's volume (and, from the same
// response, its floor price).
type FetchVolumeArgs struct{ CollectionArgs }

// Kind is stable; never rename it.
func (FetchVolumeArgs) Kind() string { return "fetch_volume" }

// InsertOpts: volume queue, one unfinished job per collection.
func (FetchVolumeArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueueVolume, MaxAttempts: 10, UniqueOpts: UniquePending()}
}

// FetchCollectionMetadataArgs refreshes a collection's name, description,
// images, links and contracts. Source, when set, is the source routed to
// serve the collection's metadata instead of its own (e.g.
// "subgraph:seaport"); empty means the collection's own source.
type FetchCollectionMetadataArgs struct {
	CollectionArgs
	Source string `json:"source,omitempty"`
}

// Kind is stable; never rename it.
func (FetchCollectionMetadataArgs) Kind() string { return "fetch_collection_metadata" }

// InsertOpts: metadata queue, one unfinished job per collection.
func (FetchCollectionMetadataArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueueMetadata, MaxAttempts: 10, UniqueOpts: UniquePending()}
}

// SyncTokensArgs pages through all of a collection's tokens and traits,
// resuming from the stored cursor; its last page enqueues compute_rarity.
type SyncTokensArgs struct{ CollectionArgs }

// Kind is stable; never rename it.
func (SyncTokensArgs) Kind() string { return "sync_tokens" }

// InsertOpts: tokens queue, one unfinished job per collection.
func (SyncTokensArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueueTokens, MaxAttempts: 10, UniqueOpts: UniquePending()}
}

// ComputeRarityArgs recomputes rarity scores and ranks of a whole collection
// (counts and entropy are collection-wide, so any change alters every score).
// Method "" means OpenRarity.
//
// SyncRun is the token sync run that asked for the computation; it takes part
// in uniqueness so that a sync completing while an older computation still
// runs gets its own job instead of being skipped as a duplicate.
type ComputeRarityArgs struct {
	CollectionID int64  `json:"collection_id" river:"unique"`
	Method       string `json:"method,omitempty" river:"unique"`
	SyncRun      int64  `json:"sync_run,omitempty" river:"unique"`
}

// Kind is stable; never rename it.
func (ComputeRarityArgs) Kind() string { return "compute_rarity" }

// InsertOpts: rarity queue, one unfinished job per collection and method.
func (ComputeRarityArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueueRarity, MaxAttempts: 5, UniqueOpts: UniquePending()}
}

// FetchSourceVolumeArgs refreshes a collection's volume windows from one
// routed source that is not the collection's own (e.g. "subgraph:seaport").
type FetchSourceVolumeArgs struct {
	CollectionArgs
	Source string `json:"source" river:"unique"`
}

// Kind is stable; never rename it.
func (FetchSourceVolumeArgs) Kind() string { return "fetch_source_volume" }

// InsertOpts: source_volume queue, one unfinished job per collection and
// source.
func (FetchSourceVolumeArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueueSourceVolume, MaxAttempts: 10, UniqueOpts: UniquePending()}
}

// FetchTraitsArgs fetches the traits of a collection's tokens that need them
// (new, updated upstream, or never fetched), one call per token through the
// collection's trait source (collections.traits_source). SyncRun is the
// token sync run whose listing it follows; cost and progress are recorded
// on that run (0, or left out, means the collection's latest run; a
// collection never synced cancels the job). sync_tokens enqueues it when a
// listing completes; another service may enqueue it to fetch what is due
// again. When enough traits are known it enqueues compute_rarity.
type FetchTraitsArgs struct {
	CollectionID int64 `json:"collection_id" river:"unique"`
	SyncRun      int64 `json:"sync_run,omitempty"`
}

// Kind is stable; never rename it.
func (FetchTraitsArgs) Kind() string { return "fetch_traits" }

// InsertOpts: traits queue, one unfinished job per collection. Budget spent
// and rate limits snooze it, so it needs few attempts for real failures.
func (FetchTraitsArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueueTraits, MaxAttempts: 10, UniqueOpts: UniquePending()}
}

// All returns one value of every job args type other services may enqueue,
// the contract the README's job table lists. nftsync's internal periodic
// jobs (plan_refresh, maintain_history) are not part of it: the elected
// leader enqueues them.
func All() []river.JobArgs {
	return []river.JobArgs{
		FetchFloorPriceArgs{}, FetchVolumeArgs{}, FetchSourceVolumeArgs{}, FetchCollectionMetadataArgs{},
		SyncTokensArgs{}, FetchTraitsArgs{}, ComputeRarityArgs{},
	}
}
