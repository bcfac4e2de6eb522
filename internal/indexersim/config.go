package indexersim

import (
	"errors"
	"fmt"
	"math"
	"time"
)

// Defaults used by DefaultConfig and for zero-valued Config fields.
const (
	DefaultCollections = 50
	// DefaultPolygonFraction is the default share of collections on
	// Polygon (Config.PolygonFraction): none, so that a harness tracking
	// every simulated slug without a chain (the default, Ethereum) finds
	// them all; ask for a share explicitly.
	DefaultPolygonFraction = 0.0
	DefaultMinTokens       = 1000
	DefaultMaxTokens       = 10000
	DefaultOversizeBytes   = 17 << 20 // just over a 16 MiB client body limit
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

	// PolygonFraction is the share of collections on Polygon, quoted in
	// its native currency POL (currency.go) rather than ETH: /stats,
	// listings, sales and stream events price them in POL. Which
	// collections is drawn from Seed, per collection. Zero (the default)
	// or negative means none (every collection on Ethereum); at most 1.
	PolygonFraction float64

	// Market configures each collection's order book (book.go): how many
	// listings are posted per minute and what share are private, in
	// another currency or invalidated for a while. Zero fields take the
	// defaults of DefaultMarketConfig.
	Market MarketConfig

	// Stream configures the Stream API endpoint (GET /socket/websocket):
	// how often it pushes, and its faults (dropped, duplicated, reordered
	// and stale replayed events, periodic disconnects, refused keys). The
	// zero value pushes every event once, in order, and never disconnects.
	Stream StreamConfig
}

// MarketConfig configures the order books. With the defaults a collection
// sees about two and a half listings posted and as many cancelled per
// minute, plus its sales, transfers and metadata updates: about six stream
// events per collection per minute, and a floor that changes about every
// two minutes.
type MarketConfig struct {
	// ListingsPerMinute is the mean number of listings posted per
	// collection per minute (each collection draws its own rate within
	// ±30% of it). Zero means DefaultListingsPerMinute.
	ListingsPerMinute float64
	// TransfersPerHour is the mean number of transfers per collection per
	// hour besides those of sales. Zero means the default (2); negative
	// means none.
	TransfersPerHour float64
	// MetadataUpdatesPerHour is the mean number of item_metadata_updated
	// events per collection per hour. Zero means the default (1); negative
	// means none.
	MetadataUpdatesPerHour float64
	// PrivateFraction is the share of listings reserved for one buyer
	// (never a floor). Zero means the default (0.02); negative means none.
	PrivateFraction float64
	// OtherCurrencyFraction is the share of listings priced in USDC rather
	// than ETH. They are all depth listings (above the reference floor):
	// listings in another currency rarely make a floor, and the
	// best-listings answer carries no eth_price to compare them with (a
	// client reads it from GET /api/v2/chain/{chain}/payment_token/{address}
	// or a stream event). At most 0.3. Zero means the default (0.04);
	// negative means none.
	OtherCurrencyFraction float64
	// InvalidateFraction is the share of listings invalidated for a while
	// (order_invalidate; most come back with order_revalidate). Zero means
	// the default (0.03); negative means none.
	InvalidateFraction float64
}

// Defaults of MarketConfig.
const (
	DefaultListingsPerMinute      = 2.5
	DefaultTransfersPerHour       = 2
	DefaultMetadataUpdatesPerHour = 1
	DefaultPrivateFraction        = 0.02
	DefaultOtherCurrencyFraction  = 0.04
	DefaultInvalidateFraction     = 0.03
	maxListingsPerMinute          = 600
)

// DefaultMarketConfig returns the default market.
func DefaultMarketConfig() MarketConfig { return MarketConfig{}.withDefaults() }

func (m MarketConfig) withDefaults() MarketConfig {
	def := func(v *float64, d float64) {
		switch {
		case *v == 0:
			*v = d
		case *v < 0:
			*v = 0
		}
	}
	if m.ListingsPerMinute == 0 {
		m.ListingsPerMinute = DefaultListingsPerMinute
	}
	def(&m.TransfersPerHour, DefaultTransfersPerHour)
	def(&m.MetadataUpdatesPerHour, DefaultMetadataUpdatesPerHour)
	def(&m.PrivateFraction, DefaultPrivateFraction)
	def(&m.OtherCurrencyFraction, DefaultOtherCurrencyFraction)
	def(&m.InvalidateFraction, DefaultInvalidateFraction)
	return m
}

