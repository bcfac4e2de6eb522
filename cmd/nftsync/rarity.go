package main

import (
	"io"
	"runtime/debug"

	"github.com/nftsync/nftsync/internal/rarity/rarityfile"
)

// runRarity computes rarity for a JSONL collection file; see rarityfile.Run.
// The command is a one-shot batch whose heap stays small (tens of MB for
// 100k tokens), so the garbage collector runs a quarter as often.
func runRarity(args []string, stdout io.Writer) error {
	defer debug.SetGCPercent(debug.SetGCPercent(400))
	return rarityfile.Run(args, stdout)
}
