package jobs

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/nftsync/nftsync/db"
	"github.com/nftsync/nftsync/internal/indexer"
)

// DB is the database handle workers use: a *pgxpool.Pool in production, a
// pgx.Tx in tests (Begin then opens a savepoint inside the test transaction).
type DB interface {
	db.DBTX
	Begin(ctx context.Context) (pgx.Tx, error)
}

// Deps are the dependencies shared by all workers.
type Deps struct {
	DB     DB
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Indexers by source name ("opensea").
	Indexers map[string]indexer.Indexer
	// TokenSyncBudget bounds how long one sync_tokens run pages before it
	// snoozes itself (resuming at once from its persisted cursor), so a big
	// collection never holds a job past JobTimeout. 0 means 2 minutes.
	TokenSyncBudget time.Duration
	// PageTimeout is the upstream request timeout (0 means 30s); it sizes the
	// sync_tokens job timeout.
	PageTimeout time.Duration
}

func (d *Deps) now() time.Time {
	if d.Now != nil {
		return d.Now().UTC()
	}
	return time.Now().UTC()
}

func (d *Deps) indexer(source string) (indexer.Indexer, error) {
	idx, ok := d.Indexers[source]
	if !ok {
		return nil, fmt.Errorf("no indexer configured for source %q", source)
	}
	return idx, nil
}

func (d *Deps) tokenSyncBudget() time.Duration {
	if d.TokenSyncBudget > 0 {
		return d.TokenSyncBudget
	}
	return 2 * time.Minute
}

// statsLeaseTTL is how long a stats call in flight keeps the collection's
// single-flight lease: past it, a crashed holder no longer blocks the other
// kind's job.
func (d *Deps) statsLeaseTTL() time.Duration {
	t := d.PageTimeout
	if t <= 0 {
		t = 30 * time.Second
	}
	return t + 15*time.Second
}
