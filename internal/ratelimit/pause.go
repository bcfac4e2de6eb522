package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/nftsync/nftsync/db"
	"github.com/nftsync/nftsync/internal/indexer"
)

// observeTimeout bounds the database write Observe makes; Observe has no ctx
// of its own.
const observeTimeout = 2 * time.Second

// statusRateLimitedOpenSea is OpenSea's custom rate-limit status.
const statusRateLimitedOpenSea = 599

// Pause stops the bucket key for every replica until until. until is read
// on the local clock (Options.Now) and turned into a duration that is applied
// on the database clock, so a skewed local clock shifts the pause only by the
// skew between reading the header and this call. See PauseFor.
func (l *Limiter) Pause(ctx context.Context, key string, until time.Time) (time.Time, error) {
	return l.PauseFor(ctx, key, until.Sub(l.now()))
}

// PauseFor stops the bucket key for every replica for d from now (database
// clock), capped at Options.MaxPause; nothing is granted from it before then.
// The bucket then restarts empty and refills at its rate. A pause only ever
// extends an existing one, and a d ≤ 0 does nothing. It returns the pause
// end on the database clock (zero when nothing was done). An unknown key is
// an error wrapping ErrNoBucket.
func (l *Limiter) PauseFor(ctx context.Context, key string, d time.Duration) (time.Time, error) {
	if d <= 0 {
		return time.Time{}, nil
	}
	d = min(d, l.maxPause)
	until, err := l.q.RateLimitPause(ctx, db.RateLimitPauseParams{Key: key, Seconds: d.Seconds()})
	if err != nil {
		if errors.Is(db.Interpret(err), db.ErrNotFound) {
			return time.Time{}, fmt.Errorf("ratelimit: pause %s: %w", key, ErrNoBucket)
		}
		return time.Time{}, fmt.Errorf("ratelimit: pause %s: %w", key, err)
	}
	l.log.InfoContext(ctx, "rate limit bucket paused", slog.String("bucket", key), slog.Duration("for", d),
		slog.Time("until", until))
	return until, nil
}

// PauseOnError pauses the bucket key when err is a rate-limited
// *indexer.Error (429, OpenSea's 599): for its RetryAfter, or
// Options.DefaultPause when the source gave none. It reports whether err was
// a rate limit; other errors leave the bucket alone.
func (l *Limiter) PauseOnError(ctx context.Context, key string, err error) (bool, error) {
	wait, ok := indexer.RetryAfter(err)
	if !ok {
		return false, nil
	}
	if wait <= 0 {
		wait = l.defaultPause
	}
	if _, perr := l.PauseFor(ctx, key, wait); perr != nil {
		return true, perr
	}
	return true, nil
}

// ResponseInfo is what Observe needs from an upstream response; it mirrors
// opensea.ResponseInfo so this package does not depend on a client.
type ResponseInfo struct {
	// Status is the HTTP status code.
	Status int
	// RetryAfter is the parsed Retry-After header, 0 when absent.
	RetryAfter time.Duration
	// Limit is X-RateLimit-Limit, -1 when absent (or unparseable).
	Limit int64
	// Remaining is X-RateLimit-Remaining, -1 when absent.
	Remaining int64
	// Reset is X-RateLimit-Reset as an absolute time (local clock), zero
	// when absent.
	Reset time.Time
	// Malformed quotes the rate-limit headers the client could not parse
	// (their fields above read as absent); Observe logs them.
	Malformed []string
}

// Observe adapts the bucket key to a response's rate-limit headers:
//   - an adaptive bucket (BucketConfig.Adaptive) adopts the budget the key
//     reports, Limit requests per window, the window being the longest time
//     to Reset seen for that limit (see adopt); headers that contradict
//     each other (Limit 0, Remaining above Limit, a Reset more than
//     MaxWindow away) and headers the client could not parse are ignored
//     with a warning naming them, at most one a minute per bucket;
//   - a 429 or 599 pauses it for RetryAfter, else until Reset, else
//     Options.DefaultPause;
//   - any other response reporting Remaining == 0 pauses it until Reset.
//
// It is meant for the OpenSea client's Options.Observe hook, which has no
// ctx and no error result, so Observe bounds its writes by a short timeout
// and logs failures:
//
//	key := ratelimit.KeyFor("opensea", apiKey)
//	opensea.Options{APIKey: apiKey, Observe: func(i opensea.ResponseInfo) {
//		lim.Observe(key, ratelimit.ResponseInfo{Status: i.Status, RetryAfter: i.RetryAfter,
//			Limit: i.Limit, Remaining: i.Remaining, Reset: i.Reset})
//	}}
func (l *Limiter) Observe(key string, info ResponseInfo) {
	now := l.now()
	ctx, cancel := context.WithTimeout(context.Background(), observeTimeout)
	defer cancel()
	l.adopt(ctx, key, info, now)

	untilReset := time.Duration(0)
	if !info.Reset.IsZero() {
		untilReset = info.Reset.Sub(now)
	}
	var d time.Duration
	reason := "remaining_zero"
	switch {
	case info.Status == http.StatusTooManyRequests || info.Status == statusRateLimitedOpenSea:
		reason = "rate_limited"
		d = info.RetryAfter
		if d <= 0 {
			d = untilReset
		}
		if d <= 0 {
			d = l.defaultPause
		}
	case info.Remaining == 0 && untilReset > 0:
		d = untilReset
	default:
		return
	}
	if _, err := l.PauseFor(ctx, key, d); err != nil {
		l.log.WarnContext(ctx, "could not pause rate limit bucket", slog.String("bucket", key),
			slog.String("reason", reason), slog.Any("error", err))
	}
}
