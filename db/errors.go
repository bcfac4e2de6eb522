package db

import (
	"errors"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// ErrNotFound is returned (wrapped) when a query that expects one row finds
// none.
var ErrNotFound = errors.New("not found")

// Interpret maps pgx errors to this package's errors: pgx.ErrNoRows becomes
// ErrNotFound; other errors are returned unchanged.
func Interpret(err error) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return ErrNotFound
	}
	return err
}

// Deterministic reports whether err is a database error that the same
// statement with the same data raises every time, so retrying it cannot
// help: a data exception (SQLSTATE class 22: numeric overflow 22003,
// invalid text representation 22P02, invalid byte sequence 22021, ...), a
// check violation (23514) or a not-null violation (23502). Unique and
// foreign-key violations, serialization failures, deadlocks and connection
// errors depend on concurrent work and stay transient.
func Deterministic(err error) bool {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return false
	}
	return strings.HasPrefix(pgErr.Code, "22") || pgErr.Code == "23514" || pgErr.Code == "23502"
}
