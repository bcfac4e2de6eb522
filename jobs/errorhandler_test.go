package jobs_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/riverqueue/river/rivertype"
	"github.com/stretchr/testify/require"

	"github.com/nftsync/nftsync/db"
	"github.com/nftsync/nftsync/jobs"
)

// Deterministic database errors (by SQLSTATE) cancel the job instead of
// retrying it until it is discarded; errors that depend on concurrent work
// keep the retry policy. The errors come from a real PostgreSQL.
func TestErrorHandlerDatabaseErrors(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tx := sharedTx(t)
	h := &jobs.ErrorHandler{Logger: discardLogger()}
	job := &rivertype.JobRow{ID: 1, Kind: "fetch_floor_price", Queue: "floor_price"}
	pgErr := func(stmt string) error {
		t.Helper()
		sp, err := tx.Begin(ctx) // a savepoint: the failure leaves tx usable
		require.NoError(t, err)
		defer sp.Rollback(ctx)
		_, err = sp.Exec(ctx, stmt)
		require.Error(t, err, stmt)
		return fmt.Errorf("store floor x: %w", err) // wrapped, as workers return it
	}
	c := trackTx(t, tx, "dup", 60e9)

	for name, stmt := range map[string]string{
		"NumericOverflow":   "SELECT ('1' || repeat('0', 60))::numeric(78,18)",
		"InvalidText":       "SELECT 'abc'::bigint",
		"CheckViolation":    "UPDATE collections SET priority = 9 WHERE id = " + fmt.Sprint(c.ID),
		"NotNullViolation":  "UPDATE collections SET slug = NULL WHERE id = " + fmt.Sprint(c.ID),
		"InvalidByteOrNull": "SELECT convert_from('\\x00'::bytea, 'UTF8')",
	} {
		err := pgErr(stmt)
		require.True(t, db.Deterministic(err), "%s: %v", name, err)
		res := h.HandleError(ctx, job, err)
		require.NotNil(t, res, name)
		require.True(t, res.SetCancelled, name)
	}
	for name, stmt := range map[string]string{
		"UniqueViolation": fmt.Sprintf("INSERT INTO collections (source, slug, chain) SELECT source, slug, chain FROM collections WHERE id = %d", c.ID),
		"UndefinedTable":  "SELECT * FROM no_such_table",
	} {
		err := pgErr(stmt)
		require.False(t, db.Deterministic(err), "%s: %v", name, err)
		require.Nil(t, h.HandleError(ctx, job, err), name)
	}
	require.Nil(t, h.HandleError(ctx, job, fmt.Errorf("fetch stats x: %w", context.DeadlineExceeded)))
}
