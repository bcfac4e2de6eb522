package indexersim

import (
	"errors"
	"fmt"
	"math"
	"strings"
)

// SubgraphConfig configures one marketplace subgraph the simulator serves at
// POST /subgraphs/name/{Name} (graph-node's path for named subgraphs).
type SubgraphConfig struct {
	// Name is the path segment and the marketplace's name, e.g. "seaport".
	Name string
	// Mirror makes the subgraph index the very trades behind the OpenSea
	// endpoints' volumes, so that the two sources agree (as OpenSea's own
	// figures and its Seaport contract's trades do). Otherwise the
	// marketplace has its own, independent synthetic trades.
	Mirror bool
	// Coverage is the fraction of collections the marketplace ever traded
	// (the others answer collection: null). 0 means all; a Mirror subgraph
	// always covers all.
	Coverage float64
	// VolumeFactor scales every amount the subgraph reports. 0 and 1 mean
	// unscaled; any other value is the "disagreement" fault: volumes that
	// differ from the OpenSea endpoints' by that factor.
	VolumeFactor float64
	// APIKeys, when non-empty, are the only accepted bearer tokens; other
	// requests get a 200 with a gateway-style "auth error" in errors.
	APIKeys []string
	// Rate and Burst limit requests per second to this endpoint (all keys
	// together); excess requests get 429 with Retry-After. Rate 0 means
	// unlimited; Burst 0 means ceil(Rate).
	Rate  float64
	Burst int
	// Fault rates, each the fraction of admitted requests answered with:
	// ThrottleRate a 429 with Retry-After; ErrorRate a 502 or 503;
	// GraphQLErrorRate a 200 carrying only an errors array (an indexing
	// error, a gateway "bad indexers" or a store error); PartialRate a 200
	// with the real data beside an errors entry; MalformedRate a 200 whose
	// body is cut short or has numbers where objects belong.
	ThrottleRate     float64
	ErrorRate        float64
	GraphQLErrorRate float64
	PartialRate      float64
	MalformedRate    float64
}

func (c SubgraphConfig) validate() error {
	var errs []error
	if c.Name == "" || strings.ContainsAny(c.Name, "/ :?#") {
		errs = append(errs, fmt.Errorf("subgraph name %q must be non-empty without '/', ' ', ':', '?' or '#'", c.Name))
	}
	if !(c.Coverage >= 0 && c.Coverage <= 1) {
		errs = append(errs, fmt.Errorf("subgraph %s: coverage must be in [0, 1], got %v", c.Name, c.Coverage))
	}
	if !(c.VolumeFactor >= 0) || math.IsInf(c.VolumeFactor, 0) {
		errs = append(errs, fmt.Errorf("subgraph %s: volume factor must be a finite number >= 0, got %v", c.Name, c.VolumeFactor))
	}
	if !(c.Rate >= 0) || math.IsInf(c.Rate, 0) || c.Burst < 0 {
		errs = append(errs, fmt.Errorf("subgraph %s: rate and burst must be >= 0", c.Name))
	}
	sum := 0.0
	for _, r := range []float64{c.ThrottleRate, c.ErrorRate, c.GraphQLErrorRate, c.PartialRate, c.MalformedRate} {
		if !(r >= 0 && r <= 1) {
			errs = append(errs, fmt.Errorf("subgraph %s: fault rates must be in [0, 1]", c.Name))
		}
		sum += r
	}
	if sum > 1 {
		errs = append(errs, fmt.Errorf("subgraph %s: fault rates must add up to at most 1, got %v", c.Name, sum))
	}
	for i, k := range c.APIKeys {
		if k == "" {
			errs = append(errs, fmt.Errorf("subgraph %s: api key %d is empty", c.Name, i))
		}
	}
	return errors.Join(errs...)
}
