package main

import (
	"context"
	"errors"
	"fmt"
	"io"
)

const usage = `nftsync keeps NFT collection data fresh in PostgreSQL.

Usage: nftsync <command> [arguments]

Commands:
  dev                      local PostgreSQL (unless DATABASE_URL is set), migrations,
                           the indexer simulator, and a worker, in one process
  worker                   a worker replica (run as many as you like)
  migrate                  apply River's and nftsync's migrations
  sim                      the indexer simulator on its own
  collections add SLUG...  track collections (flags: -source, -chain, -priority)
  collections list         tracked collections and what is stored for them
  collections refresh SLUG...  enqueue a manual refresh of every kind now (priority, budget first)
  collections resume SLUG...   reactivate collections stopped by a permanent upstream error
  backfill --from-file FILE | --from-sim N [--no-wait]
                           track many collections and sync them at bulk priority,
                           with progress; run it again to finish an interrupted one
  rarity --input FILE      compute rarity scores and ranks of a JSONL collection
  version                  print the version and exit
  help                     this text

Configuration is read from the environment; see README.md.
`

// errUsage marks a command-line mistake; run prints the usage with it.
var errUsage = errors.New("usage")

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
		return runRarity(rest, stdout)
	case "version", "--version":
		return runVersion(stdout)
	}
	cfg, err := loadConfig(getenv)
	if err != nil {
		return err
	}
	logger := newLogger(cfg, stderr)
	switch cmd {
	case "dev":
		err = runDev(ctx, cfg, logger, stdout)
	case "worker":
		err = runWorker(ctx, cfg, logger)
	case "migrate":
		err = runMigrate(ctx, cfg, logger, stdout)
	case "sim":
		err = runSim(ctx, cfg, logger, stdout)
	case "collections":
		err = runCollections(ctx, cfg, logger, rest, stdout)
	case "backfill":
		err = runBackfill(ctx, cfg, logger, rest, stdout)
	default:
		err = fmt.Errorf("%w: unknown command %q", errUsage, cmd)
	}
	if errors.Is(err, errUsage) {
		_, _ = io.WriteString(stderr, usage)
	}
	return err
}
