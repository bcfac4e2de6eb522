package cli

import (
	"fmt"
	"log/slog"
	"net/netip"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/nftsync/nftsync/internal/indexer"
	"github.com/nftsync/nftsync/internal/indexer/tokenuri"
	"github.com/nftsync/nftsync/internal/ratelimit"
)

// newTokenURISource builds the token_uri trait source: every request to a
// metadata host or gateway first takes a lease from that host's bucket in
// the shared PostgreSQL limiter, so all replicas together keep each host's
// budget.
func newTokenURISource(cfg *Config, pool *pgxpool.Pool, logger *slog.Logger) (*tokenuri.Source, error) {
	t := cfg.TokenURI
	// A lease is held until the document is read, which one attempt's
	// timeout bounds.
	lim, err := ratelimit.New(pool, ratelimit.Options{
		Logger: logger, MaxWait: cfg.Limit.MaxWait, Holder: cfg.WorkerID,
		LeaseTTL: max(ratelimit.DefaultLeaseTTL, t.Timeout+15*time.Second),
	})
	if err != nil {
		return nil, fmt.Errorf("token_uri rate limiter: %w", err)
	}
	budget, err := ratelimit.NewHostBudget(lim, indexer.TraitSourceTokenURI, t.Host, t.Hosts)
	if err != nil {
		return nil, fmt.Errorf("token_uri budget: %w", err)
	}
	opts := t.Options()
	opts.Budget = budget
	opts.Logger = logger
	src, err := tokenuri.New(opts)
	if err != nil {
		return nil, fmt.Errorf("token_uri source: %w", err)
	}
	logger.Info("upstream budget", slog.String("source", indexer.TraitSourceTokenURI),
		slog.Float64("rate_per_host", t.Host.Rate), slog.Int("burst", t.Host.Burst),
		slog.Int("concurrency", t.Host.MaxInFlight), slog.Int("hosts_configured", len(t.Hosts)),
		slog.Any("ipfs_gateways", t.IPFSGateways), slog.Bool("allow_http", t.AllowHTTP))
	return src, nil
}

// UseSimulator points the token_uri source at the built-in simulator (dev):
// its IPFS gateway path unless gateways were configured, plain http, and
// the loopback networks it listens on; nothing else private is allowed.
func (t *TokenURIConfig) UseSimulator(simURL string) {
	if !t.IPFSGatewaysSet {
		t.IPFSGateways = []string{simURL + "/ipfs/"}
	}
	t.AllowHTTP = true
	t.AllowNets = append(t.AllowNets, netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128"))
	// Every metadata host is the simulator here, which serves metadata
	// without a limit by default: the 5/s meant for a real host would
	// make the first sync of its token_uri collections take many minutes.
	if !t.HostRateSet {
		t.Host.Rate, t.Host.Burst = 200, 100
	}
}
