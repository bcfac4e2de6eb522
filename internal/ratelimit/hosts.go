package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"strings"
	"sync"
	"time"

	"github.com/nftsync/nftsync/internal/indexer"
)

// HostLimit is the budget of one host across all replicas.
type HostLimit struct {
	Rate        float64 // requests per second
	Burst       int
	MaxInFlight int // 0 = no cap
}

// HostBudget budgets requests by host name rather than by API key: a
// token's own metadata server, an IPFS or Arweave gateway. Each host gets
// its own bucket, "<prefix>/<host>" (its own source too, so nothing is
// pooled across hosts), created on first use with the host's limit: the
// entry in hosts, else the default. Buckets take no bulk reserve: nothing
// but bulk trait fetches uses them.
//
// It implements tokenuri.Budget: Acquire waits for a lease like
// Limiter.Acquire (at most Options.MaxWait) and returns an *indexer.Error
// of ClassRateLimited when none came, and Throttled pauses a host for every
// replica after it answered 429. It is safe for concurrent use.
type HostBudget struct {
	lim    *Limiter
	prefix string
	def    HostLimit
	hosts  map[string]HostLimit

	mu      sync.Mutex
	ensured map[string]bool
}

// NewHostBudget returns a HostBudget on lim whose bucket keys start with
// prefix (e.g. "token_uri"). Host names in hosts are matched lower-cased.
// It fails on a limit that would make an invalid bucket.
func NewHostBudget(lim *Limiter, prefix string, def HostLimit, hosts map[string]HostLimit) (*HostBudget, error) {
	if lim == nil || prefix == "" {
		return nil, errors.New("ratelimit: host budget needs a limiter and a key prefix")
	}
	b := &HostBudget{lim: lim, prefix: prefix, def: def, hosts: map[string]HostLimit{}, ensured: map[string]bool{}}
	var errs []error
	if err := b.config("default", def).Validate(); err != nil {
		errs = append(errs, err)
	}
	for h, l := range hosts {
		h = strings.ToLower(h)
		if err := b.config(h, l).Validate(); err != nil {
			errs = append(errs, err)
		}
		b.hosts[h] = l
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return b, nil
}

// Key returns the bucket key of host.
func (b *HostBudget) Key(host string) string { return b.prefix + "/" + strings.ToLower(host) }

// Hosts returns the configured per-host limits (not the default).
func (b *HostBudget) Hosts() map[string]HostLimit { return maps.Clone(b.hosts) }

func (b *HostBudget) config(host string, l HostLimit) BucketConfig {
	key := b.Key(host)
	return BucketConfig{Key: key, Source: key, Rate: l.Rate, Burst: l.Burst, MaxInFlight: l.MaxInFlight}
}

// ensure creates host's bucket once per process.
func (b *HostBudget) ensure(ctx context.Context, host string) error {
	b.mu.Lock()
	done := b.ensured[host]
	b.mu.Unlock()
	if done {
		return nil
	}
	l, ok := b.hosts[host]
	if !ok {
		l = b.def
	}
	if err := b.lim.Ensure(ctx, []BucketConfig{b.config(host, l)}); err != nil {
		return err
	}
	b.mu.Lock()
	b.ensured[host] = true
	b.mu.Unlock()
	return nil
}

// Acquire takes a lease for one request to host (class from ctx, see
// WithClass) and returns the function that releases it.
func (b *HostBudget) Acquire(ctx context.Context, host string) (func(), error) {
	host = strings.ToLower(host)
	if host == "" || len(host) > 255 {
		return nil, fmt.Errorf("ratelimit: host budget: invalid host %q", host)
	}
	op := "budget " + host
	if err := b.ensure(ctx, host); err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	key := b.Key(host)
	lease, err := b.lim.Acquire(ctx, Request{Source: key, Class: ClassFrom(ctx), Keys: []string{key}})
	if err != nil {
		var we *WaitError
		if errors.As(err, &we) {
			return nil, &indexer.Error{Class: indexer.ClassRateLimited, Op: op, RetryAfter: we.RetryAfter, Err: err}
		}
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	return func() {
		if rerr := lease.Release(ctx); rerr != nil {
			b.lim.log.WarnContext(ctx, "could not release host budget lease; its slot returns after the lease TTL",
				slog.String("bucket", key), slog.Any("error", rerr))
		}
	}, nil
}

// Throttled pauses host's bucket for every replica for wait (the limiter's
// DefaultPause when 0), after host answered 429.
func (b *HostBudget) Throttled(ctx context.Context, host string, wait time.Duration) {
	if wait <= 0 {
		wait = b.lim.defaultPause
	}
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), observeTimeout)
	defer cancel()
	if _, err := b.lim.PauseFor(pctx, b.Key(host), wait); err != nil {
		b.lim.log.WarnContext(ctx, "could not pause a throttling host", slog.String("bucket", b.Key(host)), slog.Any("error", err))
	}
}
