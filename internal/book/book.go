package book

import (
	"cmp"
	"fmt"
	"math"
	"math/big"
	"slices"
	"strings"
	"time"

	"github.com/nftsync/nftsync/internal/indexer"
)

// minRecent is the least number of recently dropped listings kept.
const minRecent = 16

// Defaults of Options.
const (
	DefaultDecimals      = 18
	DefaultMaxTombstones = 448
	DefaultTombstoneTTL  = 6 * time.Hour
)

// Options configures a Book. Zero fields take the defaults.
type Options struct {
	// K is how many of the cheapest listings the book keeps (≥ 1).
	K int
	// Currency is the floor's currency symbol, e.g. "ETH".
	Currency string
	// Decimals of Currency; Floor rounds down to them. Default 18 (a
	// currency without decimals cannot be configured; OpenSea prices in
	// none).
	Decimals int32
	// MaxTombstones bounds the order records (tombstones and versions of
	// orders the book holds no listing for): the oldest is forgotten first.
	// Default 448, which fills a 512-slot map: about 50 bytes each.
	MaxTombstones int
	// TombstoneTTL forgets records older than this. Default 6 h.
	TombstoneTTL time.Duration
	// MaxAside bounds the invalidated listings kept for a revalidation.
	// Default K. Past it the oldest loses its listing (a later
	// revalidation of it makes the book Uncertain).
	MaxAside int
}

// Result says what one call did.
type Result struct {
	// Applied: the event was newer than what the book knew of the order
	// and was taken into account (it may have changed nothing).
	Applied bool
	// Duplicate: the book already saw this version of the order.
	Duplicate bool
	// Stale: the book already saw a newer version of the order.
	Stale bool
	// FloorChanged: Floor's answer differs from before the call.
	FloorChanged bool
	// NeedsRefill: the book is empty and does not know that the collection
	// has no listing (the state after the call; it stays true until
	// Reset). One REST call (Reset) refills it.
	NeedsRefill bool
	// Uncertain: an order whose price the book does not know may be
	// active, so the floor may be too high (the state after the call; it
	// stays true until Reset). A refill clears it; it can wait for the
	// reconcile schedule.
	Uncertain bool
	// Ignored says why a listing was left out, "" otherwise.
	Ignored Reason
	// Err describes malformed input (Ignored is ReasonInvalid).
	Err error
}

// Reason is why a listing is left out of the book.
type Reason string

// Reasons of Result.Ignored.
const (
	ReasonPrivate Reason = "private" // reserved for one buyer
	ReasonExpired Reason = "expired" // expiration date passed
	ReasonNoRate  Reason = "no_rate" // other currency without a usable rate
	ReasonInvalid Reason = "invalid" // malformed (see Result.Err)
)

// Stats are counters since New, for metrics.
type Stats struct {
	// Events counts the event calls (not Expire nor Reset); Applied,
	// Duplicates and Stale split them as Result does.
	Events, Applied, Duplicates, Stale uint64
	// Listings left out, by Reason (in events and REST answers alike).
	Private, Expired, NoRate, Invalid uint64
	// Resets counts REST answers; Evicted the entries pushed out by a
	// cheaper listing.
	Resets, Evicted uint64
}

// entry is one listing the book holds data for: in the book, among the
// recently dropped, or aside (invalidated).
type entry struct {
	fp      uint64
	l       indexer.Listing
	key     *big.Rat // unit price in the book's currency
	version int64
	at      int64 // book time (unix ns) of the event that set it
}

