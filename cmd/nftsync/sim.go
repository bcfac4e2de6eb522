package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"

	"github.com/nftsync/nftsync/internal/indexersim"
)

// runSim serves the indexer simulator until SIGINT/SIGTERM.
func runSim(ctx context.Context, cfg *config, logger *slog.Logger, stdout io.Writer) error {
	sim, err := indexersim.Start(ctx, cfg.SimAddr, cfg.simConfig(), logger)
	if err != nil {
		return fmt.Errorf("start simulator: %w", err)
	}
	defer sim.Close()
	_, _ = fmt.Fprintf(stdout, "simulator listening on %s (statistics at %s/_sim/stats)\n", sim.URL, sim.URL)
	<-ctx.Done()
	return nil
}
