package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"

	"github.com/nftsync/nftsync/db"
	"github.com/nftsync/nftsync/internal/admin"
	"github.com/nftsync/nftsync/internal/indexer"
	"github.com/nftsync/nftsync/internal/indexer/opensea"
	"github.com/nftsync/nftsync/internal/indexer/subgraph"
	"github.com/nftsync/nftsync/internal/metrics"
	"github.com/nftsync/nftsync/internal/ratelimit"
	"github.com/nftsync/nftsync/jobs"
	"github.com/nftsync/nftsync/migrations"
)

// openDB connects to url and makes sure the schema is current: a command
// that migrates (cfg.MigrateOnOpen, from the command table) applies
// outstanding migrations (safe when replicas start together: they run under
// an advisory lock); any other only checks, and fails with a message to run
// `nftsync migrate` when the schema is behind, changing nothing.
func openDB(ctx context.Context, cfg *Config, url string, logger *slog.Logger, maxConns int32) (*pgxpool.Pool, error) {
	if url == "" {
		return nil, errors.New("DATABASE_URL is not set (only `nftsync dev` starts a local PostgreSQL by itself)")
	}
	pool, err := db.NewPool(ctx, url, maxConns)
	if err != nil {
		return nil, err
	}
	if err := ensureSchema(ctx, pool, cfg.MigrateOnOpen, logger); err != nil {
		pool.Close()
		return nil, err
	}
	return pool, nil
}

// ensureSchema migrates, or checks that nothing is pending.
func ensureSchema(ctx context.Context, pool *pgxpool.Pool, migrate bool, logger *slog.Logger) error {
	if migrate {
		if _, err := migrations.Up(ctx, pool, logger); err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
		return nil
	}
	pending, err := migrations.Check(ctx, pool)
	if err != nil {
		return fmt.Errorf("check schema version: %w", err)
	}
	if pending.Behind() {
		return fmt.Errorf("the database schema is behind this nftsync (not applied: %s): run `nftsync migrate` first", pending)
	}
	return nil
}

// poolSize leaves room for every worker slot, River's own connections
// (notifier, leader, maintenance) and a few for the process itself.
func poolSize(cfg *Config) int32 {
	n := 10
	for _, w := range cfg.MaxWorkers {
		n += w
	}
	return int32(n)
}

// newIndexers builds the OpenSea client for every configured key (or one
// keyless client) behind the cluster-wide limiter: every call takes a lease
// from the key's bucket in PostgreSQL, and a 429/599 or an exhausted
// X-RateLimit-Remaining pauses that key for every replica.
func newIndexers(ctx context.Context, cfg *Config, pool *pgxpool.Pool, openseaURL string, limit LimitConfig, logger *slog.Logger, m *metrics.Metrics) (map[string]indexer.Indexer, *ratelimit.Limiter, error) {
	// A lease must outlive the longest upstream call, or its slot would be
	// handed out again while the call still runs.
	lim, err := ratelimit.New(pool, ratelimit.Options{
		Logger: logger, MaxWait: limit.MaxWait, Holder: cfg.WorkerID,
		LeaseTTL: max(ratelimit.DefaultLeaseTTL, cfg.HTTPTimeout+15*time.Second),
		// Every rejected key of a source leaves it without a usable key:
		// counted once per pause (the ERROR log comes from the limiter).
		OnNoUsableKeyFunc: func(source string, _ time.Time) { m.NoUsableKey(source) },
		// Waits per bucket and give-ups (snoozes); the buckets are the
		// sources' keys, a bounded set.
		OnAcquireFunc: m.ObserveAcquire,
	})
	if err != nil {
		return nil, nil, fmt.Errorf("rate limiter: %w", err)
	}
	keys := cfg.OpenSeaAPIKeys
	if len(keys) == 0 {
		keys = []string{""}
	}
	clients := map[string]indexer.Indexer{}
	buckets := make([]ratelimit.BucketConfig, 0, len(keys))
	for _, apiKey := range keys {
		bucket := ratelimit.KeyFor("opensea", apiKey)
		c, err := opensea.NewClient(openseaURL, indexer.NewHTTPClient(cfg.HTTPTimeout, limit.Concurrency), opensea.Options{
			APIKey: apiKey,
			Logger: logger,
			Observe: func(i opensea.ResponseInfo) {
				m.ObserveUpstream("opensea", i.Op, i.Status)
				lim.Observe(bucket, ratelimit.ResponseInfo{Status: i.Status, RetryAfter: i.RetryAfter,
					Limit: i.Limit, Remaining: i.Remaining, Reset: i.Reset, Malformed: i.Malformed})
			},
		})
		if err != nil {
			return nil, nil, fmt.Errorf("opensea client: %w", err)
		}
		clients[bucket] = c
		buckets = append(buckets, ratelimit.BucketConfig{
			Key: bucket, Source: "opensea", Rate: limit.Rate, Burst: limit.EffectiveBurst(),
			MaxInFlight: limit.Concurrency, BulkReserve: limit.BulkReserve,
			// The key's budget comes from its answers' X-RateLimit-*
			// headers; a configured rate and burst are upper caps.
			Adaptive: true,
		})
	}
	out := map[string]indexer.Indexer{"opensea": ratelimit.NewIndexer(lim, "opensea", clients)}
	for _, sg := range cfg.Subgraphs {
		ix, b, err := newSubgraphIndexer(lim, sg, cfg.HTTPTimeout, logger)
		if err != nil {
			return nil, nil, err
		}
		out[sg.Source()] = ix
		buckets = append(buckets, b)
	}
	if err := lim.Ensure(ctx, buckets); err != nil {
		return nil, nil, fmt.Errorf("configure rate limits: %w", err)
	}
	logger.Info("upstream budget", slog.String("source", "opensea"), slog.Int("keys", len(clients)),
		slog.String("rate_per_key", limit.Describe()), slog.Int("burst_cap", limit.EffectiveBurst()), slog.Int("concurrency", limit.Concurrency))
	for _, sg := range cfg.Subgraphs {
		logger.Info("upstream budget", slog.String("source", sg.Source()), slog.Float64("rate", sg.Limit.Rate),
			slog.Int("burst", sg.Limit.EffectiveBurst()), slog.Int("concurrency", sg.Limit.Concurrency))
	}
	return out, lim, nil
}

