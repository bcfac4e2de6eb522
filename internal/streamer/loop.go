package streamer

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"time"

	"github.com/nftsync/nftsync/db"
	"github.com/nftsync/nftsync/internal/book"
	"github.com/nftsync/nftsync/internal/clip"
	"github.com/nftsync/nftsync/internal/indexer"
	"github.com/nftsync/nftsync/internal/indexer/opensea/stream"
)

// loop owns the books: it applies events, joins and leaves topics, hands
// bootstraps to the REST workers and collects writes for the writer.
func (s *Service) loop(ctx context.Context) error {
	o := s.opts
	reload := time.NewTicker(o.ReloadInterval)
	defer reload.Stop()
	live := time.NewTicker(o.LiveInterval)
	defer live.Stop()
	expire := time.NewTicker(time.Second)
	defer expire.Stop()
	var auditTick <-chan time.Time
	if o.AuditRate > 0 {
		t := time.NewTicker(time.Duration(float64(time.Second) / o.AuditRate))
		defer t.Stop()
		auditTick = t.C
	}
	go s.loadCollections(ctx, s.loadGen.Add(1), o.Shards.Owned())
	var trackingReload <-chan time.Time // a burst of tracking changes gathers here
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-s.tracking:
			if trackingReload == nil {
				trackingReload = time.After(trackingDebounce)
			}
		case <-trackingReload:
			trackingReload = nil
			go s.loadCollections(ctx, s.loadGen.Add(1), o.Shards.Owned())
		case owned := <-o.Shards.Changes():
			s.log.Info("stream shards changed", slog.Int("held", len(owned)))
			go s.loadCollections(ctx, s.loadGen.Add(1), owned)
		case <-reload.C:
			go s.loadCollections(ctx, s.loadGen.Add(1), o.Shards.Owned())
		case <-live.C:
			s.remarkLive()
			go s.readNeedsBootstrap(ctx)
		case <-expire.C:
			s.expireAll()
		case <-auditTick:
			s.audit()
		case m := <-s.in:
			s.handle(ctx, m)
		}
	}
}

func (s *Service) handle(ctx context.Context, m msg) {
	switch m.kind {
	case msgEvent:
		s.onEvent(m.slot, m.event)
	case msgJoined:
		c := s.bySlug[m.slug]
		if c == nil || c.slot != m.slot {
			return // left meanwhile, or moved to another connection
		}
		m.slot.up = true
		s.bootstrap(c, true)
		s.gauges()
	case msgLeft:
		// Leave was ours (removal) or the server refused the topic: in the
		// latter case the collection is down and polled.
		if c := s.bySlug[m.slug]; c != nil && c.slot == m.slot {
			s.setState(c, StateDown)
		}
	case msgDown:
		s.opts.Observer.Reconnect()
		m.slot.up = false
		for _, c := range m.slot.topics {
			s.goneDown(c)
		}
		s.log.Warn("stream connection lost; its topics rejoin on reconnect", slog.Int("connection", m.slot.idx),
			slog.Int("topics", len(m.slot.topics)), slog.Any("error", m.err))
		s.gauges()
	case msgMalformed:
		s.opts.Observer.Dropped("malformed")
		var id *int64
		if c := s.bySlug[m.slug]; c != nil {
			id = &c.id
		}
		s.pmu.Lock()
		s.pending.quality = append(s.pending.quality, qualityRow{collectionID: id, kind: "malformed_event",
			message: fmt.Sprintf("%v: %s", m.err, clip.Text(string(m.raw), 500))})
		s.pmu.Unlock()
	case msgRefused:
		m.slot.refused, m.slot.up = true, false
		moved := 0
		for _, c := range m.slot.topics {
			s.goneDown(c)
			if to := s.pickSlot(); to != nil {
				s.moveTo(c, to)
				moved++
			}
		}
		s.log.Warn("collections of a refused key's connection", slog.Int("moved_to_other_keys", moved),
			slog.Int("left_to_polling", len(m.slot.topics)))
		s.gauges()
	case msgUsable:
		m.slot.refused = false
	case msgBooted:
		s.onBooted(m.c, m.gen, m.boot)
	case msgRetryBoot:
		if m.c.gen.Load() == m.gen && !m.c.removed {
			s.queueBoot(m.boot.req)
		}
	case msgCollections:
		if m.gen < s.appliedGen {
			return // a newer read was applied already
		}
		s.appliedGen = m.gen
		s.applyCollections(m.rows)
	case msgNeedsBootstrap:
		for _, id := range m.ids {
			c := s.colls[id]
			if c == nil || c.booting || c.state != StateLive {
				continue
			}
			s.opts.Observer.ReconcileDifference()
			s.log.Info("reconcile found the stream's floor different from /stats: bootstrapping the book again", slog.String("slug", c.slug))
			s.bootstrap(c, false)
		}
	}
	_ = ctx
}

