package jobs_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/nftsync/nftsync/db"
	"github.com/nftsync/nftsync/db/dbtest"
	"github.com/nftsync/nftsync/internal/indexer"
	"github.com/nftsync/nftsync/internal/indexer/subgraph"
	"github.com/nftsync/nftsync/jobs"
)

// TestRegisterSourcesConcurrently: replicas registering the same sources at
// once, each in a transaction of its own, wait for each other and never
// deadlock (written in map order, two of them upserted the same rows in
// different orders: 40P01).
func TestRegisterSourcesConcurrently(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := dbtest.DB(t)
	idx := map[string]indexer.Indexer{}
	defaults := map[string][]indexer.DataKind{}
	for i := range 12 {
		c, err := subgraph.NewClient(fmt.Sprintf("s%02d", i), "http://127.0.0.1:1/unused", nil, subgraph.Options{})
		require.NoError(t, err)
		idx[c.Source()] = c
		defaults[c.Source()] = []indexer.DataKind{indexer.DataVolume}
	}

	const replicas, rounds = 4, 5
	for round := range rounds {
		start := make(chan struct{})
		errs := make(chan error, replicas)
		var wg sync.WaitGroup
		for range replicas {
			wg.Go(func() {
				tx, err := pool.Begin(ctx)
				if err != nil {
					errs <- err
					return
				}
				defer tx.Rollback(ctx) // after Commit it does nothing
				<-start
				if err := jobs.RegisterSources(ctx, tx, idx, defaults, subgraph.SourcePrefix); err != nil {
					errs <- err
					return
				}
				errs <- tx.Commit(ctx)
			})
		}
		close(start)
		wg.Wait()
		close(errs)
		for err := range errs {
			require.NoError(t, err, "round %d", round)
		}
	}
	sources, err := db.New(pool).IndexerSourceList(ctx)
	require.NoError(t, err)
	require.Len(t, sources, len(idx))
}
