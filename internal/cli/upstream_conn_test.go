package cli

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nftsync/nftsync/db/dbtest"
	"github.com/nftsync/nftsync/internal/indexersim"
	"github.com/nftsync/nftsync/internal/metrics"
)

// TestUpstreamConnectionsAreReused: the OpenSea client a worker builds
// keeps as many idle connections as the limiter lets it have in flight, so
// a second wave of concurrent calls reuses the first wave's connections
// instead of opening new ones (against the real API each a TCP and TLS
// handshake). Go's default transport keeps two idle connections per host.
func TestUpstreamConnectionsAreReused(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	const inFlight = 8
	sim, err := indexersim.New(indexersim.Config{Seed: 1, Collections: 1, MinTokens: 10, MaxTokens: 10}, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	t.Cleanup(sim.Close)
	// Every wave's calls are all in flight at once: each answer waits until
	// the whole wave has arrived.
	arrived := make(chan struct{}, inFlight)
	var gate atomic.Pointer[chan struct{}]
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		g := gate.Load()
		arrived <- struct{}{}
		<-*g
		sim.Handler().ServeHTTP(w, r)
	}))
	var opened atomic.Int64
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			opened.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)

	cfg := &Config{HTTPTimeout: 30 * time.Second} // the default
	idx, _, err := newIndexers(ctx, cfg, dbtest.DB(t), srv.URL, LimitConfig{Rate: 1000, Burst: 1000, Concurrency: inFlight}, slog.New(slog.DiscardHandler), metrics.New())
	require.NoError(t, err)
	slug := sim.Slugs()[0]
	for range 2 {
		g := make(chan struct{})
		gate.Store(&g)
		var wg sync.WaitGroup
		errs := make(chan error, inFlight)
		for range inFlight {
			wg.Go(func() {
				_, err := idx["opensea"].Stats(ctx, slug)
				errs <- err
			})
		}
		for range inFlight {
			<-arrived
		}
		close(g)
		wg.Wait()
		for range inFlight {
			require.NoError(t, <-errs)
		}
	}
	require.Equal(t, int64(inFlight), opened.Load(), "connections opened for two waves of %d concurrent calls", inFlight)
}