// onEvent applies one event to its collection's book.
func (s *Service) onEvent(sl *slot, e stream.Event) {
	s.opts.Observer.Event(e.Type)
	c := s.bySlug[e.Slug]
	if c == nil || c.slot != sl {
		s.opts.Observer.Dropped("unjoined")
		return
	}
	now := s.opts.Now()
	c.lastEventAt, c.lastSentAt = now, e.SentAt
	s.pmu.Lock()
	s.pending.touch[c.id] = touchRow{at: now, sentAt: e.SentAt}
	s.pmu.Unlock()
	if c.booting {
		if len(c.buffered) >= s.opts.MaxBuffered {
			c.overflow = true
			c.buffered = c.buffered[:0]
		}
		c.buffered = append(c.buffered, e)
		return
	}
	s.apply(c, e, now)
}

// apply changes c's book with e and collects what is to be written.
func (s *Service) apply(c *coll, e stream.Event, now time.Time) {
	var (
		r   book.Result
		err error
	)
	switch e.Type {
	case stream.EventItemListed:
		var l indexer.Listing
		if l, err = e.Listing(); err == nil {
			r = c.book.Listed(l, now)
		}
	case stream.EventItemCancelled, stream.EventItemSold, stream.EventOrderInvalidate, stream.EventOrderRevalidate:
		var h string
		if h, err = e.OrderHash(); err != nil {
			break
		}
		switch e.Type {
		case stream.EventItemCancelled:
			r = c.book.Cancelled(h, e.Version, now)
		case stream.EventItemSold:
			r = c.book.Sold(h, e.Version, now)
			s.collectSale(c, e)
		case stream.EventOrderInvalidate:
			r = c.book.Invalidated(h, e.Version, now)
		default:
			r = c.book.Revalidated(h, e.Version, now)
		}
	case stream.EventItemTransferred:
		// A listing by the sender can no longer be filled: this repairs a
		// lost item_sold when its transfer arrives (book.Transferred).
		var tr stream.Transfer
		if tr, err = e.Transfer(); err == nil {
			r = c.book.Transferred(tr.Token, tr.From, tr.At, now)
		}
	case stream.EventItemMetadataUpdated:
		var tok indexer.TokenRef
		if tok, err = e.Token(); err == nil {
			at := e.SentAt
			// An item event's version is the epoch milliseconds of its
			// source time (indexers.md): the better "as of" when sane.
			if v := time.UnixMilli(e.Version); e.Version > 0 && v.Year() >= 2017 && v.Before(now.Add(time.Hour)) {
				at = v
			}
			s.pmu.Lock()
			s.pending.metadata = append(s.pending.metadata, metadataRow{collectionID: c.id, contract: tok.Contract, tokenID: tok.TokenID, at: at})
			s.pmu.Unlock()
		}
		return
	default:
		return // offers, bids and unknown types do not move the floor
	}
	if err != nil {
		s.opts.Observer.Dropped("malformed")
		s.pmu.Lock()
		s.pending.quality = append(s.pending.quality, qualityRow{collectionID: &c.id, kind: "malformed_event",
			message: fmt.Sprintf("%s event of %s: %v: %s", e.Type, c.slug, err, clip.Text(string(e.Payload), 500))})
		s.pmu.Unlock()
		return
	}
	s.result(c, r, e.SentAt)
}

