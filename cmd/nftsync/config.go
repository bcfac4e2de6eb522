package main

import (
	"github.com/nftsync/nftsync/internal/cli"

	"cmp"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nftsync/nftsync/internal/indexer/tokenuri"
	"github.com/nftsync/nftsync/internal/indexersim"
	"github.com/nftsync/nftsync/internal/ratelimit"
	"github.com/nftsync/nftsync/jobs"
)

// envVar documents one environment variable; the docs' configuration table is
// generated from envVars, catalogEnvVars and subgraphEnvVars (make generate).
type envVar struct {
	Name, Default, Meaning string
}

// catalogEnvVars are the variables whose defaults come from the catalogue
// (jobs.ConfigVars): each queue's MaxWorkers and each refresh kind's default
// interval.
func catalogEnvVars() []envVar {
	var out []envVar
	for _, v := range jobs.ConfigVars() {
		out = append(out, envVar{v.Name, v.Default, v.Meaning})
	}
	return out
}

var envVars = []envVar{ //nolint:gochecknoglobals // read-only documentation table
	{"DATABASE_URL", "(unset)", "PostgreSQL URL. `dev` starts a private local cluster when unset; other commands require it."},
	{"NFTSYNC_LOG_LEVEL", "info", "debug, info, warn or error."},
	{"NFTSYNC_LOG_FORMAT", "text", "text or json."},
	{"NFTSYNC_OPENSEA_URL", "https://api.opensea.io", "Base URL of the OpenSea API v2 (dev points it at the built-in simulator)."},
	{"NFTSYNC_OPENSEA_API_KEY", "(unset)", "OpenSea API key, sent as X-API-KEY. Never logged."},
	{"NFTSYNC_OPENSEA_API_KEYS", "(unset)", "More OpenSea keys, comma-separated; pooled with NFTSYNC_OPENSEA_API_KEY, each with its own budget."},
	{"NFTSYNC_OPENSEA_RATE", "auto", "Request rate per OpenSea key across ALL replicas. auto: each key's budget from its answers' X-RateLimit-Limit/-Reset headers (one request per second until the first answer), paced evenly over the key's window; a rate such as 4/s or 240/m is an upper cap on that budget (and the start)."},
	{"NFTSYNC_OPENSEA_BURST", "(auto: from the budget; else the rate, at least 1)", "Requests a key may send back to back after a quiet period (an upper cap on the burst derived from the key's budget)."},
	{"NFTSYNC_OPENSEA_CONCURRENCY", "8", "Requests in flight per key across all replicas (0 = no cap)."},
	{"NFTSYNC_OPENSEA_BULK_RESERVE", "0.3", "Share of each key's burst and slots that token backfills leave to live refreshes."},
	{"NFTSYNC_LIMIT_MAX_WAIT", "2s", "How long a job waits for rate budget before it snoozes (no attempt spent)."},
	{"NFTSYNC_STREAM", "auto", "Live market data from OpenSea's Stream API (websocket): on, off, or auto (on in dev, and in a worker with an OpenSea API key; the stream refuses keyless clients). Streamed floors are stored as source opensea:stream within a second; the planner then polls a collection's floor only at NFTSYNC_STREAM_RECONCILE_INTERVAL."},
	{"NFTSYNC_STREAM_URL", "wss://stream-api.opensea.io/socket/websocket", "Stream API endpoint (Phoenix channels v2; token and vsn are added). dev points it at the simulator."},
	{"NFTSYNC_STREAM_BOOK_SIZE", "20", "Cheapest listings kept per collection (the book); bootstrapped and refilled with one best-listings call of that size."},
	{"NFTSYNC_STREAM_SHARDS", "64", "Shards the streamed collections are spread over (collection id modulo shards); each is held by one live replica under a lease. Every replica must use the same number."},
	{"NFTSYNC_STREAM_CONNECTIONS_PER_KEY", "2", "Stream connections a replica opens per OpenSea API key at most; its collections are spread over keys × this many connections."},
	{"NFTSYNC_STREAM_RECONCILE_INTERVAL", "15m", "How often a collection with a live stream has its floor checked against /stats (bulk class); a difference is a data-quality event, the REST value wins and the book is bootstrapped again."},
	{"NFTSYNC_STREAM_LEASE_TTL", "20s", "A shard lease not renewed for this long is free: a dead replica's collections are taken over after about this long plus one renewal."},
	{"NFTSYNC_STREAM_LEASE_RENEW", "5s", "How often a replica renews its shard leases and rebalances; well under NFTSYNC_STREAM_LEASE_TTL."},
	{"NFTSYNC_STREAM_FLUSH_INTERVAL", "150ms", "How often the stream consumer writes the floor changes, sales and stream states it collected, in one transaction."},
	{"NFTSYNC_STREAM_AUDIT_RATE", "10", "Most audits per second and replica: re-reads of live books (one best-listings call each), most suspect first, that repair what a lost stream event left wrong. They take only budget no other request is waiting for (the limiter's spare class); 0 turns them off."},
	{"NFTSYNC_STREAM_AUDIT_MIN_INTERVAL", "2s", "Least time between two audits of one book."},
	{"NFTSYNC_STREAM_TRAITS_SETTLE", "30s", "After a metadata update event, how long the token's trait fetch waits for more updates of the collection (one fetch, and one rarity run, per burst)."},
	{"NFTSYNC_PLAN_INTERVAL", "5s", "How often the leader plans due refreshes."},
	{"NFTSYNC_PLAN_BATCH", "1000", "Most (collection, kind) pairs planned per tick."},
	{"NFTSYNC_PLAN_RATE", "auto", "Upstream requests per second the planner fills per source (auto: the limiter's rate, OpenSea's times its keys, each subgraph's own; a rate such as 10/s for every source; off: plan by NFTSYNC_PLAN_BATCH only). When due work exceeds it, the stalest and hottest pairs go first."},
	{"NFTSYNC_WORKER_ID", "(random)", "River client ID of this process; unique per replica."},
	{"NFTSYNC_JOB_TIMEOUT", "2m", "Default job timeout (River JobTimeout)."},
	{"NFTSYNC_RETRY_BASE", "1s", "First retry delay of a failed job; doubles per error, ±25% jitter."},
	{"NFTSYNC_RETRY_MAX", "5m", "Longest retry delay."},
	{"NFTSYNC_RESCUE_AFTER", "5m", "Jobs running longer are presumed lost with their process and retried (River RescueStuckJobsAfter); must exceed every job timeout."},
	{"NFTSYNC_SOFT_STOP_TIMEOUT", "20s", "On SIGTERM, how long running jobs may finish before they are cancelled."},
	{"NFTSYNC_TOKEN_SYNC_BUDGET", "2m", "How long one sync_tokens run pages before it yields and resumes from its cursor."},
	{"NFTSYNC_HISTORY_RAW_RETENTION", "168h", "Raw floor/volume history (one row per run of an unchanged value) is kept this long, in whole UTC days (at least 24h)."},
	{"NFTSYNC_HISTORY_HOURLY_RETENTION", "2160h", "Hourly open/low/high/close rollups are kept this long (90 days; at least 24h)."},
	{"NFTSYNC_HISTORY_DAILY_RETENTION", "0", "Daily open/low/high/close rollups are kept this long; 0 keeps them forever."},
	{"NFTSYNC_HISTORY_SALES_RETENTION", "840h", "Sales in the sales ledger are kept this long by their sale time (35 days; at least 48h, since the ledger serves the last day's volume live); a token whose last sale is older has no last sale any more."},
	{"NFTSYNC_HISTORY_MAINTAIN_INTERVAL", "5m", "How often maintain_history creates partitions, rolls history up and applies retention."},
	{"NFTSYNC_HISTORY_BATCH", "1000", "Most collections one rollup statement covers (maintain_history works in such batches)."},
	{"NFTSYNC_DEV_DIR", ".nftsync", "dev: folder for the private PostgreSQL cluster (git-ignored)."},
	{"NFTSYNC_DEV_DURATION", "0", "dev: stop after this long (0 runs until interrupted)."},
	{"NFTSYNC_SIM_COLLECTIONS", "50", "Simulator: number of synthetic collections."},
	{"NFTSYNC_SIM_SEED", "1", "Simulator: seed of the synthetic data."},
	{"NFTSYNC_SIM_RATE", "200", "Simulator: allowed requests per second before it answers 429 (0 = unlimited)."},
	{"NFTSYNC_SIM_ADDR", "127.0.0.1:0", "Simulator: listen address (sim command and dev)."},
	{"NFTSYNC_SIM_BURST", "(rate)", "Simulator: requests it accepts back to back before its rate applies."},
	{"NFTSYNC_SIM_MIN_TOKENS", "100", "Simulator: fewest tokens in a collection."},
	{"NFTSYNC_SIM_MAX_TOKENS", "1000", "Simulator: most tokens in a collection (sizes are log-uniform in between)."},
	{"NFTSYNC_SIM_POLYGON_FRACTION", "0", "Simulator: share of collections on Polygon, quoted in POL (/stats, listings, sales, stream events), e.g. 0.02; 0 = none. `dev` tracks each collection on its chain; other harnesses must add Polygon slugs with `collections add -chain polygon`."},
	{"NFTSYNC_TRAITS_BATCH", "50", "Tokens per trait-fetch step, stored in one transaction (a crash refetches at most one step); rounded up to whole batch calls."},
	{"NFTSYNC_TRAITS_BATCH_SIZE", "50", "Tokens asked per upstream batch call (OpenSea POST /api/v2/nfts/batch): the starting size, halved when the source refuses a batch as too large; 1 = one single-NFT call per token."},
	{"NFTSYNC_TRAITS_CONCURRENCY", "4", "Per-token trait calls one fetch_traits job has in flight (each takes its own rate-limit lease)."},
	{"NFTSYNC_RARITY_MIN_COVERAGE", "1", "Share of a collection's tokens whose traits must be known before rarity is computed (the run records its coverage)."},
	{"NFTSYNC_MAX_TRAITS_PER_TOKEN", "1000", "Traits stored per token; the excess is dropped and recorded as a data-quality event (at most 32767)."},
	{"NFTSYNC_TRAITS_CHECK_TOLERANCE", "0.01", "Relative difference between our and the source's count of a trait value that the cross-check after a full fetch accepts."},
	{"NFTSYNC_SIM_NFTS_BATCH_MAX", "100", "Simulator: most identifiers one POST /api/v2/nfts/batch accepts; more get 400 (the spec states no maximum)."},
	{"NFTSYNC_SIM_LIST_TRAITS", "false", "Simulator: send traits in the NFT list answers (the live API does not: opensea-sdk issue #1889)."},
	{"NFTSYNC_SIM_PER_KEY_RATE", "0", "Simulator: allowed requests per second per API key (0 = no per-key limit)."},
	{"NFTSYNC_SIM_TIER", "off (dev: 12000/m)", "Simulator: each API key's budget in fixed windows, sent in X-RateLimit-Limit/-Remaining/-Reset like OpenSea's: 60/m and 600/h are OpenSea's documented free tiers, N/<duration> any other, off none. dev uses a fast 12000/m unless set."},
	{"NFTSYNC_SIM_API_KEYS", "(unset)", "Simulator: comma-separated accepted API keys; others get 401 (unset = no auth)."},
	{"NFTSYNC_SIM_LATENCY", "0", "Simulator fault: latency added to every request."},
	{"NFTSYNC_SIM_ERROR_RATE", "0", "Simulator fault: fraction of requests answered 500/502/503."},
	{"NFTSYNC_SIM_STORM_EVERY", "0", "Simulator fault: period of 429 storms (0 = none)."},
	{"NFTSYNC_SIM_STORM_DURATION", "0", "Simulator fault: length of each 429 storm (with Retry-After to its end)."},
	{"NFTSYNC_SIM_TIMEOUT_RATE", "0", "Simulator fault: fraction of requests that never answer."},
	{"NFTSYNC_SIM_MALFORMED_RATE", "0", "Simulator fault: fraction of 200 answers with truncated, invalid, wrongly typed or negative data."},
	{"NFTSYNC_SIM_OVERSIZE_RATE", "0", "Simulator fault: fraction of answers with a body over 16 MiB."},
	{"NFTSYNC_SIM_METADATA_GATEWAY_PATH", "/ipfs/", "Simulator: path of its IPFS gateway, which serves the ipfs:// metadata URLs of some collections (/ipfs/CID/ID)."},
	{"NFTSYNC_SIM_METADATA_RATE", "0", "Simulator: metadata requests per second (its http host and gateway together) before it answers 429 (0 = unlimited)."},
	{"NFTSYNC_SIM_METADATA_BURST", "(rate)", "Simulator: metadata requests it accepts back to back."},
	{"NFTSYNC_SIM_METADATA_NOT_FOUND_RATE", "0", "Simulator fault: fraction of tokens whose metadata document answers 404 (always the same tokens)."},
	{"NFTSYNC_SIM_METADATA_SLOW_RATE", "0", "Simulator fault: fraction of tokens whose metadata document answers after NFTSYNC_SIM_METADATA_SLOW_DELAY."},
	{"NFTSYNC_SIM_METADATA_SLOW_DELAY", "30s", "Simulator fault: how long a slow metadata document takes."},
	{"NFTSYNC_SIM_METADATA_OVERSIZE_RATE", "0", "Simulator fault: fraction of tokens whose metadata document is over 16 MiB."},
	{"NFTSYNC_SIM_METADATA_NOT_JSON_RATE", "0", "Simulator fault: fraction of tokens whose metadata document is an HTML page or truncated JSON."},
	{"NFTSYNC_SIM_MARKET_LISTINGS_PER_MINUTE", "2.5", "Simulator: listings posted per collection per minute (each collection within ±30% of it); as many are cancelled, sold or expire. About six stream events per collection per minute at the default."},
	{"NFTSYNC_SIM_STREAM_DROP_RATE", "0", "Simulator fault: fraction of stream events never sent."},
	{"NFTSYNC_SIM_STREAM_DUPLICATE_RATE", "0", "Simulator fault: fraction of stream events sent twice."},
	{"NFTSYNC_SIM_STREAM_REORDER_RATE", "0", "Simulator fault: fraction of stream events sent after the event that followed them."},
	{"NFTSYNC_SIM_STREAM_STALE_RATE", "0", "Simulator fault: fraction of stream events followed by a replay of an older event of some order (a dead-letter replay)."},
	{"NFTSYNC_SIM_STREAM_DISCONNECT_EVERY", "0", "Simulator fault: close every stream connection abruptly once it has been open this long (0 = never)."},
	{"NFTSYNC_SIM_STREAM_REFUSED_KEYS", "(unset)", "Simulator fault: comma-separated API keys the Stream endpoint refuses at the upgrade (403), as for a key revoked for the stream."},
	{"NFTSYNC_HTTP_TIMEOUT", "30s", "Timeout of one upstream HTTP request."},
	{"NFTSYNC_TOKENURI_IPFS_GATEWAYS", "https://ipfs.io/ipfs/,https://dweb.link/ipfs/", "token_uri: IPFS gateway URL prefixes, comma-separated, tried in order (the next on failure); ipfs://CID/path is appended. dev points it at the simulator."},
	{"NFTSYNC_TOKENURI_AR_GATEWAYS", "https://arweave.net/,https://ar-io.net/", "token_uri: Arweave gateway URL prefixes for ar:// URLs, comma-separated, tried in order."},
	{"NFTSYNC_TOKENURI_ALLOW_HTTP", "false", "token_uri: allow plain http:// metadata URLs (and redirects to http). dev allows it."},
	{"NFTSYNC_TOKENURI_ALLOW_NETS", "(unset)", "token_uri: networks (CIDR, comma-separated) the address guard lets through although not public, e.g. 127.0.0.0/8; unset refuses loopback, private, link-local and other special addresses. dev allows loopback only."},
	{"NFTSYNC_TOKENURI_RATE", "5/s", "token_uri: request rate per metadata host or gateway across ALL replicas."},
	{"NFTSYNC_TOKENURI_BURST", "(rate, at least 1)", "token_uri: requests a host may get back to back."},
	{"NFTSYNC_TOKENURI_CONCURRENCY", "8", "token_uri: requests in flight per host across all replicas (0 = no cap)."},
	{"NFTSYNC_TOKENURI_HOST_RATES", "(unset)", "token_uri: per-host budgets overriding the above, comma-separated HOST=RATE[:BURST], e.g. ipfs.io=2/s:4,arweave.net=10/s."},
	{"NFTSYNC_TOKENURI_MAX_BODY", "2097152", "token_uri: largest metadata document in bytes (after decompression or data: decoding)."},
	{"NFTSYNC_TOKENURI_TIMEOUT", "10s", "token_uri: timeout of one attempt at one URL (connect, redirects, headers and body)."},
	{"NFTSYNC_TOKENURI_MAX_REDIRECTS", "5", "token_uri: redirects one attempt follows (0 = none)."},
	{"OTEL_EXPORTER_OTLP_ENDPOINT", "(unset)", "Worker: OTLP/HTTP collector URL (e.g. http://otel-collector:4318); when set, every job is traced (otelriver spans, linked to the inserting span)."},
	{"NFTSYNC_METRICS_ADDR", "(unset)", "Worker and API: listen address of /metrics (Prometheus), /healthz and /readyz, e.g. :9090 (unset = not served). `nftsync api` serves its request series and process metrics there; `dev` serves the worker's and the API's on one address."},
	{"NFTSYNC_API_ADDR", "127.0.0.1:8080", "API: listen address of `nftsync api` and of the API `dev` starts (dev picks a free port when unset and 8080 is taken)."},
	{"NFTSYNC_API_ADMIN_TOKENS", "(unset)", "API: comma-separated admin bearer tokens (16+ characters) for mutations, admin queries and River UI. dev makes one up and prints it when unset. Never logged."},
	{"NFTSYNC_API_READ_TOKENS", "(unset)", "API: comma-separated read tokens; when set, every read needs one (or an admin token). Unset = reads are public."},
	{"NFTSYNC_API_CORS_ORIGINS", "(unset)", "API: comma-separated browser origins allowed to call /graphql (`*` = any)."},
	{"NFTSYNC_API_REFRESH_COOLDOWN", "1m", "API and CLI: least time between two manual refreshes of one collection (0 disables)."},
	{"NFTSYNC_API_MAX_DEPTH", "15", "API: deepest field nesting of a query (introspection included)."},
	{"NFTSYNC_API_MAX_COMPLEXITY", "5000", "API: most complexity points of a query (a page counts its size times its items)."},
	{"NFTSYNC_API_MAX_PAGE_SIZE", "100", "API: largest `first` of any connection."},
	{"NFTSYNC_API_MAX_BODY_BYTES", "1048576", "API: largest request body."},
	{"NFTSYNC_API_CACHE_ENTRIES", "4096", "API: answers the response cache keeps (0 turns it off). A cached answer is served only while the data it read is unchanged."},
	{"NFTSYNC_API_WS_MAX_SUBSCRIPTIONS", "20", "API: subscriptions one websocket connection may hold."},
	{"NFTSYNC_API_WS_MAX_CONNECTIONS", "50", "API: websocket connections one token (or, without a token, one client address) may hold."},
	{"NFTSYNC_API_WS_KEEPALIVE", "15s", "API: how often the server pings a subscription client; one that does not answer within twice that is dropped."},
	{"NFTSYNC_API_REQUEST_TIMEOUT", "10s", "API: time one request may take."},
	{"NFTSYNC_API_READ_TIMEOUT", "15s", "API: server read timeout (headers and body)."},
	{"NFTSYNC_API_WRITE_TIMEOUT", "30s", "API: server write timeout; must exceed the request timeout."},
	{"NFTSYNC_API_IDLE_TIMEOUT", "60s", "API: keep-alive idle timeout."},
	{"NFTSYNC_API_SHUTDOWN_TIMEOUT", "15s", "API: on SIGTERM, how long in-flight requests may finish."},
	{"NFTSYNC_API_POOL_SIZE", "20", "API: PostgreSQL connections of `nftsync api`."},
}

