package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/nftsync/nftsync/db"
	"github.com/nftsync/nftsync/internal/indexer"
	"github.com/nftsync/nftsync/internal/indexersim"
	"github.com/nftsync/nftsync/internal/metrics"
	"github.com/nftsync/nftsync/internal/pgcluster"
	"github.com/nftsync/nftsync/internal/streamer"
	"github.com/nftsync/nftsync/migrations"
)

// Dev is the embedded default: a private PostgreSQL (unless DATABASE_URL
// is set), migrations, the indexer simulator, every simulated collection
// tracked, and a worker, all in this process. It logs progress and prints how
// to look at the data, and stops on SIGINT/SIGTERM or after DevDuration.
func Dev(ctx context.Context, cfg *Config, logger *slog.Logger, stdout io.Writer) error {
	if cfg.DevDuration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, cfg.DevDuration)
		defer cancel()
	}
	dbURL := cfg.DatabaseURL
	if dbURL == "" {
		dir := filepath.Join(cfg.DevDir, "pg")
		logger.Info("DATABASE_URL not set: starting a private PostgreSQL", slog.String("dir", dir))
		cluster, err := pgcluster.Start(ctx, pgcluster.Options{Dir: dir, Logger: logger})
		if err != nil {
			return fmt.Errorf("local postgres: %w", err)
		}
		defer func() {
			if err := cluster.Stop(context.WithoutCancel(ctx)); err != nil {
				logger.Warn("stop local postgres", slog.Any("error", err))
			}
		}()
		if err := freshDevDatabase(ctx, cluster, cfg.DevDir, logger); err != nil {
			return fmt.Errorf("local postgres: %w", err)
		}
		dbURL = cluster.DSN("nftsync")
	}
	pool, err := openDB(ctx, cfg, dbURL, logger, poolSize(cfg)+10)
	if err != nil {
		return err
	}
	defer pool.Close()

	if !cfg.SimFaults.TierSet {
		cfg.SimFaults.Tier = devTier
	}
	sim, err := indexersim.Start(ctx, cfg.SimAddr, cfg.SimConfig(), logger.With(slog.String("component", "sim")))
	if err != nil {
		return fmt.Errorf("start simulator: %w", err)
	}
	defer sim.Close()
	logger.Info("indexer simulator listening", slog.String("url", sim.URL), slog.Int("collections", cfg.SimCollections),
		slog.String("tier_per_key", tierNote(cfg.SimFaults)))

	// Every third collection takes its traits from its tokens' own metadata
	// URLs (the simulator serves them over http, its IPFS gateway and data:
	// URLs); the others from the single-NFT endpoint.
	cfg.TokenURI.UseSimulator(sim.URL)
	slugs := sim.Server.Slugs()
	for i, slug := range slugs {
		traitsSource := indexer.TraitSourceOpenSea
		if i%3 == 2 {
			traitsSource = indexer.TraitSourceTokenURI
		}
		info, _ := sim.Server.Collection(slug) // on its chain: a Polygon collection's floors are in POL
		if _, err := trackCollection(ctx, pool, cfg, "opensea", slug, info.Chain, 2, traitsSource); err != nil {
			return err
		}
	}
	// Each key's budget comes from the simulator's X-RateLimit-* headers
	// (its tier). Its global bucket sends no headers of its own once a tier
	// is set: keep the keys' bursts within half of it.
	limit := cfg.Limit
	if !cfg.RateSet && cfg.SimRate > 0 && limit.Burst == 0 {
		limit.Burst = max(1, int(0.5*cfg.SimRate))
	}
	obs, err := newObservers(ctx, cfg, pool, logger)
	if err != nil {
		return err
	}
	defer obs.shutdown(logger)
	dcfg := *cfg
	dcfg.Subgraphs = cfg.devSubgraphs(sim.URL)
	w, err := newWorker(ctx, &dcfg, pool, sim.URL, limit, logger, obs)
	if err != nil {
		return err
	}
	started := make(chan struct{})
	stopHealth, err := serveWorkerHealth(ctx, cfg, pool, w.client, started, obs.metrics.Registry, logger)
	if err != nil {
		return err
	}
	defer stopHealth()
	printHowToLook(stdout, redactURL(dbURL))

	apiURL, apiDone, err := startDevAPI(ctx, cfg, pool, logger, obs.metrics, stdout)
	if err != nil {
		return err
	}
	logger.Info("api ready", slog.String("url", apiURL))

	// The stream consumer listens to the simulator's Stream endpoint unless
	// NFTSYNC_STREAM=off (or NFTSYNC_STREAM_URL names another).
	var svc *streamer.Service
	waitStream := func() error { return nil }
	if cfg.Stream.Enabled(true, true) {
		streamURL := cfg.Stream.URL
		if !cfg.Stream.URLSet {
			streamURL = simStreamURL(sim.URL)
		}
		if svc, waitStream, err = startStream(ctx, &dcfg, pool, w, streamURL, logger, obs.metrics); err != nil {
			return err
		}
	}
	prog := &progress{pool: pool, sim: sim.Server, stream: svc, start: time.Now()}
	go prog.report(ctx, logger, 10*time.Second)
	err = runRiver(ctx, w.client, cfg, logger, started)
	if aerr := <-apiDone; aerr != nil && err == nil {
		err = fmt.Errorf("api: %w", aerr)
	}
	err = errors.Join(err, waitStream())
	if _, _, perr := prog.log(context.WithoutCancel(ctx), logger); perr != nil {
		logger.Warn("final progress report", slog.Any("error", perr))
	}
	return err
}

