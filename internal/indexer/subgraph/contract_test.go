package subgraph_test

import (
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nftsync/nftsync/internal/indexer/indexertest"
	"github.com/nftsync/nftsync/internal/indexer/subgraph"
	"github.com/nftsync/nftsync/internal/indexersim"
)

// simAt is noon of a day well into the simulated trading history.
var simAt = time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)

// startSim serves the simulator with a Seaport-style subgraph.
func startSim(t *testing.T, sg indexersim.SubgraphConfig) (*indexersim.Server, string) {
	t.Helper()
	sg.Name = "seaport"
	sim, err := indexersim.New(indexersim.Config{Collections: 5, Clock: func() time.Time { return simAt },
		Subgraphs: []indexersim.SubgraphConfig{sg}}, nil)
	require.NoError(t, err)
	srv := httptest.NewServer(sim.Handler())
	t.Cleanup(srv.Close)
	return sim, srv.URL
}

func TestContract(t *testing.T) {
	t.Parallel()
	indexertest.Run(t, func(t *testing.T, mode indexertest.Mode) indexertest.Target {
		t.Helper()
		cfg := indexersim.SubgraphConfig{Mirror: true}
		switch mode {
		case indexertest.Throttled:
			cfg.ThrottleRate = 1
		case indexertest.ServerError:
			cfg.ErrorRate = 1
		case indexertest.Malformed:
			cfg.MalformedRate = 1
		}
		sim, url := startSim(t, cfg)
		c, err := subgraph.NewClient("seaport", url+"/subgraphs/name/seaport", nil, subgraph.Options{Now: func() time.Time { return simAt }})
		require.NoError(t, err)
		info, _ := sim.Collection("sim-collection-002")
		return indexertest.Target{Indexer: c, Known: info.Contract, Unknown: "0x00000000000000000000000000000000000000ff"}
	})
}