// loadConfig reads and validates the environment. Every problem is reported
// at once, naming the variable.
func loadConfig(getenv func(string) string) (*cli.Config, error) {
	p := &envParser{getenv: getenv}
	c := &cli.Config{
		DatabaseURL:     getenv("DATABASE_URL"),
		LogFormat:       cmp.Or(getenv("NFTSYNC_LOG_FORMAT"), "text"),
		OpenSeaURL:      cmp.Or(getenv("NFTSYNC_OPENSEA_URL"), "https://api.opensea.io"),
		OpenSeaAPIKey:   getenv("NFTSYNC_OPENSEA_API_KEY"),
		WorkerID:        getenv("NFTSYNC_WORKER_ID"),
		MetricsAddr:     getenv("NFTSYNC_METRICS_ADDR"),
		OTLPEndpoint:    getenv("OTEL_EXPORTER_OTLP_ENDPOINT"),
		PlanInterval:    p.duration("NFTSYNC_PLAN_INTERVAL", 5*time.Second, time.Second),
		PlanBatch:       int32(p.int("NFTSYNC_PLAN_BATCH", 1000, 1, 100000)),
		JobTimeout:      p.duration("NFTSYNC_JOB_TIMEOUT", 2*time.Minute, time.Second),
		RetryBase:       p.duration("NFTSYNC_RETRY_BASE", time.Second, 10*time.Millisecond),
		RetryMax:        p.duration("NFTSYNC_RETRY_MAX", 5*time.Minute, 10*time.Millisecond),
		RescueAfter:     p.duration("NFTSYNC_RESCUE_AFTER", 5*time.Minute, time.Second),
		SoftStopTimeout: p.duration("NFTSYNC_SOFT_STOP_TIMEOUT", 20*time.Second, 0),
		History: jobs.HistoryPolicy{
			Raw:    p.duration("NFTSYNC_HISTORY_RAW_RETENTION", 7*24*time.Hour, 24*time.Hour),
			Hourly: p.duration("NFTSYNC_HISTORY_HOURLY_RETENTION", 90*24*time.Hour, 24*time.Hour),
			Daily:  p.duration("NFTSYNC_HISTORY_DAILY_RETENTION", 0, 0),
			Batch:  int32(p.int("NFTSYNC_HISTORY_BATCH", 1000, 1, 100000)),
			Sales:  p.duration("NFTSYNC_HISTORY_SALES_RETENTION", jobs.DefaultSalesRetention, 0),
		},
		MaintainInterval: p.duration("NFTSYNC_HISTORY_MAINTAIN_INTERVAL", 5*time.Minute, time.Second),
		TokenSyncBudget:  p.duration("NFTSYNC_TOKEN_SYNC_BUDGET", 2*time.Minute, time.Second),
		DevDir:           cmp.Or(getenv("NFTSYNC_DEV_DIR"), ".nftsync"),
		DevDuration:      p.duration("NFTSYNC_DEV_DURATION", 0, 0),
		SimCollections:   p.int("NFTSYNC_SIM_COLLECTIONS", 50, 1, 10000),
		SimSeed:          int64(p.int("NFTSYNC_SIM_SEED", 1, -1<<62, 1<<62)),
		SimRate:          p.float("NFTSYNC_SIM_RATE", 200, 0),
		SimAddr:          cmp.Or(getenv("NFTSYNC_SIM_ADDR"), "127.0.0.1:0"),
		SimBurst:         p.int("NFTSYNC_SIM_BURST", 0, 1, 1000000),
		SimMinTokens:     p.int("NFTSYNC_SIM_MIN_TOKENS", 100, 1, 10000000),
		SimMaxTokens:     p.int("NFTSYNC_SIM_MAX_TOKENS", 1000, 1, 10000000),
		SimListTraits:    p.bool("NFTSYNC_SIM_LIST_TRAITS", false),
		SimBatchMax:      p.int("NFTSYNC_SIM_NFTS_BATCH_MAX", 100, 1, 10000),
		SimPolygon:       p.float("NFTSYNC_SIM_POLYGON_FRACTION", indexersim.DefaultPolygonFraction, 0),
		Traits: jobs.TraitsConfig{
			Batch:          p.int("NFTSYNC_TRAITS_BATCH", 50, 1, 10000),
			BatchSize:      p.int("NFTSYNC_TRAITS_BATCH_SIZE", 50, 1, 10000),
			Concurrency:    p.int("NFTSYNC_TRAITS_CONCURRENCY", 4, 1, 1000),
			MinCoverage:    p.float("NFTSYNC_RARITY_MIN_COVERAGE", 1, 0.000001),
			MaxPerToken:    p.int("NFTSYNC_MAX_TRAITS_PER_TOKEN", 1000, 1, 32767),
			CheckTolerance: p.float("NFTSYNC_TRAITS_CHECK_TOLERANCE", 0.01, 0.000001),
		},
		SimFaults: cli.SimFaults{
			Latency:       p.duration("NFTSYNC_SIM_LATENCY", 0, 0),
			ErrorRate:     p.fraction("NFTSYNC_SIM_ERROR_RATE"),
			StormEvery:    p.duration("NFTSYNC_SIM_STORM_EVERY", 0, 0),
			StormDuration: p.duration("NFTSYNC_SIM_STORM_DURATION", 0, 0),
			TimeoutRate:   p.fraction("NFTSYNC_SIM_TIMEOUT_RATE"),
			MalformedRate: p.fraction("NFTSYNC_SIM_MALFORMED_RATE"),
			OversizeRate:  p.fraction("NFTSYNC_SIM_OVERSIZE_RATE"),
			PerKeyRate:    p.float("NFTSYNC_SIM_PER_KEY_RATE", 0, 0),
			Tier:          p.simTier(),
			APIKeys:       cli.SplitList(getenv("NFTSYNC_SIM_API_KEYS")),
			Metadata: indexersim.MetadataConfig{
				GatewayPath:  getenv("NFTSYNC_SIM_METADATA_GATEWAY_PATH"),
				Rate:         p.float("NFTSYNC_SIM_METADATA_RATE", 0, 0),
				Burst:        p.int("NFTSYNC_SIM_METADATA_BURST", 0, 1, 1000000),
				NotFoundRate: p.fraction("NFTSYNC_SIM_METADATA_NOT_FOUND_RATE"),
				SlowRate:     p.fraction("NFTSYNC_SIM_METADATA_SLOW_RATE"),
				SlowDelay:    p.duration("NFTSYNC_SIM_METADATA_SLOW_DELAY", indexersim.DefaultSlowDelay, 0),
				OversizeRate: p.fraction("NFTSYNC_SIM_METADATA_OVERSIZE_RATE"),
				NotJSONRate:  p.fraction("NFTSYNC_SIM_METADATA_NOT_JSON_RATE"),
			},
		},
		Limit: cli.LimitConfig{
			Burst:       p.int("NFTSYNC_OPENSEA_BURST", 0, 1, 100000),
			Concurrency: p.int("NFTSYNC_OPENSEA_CONCURRENCY", 8, 0, 100000),
			BulkReserve: p.float("NFTSYNC_OPENSEA_BULK_RESERVE", ratelimit.DefaultBulkReserve, 0),
			MaxWait:     p.duration("NFTSYNC_LIMIT_MAX_WAIT", 2*time.Second, 0),
		},
		HTTPTimeout: p.duration("NFTSYNC_HTTP_TIMEOUT", 30*time.Second, 100*time.Millisecond),
		MaxWorkers:  map[string]int{},
	}
	c.API = p.apiConfig()
	c.Stream = p.stream()
	if rs := getenv("NFTSYNC_OPENSEA_RATE"); rs != "" && rs != "auto" {
		r, err := ratelimit.ParseRate(rs)
		if err != nil {
			p.errs = append(p.errs, fmt.Errorf("NFTSYNC_OPENSEA_RATE: %w", err))
		} else {
			c.Limit.Rate, c.RateSet = r, true
		}
	}
	c.SimFaults.TierSet = getenv("NFTSYNC_SIM_TIER") != ""
	c.SimFaults.Market.ListingsPerMinute = p.float("NFTSYNC_SIM_MARKET_LISTINGS_PER_MINUTE", 0, 0)
	c.SimFaults.Stream = indexersim.StreamConfig{
		DropRate:        p.fraction("NFTSYNC_SIM_STREAM_DROP_RATE"),
		DuplicateRate:   p.fraction("NFTSYNC_SIM_STREAM_DUPLICATE_RATE"),
		ReorderRate:     p.fraction("NFTSYNC_SIM_STREAM_REORDER_RATE"),
		StaleReplayRate: p.fraction("NFTSYNC_SIM_STREAM_STALE_RATE"),
		DisconnectEvery: p.duration("NFTSYNC_SIM_STREAM_DISCONNECT_EVERY", 0, 0),
		RefusedKeys:     cli.SplitList(getenv("NFTSYNC_SIM_STREAM_REFUSED_KEYS")),
	}
	c.PlanRate = cmp.Or(getenv("NFTSYNC_PLAN_RATE"), "auto")
	if c.PlanRate != "auto" && c.PlanRate != "off" {
		r, err := ratelimit.ParseRate(c.PlanRate)
		if err != nil {
			p.errs = append(p.errs, fmt.Errorf("NFTSYNC_PLAN_RATE: want auto, off or a rate: %w", err))
		}
		c.PlanRateValue = r
	}
	if d := c.History.Daily; d != 0 && d < 24*time.Hour {
		p.fail("NFTSYNC_HISTORY_DAILY_RETENTION", getenv("NFTSYNC_HISTORY_DAILY_RETENTION"), "want 0 (forever) or at least 24h")
	}
	// The policy's own rule (sales kept at least jobs.MinSalesRetention)
	// decides; 0 would silently mean the default there, so it is refused
	// here. Only the sales retention of the policy's checked fields comes
	// from the environment, so a refusal names that variable.
	if s := getenv("NFTSYNC_HISTORY_SALES_RETENTION"); s == "0" {
		p.fail("NFTSYNC_HISTORY_SALES_RETENTION", s, fmt.Sprintf("want a duration of at least %s (sales are never kept forever)", jobs.MinSalesRetention))
	} else if err := c.History.Validate(); err != nil {
		p.errs = append(p.errs, fmt.Errorf("NFTSYNC_HISTORY_SALES_RETENTION=%q: %w", s, err))
	}
	if c.Limit.BulkReserve >= 1 {
		p.fail("NFTSYNC_OPENSEA_BULK_RESERVE", getenv("NFTSYNC_OPENSEA_BULK_RESERVE"), "want a fraction from 0 to below 1")
	}
	if c.OpenSeaAPIKey != "" {
		c.OpenSeaAPIKeys = append(c.OpenSeaAPIKeys, c.OpenSeaAPIKey)
	}
	for _, k := range cli.SplitList(getenv("NFTSYNC_OPENSEA_API_KEYS")) {
		if !slices.Contains(c.OpenSeaAPIKeys, k) {
			c.OpenSeaAPIKeys = append(c.OpenSeaAPIKeys, k)
		}
	}
	c.TokenURI = p.tokenURI()
	if c.Traits.MinCoverage > 1 {
		p.fail("NFTSYNC_RARITY_MIN_COVERAGE", getenv("NFTSYNC_RARITY_MIN_COVERAGE"), "want a share above 0 and at most 1")
	}
	for _, q := range jobs.QueueSpecs() {
		c.MaxWorkers[q.Name] = p.int(q.EnvVar(), q.Workers, 0, 10000)
	}
	c.Intervals = map[string]time.Duration{}
	for _, k := range jobs.RefreshKinds() {
		c.Intervals[k.Name] = p.duration(k.EnvVar(), k.Interval, time.Second)
	}
	switch lvl := strings.ToLower(cmp.Or(getenv("NFTSYNC_LOG_LEVEL"), "info")); lvl {
	case "debug":
		c.LogLevel = slog.LevelDebug
	case "info":
		c.LogLevel = slog.LevelInfo
	case "warn":
		c.LogLevel = slog.LevelWarn
	case "error":
		c.LogLevel = slog.LevelError
	default:
		p.fail("NFTSYNC_LOG_LEVEL", lvl, "want debug, info, warn or error")
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		p.fail("NFTSYNC_LOG_FORMAT", c.LogFormat, "want text or json")
	}
	if u, err := url.Parse(c.OpenSeaURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		p.fail("NFTSYNC_OPENSEA_URL", c.OpenSeaURL, "want an http(s) URL")
	}
	if syncTimeout := jobs.SyncTokensTimeout(c.TokenSyncBudget, c.HTTPTimeout); c.RescueAfter <= c.JobTimeout || c.RescueAfter <= syncTimeout {
		p.errs = append(p.errs, fmt.Errorf("NFTSYNC_RESCUE_AFTER (%s) must exceed NFTSYNC_JOB_TIMEOUT (%s) and the token sync timeout (NFTSYNC_TOKEN_SYNC_BUDGET + NFTSYNC_HTTP_TIMEOUT + 10s = %s): a healthy job would be rescued and run twice",
			c.RescueAfter, c.JobTimeout, syncTimeout))
	}
	p.loadSubgraphs(c)
	if err := c.SimConfig().Validate(); err != nil {
		p.errs = append(p.errs, fmt.Errorf("NFTSYNC_SIM_*: %w", err))
	}
	if len(p.errs) > 0 {
		return nil, fmt.Errorf("invalid configuration:\n  %w", errors.Join(p.errs...))
	}
	return c, nil
}