// devTier is dev's simulator tier per key unless NFTSYNC_SIM_TIER is set:
// 200 requests/s on average, so the default world completes in minutes.
var devTier = indexersim.Tier{Limit: 12000, Window: time.Minute} //nolint:gochecknoglobals // a constant value that Go cannot declare const

// tierNote says which tier the simulator gives each key.
func tierNote(f SimFaults) string {
	switch {
	case f.Tier.IsZero():
		return "none (no X-RateLimit-* headers from tiers)"
	case !f.TierSet && f.Tier == devTier:
		return f.Tier.String() + " (dev's fast tier; NFTSYNC_SIM_TIER=60/m or 600/h for OpenSea's free tiers)"
	default:
		return f.Tier.String()
	}
}

// redactURL hides the password of a connection URL (the private cluster's
// has none; a DATABASE_URL may).
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(DATABASE_URL)"
	}
	return u.Redacted()
}

func printHowToLook(w io.Writer, dbURL string) {
	_, _ = fmt.Fprintf(w, `
nftsync dev is running. Look at the data with:

  psql '%s'

  -- collections, their latest floor price and 1-day volume
  SELECT c.slug, m.name, f.amount AS floor, f.currency, v.amount AS volume_1d, v.sales AS sales_1d
  FROM collections c
  LEFT JOIN collection_metadata m ON m.collection_id = c.id
  LEFT JOIN floor_price_current f ON f.collection_id = c.id
  LEFT JOIN volume_current v ON v.collection_id = c.id AND v.time_window = '1d'
  ORDER BY v.amount DESC NULLS LAST LIMIT 10;

  -- 1-day volume per source, and all marketplaces (subgraphs) together
  SELECT c.slug, v.source, v.amount, v.sales, v.fetched_at, v.source_as_of
  FROM volume_current v JOIN collections c ON c.id = v.collection_id
  WHERE v.time_window = '1d' ORDER BY c.slug, v.source LIMIT 20;

  -- cross-source checks (OpenSea vs the Seaport subgraph)
  SELECT metric, source_a, source_b, count(*), count(*) FILTER (WHERE NOT agree) AS disagreements
  FROM source_cross_checks GROUP BY 1, 2, 3;

  -- River jobs by kind and state
  SELECT kind, state, count(*) FROM river_job GROUP BY kind, state ORDER BY kind, state;

Stop with Ctrl-C.

`, dbURL)
}

// progress logs dev's progress line every few seconds: jobs, collections
// complete, and with the stream its events per second, lag and the market
// REST calls it takes per collection-hour.
type progress struct {
	pool   *pgxpool.Pool
	sim    *indexersim.Server
	stream *streamer.Service // nil when the stream is off
	start  time.Time

	lastEvents int64
	lastAt     time.Time
	// calls are (time, market REST calls so far) samples of the last
	// progressWindow, for the current rate of calls.
	calls []callSample
}

