package streamer

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
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
// own and reconnects with capped backoff.
func (s *Service) listenTracking(ctx context.Context) {
	cfg := s.db.Config().ConnConfig.Copy()
	backoff := 500 * time.Millisecond
	for ctx.Err() == nil {
		err := s.listenOnce(ctx, cfg)
		if ctx.Err() != nil {
			return
		}
		s.log.Warn("stream: lost the notifications of tracking changes; the collections are read again every reload interval meanwhile",
			slog.Any("error", err), slog.Duration("retry_in", backoff))
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff + time.Duration(rand.Int64N(int64(backoff/2+1)))):
		}
		backoff = min(2*backoff, 30*time.Second)
	}
}

func (s *Service) listenOnce(ctx context.Context, cfg *pgx.ConnConfig) error {
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "LISTEN "+trackingChannel); err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	// Changes committed before LISTEN took effect are read now.
	s.signalTracking()
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return fmt.Errorf("wait for notification: %w", err)
		}
		if idText, kind, ok := strings.Cut(n.Payload, " "); ok && kind == "METADATA" {
			if _, err := strconv.ParseInt(idText, 10, 64); err == nil {
				s.signalTracking()
			}
		}
	}
}

func (s *Service) signalTracking() {
	select {
	case s.tracking <- struct{}{}:
	default: // a reload is due already
	}
}
