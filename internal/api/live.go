package api

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/nftsync/nftsync/internal/pgnotify"
)

// changeChannel is the PostgreSQL notification channel the data-version
// triggers send on, in the writing transaction (so at its commit): the
// payload is "<collection id> <DataChange>" (nftsync_data_change_kind).
const changeChannel = "nftsync_data_changed"

// hub listens for committed data changes on one connection of its own and
// passes them to the subscriptions of this process. Every API replica has
// its own hub, so every replica sees every change.
//
// A subscriber is never blocked on and never blocks the hub: changes are
// coalesced per subscriber (a set of kinds plus a wake-up), so a slow
// client gets one event that names everything that changed meanwhile.
// When the listening connection is lost, the hub ends every subscription
// (the client is told: the subscription completes) and connects again with
// backoff; subscriptions made meanwhile wait for it.
type hub struct {
	connect func(ctx context.Context) (*pgx.Conn, error)
	logger  *slog.Logger

	mu    sync.Mutex
	subs  map[*hubSub]struct{}
	ready chan struct{} // closed while listening; replaced when the connection is lost
}

// hubSub is one subscription's mailbox.
type hubSub struct {
	all     bool
	ids     map[int64]bool
	wake    chan struct{} // capacity 1
	done    chan struct{} // closed when the hub ends the subscription
	mu      sync.Mutex
	pending map[int64]map[DataChange]bool
}

func newHub(pool *pgxpool.Pool, logger *slog.Logger) *hub {
	cfg := pool.Config().ConnConfig.Copy()
	return &hub{
		connect: func(ctx context.Context) (*pgx.Conn, error) { return pgx.ConnectConfig(ctx, cfg) },
		logger:  logger,
		subs:    map[*hubSub]struct{}{},
		ready:   make(chan struct{}),
	}
}

// run listens until ctx is done.
func (h *hub) run(ctx context.Context) {
	pgnotify.Listen(ctx, h.connect, changeChannel, pgnotify.Options{MinBackoff: 100 * time.Millisecond, MaxBackoff: 5 * time.Second}, pgnotify.Handler{
		Ready: func() {
			h.mu.Lock()
			close(h.ready)
			h.mu.Unlock()
		},
		Notify: func(payload string) {
			idText, kindText, ok := strings.Cut(payload, " ")
			id, perr := strconv.ParseInt(idText, 10, 64)
			kind := DataChange(kindText)
			if !ok || perr != nil || !kind.IsValid() {
				h.logger.WarnContext(ctx, "subscriptions: ignoring a malformed change notification", slog.String("payload", payload))
				return
			}
			h.deliver(id, kind)
		},
		Lost: func(err error, retryIn time.Duration) {
			h.dropAll()
			h.logger.WarnContext(ctx, "subscriptions: lost the database's change notifications; every subscription was ended, reconnecting",
				slog.Any("error", err), slog.Duration("backoff", retryIn))
		},
	})
	h.dropAll()
}

// waitReady waits until the hub listens (subscribing before would miss
// changes committed meanwhile).
func (h *hub) waitReady(ctx context.Context) error {
	h.mu.Lock()
	ready := h.ready
	h.mu.Unlock()
	select {
	case <-ready:
		return nil
	case <-ctx.Done():
		return errors.New("the server is not receiving data changes right now (database unreachable); try again")
	}
}

// subscribe registers a subscription to ids (every collection when all).
func (h *hub) subscribe(all bool, ids []int64) *hubSub {
	s := &hubSub{all: all, ids: map[int64]bool{}, wake: make(chan struct{}, 1), done: make(chan struct{}),
		pending: map[int64]map[DataChange]bool{}}
	for _, id := range ids {
		s.ids[id] = true
	}
	h.mu.Lock()
	h.subs[s] = struct{}{}
	h.mu.Unlock()
	return s
}

func (h *hub) unsubscribe(s *hubSub) {
	h.mu.Lock()
	delete(h.subs, s)
	h.mu.Unlock()
}

func (h *hub) deliver(id int64, kind DataChange) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for s := range h.subs {
		if !s.all && !s.ids[id] {
			continue
		}
		s.mu.Lock()
		if s.pending[id] == nil {
			s.pending[id] = map[DataChange]bool{}
		}
		s.pending[id][kind] = true
		s.mu.Unlock()
		select {
		case s.wake <- struct{}{}:
		default:
		}
	}
}

// dropAll ends every subscription and marks the hub not ready.
func (h *hub) dropAll() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for s := range h.subs {
		close(s.done)
		delete(h.subs, s)
	}
	select {
	case <-h.ready:
		h.ready = make(chan struct{})
	default:
	}
}

// take returns and clears what changed since the last take.
func (s *hubSub) take() map[int64]map[DataChange]bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.pending
	s.pending = map[int64]map[DataChange]bool{}
	return p
}