func (m MarketConfig) validate() error {
	var errs []error
	if !(m.ListingsPerMinute > 0 && m.ListingsPerMinute <= maxListingsPerMinute) {
		errs = append(errs, fmt.Errorf("market listings per minute must be in (0, %d], got %v", maxListingsPerMinute, m.ListingsPerMinute))
	}
	for _, f := range []struct {
		name string
		v    float64
		max  float64
	}{
		{"market transfers per hour", m.TransfersPerHour, 36_000},
		{"market metadata updates per hour", m.MetadataUpdatesPerHour, 36_000},
		{"market private fraction", m.PrivateFraction, 1},
		{"market other currency fraction", m.OtherCurrencyFraction, 0.3},
		{"market invalidate fraction", m.InvalidateFraction, 1},
	} {
		if !(f.v >= 0 && f.v <= f.max) {
			errs = append(errs, fmt.Errorf("%s must be in [0, %v], got %v", f.name, f.max, f.v))
		}
	}
	return errors.Join(errs...)
}

// StreamConfig configures the Stream API endpoint and its faults. Faults
// are drawn per connection from a sequence seeded by Config.Seed and the
// connection's number, in the order events are pushed.
type StreamConfig struct {
	// Tick is how often a connection pushes the events that happened since
	// the last push (wall time). Zero means DefaultStreamTick.
	Tick time.Duration
	// DropRate is the fraction of events never sent.
	DropRate float64
	// DuplicateRate is the fraction of events sent twice (the copy follows
	// a little later).
	DuplicateRate float64
	// ReorderRate is the fraction of events held back and sent after the
	// event that followed them.
	ReorderRate float64
	// StaleReplayRate is the fraction of events after which an older event
	// of some order sent earlier on the connection is sent again, as a
	// dead-letter replay would (stream-js README: "DLQ replays can deliver
	// older state"); usually an order's item_listed after it was sold or
	// cancelled.
	StaleReplayRate float64
	// DisconnectEvery closes every connection abruptly (no close frame,
	// no phx_close) once it has been open this long by Config.Clock. Zero
	// means never.
	DisconnectEvery time.Duration
	// RefusedKeys are API keys refused at the websocket upgrade (403) even
	// when Config.APIKeys is empty or lists them: a key revoked for the
	// stream.
	RefusedKeys []string
	// IdleTimeout closes a connection that sent nothing (not even a
	// heartbeat) for this long, wall time, as Phoenix does after 60 s.
	// Zero means DefaultStreamIdleTimeout.
	IdleTimeout time.Duration
}

// Defaults of StreamConfig.
const (
	DefaultStreamTick        = 100 * time.Millisecond
	DefaultStreamIdleTimeout = 60 * time.Second
)

func (c StreamConfig) withDefaults() StreamConfig {
	if c.Tick == 0 {
		c.Tick = DefaultStreamTick
	}
	if c.IdleTimeout == 0 {
		c.IdleTimeout = DefaultStreamIdleTimeout
	}
	return c
}

func (c StreamConfig) validate() error {
	var errs []error
	for _, f := range []struct {
		name string
		v    float64
	}{{"stream drop rate", c.DropRate}, {"stream duplicate rate", c.DuplicateRate},
		{"stream reorder rate", c.ReorderRate}, {"stream stale replay rate", c.StaleReplayRate}} {
		if !(f.v >= 0 && f.v <= 1) {
			errs = append(errs, fmt.Errorf("%s must be in [0, 1], got %v", f.name, f.v))
		}
	}
	if c.Tick < time.Millisecond || c.Tick > time.Minute {
		errs = append(errs, fmt.Errorf("stream tick must be in [1ms, 1m], got %s", c.Tick))
	}
	if c.DisconnectEvery < 0 {
		errs = append(errs, fmt.Errorf("stream disconnect period must be >= 0, got %s", c.DisconnectEvery))
	}
	if c.IdleTimeout < 0 {
		errs = append(errs, fmt.Errorf("stream idle timeout must be >= 0, got %s", c.IdleTimeout))
	}
	for i, k := range c.RefusedKeys {
		if k == "" {
			errs = append(errs, fmt.Errorf("stream refused key %d is empty", i))
		}
	}
	return errors.Join(errs...)
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
	switch {
	case c.PolygonFraction == 0:
		c.PolygonFraction = DefaultPolygonFraction
	case c.PolygonFraction < 0:
		c.PolygonFraction = 0
	}
	c.Market = c.Market.withDefaults()
	c.Stream = c.Stream.withDefaults()
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
	if !(c.PolygonFraction >= 0 && c.PolygonFraction <= 1) {
		bad("polygon fraction must be in [0, 1] (negative: none), got %v", c.PolygonFraction)
	}
	if c.OversizeBytes < minOversize {
		bad("oversize bytes must be >= %d, got %d", minOversize, c.OversizeBytes)
	}
	if err := c.Market.validate(); err != nil {
		errs = append(errs, err)
	}
	if err := c.Stream.validate(); err != nil {
		errs = append(errs, err)
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
