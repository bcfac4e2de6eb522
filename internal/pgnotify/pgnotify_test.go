package pgnotify_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/nftsync/nftsync/db/dbtest"
	"github.com/nftsync/nftsync/internal/pgnotify"
)

// TestListenReconnects: notifications arrive; a killed listening
// connection is reported and made again, and Ready says so.
func TestListenReconnects(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	url := dbtest.NewDatabase(t)
	connect := func(ctx context.Context) (*pgx.Conn, error) { return pgx.Connect(ctx, url) }
	ready, got, lost := make(chan struct{}, 4), make(chan string, 4), make(chan error, 4)
	done := make(chan struct{})
	go func() {
		defer close(done)
		pgnotify.Listen(ctx, connect, "pgnotify_test", pgnotify.Options{MinBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond}, pgnotify.Handler{
			Ready:  func() { ready <- struct{}{} },
			Notify: func(p string) { got <- p },
			Lost:   func(err error, _ time.Duration) { lost <- err },
		})
	}()
	admin, err := pgx.Connect(ctx, url)
	require.NoError(t, err)
	defer admin.Close(context.Background())
	wait := func(what string) {
		t.Helper()
		select {
		case <-ready:
		case <-time.After(30 * time.Second):
			t.Fatalf("not listening %s", what)
		}
	}
	notify := func(payload string) {
		t.Helper()
		_, err := admin.Exec(ctx, `SELECT pg_notify('pgnotify_test', $1)`, payload)
		require.NoError(t, err)
		select {
		case p := <-got:
			require.Equal(t, payload, p)
		case <-time.After(30 * time.Second):
			t.Fatalf("notification %q not heard", payload)
		}
	}

	wait("at first")
	notify("1 METADATA")
	var killed int
	require.NoError(t, admin.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE datname = current_database() AND query LIKE 'LISTEN pgnotify_test%'`).Scan(&killed))
	require.Equal(t, 1, killed)
	select {
	case err := <-lost:
		require.Error(t, err)
	case <-time.After(30 * time.Second):
		t.Fatal("the lost connection was not reported")
	}
	wait("again")
	notify("2 FLOOR")
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Listen did not return after its context ended")
	}
}