// result acts on a book change: a floor change is collected for the
// writer, a dry book refilled.
func (s *Service) result(c *coll, r book.Result, asOf time.Time) {
	switch {
	case r.Duplicate:
		s.opts.Observer.Dropped("duplicate")
	case r.Stale:
		s.opts.Observer.Dropped("stale")
	}
	if r.NeedsRefill {
		s.refill(c)
		return // the floor is unknown until the refill answers
	}
	if r.FloorChanged {
		c.churn++
		s.collectFloor(c, asOf)
	}
}

// audit re-reads the book of the most suspect live collection (see
// Options.AuditRate), one audit at a time: an Uncertain book first (at most
// every 2 s), then the book with the highest (floor changes since its last
// read + 1) × time since that read among those not read for
// AuditMinInterval. Events apply meanwhile, as during a refill.
func (s *Service) audit() {
	if a := s.auditing; a != nil && !a.removed && a.gen.Load() == s.auditGen {
		return // the previous audit is still in flight
	}
	s.auditing = nil
	now := s.opts.Now()
	if now.Before(s.auditHold) {
		return
	}
	var (
		best      *coll
		bestScore float64
	)
	for _, c := range s.colls {
		if c.state != StateLive || c.booting || c.refilling {
			continue
		}
		age := now.Sub(c.lastRead)
		var score float64
		switch {
		case c.book.Uncertain() && age >= 2*time.Second:
			score = math.Inf(1)
		case age >= s.opts.AuditMinInterval:
			score = age.Seconds() * float64(c.churn+1)
		default:
			continue
		}
		if best == nil || score > bestScore || (score == bestScore && c.lastRead.Before(best.lastRead)) {
			best, bestScore = c, score
		}
	}
	if best == nil {
		return
	}
	best.refilling = true
	s.auditing, s.auditGen = best, best.gen.Add(1)
	s.queueBoot(bootReq{c: best, slug: best.slug, gen: s.auditGen, bulk: true, audit: true})
}

// collectFloor records c's current floor (or a known empty book) for the
// next flush; the newest of a collection wins.
func (s *Service) collectFloor(c *coll, asOf time.Time) {
	f := floorRow{sentAt: asOf, currency: c.currency, decimals: c.decimals}
	if m, ok := c.book.Floor(); ok {
		f.amount, f.currency, f.decimals = m.Amount, m.Currency, m.Decimals
	}
	s.pmu.Lock()
	s.pending.floors[c.id] = f
	s.pmu.Unlock()
}

func (s *Service) collectSale(c *coll, e stream.Event) {
	sale, err := e.Sale()
	if err != nil {
		s.pmu.Lock()
		s.pending.quality = append(s.pending.quality, qualityRow{collectionID: &c.id, kind: "malformed_event",
			message: fmt.Sprintf("item_sold event of %s: %v", c.slug, err)})
		s.pmu.Unlock()
		return
	}
	s.pmu.Lock()
	s.pending.sales = append(s.pending.sales, saleRow{collectionID: c.id, sale: sale, sentAt: e.SentAt})
	s.pmu.Unlock()
}

// expireAll drops expired listings from every ready book.
func (s *Service) expireAll() {
	now := s.opts.Now()
	for _, c := range s.colls {
		if c.booting || c.state != StateLive {
			continue
		}
		s.result(c, c.book.Expire(now), now)
	}
}

