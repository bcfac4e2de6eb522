package ratelimit

import (
	"context"
	"time"

	"github.com/nftsync/nftsync/internal/indexer"
)

var _ indexer.MarketSource = (*Indexer)(nil)

// BestListings reads a collection's cheapest listings through the limiter
// (one lease per call, like Stats) when the source's clients are market
// sources (indexer.MarketSource); otherwise it fails as ClassPermanent
// without spending budget. Rate limits and rejected keys are handled as for
// every other call (see NewIndexer).
func (ix *Indexer) BestListings(ctx context.Context, slug string, limit int) ([]indexer.Listing, error) {
	op := "best listings " + slug
	if err := ix.supports(op, isMarketSource); err != nil {
		return nil, err
	}
	return call(ctx, ix, op, func(c indexer.Indexer) ([]indexer.Listing, error) {
		return c.(indexer.MarketSource).BestListings(ctx, slug, limit)
	})
}

// Sales reads one page of a collection's sales through the limiter, like
// BestListings. Cursors are assumed to be valid with every key of the
// source.
func (ix *Indexer) Sales(ctx context.Context, slug string, after time.Time, cursor string) (*indexer.SalePage, error) {
	op := "sales " + slug
	if err := ix.supports(op, isMarketSource); err != nil {
		return nil, err
	}
	return call(ctx, ix, op, func(c indexer.Indexer) (*indexer.SalePage, error) {
		return c.(indexer.MarketSource).Sales(ctx, slug, after, cursor)
	})
}

func isMarketSource(c indexer.Indexer) bool {
	_, ok := c.(indexer.MarketSource)
	return ok
}