type callSample struct {
	at     time.Time
	calls  int64 // floor polls and the stream's own calls
	audits int64 // the stream's audits (spare budget only)
}

// progressWindow is the window of the REST calls rate on the progress line.
const progressWindow = 5 * time.Minute

func (p *progress) report(ctx context.Context, logger *slog.Logger, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	start := p.start
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			complete, total, err := p.log(ctx, logger)
			if err != nil && ctx.Err() == nil {
				logger.Warn("progress report", slog.Any("error", err))
			}
			if err == nil && total > 0 && complete == total && !start.IsZero() {
				st := p.sim.Stats()
				logger.Info("every collection complete: floor, volume, metadata, all tokens, every token's traits and rarity",
					slog.Int("collections", total), slog.Duration("after", time.Since(start).Round(time.Second)),
					slog.Int64("list_calls", st.ByEndpoint[indexersim.EndpointNFTs]),
					slog.Int64("trait_batch_calls", st.ByEndpoint[indexersim.EndpointNFTsBatch]),
					slog.Int64("trait_calls", st.ByEndpoint[indexersim.EndpointNFT]),
					slog.Int64("upstream_calls", st.Requests), slog.String("key_budgets", keyBudgets(ctx, db.New(p.pool))))
				start = time.Time{} // say it once
			}
		}
	}
}

// log logs completed jobs per kind and how many collections are complete
// (see CollectionComplete), and returns those counts.
func (p *progress) log(ctx context.Context, logger *slog.Logger) (complete, total int, err error) {
	complete, total, err = logProgress(ctx, p.pool, p.sim, logger)
	if err != nil || p.stream == nil {
		return complete, total, err
	}
	now := time.Now()
	st := p.stream.Stats()
	rate := 0.0
	if !p.lastAt.IsZero() && now.After(p.lastAt) {
		rate = float64(st.Events-p.lastEvents) / now.Sub(p.lastAt).Seconds()
	}
	p.lastEvents, p.lastAt = st.Events, now
	// Market REST calls: floor polls (stats) and the stream's bootstraps,
	// refills and gap backfills, per collection and hour since start; the
	// audits apart, since they spend only budget nobody else wanted (the
	// simulator's generous one here). The rate is over the last few
	// minutes (the first ones include the books' bootstrap).
	calls := p.sim.Stats().ByEndpoint[indexersim.EndpointStats] + st.RESTCalls - st.Audits
	p.calls = append(p.calls, callSample{at: now, calls: calls, audits: st.Audits})
	for len(p.calls) > 2 && now.Sub(p.calls[1].at) >= progressWindow {
		p.calls = p.calls[1:]
	}
	perCollHour, auditsPerCollHour := 0.0, 0.0
	if first := p.calls[0]; total > 0 && now.After(first.at) {
		hours := float64(total) * now.Sub(first.at).Hours()
		perCollHour = float64(calls-first.calls) / hours
		auditsPerCollHour = float64(st.Audits-first.audits) / hours
	}
	logger.Info("stream", slog.String("events_per_s", fmt.Sprintf("%.1f", rate)),
		slog.Duration("lag_p50", st.LagP50.Round(time.Millisecond)), slog.Duration("lag_p99", st.LagP99.Round(time.Millisecond)),
		slog.Int64("live", st.Live), slog.Int64("topics", st.Topics), slog.Int64("floor_changes", st.FloorWrites),
		slog.Int64("sales", st.Sales), slog.String("rest_calls_per_collection_hour", fmt.Sprintf("%.2f", perCollHour)),
		slog.String("audit_calls_per_collection_hour", fmt.Sprintf("%.2f", auditsPerCollHour)),
		slog.Duration("rest_window", now.Sub(p.calls[0].at).Round(time.Second)))
	return complete, total, nil
}