// newSubgraphIndexer builds a subgraph endpoint's client behind the shared
// limiter, with its own bucket (per endpoint and key).
func newSubgraphIndexer(lim *ratelimit.Limiter, sg SubgraphConfig, timeout time.Duration, logger *slog.Logger) (indexer.Indexer, ratelimit.BucketConfig, error) {
	if sg.URL == "" {
		return nil, ratelimit.BucketConfig{}, fmt.Errorf("subgraph %s: NFTSYNC_SUBGRAPH_%s_URL is not set", sg.Name, strings.ToUpper(strings.ReplaceAll(sg.Name, "-", "_")))
	}
	c, err := subgraph.NewClient(sg.Name, sg.URL, indexer.NewHTTPClient(timeout, sg.Limit.Concurrency), subgraph.Options{APIKey: sg.APIKey, Logger: logger})
	if err != nil {
		return nil, ratelimit.BucketConfig{}, fmt.Errorf("subgraph client: %w", err)
	}
	bucket := ratelimit.KeyFor(sg.Source(), sg.APIKey)
	return ratelimit.NewIndexer(lim, sg.Source(), map[string]indexer.Indexer{bucket: c}), ratelimit.BucketConfig{
		Key: bucket, Source: sg.Source(), Rate: sg.Limit.Rate, Burst: sg.Limit.EffectiveBurst(), MaxInFlight: sg.Limit.Concurrency,
	}, nil
}

// newWorkerClient builds a River client that works every configured queue
// and carries the periodic planner (only the elected leader enqueues it).
func newWorkerClient(cfg *Config, pool *pgxpool.Pool, deps *jobs.Deps, logger *slog.Logger, obs *observers) (*river.Client[pgx.Tx], error) {
	workers := river.NewWorkers()
	jc := cfg.jobsConfig()
	jobs.Register(workers, deps, jc)
	client, err := river.NewClient(riverpgxv5.New(pool), &river.Config{
		ID:                   cfg.WorkerID,
		Logger:               riverLogger(logger),
		Queues:               jobs.Queues(jc),
		Workers:              workers,
		PeriodicJobs:         jobs.PeriodicJobs(jc),
		JobTimeout:           cfg.JobTimeout,
		RescueStuckJobsAfter: cfg.RescueAfter,
		SoftStopTimeout:      cfg.SoftStopTimeout,
		MaxAttempts:          10,
		RetryPolicy:          &jobs.RetryPolicy{Base: cfg.RetryBase, Max: cfg.RetryMax},
		ErrorHandler:         &jobs.ErrorHandler{Logger: logger},
		Middleware:           obs.middleware(),
	})
	if err != nil {
		return nil, fmt.Errorf("create river client: %w", err)
	}
	return client, nil
}

