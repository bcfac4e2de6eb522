package main

import (
	"io"

	"github.com/nftsync/nftsync/internal/rarity/rarityfile"
)

// runRarity computes rarity for a JSONL collection file; see rarityfile.Run.
func runRarity(args []string, stdout io.Writer) error {
	return rarityfile.Run(args, stdout)
}
