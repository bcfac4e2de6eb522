package ratelimit

import (
	"context"
	"errors"
	"log/slog"
	"math"
	"strings"
	"sync"
	"time"

	"github.com/nftsync/nftsync/db"
)

// MaxWindow is the longest rate-limit window Observe accepts from
// X-RateLimit-Reset; a reset further away is taken for a broken header.
// OpenSea documents per-minute and per-hour budgets.
const MaxWindow = 24 * time.Hour

// MinWindow is the shortest window Observe adopts. X-RateLimit-Reset has
// whole seconds, so a shorter one cannot be told from rounding (a token
// bucket that refills within a second reports such resets); those answers
// leave the bucket at its caps or start rate, and Remaining = 0 and 429
// still pause it.
const MinWindow = 2 * time.Second

const (
	// adoptRecheck is how long a Limiter trusts its memory of what it last
	// wrote for a bucket before it asks the database again (another
	// replica, or a reconfiguration, may have changed the row).
	adoptRecheck = time.Minute
	// headerWarnEvery spaces the warnings about inconsistent headers.
	headerWarnEvery = time.Minute
)

// adoptMemo remembers what was last adopted for a bucket, so the answers
// that report the same budget (nearly all) cost no database write.
type adoptMemo struct {
	limit   int64
	window  float64 // seconds
	checked time.Time
	warned  time.Time
}

type adoptions struct {
	mu    sync.Mutex
	byKey map[string]*adoptMemo
}

func (a *adoptions) get(key string) *adoptMemo {
	if a.byKey == nil {
		a.byKey = map[string]*adoptMemo{}
	}
	m, ok := a.byKey[key]
	if !ok {
		m = &adoptMemo{}
		a.byKey[key] = m
	}
	return m
}

// windowSeconds estimates a window from the time to its reset: rounded up to
// whole seconds, as X-RateLimit-Reset has them, except that one second
// above a multiple of 10 s counts as that multiple. Servers round the reset
// up (a 60 s window opened at 12:00:00.4 reports 12:01:01), and windows are
// round (60/m, 600/h); if one really were a second longer (at most a tenth
// more than the estimate), the burst the pacing keeps in hand and the
// Remaining = 0 pause absorb it.
func windowSeconds(toReset time.Duration) float64 {
	w := math.Ceil(toReset.Seconds())
	if r := w - 1; r >= 10 && math.Mod(r, 10) == 0 {
		return r
	}
	return w
}

// adopt hands the budget a response reports to an adaptive bucket. The
// window is the time to Reset, rounded up to whole seconds (Reset has whole
// seconds); the database keeps the longest seen for the limit, since an
// answer in the middle of a window sees only its rest (RateLimitAdopt).
// Responses without the headers change nothing; inconsistent ones are
// logged and ignored.
func (l *Limiter) adopt(ctx context.Context, key string, info ResponseInfo, now time.Time) {
	toReset := info.Reset.Sub(now)
	var why string
	switch {
	case len(info.Malformed) > 0:
		why = "malformed " + strings.Join(info.Malformed, ", ")
	case info.Limit < 0 || info.Reset.IsZero():
		return // no budget reported
	case info.Limit == 0:
		why = "X-RateLimit-Limit is 0"
	case info.Remaining > info.Limit:
		why = "X-RateLimit-Remaining exceeds X-RateLimit-Limit"
	case toReset > MaxWindow:
		why = "X-RateLimit-Reset lies more than " + MaxWindow.String() + " ahead"
	case toReset < MinWindow:
		return // too short to measure, or the window is about to end
	}
	window := windowSeconds(toReset)

	l.adopted.mu.Lock()
	m := l.adopted.get(key)
	if why != "" {
		warn := now.Sub(m.warned) >= headerWarnEvery
		if warn {
			m.warned = now
		}
		l.adopted.mu.Unlock()
		if warn {
			l.log.WarnContext(ctx, "ignoring malformed or inconsistent rate-limit headers; the key keeps its budget",
				slog.String("bucket", key), slog.String("problem", why), slog.Int64("limit", info.Limit),
				slog.Int64("remaining", info.Remaining), slog.Time("reset", info.Reset), slog.Int("status", info.Status))
		}
		return
	}
	if m.limit == info.Limit && window <= m.window && now.Sub(m.checked) < adoptRecheck {
		l.adopted.mu.Unlock()
		return
	}
	l.adopted.mu.Unlock()

	row, err := l.q.RateLimitAdopt(ctx, db.RateLimitAdoptParams{Key: key, ReportedLimit: info.Limit, WindowSeconds: window})
	switch {
	case errors.Is(db.Interpret(err), db.ErrNotFound):
		// Not adaptive, or nothing changed: remember the limit and window.
	case err != nil:
		l.log.WarnContext(ctx, "could not adopt the key's reported rate limit", slog.String("bucket", key), slog.Any("error", err))
		return
	default:
		window = row.ReportedWindow
		l.log.InfoContext(ctx, "rate limit adopted from the key's headers", slog.String("bucket", key),
			slog.Int64("limit", info.Limit), slog.Duration("window", time.Duration(window*float64(time.Second))),
			slog.Float64("rate_per_s", row.Rate), slog.Float64("burst", row.Burst))
	}
	l.adopted.mu.Lock()
	if m.limit != info.Limit {
		m.limit, m.window = info.Limit, 0
	}
	m.window, m.checked = max(m.window, window), now
	l.adopted.mu.Unlock()
}
