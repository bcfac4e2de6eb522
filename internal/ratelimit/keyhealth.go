package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/nftsync/nftsync/db"
)

// DefaultKeyRejectedPause is how long a key that upstream answered 401 or
// 403 stays out of the pool when Options.KeyRejectedPause is 0. It is not
// capped by Options.MaxPause, which bounds pauses upstream asks for.
const DefaultKeyRejectedPause = 10 * time.Minute

// KeyHealth says whether a source has a usable API key.
type KeyHealth struct {
	Source string
	// Keys is the number of the source's keys (buckets); Rejected how many
	// of them upstream rejected and are still out of the pool.
	Keys, Rejected int
	// BackAt is when the first rejected key returns to the pool (zero when
	// none is rejected).
	BackAt time.Time
}

// NoUsableKey reports whether upstream rejected every key of the source:
// nothing can be fetched from it until BackAt, and every job of the source
// snoozes meanwhile.
func (h KeyHealth) NoUsableKey() bool { return h.Keys > 0 && h.Rejected == h.Keys }

// String describes the state for operators, e.g. "no usable key until
// 2026-11-30T15:04:05Z (1 of 1 rejected)".
func (h KeyHealth) String() string {
	switch {
	case h.NoUsableKey():
		return fmt.Sprintf("no usable key until %s (%d of %d rejected)", h.BackAt.UTC().Format(time.RFC3339), h.Rejected, h.Keys)
	case h.Rejected > 0:
		return fmt.Sprintf("ok (%d of %d keys rejected)", h.Rejected, h.Keys)
	}
	return "ok"
}

// KeyHealth returns the source's key state; metrics, the CLI and the
// worker's own logging read it.
func (l *Limiter) KeyHealth(ctx context.Context, source string) (KeyHealth, error) {
	row, err := l.q.RateLimitKeyHealth(ctx, source)
	if err != nil {
		return KeyHealth{}, fmt.Errorf("ratelimit: key health of %s: %w", source, err)
	}
	h := KeyHealth{Source: source, Keys: int(row.Keys), Rejected: int(row.Rejected)}
	if h.Rejected > 0 {
		h.BackAt = l.now().Add(time.Duration(row.BackInSeconds * float64(time.Second)))
	}
	return h, nil
}

// RejectKey takes the bucket key out of the pool for every replica for
// Options.KeyRejectedPause because upstream rejected its API key (401 or
// 403). The call that starts the pause (the key was usable until then) logs
// it at ERROR, once per pause cluster-wide; when the source then has no
// usable key left, it also logs that at ERROR and calls
// Options.OnNoUsableKey. Later calls during the pause extend it quietly.
func (l *Limiter) RejectKey(ctx context.Context, source, key string, status int) error {
	row, err := l.q.RateLimitRejectKey(ctx, db.RateLimitRejectKeyParams{Key: key, Seconds: l.keyRejectedPause.Seconds()})
	if err != nil {
		if errors.Is(db.Interpret(err), db.ErrNotFound) {
			return fmt.Errorf("ratelimit: reject key %s: %w", key, ErrNoBucket)
		}
		return fmt.Errorf("ratelimit: reject key %s: %w", key, err)
	}
	if !row.First {
		l.log.DebugContext(ctx, "rejected key already out of the pool", slog.String("bucket", key), slog.Time("until", row.Until))
		return nil
	}
	l.log.ErrorContext(ctx, "upstream rejected an API key; key out of the pool", slog.String("bucket", key),
		slog.Int("status", status), slog.Duration("pause", l.keyRejectedPause), slog.Time("until", row.Until))
	h, err := l.KeyHealth(ctx, source)
	if err != nil {
		return err
	}
	if h.NoUsableKey() {
		l.log.ErrorContext(ctx, "no usable API key: upstream rejected every key of the source; its jobs wait",
			slog.String("source", source), slog.Int("keys", h.Keys), slog.Time("until", h.BackAt))
		if l.onNoUsableKey != nil {
			l.onNoUsableKey(source, h.BackAt)
		}
	}
	return nil
}