// runRiver starts client and blocks until ctx is done, then stops softly:
// running jobs get SoftStopTimeout to finish before their contexts are
// cancelled (jobs cancelled this way go back to available, not failed).
// started is closed once the client started.
func runRiver(ctx context.Context, client *river.Client[pgx.Tx], cfg *Config, logger *slog.Logger, started chan<- struct{}) error {
	// The client runs on a context of its own so that a signal leads to the
	// soft stop below rather than an immediate hard stop.
	if err := client.Start(context.WithoutCancel(ctx)); err != nil {
		return fmt.Errorf("start workers: %w", err)
	}
	close(started)
	<-ctx.Done()
	logger.Info("stopping workers", slog.Duration("soft_stop_timeout", cfg.SoftStopTimeout))
	stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.SoftStopTimeout+10*time.Second)
	defer cancel()
	if err := client.Stop(stopCtx); err != nil {
		return fmt.Errorf("stop workers: %w", err)
	}
	return nil
}

// traitSources are the per-token trait sources by collection traits_source:
// "opensea" is the rate-limited OpenSea indexer's single-NFT endpoint
// (newWorker adds "token_uri", the tokens' own metadata URLs).
func traitSources(idx map[string]indexer.Indexer) map[string]indexer.TraitSource {
	out := map[string]indexer.TraitSource{}
	if ts, ok := idx["opensea"].(indexer.TraitSource); ok {
		out[indexer.TraitSourceOpenSea] = ts
	}
	return out
}

// newWorker builds everything a worker process runs: the rate-limited
// indexers for openseaURL, the jobs' dependencies and the River client.
//
// obs records jobs and upstream responses (metrics, traces); the caller
// serves and shuts it down.
func newWorker(ctx context.Context, cfg *Config, pool *pgxpool.Pool, openseaURL string, limit LimitConfig, logger *slog.Logger, obs *observers) (*workerParts, error) {
	idx, lim, err := newIndexers(ctx, cfg, pool, openseaURL, limit, logger, obs.metrics)
	if err != nil {
		return nil, err
	}
	ts := traitSources(idx)
	tokenURI, err := newTokenURISource(cfg, pool, logger)
	if err != nil {
		return nil, err
	}
	ts[indexer.TraitSourceTokenURI] = tokenURI
	// Subgraphs serve volume to every collection by default; the
	// collections' own source (OpenSea) serves every kind.
	defaults := map[string][]indexer.DataKind{}
	for _, sg := range cfg.Subgraphs {
		defaults[sg.Source()] = []indexer.DataKind{indexer.DataVolume}
	}
	if err := jobs.RegisterSources(ctx, pool, idx, defaults, subgraph.SourcePrefix); err != nil {
		return nil, err
	}
	cc := cfg.CrossCheck
	if _, ok := idx[cc.Source]; !ok {
		cc.Source = "" // the checked source is not configured here
	}
	deps := &jobs.Deps{
		DB: pool, Logger: logger, Indexers: idx,
		TokenSyncBudget: cfg.TokenSyncBudget, PageTimeout: cfg.HTTPTimeout,
		TraitSources: ts, Traits: cfg.Traits, CrossCheck: cc,
	}
	// The planner's budget follows the limits this worker runs with (dev
	// sets them from the simulator's).
	wcfg := *cfg
	wcfg.Limit = limit
	client, err := newWorkerClient(&wcfg, pool, deps, logger, obs)
	if err != nil {
		return nil, err
	}
	market, _ := idx["opensea"].(indexer.MarketSource)
	return &workerParts{client: client, market: market, lim: lim}, nil
}

// workerParts are what a worker process runs: the River client, and for the
// stream consumer the rate-limited OpenSea source of listings and sales and
// the shared limiter (which takes refused keys out of the pool).
type workerParts struct {
	client *river.Client[pgx.Tx]
	market indexer.MarketSource
	lim    *ratelimit.Limiter
}

// trackCollection tracks a collection for dev and backfill (the admin
// service's Track, audited under the CLI's actor).
func trackCollection(ctx context.Context, pool *pgxpool.Pool, cfg *Config, source, slug, chain string, priority int16, traitsSource string) (db.Collection, error) {
	svc := &admin.Service{DB: pool, DefaultIntervals: cfg.Intervals}
	return svc.Track(ctx, cfg.API.Actor, admin.TrackParams{Slug: slug, Source: source, Chain: chain, Priority: int(priority), TraitsSource: traitsSource})
}