// Book is the top-K book of one collection. See the package doc for the
// invariant it keeps.
type Book struct {
	k        int
	currency string
	decimals int32
	maxAside int

	entries []entry // the book, cheapest first, at most k
	// bound is W of the invariant; nil means +∞ (the book knows every
	// listing).
	bound *big.Rat
	// recent holds listings dropped (dearer than W, or evicted) lately, a
	// ring of max(K, minRecent): a Reset whose answer predates them takes
	// them back, and their versions are known while they are here.
	recent     []entry
	recentNext int
	recentLost int64 // latest at of a recent listing the ring overwrote
	aside      []entry
	recs       records

	rate       *big.Rat // ETH per unit of the book's currency; nil unknown
	now        int64
	nextExpiry int64 // 0: nothing expires
	uncertain  bool
	// transfers are the latest item_transferred events (a ring of
	// maxTransfers): a REST answer taken before one arrived may still list
	// the orders it took out (see Transferred).
	transfers    []transfer
	transferNext int
	movedAt      int64 // latest book time a listing went aside for a transfer

	floor    indexer.Money
	hasFloor bool
	stats    Stats
}

// New returns an empty book keeping the k cheapest listings with its floor
// in currency (18 decimals). It needs a Reset before it knows anything:
// until then NeedsRefill is true. It panics when k < 1.
func New(k int, currency string) *Book {
	return NewWithOptions(Options{K: k, Currency: currency})
}

// NewWithOptions is New with every option.
func NewWithOptions(o Options) *Book {
	if o.K < 1 {
		panic(fmt.Sprintf("book: K must be at least 1, got %d", o.K))
	}
	if o.Decimals == 0 {
		o.Decimals = DefaultDecimals
	}
	o.MaxTombstones = cmp.Or(o.MaxTombstones, DefaultMaxTombstones)
	o.TombstoneTTL = cmp.Or(o.TombstoneTTL, DefaultTombstoneTTL)
	o.MaxAside = cmp.Or(o.MaxAside, o.K)
	b := &Book{
		k:        o.K,
		currency: o.Currency,
		decimals: o.Decimals,
		maxAside: o.MaxAside,
		entries:  make([]entry, 0, o.K+1),
		bound:    new(big.Rat), // nothing known yet
		recent:   make([]entry, 0, max(o.K, minRecent)),
		recs:     newRecords(o.MaxTombstones, int64(o.TombstoneTTL)),
	}
	if ethLike(o.Currency) {
		b.rate = big.NewRat(1, 1)
	}
	return b
}

// Floor returns the cheapest entry's unit price in the book's currency,
// rounded down to its decimals; false when the book is empty. It is the
// collection's true floor while NeedsRefill and Uncertain are false and
// no event was missed.
func (b *Book) Floor() (indexer.Money, bool) { return b.floor, b.hasFloor }

// Len is the number of entries (at most K).
func (b *Book) Len() int { return len(b.entries) }

// Cheapest returns the listing that makes the floor; false when empty.
func (b *Book) Cheapest() (indexer.Listing, bool) {
	if len(b.entries) == 0 {
		return indexer.Listing{}, false
	}
	return b.entries[0].l, true
}

// Entries returns the book's listings, cheapest first (a copy).
func (b *Book) Entries() []indexer.Listing {
	ls := make([]indexer.Listing, len(b.entries))
	for i, e := range b.entries {
		ls[i] = e.l
	}
	return ls
}

// Complete reports whether the book knows every active listing of the
// collection (its last REST answer held fewer than K and no entry was
// evicted since).
func (b *Book) Complete() bool { return b.bound == nil }

// NeedsRefill reports whether the book is empty without knowing that the
// collection has no listing.
func (b *Book) NeedsRefill() bool { return len(b.entries) == 0 && b.bound != nil }

// Uncertain reports whether an order of unknown price may have become
// active since the last Reset (see Result.Uncertain).
func (b *Book) Uncertain() bool { return b.uncertain }

// NextExpiry returns the earliest expiration among the listings the book
// holds; the consumer calls Expire then. false when none expires.
func (b *Book) NextExpiry() (time.Time, bool) {
	if b.nextExpiry == 0 {
		return time.Time{}, false
	}
	return time.Unix(0, b.nextExpiry).UTC(), true
}

// Stats returns the counters.
func (b *Book) Stats() Stats { return b.stats }

