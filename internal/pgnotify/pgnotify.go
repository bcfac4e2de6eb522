// Package pgnotify listens to a PostgreSQL notification channel on a
// connection of its own and keeps listening: a lost connection is made
// again with capped, jittered backoff. The API's subscriptions and the
// stream consumer's tracking reloads both hear the data-version triggers'
// notifications through it.
package pgnotify

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/jackc/pgx/v5"
)

// Handler receives what Listen hears. Its functions run on Listen's
// goroutine and must not block for long; nil ones are skipped.
type Handler struct {
	// Ready is called each time the channel is listened to (again):
	// notifications committed before may have been missed.
	Ready func()
	// Notify is called with each notification's payload.
	Notify func(payload string)
	// Lost is called when the connection is lost, before waiting retryIn.
	Lost func(err error, retryIn time.Duration)
}

// Options bound the reconnect backoff: the n-th loss in a row waits
// min(MaxBackoff, MinBackoff×2^(n-1)) plus up to half of it again.
type Options struct {
	MinBackoff, MaxBackoff time.Duration
}

// Listen listens to channel (a plain lower-case identifier, written into
// the LISTEN statement as is) on connections made by connect until ctx is
// done.
func Listen(ctx context.Context, connect func(context.Context) (*pgx.Conn, error), channel string, opts Options, h Handler) {
	backoff := opts.MinBackoff
	for ctx.Err() == nil {
		err := listenOnce(ctx, connect, channel, h)
		if ctx.Err() != nil {
			return
		}
		if h.Lost != nil {
			h.Lost(err, backoff)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff + time.Duration(rand.Int64N(int64(backoff/2+1)))):
		}
		backoff = min(2*backoff, opts.MaxBackoff)
	}
}

func listenOnce(ctx context.Context, connect func(context.Context) (*pgx.Conn, error), channel string, h Handler) error {
	conn, err := connect(ctx)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "LISTEN "+channel); err != nil { // channel: a plain identifier of ours
		return fmt.Errorf("listen: %w", err)
	}
	if h.Ready != nil {
		h.Ready()
	}
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return fmt.Errorf("wait for notification: %w", err)
		}
		if h.Notify != nil {
			h.Notify(n.Payload)
		}
	}
}
