package cli

import (
	"log/slog"
	"math"
	"net/netip"
	"strconv"
	"time"

	"github.com/nftsync/nftsync/internal/api"
	"github.com/nftsync/nftsync/internal/indexer/subgraph"
	"github.com/nftsync/nftsync/internal/indexer/tokenuri"
	"github.com/nftsync/nftsync/internal/indexersim"
	"github.com/nftsync/nftsync/internal/ratelimit"
	"github.com/nftsync/nftsync/jobs"
)

// Config is everything nftsync reads from the environment, read once and
// validated by cmd/nftsync and passed down as plain values. Secrets
// (DATABASE_URL's password, API keys) are never logged: nothing logs the struct, dev prints the database
// URL redacted, and API keys appear only as a digest (ratelimit.KeyFor).
type Config struct {
	DatabaseURL string
	// MigrateOnOpen is not read from the environment: the command sets it
	// (dev, worker, api and migrate apply outstanding migrations; the others
	// only check the schema) and openDB obeys it.
	MigrateOnOpen bool

	LogLevel  slog.Level
	LogFormat string // text or json

	OpenSeaURL    string
	OpenSeaAPIKey string
	// OpenSeaAPIKeys is the pool of keys (OpenSeaAPIKey first), each with
	// its own rate budget; empty means keyless requests.
	OpenSeaAPIKeys []string
	// Limit is the cluster-wide budget of each OpenSea key (or of the
	// keyless bucket). RateSet says whether NFTSYNC_OPENSEA_RATE was given.
	Limit   LimitConfig
	RateSet bool

	MaxWorkers   map[string]int
	PlanInterval time.Duration
	PlanBatch    int32
	// PlanRate is the planner's budget: "auto" (the limiters' rates), "off",
	// or one rate (requests per second, PlanRateValue) for every source.
	PlanRate      string
	PlanRateValue float64
	WorkerID      string

	JobTimeout      time.Duration
	RetryBase       time.Duration
	RetryMax        time.Duration
	RescueAfter     time.Duration
	SoftStopTimeout time.Duration
	TokenSyncBudget time.Duration

	// History is the retention and downsampling policy of the market
	// history, applied every MaintainInterval.
	History          jobs.HistoryPolicy
	MaintainInterval time.Duration

	// Default refresh intervals given to newly tracked collections.
	Intervals map[string]time.Duration

	DevDir         string
	DevDuration    time.Duration
	SimCollections int
	SimSeed        int64
	SimRate        float64
	SimBurst       int
	SimMinTokens   int
	SimMaxTokens   int
	// SimPolygon is the share of simulated collections on Polygon, quoted
	// in POL (0: none).
	SimPolygon    float64
	SimListTraits bool
	SimBatchMax   int
	Traits        jobs.TraitsConfig
	SimAddr       string
	SimFaults     SimFaults
	HTTPTimeout   time.Duration

	// MetricsAddr is where a worker serves /metrics, /healthz and /readyz
	// (empty: not served).
	MetricsAddr string
	// OTLPEndpoint receives traces over OTLP/HTTP (empty: no tracing).
	OTLPEndpoint string

	// Subgraphs are the marketplace subgraph endpoints (SubgraphsSet: the
	// list was given), CrossCheck the cross-source check, SimSubgraphs the
	// simulator's subgraphs.
	Subgraphs    []SubgraphConfig
	SubgraphsSet bool
	CrossCheck   jobs.CrossCheck
	SimSubgraphs SimSubgraphs

	// TokenURI configures the token_uri trait source.
	TokenURI TokenURIConfig

	API APIConfig

	// Stream configures the Stream API consumer (internal/streamer).
	Stream StreamConfig
}

// StreamConfig configures the stream consumer every worker replica runs
// (NFTSYNC_STREAM_*).
type StreamConfig struct {
	// Mode is on, off or auto: on in dev, and in a worker that has an
	// OpenSea API key (the real stream refuses keyless clients).
	Mode string
	// URL is the websocket endpoint (URLSet: it was given; dev points an
	// unset one at the simulator).
	URL    string
	URLSet bool
	// BookSize is K, the cheapest listings kept per collection.
	BookSize int
	// Shards is the number of shards collections are spread over; every
	// replica must agree on it.
	Shards            int
	ConnectionsPerKey int
	// ReconcileInterval is how often the planner checks a live stream's
	// floor against /stats.
	ReconcileInterval time.Duration
	LeaseTTL          time.Duration
	LeaseRenew        time.Duration
	FlushInterval     time.Duration
	TraitsSettle      time.Duration
	// AuditRate is the most audits (re-reads of live books from spare
	// budget) per second and replica, 0 none; AuditMinInterval the least
	// time between two audits of one book.
	AuditRate        float64
	AuditMinInterval time.Duration
}

