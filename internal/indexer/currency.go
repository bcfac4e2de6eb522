package indexer

import "strings"

// nativeCurrencies are the native currencies of the chains OpenSea lists
// (chain identifiers as its ChainIdentifier enum spells them). Polygon's
// native token was renamed from MATIC to POL in 2024.
var nativeCurrencies = map[string]struct { //nolint:gochecknoglobals // read-only table
	symbol   string
	decimals int32
}{
	"ethereum":  {"ETH", 18},
	"base":      {"ETH", 18},
	"arbitrum":  {"ETH", 18},
	"optimism":  {"ETH", 18},
	"zora":      {"ETH", 18},
	"blast":     {"ETH", 18},
	"shape":     {"ETH", 18},
	"unichain":  {"ETH", 18},
	"abstract":  {"ETH", 18},
	"polygon":   {"POL", 18},
	"matic":     {"POL", 18},
	"avalanche": {"AVAX", 18},
	"ape_chain": {"APE", 18},
	"ronin":     {"RON", 18},
	"monad":     {"MON", 18},
	"solana":    {"SOL", 9},
}

// NativeCurrency returns the symbol and decimals of a chain's native
// currency; ok is false for a chain this table does not know.
func NativeCurrency(chain string) (symbol string, decimals int32, ok bool) {
	c, ok := nativeCurrencies[strings.ToLower(chain)]
	return c.symbol, c.decimals, ok
}
