package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nftsync/nftsync/internal/indexer/opensea"
)

// firstSyncTier is a read budget the first-sync table in docs/traits-and-rarity.md is computed
// for.
type firstSyncTier struct {
	name string
	rate float64 // calls per second, all keys together
}

// firstSyncTiers are OpenSea's documented read budgets per key: the spec's
// example free tier (60/min), the 2026-09 docs page's (600/h), and a pool
// of five 60/min keys.
var firstSyncTiers = []firstSyncTier{
	{"1 key, 60/min", 1},
	{"1 key, 600/h", 600.0 / 3600},
	{"5 pooled keys, 60/min each", 5},
}

// firstSyncCalls is what a first sync of n tokens costs upstream on the
// batch path: ceil(n/page) list pages + ceil(n/batch) batch calls + one
// cross-check.
func firstSyncCalls(n, page, batch int) int {
	return ceilDiv(n, page) + ceilDiv(n, batch) + 1
}

func ceilDiv(a, b int) int { return (a + b - 1) / b }

// humanDuration writes d as the docs do: "50 s", "4 min 11 s", "6 h 59 min".
func humanDuration(d time.Duration) string {
	s := int(d.Round(time.Second) / time.Second)
	switch {
	case s < 60:
		return fmt.Sprintf("%d s", s)
	case s < 3600:
		return fmt.Sprintf("%d min %d s", s/60, s%60)
	}
	return fmt.Sprintf("%d h %d min", s/3600, (s%3600)/60)
}

func thousands(n int) string {
	s := strconv.Itoa(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// firstSyncTable renders the first-sync table from the budgets: the default
// batch size (NFTSYNC_TRAITS_BATCH_SIZE's default) and list page size, and
// each tier's rate, with calls paced evenly over the tier's window.
func firstSyncTable(t *testing.T) string {
	t.Helper()
	batch := 0
	for _, v := range envVars {
		if v.Name == "NFTSYNC_TRAITS_BATCH_SIZE" {
			var err error
			batch, err = strconv.Atoi(v.Default)
			require.NoError(t, err)
		}
	}
	require.Positive(t, batch, "NFTSYNC_TRAITS_BATCH_SIZE has a numeric default")
	var b strings.Builder
	b.WriteString("| tokens | calls (batch of " + strconv.Itoa(batch) + ") | calls (one per token) |")
	for _, tier := range firstSyncTiers {
		b.WriteString(" " + tier.name + " |")
	}
	b.WriteString("\n| ---: | ---: | ---: |")
	for range firstSyncTiers {
		b.WriteString(" ---: |")
	}
	b.WriteString("\n")
	for _, n := range []int{1000, 10000, 100000} {
		calls := firstSyncCalls(n, opensea.MaxPageSize, batch)
		fmt.Fprintf(&b, "| %s | %s | %s |", thousands(n), thousands(calls), thousands(firstSyncCalls(n, opensea.MaxPageSize, 1)))
		for _, tier := range firstSyncTiers {
			b.WriteString(" " + humanDuration(time.Duration(float64(calls)/tier.rate*float64(time.Second))) + " |")
		}
		b.WriteString("\n")
	}
	return b.String()
}

// TestFirstSyncTable keeps the first-sync table in docs/traits-and-rarity.md computed
// from the budgets: it fails, printing the table to paste, when the doc
// differs.
func TestFirstSyncTable(t *testing.T) {
	t.Parallel()
	require.Equal(t, 251, firstSyncCalls(10000, 200, 50), "the issue's figure: 50 list pages + 200 batch calls + 1 cross-check")
	require.Equal(t, "4 min 11 s", humanDuration(251*time.Second))
	readme, err := os.ReadFile("../../docs/traits-and-rarity.md")
	require.NoError(t, err)
	want := firstSyncTable(t)
	require.Contains(t, string(readme), want, "docs/traits-and-rarity.md: the first-sync table is stale; it should read:\n%s", want)
}
