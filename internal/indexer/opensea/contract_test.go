package opensea_test

import (
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nftsync/nftsync/internal/indexer/indexertest"
	"github.com/nftsync/nftsync/internal/indexer/opensea"
	"github.com/nftsync/nftsync/internal/indexersim"
)

func TestContract(t *testing.T) {
	t.Parallel()
	indexertest.Run(t, func(t *testing.T, mode indexertest.Mode) indexertest.Target {
		t.Helper()
		at := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
		var calls atomic.Int64
		// The simulator reads its start from the first clock call; every
		// later call is a minute on, inside a storm when one is set.
		clock := func() time.Time {
			if calls.Add(1) == 1 {
				return at
			}
			return at.Add(time.Minute)
		}
		cfg := indexersim.Config{Collections: 5, Clock: clock}
		switch mode {
		case indexertest.Throttled:
			cfg.StormEvery, cfg.StormDuration = time.Hour, time.Hour-time.Second
		case indexertest.ServerError:
			cfg.ErrorRate = 1
		case indexertest.Malformed:
			cfg.MalformedRate = 1
		}
		sim, err := indexersim.New(cfg, nil)
		require.NoError(t, err)
		srv := httptest.NewServer(sim.Handler())
		t.Cleanup(srv.Close)
		c, err := opensea.NewClient(srv.URL, nil, opensea.Options{Now: clock})
		require.NoError(t, err)
		return indexertest.Target{Indexer: c, Known: "sim-collection-002", Unknown: "no-such-collection"}
	})
}
