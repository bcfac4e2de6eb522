// Package shard spreads the stream consumer's collections over replicas
// through PostgreSQL: collections are split into a fixed number of shards
// (collection id modulo the shard count), and each shard is held by at most
// one live replica under a lease in the stream_shards table.
//
// A Manager registers its replica in stream_replicas, renews its leases
// every Renew and, from the live replicas it sees, works out its fair share:
// replicas in name order take floor(shards / replicas) each and the first
// shards % replicas one more, never more than a replica's MaxShards (what
// its API keys allow) with the rest spread over the others. It claims free
// shards up to its share and releases those beyond it, so adding or
// removing a replica rebalances within a renew period or two. A lease not
// renewed for TTL is free to take: a replica killed without a chance to
// release loses its shards to the others within about TTL + Renew. On a
// graceful stop it releases every lease at once.
//
// A replica never believes it holds a shard longer than its lease: when it
// cannot renew (database unreachable) it gives up its shards locally before
// the lease can lapse, so two replicas never serve one shard at once as
// long as their clocks agree within Renew.
package shard

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/nftsync/nftsync/db"
)

// Defaults of Options.
const (
	DefaultTTL   = 20 * time.Second
	DefaultRenew = 5 * time.Second
)

// Options configure a Manager.
type Options struct {
	// Replica names this process; unique among the replicas (e.g. host name
	// and process id). Required.
	Replica string
	// Shards is the number of shards (at least 1). Every replica should use
	// the same count; when it changes, shards beyond the new count are
	// dropped once their holders stop.
	Shards int
	// TTL is how long a lease (and a replica's liveness) lasts without a
	// renewal (DefaultTTL when 0); Renew how often leases are renewed and
	// shares recomputed (DefaultRenew when 0), at most TTL/3.
	TTL, Renew time.Duration
	// MaxShards caps the shards this replica holds (0: no cap): a replica
	// holds one stream connection per shard at most as its keys allow.
	MaxShards int
	// Logger logs lease changes (slog.Default() when nil).
	Logger *slog.Logger
	// Now is the clock (time.Now when nil). Every replica's clock must agree
	// within Renew.
	Now func() time.Time
}

// Manager holds this replica's shard leases. Create it with New and run it
// with Run.
type Manager struct {
	pool *pgxpool.Pool
	q    *db.Queries
	opts Options

	mu        sync.Mutex
	owned     []int
	published bool
	changes   chan []int
}

// New validates opts and returns a Manager; nothing is written before Run.
func New(pool *pgxpool.Pool, opts Options) (*Manager, error) {
	if pool == nil {
		return nil, errors.New("shard: a database pool is required")
	}
	if opts.Replica == "" {
		return nil, errors.New("shard: Options.Replica is required")
	}
	if opts.Shards < 1 {
		return nil, fmt.Errorf("shard: Options.Shards must be at least 1, not %d", opts.Shards)
	}
	if opts.TTL == 0 {
		opts.TTL = DefaultTTL
	}
	if opts.Renew == 0 {
		opts.Renew = DefaultRenew
	}
	if opts.TTL < 0 || opts.Renew < 0 || opts.Renew*3 > opts.TTL {
		return nil, fmt.Errorf("shard: Options.Renew (%s) must be positive and at most a third of TTL (%s)", opts.Renew, opts.TTL)
	}
	if opts.MaxShards < 0 {
		return nil, fmt.Errorf("shard: Options.MaxShards must not be negative, not %d", opts.MaxShards)
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Manager{pool: pool, q: db.New(pool), opts: opts, changes: make(chan []int, 1)}, nil
}

// Owned returns the shards this replica holds now, in ascending order.
func (m *Manager) Owned() []int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.owned)
}

// Changes delivers the new owned set (ascending) after every change. It is
// buffered: a reader that falls behind gets only the latest set.
func (m *Manager) Changes() <-chan []int { return m.changes }

// Run holds leases until ctx is done: it renews and rebalances every Renew,
// and releases every lease on return. Database errors are logged and
// retried at the next tick; while leases cannot be renewed they are given up
// locally before they lapse. It returns nil when ctx ends.
func (m *Manager) Run(ctx context.Context) error {
	ticker := time.NewTicker(m.opts.Renew)
	defer ticker.Stop()
	var validUntil time.Time // the leases written by the last successful tick
	for {
		now := m.opts.Now()
		tctx, cancel := context.WithTimeout(ctx, m.opts.Renew)
		owned, err := m.tick(tctx, now)
		cancel()
		switch {
		case err == nil:
			validUntil = now.Add(m.opts.TTL)
			m.set(owned)
		case ctx.Err() != nil:
		default:
			m.opts.Logger.WarnContext(ctx, "shard: renewing leases failed; retrying", slog.String("replica", m.opts.Replica), slog.Any("error", err))
			// Give the shards up before the lease can lapse and another
			// replica take them: the next tick may end up to two renew
			// periods from now (its wait plus its timeout).
			if !m.opts.Now().Add(2*m.opts.Renew).Before(validUntil) && len(m.Owned()) > 0 {
				m.opts.Logger.ErrorContext(ctx, "shard: leases not renewed in time; serving no shard until the database answers",
					slog.String("replica", m.opts.Replica), slog.Any("shards", m.Owned()))
				m.set(nil)
			}
		}
		select {
		case <-ctx.Done():
			m.release()
			return nil
		case <-ticker.C:
		}
	}
}