// Listed applies an item_listed event. The listing enters when it costs at
// most the bound W (see the package doc); a private or expired listing, or
// one in another currency without a usable rate, never enters and removes
// an older state of the same order.
func (b *Book) Listed(l indexer.Listing, now time.Time) Result {
	b.stats.Events++
	prev := b.begin(now)
	var r Result
	if l.OrderHash == "" {
		r.Ignored, r.Err = ReasonInvalid, fmt.Errorf("book: listing of token %s/%s/%s: empty order hash", l.Token.Chain, l.Token.Contract, l.Token.TokenID)
		b.stats.Invalid++
		return b.end(prev, r)
	}
	fp := fingerprint(l.OrderHash)
	loc := b.find(fp)
	if loc.found && l.Version <= loc.version {
		r = b.old(l.Version, loc)
		b.learn(fp, l, loc)
		return b.end(prev, r)
	}
	b.learnRate(l)
	key, reason, err := b.key(l)
	if err != nil {
		// A malformed newer state: keep the order's prior state and say so.
		r.Ignored, r.Err = reason, err
		return b.end(prev, r)
	}
	r.Applied = true
	b.stats.Applied++
	b.drop(loc)
	if reason != "" {
		// Out of the book for good (expired) or as long as this state
		// lasts; the version matters only when the book knew the order.
		r.Ignored = reason
		kind := kindUntracked
		if reason == ReasonExpired {
			kind = kindExpired
		}
		if loc.found {
			b.recs.put(fp, record{version: l.Version, at: b.now, kind: kind})
		}
		return b.end(prev, r)
	}
	b.placeUnlessMoved(entry{fp: fp, l: l, key: key, version: l.Version, at: b.now})
	return b.end(prev, r)
}

// placeUnlessMoved places an active listing an event made known, unless a
// transfer the book remembers took its token from its maker: then it goes
// aside and the book is Uncertain until a REST answer (newer than the
// transfer) says whether the maker holds the token again.
func (b *Book) placeUnlessMoved(e entry) {
	if b.movedAway(e.l, math.MinInt64) >= 0 {
		b.putAside(e)
		b.uncertain, b.movedAt = true, b.now
		return
	}
	b.place(e)
}

// Cancelled applies an item_cancelled event: the order is removed for good.
func (b *Book) Cancelled(orderHash string, version int64, now time.Time) Result {
	return b.remove(orderHash, version, now, false)
}

// Sold applies an item_sold event. A sale removes the order; a sale of a
// multi-unit order may leave units on sale, so the book becomes Uncertain
// and a REST answer may restore it.
func (b *Book) Sold(orderHash string, version int64, now time.Time) Result {
	return b.remove(orderHash, version, now, true)
}

// remove is the removal step of Cancelled and Sold: the order leaves the
// book, and its tombstone keeps an older replay out (for good unless a
// multi-unit order was sold).
func (b *Book) remove(orderHash string, version int64, now time.Time, sold bool) Result {
	return b.orderEvent(orderHash, version, now, func(fp uint64, loc location) {
		final := true
		if sold && loc.e != nil && loc.e.l.Quantity > 1 {
			final = false
			b.uncertain = true
		}
		b.drop(loc)
		b.recs.put(fp, record{version: version, at: b.now, kind: kindRemoved, final: final})
	})
}

// orderEvent is the step the events named by an order hash alone
// (Cancelled, Sold, Invalidated, Revalidated) share: it counts the event
// and runs apply with the order's location, unless the book knows a state
// of the order at least as new, which makes the event a duplicate or stale
// and changes nothing. The floor is compared before and after.
func (b *Book) orderEvent(orderHash string, version int64, now time.Time, apply func(fp uint64, loc location)) Result {
	b.stats.Events++
	prev := b.begin(now)
	fp := fingerprint(orderHash)
	loc := b.find(fp)
	if loc.found && version <= loc.version {
		return b.end(prev, b.old(version, loc))
	}
	apply(fp, loc)
	b.stats.Applied++
	return b.end(prev, Result{Applied: true})
}

