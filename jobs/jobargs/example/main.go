// Command example is what another Go service does to enqueue nftsync work:
// an insert-only River client and jobargs.InsertRefreshTx inside the
// service's own transaction. It imports nothing of nftsync but jobargs.
//
//	DATABASE_URL=postgres://... go run ./jobs/jobargs/example SLUG [KIND...]
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"

	"github.com/nftsync/nftsync/jobs/jobargs"
)

func main() {
	if err := run(context.Background(), os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "example:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("usage: example SLUG [floor_price|volume|metadata|tokens ...]")
	}
	pool, err := pgxpool.New(ctx, os.Getenv("DATABASE_URL"))
	if err != nil {
		return err
	}
	defer pool.Close()
	client, err := river.NewClient(riverpgxv5.New(pool), &river.Config{})
	if err != nil {
		return err
	}
	tx, err := pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback(ctx) }()
	// ... the service's own writes would go here, in the same transaction ...
	res, err := jobargs.InsertRefreshTx(ctx, client, tx, args[0], jobargs.RefreshOpts{Kinds: args[1:]})
	if err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return err
	}
	for _, r := range res {
		fmt.Printf("job %d %s queue=%s duplicate=%t source=%s\n", r.Job.ID, r.Job.Kind, r.Job.Queue, r.UniqueSkippedAsDuplicate, r.Source)
	}
	return nil
}
