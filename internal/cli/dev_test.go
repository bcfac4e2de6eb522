package cli

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/nftsync/nftsync/internal/pgcluster"
	"github.com/nftsync/nftsync/migrations"
)

// TestFreshDevDatabase: the private database is kept while the schema is
// the one it was made from and made afresh when the schema file changed
// (edited in place before the first release) or nothing says what it was
// made from (a database kept from before the record existed).
func TestFreshDevDatabase(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	cl, err := pgcluster.Start(ctx, pgcluster.Options{Dir: filepath.Join(dir, "pg"), Fast: true, Logger: logger})
	if err != nil {
		t.Skipf("no private PostgreSQL on this machine: %v", err)
	}
	t.Cleanup(func() { _ = cl.Stop(context.WithoutCancel(ctx)) })
	marked := func() bool {
		conn, err := pgx.Connect(ctx, cl.DSN("nftsync"))
		require.NoError(t, err)
		defer conn.Close(ctx)
		var ok bool
		require.NoError(t, conn.QueryRow(ctx, `SELECT to_regclass('public.marker') IS NOT NULL`).Scan(&ok))
		return ok
	}
	mark := func() {
		conn, err := pgx.Connect(ctx, cl.DSN("nftsync"))
		require.NoError(t, err)
		defer conn.Close(ctx)
		_, err = conn.Exec(ctx, `CREATE TABLE marker ()`)
		require.NoError(t, err)
	}

	require.NoError(t, freshDevDatabase(ctx, cl, dir, logger))
	want, err := migrations.SchemaFingerprint()
	require.NoError(t, err)
	got, err := os.ReadFile(filepath.Join(dir, devSchemaFile))
	require.NoError(t, err)
	require.Equal(t, want+"\n", string(got))
	mark()
	require.NoError(t, freshDevDatabase(ctx, cl, dir, logger))
	require.True(t, marked(), "same schema: the database is kept")

	require.NoError(t, os.WriteFile(filepath.Join(dir, devSchemaFile), []byte("an older schema\n"), 0o600))
	require.NoError(t, freshDevDatabase(ctx, cl, dir, logger))
	require.False(t, marked(), "another schema: the database is made afresh")

	mark()
	require.NoError(t, os.Remove(filepath.Join(dir, devSchemaFile)))
	require.NoError(t, freshDevDatabase(ctx, cl, dir, logger))
	require.False(t, marked(), "no record: the database is made afresh")
}
