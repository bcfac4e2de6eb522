package jobs_test

import (
	"context"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/stretchr/testify/require"

	"github.com/nftsync/nftsync/db/dbtest"
	"github.com/nftsync/nftsync/internal/indexer"
	"github.com/nftsync/nftsync/internal/indexer/opensea"
	"github.com/nftsync/nftsync/internal/indexersim"
	"github.com/nftsync/nftsync/internal/ratelimit"
	"github.com/nftsync/nftsync/jobs"
)

// benchUpstream is the production upstream path of the report benchmarks:
// the simulator behind a real HTTP server, the OpenSea client, and every call
// drawn from the PostgreSQL limiter (a lease and an in-flight slot taken and
// released per call) on a bucket whose budget never binds, so what is
// measured is our path's cost.
type benchUpstream struct {
	sim  *indexersim.Server
	deps *jobs.Deps
}

// newBenchUpstream wires cfg's simulator to workers on pool as a worker
// process does (HTTP client timeout, limiter observing every response).
func newBenchUpstream(tb testing.TB, pool *pgxpool.Pool, cfg indexersim.Config) *benchUpstream {
	tb.Helper()
	ctx := context.Background()
	sim, err := indexersim.New(cfg, discardLogger())
	require.NoError(tb, err)
	srv := httptest.NewServer(sim.Handler())
	tb.Cleanup(srv.Close)
	tb.Cleanup(sim.Close)
	lim, err := ratelimit.New(pool, ratelimit.Options{Logger: discardLogger(), Holder: "bench"})
	require.NoError(tb, err)
	key := ratelimit.KeyFor("opensea", "")
	client, err := opensea.NewClient(srv.URL, indexer.NewHTTPClient(30*time.Second, benchInFlight), opensea.Options{
		Observe: func(i opensea.ResponseInfo) {
			lim.Observe(key, ratelimit.ResponseInfo{Status: i.Status, RetryAfter: i.RetryAfter, Remaining: i.Remaining, Reset: i.Reset})
		},
	})
	require.NoError(tb, err)
	// An in-flight cap (as NFTSYNC_OPENSEA_CONCURRENCY sets by default) above
	// any benchmark's concurrency: every call takes and frees a slot.
	require.NoError(tb, lim.Ensure(ctx, []ratelimit.BucketConfig{{Key: key, Source: "opensea", Rate: 1e6, Burst: 1e6, MaxInFlight: benchInFlight}}))
	idx := ratelimit.NewIndexer(lim, "opensea", map[string]indexer.Indexer{key: client})
	return &benchUpstream{sim: sim, deps: &jobs.Deps{
		DB: pool, Logger: discardLogger(),
		Indexers:     map[string]indexer.Indexer{"opensea": idx},
		TraitSources: map[string]indexer.TraitSource{indexer.TraitSourceOpenSea: idx},
	}}
}

// benchInFlight is the benchmarks' in-flight cap per key, above any of
// their concurrency.
const benchInFlight = 256

// benchDB is a pool of maxConns connections on a fresh migrated database of
// the benchmark's own. It counts the statements sent through it (each a
// round trip; River's and ours alike).
func benchDB(tb testing.TB, maxConns int32) *pgxpool.Pool {
	tb.Helper()
	pool, _ := benchDBCounted(tb, maxConns)
	return pool
}

// benchDBCounted is benchDB with its statement counter.
func benchDBCounted(tb testing.TB, maxConns int32) (*pgxpool.Pool, *statementCounter) {
	tb.Helper()
	cfg, err := pgxpool.ParseConfig(dbtest.NewDatabase(tb))
	require.NoError(tb, err)
	cfg.MaxConns = maxConns
	counter := &statementCounter{}
	cfg.ConnConfig.Tracer = counter
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	require.NoError(tb, err)
	tb.Cleanup(pool.Close)
	return pool, counter
}

// statementCounter counts the statements (Exec, Query, QueryRow; batches
// and COPY are not traced) sent on a pool's connections.
type statementCounter struct{ n atomic.Int64 }

func (c *statementCounter) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	c.n.Add(1)
	return ctx
}

func (c *statementCounter) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

// newBenchClient is a River client working cfg's queues with every worker
// on deps, configured as a worker process configures it (attempts, retry
// policy, error handler).
func newBenchClient(tb testing.TB, pool *pgxpool.Pool, deps *jobs.Deps, cfg jobs.Config) *river.Client[pgx.Tx] {
	tb.Helper()
	workers := river.NewWorkers()
	jobs.Register(workers, deps, cfg)
	client, err := river.NewClient(riverpgxv5.New(pool), &river.Config{
		Logger: discardLogger(), Workers: workers, Queues: jobs.Queues(cfg),
		MaxAttempts: 10, RetryPolicy: &jobs.RetryPolicy{}, ErrorHandler: &jobs.ErrorHandler{Logger: discardLogger()},
	})
	require.NoError(tb, err)
	return client
}
