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

// version is set at build time (-ldflags "-X main.version=v1.2.3"); a plain
// `go build` reports the module version or "devel".
var version = ""

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "nftsync:", err)
		os.Exit(1)
	}
}
