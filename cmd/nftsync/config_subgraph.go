package main

import (
	"github.com/nftsync/nftsync/internal/cli"

	"cmp"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/nftsync/nftsync/internal/indexer/subgraph"
	"github.com/nftsync/nftsync/internal/ratelimit"
	"github.com/nftsync/nftsync/jobs"
)

// subgraphEnvVars document the subgraph settings (per endpoint NAME in
// upper case).
var subgraphEnvVars = []envVar{ //nolint:gochecknoglobals // read-only documentation table
	{"NFTSYNC_SUBGRAPHS", "(unset; dev: seaport,blur)", "Marketplace subgraphs (Messari NFT Marketplace schema) to read volumes from, comma-separated names; each is the source `subgraph:NAME`. `none` disables them in dev."},
	{"NFTSYNC_SUBGRAPH_<NAME>_URL", "(required; dev: the simulator)", "Query URL of subgraph NAME, e.g. https://gateway.thegraph.com/api/subgraphs/id/<ID>."},
	{"NFTSYNC_SUBGRAPH_<NAME>_API_KEY", "(unset)", "API key of subgraph NAME, sent as `Authorization: Bearer`. Never logged."},
	{"NFTSYNC_SUBGRAPH_<NAME>_RATE", "2/s", "Request rate allowed to subgraph NAME across ALL replicas (its own bucket in the shared limiter)."},
	{"NFTSYNC_SUBGRAPH_<NAME>_BURST", "(rate, at least 1)", "Requests subgraph NAME may get back to back."},
	{"NFTSYNC_SUBGRAPH_<NAME>_CONCURRENCY", "4", "Requests in flight to subgraph NAME across all replicas (0 = no cap)."},
	{"NFTSYNC_CROSSCHECK_SOURCE", "(subgraph:seaport when configured)", "Source whose 1-day volume is checked against OpenSea's after every refresh (`none` disables)."},
	{"NFTSYNC_CROSSCHECK_TOLERANCE", "0.1", "Relative slack of the cross-check beyond the bounds the subgraph's daily totals allow."},
	{"NFTSYNC_CROSSCHECK_MAX_AGE", "5m", "Most time between the fetches of the two figures a cross-check compares (one volume refresh interval: both come from the same round). A source not routed for the collection's volume is never compared."},
	{"NFTSYNC_SIM_SUBGRAPHS", "seaport,blur", "Simulator: subgraphs served at /subgraphs/name/NAME; `seaport` indexes the trades behind the OpenSea volumes, the others trade on their own."},
	{"NFTSYNC_SIM_SUBGRAPH_RATE", "20", "Simulator: requests per second each subgraph allows before it answers 429 (0 = unlimited)."},
	{"NFTSYNC_SIM_SUBGRAPH_DISAGREE", "0", "Simulator fault: factor applied to the seaport subgraph's amounts so that it disagrees with the OpenSea endpoints (0 or 1 = agree)."},
	{"NFTSYNC_SIM_SUBGRAPH_THROTTLE_RATE", "0", "Simulator fault: fraction of subgraph requests answered 429 with Retry-After."},
	{"NFTSYNC_SIM_SUBGRAPH_ERROR_RATE", "0", "Simulator fault: fraction of subgraph requests answered 502/503."},
	{"NFTSYNC_SIM_SUBGRAPH_GRAPHQL_ERROR_RATE", "0", "Simulator fault: fraction of subgraph requests answered 200 with only a GraphQL errors array."},
	{"NFTSYNC_SIM_SUBGRAPH_PARTIAL_RATE", "0", "Simulator fault: fraction of subgraph answers with partial data beside an error."},
}

var subgraphNameRE = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,30}$`)

// loadSubgraphs reads the subgraph, cross-check and simulator-subgraph
// settings into c. dev is false for the worker: it requires a URL per
// endpoint; dev fills missing URLs with the simulator's.
func (p *envParser) loadSubgraphs(c *cli.Config) {
	getenv := p.getenv
	names := cli.SplitList(getenv("NFTSYNC_SUBGRAPHS"))
	c.SubgraphsSet = getenv("NFTSYNC_SUBGRAPHS") != ""
	if len(names) == 1 && names[0] == "none" {
		names = nil
	}
	for _, name := range names {
		if !subgraphNameRE.MatchString(name) {
			p.fail("NFTSYNC_SUBGRAPHS", name, "want names of lower-case letters, digits, '-' and '_'")
			continue
		}
		env := "NFTSYNC_SUBGRAPH_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_")) + "_"
		s := cli.SubgraphConfig{Name: name, URL: getenv(env + "URL"), APIKey: getenv(env + "API_KEY")}
		s.Limit = cli.LimitConfig{
			Rate: 2, Burst: p.int(env+"BURST", 0, 1, 100000), Concurrency: p.int(env+"CONCURRENCY", 4, 0, 100000),
			MaxWait: c.Limit.MaxWait,
		}
		if rs := getenv(env + "RATE"); rs != "" {
			r, err := ratelimit.ParseRate(rs)
			if err != nil {
				p.errs = append(p.errs, fmt.Errorf("%sRATE: %w", env, err))
			} else {
				s.Limit.Rate, s.RateSet = r, true
			}
		}
		if s.URL != "" {
			if u, err := url.Parse(s.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				p.fail(env+"URL", "(redacted)", "want an http(s) URL")
			}
		}
		c.Subgraphs = append(c.Subgraphs, s)
	}
	cc := cmp.Or(getenv("NFTSYNC_CROSSCHECK_SOURCE"), subgraph.SourcePrefix+"seaport")
	if cc == "none" {
		cc = ""
	}
	c.CrossCheck = jobs.CrossCheck{
		Reference: "opensea", Source: cc,
		Tolerance: p.float("NFTSYNC_CROSSCHECK_TOLERANCE", 0.1, 0),
		MaxAge:    p.duration("NFTSYNC_CROSSCHECK_MAX_AGE", 5*time.Minute, time.Second),
	}
	simNames := cli.SplitList(cmp.Or(getenv("NFTSYNC_SIM_SUBGRAPHS"), "seaport,blur"))
	if len(simNames) == 1 && simNames[0] == "none" {
		simNames = nil
	}
	c.SimSubgraphs = cli.SimSubgraphs{
		Names:            simNames,
		Rate:             p.float("NFTSYNC_SIM_SUBGRAPH_RATE", 20, 0),
		VolumeFactor:     p.float("NFTSYNC_SIM_SUBGRAPH_DISAGREE", 0, 0),
		ThrottleRate:     p.fraction("NFTSYNC_SIM_SUBGRAPH_THROTTLE_RATE"),
		ErrorRate:        p.fraction("NFTSYNC_SIM_SUBGRAPH_ERROR_RATE"),
		GraphQLErrorRate: p.fraction("NFTSYNC_SIM_SUBGRAPH_GRAPHQL_ERROR_RATE"),
		PartialRate:      p.fraction("NFTSYNC_SIM_SUBGRAPH_PARTIAL_RATE"),
	}
}