// Enabled says whether a process runs the stream consumer: dev says
// whether it is dev (which always has the simulator's stream), keyed
// whether an OpenSea API key is configured.
func (s StreamConfig) Enabled(dev, keyed bool) bool {
	switch s.Mode {
	case "on":
		return true
	case "off":
		return false
	}
	return dev || keyed
}

// TokenURIConfig configures the token_uri trait source: where ipfs:// and
// ar:// URLs are fetched, what the address guard lets through, and each
// host's budget across all replicas.
type TokenURIConfig struct {
	IPFSGateways    []string
	IPFSGatewaysSet bool // NFTSYNC_TOKENURI_IPFS_GATEWAYS was given
	HostRateSet     bool // NFTSYNC_TOKENURI_RATE was given
	ArweaveGateways []string
	AllowHTTP       bool
	AllowNets       []netip.Prefix
	// Host is every host's budget unless Hosts names the host.
	Host         ratelimit.HostLimit
	Hosts        map[string]ratelimit.HostLimit
	MaxBodyBytes int64
	Timeout      time.Duration
	MaxRedirects int
}

// LimitConfig is the per-key budget shared by all replicas.
type LimitConfig struct {
	Rate        float64 // requests per second
	Burst       int
	Concurrency int // max requests in flight; 0 = no cap
	BulkReserve float64
	MaxWait     time.Duration
}

// SimFaults are the simulator's fault modes (all off by default).
type SimFaults struct {
	Latency       time.Duration
	ErrorRate     float64
	StormEvery    time.Duration
	StormDuration time.Duration
	TimeoutRate   float64
	MalformedRate float64
	OversizeRate  float64
	PerKeyRate    float64
	// Tier is each key's budget in fixed windows (TierSet: it was given).
	Tier    indexersim.Tier
	TierSet bool
	APIKeys []string
	// Metadata is the token metadata host and IPFS gateway: path, rate
	// limit and per-token faults.
	Metadata indexersim.MetadataConfig
	// Market is the simulated order books' activity; Stream the Stream
	// endpoint's faults.
	Market indexersim.MarketConfig
	Stream indexersim.StreamConfig
}

// SubgraphConfig is one configured marketplace subgraph endpoint.
type SubgraphConfig struct {
	Name   string // e.g. "seaport"; the source is "subgraph:" + Name
	URL    string // query URL; dev fills it with the simulator's when unset
	APIKey string // sent as a bearer token; never logged
	Limit  LimitConfig
	// RateSet says whether its rate was given.
	RateSet bool
}

// Source is the provenance name of the endpoint.
func (s SubgraphConfig) Source() string { return subgraph.SourcePrefix + s.Name }

// SimSubgraphs are the simulator's subgraph settings.
type SimSubgraphs struct {
	Names            []string
	Rate             float64
	VolumeFactor     float64
	ThrottleRate     float64
	ErrorRate        float64
	GraphQLErrorRate float64
	PartialRate      float64
}

// APIConfig is the configuration of the API server (`nftsync api`, and the
// API `nftsync dev` starts).
type APIConfig struct {
	Options api.Options
	// AddrSet says whether NFTSYNC_API_ADDR was given (dev falls back to a
	// free port only when it was not).
	AddrSet         bool
	RefreshCooldown time.Duration
	PoolSize        int
	// Actor names the operator of CLI commands in audit rows.
	Actor string
}

// Options are the token_uri source options of this configuration (without
// the budget and logger, which need a database and the process logger).
func (t TokenURIConfig) Options() tokenuri.Options {
	redirects := t.MaxRedirects
	if redirects == 0 {
		redirects = -1 // tokenuri's "none"
	}
	return tokenuri.Options{
		IPFSGateways: t.IPFSGateways, ArweaveGateways: t.ArweaveGateways,
		AllowHTTP: t.AllowHTTP, AllowNets: t.AllowNets,
		MaxBodyBytes: t.MaxBodyBytes, Timeout: t.Timeout, MaxRedirects: redirects,
	}
}

// SimConfig is the simulator configuration from the environment.
func (c *Config) SimConfig() indexersim.Config {
	f := c.SimFaults
	cfg := indexersim.Config{
		Seed: c.SimSeed, Collections: c.SimCollections, Rate: c.SimRate, Burst: c.SimBurst,
		MinTokens: c.SimMinTokens, MaxTokens: c.SimMaxTokens, ListTraits: c.SimListTraits, MaxBatchNFTs: c.SimBatchMax,
		PerKeyRate: f.PerKeyRate, Tier: f.Tier, APIKeys: f.APIKeys, Latency: f.Latency, ErrorRate: f.ErrorRate,
		StormEvery: f.StormEvery, StormDuration: f.StormDuration, TimeoutRate: f.TimeoutRate,
		MalformedRate: f.MalformedRate, OversizeRate: f.OversizeRate, Metadata: f.Metadata,
		Market: f.Market, Stream: f.Stream,
		Subgraphs: c.simSubgraphConfigs(), PolygonFraction: c.SimPolygon,
	}
	if c.SimPolygon == 0 {
		cfg.PolygonFraction = -1 // none (the simulator's zero is its default)
	}
	return cfg
}