// logProgress logs completed jobs per kind and how many collections are
// complete (see CollectionComplete), and returns those counts.
func logProgress(ctx context.Context, pool *pgxpool.Pool, sim *indexersim.Server, logger *slog.Logger) (complete, total int, err error) {
	q := db.New(pool)
	counts, err := q.JobCountsByKindState(ctx)
	if err != nil {
		return 0, 0, fmt.Errorf("count jobs: %w", err)
	}
	byKind := map[string][]string{}
	for _, c := range counts {
		byKind[c.Kind] = append(byKind[c.Kind], fmt.Sprintf("%s=%d", c.State, c.Jobs))
	}
	kinds := make([]string, 0, len(byKind))
	for k := range byKind {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	parts := make([]string, 0, len(kinds))
	for _, k := range kinds {
		parts = append(parts, k+"{"+strings.Join(byKind[k], " ")+"}")
	}
	rows, err := q.CollectionProgress(ctx)
	if err != nil {
		return 0, 0, fmt.Errorf("collection progress: %w", err)
	}
	tokens, withTraits, ranked := int64(0), int64(0), int64(0)
	for _, r := range rows {
		tokens += r.Tokens
		withTraits += r.TokensWithTraits
		ranked += r.RarityTokens
		info, ok := sim.Collection(r.Slug)
		if ok && CollectionComplete(r, int64(info.TokenCount)) {
			complete++
		}
	}
	logger.Info("progress", slog.Int("collections_complete", complete), slog.Int("collections", len(rows)),
		slog.Int64("tokens", tokens), slog.Int64("tokens_with_traits", withTraits), slog.Int64("tokens_ranked", ranked),
		slog.String("jobs", strings.Join(parts, " ")), slog.String("key_budgets", keyBudgets(ctx, q)))
	if err := logSources(ctx, q, logger); err != nil {
		return 0, 0, err
	}
	return complete, len(rows), nil
}

// keyBudgets renders the budget each OpenSea key reported and the rate its
// bucket runs at, e.g. "opensea=12000/1m0s@193.3/s" ("unknown" before the
// first answer).
func keyBudgets(ctx context.Context, q *db.Queries) string {
	rows, err := q.RateLimitBucketList(ctx, "opensea")
	if err != nil {
		return "(" + err.Error() + ")"
	}
	parts := make([]string, 0, len(rows))
	for _, r := range rows {
		b := "unknown"
		if r.ReportedLimit.Valid && r.ReportedWindow.Valid {
			b = fmt.Sprintf("%d/%s", r.ReportedLimit.Int64, time.Duration(r.ReportedWindow.Float64*float64(time.Second)))
		}
		parts = append(parts, fmt.Sprintf("%s=%s@%.4g/s", r.Key, b, r.Rate))
	}
	return strings.Join(parts, " ")
}

// logSources logs the current volume rows per source and the cross-source
// checks so far.
func logSources(ctx context.Context, q *db.Queries, logger *slog.Logger) error {
	vols, err := q.VolumeRowsBySource(ctx)
	if err != nil {
		return fmt.Errorf("volume rows by source: %w", err)
	}
	parts := make([]string, 0, len(vols))
	for _, v := range vols {
		parts = append(parts, fmt.Sprintf("%s{rows=%d collections=%d}", v.Source, v.Rows, v.Collections))
	}
	checks, err := q.CrossCheckSummary(ctx)
	if err != nil {
		return fmt.Errorf("cross-check summary: %w", err)
	}
	cparts := make([]string, 0, len(checks))
	for _, c := range checks {
		cparts = append(cparts, fmt.Sprintf("%s %s~%s{checks=%d disagreements=%d}", c.Metric, c.SourceA, c.SourceB, c.Checks, c.Disagreements))
	}
	logger.Info("sources", slog.String("volume", strings.Join(parts, " ")), slog.String("cross_checks", strings.Join(cparts, " ")))
	return nil
}

// CollectionComplete: floor, volume, metadata, all n tokens listed, every
// token's traits fetched (known, or known to be unknown to the source) and
// a rarity run ranking every token whose traits are known.
func CollectionComplete(r db.CollectionProgressRow, n int64) bool {
	return r.HasFloor && r.HasVolume && r.HasMetadata && r.TokensComplete && r.Tokens == n &&
		r.TokensWithTraits+r.TokensUnknownTraits == n && r.TraitsDue == 0 && r.TraitsComplete &&
		r.TokensWithTraits > 0 && r.RarityTokens == r.TokensWithTraits
}

// startDevAPI serves the API for dev (a free port when NFTSYNC_API_ADDR is
// unset and 8080 is taken; a fresh admin token when none is configured) and
// prints its URL, the token and an example query. apiDone yields the
// server's result once ctx is done.
func startDevAPI(ctx context.Context, cfg *Config, pool *pgxpool.Pool, logger *slog.Logger, m *metrics.Metrics, stdout io.Writer) (string, <-chan error, error) {
	opts := cfg.API.Options
	if !cfg.API.AddrSet {
		opts.FallbackAddr = "127.0.0.1:0"
	}
	token := ""
	if len(opts.AdminTokens) == 0 {
		token = randomToken()
		opts.AdminTokens = []string{token}
	}
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- serveAPI(ctx, cfg, opts, pool, logger, m, func(url string) { ready <- url }) }()
	select {
	case url := <-ready:
		printAPI(stdout, url, token)
		return url, done, nil
	case err := <-done:
		return "", nil, fmt.Errorf("start api: %w", err)
	}
}

