package streamer

import (
	"context"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/nftsync/nftsync/internal/pgnotify"
)

// trackingChannel is the channel the data-version triggers notify on
// commit ("<collection id> <kind>", functions.sql); a change of kind
// METADATA is a change of the collections row: tracked, untracked, paused,
// moved to another source.
const trackingChannel = "nftsync_data_changed"

// trackingDebounce gathers the notifications of one burst (tracking
// hundreds of collections in one statement) into one reload.
const trackingDebounce = 200 * time.Millisecond

// listenTracking tells the loop (s.tracking) when a collection row changed,
// so tracking and untracking join and leave topics within a fraction of a
// second instead of at the next ReloadInterval, which stays the fallback
// while the listening connection is lost. It holds one connection of its
// own.
func (s *Service) listenTracking(ctx context.Context) {
	cfg := s.db.Config().ConnConfig.Copy()
	connect := func(ctx context.Context) (*pgx.Conn, error) { return pgx.ConnectConfig(ctx, cfg) }
	pgnotify.Listen(ctx, connect, trackingChannel, pgnotify.Options{MinBackoff: 500 * time.Millisecond, MaxBackoff: 30 * time.Second}, pgnotify.Handler{
		// Changes committed before LISTEN took effect are read now.
		Ready: s.signalTracking,
		Notify: func(payload string) {
			if idText, kind, ok := strings.Cut(payload, " "); ok && kind == "METADATA" {
				if _, err := strconv.ParseInt(idText, 10, 64); err == nil {
					s.signalTracking()
				}
			}
		},
		Lost: func(err error, retryIn time.Duration) {
			s.log.Warn("stream: lost the notifications of tracking changes; the collections are read again every reload interval meanwhile",
				slog.Any("error", err), slog.Duration("retry_in", retryIn))
		},
	})
}

func (s *Service) signalTracking() {
	select {
	case s.tracking <- struct{}{}:
	default: // a reload is due already
	}
}
