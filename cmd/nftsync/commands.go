package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"

	"github.com/nftsync/nftsync/db"
	"github.com/nftsync/nftsync/internal/indexer"
	"github.com/nftsync/nftsync/internal/ratelimit"
	"github.com/nftsync/nftsync/jobs"
)

func runMigrate(ctx context.Context, cfg *config, logger *slog.Logger, stdout io.Writer) error {
	pool, err := openDB(ctx, cfg, cfg.DatabaseURL, logger, 4)
	if err != nil {
		return err
	}
	pool.Close()
	_, _ = fmt.Fprintln(stdout, "migrations are up to date")
	return nil
}

// runWorker runs one worker replica until SIGINT/SIGTERM.
func runWorker(ctx context.Context, cfg *config, logger *slog.Logger) error {
	pool, err := openDB(ctx, cfg, cfg.DatabaseURL, logger, poolSize(cfg))
	if err != nil {
		return err
	}
	defer pool.Close()
	obs, err := newObservers(ctx, cfg, pool, logger)
	if err != nil {
		return err
	}
	defer obs.shutdown(logger)
	client, err := newWorker(ctx, cfg, pool, cfg.OpenSeaURL, cfg.Limit, logger, obs)
	if err != nil {
		return err
	}
	stopHealth, err := serveWorkerHealth(ctx, cfg, pool, client, obs.metrics.Registry, logger)
	if err != nil {
		return err
	}
	defer stopHealth()
	logger.Info("worker started", slog.Any("max_workers", cfg.MaxWorkers))
	return runRiver(ctx, client, cfg, logger)
}

