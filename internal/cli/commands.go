package cli

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/nftsync/nftsync/db"
	"github.com/nftsync/nftsync/internal/admin"
	"github.com/nftsync/nftsync/internal/ratelimit"
	"github.com/nftsync/nftsync/jobs"
)

func Migrate(ctx context.Context, cfg *Config, logger *slog.Logger, stdout io.Writer) error {
	pool, err := openDB(ctx, cfg, cfg.DatabaseURL, logger, 4)
	if err != nil {
		return err
	}
	pool.Close()
	_, _ = fmt.Fprintln(stdout, "migrations are up to date")
	return nil
}

// Worker runs one worker replica until SIGINT/SIGTERM.
func Worker(ctx context.Context, cfg *Config, logger *slog.Logger) error {
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
	w, err := newWorker(ctx, cfg, pool, cfg.OpenSeaURL, cfg.Limit, logger, obs)
	if err != nil {
		return err
	}
	started := make(chan struct{})
	stopHealth, err := serveWorkerHealth(ctx, cfg, pool, w.client, started, obs.metrics.Registry, logger)
	if err != nil {
		return err
	}
	defer stopHealth()
	waitStream := func() error { return nil }
	if cfg.Stream.Enabled(false, len(cfg.OpenSeaAPIKeys) > 0) {
		if _, waitStream, err = startStream(ctx, cfg, pool, w, cfg.Stream.URL, logger, obs.metrics); err != nil {
			return err
		}
	} else {
		logger.Info("stream consumer off: floors are polled (NFTSYNC_STREAM=on, or an OpenSea API key, turns it on)")
	}
	logger.Info("worker started", slog.Any("max_workers", cfg.MaxWorkers))
	err = runRiver(ctx, w.client, cfg, logger, started)
	return errors.Join(err, waitStream())
}