// tick renews, computes the fair share and claims or releases to reach it.
func (m *Manager) tick(ctx context.Context, now time.Time) ([]int, error) {
	until := now.Add(m.opts.TTL)
	count := int32(m.opts.Shards)
	var maxShards pgtype.Int4
	if m.opts.MaxShards > 0 {
		maxShards = pgtype.Int4{Int32: int32(m.opts.MaxShards), Valid: true}
	}
	if err := m.q.ShardReplicaHeartbeat(ctx, db.ShardReplicaHeartbeatParams{
		Replica: m.opts.Replica, Now: now, LeaseUntil: until, MaxShards: maxShards}); err != nil {
		return nil, fmt.Errorf("heartbeat: %w", err)
	}
	if err := m.q.ShardEnsure(ctx, db.ShardEnsureParams{Now: now, ShardCount: count}); err != nil {
		return nil, fmt.Errorf("create shard rows: %w", err)
	}
	if err := m.q.ShardPrune(ctx, db.ShardPruneParams{Now: now, ShardCount: count}); err != nil {
		return nil, fmt.Errorf("drop shard rows beyond the count: %w", err)
	}
	live, err := m.q.ShardReplicasLive(ctx, db.ShardReplicasLiveParams{Now: now, GoneBefore: now.Add(-m.opts.TTL)})
	if err != nil {
		return nil, fmt.Errorf("list live replicas: %w", err)
	}
	renewed, err := m.q.ShardRenew(ctx, db.ShardRenewParams{Replica: m.opts.Replica, Now: now, LeaseUntil: until, ShardCount: count})
	if err != nil {
		return nil, fmt.Errorf("renew leases: %w", err)
	}
	owned := ints(renewed)
	share := FairShare(m.opts.Shards, m.opts.Replica, live)
	switch {
	case len(owned) > share:
		extra := owned[share:]
		// Stop serving them before the database says they are free, so
		// the replica that takes them never overlaps with this one.
		m.set(owned[:share])
		if err := m.q.ShardRelease(ctx, db.ShardReleaseParams{Replica: m.opts.Replica, Now: now, Shards: int32s(extra)}); err != nil {
			return nil, fmt.Errorf("release shards beyond the fair share: %w", err)
		}
		owned = owned[:share]
	case len(owned) < share:
		claimed, err := m.q.ShardClaim(ctx, db.ShardClaimParams{Replica: m.opts.Replica, Now: now, LeaseUntil: until,
			ShardCount: count, N: int32(share - len(owned))})
		if err != nil {
			return nil, fmt.Errorf("claim shards: %w", err)
		}
		owned = append(owned, ints(claimed)...)
		slices.Sort(owned)
	}
	return owned, nil
}

// release gives every lease up and removes the replica's row, so the others
// take its shards at their next renewal.
func (m *Manager) release() {
	ctx, cancel := context.WithTimeout(context.Background(), m.opts.Renew)
	defer cancel()
	if err := m.q.ShardReplicaRemove(ctx, db.ShardReplicaRemoveParams{Replica: m.opts.Replica, Now: m.opts.Now()}); err != nil {
		m.opts.Logger.WarnContext(ctx, "shard: releasing leases on stop failed; they lapse after the TTL",
			slog.String("replica", m.opts.Replica), slog.Duration("ttl", m.opts.TTL), slog.Any("error", err))
	}
	m.set(nil)
}

// set records the owned set and publishes it when it changed (the first
// set is always published).
func (m *Manager) set(owned []int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.published && slices.Equal(m.owned, owned) {
		return
	}
	if !slices.Equal(m.owned, owned) {
		m.opts.Logger.Info("shard: owned shards changed", slog.String("replica", m.opts.Replica), slog.Any("shards", owned))
	}
	m.owned = append([]int{}, owned...)
	m.published = true
	select {
	case <-m.changes:
	default:
	}
	m.changes <- slices.Clone(m.owned)
}

// FairShare is the number of shards replica should hold among the live
// replicas (in name order, as ShardReplicasLive returns them): shards split
// evenly, the first shards % n replicas one more, no replica above its
// max_shards and what a capped replica cannot take spread over the others.
// A replica not in live gets 0.
func FairShare(shards int, replica string, live []db.ShardReplicasLiveRow) int {
	share := make(map[string]int, len(live))
	open := make([]db.ShardReplicasLiveRow, 0, len(live))
	open = append(open, live...)
	left := shards
	for len(open) > 0 && left > 0 {
		base, extra := left/len(open), left%len(open)
		capped := false
		next := open[:0:0]
		for i, r := range open {
			want := base
			if i < extra {
				want++
			}
			if r.MaxShards.Valid && int(r.MaxShards.Int32) <= want {
				share[r.Replica] = int(r.MaxShards.Int32)
				left -= int(r.MaxShards.Int32)
				capped = true
				continue
			}
			next = append(next, r)
		}
		if !capped {
			for i, r := range open {
				share[r.Replica] = base
				if i < extra {
					share[r.Replica]++
				}
			}
			break
		}
		open = next
	}
	return share[replica]
}

func ints(xs []int32) []int {
	out := make([]int, len(xs))
	for i, x := range xs {
		out[i] = int(x)
	}
	slices.Sort(out)
	return out
}

func int32s(xs []int) []int32 {
	out := make([]int32, len(xs))
	for i, x := range xs {
		out[i] = int32(x)
	}
	return out
}
