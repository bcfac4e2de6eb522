package db

import (
	"errors"

	"github.com/jackc/pgx/v5"
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
