package indexersim

import (
	"errors"
	"fmt"
	"math"
	"time"
)

// Defaults used by DefaultConfig and for zero-valued Config fields.
const (
	DefaultCollections   = 50
	DefaultMinTokens     = 1000
	DefaultMaxTokens     = 10000
	DefaultOversizeBytes = 17 << 20 // just over a 16 MiB client body limit
	// DefaultMaxBatchNFTs is the most identifiers POST /api/v2/nfts/batch
	// accepts when Config.MaxBatchNFTs is 0. The spec states no maximum.
	DefaultMaxBatchNFTs = 100
	maxBatchNFTs        = 10_000

	maxCollections = 10_000
	maxTokens      = 10_000_000
	minOversize    = 1 << 10
)

// Config configures a Server. The zero value of every field is usable:
// Collections, MinTokens, MaxTokens, Clock, Burst, PerKeyBurst and
// OversizeBytes fall back to their defaults, and every limit and fault mode
// is off.
type Config struct {
	// Seed determines everything generated: collections, tokens, traits,
	// market movements and the sequence of injected faults.
	Seed int64

	// Collections is the number of synthetic collections, named
	// "sim-collection-000", "sim-collection-001", … (at least three digits).
	// Zero means DefaultCollections.
	Collections int

	// MinTokens and MaxTokens bound the token count of each collection.
	// Sizes are drawn log-uniformly from [MinTokens, MaxTokens], so most
	// collections are small (for 1000..10000 the mean is about 3900). Zero
	// means DefaultMinTokens and DefaultMaxTokens respectively.
	MinTokens int
	MaxTokens int

	// Clock tells the simulated time. Floor prices move every minute and
	// volumes with every simulated sale as a function of (Seed, slug, time);
	// rate limits, storms and the one-second window statistic use it too.
	// Nil means time.Now.
	Clock func() time.Time

	// ListTraits restores the old behaviour of sending each token's traits
	// in the list endpoint's answer. The live API does not (opensea-sdk
	// issue #1889), so it is off by default: traits come from the
	// single-NFT endpoint or the token's metadata_url.
	ListTraits bool

	// AllTraitsKnown makes the API know every token's traits. By default,
	// as on real collections (unrevealed tokens, broken metadata), about
	// half the collections have one to three tokens whose traits the API
	// does not know: "traits": null in the single-NFT and batch answers
	// (and in list answers with ListTraits), and a metadata document
	// without attributes. Server.Token returns nil traits for them.
	AllTraitsKnown bool

	// MaxBatchNFTs is the most identifiers one POST /api/v2/nfts/batch
	// accepts; a longer list is refused with 400 and a message saying so.
	// The spec states no maximum (see serveNFTsBatch). Zero means
	// DefaultMaxBatchNFTs.
	MaxBatchNFTs int

	// Rate is the number of requests per second allowed over all API keys
	// together (a token bucket refilled at Rate with capacity Burst). Zero
	// means unlimited.
	Rate float64
	// Burst is the capacity of the global bucket. Zero means ceil(Rate).
	Burst int

	// PerKeyRate is the number of requests per second allowed for each
	// distinct X-API-KEY value (requests without a key share one bucket).
	// Zero means no per-key limit.
	PerKeyRate float64
	// PerKeyBurst is the capacity of each per-key bucket. Zero means
	// ceil(PerKeyRate).
	PerKeyBurst int

	// Tier is each API key's budget in fixed windows (requests without a
	// key share one), sent in X-RateLimit-Limit, -Remaining and -Reset like
	// OpenSea's (see Tier; TierPerMinute and TierPerHour are the documented
	// free tiers). It applies after Rate and PerKeyRate, and its headers
	// replace theirs. The zero Tier means none.
	Tier Tier

	// APIKeys, when non-empty, are the only accepted X-API-KEY values;
	// other requests get 401. Empty means no authentication.
	APIKeys []string

	// Latency is added to every API request before it is answered
	// (including refused ones). Zero means none.
	Latency time.Duration

	// ErrorRate is the fraction of admitted requests answered with 500, 502
	// or 503 and an {"errors":[…]} body.
	ErrorRate float64

	// StormEvery and StormDuration make periodic 429 storms: the last
	// StormDuration of every StormEvery period (counted from the Server's
	// creation) answers every API request with 429 and a Retry-After that
	// points at the end of the storm. Zero StormEvery means no storms.
	StormEvery    time.Duration
	StormDuration time.Duration

	// TimeoutRate is the fraction of admitted requests that never answer:
	// the handler waits until the client gives up (the request context is
	// done) or the Server is closed.
	TimeoutRate float64

	// MalformedRate is the fraction of successful answers whose body is
	// broken: truncated JSON, syntactically invalid JSON (or an HTML page),
	// a field with the wrong type (e.g. floor_price "abc") or a negative
	// value (e.g. floor_price below zero), still with status 200.
	MalformedRate float64

	// OversizeRate is the fraction of successful answers whose body is
	// valid JSON padded to OversizeBytes, streamed in chunks without being
	// held in memory (sometimes with Content-Length, sometimes chunked).
	OversizeRate float64
	// OversizeBytes is the size of an oversize body. Zero means
	// DefaultOversizeBytes (17 MiB).
	OversizeBytes int64

	// Subgraphs are marketplace subgraphs served over GraphQL at
	// POST /subgraphs/name/{Name}, each with its own limits and faults
	// (the fields above apply to the OpenSea endpoints only).
	Subgraphs []SubgraphConfig

	// Metadata configures each token's metadata document (its metadata_url):
	// the IPFS gateway path, a rate limit and per-token faults.
	Metadata MetadataConfig
}