// bootstrap (re)starts c's book from REST: events buffer until the answer.
// After a join the sales missed since the last covered time are read back.
func (s *Service) bootstrap(c *coll, joined bool) {
	c.gen.Add(1)
	c.booting, c.refilling = true, false
	c.buffered, c.overflow = c.buffered[:0], false
	s.setState(c, StateJoining)
	// coveredUntil is set after a join here was lost, or (first join) from
	// what the collection's previous server stored: a restart or a shard
	// takeover keeps the ledger gap-free when the backfill succeeds.
	var from time.Time
	if joined && !c.coveredUntil.IsZero() {
		from = c.coveredUntil
	}
	s.queueBoot(bootReq{c: c, slug: c.slug, gen: c.gen.Load(), bulk: true, joined: joined, backfillFrom: from})
}

// refill asks REST for c's book again (live class) while events go on
// applying; at most one refill per collection is in flight.
func (s *Service) refill(c *coll) {
	if c.booting || (c.refilling && s.auditing != c) {
		return // (a refill supersedes an audit, which may wait behind bootstraps)
	}
	c.refilling = true
	c.gen.Add(1)
	s.queueBoot(bootReq{c: c, slug: c.slug, gen: c.gen.Load()})
}

func (s *Service) queueBoot(req bootReq) {
	c := req.c
	ch := s.bootBulk
	if !req.bulk {
		ch = s.bootLive
	}
	select {
	case ch <- req:
	default:
		// The queue is full (thousands of joins at once): try again later
		// rather than block the loop.
		s.later(msg{kind: msgRetryBoot, c: c, gen: c.gen.Load(), boot: &bootResult{req: req}}, time.Second)
	}
}

// onBooted applies a REST answer: a bootstrap resets the book and replays
// the events buffered meanwhile; a refill resets the book (events were
// applied meanwhile, and Reset keeps the tombstones newer than the answer).
func (s *Service) onBooted(c *coll, gen int64, b *bootResult) {
	if b.req.audit && s.auditing == c && s.auditGen == gen {
		s.auditing = nil
	}
	if c.removed || c.gen.Load() != gen {
		return // superseded by a newer bootstrap, or the collection left
	}
	if b.err != nil && b.req.audit {
		// An audit that found no spare budget (or failed) is not retried:
		// the next tick picks the most suspect book again, a while later
		// this one.
		c.refilling = false
		c.lastRead = s.opts.Now()
		if wait, limited := indexer.RetryAfter(b.err); limited {
			s.auditHold = s.opts.Now().Add(wait) // no spare budget now
		}
		if indexer.ClassOf(b.err) == indexer.ClassMalformed {
			s.pmu.Lock()
			s.pending.quality = append(s.pending.quality, qualityRow{collectionID: &c.id, kind: "malformed", message: b.err.Error()})
			s.pmu.Unlock()
		}
		return
	}
	if b.err != nil {
		if indexer.ClassOf(b.err) == indexer.ClassMalformed {
			s.pmu.Lock()
			s.pending.quality = append(s.pending.quality, qualityRow{collectionID: &c.id, kind: "malformed", message: b.err.Error()})
			s.pmu.Unlock()
		}
		wait := b.retryIn
		s.log.Debug("stream book bootstrap failed; retrying", slog.String("slug", c.slug), slog.Duration("in", wait), slog.Any("error", b.err))
		s.later(msg{kind: msgRetryBoot, c: c, gen: gen, boot: b}, wait)
		return
	}
	s.opts.Observer.BookRefill()
	wasBooting := c.booting
	now := s.opts.Now()
	if wasBooting {
		s.adoptCurrency(c) // the buffered events replay on the new book
	}
	r := c.book.Reset(b.listings, b.at)
	c.booting, c.refilling = false, false
	c.lastRead, c.churn = b.at, 0
	if wasBooting {
		for _, e := range c.buffered {
			s.apply(c, e, now)
		}
		c.buffered = c.buffered[:0]
		if c.overflow {
			c.overflow = false
			s.bootstrap(c, false)
			return
		}
	}
	_ = r
	s.collectFloor(c, b.at)
	if wasBooting {
		s.setState(c, StateLive)
		s.pmu.Lock()
		s.pending.bootstrapped = append(s.pending.bootstrapped, c.id)
		for _, sale := range b.sales {
			s.pending.sales = append(s.pending.sales, saleRow{collectionID: c.id, sale: sale})
		}
		// The ledger is gap-free since the first join (here or by the
		// previous server), as long as every rejoin read back what it
		// missed; otherwise since this join.
		if b.req.joined {
			if c.coveredSince.IsZero() || b.req.backfillFrom.IsZero() || !b.salesDone {
				c.coveredSince = b.at
			}
			s.pending.covered[c.id] = c.coveredSince
		}
		s.pmu.Unlock()
		if !b.req.backfillFrom.IsZero() && b.salesDone {
			s.opts.Observer.GapBackfilled(len(b.sales))
		}
	}
}