// Invalidated applies an order_invalidate event: the order leaves the book
// and its listing is kept aside for a revalidation.
func (b *Book) Invalidated(orderHash string, version int64, now time.Time) Result {
	return b.orderEvent(orderHash, version, now, func(fp uint64, loc location) {
		switch {
		case loc.e != nil && loc.where != inAside:
			e := *loc.e
			b.drop(loc)
			e.version, e.at = version, b.now
			b.putAside(e)
		case loc.where == inAside:
			loc.e.version, loc.e.at = version, b.now
		default:
			b.recs.put(fp, record{version: version, at: b.now, kind: kindInvalid})
		}
	})
}

// Revalidated applies an order_revalidate event: an order kept aside
// returns (entering the book when it costs at most W). An order the book
// holds no listing for makes it Uncertain.
func (b *Book) Revalidated(orderHash string, version int64, now time.Time) Result {
	return b.orderEvent(orderHash, version, now, func(fp uint64, loc location) {
		switch {
		case loc.where == inAside:
			e := *loc.e
			b.drop(loc)
			e.version, e.at = version, b.now
			b.place(e)
		case loc.e != nil: // active already (its invalidation is late or lost)
			loc.e.version, loc.e.at = version, b.now
		case loc.where == inRecords && (loc.rec.kind == kindUntracked || loc.rec.kind == kindExpired):
			b.recs.put(fp, record{version: version, at: b.now, kind: loc.rec.kind})
		default:
			b.recs.put(fp, record{version: version, at: b.now, kind: kindUnpriced})
			b.uncertain = true
		}
	})
}

// Transferred applies an item_transferred event: token left the account
// from at time at (zero: unknown). A listing of that token by that maker
// can no longer be filled (the maker no longer holds the token), so it
// leaves the book and is kept aside with its version, as by an
// order_invalidate: an order_revalidate (the token came back) restores it,
// a sale or cancellation removes it for good. This repairs a lost item_sold
// whose transfer arrived. A listing made after the transfer (ListedAt
// later than at, both known) is not touched. The book remembers its latest
// transfers, so a REST answer taken before one arrived puts such a listing
// aside too. The event carries no order
// version, so it is never a duplicate or stale. A maker of a multi-unit
// token (ERC-1155) may still hold units after a transfer, and the payload
// does not say, so a book that put a listing aside becomes Uncertain: a
// REST answer confirms or restores it.
func (b *Book) Transferred(token indexer.TokenRef, from string, at, now time.Time) Result {
	b.stats.Events++
	prev := b.begin(now)
	var r Result
	tr := transfer{token: token, from: from, at: at, seen: b.now}
	if len(b.transfers) < maxTransfers {
		b.transfers = append(b.transfers, tr)
	} else {
		b.transfers[b.transferNext] = tr
		b.transferNext = (b.transferNext + 1) % maxTransfers
	}
	// In the book and among the recent (a REST answer could take those
	// back).
	var hits []uint64
	for _, es := range [...][]entry{b.entries, b.recent} {
		for _, e := range es {
			if tr.takes(e.l) {
				hits = append(hits, e.fp)
			}
		}
	}
	for _, fp := range hits {
		loc := b.find(fp)
		e := *loc.e
		b.drop(loc)
		e.at = b.now
		b.putAside(e)
		r.Applied = true
	}
	if r.Applied {
		b.stats.Applied++
		b.uncertain, b.movedAt = true, b.now
	}
	return b.end(prev, r)
}

// maxTransfers is how many transfers a book remembers for its REST answers.
const maxTransfers = 32

// transfer is an item_transferred event as the book remembers it: at is
// its event time (zero: unknown), seen the book time it arrived.
type transfer struct {
	token indexer.TokenRef
	from  string
	at    time.Time
	seen  int64
}

