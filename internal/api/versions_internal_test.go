package api

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/nftsync/nftsync/db"
	"github.com/nftsync/nftsync/db/dbtest"
)

// gatedDB holds each Query until the test lets it go, and counts them.
type gatedDB struct {
	*pgxpool.Pool
	gate    chan struct{}
	started chan struct{}
	queries atomic.Int32
}

func (g *gatedDB) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	g.queries.Add(1)
	rows, err := g.Pool.Query(ctx, sql, args...)
	g.started <- struct{}{}
	<-g.gate
	return rows, err
}

// TestVersionReaderReadsAfterTheRequest: a request that asks while a shared
// read is in flight is not answered by it (that statement's snapshot may
// predate a commit the request must see) but by the next one, which serves
// every request that waited meanwhile.
func TestVersionReaderReadsAfterTheRequest(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, dbtest.NewDatabase(t))
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	var id int64
	require.NoError(t, pool.QueryRow(ctx, "INSERT INTO collections (source, slug) VALUES ('opensea', 'alpha') RETURNING id").Scan(&id))
	version := func() int64 {
		var v int64
		require.NoError(t, pool.QueryRow(ctx, "SELECT version FROM collection_data_versions WHERE collection_id = $1", id).Scan(&v))
		return v
	}
	v0 := version()

	g := &gatedDB{Pool: pool, gate: make(chan struct{}), started: make(chan struct{}, 4)}
	r := &versionReader{q: db.New(g)}
	type answer struct {
		v   int64
		err error
	}
	ask := func() <-chan answer {
		ch := make(chan answer, 1)
		go func() {
			m, err := r.read(ctx, []int64{id})
			ch <- answer{m[id].Version, err}
		}()
		return ch
	}

	first := ask()
	<-g.started // the first read has run its statement and is held
	_, err = pool.Exec(ctx, "UPDATE collections SET priority = 1 WHERE id = $1", id)
	require.NoError(t, err)
	require.Equal(t, v0+1, version())
	second, third := ask(), ask()
	time.Sleep(50 * time.Millisecond) // both are queued behind the held read
	g.gate <- struct{}{}              // the first read ends
	a := <-first
	require.NoError(t, a.err)
	require.Equal(t, v0, a.v, "the first read's snapshot predates the write")
	<-g.started
	g.gate <- struct{}{}
	for _, ch := range []<-chan answer{second, third} {
		a := <-ch
		require.NoError(t, a.err)
		require.Equal(t, v0+1, a.v, "a request that asked after the commit sees it")
	}
	require.Equal(t, int32(2), g.queries.Load(), "the two waiting requests shared one read")
}