// later sends m to the loop after d.
func (s *Service) later(m msg, d time.Duration) {
	time.AfterFunc(d, func() {
		select {
		case s.in <- m:
		case <-s.done:
		}
	})
}

// goneDown marks c down after its connection dropped: the ledger is
// complete up to its last event; the topic rejoins on reconnect.
func (s *Service) goneDown(c *coll) {
	if c.state == StateLive && !c.lastSentAt.IsZero() {
		c.coveredUntil = c.lastSentAt
	} else if c.state == StateLive {
		c.coveredUntil = s.opts.Now()
	}
	c.gen.Add(1) // drop answers of a bootstrap that began before the gap
	c.booting, c.refilling = false, false
	c.buffered = c.buffered[:0]
	s.setState(c, StateDown)
}

func (s *Service) setState(c *coll, state string) {
	if c.state == state {
		return
	}
	if c.state == StateLive {
		s.stats.live.Add(-1)
	}
	if state == StateLive {
		s.stats.live.Add(1)
	}
	c.state = state
	s.pmu.Lock()
	s.pending.marks[c.id] = state
	s.pmu.Unlock()
}

// remarkLive marks every live collection live again, so the planner keeps
// seeing a fresh updated_at (it trusts a live state for 60 s).
func (s *Service) remarkLive() {
	s.pmu.Lock()
	defer s.pmu.Unlock()
	for _, c := range s.colls {
		if c.state == StateLive {
			s.pending.marks[c.id] = StateLive
		}
	}
}

func (s *Service) markAllDown() {
	for _, c := range s.colls {
		s.setState(c, StateDown)
	}
}

// applyCollections joins the topics of collections new to the held shards
// and leaves those no longer in them (untracked, or the shard moved).
func (s *Service) applyCollections(rows []collRow) {
	want := make(map[int64]collRow, len(rows))
	for _, r := range rows {
		want[r.ID] = r
	}
	left := 0
	for id, c := range s.colls {
		if r, ok := want[id]; ok && r.Slug == c.slug {
			s.currencyChanged(c, r)
			continue
		}
		s.remove(c)
		left++
	}
	joined := 0
	for _, r := range rows {
		if _, ok := s.colls[r.ID]; ok {
			continue
		}
		sl := s.pickSlot()
		c := &coll{id: r.ID, slug: r.Slug, book: s.newBook(r.Currency, r.Decimals), currency: r.Currency, decimals: r.Decimals,
			coveredUntil: r.LastSentAt, coveredSince: r.CoveredSince}
		s.colls[r.ID], s.bySlug[r.Slug] = c, c
		if sl == nil {
			s.setState(c, StateDown) // no usable key: polled until one comes back
			continue
		}
		s.moveTo(c, sl)
		joined++
	}
	if joined > 0 || left > 0 {
		s.log.Info("stream topics changed", slog.Int("joined", joined), slog.Int("left", left), slog.Int("collections", len(s.colls)))
	}
	// Collections without a connection (every key was refused) get one
	// when a key is usable again.
	for _, c := range s.colls {
		if c.slot == nil {
			if sl := s.pickSlot(); sl != nil {
				s.moveTo(c, sl)
			}
		}
	}
	s.gauges()
}