// takes says whether t makes l unfillable: t moved l's token away from
// l's maker, and l was made before t (when both times are known).
func (t transfer) takes(l indexer.Listing) bool {
	return sameToken(l.Token, t.token) && strings.EqualFold(l.Maker, t.from) &&
		(t.at.IsZero() || l.ListedAt.IsZero() || !l.ListedAt.After(t.at))
}

// movedAway returns the book time of the latest transfer that arrived at
// or after since and makes l unfillable, or -1.
func (b *Book) movedAway(l indexer.Listing, since int64) int64 {
	seen := int64(-1)
	for _, t := range b.transfers {
		if t.seen >= since && t.seen > seen && t.takes(l) {
			seen = t.seen
		}
	}
	return seen
}

// Expire removes the listings whose expiration date is at or before now.
// Every call does this too; Expire is for when no event comes (see
// NextExpiry).
func (b *Book) Expire(now time.Time) Result {
	return b.end(b.begin(now), Result{})
}

// Reset replaces the book with a REST answer: ls are the collection's
// cheapest listings at time now (when the request was sent), cheapest
// first. len(ls) < K means the answer holds every listing. What the book
// recorded at or after now is newer than the answer and wins: a removal
// or invalidation keeps the listing out, a listing that arrived meanwhile
// stays. Older state loses to the answer, except a final removal.
//
// The bound W becomes the dearest answered price (+∞ when len(ls) < K),
// counting listings that cannot enter (private, expired, removed), so an
// answer of K listings none of which can enter leaves the book empty and
// NeedsRefill: ask for more than K then. Malformed listings are skipped;
// Result.Err describes the first. Reset clears Uncertain unless state
// newer than the answer keeps it.
func (b *Book) Reset(ls []indexer.Listing, now time.Time) Result {
	prev := b.begin(now)
	b.stats.Resets++
	at := now.UnixNano()
	var r Result

	// The rate first: a listing in the book's currency may teach it.
	for _, l := range ls {
		b.learnRate(l)
	}
	var bound *big.Rat
	if len(ls) >= b.k {
		bound = new(big.Rat)
	}
	cands := make([]entry, 0, len(ls)+len(b.entries)+len(b.recent))
	moved := false // a listing of the answer went aside for a later transfer
	seen := make(map[uint64]struct{}, len(ls))
	for _, l := range ls {
		key, reason, err := b.key(l)
		if key != nil && bound != nil && key.Cmp(bound) > 0 {
			bound = key
		}
		if err != nil && r.Err == nil {
			r.Err = err
		}
		if reason != "" || l.OrderHash == "" {
			continue
		}
		fp := fingerprint(l.OrderHash)
		if _, dup := seen[fp]; dup {
			continue
		}
		seen[fp] = struct{}{}
		version := l.Version
		if version == 0 {
			version = -1 // older than any streamed state
		}
		e := entry{fp: fp, l: l, key: key, version: version, at: at}
		loc := b.find(fp)
		gone := loc.where == inRecords && (loc.rec.kind == kindRemoved && loc.rec.final || loc.rec.kind == kindExpired)
		if seen := b.movedAway(l, at); seen >= 0 && loc.where != inAside && !gone {
			// Its token left its maker after the answer was taken.
			b.drop(loc)
			e.version, e.at = max(e.version, loc.version), seen
			b.putAside(e)
			moved = true
			continue
		}
		switch {
		case !loc.found:
			cands = append(cands, e)
		case loc.at >= at: // the book's state is newer than the answer
			switch {
			case loc.where == inBook || loc.where == inRecent:
				cands = append(cands, *loc.e)
			case loc.where == inRecords && loc.rec.kind == kindInvalid:
				e.version, e.at = loc.version, loc.at
				b.recs.del(fp)
				b.putAside(e)
			case loc.where == inRecords && loc.rec.kind != kindRemoved && loc.rec.kind != kindExpired:
				e.version, e.at = loc.version, loc.at
				b.recs.del(fp)
				cands = append(cands, e)
			}
		case loc.where == inRecords && (loc.rec.kind == kindRemoved && loc.rec.final || loc.rec.kind == kindExpired):
			// A final removal: the answer lags.
		default:
			e.version = max(e.version, loc.version)
			b.drop(loc)
			cands = append(cands, e)
		}
	}
	// Listings newer than the answer that it could not hold.
	for _, e := range b.entries {
		if _, ok := seen[e.fp]; !ok {
			if e.at >= at {
				cands = append(cands, e)
			} else {
				// Gone, or dearer than the new bound: keep its version.
				b.recs.put(e.fp, record{version: e.version, at: e.at, kind: kindUntracked})
			}
		}
	}
	for _, e := range b.recent {
		if _, ok := seen[e.fp]; !ok {
			if e.at >= at {
				cands = append(cands, e)
			} else {
				b.recs.put(e.fp, record{version: e.version, at: e.at, kind: kindUntracked})
			}
		}
	}
	// A listing put aside for a transfer after the answer was taken may
	// be fillable after all (a multi-unit maker): only a newer answer says.
	b.uncertain = b.recentLost >= at || moved || b.movedAt >= at
	for fp, rec := range b.recs.m {
		if rec.kind != kindUnpriced {
			continue
		}
		if rec.at >= at {
			b.uncertain = true
		} else {
			// Absent from a newer answer: gone or dearer than the bound.
			rec.kind = kindUntracked
			b.recs.m[fp] = rec
		}
	}
	clear(b.entries)
	b.entries = b.entries[:0]
	clear(b.recent)
	b.recent, b.recentNext = b.recent[:0], 0
	b.bound = bound
	slices.SortFunc(cands, compare)
	for _, e := range cands {
		b.place(e)
	}
	b.resetExpiry()
	r.Applied = true
	return b.end(prev, r)
}

