package cli

import (
	"io"
	"runtime/debug"

	"github.com/nftsync/nftsync/internal/rarity/rarityfile"
)

// Rarity computes rarity for a JSONL collection file; see rarityfile.Run.
// The command is a one-shot batch whose heap stays small (about 50 MB for
// 100k tokens), so the garbage collector only runs when the heap nears
// 1 GiB instead of every time it doubles.
func Rarity(args []string, stdout io.Writer) error {
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(1 << 30))
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	return rarityfile.Run(args, stdout)
}