func Collections(ctx context.Context, cfg *Config, logger *slog.Logger, args []string, stdout io.Writer) error {
	if len(args) == 0 {
		return fmt.Errorf("%w: collections needs add, list, refresh, pause, resume, untrack, intervals, targets or route", ErrUsage)
	}
	if args[0] == "route" {
		svc, pool, err := openAdmin(ctx, cfg, logger)
		if err != nil {
			return err
		}
		defer pool.Close()
		return routeCollection(ctx, svc, cfg.API.Actor, args[1:], stdout)
	}
	cmd, rest := args[0], args[1:]
	fs := flag.NewFlagSet("collections "+cmd, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	source := fs.String("source", "opensea", "indexer the collection is fetched from")
	chain := fs.String("chain", "ethereum", "chain of the collection")
	priority := fs.Int("priority", 2, "1 (most urgent) to 4")
	reason := fs.String("reason", "", "why the collection is paused")
	traitsSource := fs.String("traits-source", "", "where per-token traits come from: opensea (single-NFT endpoint, the default) or token_uri (the token's metadata_url); empty keeps a tracked collection's setting")
	kinds := fs.String("kinds", "", "comma-separated kinds to refresh (default all)")
	reset := fs.Bool("reset", false, "targets: restore every kind's default target")
	intervals := map[string]*time.Duration{}
	for _, kind := range jobs.ScheduleKinds {
		intervals[kind] = fs.Duration(strings.ReplaceAll(kind, "_", "-"), 0, "refresh interval of "+kind)
	}
	if err := fs.Parse(reorderFlags(rest)); err != nil {
		return fmt.Errorf("%w: collections %s: %w", ErrUsage, cmd, err)
	}
	if cmd != "list" && fs.NArg() == 0 {
		return fmt.Errorf("%w: collections %s needs at least one slug", ErrUsage, cmd)
	}
	svc, pool, err := openAdmin(ctx, cfg, logger)
	if err != nil {
		return err
	}
	defer pool.Close()
	actor := cfg.API.Actor
	setIntervals := map[string]time.Duration{}
	for kind, d := range intervals {
		if *d != 0 {
			setIntervals[kind] = *d
		}
	}
	if cmd == "list" {
		return listCollections(ctx, pool, stdout)
	}
	for _, slug := range fs.Args() {
		var err error
		switch cmd {
		case "add":
			if *priority < 1 || *priority > 4 {
				return fmt.Errorf("collections add: -priority %d: want 1 to 4", *priority)
			}
			var c db.Collection
			c, err = svc.Track(ctx, actor, admin.TrackParams{Slug: slug, Source: *source, Chain: *chain, Priority: *priority,
				Intervals: setIntervals, TraitsSource: *traitsSource})
			if err == nil {
				_, _ = fmt.Fprintf(stdout, "tracking %s (id %d, traits from %s); first refresh on the next planning tick\n", c.Slug, c.ID, c.TraitsSource)
			}
		case "refresh":
			var res *admin.RefreshResult
			res, err = svc.Refresh(ctx, actor, slug, SplitList(*kinds))
			if err == nil {
				inserted, ids := 0, make([]string, 0, len(res.Jobs))
				for _, j := range res.Jobs {
					if !j.Duplicate {
						inserted++
					}
					ids = append(ids, fmt.Sprintf("%s(%s)=%d", j.Kind, j.Source, j.JobID))
				}
				_, _ = fmt.Fprintf(stdout, "%s: %d refresh jobs enqueued (jobs already pending were skipped): %s\n", slug, inserted, strings.Join(ids, " "))
			}
		case "resume":
			var before db.Collection
			before, err = lookupStatus(ctx, pool, slug)
			if err == nil {
				_, err = svc.Resume(ctx, actor, slug)
			}
			if err == nil {
				_, _ = fmt.Fprintf(stdout, "%s: active again (was %s: %s)\n", slug, before.Status, before.StatusReason)
			}
		case "pause":
			_, err = svc.Pause(ctx, actor, slug, *reason)
			if err == nil {
				_, _ = fmt.Fprintf(stdout, "%s: paused\n", slug)
			}
		case "untrack":
			_, err = svc.Untrack(ctx, actor, slug)
			if err == nil {
				_, _ = fmt.Fprintf(stdout, "%s: untracked; its stored data is deleted\n", slug)
			}
		case "intervals":
			_, err = svc.SetIntervals(ctx, actor, slug, setIntervals)
			if err == nil {
				_, _ = fmt.Fprintf(stdout, "%s: refresh intervals set\n", slug)
			}
		case "targets":
			targets := setIntervals
			if *reset {
				targets = map[string]time.Duration{}
				for _, kind := range jobs.ScheduleKinds {
					targets[kind] = 0
				}
			}
			_, err = svc.SetTargets(ctx, actor, slug, targets)
			if err == nil {
				_, _ = fmt.Fprintf(stdout, "%s: freshness targets set\n", slug)
			}
		default:
			return fmt.Errorf("%w: unknown collections command %q", ErrUsage, cmd)
		}
		if err != nil {
			return fmt.Errorf("collections %s %s: %w", cmd, slug, err)
		}
	}
	return nil
}

// listCollections prints every collection with its freshness and what is
// stored for it, and the state of its source's API keys (UPSTREAM): "no
// usable key until T" when upstream rejected every key, so the jobs
// snoozing meanwhile are not silent. FLOOR, VOLUME, METADATA and
// TOKENS_SYNC are each kind's age against its target ("42s/1m", "never/1m",
// from the collection_freshness view, as the API and metrics show them);
// FLOOR_MODE says whether the floor is live (a stream keeps it current) or
// polled; STALE names the kinds past their target.
func listCollections(ctx context.Context, pool *pgxpool.Pool, stdout io.Writer) error {
	q := db.New(pool)
	rows, err := q.CollectionProgress(ctx)
	if err != nil {
		return fmt.Errorf("list collections: %w", err)
	}
	fresh, err := q.CollectionFreshnessList(ctx)
	if err != nil {
		return fmt.Errorf("list collections: %w", err)
	}
	byCollection := map[int64]map[string]db.CollectionFreshnessListRow{}
	for _, f := range fresh {
		if byCollection[f.CollectionID] == nil {
			byCollection[f.CollectionID] = map[string]db.CollectionFreshnessListRow{}
		}
		byCollection[f.CollectionID][f.Kind] = f
	}
	lim, err := ratelimit.New(pool, ratelimit.Options{})
	if err != nil {
		return err
	}
	health := map[string]ratelimit.KeyHealth{}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	_, _ = fmt.Fprintln(tw, "ID\tSLUG\tSTATUS\tUPSTREAM\tFLOOR\tFLOOR_MODE\tVOLUME\tMETADATA\tTOKENS_SYNC\tSTALE\tTOKENS\tTOKENS_COMPLETE\tTRAITS_SOURCE\tWITH_TRAITS\tTRAIT_FETCH\tRARITY_TOKENS")
	for _, r := range rows {
		h, ok := health[r.Source]
		if !ok {
			if h, err = lim.KeyHealth(ctx, r.Source); err != nil {
				return fmt.Errorf("list collections: %w", err)
			}
			health[r.Source] = h
		}
		f := byCollection[r.ID]
		var stale []string
		for _, kind := range jobs.ScheduleKinds {
			if s, ok := f[kind]; ok && s.Stale {
				stale = append(stale, kind)
			}
		}
		_, _ = fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%t\t%s\t%d\t%s\t%d\n", r.ID, r.Slug, r.Status, h,
			freshnessCell(f, jobs.RefreshFloorPrice), cmp.Or(f[jobs.RefreshFloorPrice].Mode, "-"), freshnessCell(f, jobs.RefreshVolume), freshnessCell(f, jobs.RefreshMetadata),
			freshnessCell(f, jobs.RefreshTokens), cmp.Or(strings.Join(stale, ","), "-"),
			r.Tokens, r.TokensComplete, r.TraitsSource, r.TokensWithTraits, traitFetchProgress(r), r.RarityTokens)
	}
	return tw.Flush()
}

