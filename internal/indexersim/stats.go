package indexersim

import (
	"maps"
	"sync"
	"time"
)

// Endpoint kinds, the keys of Stats.ByEndpoint.
const (
	EndpointCollection = "collection" // GET /api/v2/collections/{slug}
	EndpointStats      = "stats"      // GET /api/v2/collections/{slug}/stats
	EndpointNFTs       = "nfts"       // GET /api/v2/collection/{slug}/nfts
	EndpointNFT        = "nft"        // GET /api/v2/chain/{chain}/contract/{address}/nfts/{identifier}
	EndpointTraits     = "traits"     // GET /api/v2/traits/{slug}
	EndpointNFTsBatch  = "nfts_batch" // POST /api/v2/nfts/batch
	// EndpointBestListings is GET /api/v2/listings/collection/{slug}/best.
	EndpointBestListings = "best_listings"
	// EndpointEvents is GET /api/v2/events/collection/{slug}.
	EndpointEvents = "events"
	// EndpointPaymentToken is GET /api/v2/chain/{chain}/payment_token/{address}.
	EndpointPaymentToken = "payment_token"
	EndpointUnknown      = "unknown" // any other path under /api/
)

// Fault kinds, the keys of Stats.Faults.
const (
	FaultStorm             = "storm" // 429 during a storm
	FaultError500          = "error_500"
	FaultError502          = "error_502"
	FaultError503          = "error_503"
	FaultTimeout           = "timeout" // never answered
	FaultMalformedTruncate = "malformed_truncated"
	FaultMalformedSyntax   = "malformed_syntax"
	FaultMalformedType     = "malformed_wrong_type"
	FaultMalformedNegative = "malformed_negative"
	FaultOversize          = "oversize"
)

// Stats are the simulator's request counters since the Server was created.
// Only API requests (paths under /api/) are counted, never /_sim/.
type Stats struct {
	// Requests is every API request received.
	Requests int64 `json:"requests"`
	// ByEndpoint counts Requests by endpoint kind (Endpoint* constants).
	ByEndpoint map[string]int64 `json:"by_endpoint"`
	// ByStatus counts answers by HTTP status; requests that never got an
	// answer (timeouts) are not in it.
	ByStatus map[int]int64 `json:"by_status"`
	// Unauthorized counts 401 answers (missing or unknown API key).
	Unauthorized int64 `json:"unauthorized"`
	// RateLimited counts the excess requests the token buckets refused.
	RateLimited int64 `json:"rate_limited"`
	// Throttled counts every 429 answer: RateLimited plus storm 429s.
	Throttled int64 `json:"throttled"`
	// Served counts requests admitted past authentication, storms and rate
	// limits, whatever they were answered (faults included).
	Served int64 `json:"served"`
	// MaxServedPerSecond is the largest number of Served requests in any
	// sliding one-second window (t-1s, t] of Config.Clock time. Against a
	// client limited to R requests/s it must stay at or below R (plus the
	// client's own burst).
	MaxServedPerSecond int64 `json:"max_served_per_second"`
	// Faults counts injected faults by kind (Fault* constants).
	Faults map[string]int64 `json:"faults"`
	// Subgraphs holds each subgraph endpoint's own counters by name (the
	// fields above count the OpenSea endpoints only).
	Subgraphs map[string]Stats `json:"subgraphs,omitempty"`
	// Metadata holds the token metadata host's and IPFS gateway's own
	// counters (EndpointMetadata, EndpointGateway, FaultMetadata*); they
	// are not in the counters above.
	Metadata *Stats `json:"metadata,omitempty"`
	// Stream holds the Stream API's counters (connections, frames, faults);
	// streamed events are not requests and count against no REST limit.
	Stream *StreamStats `json:"stream,omitempty"`
}

// recorder collects Stats. One mutex guards everything; the simulator is
// not expected to serve more than a few thousand requests per second.
type recorder struct {
	mu    sync.Mutex
	stats Stats
	// window holds the times (Unix nanoseconds) of the requests served in
	// the last second, oldest first, from index head on.
	window []int64
	head   int
}

func newRecorder() *recorder {
	return &recorder{stats: Stats{
		ByEndpoint: map[string]int64{},
		ByStatus:   map[int]int64{},
		Faults:     map[string]int64{},
	}}
}

// request counts an incoming API request of the given kind.
func (r *recorder) request(kind string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.stats.Requests++
	r.stats.ByEndpoint[kind]++
}

// status counts an answer.
func (r *recorder) status(code int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.stats.ByStatus[code]++
	switch code {
	case 401:
		r.stats.Unauthorized++
	case 429:
		r.stats.Throttled++
	}
}

// rateLimited counts a request refused by a token bucket.
func (r *recorder) rateLimited() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.stats.RateLimited++
}

// fault counts an injected fault.
func (r *recorder) fault(kind string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.stats.Faults[kind]++
}

// served counts an admitted request at time now and updates the maximum
// over sliding one-second windows. The maximum over all windows is reached
// by a window ending at an arrival, so checking at each arrival is exact.
// The clock is assumed not to go backwards.
func (r *recorder) served(now time.Time) {
	t := now.UnixNano()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.stats.Served++
	for r.head < len(r.window) && r.window[r.head] <= t-int64(time.Second) {
		r.head++
	}
	if r.head > 1024 && r.head*2 > len(r.window) {
		r.window = append(r.window[:0], r.window[r.head:]...)
		r.head = 0
	}
	r.window = append(r.window, t)
	r.stats.MaxServedPerSecond = max(r.stats.MaxServedPerSecond, int64(len(r.window)-r.head))
}

// snapshot returns a deep copy of the counters.
func (r *recorder) snapshot() Stats {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.stats
	s.ByEndpoint = maps.Clone(s.ByEndpoint)
	s.ByStatus = maps.Clone(s.ByStatus)
	s.Faults = maps.Clone(s.Faults)
	return s
}