func runCollections(ctx context.Context, cfg *config, logger *slog.Logger, args []string, stdout io.Writer) error {
	if len(args) == 0 {
		return fmt.Errorf("%w: collections needs add, list, refresh, resume or route", errUsage)
	}
	switch args[0] {
	case "add":
		fs := flag.NewFlagSet("collections add", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		source := fs.String("source", "opensea", "indexer the collection is fetched from")
		chain := fs.String("chain", "ethereum", "chain of the collection")
		priority := fs.Int("priority", 2, "1 (most urgent) to 4")
		traitsSource := fs.String("traits-source", "", "where per-token traits come from: opensea (single-NFT endpoint, the default) or token_uri (the token's metadata_url); empty keeps a tracked collection's setting")
		if err := fs.Parse(args[1:]); err != nil {
			return fmt.Errorf("%w: collections add: %v", errUsage, err)
		}
		if fs.NArg() == 0 {
			return fmt.Errorf("%w: collections add needs at least one slug", errUsage)
		}
		if *priority < 1 || *priority > 4 {
			return fmt.Errorf("collections add: -priority %d: want 1 to 4", *priority)
		}
		if ts := *traitsSource; ts != "" && ts != indexer.TraitSourceOpenSea && ts != indexer.TraitSourceTokenURI {
			return fmt.Errorf("collections add: -traits-source %q: want opensea or token_uri", ts)
		}
		if *source != "opensea" {
			return fmt.Errorf("collections add: -source %q: the only source is opensea", *source)
		}
		pool, err := openDB(ctx, cfg, cfg.DatabaseURL, logger, 4)
		if err != nil {
			return err
		}
		defer pool.Close()
		for _, slug := range fs.Args() {
			c, err := trackCollection(ctx, pool, cfg, *source, slug, *chain, int16(*priority), *traitsSource)
			if err != nil {
				return err
			}
			_, _ = fmt.Fprintf(stdout, "tracking %s (id %d, traits from %s); first refresh on the next planning tick\n", c.Slug, c.ID, c.TraitsSource)
		}
		return nil
	case "list":
		pool, err := openDB(ctx, cfg, cfg.DatabaseURL, logger, 4)
		if err != nil {
			return err
		}
		defer pool.Close()
		return listCollections(ctx, pool, stdout)
	case "route":
		pool, err := openDB(ctx, cfg, cfg.DatabaseURL, logger, 4)
		if err != nil {
			return err
		}
		defer pool.Close()
		return routeCollection(ctx, pool, args[1:], stdout)
	case "refresh", "resume":
		if len(args) < 2 {
			return fmt.Errorf("%w: collections %s needs at least one slug", errUsage, args[0])
		}
		pool, err := openDB(ctx, cfg, cfg.DatabaseURL, logger, 4)
		if err != nil {
			return err
		}
		defer pool.Close()
		if args[0] == "resume" {
			return resumeCollections(ctx, pool, args[1:], stdout)
		}
		return refreshCollections(ctx, pool, args[1:], stdout)
	}
	return fmt.Errorf("%w: unknown collections command %q", errUsage, args[0])
}

// traitFetchProgress says how far the trait fetch is: "complete", "n due"
// while tokens wait for theirs, or "-" before the first listing.
func traitFetchProgress(r db.CollectionProgressRow) string {
	switch {
	case r.Tokens == 0:
		return "-"
	case r.TraitsDue > 0:
		return fmt.Sprintf("%d due (%.0f%% done)", r.TraitsDue, 100*float64(r.Tokens-r.TraitsDue)/float64(r.Tokens))
	case r.TraitsComplete:
		return "complete"
	}
	return "checking"
}

func lookupCollection(ctx context.Context, q *db.Queries, slug string) (db.Collection, error) {
	c, err := q.CollectionGetBySlug(ctx, db.CollectionGetBySlugParams{Source: "opensea", Slug: slug})
	if err != nil {
		if errors.Is(db.Interpret(err), db.ErrNotFound) {
			return c, fmt.Errorf("collection %q is not tracked (add it with `nftsync collections add`)", slug)
		}
		return c, fmt.Errorf("look up %s: %w", slug, err)
	}
	return c, nil
}

// refreshCollections enqueues a manual refresh of every kind, in one
// transaction per collection.
func refreshCollections(ctx context.Context, pool *pgxpool.Pool, slugs []string, stdout io.Writer) error {
	client, err := river.NewClient(riverpgxv5.New(pool), &river.Config{})
	if err != nil {
		return fmt.Errorf("create river client: %w", err)
	}
	for _, slug := range slugs {
		err := db.WithTx(ctx, pool, func(tx pgx.Tx) error {
			c, err := lookupCollection(ctx, db.New(tx), slug)
			if err != nil {
				return err
			}
			if c.Status != "active" {
				return fmt.Errorf("collection %q is %s (%s): resume it first with `nftsync collections resume %s`", slug, c.Status, c.StatusReason, slug)
			}
			n, err := jobs.RefreshNow(ctx, tx, client, c.ID, time.Now())
			if err != nil {
				return err
			}
			_, _ = fmt.Fprintf(stdout, "%s: %d refresh jobs enqueued (kinds already pending were skipped)\n", slug, n)
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// resumeCollections reactivates collections a permanent upstream error (or an
// operator) stopped, and makes all their kinds due now.
func resumeCollections(ctx context.Context, pool *pgxpool.Pool, slugs []string, stdout io.Writer) error {
	for _, slug := range slugs {
		err := db.WithTx(ctx, pool, func(tx pgx.Tx) error {
			q := db.New(tx)
			c, err := lookupCollection(ctx, q, slug)
			if err != nil {
				return err
			}
			if err := q.CollectionSetStatus(ctx, db.CollectionSetStatusParams{ID: c.ID, Status: "active", StatusReason: ""}); err != nil {
				return fmt.Errorf("resume %s: %w", slug, err)
			}
			if err := q.ScheduleMakeDue(ctx, c.ID); err != nil {
				return fmt.Errorf("resume %s: %w", slug, err)
			}
			_, _ = fmt.Fprintf(stdout, "%s: active again (was %s: %s)\n", slug, c.Status, c.StatusReason)
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// listCollections prints every collection with what is stored for it and
// the state of its source's API keys (UPSTREAM): "no usable key until T"
// when upstream rejected every key, so the jobs snoozing meanwhile are not
// silent.
func listCollections(ctx context.Context, pool *pgxpool.Pool, stdout io.Writer) error {
	rows, err := db.New(pool).CollectionProgress(ctx)
	if err != nil {
		return fmt.Errorf("list collections: %w", err)
	}
	lim, err := ratelimit.New(pool, ratelimit.Options{})
	if err != nil {
		return err
	}
	health := map[string]ratelimit.KeyHealth{}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	_, _ = fmt.Fprintln(tw, "ID\tSLUG\tSTATUS\tUPSTREAM\tFLOOR\tVOLUME\tMETADATA\tTOKENS\tTOKENS_COMPLETE\tTRAITS_SOURCE\tWITH_TRAITS\tTRAIT_FETCH\tRARITY_TOKENS")
	for _, r := range rows {
		h, ok := health[r.Source]
		if !ok {
			if h, err = lim.KeyHealth(ctx, r.Source); err != nil {
				return fmt.Errorf("list collections: %w", err)
			}
			health[r.Source] = h
		}
		_, _ = fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%t\t%t\t%t\t%d\t%t\t%s\t%d\t%s\t%d\n", r.ID, r.Slug, r.Status, h, r.HasFloor, r.HasVolume,
			r.HasMetadata, r.Tokens, r.TokensComplete, r.TraitsSource, r.TokensWithTraits, traitFetchProgress(r), r.RarityTokens)
	}
	return tw.Flush()
}
