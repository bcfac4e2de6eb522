package deploy_test

import (
	"context"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/nftsync/nftsync/db/dbtest"
)

// checkQueriesRun runs every KEDA trigger query against a migrated
// database (dbtest's, so it runs under plain `go test` too): each must
// parse, see River's table and return one integer.
func checkQueriesRun(t *testing.T, so *scaledObject) {
	t.Helper()
	tx := dbtest.Tx(t)
	for _, tr := range so.Spec.Triggers {
		var n int64
		require.NoError(t, tx.QueryRow(context.Background(), tr.Metadata.Query).Scan(&n), tr.Name)
		require.Zero(t, n, tr.Name)
		_, err := strconv.ParseFloat(tr.Metadata.TargetQueryValue, 64)
		require.NoError(t, err, tr.Name)
	}
}
