package main

import (
	"github.com/nftsync/nftsync/internal/cli"

	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
)

const usage = `nftsync keeps NFT collection data fresh in PostgreSQL.

Usage: nftsync <command> [arguments]

Commands:
  dev                      local PostgreSQL (unless DATABASE_URL is set), migrations,
                           the indexer simulator, and a worker, in one process
  worker                   a worker replica (run as many as you like)
  migrate                  apply River's and nftsync's migrations
  sim                      the indexer simulator on its own
  api                      the client GraphQL API (console at /console/, GraphiQL at /, River UI at /riverui/)
  collections add SLUG...  track collections (flags: -source, -chain, -priority)
  collections list         tracked collections and what is stored for them
  collections refresh SLUG...  enqueue a manual refresh of every kind now (priority, budget first)
  collections resume SLUG...   reactivate collections stopped by a permanent upstream error
  backfill --from-file FILE | --from-sim N [--no-wait]
                           track many collections and sync them at bulk priority,
                           with progress; run it again to finish an interrupted one
  collections pause [-reason R] SLUG...   stop scheduling collections (data stays)
  collections untrack SLUG...  stop tracking collections and delete their data
  collections intervals [-floor-price D] [-volume D] [-metadata D] [-tokens D] SLUG...
  collections targets [-floor-price D] [-volume D] [-metadata D] [-tokens D] [-reset] SLUG...
  jobs list [-kind K] [-state S] [-queue Q] [-limit N] [-after CURSOR] [--json]
  jobs get|retry|cancel ID [--json]
  jobs stats [--json]      River job counts by state, kind and queue
  rarity --input FILE      compute rarity scores and ranks of a JSONL collection
  version                  print the version and exit
  help                     this text

Configuration is read from the environment; see README.md.
`

// run is the whole program behind main, callable from tests: args without
// the program name, getenv for configuration, stdout for results and stderr
// for logs.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		_, _ = io.WriteString(stdout, usage)
		return nil
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "rarity":
		return cli.Rarity(rest, stdout)
	case "version", "--version":
		return cli.Version(stdout, version)
	}
	c, ok := commands()[cmd]
	if !ok {
		_, _ = io.WriteString(stderr, usage)
		return fmt.Errorf("%w: unknown command %q", cli.ErrUsage, cmd)
	}
	cfg, err := loadConfig(getenv)
	if err != nil {
		return err
	}
	cfg.MigrateOnOpen = c.migrates
	err = c.run(ctx, cfg, cli.NewLogger(cfg, stderr), rest, stdout)
	if errors.Is(err, cli.ErrUsage) {
		_, _ = io.WriteString(stderr, usage)
	}
	return err
}

// command is a subcommand that reads the configuration from the environment.
type command struct {
	run func(ctx context.Context, cfg *cli.Config, logger *slog.Logger, args []string, stdout io.Writer) error
	// migrates says that the command applies outstanding migrations when it
	// opens the database: the services that own the schema (dev, worker,
	// api) and migrate itself. Every other command only checks that the
	// schema is current and, when it is behind, stops and says to run
	// `nftsync migrate`; it then works with a role without DDL rights.
	migrates bool
}

// commands is the command table (rarity, version and help need no
// configuration and are handled before it).
func commands() map[string]command {
	return map[string]command{
		"dev": {migrates: true, run: func(ctx context.Context, cfg *cli.Config, logger *slog.Logger, _ []string, stdout io.Writer) error {
			return cli.Dev(ctx, cfg, logger, stdout)
		}},
		"worker": {migrates: true, run: func(ctx context.Context, cfg *cli.Config, logger *slog.Logger, _ []string, _ io.Writer) error {
			return cli.Worker(ctx, cfg, logger)
		}},
		"migrate": {migrates: true, run: func(ctx context.Context, cfg *cli.Config, logger *slog.Logger, _ []string, stdout io.Writer) error {
			return cli.Migrate(ctx, cfg, logger, stdout)
		}},
		"sim": {run: func(ctx context.Context, cfg *cli.Config, logger *slog.Logger, _ []string, stdout io.Writer) error {
			return cli.Sim(ctx, cfg, logger, stdout)
		}},
		"collections": {run: cli.Collections},
		"backfill":    {run: cli.Backfill},
		"api": {migrates: true, run: func(ctx context.Context, cfg *cli.Config, logger *slog.Logger, _ []string, stdout io.Writer) error {
			return cli.API(ctx, cfg, logger, stdout)
		}},
		"jobs": {run: cli.Jobs},
	}
}