// DefaultConfig returns the default configuration: seed 0, 50 collections of
// 1000..10000 tokens, the wall clock, no limits, no authentication and no
// faults.
func DefaultConfig() Config {
	return Config{}.withDefaults()
}

// withDefaults returns c with zero fields replaced by their defaults.
func (c Config) withDefaults() Config {
	if c.Collections == 0 {
		c.Collections = DefaultCollections
	}
	if c.MinTokens == 0 {
		c.MinTokens = DefaultMinTokens
	}
	if c.MaxTokens == 0 {
		c.MaxTokens = max(DefaultMaxTokens, c.MinTokens)
	}
	if c.Clock == nil {
		c.Clock = time.Now
	}
	if c.Burst == 0 && c.Rate > 0 {
		c.Burst = int(math.Ceil(c.Rate))
	}
	if c.PerKeyBurst == 0 && c.PerKeyRate > 0 {
		c.PerKeyBurst = int(math.Ceil(c.PerKeyRate))
	}
	if c.OversizeBytes == 0 {
		c.OversizeBytes = DefaultOversizeBytes
	}
	if c.MaxBatchNFTs == 0 {
		c.MaxBatchNFTs = DefaultMaxBatchNFTs
	}
	return c
}

// Validate reports every invalid field of c (after defaults are applied),
// joined into one error.
func (c Config) Validate() error {
	c = c.withDefaults()
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	if c.Collections < 1 || c.Collections > maxCollections {
		bad("collections must be in 1..%d, got %d", maxCollections, c.Collections)
	}
	if c.MinTokens < 1 || c.MaxTokens > maxTokens || c.MinTokens > c.MaxTokens {
		bad("need 1 <= min tokens <= max tokens <= %d, got %d..%d", maxTokens, c.MinTokens, c.MaxTokens)
	}
	for _, r := range []struct {
		name  string
		rate  float64
		burst int
	}{{"rate", c.Rate, c.Burst}, {"per-key rate", c.PerKeyRate, c.PerKeyBurst}} {
		if r.rate < 0 || math.IsNaN(r.rate) || math.IsInf(r.rate, 0) {
			bad("%s must be a finite number >= 0, got %v", r.name, r.rate)
		}
		if r.burst < 0 {
			bad("%s burst must be >= 0, got %d", r.name, r.burst)
		}
	}
	if c.Tier.Limit < 0 || (c.Tier.Limit > 0 && c.Tier.Window <= 0) {
		bad("tier must be a positive number of requests per positive window, got %d per %s", c.Tier.Limit, c.Tier.Window)
	}
	for i, k := range c.APIKeys {
		if k == "" {
			bad("api key %d is empty", i)
		}
	}
	if c.Latency < 0 {
		bad("latency must be >= 0, got %s", c.Latency)
	}
	if c.StormEvery < 0 || c.StormDuration < 0 {
		bad("storm every and duration must be >= 0")
	}
	if c.StormEvery > 0 && (c.StormDuration <= 0 || c.StormDuration >= c.StormEvery) {
		bad("storm duration must be in (0, storm every), got %s every %s", c.StormDuration, c.StormEvery)
	}
	sum := 0.0
	for _, f := range []struct {
		name string
		v    float64
	}{{"error rate", c.ErrorRate}, {"timeout rate", c.TimeoutRate}, {"malformed rate", c.MalformedRate}, {"oversize rate", c.OversizeRate}} {
		if !(f.v >= 0 && f.v <= 1) {
			bad("%s must be in [0, 1], got %v", f.name, f.v)
		}
		sum += f.v
	}
	if sum > 1 {
		bad("fault rates must add up to at most 1, got %v", sum)
	}
	if c.MaxBatchNFTs < 1 || c.MaxBatchNFTs > maxBatchNFTs {
		bad("max batch NFTs must be in 1..%d, got %d", maxBatchNFTs, c.MaxBatchNFTs)
	}
	if c.OversizeBytes < minOversize {
		bad("oversize bytes must be >= %d, got %d", minOversize, c.OversizeBytes)
	}
	if err := c.Metadata.validate(); err != nil {
		errs = append(errs, err)
	}
	names := map[string]bool{}
	for _, sg := range c.Subgraphs {
		if err := sg.validate(); err != nil {
			errs = append(errs, err)
		}
		if names[sg.Name] {
			bad("subgraph %q configured twice", sg.Name)
		}
		names[sg.Name] = true
	}
	if len(errs) > 0 {
		return fmt.Errorf("invalid simulator config: %w", errors.Join(errs...))
	}
	return nil
}
