// Package dbtest gives tests a real, migrated PostgreSQL database. Import it
// only from _test.go files.
//
// The server comes from TEST_DATABASE_URL (`make test` starts a throwaway
// cluster and sets it). When it is unset, the first test that needs a
// database starts a throwaway cluster for the whole test process with
// internal/pgcluster (the PostgreSQL server binaries must be installed;
// as root the server runs as the postgres user): loopback only, trust
// authentication, no durability, in a temporary folder. A small reaper
// process stops it and removes the folder when the test process exits,
// also when it crashes or is killed, so plain `go test ./...` needs no
// setup. The first caller in a test process migrates a
// template database once (under an advisory lock, so parallel test binaries
// share it); after that:
//   - DB(t) clones the template into a fresh database for the test (about
//     tens of milliseconds) and drops it afterwards: for tests that start
//     River clients, run several processes, or commit.
//   - Tx(t) opens a transaction on a per-process shared clone and rolls it back
//     at cleanup: the cheapest isolation, for query and worker tests.
//
// Database names and CREATE/DROP DATABASE cannot be sqlc parameters, so this
// test-only package builds those few statements itself with quoted
// identifiers.
package dbtest

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"runtime/debug"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/nftsync/nftsync/migrations"
)

var (
	templateOnce sync.Once
	templateName string
	templateErr  error

	sharedOnce sync.Once
	sharedPool *pgxpool.Pool
	sharedErr  error
)

// URLFor returns the server URL with the database name replaced.
func URLFor(tb testing.TB, dbname string) string {
	tb.Helper()
	u, err := url.Parse(ServerURL(tb))
	if err != nil {
		tb.Fatalf("parse TEST_DATABASE_URL: %v", err)
	}
	u.Path = "/" + dbname
	return u.String()
}

func ensureTemplate(tb testing.TB) string {
	tb.Helper()
	templateOnce.Do(func() {
		templateName, templateErr = buildTemplate(tb)
	})
	if templateErr != nil {
		tb.Fatalf("prepare template database: %v", templateErr)
	}
	return templateName
}

// templateVersion names the template after the migrations it holds (the
// numbered files and the re-applied functions.sql and catalog.sql), so a
// changed schema gets a fresh template on a reused server.
func templateVersion() (string, error) {
	all, err := migrations.All()
	if err != nil {
		return "", err
	}
	h := sha256.New()
	for _, m := range all {
		fmt.Fprintf(h, "%d:%s:%s;", m.Version, m.Name, m.SQL)
	}
	files, err := migrations.Files()
	if err != nil {
		return "", err
	}
	for _, f := range files {
		fmt.Fprintf(h, "%s:%s;", f.Name, f.SHA256)
	}
	// River's migrations come with the module version in go.mod.
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, dep := range bi.Deps {
			if dep.Path == "github.com/riverqueue/river" {
				fmt.Fprintf(h, "river:%s;", dep.Version)
			}
		}
	}
	return fmt.Sprintf("nftsync_tmpl_%x", h.Sum(nil)[:8]), nil
}

func buildTemplate(tb testing.TB) (string, error) {
	ctx := context.Background()
	name, err := templateVersion()
	if err != nil {
		return "", err
	}
	admin, err := pgx.Connect(ctx, ServerURL(tb))
	if err != nil {
		return "", fmt.Errorf("connect to test server: %w", err)
	}
	defer admin.Close(ctx)
	if _, err := admin.Exec(ctx, "SELECT pg_advisory_lock(7428813)"); err != nil {
		return "", fmt.Errorf("lock: %w", err)
	}
	defer admin.Exec(ctx, "SELECT pg_advisory_unlock(7428813)") //nolint:errcheck // best effort: the lock ends with the connection anyway

	var exists bool
	if err := admin.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists); err != nil {
		return "", fmt.Errorf("look up template: %w", err)
	}
	if exists {
		return name, nil
	}
	building := name + "_building"
	if _, err := admin.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{building}.Sanitize()+" WITH (FORCE)"); err != nil {
		return "", fmt.Errorf("drop stale template: %w", err)
	}
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{building}.Sanitize()); err != nil {
		return "", fmt.Errorf("create template: %w", err)
	}
	pool, err := pgxpool.New(ctx, URLFor(tb, building))
	if err != nil {
		return "", fmt.Errorf("connect to template: %w", err)
	}
	_, err = migrations.Up(ctx, pool, slog.New(slog.NewTextHandler(io.Discard, nil)))
	pool.Close()
	if err != nil {
		return "", fmt.Errorf("migrate template: %w", err)
	}
	if _, err := admin.Exec(ctx, "ALTER DATABASE "+pgx.Identifier{building}.Sanitize()+" RENAME TO "+pgx.Identifier{name}.Sanitize()); err != nil {
		return "", fmt.Errorf("rename template: %w", err)
	}
	return name, nil
}