// Location of an order in the book's state.
type where uint8

const (
	_ where = iota // not found
	inBook
	inRecent
	inAside
	inRecords
)

type location struct {
	fp      uint64
	found   bool
	where   where
	idx     int
	e       *entry // inBook, inRecent, inAside
	rec     record // inRecords
	version int64
	at      int64
}

func (b *Book) find(fp uint64) location {
	for _, s := range [...]struct {
		w  where
		es []entry
	}{{inBook, b.entries}, {inRecent, b.recent}, {inAside, b.aside}} {
		for i := range s.es {
			if s.es[i].fp == fp {
				e := &s.es[i]
				return location{fp: fp, found: true, where: s.w, idx: i, e: e, version: e.version, at: e.at}
			}
		}
	}
	if rec, ok := b.recs.get(fp); ok {
		return location{fp: fp, found: true, where: inRecords, rec: rec, version: rec.version, at: rec.at}
	}
	return location{}
}

// drop forgets the order at loc (not its version: the caller records the
// new state).
func (b *Book) drop(loc location) {
	switch loc.where {
	case inBook:
		b.entries = slices.Delete(b.entries, loc.idx, loc.idx+1)
	case inRecent:
		b.recent = slices.Delete(b.recent, loc.idx, loc.idx+1)
		if b.recentNext > loc.idx {
			b.recentNext--
		}
	case inAside:
		b.aside = slices.Delete(b.aside, loc.idx, loc.idx+1)
	case inRecords:
		b.recs.del(loc.fp)
	}
}

// old answers an event not newer than what the book knows.
func (b *Book) old(version int64, loc location) Result {
	if version == loc.version {
		b.stats.Duplicates++
		return Result{Duplicate: true}
	}
	b.stats.Stale++
	return Result{Stale: true}
}

// learn takes the price of an order the book knew only by hash from a
// listing that arrived late (a listing's data never changes for one
// order hash).
func (b *Book) learn(fp uint64, l indexer.Listing, loc location) {
	if loc.where != inRecords || (loc.rec.kind != kindInvalid && loc.rec.kind != kindUnpriced) {
		return
	}
	key, reason, err := b.key(l)
	if err != nil || reason != "" {
		return
	}
	b.recs.del(fp)
	e := entry{fp: fp, l: l, key: key, version: loc.version, at: loc.at}
	if loc.rec.kind == kindInvalid {
		b.putAside(e)
	} else {
		b.placeUnlessMoved(e)
	}
}

