// Package migrations holds nftsync's ordered SQL migrations (NNNN_name.sql,
// embedded) and Up, which applies River's migrations and then ours.
//
// Up is idempotent and safe to run from several replicas at once: it holds a
// PostgreSQL session advisory lock for its whole run, so concurrent callers
// wait and then find nothing left to do. Each of our files runs in its own
// transaction together with its ledger row, so a failed file leaves no trace.
package migrations

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"log/slog"
	"sort"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivermigrate"

	"github.com/nftsync/nftsync/db"
)

//go:embed *.sql
var files embed.FS

// lockKey is the advisory lock key that serialises migration runs
// ("nftsync-migrate" folded into an int64).
const lockKey int64 = 0x6e667473796e63 // "nftsync"

// Migration is one embedded SQL file.
type Migration struct {
	Version int
	Name    string
	SQL     string
}

// All returns the embedded migrations ordered by version. It fails on a file
// name that does not start with a number or on duplicate versions.
func All() ([]Migration, error) {
	entries, err := fs.Glob(files, "*.sql")
	if err != nil {
		return nil, fmt.Errorf("list migrations: %w", err)
	}
	out := make([]Migration, 0, len(entries))
	seen := map[int]string{}
	for _, name := range entries {
		prefix, rest, ok := strings.Cut(name, "_")
		v, err := strconv.Atoi(prefix)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("migration %s: name must look like 0001_name.sql", name)
		}
		if prev, dup := seen[v]; dup {
			return nil, fmt.Errorf("migration %s: version %d already used by %s", name, v, prev)
		}
		seen[v] = name
		body, err := files.ReadFile(name)
		if err != nil {
			return nil, fmt.Errorf("read migration %s: %w", name, err)
		}
		out = append(out, Migration{Version: v, Name: strings.TrimSuffix(rest, ".sql"), SQL: string(body)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Version < out[j].Version })
	return out, nil
}

// Result says what Up applied.
type Result struct {
	River []int // River migration versions applied
	Ours  []int // nftsync migration versions applied
}

// Up applies River's outstanding migrations and then ours, under an advisory
// lock. Running it again applies nothing.
func Up(ctx context.Context, pool *pgxpool.Pool, logger *slog.Logger) (*Result, error) {
	all, err := All()
	if err != nil {
		return nil, err
	}
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("acquire connection for migration lock: %w", err)
	}
	defer conn.Release()
	q := db.New(conn)
	if err := q.MigrationLock(ctx, lockKey); err != nil {
		return nil, fmt.Errorf("take migration lock: %w", err)
	}
	defer func() {
		_ = q.MigrationUnlock(context.WithoutCancel(ctx), lockKey)
	}()

	res := &Result{}
	migrator, err := rivermigrate.New(riverpgxv5.New(pool), &rivermigrate.Config{Logger: logger})
	if err != nil {
		return nil, fmt.Errorf("create river migrator: %w", err)
	}
	riverRes, err := migrator.Migrate(ctx, rivermigrate.DirectionUp, nil)
	if err != nil {
		return nil, fmt.Errorf("apply river migrations: %w", err)
	}
	for _, v := range riverRes.Versions {
		res.River = append(res.River, v.Version)
	}

	// The first file creates the ledger; it is idempotent and always run.
	if _, err := conn.Exec(ctx, all[0].SQL); err != nil {
		return nil, fmt.Errorf("apply migration %04d_%s: %w", all[0].Version, all[0].Name, err)
	}
	applied, err := q.MigrationListApplied(ctx)
	if err != nil {
		return nil, fmt.Errorf("list applied migrations: %w", err)
	}
	done := map[int32]bool{}
	for _, v := range applied {
		done[v] = true
	}
	for _, m := range all {
		if done[int32(m.Version)] {
			continue
		}
		err := db.WithTx(ctx, conn, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, m.SQL); err != nil {
				return err
			}
			return db.New(tx).MigrationRecord(ctx, db.MigrationRecordParams{Version: int32(m.Version), Name: m.Name})
		})
		if err != nil {
			return nil, fmt.Errorf("apply migration %04d_%s: %w", m.Version, m.Name, err)
		}
		logger.InfoContext(ctx, "migration applied", slog.Int("version", m.Version), slog.String("name", m.Name))
		res.Ours = append(res.Ours, m.Version)
	}
	return res, nil
}