func printAPI(w io.Writer, url, token string) {
	tokenLine := "the admin token is one of NFTSYNC_API_ADMIN_TOKENS"
	if token != "" {
		tokenLine = "admin token for this run (set NFTSYNC_API_ADMIN_TOKENS to choose one): " + token
	}
	_, _ = fmt.Fprintf(w, `The client API is up:

  Console    %[1]s/console/  (collections, history, tokens, live updates; the admin token enables the operator's actions)
  GraphiQL   %[1]s/
  GraphQL    %[1]s/graphql  (subscriptions over a websocket at the same URL)
  River UI   %[1]s/riverui/  (user: any, password: the admin token)
  %[2]s

  Example query (paste into GraphiQL, or):
  curl -s %[1]s/graphql -H 'Content-Type: application/json' \
    -d '{"query":"{ collections(first: 3) { edges { node { slug floor { amount currency } volumes { window amount } metadata { name } } } } }"}'

  Refresh a collection now (admin):
  curl -s %[1]s/graphql -H 'Content-Type: application/json' -H 'Authorization: Bearer <admin token>' \
    -d '{"query":"mutation { refreshCollection(slug: \"SLUG\") { jobs { kind jobId } } }"}'

`, url, tokenLine)
}

// simStreamURL is the simulator's Stream endpoint for its base URL
// (http://host:port → ws://host:port/socket/websocket).
func simStreamURL(base string) string {
	u, err := url.Parse(base)
	if err != nil {
		return base
	}
	u.Scheme = "ws"
	if strings.HasPrefix(base, "https") {
		u.Scheme = "wss"
	}
	u.Path = "/socket/websocket"
	return u.String()
}

// devSchemaFile records, beside the private cluster, the schema fingerprint
// (migrations.SchemaFingerprint) its nftsync database was made from.
const devSchemaFile = "schema.sha256"

// freshDevDatabase makes the private cluster's nftsync database, first
// dropping one made from another schema: before the first release the
// schema file is edited in place, so a database kept from an older
// checkout lacks what the code now needs. The private database holds only
// what dev derived from the simulator, which the run makes again.
func freshDevDatabase(ctx context.Context, cluster *pgcluster.Cluster, dir string, logger *slog.Logger) error {
	want, err := migrations.SchemaFingerprint()
	if err != nil {
		return err
	}
	path := filepath.Join(dir, devSchemaFile)
	have, err := os.ReadFile(path) //nolint:gosec // NFTSYNC_DEV_DIR, the operator's own folder
	if err != nil || strings.TrimSpace(string(have)) != want {
		logger.Info("the schema changed since the private database was made (or it is new): making it afresh", slog.String("dir", dir))
		if err := cluster.DropDatabase(ctx, "nftsync"); err != nil {
			return err
		}
	}
	if err := cluster.CreateDatabase(ctx, "nftsync"); err != nil {
		return err
	}
	if err := os.WriteFile(path, []byte(want+"\n"), 0o600); err != nil {
		return fmt.Errorf("record the private database's schema: %w", err)
	}
	return nil
}
