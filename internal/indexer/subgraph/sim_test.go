package subgraph_test

import (
	"context"
	"math/big"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nftsync/nftsync/internal/indexer"
	"github.com/nftsync/nftsync/internal/indexer/opensea"
	"github.com/nftsync/nftsync/internal/indexer/subgraph"
	"github.com/nftsync/nftsync/internal/indexersim"
)

func rat(t *testing.T, s string) *big.Rat {
	t.Helper()
	r, ok := new(big.Rat).SetString(s)
	require.True(t, ok, s)
	return r
}

// The simulator's Seaport subgraph indexes the trades behind its OpenSea
// volumes: totals agree to OpenSea's four decimals, and every OpenSea
// window lies within the bounds the daily snapshots allow.
func TestAgreesWithSimulatedOpenSea(t *testing.T) {
	t.Parallel()
	sim, url := startSim(t, indexersim.SubgraphConfig{Mirror: true})
	now := func() time.Time { return simAt }
	sg, err := subgraph.NewClient("seaport", url+"/subgraphs/name/seaport", nil, subgraph.Options{Now: now, PageSize: 7})
	require.NoError(t, err)
	os, err := opensea.NewClient(url, nil, opensea.Options{Now: now})
	require.NoError(t, err)
	slack := big.NewRat(1, 1000) // OpenSea's figures are rounded to 1e-4
	for _, slug := range sim.Slugs() {
		info, _ := sim.Collection(slug)
		a, err := os.Stats(context.Background(), slug)
		require.NoError(t, err)
		b, err := sg.Stats(context.Background(), info.Contract)
		if info.Chain != "ethereum" {
			// The subgraph indexes Ethereum mainnet: a Polygon collection
			// (quoted in POL on OpenSea) is not in it.
			require.Error(t, err, slug)
			continue
		}
		require.NoError(t, err)
		require.Equal(t, simAt, b.SourceAsOf, "head block time")
		want := map[indexer.Window]indexer.Volume{}
		for _, v := range a.Volumes {
			want[v.Window] = v
		}
		for _, v := range b.Volumes {
			os := rat(t, want[v.Window].Amount.Amount)
			if v.Window == indexer.WindowAll {
				d := new(big.Rat).Sub(os, rat(t, v.Amount.Amount))
				require.LessOrEqual(t, new(big.Rat).Abs(d).Cmp(slack), 0, "%s all: %s vs %s", slug, want[v.Window].Amount.Amount, v.Amount.Amount)
				require.Equal(t, want[v.Window].Sales, v.Sales)
				continue
			}
			lo := new(big.Rat).Sub(rat(t, v.Low), slack)
			hi := new(big.Rat).Add(rat(t, v.High), slack)
			require.True(t, lo.Cmp(os) <= 0 && os.Cmp(hi) <= 0, "%s %s: OpenSea %s outside [%s, %s]", slug, v.Window, want[v.Window].Amount.Amount, v.Low, v.High)
		}
	}
}
