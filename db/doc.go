// Package db is nftsync's data access layer: the sqlc-generated queries
// (every *.sql.go file, models.go, sqlc.go and copyfrom.go; regenerate with
// `make generate`, never edit by hand) plus a few hand-written helpers for
// pools, transactions and error mapping.
//
// SQL lives in queries/*.sql. Callers get a *Queries with New(pool) or
// New(tx) and never import pgx just to inspect an error: pgx.ErrNoRows comes
// back as ErrNotFound from the helpers here.
package db
