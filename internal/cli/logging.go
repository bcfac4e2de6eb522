package cli

import (
	"context"
	"io"
	"log/slog"
	"strings"
)

func NewLogger(cfg *Config, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: cfg.LogLevel}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// riverLogger is the logger handed to River: logger, except that River's
// periodic chatter at INFO ("Producer job counts" every 5 s per queue, the
// maintenance services' "Ran successfully") is logged at DEBUG. River's
// other INFO records (client started and stopped, a job errored and will be
// retried) and everything at WARN and above pass unchanged.
func riverLogger(logger *slog.Logger) *slog.Logger {
	return slog.New(demoteHandler{inner: logger.Handler(), demote: isRiverChatter})
}

// isRiverChatter matches River's periodic INFO messages (river v0.51:
// producer.go heartbeatLogLoop, riversharedmaintenance.LogPrefixRanSuccessfully).
func isRiverChatter(msg string) bool {
	return strings.HasSuffix(msg, ": Producer job counts") || strings.Contains(msg, ": Ran successfully")
}

// demoteHandler logs INFO records whose message matches demote at DEBUG.
type demoteHandler struct {
	inner  slog.Handler
	demote func(msg string) bool
}

// Enabled reports INFO as enabled while DEBUG is, since an INFO record may
// turn into a DEBUG one; Handle then decides.
func (h demoteHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.inner.Enabled(ctx, l) || (l == slog.LevelInfo && h.inner.Enabled(ctx, slog.LevelDebug))
}

func (h demoteHandler) Handle(ctx context.Context, r slog.Record) error {
	if r.Level == slog.LevelInfo && h.demote(r.Message) {
		r.Level = slog.LevelDebug
	}
	if !h.inner.Enabled(ctx, r.Level) {
		return nil
	}
	return h.inner.Handle(ctx, r)
}

func (h demoteHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return demoteHandler{inner: h.inner.WithAttrs(attrs), demote: h.demote}
}

func (h demoteHandler) WithGroup(name string) slog.Handler {
	return demoteHandler{inner: h.inner.WithGroup(name), demote: h.demote}
}