// place puts an active listing into the book when it costs at most the
// bound, evicting the dearest entry beyond K (the bound falls to its
// price); otherwise among the recent.
func (b *Book) place(e entry) {
	b.noteExpiry(e.l.ExpiresAt)
	if b.bound != nil && e.key.Cmp(b.bound) > 0 {
		b.pushRecent(e)
		return
	}
	i, _ := slices.BinarySearchFunc(b.entries, e, compare)
	b.entries = slices.Insert(b.entries, i, e)
	if len(b.entries) > b.k {
		out := b.entries[len(b.entries)-1]
		b.entries[len(b.entries)-1] = entry{}
		b.entries = b.entries[:len(b.entries)-1]
		b.bound = out.key
		b.stats.Evicted++
		b.pushRecent(out)
	}
}

func (b *Book) pushRecent(e entry) {
	if len(b.recent) < cap(b.recent) {
		b.recent = append(b.recent, e)
		return
	}
	if b.recentNext >= len(b.recent) {
		b.recentNext = 0
	}
	b.recentLost = max(b.recentLost, b.recent[b.recentNext].at)
	b.recent[b.recentNext] = e
	b.recentNext++
}

func (b *Book) putAside(e entry) {
	b.noteExpiry(e.l.ExpiresAt)
	if len(b.aside) >= b.maxAside {
		out := b.aside[0]
		b.aside = slices.Delete(b.aside, 0, 1)
		b.recs.put(out.fp, record{version: out.version, at: out.at, kind: kindInvalid})
	}
	b.aside = append(b.aside, e)
}

// sameToken reports whether a and c name one token (the decoders
// normalize the case of EVM contracts).
func sameToken(a, c indexer.TokenRef) bool {
	return a.TokenID == c.TokenID && a.Contract == c.Contract && a.Chain == c.Chain
}

// compare orders entries by unit price, then order hash.
func compare(a, c entry) int {
	if d := a.key.Cmp(c.key); d != 0 {
		return d
	}
	return strings.Compare(a.l.OrderHash, c.l.OrderHash)
}

// key computes a listing's unit price in the book's currency. A non-empty
// reason says why it cannot enter; err describes malformed input.
func (b *Book) key(l indexer.Listing) (*big.Rat, Reason, error) {
	where := func() string {
		return fmt.Sprintf("book: listing %s of token %s/%s/%s", l.OrderHash, l.Token.Chain, l.Token.Contract, l.Token.TokenID)
	}
	amount, err := parseDecimal(l.Price.Amount)
	if err != nil {
		b.stats.Invalid++
		return nil, ReasonInvalid, fmt.Errorf("%s: price: %w", where(), err)
	}
	if l.Quantity < 1 {
		b.stats.Invalid++
		return nil, ReasonInvalid, fmt.Errorf("%s: quantity %d: must be at least 1", where(), l.Quantity)
	}
	key := amount
	if l.Quantity != 1 {
		key.Quo(key, new(big.Rat).SetInt64(l.Quantity))
	}
	if !strings.EqualFold(l.Price.Currency, b.currency) {
		var eth *big.Rat
		switch {
		case l.EthPrice != "":
			if eth, err = parseDecimal(l.EthPrice); err != nil {
				b.stats.Invalid++
				return nil, ReasonInvalid, fmt.Errorf("%s: eth price: %w", where(), err)
			}
		case ethLike(l.Price.Currency):
			eth = big.NewRat(1, 1)
		}
		if eth == nil || eth.Sign() == 0 || b.rate == nil {
			b.stats.NoRate++
			return nil, ReasonNoRate, nil
		}
		key.Mul(key, eth)
		key.Quo(key, b.rate)
	}
	switch {
	case l.Private:
		b.stats.Private++
		return key, ReasonPrivate, nil
	case !l.ExpiresAt.IsZero() && l.ExpiresAt.UnixNano() <= b.now:
		b.stats.Expired++
		return key, ReasonExpired, nil
	}
	return key, "", nil
}