// NewDatabase clones the migrated template into a new database and returns
// its URL; the database is dropped at test cleanup.
func NewDatabase(tb testing.TB) string {
	tb.Helper()
	return createDatabase(tb, "nftsync_test_", ensureTemplate(tb))
}

// EmptyDatabase creates an empty (unmigrated) database for the test and
// returns its URL; it is dropped at cleanup.
func EmptyDatabase(tb testing.TB) string {
	tb.Helper()
	return createDatabase(tb, "nftsync_empty_", "")
}

// createDatabase creates a database named prefix + random suffix, from
// template when not empty, and drops it at cleanup.
func createDatabase(tb testing.TB, prefix, template string) string {
	tb.Helper()
	ctx := context.Background()
	buf := make([]byte, 6)
	_, _ = rand.Read(buf)
	name := prefix + hex.EncodeToString(buf)
	stmt := "CREATE DATABASE " + pgx.Identifier{name}.Sanitize()
	if template != "" {
		stmt += " TEMPLATE " + pgx.Identifier{template}.Sanitize()
	}
	admin, err := pgx.Connect(ctx, ServerURL(tb))
	if err != nil {
		tb.Fatalf("connect to test server: %v", err)
	}
	defer admin.Close(ctx)
	var lastErr error
	for attempt := 0; attempt < 20; attempt++ {
		// Cloning fails with "source database is being accessed by other
		// users" while another test clones the template at the same moment.
		if _, lastErr = admin.Exec(ctx, stmt); lastErr == nil || !templateBusy(lastErr) {
			break
		}
		time.Sleep(time.Duration(50+attempt*25) * time.Millisecond)
	}
	if lastErr != nil {
		tb.Fatalf("create test database: %v", lastErr)
	}
	tb.Cleanup(func() {
		c, err := pgx.Connect(context.Background(), ServerURL(tb))
		if err != nil {
			return
		}
		defer c.Close(context.Background())
		_, _ = c.Exec(context.Background(), "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)")
	})
	return URLFor(tb, name)
}

// templateBusy reports SQLSTATE 55006 (object in use): another test is
// cloning the template at the same moment.
func templateBusy(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "55006"
}

// DB returns a pool on a fresh migrated database of the test's own.
func DB(tb testing.TB) *pgxpool.Pool {
	tb.Helper()
	pool, err := pgxpool.New(context.Background(), NewDatabase(tb))
	if err != nil {
		tb.Fatalf("connect to test database: %v", err)
	}
	tb.Cleanup(pool.Close)
	return pool
}

// Tx returns a transaction on a database shared by the tests of this process;
// it is rolled back at cleanup, so nothing a test writes is seen by another.
func Tx(tb testing.TB) pgx.Tx {
	tb.Helper()
	sharedOnce.Do(func() {
		sharedPool, sharedErr = pgxpool.New(context.Background(), NewDatabase(noCleanup{tb}))
	})
	if sharedErr != nil {
		tb.Fatalf("connect to shared test database: %v", sharedErr)
	}
	tx, err := sharedPool.Begin(context.Background())
	if err != nil {
		tb.Fatalf("begin test transaction: %v", err)
	}
	tb.Cleanup(func() { _ = tx.Rollback(context.Background()) })
	return tx
}

// noCleanup lets the per-process shared database outlive the first test that
// asked for it; the throwaway server is removed after the run anyway.
type noCleanup struct{ testing.TB }

func (noCleanup) Cleanup(func()) {}
