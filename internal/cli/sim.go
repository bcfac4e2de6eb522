package cli

import (
	"context"
	"fmt"
	"io"
	"log/slog"

	"github.com/nftsync/nftsync/internal/indexersim"
)

// Sim serves the indexer simulator until SIGINT/SIGTERM.
func Sim(ctx context.Context, cfg *Config, logger *slog.Logger, stdout io.Writer) error {
	sim, err := indexersim.Start(ctx, cfg.SimAddr, cfg.SimConfig(), logger)
	if err != nil {
		return fmt.Errorf("start simulator: %w", err)
	}
	defer sim.Close()
	_, _ = fmt.Fprintf(stdout, "simulator listening on %s (statistics at %s/_sim/stats)\n", sim.URL, sim.URL)
	<-ctx.Done()
	return nil
}
