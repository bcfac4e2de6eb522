package jobs

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/nftsync/nftsync/db"
	"github.com/nftsync/nftsync/internal/indexer"
)

// DB is the database handle workers use: a *pgxpool.Pool in production, a
// pgx.Tx in tests (Begin then opens a savepoint inside the test transaction).
type DB interface {
	db.DBTX
	Begin(ctx context.Context) (pgx.Tx, error)
}

// Deps are the dependencies shared by all workers.
type Deps struct {
	DB     DB
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Indexers by source name ("opensea", "subgraph:seaport").
	Indexers map[string]indexer.Indexer
	// CrossCheck compares a figure from two sources after each refresh.
	CrossCheck CrossCheck
	// TokenSyncBudget bounds how long one sync_tokens run pages before it
	// snoozes itself (resuming at once from its persisted cursor), so a big
	// collection never holds a job past JobTimeout. 0 means 2 minutes.
	TokenSyncBudget time.Duration
	// PageTimeout is the upstream request timeout (0 means 30s); it sizes the
	// sync_tokens job timeout.
	PageTimeout time.Duration

	// TraitSources fetch one token's traits, by a collection's
	// traits_source ("opensea", "token_uri"); a source that is also an
	// indexer.BatchTraitSource is asked many tokens per call.
	TraitSources map[string]indexer.TraitSource
	// Traits configures the fetch_traits job and the trait checks of
	// sync_tokens.
	Traits TraitsConfig
	// StreamLiveTTL is how recent a collection's live stream mark must be
	// for its floor job to treat the floor as streamed (a reconcile under
	// the bulk class); 0 means DefaultStreamLiveTTL. Keep it equal to the
	// planner's PlanOptions.StreamLiveTTL.
	StreamLiveTTL time.Duration
	// LedgerCheck bounds the cross-check of each /stats answer's 1-day
	// volume and sale count against the sales ledger.
	LedgerCheck LedgerCheck
}

func (d *Deps) streamLiveTTL() time.Duration {
	if d.StreamLiveTTL <= 0 {
		return DefaultStreamLiveTTL
	}
	return d.StreamLiveTTL
}

// TraitsConfig configures per-token trait fetching. Zero fields take the
// defaults named below.
type TraitsConfig struct {
	// Batch is how many tokens one fetch_traits step fetches before it
	// stores them in one transaction (a crash refetches at most this
	// many); with a batch source it is rounded up to whole batch calls.
	// 0 means 50.
	Batch int
	// BatchSize is how many tokens one batch call asks for, with a source
	// that has a batch lookup (OpenSea's POST /api/v2/nfts/batch): the
	// starting size, halved when the source refuses a batch as too large.
	// 1 asks one token per call (the single-NFT endpoint). 0 means 50.
	BatchSize int
	// Concurrency is how many of a batch's calls one job has in flight (each
	// still takes its own lease from the shared limiter). 0 means 4.
	Concurrency int
	// MinCoverage is the share of a collection's tokens whose traits must be
	// known before rarity is computed (1 = every token). 0 means 1.
	MinCoverage float64
	// MaxPerToken caps the traits stored per token; the excess is dropped
	// and recorded as a data-quality event. 0 means 1000; at most 32767.
	MaxPerToken int
	// CheckTolerance is the largest relative difference between our count of
	// a trait value and the source's own count that the cross-check after a
	// full fetch accepts. 0 means 0.01 (1%).
	CheckTolerance float64
	// ListPageSize is the page size of token lists, used to bound the pages
	// a token sync may take (supply / page size, plus a margin). 0 means 200.
	ListPageSize int
}

func (c TraitsConfig) batch() int { return cmpPositive(c.Batch, 50) }

func (c TraitsConfig) batchSize() int { return cmpPositive(c.BatchSize, 50) }

func (c TraitsConfig) concurrency() int { return cmpPositive(c.Concurrency, 4) }

func (c TraitsConfig) maxPerToken() int { return min(cmpPositive(c.MaxPerToken, 1000), 32767) }

func (c TraitsConfig) listPageSize() int { return cmpPositive(c.ListPageSize, 200) }

func (c TraitsConfig) minCoverage() float64 {
	if c.MinCoverage <= 0 {
		return 1
	}
	return min(c.MinCoverage, 1)
}

func (c TraitsConfig) checkTolerance() float64 {
	if c.CheckTolerance <= 0 {
		return 0.01
	}
	return c.CheckTolerance
}

func cmpPositive(v, def int) int {
	if v > 0 {
		return v
	}
	return def
}

func (d *Deps) now() time.Time {
	if d.Now != nil {
		return d.Now().UTC()
	}
	return time.Now().UTC()
}

func (d *Deps) indexer(source string) (indexer.Indexer, error) {
	idx, ok := d.Indexers[source]
	if !ok {
		return nil, fmt.Errorf("no indexer configured for source %q", source)
	}
	return idx, nil
}

func (d *Deps) tokenSyncBudget() time.Duration {
	if d.TokenSyncBudget > 0 {
		return d.TokenSyncBudget
	}
	return 2 * time.Minute
}

// marketStatsLeaseTTL is how long a market stats call in flight keeps the collection's
// single-flight lease: past it, a crashed holder no longer blocks the other
// kind's job.
func (d *Deps) marketStatsLeaseTTL() time.Duration {
	t := d.PageTimeout
	if t <= 0 {
		t = 30 * time.Second
	}
	return t + 15*time.Second
}
