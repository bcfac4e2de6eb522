package main

import (
	"cmp"
	"net/url"
	"time"

	"github.com/nftsync/nftsync/internal/cli"
)

// stream reads the NFTSYNC_STREAM_* variables (see envVars).
func (p *envParser) stream() cli.StreamConfig {
	s := cli.StreamConfig{
		Mode:              cmp.Or(p.getenv("NFTSYNC_STREAM"), "auto"),
		URL:               cmp.Or(p.getenv("NFTSYNC_STREAM_URL"), "wss://stream-api.opensea.io/socket/websocket"),
		BookSize:          p.int("NFTSYNC_STREAM_BOOK_SIZE", 20, 1, 200),
		Shards:            p.int("NFTSYNC_STREAM_SHARDS", 64, 1, 4096),
		ConnectionsPerKey: p.int("NFTSYNC_STREAM_CONNECTIONS_PER_KEY", 2, 1, 64),
		ReconcileInterval: p.duration("NFTSYNC_STREAM_RECONCILE_INTERVAL", 15*time.Minute, time.Minute),
		LeaseTTL:          p.duration("NFTSYNC_STREAM_LEASE_TTL", 20*time.Second, 2*time.Second),
		LeaseRenew:        p.duration("NFTSYNC_STREAM_LEASE_RENEW", 5*time.Second, 500*time.Millisecond),
		FlushInterval:     p.duration("NFTSYNC_STREAM_FLUSH_INTERVAL", 150*time.Millisecond, 10*time.Millisecond),
		TraitsSettle:      p.duration("NFTSYNC_STREAM_TRAITS_SETTLE", 30*time.Second, 0),
		AuditRate:         p.float("NFTSYNC_STREAM_AUDIT_RATE", 10, 0),
		AuditMinInterval:  p.duration("NFTSYNC_STREAM_AUDIT_MIN_INTERVAL", 2*time.Second, 100*time.Millisecond),
	}
	s.URLSet = p.getenv("NFTSYNC_STREAM_URL") != ""
	switch s.Mode {
	case "auto", "on", "off":
	default:
		p.fail("NFTSYNC_STREAM", s.Mode, "want on, off or auto")
	}
	if u, err := url.Parse(s.URL); err != nil || (u.Scheme != "ws" && u.Scheme != "wss" && u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		p.fail("NFTSYNC_STREAM_URL", s.URL, "want a ws(s) URL such as wss://stream-api.opensea.io/socket/websocket")
	}
	if s.LeaseRenew*2 > s.LeaseTTL {
		p.fail("NFTSYNC_STREAM_LEASE_RENEW", s.LeaseRenew.String(), "want at most half of NFTSYNC_STREAM_LEASE_TTL ("+s.LeaseTTL.String()+"), or a slow renewal loses the lease")
	}
	return s
}
