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
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"sort"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
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

// Pending is what Up would apply to a database.
type Pending struct {
	River []int       // River migration versions not applied
	Ours  []Migration // nftsync migrations not applied, in order
}

// Behind reports whether anything is pending.
func (p *Pending) Behind() bool { return len(p.River) > 0 || len(p.Ours) > 0 }

// String names the pending migrations, e.g. "River 5, 6; nftsync 0015_x".
func (p *Pending) String() string {
	var parts []string
	if len(p.River) > 0 {
		vs := make([]string, 0, len(p.River))
		for _, v := range p.River {
			vs = append(vs, strconv.Itoa(v))
		}
		parts = append(parts, "River "+strings.Join(vs, ", "))
	}
	if len(p.Ours) > 0 {
		ms := make([]string, 0, len(p.Ours))
		for _, m := range p.Ours {
			ms = append(ms, fmt.Sprintf("%04d_%s", m.Version, m.Name))
		}
		parts = append(parts, "nftsync "+strings.Join(ms, ", "))
	}
	return strings.Join(parts, "; ")
}

// Check returns the migrations Up would apply, changing nothing: it only
// reads River's and nftsync's ledgers, so it works for a role without DDL
// rights. A database never migrated has everything pending. Migrations the
// database has but this binary does not know (a newer release migrated it)
// are not an error.
func Check(ctx context.Context, pool *pgxpool.Pool) (*Pending, error) {
	all, err := All()
	if err != nil {
		return nil, err
	}
	migrator, err := rivermigrate.New(riverpgxv5.New(pool), &rivermigrate.Config{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return nil, fmt.Errorf("create river migrator: %w", err)
	}
	existing, err := migrator.ExistingVersions(ctx)
	if err != nil {
		return nil, fmt.Errorf("list applied river migrations: %w", err)
	}
	p := &Pending{}
	haveRiver := map[int]bool{}
	for _, v := range existing {
		haveRiver[v.Version] = true
	}
	for _, v := range migrator.AllVersions() {
		if !haveRiver[v.Version] {
			p.River = append(p.River, v.Version)
		}
	}
	applied, err := db.New(pool).MigrationListApplied(ctx)
	if err != nil && !isUndefinedTable(err) { // 42P01: never migrated
		return nil, fmt.Errorf("list applied migrations: %w", err)
	}
	done := map[int32]bool{}
	for _, v := range applied {
		done[v] = true
	}
	for _, m := range all {
		if !done[int32(m.Version)] {
			p.Ours = append(p.Ours, m)
		}
	}
	return p, nil
}

// isUndefinedTable reports SQLSTATE 42P01 (undefined_table).
func isUndefinedTable(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "42P01"
}
