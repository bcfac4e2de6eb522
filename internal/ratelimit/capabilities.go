package ratelimit

import "github.com/nftsync/nftsync/internal/indexer"

var _ indexer.Capabilities = (*Indexer)(nil)

// Supported forwards the kinds its clients serve (all clients of a source
// are alike), so that indexer.Supports sees through the limiter.
func (ix *Indexer) Supported() []indexer.DataKind {
	for _, k := range ix.keys {
		if c, ok := ix.clients[k].(indexer.Capabilities); ok {
			return c.Supported()
		}
	}
	return indexer.DataKinds()
}