// learnRate takes the ETH rate of the book's currency from a listing in
// it (not needed for ETH and WETH, whose rate is 1).
func (b *Book) learnRate(l indexer.Listing) {
	if ethLike(b.currency) || l.EthPrice == "" || !strings.EqualFold(l.Price.Currency, b.currency) {
		return
	}
	if r, err := parseDecimal(l.EthPrice); err == nil && r.Sign() > 0 {
		b.rate = r
	}
}

// begin advances the book's clock (it never goes back), removes what
// expired and returns the floor before the call.
func (b *Book) begin(now time.Time) floorState {
	if t := now.UnixNano(); t > b.now {
		b.now = t
	}
	prev := b.floorState()
	if b.nextExpiry != 0 && b.nextExpiry <= b.now {
		b.expire()
	}
	b.recs.prune(b.now)
	return prev
}

// floorState identifies the cheapest entry: keys are never mutated once
// placed, so the same pointer means the same price.
type floorState struct {
	m   indexer.Money
	ok  bool
	key *big.Rat
}

func (b *Book) floorState() floorState {
	s := floorState{m: b.floor, ok: b.hasFloor}
	if len(b.entries) > 0 {
		s.key = b.entries[0].key
	}
	return s
}

// end recomputes the floor when the cheapest entry changed and fills the
// result's state fields.
func (b *Book) end(prev floorState, r Result) Result {
	switch {
	case len(b.entries) == 0:
		b.floor, b.hasFloor = indexer.Money{}, false
	case b.entries[0].key != prev.key:
		b.floor = indexer.Money{Amount: formatDown(b.entries[0].key, b.decimals), Currency: b.currency, Decimals: b.decimals}
		b.hasFloor = true
	}
	r.FloorChanged = prev.ok != b.hasFloor || prev.m != b.floor
	r.NeedsRefill = b.NeedsRefill()
	r.Uncertain = b.uncertain
	return r
}

func (b *Book) noteExpiry(t time.Time) {
	if t.IsZero() {
		return
	}
	if n := t.UnixNano(); b.nextExpiry == 0 || n < b.nextExpiry {
		b.nextExpiry = n
	}
}

func (b *Book) resetExpiry() {
	b.nextExpiry = 0
	for _, es := range [...][]entry{b.entries, b.recent, b.aside} {
		for _, e := range es {
			b.noteExpiry(e.l.ExpiresAt)
		}
	}
}

// expire removes expired listings from the book, the recent and aside,
// leaving final tombstones.
func (b *Book) expire() {
	keep := func(es []entry) []entry {
		return slices.DeleteFunc(es, func(e entry) bool {
			if e.l.ExpiresAt.IsZero() || e.l.ExpiresAt.UnixNano() > b.now {
				return false
			}
			b.recs.put(e.fp, record{version: e.version, at: b.now, kind: kindExpired})
			return true
		})
	}
	b.entries = keep(b.entries)
	n := len(b.recent)
	b.recent = keep(b.recent)
	if len(b.recent) != n {
		b.recentNext = len(b.recent)
	}
	b.aside = keep(b.aside)
	b.resetExpiry()
}

// fingerprint is the FNV-1a hash of the lower-cased order hash. Order
// hashes are 32-byte keccak digests, so 64 bits make a collision between
// the few thousand orders one book remembers negligible (about 1e-12).
func fingerprint(orderHash string) uint64 {
	h := uint64(14695981039346656037)
	for i := range len(orderHash) {
		c := orderHash[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		h ^= uint64(c)
		h *= 1099511628211
	}
	return h
}
