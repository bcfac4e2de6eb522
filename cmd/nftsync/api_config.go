package main

import (
	"github.com/nftsync/nftsync/internal/cli"

	"cmp"
	"fmt"
	"net"
	"time"

	"github.com/nftsync/nftsync/internal/api"
)

func (p *envParser) apiConfig() cli.APIConfig {
	d := api.DefaultOptions()
	c := cli.APIConfig{
		Options: api.Options{
			Addr:                          d.Addr,
			AdminTokens:                   cli.SplitList(p.getenv("NFTSYNC_API_ADMIN_TOKENS")),
			ReadTokens:                    cli.SplitList(p.getenv("NFTSYNC_API_READ_TOKENS")),
			CORSOrigins:                   cli.SplitList(p.getenv("NFTSYNC_API_CORS_ORIGINS")),
			MaxDepth:                      p.int("NFTSYNC_API_MAX_DEPTH", d.MaxDepth, 2, 100),
			MaxComplexity:                 p.int("NFTSYNC_API_MAX_COMPLEXITY", d.MaxComplexity, 10, 10000000),
			MaxPageSize:                   p.int("NFTSYNC_API_MAX_PAGE_SIZE", d.MaxPageSize, 1, 10000),
			MaxBodyBytes:                  int64(p.int("NFTSYNC_API_MAX_BODY_BYTES", int(d.MaxBodyBytes), 1024, 64<<20)),
			CacheEntries:                  cacheEntries(p.int("NFTSYNC_API_CACHE_ENTRIES", d.CacheEntries, 0, 1_000_000)),
			MaxSubscriptionsPerConnection: p.int("NFTSYNC_API_WS_MAX_SUBSCRIPTIONS", d.MaxSubscriptionsPerConnection, 1, 10000),
			MaxConnectionsPerToken:        p.int("NFTSYNC_API_WS_MAX_CONNECTIONS", d.MaxConnectionsPerToken, 1, 100000),
			WebsocketKeepAlive:            p.duration("NFTSYNC_API_WS_KEEPALIVE", d.WebsocketKeepAlive, time.Second),
			RequestTimeout:                p.duration("NFTSYNC_API_REQUEST_TIMEOUT", d.RequestTimeout, 100*time.Millisecond),
			ReadTimeout:                   p.duration("NFTSYNC_API_READ_TIMEOUT", d.ReadTimeout, 100*time.Millisecond),
			WriteTimeout:                  p.duration("NFTSYNC_API_WRITE_TIMEOUT", d.WriteTimeout, 100*time.Millisecond),
			IdleTimeout:                   p.duration("NFTSYNC_API_IDLE_TIMEOUT", d.IdleTimeout, time.Second),
			ShutdownTimeout:               p.duration("NFTSYNC_API_SHUTDOWN_TIMEOUT", d.ShutdownTimeout, 0),
		},
		RefreshCooldown: p.duration("NFTSYNC_API_REFRESH_COOLDOWN", time.Minute, 0),
		PoolSize:        p.int("NFTSYNC_API_POOL_SIZE", 20, 2, 1000),
		Actor:           "cli:" + cmp.Or(p.getenv("USER"), "unknown"),
	}
	if a := p.getenv("NFTSYNC_API_ADDR"); a != "" {
		if _, _, err := net.SplitHostPort(a); err != nil {
			p.fail("NFTSYNC_API_ADDR", a, "want host:port, e.g. 127.0.0.1:8080 or :8080")
		}
		c.Options.Addr, c.AddrSet = a, true
	}
	if c.Options.WriteTimeout <= c.Options.RequestTimeout {
		p.errs = append(p.errs, fmt.Errorf("NFTSYNC_API_WRITE_TIMEOUT (%s) must exceed NFTSYNC_API_REQUEST_TIMEOUT (%s), or slow answers are cut off mid-write",
			c.Options.WriteTimeout, c.Options.RequestTimeout))
	}
	for _, tok := range append(append([]string{}, c.Options.AdminTokens...), c.Options.ReadTokens...) {
		if len(tok) < 16 {
			p.errs = append(p.errs, fmt.Errorf("NFTSYNC_API_ADMIN_TOKENS/NFTSYNC_API_READ_TOKENS: every token needs at least 16 characters (one has %d)", len(tok)))
			break
		}
	}
	return c
}

// cacheEntries maps NFTSYNC_API_CACHE_ENTRIES (0 turns the cache off) to
// api.Options.CacheEntries (0 is the default there, negative is off).
func cacheEntries(n int) int {
	if n == 0 {
		return -1
	}
	return n
}
