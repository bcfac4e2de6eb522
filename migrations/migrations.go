// Package migrations holds nftsync's schema and Up, which applies River's
// migrations and then ours.
//
// Ours are three kinds of embedded files:
//   - 0001_schema.sql, the whole schema of a new installation, and any later
//     numbered file (NNNN_name.sql), each applied once in version order and
//     recorded in nftsync_migration. Before the first release the schema file
//     is edited in place; after it, a change is a new numbered file.
//   - functions.sql, the SQL functions (CREATE OR REPLACE), applied again
//     whenever its content changes, before the numbered files: a function
//     changes by an edit, never by a migration.
//   - catalog.sql, the lookup rows of refresh kinds and sources generated
//     from jobs/catalog.go (idempotent upserts), applied again whenever it
//     changes, after the numbered files.
//
// Every content (SHA-256) of functions.sql and catalog.sql ever applied is
// kept in nftsync_migration_file (ledger.sql creates both ledgers). A file
// is applied when its content was never applied; a content applied before
// but since replaced belongs to an older release, so an older replica that
// starts during a rolling upgrade never puts its functions back over the
// newer ones (and Check does not call its database behind). The flip side:
// returning a file to an earlier content needs a change to it (a comment
// will do).
//
// Up is idempotent and safe to run from several replicas at once: it holds a
// PostgreSQL session advisory lock for its whole run, so concurrent callers
// wait and then find nothing left to do. Each file runs in its own
// transaction together with its ledger row, so a failed file leaves no trace.
package migrations