// EffectiveBurst is the configured burst, or the rate rounded up (at least 1); 0
// when neither is set (OpenSea's auto budget: no cap).
func (l LimitConfig) EffectiveBurst() int {
	if l.Burst > 0 {
		return l.Burst
	}
	if l.Rate == 0 {
		return 0
	}
	return max(1, int(math.Ceil(l.Rate)))
}

// Describe says what rate a key gets: "auto" or "auto, at most 4/s".
func (l LimitConfig) Describe() string {
	if l.Rate == 0 {
		return "auto (from X-RateLimit-* headers)"
	}
	return "auto (from X-RateLimit-* headers), at most " + strconv.FormatFloat(l.Rate, 'g', 4, 64) + "/s"
}

func (c *Config) jobsConfig() jobs.Config {
	return jobs.Config{MaxWorkers: c.MaxWorkers, PlanInterval: c.PlanInterval, PlanBatch: c.PlanBatch,
		PlanRates: c.PlanRates(), History: c.History, MaintainInterval: c.MaintainInterval, Reconcile: c.Stream.ReconcileInterval}
}

// PlanRates is the planner's request budget per source (see PlanRate): by
// default what the limiter lets through, OpenSea's rate per key times its
// keys and each subgraph's rate.
func (c *Config) PlanRates() map[string]float64 {
	sources := []string{"opensea"}
	for _, sg := range c.Subgraphs {
		sources = append(sources, sg.Source())
	}
	rates := make(map[string]float64, len(sources))
	switch c.PlanRate {
	case "off":
		return nil
	case "auto", "":
		// OpenSea's budget is read from its keys' headers at run time: with
		// no cap configured the planner bounds it by PlanBatch only.
		if c.Limit.Rate > 0 {
			rates["opensea"] = c.Limit.Rate * float64(max(1, len(c.OpenSeaAPIKeys)))
		}
		for _, sg := range c.Subgraphs {
			rates[sg.Source()] = sg.Limit.Rate
		}
	default:
		for _, src := range sources {
			rates[src] = c.PlanRateValue
		}
	}
	return rates
}

// simSubgraphConfigs are the simulator's subgraphs: "seaport" mirrors the
// OpenSea market (scaled by the disagreement fault), the others have their
// own trades on 60% of the collections.
func (c *Config) simSubgraphConfigs() []indexersim.SubgraphConfig {
	s := c.SimSubgraphs
	out := make([]indexersim.SubgraphConfig, 0, len(s.Names))
	for _, name := range s.Names {
		sc := indexersim.SubgraphConfig{
			Name: name, Rate: s.Rate, ThrottleRate: s.ThrottleRate, ErrorRate: s.ErrorRate,
			GraphQLErrorRate: s.GraphQLErrorRate, PartialRate: s.PartialRate,
		}
		if name == "seaport" {
			sc.Mirror, sc.VolumeFactor = true, s.VolumeFactor
		} else {
			sc.Coverage = 0.6
		}
		out = append(out, sc)
	}
	return out
}

// devSubgraphs returns the subgraphs dev uses: the configured ones with
// missing URLs pointed at the simulator, or, when NFTSYNC_SUBGRAPHS is
// unset, every subgraph the simulator serves.
func (c *Config) devSubgraphs(simURL string) []SubgraphConfig {
	subs := c.Subgraphs
	if !c.SubgraphsSet {
		subs = nil
		for _, name := range c.SimSubgraphs.Names {
			subs = append(subs, SubgraphConfig{Name: name, Limit: LimitConfig{Rate: 2, Concurrency: 4, MaxWait: c.Limit.MaxWait}})
		}
	}
	out := make([]SubgraphConfig, 0, len(subs))
	for _, s := range subs {
		if s.URL == "" {
			s.URL = simURL + "/subgraphs/name/" + s.Name
		}
		if !s.RateSet && c.SimSubgraphs.Rate > 0 {
			// The simulator's budget is known: use 90% of it, and half its
			// burst, so that network jitter never bunches requests over it.
			s.Limit.Rate = 0.9 * c.SimSubgraphs.Rate
			if s.Limit.Burst == 0 {
				s.Limit.Burst = max(1, int(0.5*c.SimSubgraphs.Rate))
			}
		}
		out = append(out, s)
	}
	return out
}
