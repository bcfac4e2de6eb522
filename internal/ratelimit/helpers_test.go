package ratelimit_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/nftsync/nftsync/db/dbtest"
	"github.com/nftsync/nftsync/internal/ratelimit"
)

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// replicas returns n pools on one fresh migrated database, each standing in
// for a separate process (own connections, own Limiter).
func replicas(t testing.TB, n, conns int) []*pgxpool.Pool {
	t.Helper()
	url := dbtest.NewDatabase(t)
	pools := make([]*pgxpool.Pool, n)
	for i := range pools {
		cfg, err := pgxpool.ParseConfig(url)
		require.NoError(t, err)
		cfg.MaxConns = int32(conns)
		pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
		require.NoError(t, err)
		t.Cleanup(pool.Close)
		pools[i] = pool
	}
	return pools
}

func newLimiter(t testing.TB, pool *pgxpool.Pool, opts ratelimit.Options) *ratelimit.Limiter {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = discardLogger()
	}
	lim, err := ratelimit.New(pool, opts)
	require.NoError(t, err)
	return lim
}

// limiters returns one Limiter per pool, all with opts.
func limiters(t testing.TB, pools []*pgxpool.Pool, opts ratelimit.Options) []*ratelimit.Limiter {
	t.Helper()
	out := make([]*ratelimit.Limiter, len(pools))
	for i, p := range pools {
		out[i] = newLimiter(t, p, opts)
	}
	return out
}

func bucket(t testing.TB, lim *ratelimit.Limiter, key string) ratelimit.BucketState {
	t.Helper()
	src, _, _ := strings.Cut(key, "/")
	all, err := lim.Buckets(context.Background(), src)
	require.NoError(t, err)
	for _, b := range all {
		if b.Key == key {
			return b
		}
	}
	t.Fatalf("bucket %q not found", key)
	return ratelimit.BucketState{}
}

// grant is one lease as seen by a load generator.
type grant struct {
	at  time.Time // database clock
	key string
}

// load runs workers goroutines per limiter that acquire req in a loop until
// d has passed (or stop, when set, is closed), hold each lease for hold (if
// any) and release it. onGrant,
// when set, runs right after each grant and onRelease right before each
// release. It returns every grant sorted by time.
type load struct {
	req       ratelimit.Request
	workers   int
	d         time.Duration
	stop      <-chan struct{}
	hold      func() time.Duration
	onGrant   func(*ratelimit.Lease)
	onRelease func(*ratelimit.Lease)
}

func (ld load) run(t testing.TB, lims []*ratelimit.Limiter) []grant {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), ld.d)
	defer cancel()
	if ld.stop != nil {
		go func() {
			select {
			case <-ld.stop:
				cancel()
			case <-ctx.Done():
			}
		}()
	}
	var (
		mu     sync.Mutex
		grants []grant
		wg     sync.WaitGroup
		errs   = make(chan error, len(lims)*ld.workers)
	)
	for _, lim := range lims {
		for range ld.workers {
			wg.Go(func() {
				for ctx.Err() == nil {
					lease, err := lim.Acquire(ctx, ld.req)
					var we *ratelimit.WaitError
					switch {
					case ctx.Err() != nil:
						continue
					case errors.As(err, &we):
						// What a worker does: snooze the job, come back later.
						sleepCtx(ctx, we.RetryAfter)
						continue
					case err != nil:
						errs <- err
						return
					}
					mu.Lock()
					grants = append(grants, grant{at: lease.GrantedAt, key: lease.Key})
					mu.Unlock()
					if ld.onGrant != nil {
						ld.onGrant(lease)
					}
					if ld.hold != nil {
						time.Sleep(ld.hold())
					}
					if ld.onRelease != nil {
						ld.onRelease(lease)
					}
					if err := lease.Release(context.Background()); err != nil {
						errs <- err
						return
					}
				}
			})
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	slices.SortFunc(grants, func(a, b grant) int { return a.at.Compare(b.at) })
	return grants
}

// maxInWindow returns the most grants in any half-open window [t, t+w)
// (starting at a grant, which is where the maximum is reached).
func maxInWindow(gs []grant, w time.Duration) int {
	best, j := 0, 0
	for i := range gs {
		if j < i {
			j = i
		}
		for j < len(gs) && gs[j].at.Sub(gs[i].at) < w {
			j++
		}
		best = max(best, j-i)
	}
	return best
}

func filterKey(gs []grant, key string) []grant {
	var out []grant
	for _, g := range gs {
		if g.key == key {
			out = append(out, g)
		}
	}
	return out
}

// achievedRate is grants per second between the first grant after the
// initial burst and the last grant.
func achievedRate(gs []grant, burst int) float64 {
	if len(gs) <= burst+1 {
		return 0
	}
	span := gs[len(gs)-1].at.Sub(gs[burst].at).Seconds()
	return float64(len(gs)-burst-1) / span
}

func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