// remove leaves c's topic and forgets it; the collection is marked down
// (an untracked one's state row goes with it).
func (s *Service) remove(c *coll) {
	c.removed = true
	c.gen.Add(1)
	if c.slot != nil {
		c.slot.conn.Leave(c.slug)
		delete(c.slot.topics, c.id)
	}
	s.setState(c, StateDown)
	delete(s.colls, c.id)
	delete(s.bySlug, c.slug)
}

// moveTo joins c's topic on sl (leaving its previous connection).
func (s *Service) moveTo(c *coll, sl *slot) {
	if c.slot != nil {
		c.slot.conn.Leave(c.slug)
		delete(c.slot.topics, c.id)
	}
	c.slot = sl
	sl.topics[c.id] = c
	s.setState(c, StateJoining)
	sl.conn.Join(c.slug)
}

// pickSlot is the usable connection with the fewest topics (nil when every
// key was refused).
func (s *Service) pickSlot() *slot {
	var best *slot
	for _, sl := range s.slots {
		if sl.refused {
			continue
		}
		if best == nil || len(sl.topics) < len(best.topics) {
			best = sl
		}
	}
	return best
}

func (s *Service) gauges() {
	up, topics := 0, 0
	for _, sl := range s.slots {
		if sl.up {
			up++
			topics += len(sl.topics)
		}
	}
	s.opts.Observer.Connections(up)
	s.opts.Observer.Topics(topics)
	s.stats.joined.Store(int64(topics))
}

// loadCollections reads the collections of the held shards and hands them
// to the loop.
func (s *Service) loadCollections(ctx context.Context, gen int64, owned []int) {
	shards := make([]int32, 0, len(owned))
	for _, sh := range owned {
		shards = append(shards, int32(sh))
	}
	slices.Sort(shards)
	rows, err := db.New(s.db).StreamCollectionsForShards(ctx, db.StreamCollectionsForShardsParams{
		Shards: shards, ShardCount: int32(s.opts.ShardCount),
	})
	if err != nil {
		if ctx.Err() == nil {
			s.log.Warn("stream: read the collections of the held shards", slog.Any("error", err))
		}
		return
	}
	ids := make([]int64, 0, len(rows))
	for _, r := range rows {
		ids = append(ids, r.ID)
	}
	// What the previous server of each collection stored of its ledger: a
	// first join here backfills the sales since its last event and keeps
	// its coverage (see bootstrap).
	states, err := db.New(s.db).StreamStatesList(ctx, db.StreamStatesListParams{CollectionIds: ids, LiveAfter: s.opts.Now()})
	if err != nil {
		if ctx.Err() == nil {
			s.log.Warn("stream: read the stream states of the held shards", slog.Any("error", err))
		}
		return
	}
	prior := make(map[int64]db.StreamStatesListRow, len(states))
	for _, st := range states {
		prior[st.CollectionID] = st
	}
	out := make([]collRow, 0, len(rows))
	for _, r := range rows {
		cr := collRow{ID: r.ID, Slug: r.Slug}
		cr.Currency, cr.Decimals = floorCurrency(r.Chain, r.FloorCurrency, r.FloorDecimals, s.opts.Currency)
		if st, ok := prior[r.ID]; ok && st.LastEventSentAt.Valid && st.SalesCoveredSince.Valid {
			cr.LastSentAt, cr.CoveredSince = st.LastEventSentAt.Time, st.SalesCoveredSince.Time
		}
		out = append(out, cr)
	}
	s.send(ctx, msg{kind: msgCollections, rows: out, gen: gen})
}

// readNeedsBootstrap reads the collections a reconcile flagged.
func (s *Service) readNeedsBootstrap(ctx context.Context) {
	ids, err := db.New(s.db).StreamNeedsBootstrap(ctx, s.opts.Replica)
	if err != nil {
		if ctx.Err() == nil {
			s.log.Warn("stream: read reconcile differences", slog.Any("error", err))
		}
		return
	}
	if len(ids) > 0 {
		s.send(ctx, msg{kind: msgNeedsBootstrap, ids: ids})
	}
}
