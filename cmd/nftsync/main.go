// Command nftsync keeps NFT collection data fresh: River workers fetch floor
// prices, volumes, metadata and token traits from NFT indexers into
// PostgreSQL. Run `nftsync help` for the commands.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "nftsync:", err)
		os.Exit(1)
	}
}
