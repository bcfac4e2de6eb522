package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/nftsync/nftsync/db"
	"github.com/nftsync/nftsync/jobs"
)

// routeCollection is `collections route SLUG [KIND SOURCE[,SOURCE...]|default]`:
// without a kind it prints the collection's effective sources per kind;
// with one it sets (or resets to the default) the sources serving it.
func routeCollection(ctx context.Context, pool *pgxpool.Pool, args []string, stdout io.Writer) error {
	if len(args) != 1 && len(args) != 3 {
		return fmt.Errorf("%w: collections route SLUG [KIND SOURCE[,SOURCE...]|default]", errUsage)
	}
	slug := args[0]
	return db.WithTx(ctx, pool, func(tx pgx.Tx) error {
		c, err := lookupCollection(ctx, db.New(tx), slug)
		if err != nil {
			return err
		}
		if len(args) == 3 {
			var sources []string
			if args[2] != "default" {
				sources = splitList(args[2])
				if len(sources) == 0 {
					return fmt.Errorf("%w: collections route: name at least one source or `default`", errUsage)
				}
			}
			if err := jobs.SetRoute(ctx, tx, c.ID, args[1], sources); err != nil {
				return fmt.Errorf("collections route %s: %w", slug, err)
			}
		}
		routes, err := jobs.CollectionRoutes(ctx, tx, c.ID)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		_, _ = fmt.Fprintf(tw, "%s\nKIND\tSOURCES\tROUTE\n", slug)
		for _, r := range routes {
			how := "default"
			if r.Own {
				how = "own"
			}
			_, _ = fmt.Fprintf(tw, "%s\t%s\t%s\n", r.Kind, strings.Join(r.Sources, ","), how)
		}
		return tw.Flush()
	})
}
