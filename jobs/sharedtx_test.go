package jobs_test

import (
	"context"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/nftsync/nftsync/db/dbtest"
	"github.com/nftsync/nftsync/jobs"
)

var (
	sharedPartitionsOnce sync.Once
	sharedPartitionsErr  error
)

// sharedTx is dbtest.Tx for this package's tests: a transaction on the
// database the test process shares, rolled back at cleanup. Before the
// first one is used, the history partitions of the simulator's day
// (simNoon) are created and committed on a connection of their own.
//
// Without them, the first worker to store history at simNoon in each test
// creates them inside the test's transaction, whose CREATE TABLE ...
// PARTITION OF holds a SHARE ROW EXCLUSIVE lock on the parent table until
// the test ends. Parallel tests also track the same simulator slugs, and a
// test waiting for another's uncommitted (source, slug) insert while that
// one waited for the parent lock (or the other way round) deadlocked
// (40P01, between CollectionUpsert and HistoryEnsurePartitions). Workers in
// production create partitions on the pool, each in a statement of its
// own, so they hold no such lock across other work.
func sharedTx(tb testing.TB) pgx.Tx {
	tb.Helper()
	tx := dbtest.Tx(tb)
	sharedPartitionsOnce.Do(func() {
		// Nothing has run in tx yet, so it holds no lock the DDL waits for.
		ctx := context.Background()
		conn, err := pgx.ConnectConfig(ctx, tx.Conn().Config().Copy())
		if err != nil {
			sharedPartitionsErr = err
			return
		}
		defer conn.Close(ctx)
		sharedPartitionsErr = jobs.EnsureHistoryPartitions(ctx, conn, simNoon)
	})
	require.NoError(tb, sharedPartitionsErr, "create the shared history partitions")
	return tx
}
