package cli

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/nftsync/nftsync/db"
	"github.com/nftsync/nftsync/internal/admin"
	"github.com/nftsync/nftsync/jobs"
)

// routeCollection is `collections route SLUG [KIND SOURCE[,SOURCE...]|default]`:
// without a kind it prints the collection's effective sources per kind;
// with one it sets (or resets to the default) the sources serving it, through
// the admin service the API's setCollectionRoute also calls.
func routeCollection(ctx context.Context, svc *admin.Service, actor string, args []string, stdout io.Writer) error {
	if len(args) != 1 && len(args) != 3 {
		return fmt.Errorf("%w: collections route SLUG [KIND SOURCE[,SOURCE...]|default]", ErrUsage)
	}
	slug := args[0]
	var (
		c      db.Collection
		routes []jobs.Route
		err    error
	)
	if len(args) == 3 {
		var sources []string
		if args[2] != "default" {
			sources = SplitList(args[2])
			if len(sources) == 0 {
				return fmt.Errorf("%w: collections route: name at least one source or `default`", ErrUsage)
			}
		}
		c, routes, err = svc.SetRoute(ctx, actor, slug, args[1], sources)
	} else {
		c, routes, err = svc.Routes(ctx, slug)
	}
	if err != nil {
		return fmt.Errorf("collections route %s: %w", slug, err)
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	_, _ = fmt.Fprintf(tw, "%s\nKIND\tSOURCES\tROUTE\n", c.Slug)
	for _, r := range routes {
		how := "default"
		if r.Own {
			how = "own"
		}
		_, _ = fmt.Fprintf(tw, "%s\t%s\t%s\n", r.Kind, strings.Join(r.Sources, ","), how)
	}
	return tw.Flush()
}
