package ratelimit

import (
	"context"
	"fmt"

	"github.com/nftsync/nftsync/internal/indexer"
)

var _ indexer.BatchTraitSource = (*Indexer)(nil)

// TokenTraitsBatch fetches many tokens' traits in one call through the
// limiter (one lease for the call, whatever its size) when the source's
// clients can (indexer.BatchTraitSource); otherwise it fails as
// ClassPermanent without spending budget.
func (ix *Indexer) TokenTraitsBatch(ctx context.Context, refs []indexer.TokenRef) ([]*indexer.TokenMetadata, error) {
	op := fmt.Sprintf("nfts batch of %d", len(refs))
	if err := ix.supports(op, func(c indexer.Indexer) bool { _, ok := c.(indexer.BatchTraitSource); return ok }); err != nil {
		return nil, err
	}
	return call(ctx, ix, op, func(c indexer.Indexer) ([]*indexer.TokenMetadata, error) {
		return c.(indexer.BatchTraitSource).TokenTraitsBatch(ctx, refs)
	})
}
