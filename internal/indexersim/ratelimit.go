package indexersim

import (
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// unitsPerToken is the fixed-point scale of bucket levels: with integral
// rates and clock steps in whole nanoseconds refills are exact.
const unitsPerToken = int64(time.Second)

// bucket is a token bucket: it holds up to capacity tokens and gains rate
// tokens per second. It starts full.
type bucket struct {
	rate     float64 // tokens per second
	capacity int64   // tokens
	level    int64   // units (tokens * unitsPerToken)
	last     time.Time
	started  bool
}

func newBucket(rate float64, capacity int) *bucket {
	return &bucket{rate: rate, capacity: int64(max(capacity, 1))}
}

// refill adds the tokens earned since the last call. A clock going
// backwards earns nothing.
func (b *bucket) refill(now time.Time) {
	if !b.started {
		b.started, b.level, b.last = true, b.capacity*unitsPerToken, now
		return
	}
	if d := now.Sub(b.last); d > 0 {
		add := math.Round(float64(d) * b.rate)
		b.level = min(b.capacity*unitsPerToken, b.level+int64(min(add, math.MaxInt64/2)))
		b.last = now
	}
}

// wait returns how long until a token is available; 0 if one is.
func (b *bucket) wait() time.Duration {
	missing := unitsPerToken - b.level
	if missing <= 0 {
		return 0
	}
	return time.Duration(math.Ceil(float64(missing) / b.rate))
}

// remaining is the number of whole tokens left.
func (b *bucket) remaining() int64 { return b.level / unitsPerToken }

// fullAt is when the bucket will be full again.
func (b *bucket) fullAt(now time.Time) time.Time {
	missing := b.capacity*unitsPerToken - b.level
	return now.Add(time.Duration(math.Ceil(float64(missing) / b.rate)))
}

// Tier is a key's documented budget: Limit requests per Window, counted in
// fixed windows. OpenSea's free tier is 60 reads a minute in its spec's
// example (api-types opensea-api.json, rate_limits.read "60/m") and 600 an
// hour on its docs page (reference/api-keys.md, 2026-09), which tells
// clients to size themselves from X-RateLimit-Limit, X-RateLimit-Remaining
// and X-RateLimit-Reset (a Unix epoch) instead of a fixed number. How the
// live API places its windows is not documented [unverified]; the
// simulator opens a key's window at its first request after the previous
// one ended (the GitHub-style fixed window), so a client cannot assume they
// are aligned to the clock.
type Tier struct {
	Limit  int
	Window time.Duration
}

// Documented tiers (see Tier).
var (
	TierPerMinute = Tier{Limit: 60, Window: time.Minute} //nolint:gochecknoglobals // a constant value that Go cannot declare const
	TierPerHour   = Tier{Limit: 600, Window: time.Hour}  //nolint:gochecknoglobals // a constant value that Go cannot declare const
)

// IsZero reports whether t sets no budget.
func (t Tier) IsZero() bool { return t.Limit == 0 }

// String renders t as ParseTier reads it, e.g. "60/1m0s"; "off" for none.
func (t Tier) String() string {
	if t.IsZero() {
		return "off"
	}
	return strconv.Itoa(t.Limit) + "/" + t.Window.String()
}

// ParseTier reads a tier such as "60/m", "600/h", "60/10s" or "off" (no
// tier; also the empty string): a positive whole number of requests per
// s, m, h or a positive Go duration.
func ParseTier(s string) (Tier, error) {
	s = strings.TrimSpace(s)
	if s == "" || s == "off" {
		return Tier{}, nil
	}
	bad := func(why string) (Tier, error) {
		return Tier{}, fmt.Errorf("tier %q: %s (want N/m, N/h, N/<duration> such as 60/m, 600/h or 60/10s, or off)", s, why)
	}
	num, unit, ok := strings.Cut(s, "/")
	if !ok {
		return bad("missing /window")
	}
	n, err := strconv.Atoi(strings.TrimSpace(num))
	if err != nil || n < 1 {
		return bad("the request count must be a positive whole number")
	}
	var w time.Duration
	switch u := strings.TrimSpace(unit); u {
	case "s":
		w = time.Second
	case "m":
		w = time.Minute
	case "h":
		w = time.Hour
	default:
		if w, err = time.ParseDuration(u); err != nil || w <= 0 {
			return bad("unknown window " + strconv.Quote(u))
		}
	}
	return Tier{Limit: n, Window: w}, nil
}

// window is one key's current fixed window of a Tier.
type window struct {
	end  time.Time
	used int
}

// limiter holds the global bucket, one bucket per API key and each key's
// tier window. They use the injected clock, so tests with a fake clock
// control refills exactly.
type limiter struct {
	mu          sync.Mutex
	global      *bucket // nil when unlimited
	perKeyRate  float64 // 0 when there is no per-key limit
	perKeyBurst int
	keys        map[string]*bucket
	tier        Tier
	windows     map[string]*window
}

func newLimiter(cfg Config) *limiter {
	l := &limiter{perKeyRate: cfg.PerKeyRate, perKeyBurst: cfg.PerKeyBurst, keys: map[string]*bucket{},
		tier: cfg.Tier, windows: map[string]*window{}}
	if cfg.Rate > 0 {
		l.global = newBucket(cfg.Rate, cfg.Burst)
	}
	return l
}

// decision is the outcome of limiter.allow. bucket is the bucket the
// X-RateLimit-* headers describe (nil when no limit is configured): the one
// that refused, or the one with the fewest tokens left.
type decision struct {
	ok         bool
	retryAfter time.Duration
	bucket     *bucket
	limit      int64
	remaining  int64
	reset      time.Time
	tiered     bool // the headers describe the key's Tier
}

// allow takes one token from the global bucket and from key's bucket, or
// from neither when either is empty.
func (l *limiter) allow(key string, now time.Time) decision {
	l.mu.Lock()
	defer l.mu.Unlock()
	buckets := make([]*bucket, 0, 2)
	if l.global != nil {
		buckets = append(buckets, l.global)
	}
	if l.perKeyRate > 0 {
		b, ok := l.keys[key]
		if !ok {
			b = newBucket(l.perKeyRate, l.perKeyBurst)
			l.keys[key] = b
		}
		buckets = append(buckets, b)
	}
	d := decision{ok: true}
	for _, b := range buckets {
		b.refill(now)
		if w := b.wait(); w > d.retryAfter {
			d.ok, d.retryAfter, d.bucket = false, w, b
		}
	}
	if d.ok {
		for _, b := range buckets {
			b.level -= unitsPerToken
			if d.bucket == nil || b.remaining() < d.bucket.remaining() {
				d.bucket = b
			}
		}
	}
	if d.bucket != nil {
		d.limit, d.remaining, d.reset = d.bucket.capacity, d.bucket.remaining(), d.bucket.fullAt(now)
	}
	if !l.tier.IsZero() {
		l.tierAllow(&d, key, now)
	}
	return d
}

// tierAllow applies key's tier after the buckets: a request the buckets
// admitted counts against the key's window unless the window is used up,
// and the headers describe the tier (Limit, what is left of the window, and
// its end), as OpenSea's do.
func (l *limiter) tierAllow(d *decision, key string, now time.Time) {
	w, ok := l.windows[key]
	if !ok || !now.Before(w.end) {
		w = &window{end: now.Add(l.tier.Window)}
		l.windows[key] = w
	}
	if d.ok {
		if w.used < l.tier.Limit {
			w.used++
		} else {
			// The buckets' tokens stay taken: a refused request costs the
			// client its place either way.
			d.ok, d.retryAfter = false, w.end.Sub(now)
		}
	}
	d.tiered = true
	d.limit, d.remaining, d.reset = int64(l.tier.Limit), int64(l.tier.Limit-w.used), w.end
}

// setHeaders writes X-RateLimit-Limit/Remaining/Reset (Reset as Unix
// seconds, rounded up) and, for a refusal, Retry-After in whole seconds
// (at least 1).
func (d decision) setHeaders(h http.Header) {
	if d.bucket == nil && !d.tiered {
		return
	}
	h.Set("X-RateLimit-Limit", strconv.FormatInt(d.limit, 10))
	h.Set("X-RateLimit-Remaining", strconv.FormatInt(d.remaining, 10))
	h.Set("X-RateLimit-Reset", strconv.FormatInt(ceilUnix(d.reset), 10))
	if !d.ok {
		h.Set("Retry-After", strconv.Itoa(retryAfterSeconds(d.retryAfter)))
	}
}

// retryAfterSeconds rounds a wait up to whole seconds, at least 1.
func retryAfterSeconds(d time.Duration) int {
	return max(1, int(math.Ceil(d.Seconds())))
}

func ceilUnix(t time.Time) int64 {
	s := t.Unix()
	if t.Nanosecond() > 0 {
		s++
	}
	return s
}