// freshnessCell is a kind's age against its target ("42s/1m", "never/1m"),
// or "-" when the kind is not scheduled.
func freshnessCell(f map[string]db.CollectionFreshnessListRow, kind string) string {
	s, ok := f[kind]
	if !ok {
		return "-"
	}
	age := "never"
	if !s.Never {
		age = shortDuration(time.Duration(max(0, s.AgeSeconds)) * time.Second)
	}
	return age + "/" + shortDuration(time.Duration(s.TargetAgeSeconds)*time.Second)
}

// shortDuration writes d in its two largest units: 42s, 5m3s, 26h10m, 3d4h.
func shortDuration(d time.Duration) string {
	d = d.Round(time.Second)
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d/time.Second))
	case d < time.Hour:
		return trimZero(fmt.Sprintf("%dm%ds", int(d/time.Minute), int(d%time.Minute/time.Second)), "0s")
	case d < 72*time.Hour:
		return trimZero(fmt.Sprintf("%dh%dm", int(d/time.Hour), int(d%time.Hour/time.Minute)), "0m")
	}
	return trimZero(fmt.Sprintf("%dd%dh", int(d/(24*time.Hour)), int(d%(24*time.Hour)/time.Hour)), "0h")
}

func trimZero(s, zero string) string {
	if strings.HasSuffix(s, zero) && len(s) > len(zero) && s[len(s)-len(zero)-1] >= 'a' {
		return strings.TrimSuffix(s, zero)
	}
	return s
}

// lookupStatus reads a collection (for messages that show its old status).
func lookupStatus(ctx context.Context, pool *pgxpool.Pool, slug string) (db.Collection, error) {
	c, err := db.New(pool).APICollectionBySlug(ctx, slug)
	if errors.Is(db.Interpret(err), db.ErrNotFound) {
		return c, fmt.Errorf("collection %q is not tracked (add it with `nftsync collections add`)", slug)
	}
	return c, err
}

// reorderFlags moves flags before positional arguments, so that
// `jobs get 12 --json` parses like `jobs get --json 12`. Flags that take a
// value are given as -name=value or -name value (the value follows it).
func reorderFlags(args []string) []string {
	var flags, pos []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			pos = append(pos, args[i+1:]...)
			break
		}
		if strings.HasPrefix(a, "-") && len(a) > 1 {
			flags = append(flags, a)
			if !strings.Contains(a, "=") && !isBoolFlag(a) && i+1 < len(args) {
				flags = append(flags, args[i+1])
				i++
			}
			continue
		}
		pos = append(pos, a)
	}
	return append(flags, pos...)
}

func isBoolFlag(a string) bool {
	switch strings.TrimLeft(a, "-") {
	case "json", "h", "help", "reset":
		return true
	}
	return false
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
