package indexersim

import (
	"math"
	"net/http"
	"strconv"
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

// limiter holds the global bucket and one bucket per API key. Buckets use
// the injected clock, so tests with a fake clock control refills exactly.
type limiter struct {
	mu          sync.Mutex
	global      *bucket // nil when unlimited
	perKeyRate  float64 // 0 when there is no per-key limit
	perKeyBurst int
	keys        map[string]*bucket
}

func newLimiter(cfg Config) *limiter {
	l := &limiter{perKeyRate: cfg.PerKeyRate, perKeyBurst: cfg.PerKeyBurst, keys: map[string]*bucket{}}
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
	return d
}

// setHeaders writes X-RateLimit-Limit/Remaining/Reset (Reset as Unix
// seconds, rounded up) and, for a refusal, Retry-After in whole seconds
// (at least 1).
func (d decision) setHeaders(h http.Header) {
	if d.bucket == nil {
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