type envParser struct {
	getenv func(string) string
	errs   []error
}

func (p *envParser) fail(name, value, want string) {
	p.errs = append(p.errs, fmt.Errorf("%s=%q: %s", name, value, want))
}

func (p *envParser) duration(name string, def, minimum time.Duration) time.Duration {
	s := p.getenv(name)
	if s == "" {
		return def
	}
	if s == "0" {
		if minimum > 0 {
			p.fail(name, s, fmt.Sprintf("want a duration of at least %s", minimum))
		}
		return 0
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < minimum {
		p.fail(name, s, fmt.Sprintf("want a duration like 30s or 5m, at least %s", minimum))
		return def
	}
	return d
}

func (p *envParser) int(name string, def, minimum, maximum int) int {
	s := p.getenv(name)
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < minimum || n > maximum {
		p.fail(name, s, fmt.Sprintf("want a whole number from %d to %d", minimum, maximum))
		return def
	}
	return n
}

func (p *envParser) fraction(name string) float64 {
	f := p.float(name, 0, 0)
	if f > 1 {
		p.fail(name, p.getenv(name), "want a fraction from 0 to 1")
		return 0
	}
	return f
}

// simTier reads NFTSYNC_SIM_TIER.
func (p *envParser) simTier() indexersim.Tier {
	t, err := indexersim.ParseTier(p.getenv("NFTSYNC_SIM_TIER"))
	if err != nil {
		p.errs = append(p.errs, fmt.Errorf("NFTSYNC_SIM_TIER: %w", err))
	}
	return t
}

func (p *envParser) float(name string, def, minimum float64) float64 {
	s := p.getenv(name)
	if s == "" {
		return def
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f < minimum || f != f {
		p.fail(name, s, fmt.Sprintf("want a number of at least %g", minimum))
		return def
	}
	return f
}

// bool parses true/false (also 1/0, yes/no); empty means def.
func (p *envParser) bool(name string, def bool) bool {
	switch s := strings.ToLower(strings.TrimSpace(p.getenv(name))); s {
	case "":
		return def
	case "true", "1", "yes":
		return true
	case "false", "0", "no":
		return false
	default:
		p.fail(name, s, "want true or false")
		return def
	}
}

// tokenURI reads the NFTSYNC_TOKENURI_* variables. Gateways are checked by
// building a source from them.
func (p *envParser) tokenURI() cli.TokenURIConfig {
	t := cli.TokenURIConfig{
		IPFSGateways:    tokenuri.DefaultIPFSGateways,
		ArweaveGateways: tokenuri.DefaultArweaveGateways,
		Host: ratelimit.HostLimit{
			Burst:       p.int("NFTSYNC_TOKENURI_BURST", 0, 1, 100000),
			MaxInFlight: p.int("NFTSYNC_TOKENURI_CONCURRENCY", 8, 0, 100000),
		},
		Hosts:        map[string]ratelimit.HostLimit{},
		MaxBodyBytes: int64(p.int("NFTSYNC_TOKENURI_MAX_BODY", tokenuri.DefaultMaxBodyBytes, 1<<10, 1<<30)),
		Timeout:      p.duration("NFTSYNC_TOKENURI_TIMEOUT", tokenuri.DefaultTimeout, 100*time.Millisecond),
		MaxRedirects: p.int("NFTSYNC_TOKENURI_MAX_REDIRECTS", tokenuri.DefaultMaxRedirects, 0, 20),
	}
	if v := p.getenv("NFTSYNC_TOKENURI_IPFS_GATEWAYS"); v != "" {
		t.IPFSGateways, t.IPFSGatewaysSet = cli.SplitList(v), true
	}
	if v := p.getenv("NFTSYNC_TOKENURI_AR_GATEWAYS"); v != "" {
		t.ArweaveGateways = cli.SplitList(v)
	}
	t.AllowHTTP = p.bool("NFTSYNC_TOKENURI_ALLOW_HTTP", false)
	for _, n := range cli.SplitList(p.getenv("NFTSYNC_TOKENURI_ALLOW_NETS")) {
		prefix, err := netip.ParsePrefix(n)
		if err != nil {
			if a, aerr := netip.ParseAddr(n); aerr == nil {
				prefix, err = a.Prefix(a.BitLen())
			}
		}
		if err != nil {
			p.fail("NFTSYNC_TOKENURI_ALLOW_NETS", n, "want a network in CIDR notation like 127.0.0.0/8 or an address")
			continue
		}
		t.AllowNets = append(t.AllowNets, prefix.Masked())
	}
	t.Host.Rate = p.rate("NFTSYNC_TOKENURI_RATE", 5)
	t.HostRateSet = p.getenv("NFTSYNC_TOKENURI_RATE") != ""
	if t.Host.Burst == 0 {
		t.Host.Burst = max(1, int(math.Ceil(t.Host.Rate)))
	}
	for _, item := range cli.SplitList(p.getenv("NFTSYNC_TOKENURI_HOST_RATES")) {
		host, spec, ok := strings.Cut(item, "=")
		host = strings.ToLower(strings.TrimSpace(host))
		rateSpec, burstSpec, hasBurst := strings.Cut(spec, ":")
		rate, err := ratelimit.ParseRate(rateSpec)
		burst := max(1, int(math.Ceil(rate)))
		if hasBurst && err == nil {
			burst, err = strconv.Atoi(strings.TrimSpace(burstSpec))
			if err == nil && burst < 1 {
				err = errors.New("burst must be at least 1")
			}
		}
		if !ok || host == "" || err != nil {
			p.fail("NFTSYNC_TOKENURI_HOST_RATES", item, "want HOST=RATE[:BURST], e.g. ipfs.io=2/s:4")
			continue
		}
		t.Hosts[host] = ratelimit.HostLimit{Rate: rate, Burst: burst, MaxInFlight: t.Host.MaxInFlight}
	}
	if _, err := tokenuri.New(t.Options()); err != nil {
		p.errs = append(p.errs, fmt.Errorf("NFTSYNC_TOKENURI_IPFS_GATEWAYS / NFTSYNC_TOKENURI_AR_GATEWAYS: %w", err))
	}
	return t
}

// rate parses a rate variable (see ratelimit.ParseRate), def per second
// when unset.
func (p *envParser) rate(name string, def float64) float64 {
	s := p.getenv(name)
	if s == "" {
		return def
	}
	r, err := ratelimit.ParseRate(s)
	if err != nil {
		p.errs = append(p.errs, fmt.Errorf("%s: %w", name, err))
		return def
	}
	return r
}
