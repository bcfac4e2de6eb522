package streamer

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nftsync/nftsync/internal/indexer"
	"github.com/nftsync/nftsync/internal/ratelimit"
)

// bootReq asks for a collection's book from REST.
type bootReq struct {
	c    *coll
	slug string
	gen  int64
	// bulk: a bootstrap (queued behind refills), else a refill of a dry
	// book. joined: the bootstrap follows a join, and backfillFrom (when
	// set) is where the sales missed since the last join begin. See
	// fetchBook for the limiter classes.
	bulk         bool
	joined       bool
	backfillFrom time.Time
	// audit: a re-read of a live book (Service.audit): spare class (never
	// waits for budget).
	audit bool
}

// bootResult is a REST answer for the loop.
type bootResult struct {
	req      bootReq
	listings []indexer.Listing
	at       time.Time
	err      error
	retryIn  time.Duration
	// sales read back for the gap; salesDone: the gap was read completely.
	sales     []indexer.Sale
	salesDone bool
}

// bootWorker serves bootstraps and refills through the shared limiter,
// refills of dry books first.
func (s *Service) bootWorker(ctx context.Context) {
	for {
		var req bootReq
		select {
		case <-ctx.Done():
			return
		case req = <-s.bootLive:
		default:
			select {
			case <-ctx.Done():
				return
			case req = <-s.bootLive:
			case req = <-s.bootBulk:
			}
		}
		var res *bootResult
		// A request superseded meanwhile (a newer bootstrap, a gap, or the
		// collection left) makes no call.
		for req.c.gen.Load() == req.gen {
			res = s.fetchBook(ctx, req)
			if ctx.Err() != nil {
				return
			}
			if _, limited := indexer.RetryAfter(res.err); !limited || req.audit {
				break
			}
			// Out of budget: wait here, keeping the queue's order, rather
			// than hand the loop a retry per collection.
			if !sleep(ctx, res.retryIn) {
				return
			}
		}
		if res == nil {
			continue
		}
		s.send(ctx, msg{kind: msgBooted, c: req.c, gen: req.gen, boot: res})
	}
}

// fetchBook reads the collection's K cheapest listings and, after a rejoin,
// the sales since the gap began.
func (s *Service) fetchBook(ctx context.Context, req bootReq) *bootResult {
	res := &bootResult{req: req}
	// Classes: the book's call after a join is the collection's floor
	// refresh while it is not live (the planner polls it meanwhile, under
	// the live class, and stops once it is live), so it competes as live
	// work: under bulk a free key's budget, all taken by those polls, would
	// never let the books warm up. A refill of a dry book is live too. A
	// repair after a reconcile difference (the stream still serves the
	// collection) and the sales backfill are bulk. An audit is spare: it
	// takes only budget nobody else wants (the reconcile, token syncs and
	// polls go first) and never waits.
	class := ratelimit.ClassLive
	switch {
	case req.audit:
		class = ratelimit.ClassSpare
	case req.bulk && !req.joined:
		class = ratelimit.ClassBulk
	}
	cctx := ratelimit.WithClass(ctx, class)
	// The answer is a snapshot taken at some moment of the call: events the
	// book records from the call's start on count as newer than it.
	at := s.opts.Now()
	ls, err := s.opts.Market.BestListings(cctx, req.slug, s.opts.BookSize)
	if s.countCall(err) && req.audit {
		s.stats.audits.Add(1)
	}
	if err != nil {
		res.err = fmt.Errorf("best listings of %s: %w", req.slug, err)
		res.retryIn = retryWait(err)
		return res
	}
	res.listings, res.at = ls, at
	if req.backfillFrom.IsZero() {
		return res
	}
	// The events endpoint takes whole seconds: start a second early, the
	// ledger's unique key drops what is stored already.
	after := req.backfillFrom.Add(-time.Second)
	cctx = ratelimit.WithClass(ctx, ratelimit.ClassBulk)
	cursor := ""
	for range s.opts.BackfillPages {
		page, err := s.opts.Market.Sales(cctx, req.slug, after, cursor)
		s.countCall(err)
		if err != nil {
			s.log.Warn("stream: could not read back the sales of a gap; the ledger restarts from this join",
				"slug", req.slug, "error", err)
			return res
		}
		res.sales = append(res.sales, page.Sales...)
		if page.Next == "" {
			res.salesDone = true
			return res
		}
		cursor = page.Next
	}
	s.log.Warn("stream: a gap had more sales than the backfill reads; the ledger restarts from this join",
		"slug", req.slug, "pages", s.opts.BackfillPages)
	return res
}

// countCall counts a REST call that reached the upstream (err is its
// outcome) and reports whether it did: a refusal of the shared limiter (no
// budget) made none.
func (s *Service) countCall(err error) bool {
	var we *ratelimit.WaitError
	if errors.As(err, &we) {
		return false
	}
	s.stats.restCalls.Add(1)
	return true
}

// retryWait is how long to wait before asking again after err: what a rate
// limit says; ten minutes after a refusal that a retry would meet again
// (an unknown collection, a malformed answer: the planner's polling marks
// the collection failed meanwhile); else a few seconds.
func retryWait(err error) time.Duration {
	if wait, limited := indexer.RetryAfter(err); limited {
		return max(wait, 500*time.Millisecond) + jitter(time.Second)
	}
	switch indexer.ClassOf(err) {
	case indexer.ClassPermanent, indexer.ClassMalformed:
		return 10*time.Minute + jitter(time.Minute)
	}
	return 5*time.Second + jitter(5*time.Second)
}
