package db_test

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/nftsync/nftsync/db"
	"github.com/nftsync/nftsync/db/dbtest"
)

func TestNewPoolSize(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := dbtest.NewDatabase(t)
	pool, err := db.NewPool(ctx, url, 20)
	require.NoError(t, err)
	require.Equal(t, int32(20), pool.Config().MaxConns, "the caller's size without pool_max_conns")
	pool.Close()

	sep := "?"
	if strings.Contains(url, "?") {
		sep = "&"
	}
	pool, err = db.NewPool(ctx, url+sep+"pool_max_conns=3", 20)
	require.NoError(t, err)
	require.Equal(t, int32(3), pool.Config().MaxConns, "pool_max_conns in the URL wins")
	pool.Close()
}
