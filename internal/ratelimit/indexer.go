package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"slices"

	"github.com/nftsync/nftsync/internal/indexer"
)

// Indexer is an indexer.Indexer that draws every upstream call from a
// Limiter. It holds one client per bucket key of its source (one per API
// key) and calls the client of the bucket each lease came from.
type Indexer struct {
	lim     *Limiter
	source  string
	clients map[string]indexer.Indexer
	keys    []string
}

var (
	_ indexer.Indexer      = (*Indexer)(nil)
	_ indexer.TraitSource  = (*Indexer)(nil)
	_ indexer.TraitCounter = (*Indexer)(nil)
)

// NewIndexer returns an Indexer for source whose calls go through lim, with
// clients by bucket key (e.g. {KeyFor("opensea", k1): c1, KeyFor("opensea",
// k2): c2}; a single keyless client is {"opensea": c}). Acquire only
// considers these keys, so buckets another replica configured are never
// picked here. Every key must have a bucket (Ensure) for its calls to be
// served. With no clients every call fails.
//
// Each call takes its class from ctx (ClassFrom), acquires a lease, calls the
// chosen key's client, and releases the lease (also when the call panics).
// When no lease can be had within the limiter's MaxWait the call returns an
// *indexer.Error of ClassRateLimited whose RetryAfter is the wait, so the
// worker snoozes without spending an attempt. When the client itself reports
// a rate limit (429/599), the key's bucket is paused for every replica and
// the client's error is returned unchanged. Other limiter failures
// (database down, no bucket) are returned as plain, hence transient, errors.
func NewIndexer(lim *Limiter, source string, clients map[string]indexer.Indexer) *Indexer {
	return &Indexer{
		lim:     lim,
		source:  source,
		clients: maps.Clone(clients),
		keys:    slices.Sorted(maps.Keys(clients)),
	}
}

// Source returns the source the Indexer was built for.
func (ix *Indexer) Source() string { return ix.source }

// Collection returns the collection's metadata from one of the keys' clients.
func (ix *Indexer) Collection(ctx context.Context, slug string) (*indexer.Collection, error) {
	return call(ctx, ix, "collection "+slug, func(c indexer.Indexer) (*indexer.Collection, error) {
		return c.Collection(ctx, slug)
	})
}

// Stats returns floor price and volumes from one of the keys' clients.
func (ix *Indexer) Stats(ctx context.Context, slug string) (*indexer.Stats, error) {
	return call(ctx, ix, "stats "+slug, func(c indexer.Indexer) (*indexer.Stats, error) {
		return c.Stats(ctx, slug)
	})
}

// Tokens returns one page of tokens from one of the keys' clients. Cursors
// are assumed to be valid with every key of the source.
func (ix *Indexer) Tokens(ctx context.Context, slug, cursor string) (*indexer.TokenPage, error) {
	return call(ctx, ix, "tokens "+slug, func(c indexer.Indexer) (*indexer.TokenPage, error) {
		return c.Tokens(ctx, slug, cursor)
	})
}

// TokenTraits fetches one token's traits through the limiter when the
// source's clients are trait sources (indexer.TraitSource); otherwise it
// fails as ClassPermanent without spending budget.
func (ix *Indexer) TokenTraits(ctx context.Context, ref indexer.TokenRef) (*indexer.TokenMetadata, error) {
	op := "nft " + ref.Contract + "/" + ref.TokenID
	if err := ix.supports(op, func(c indexer.Indexer) bool { _, ok := c.(indexer.TraitSource); return ok }); err != nil {
		return nil, err
	}
	return call(ctx, ix, op, func(c indexer.Indexer) (*indexer.TokenMetadata, error) {
		return c.(indexer.TraitSource).TokenTraits(ctx, ref)
	})
}

// CollectionTraits counts a collection's trait values through the limiter
// when the source's clients can (indexer.TraitCounter); otherwise it fails
// as ClassPermanent without spending budget.
func (ix *Indexer) CollectionTraits(ctx context.Context, slug string) (*indexer.TraitCounts, error) {
	op := "traits " + slug
	if err := ix.supports(op, func(c indexer.Indexer) bool { _, ok := c.(indexer.TraitCounter); return ok }); err != nil {
		return nil, err
	}
	return call(ctx, ix, op, func(c indexer.Indexer) (*indexer.TraitCounts, error) {
		return c.(indexer.TraitCounter).CollectionTraits(ctx, slug)
	})
}

// supports reports a permanent error unless every client passes ok.
func (ix *Indexer) supports(op string, ok func(indexer.Indexer) bool) error {
	for _, k := range ix.keys {
		if !ok(ix.clients[k]) {
			return &indexer.Error{Class: indexer.ClassPermanent, Op: op, Err: fmt.Errorf("source %s does not support this call", ix.source)}
		}
	}
	return nil
}

func call[T any](ctx context.Context, ix *Indexer, op string, fn func(indexer.Indexer) (T, error)) (T, error) {
	var zero T
	if len(ix.keys) == 0 {
		return zero, fmt.Errorf("%s: ratelimit: indexer for %s has no clients", op, ix.source)
	}
	lease, err := ix.lim.Acquire(ctx, Request{Source: ix.source, Class: ClassFrom(ctx), Keys: ix.keys})
	if err != nil {
		var we *WaitError
		if errors.As(err, &we) {
			return zero, &indexer.Error{Class: indexer.ClassRateLimited, Op: op, RetryAfter: we.RetryAfter, Err: err}
		}
		return zero, fmt.Errorf("%s: %w", op, err)
	}
	defer func() {
		if rerr := lease.Release(ctx); rerr != nil {
			ix.lim.log.WarnContext(ctx, "could not release rate limit lease; its slot returns after the lease TTL",
				slog.String("op", op), slog.String("bucket", lease.Key), slog.Any("error", rerr))
		}
	}()
	res, err := fn(ix.clients[lease.Key])
	if err != nil {
		// The pause matters to every replica: make it even when the job's
		// ctx has just been cancelled.
		pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), observeTimeout)
		defer cancel()
		if _, perr := ix.lim.PauseOnError(pctx, lease.Key, err); perr != nil {
			ix.lim.log.WarnContext(ctx, "could not pause rate limit bucket after a rate-limited response",
				slog.String("op", op), slog.String("bucket", lease.Key), slog.Any("error", perr))
		}
		if rejected := keyRejected(err); rejected != nil {
			// 401/403 condemns the API key, not the collection: take the key
			// out of the pool for every replica for a while and let the job
			// retry on another key (or snooze while none is left).
			if perr := ix.lim.RejectKey(pctx, ix.source, lease.Key, rejected.Status); perr != nil {
				ix.lim.log.WarnContext(ctx, "could not take rejected key out of the pool", slog.String("op", op),
					slog.String("bucket", lease.Key), slog.Any("error", perr))
			}
			transient := *rejected
			transient.Class = indexer.ClassTransient
			return res, &transient
		}
	}
	return res, err
}

// keyRejected returns err's *indexer.Error when it is a 401 or 403.
func keyRejected(err error) *indexer.Error {
	var ie *indexer.Error
	if errors.As(err, &ie) && (ie.Status == http.StatusUnauthorized || ie.Status == http.StatusForbidden) {
		return ie
	}
	return nil
}