import (
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
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

// The files outside the numbered sequence.
const (
	ledgerFile    = "ledger.sql"
	FunctionsFile = "functions.sql"
	CatalogFile   = "catalog.sql"
)

// Migration is one embedded numbered SQL file.
type Migration struct {
	Version int
	Name    string
	SQL     string
}

// File is one embedded file applied again whenever its content changes.
type File struct {
	Name   string
	SQL    string
	SHA256 string // hex of the content
}

// All returns the embedded numbered migrations ordered by version. It fails
// on a .sql file that is neither numbered (0001_name.sql) nor one of the
// re-applied files, and on duplicate versions.
func All() ([]Migration, error) {
	entries, err := fs.Glob(files, "*.sql")
	if err != nil {
		return nil, fmt.Errorf("list migrations: %w", err)
	}
	out := make([]Migration, 0, len(entries))
	seen := map[int]string{}
	for _, name := range entries {
		if name == ledgerFile || name == FunctionsFile || name == CatalogFile {
			continue
		}
		prefix, rest, ok := strings.Cut(name, "_")
		v, err := strconv.Atoi(prefix)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("migration %s: name must look like 0002_name.sql", name)
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

// SchemaFingerprint is the hex SHA-256 of the numbered migrations (names
// and contents, in order): it changes when a numbered file is edited in
// place, which is how the schema changes before the first release (see the
// package doc). A throwaway development database made from another
// fingerprint is stale and must be made again; functions.sql and
// catalog.sql are re-applied on their own and do not count.
func SchemaFingerprint() (string, error) {
	all, err := All()
	if err != nil {
		return "", err
	}
	h := sha256.New()
	for _, m := range all {
		fmt.Fprintf(h, "%d %s %d\n%s", m.Version, m.Name, len(m.SQL), m.SQL)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// Files returns the re-applied files in the order Up applies them around
// the numbered ones: functions.sql (before) and catalog.sql (after).
func Files() ([]File, error) {
	out := make([]File, 0, 2)
	for _, name := range []string{FunctionsFile, CatalogFile} {
		body, err := files.ReadFile(name)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", name, err)
		}
		sum := sha256.Sum256(body)
		out = append(out, File{Name: name, SQL: string(body), SHA256: hex.EncodeToString(sum[:])})
	}
	return out, nil
}

// Result says what Up applied.
type Result struct {
	River []int    // River migration versions applied
	Ours  []int    // nftsync numbered migration versions applied
	Files []string // re-applied files applied because they changed
}

// Up applies River's outstanding migrations and then ours, under an advisory
// lock: functions.sql when it changed, the numbered files not yet applied,
// then catalog.sql when it changed. Running it again applies nothing.
func Up(ctx context.Context, pool *pgxpool.Pool, logger *slog.Logger) (*Result, error) {
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
	if err := applyOurs(ctx, conn.Conn(), logger, res); err != nil {
		return nil, err
	}
	return res, nil
}

// ApplySchema applies nftsync's own files to the database of conn as Up
// does, without River's migrations and without the lock: for a throwaway
// database whose schema is dumped for readers (db/schema.sql).
func ApplySchema(ctx context.Context, conn *pgx.Conn) error {
	return applyOurs(ctx, conn, slog.New(slog.DiscardHandler), &Result{})
}

func applyOurs(ctx context.Context, conn *pgx.Conn, logger *slog.Logger, res *Result) error {
	all, err := All()
	if err != nil {
		return err
	}
	reapplied, err := Files()
	if err != nil {
		return err
	}
	ledger, err := files.ReadFile(ledgerFile)
	if err != nil {
		return fmt.Errorf("read %s: %w", ledgerFile, err)
	}
	if _, err := conn.Exec(ctx, string(ledger)); err != nil {
		return fmt.Errorf("create migration ledgers: %w", err)
	}
	q := db.New(conn)
	applied, err := q.MigrationListApplied(ctx)
	if err != nil {
		return fmt.Errorf("list applied migrations: %w", err)
	}
	done := map[int32]bool{}
	for _, v := range applied {
		done[v] = true
	}
	hashes, err := fileHashes(ctx, q)
	if err != nil {
		return err
	}

	applyFile := func(f File, setup string) error {
		if !hashes[f.Name].pending(f) {
			return nil
		}
		err := db.WithTx(ctx, conn, func(tx pgx.Tx) error {
			if setup != "" {
				if _, err := tx.Exec(ctx, setup); err != nil {
					return err
				}
			}
			if _, err := tx.Exec(ctx, f.SQL); err != nil {
				return err
			}
			return db.New(tx).MigrationFileRecord(ctx, db.MigrationFileRecordParams{Name: f.Name, Sha256: f.SHA256})
		})
		if err != nil {
			return fmt.Errorf("apply %s: %w", f.Name, err)
		}
		logger.InfoContext(ctx, "schema file applied", slog.String("name", f.Name), slog.String("sha256", f.SHA256[:12]))
		res.Files = append(res.Files, f.Name)
		return nil
	}

	// Functions first, their bodies unchecked until called (as a pg_dump
	// restore does): the schema's partition setup and trigger need them,
	// and they may name tables the numbered files create.
	if err := applyFile(reapplied[0], "SET LOCAL check_function_bodies = off"); err != nil {
		return err
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
			return fmt.Errorf("apply migration %04d_%s: %w", m.Version, m.Name, err)
		}
		logger.InfoContext(ctx, "migration applied", slog.Int("version", m.Version), slog.String("name", m.Name))
		res.Ours = append(res.Ours, m.Version)
	}
	return applyFile(reapplied[1], "")
}

// fileHistory is what a database has applied of one re-applied file.
type fileHistory struct {
	current string          // the content applied last
	seen    map[string]bool // every content ever applied
}

// pending reports whether f is to be applied: its content is not the
// current one and was never applied (else a newer release replaced it).
func (h fileHistory) pending(f File) bool {
	return h.current != f.SHA256 && !h.seen[f.SHA256]
}

func fileHashes(ctx context.Context, q *db.Queries) (map[string]fileHistory, error) {
	rows, err := q.MigrationFileHashes(ctx)
	if err != nil {
		return nil, fmt.Errorf("list applied schema files: %w", err)
	}
	out := map[string]fileHistory{}
	for _, r := range rows {
		h := out[r.Name]
		if h.seen == nil {
			h.seen = map[string]bool{}
		}
		h.current = r.Sha256
		h.seen[r.Sha256] = true
		out[r.Name] = h
	}
	return out, nil
}

// Pending is what Up would apply to a database.
type Pending struct {
	River []int       // River migration versions not applied
	Ours  []Migration // nftsync numbered migrations not applied, in order
	Files []string    // re-applied files whose applied content differs
}

// Behind reports whether anything is pending.
func (p *Pending) Behind() bool { return len(p.River) > 0 || len(p.Ours) > 0 || len(p.Files) > 0 }

// String names the pending migrations, e.g. "River 5, 6; nftsync
// 0002_x; changed functions.sql".
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
	if len(p.Files) > 0 {
		parts = append(parts, "changed "+strings.Join(p.Files, ", "))
	}
	return strings.Join(parts, "; ")
}

// Check returns the migrations Up would apply, changing nothing: it only
// reads River's and nftsync's ledgers, so it works for a role without DDL
// rights. A database never migrated has everything pending. Migrations the
// database has but this binary does not know (a newer release migrated it)
// are not an error, and neither is a re-applied file a newer release
// replaced.
func Check(ctx context.Context, pool *pgxpool.Pool) (*Pending, error) {
	all, err := All()
	if err != nil {
		return nil, err
	}
	reapplied, err := Files()
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
	q := db.New(pool)
	applied, err := q.MigrationListApplied(ctx)
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
	hashes, err := fileHashes(ctx, q)
	if err != nil && !isUndefinedTable(err) {
		return nil, err
	}
	for _, f := range reapplied {
		if hashes[f.Name].pending(f) {
			p.Files = append(p.Files, f.Name)
		}
	}
	return p, nil
}

// isUndefinedTable reports SQLSTATE 42P01 (undefined_table).
func isUndefinedTable(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "42P01"
}
