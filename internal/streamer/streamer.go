// Package streamer is the consumer of OpenSea's Stream API that every worker
// replica runs when the stream is enabled.
//
// A Service takes the shards it holds from the shard lease manager
// (internal/shard), loads the tracked OpenSea collections of those shards,
// spreads them over at most keys × connections-per-key stream connections
// (one topic per collection) and keeps, per collection, a book of its K
// cheapest listings (internal/book). A book is bootstrapped with one
// best-listings call after every join (and its missed sales read back from
// the events endpoint), kept current from the events, and refilled with one
// call when it runs dry. What a lost event left wrong (a dropped listing
// cheaper than the floor says nothing in the stream) is repaired by audits:
// re-reads of live books, most suspect first, from the key's spare budget
// only (Options.AuditRate). A replica that starts serving a collection
// (a restart, a shard takeover) backfills the sales since the last event
// its previous server stored. Floor changes (source "opensea:stream", with the
// event's sent_at as source_as_of), sales, stream states and metadata
// updates are written in one transaction per flush interval. A book and its
// floor are in the collection's own currency (its polled floor's, else its
// chain's: see floorCurrency), so the stream and the poller store one
// collection's floor in one currency.
//
// Every mutation of the books happens on one goroutine (the loop): stream
// connections, REST calls and the writer hand it messages. So events of a
// collection are applied in the order they arrived; ordering by version and
// deduplication are the book's.
package streamer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/nftsync/nftsync/internal/book"
	"github.com/nftsync/nftsync/internal/indexer"
	"github.com/nftsync/nftsync/internal/indexer/opensea/stream"
)

// Source is the provenance of the floors the stream consumer stores.
const Source = "opensea:stream"

// States of a collection's stream (collection_streams.state).
const (
	StateJoining = "joining"
	StateLive    = "live"
	StateDown    = "down"
)

// Conn is one stream connection (*stream.Client).
type Conn interface {
	Run(ctx context.Context, h stream.Handler) error
	Join(slug string)
	Leave(slug string)
}

// Shards tells which shards this replica holds (*shard.Manager, run by the
// caller).
type Shards interface {
	Owned() []int
	Changes() <-chan []int
}

// KeyGuard takes a refused API key out of the pool for every replica
// (*ratelimit.Limiter).
type KeyGuard interface {
	RejectKey(ctx context.Context, source, key string, status int) error
}

// Enqueuer inserts jobs in a transaction (*river.Client[pgx.Tx]).
type Enqueuer interface {
	InsertManyTx(ctx context.Context, tx pgx.Tx, params []river.InsertManyParams) ([]*rivertype.JobInsertResult, error)
}

// Observer receives the consumer's measurements (*metrics.Stream).
type Observer interface {
	Connections(n int)
	Topics(n int)
	Event(eventType string)
	Dropped(reason string)
	Lag(d time.Duration)
	Reconnect()
	GapBackfilled(sales int)
	BookRefill()
	ReconcileDifference()
}

// Options configure a Service. DB, Market, Shards, Dial and Replica are
// required.
type Options struct {
	// Replica names this process in collection_streams.owner (the worker ID).
	Replica string
	// Keys are the OpenSea API keys; each gets up to ConnectionsPerKey
	// connections (one keyless group when empty).
	Keys              []string
	ConnectionsPerKey int
	// KeyBucket maps an API key to its limiter bucket (ratelimit.KeyFor).
	KeyBucket func(key string) string
	// Dial builds a stream connection that authenticates with key.
	Dial func(key string) (Conn, error)
	// Market is the rate-limited REST source of listings and sales.
	Market indexer.MarketSource
	// Shards is the lease manager's view; ShardCount the number of shards
	// (NFTSYNC_STREAM_SHARDS).
	Shards     Shards
	ShardCount int
	// BookSize is K (default 20).
	BookSize int
	// Currency is the floor currency (18 decimals) of a collection that
	// was never polled and whose chain has no known native currency
	// (default ETH). Every other collection's book and stream floor are
	// kept in the currency of its newest polled OpenSea floor, else its
	// chain's native currency (see floorCurrency).
	Currency string
	// FlushInterval (default 150 ms) is how often collected writes commit;
	// ReloadInterval (default 10 s) how often the collections of the held
	// shards are read again, besides at once (200 ms gathering) when a
	// collection row changes, which the consumer hears over LISTEN on a
	// connection of its own: tracking and untracking join and leave topics
	// without a restart, and within 10 s while that connection is lost;
	// LiveInterval (default 15 s) how often live
	// collections are marked live again and reconcile differences read.
	FlushInterval  time.Duration
	ReloadInterval time.Duration
	LiveInterval   time.Duration
	// TraitsSettle delays the trait fetch a metadata update enqueues, so a
	// burst of updates of one collection makes one fetch (default 30 s).
	TraitsSettle time.Duration
	// KeyRefusedPause is how long a connection whose key the stream refused
	// waits before it tries again (default 10 min, the limiter's pause).
	KeyRefusedPause time.Duration
	// BootstrapWorkers is the number of concurrent REST bootstraps (default 4).
	BootstrapWorkers int
	// BackfillPages bounds the events pages read per gap (default 10).
	BackfillPages int
	// MaxBuffered bounds the events kept per collection while its book
	// bootstraps (default 10,000); more make it bootstrap again.
	MaxBuffered int
	// AuditRate caps the audits, re-reads of live books (one best-listings
	// call each, then Reset) that repair what a lost event left wrong: a
	// dropped item_listed leaves a cheaper listing out of the book, and
	// nothing in the stream tells. Audits run one at a time, at most
	// AuditRate per second per replica (default 10; negative: none), under
	// the limiter's spare class: an audit takes only a token no other
	// request is waiting for, never waits, and is skipped otherwise, so
	// audits never delay a reconcile, a poll, a token sync or a bootstrap.
	// On a free key whose reconciles take the whole budget audits stop;
	// the reconcile schedule remains the repair. The most suspect book
	// goes first: an Uncertain one, then by (floor changes since its last
	// read + 1) × time since that read. With AuditMinInterval this bounds
	// how long a lost event shows: 10 per second audit 20 books every 2 s.
	AuditRate float64
	// AuditMinInterval is the least time between two reads of one book by
	// the audit (default 2 s; an Uncertain book waits 2 s at most).
	AuditMinInterval time.Duration

	Keyguard KeyGuard
	Enqueue  Enqueuer
	Observer Observer
	Logger   *slog.Logger
	Now      func() time.Time
}

func (o *Options) defaults() error {
	if o.Replica == "" || o.Dial == nil || o.Market == nil || o.Shards == nil || o.ShardCount <= 0 {
		return errors.New("streamer: Replica, Dial, Market, Shards and ShardCount are required")
	}
	if o.ConnectionsPerKey <= 0 {
		o.ConnectionsPerKey = 1
	}
	if len(o.Keys) == 0 {
		o.Keys = []string{""}
	}
	if o.KeyBucket == nil {
		o.KeyBucket = func(k string) string { return k }
	}
	if o.BookSize <= 0 {
		o.BookSize = 20
	}
	if o.Currency == "" {
		o.Currency = "ETH"
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&o.FlushInterval, 150*time.Millisecond)
	def(&o.ReloadInterval, 10*time.Second)
	def(&o.LiveInterval, 15*time.Second)
	def(&o.KeyRefusedPause, 10*time.Minute)
	if o.TraitsSettle < 0 {
		o.TraitsSettle = 0
	}
	if o.BootstrapWorkers <= 0 {
		o.BootstrapWorkers = 4
	}
	if o.BackfillPages <= 0 {
		o.BackfillPages = 10
	}
	if o.MaxBuffered <= 0 {
		o.MaxBuffered = 10000
	}
	if o.AuditRate == 0 {
		o.AuditRate = 10
	}
	def(&o.AuditMinInterval, 2*time.Second)
	if o.Observer == nil {
		o.Observer = nopObserver{}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return nil
}

// Service is the stream consumer of one replica. Run it once.
type Service struct {
	opts Options
	db   *pgxpool.Pool
	log  *slog.Logger

	in       chan msg      // to the loop
	done     chan struct{} // closed when the loop stopped
	tracking chan struct{} // a collection row changed (listenTracking); capacity 1
	bootLive chan bootReq  // refills of dry books (live class), served first
	bootBulk chan bootReq  // bootstraps after a join, reconcile repairs (bulk class)
	pending  *batch        // writes collected for the next flush
	pmu      sync.Mutex    // guards pending

	// loadGen numbers the reads of the held shards' collections in the
	// order the loop asks for them; the loop applies a read only when it is newer
	// than the last one applied (appliedGen, loop-owned), so a slow read
	// of an older shard set never undoes a newer one.
	loadGen atomic.Int64

	// loop-owned state
	colls      map[int64]*coll
	bySlug     map[string]*coll
	slots      []*slot
	appliedGen int64
	// auditing is the collection whose audit is in flight (auditGen its
	// request's generation); nil when none.
	auditing  *coll
	auditGen  int64
	auditHold time.Time // no audit before (the limiter had no spare budget)

	stats statsCounters
}

// New returns a Service writing through pool.
func New(pool *pgxpool.Pool, opts Options) (*Service, error) {
	if pool == nil {
		return nil, errors.New("streamer: a database pool is required")
	}
	if err := opts.defaults(); err != nil {
		return nil, err
	}
	return &Service{
		opts: opts, db: pool, log: opts.Logger.With(slog.String("component", "stream")),
		in:       make(chan msg, 8192),
		done:     make(chan struct{}),
		tracking: make(chan struct{}, 1),
		bootLive: make(chan bootReq, 4096),
		bootBulk: make(chan bootReq, 1<<16),
		pending:  newBatch(),
		colls:    map[int64]*coll{},
		bySlug:   map[string]*coll{},
	}, nil
}

// coll is one streamed collection (loop-owned).
type coll struct {
	id    int64
	slug  string
	slot  *slot
	book  *book.Book
	state string
	// currency and decimals are the book's: its floor's currency.
	// nextCurrency (and nextDecimals), when set, is the one the collection
	// is quoted in now (see currencyChanged): the book is rebuilt in it
	// at its next bootstrap.
	currency     string
	decimals     int32
	nextCurrency string
	nextDecimals int32
	// booting: a bootstrap is queued or running; events are buffered.
	booting  bool
	buffered []stream.Event
	overflow bool
	// refilling: a refill call is queued or running (events apply meanwhile).
	refilling bool
	// coveredUntil is the last time the sales ledger is known complete up
	// to (the last event of the previous join, here or by the collection's
	// previous server), so a join backfills from there; zero: unknown.
	coveredUntil time.Time
	// coveredSince is the start of the gap-free sales ledger (zero: none).
	coveredSince time.Time
	lastEventAt  time.Time
	lastSentAt   time.Time
	// lastRead is when the book was last read over REST (the answer's
	// time); churn counts its floor changes since then (see audit).
	lastRead time.Time
	churn    int
	gen      atomic.Int64 // bumped on every (re)bootstrap: late answers of an older one are dropped
	removed  bool
}

// slot is one stream connection (keyed) and the collections on it.
type slot struct {
	idx     int
	key     string
	conn    Conn
	topics  map[int64]*coll
	up      bool // joined something since the last Down
	refused bool // the key was refused; waits KeyRefusedPause
}

type statsCounters struct {
	events      atomic.Int64
	floorWrites atomic.Int64
	sales       atomic.Int64
	restCalls   atomic.Int64
	audits      atomic.Int64
	live        atomic.Int64
	joined      atomic.Int64
	lagMu       sync.Mutex
	lags        []time.Duration // recent floor lags, a ring
	lagNext     int
}

// Stats is a snapshot of the consumer's counters since it started.
type Stats struct {
	Events      int64 // events received
	FloorWrites int64 // floor changes committed
	Sales       int64 // sales committed (stream and backfill; duplicates not counted)
	RESTCalls   int64 // best-listings and events calls made
	Audits      int64 // of those, audits of live books (see Options.AuditRate)
	Live        int64 // collections whose stream is live now
	Topics      int64 // collections joined or joining now
	// LagP50 and LagP99 are over the last 4,096 floor changes committed:
	// from the event's sent_at to the commit.
	LagP50, LagP99 time.Duration
}

// Stats returns the consumer's counters (safe from any goroutine).
func (s *Service) Stats() Stats {
	st := Stats{
		Events: s.stats.events.Load(), FloorWrites: s.stats.floorWrites.Load(), Sales: s.stats.sales.Load(),
		RESTCalls: s.stats.restCalls.Load(), Audits: s.stats.audits.Load(), Live: s.stats.live.Load(), Topics: s.stats.joined.Load(),
	}
	s.stats.lagMu.Lock()
	lags := append([]time.Duration(nil), s.stats.lags...)
	s.stats.lagMu.Unlock()
	if len(lags) > 0 {
		sort.Slice(lags, func(i, j int) bool { return lags[i] < lags[j] })
		st.LagP50 = lags[len(lags)/2]
		st.LagP99 = lags[min(len(lags)-1, len(lags)*99/100)]
	}
	return st
}

func (s *Service) recordLag(d time.Duration) {
	s.opts.Observer.Lag(d)
	s.stats.lagMu.Lock()
	defer s.stats.lagMu.Unlock()
	if len(s.stats.lags) < 4096 {
		s.stats.lags = append(s.stats.lags, d)
		return
	}
	s.stats.lags[s.stats.lagNext] = d
	s.stats.lagNext = (s.stats.lagNext + 1) % len(s.stats.lags)
}

// Run consumes the stream until ctx is done. On return every collection it
// served is marked down (the planner polls them again until another
// replica takes their shards) and every connection is closed.
func (s *Service) Run(ctx context.Context) error {
	o := s.opts
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	for _, key := range o.Keys {
		for range o.ConnectionsPerKey {
			c, err := o.Dial(key)
			if err != nil {
				return fmt.Errorf("stream: connection: %w", err)
			}
			sl := &slot{idx: len(s.slots), key: key, conn: c, topics: map[int64]*coll{}}
			s.slots = append(s.slots, sl)
			wg.Add(1)
			go func() {
				defer wg.Done()
				s.runSlot(runCtx, sl)
			}()
		}
	}
	for range o.BootstrapWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.bootWorker(runCtx)
		}()
	}
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		s.writer(runCtx)
	}()
	wg.Add(1)
	go func() {
		defer wg.Done()
		s.listenTracking(runCtx)
	}()
	s.log.Info("stream consumer started", slog.String("replica", o.Replica), slog.Int("connections", len(s.slots)),
		slog.Int("book_size", o.BookSize), slog.Int("shards", o.ShardCount))
	err := s.loop(runCtx)
	close(s.done)
	cancel()
	wg.Wait()
	<-writerDone
	// Everything this replica served is down now: say so, so the planner
	// polls those collections until another replica holds their shards.
	s.markAllDown()
	fctx, fcancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer fcancel()
	if ferr := s.flush(fctx); ferr != nil {
		s.log.Warn("stream: final flush", slog.Any("error", ferr))
	}
	s.log.Info("stream consumer stopped", slog.String("replica", o.Replica))
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// runSlot runs one connection until ctx is done: a refused key is taken out
// of the pool for every replica (loudly, by the limiter) and its topics move
// to the other keys' connections; the connection tries again after
// KeyRefusedPause.
func (s *Service) runSlot(ctx context.Context, sl *slot) {
	h := &handler{s: s, slot: sl}
	backoff := time.Second
	for ctx.Err() == nil {
		err := sl.conn.Run(ctx, h)
		if ctx.Err() != nil {
			return
		}
		wait := backoff
		if errors.Is(err, stream.ErrKeyRefused) {
			bucket := s.opts.KeyBucket(sl.key)
			s.log.Error("the Stream API refused an API key: its connection waits and its collections move to other keys or are polled",
				slog.String("bucket", bucket), slog.Duration("retry_in", s.opts.KeyRefusedPause), slog.Any("error", err))
			if s.opts.Keyguard != nil {
				if kerr := s.opts.Keyguard.RejectKey(ctx, "opensea", bucket, 401); kerr != nil {
					s.log.Warn("stream: could not take the refused key out of the pool", slog.Any("error", kerr))
				}
			}
			s.send(ctx, msg{kind: msgRefused, slot: sl})
			wait = s.opts.KeyRefusedPause
		} else {
			s.log.Warn("stream connection ended; starting it again", slog.Any("error", err), slog.Duration("in", wait))
			backoff = min(2*backoff, time.Minute)
		}
		if !sleep(ctx, wait+jitter(wait)) {
			return
		}
		s.send(ctx, msg{kind: msgUsable, slot: sl})
	}
}

// handler turns a connection's callbacks into loop messages.
type handler struct {
	s    *Service
	slot *slot
}

// Event hands e to the loop; when the loop is busy the connection's reader
// waits (back-pressure on the socket rather than an unbounded queue).
func (h *handler) Event(e stream.Event) {
	h.s.stats.events.Add(1)
	h.put(msg{kind: msgEvent, slot: h.slot, event: e})
}
func (h *handler) Joined(slug string) { h.put(msg{kind: msgJoined, slot: h.slot, slug: slug}) }
func (h *handler) Left(slug string)   { h.put(msg{kind: msgLeft, slot: h.slot, slug: slug}) }
func (h *handler) Down(err error)     { h.put(msg{kind: msgDown, slot: h.slot, err: err}) }
func (h *handler) Malformed(slug string, raw []byte, err error) {
	h.put(msg{kind: msgMalformed, slot: h.slot, slug: slug, raw: raw, err: err})
}

// put sends m to the loop unless the loop has stopped.
func (h *handler) put(m msg) {
	select {
	case h.s.in <- m:
	case <-h.s.done:
	}
}

func (s *Service) send(ctx context.Context, m msg) {
	select {
	case s.in <- m:
	case <-ctx.Done():
	case <-s.done:
	}
}

type msgKind int

const (
	msgEvent msgKind = iota
	msgJoined
	msgLeft
	msgDown
	msgMalformed
	msgRefused
	msgUsable
	msgBooted
	msgCollections
	msgNeedsBootstrap
	msgRetryBoot
)

type msg struct {
	kind  msgKind
	slot  *slot
	slug  string
	event stream.Event
	raw   []byte
	err   error
	boot  *bootResult
	rows  []collRow
	ids   []int64
	c     *coll
	gen   int64
}

// collRow is a collection of a held shard, with what its previous server
// (another replica, or this one before a restart) stored of its sales
// ledger: the last event's sent_at and the start of the gap-free ledger
// (both zero when unknown).
type collRow struct {
	ID           int64
	Slug         string
	LastSentAt   time.Time
	CoveredSince time.Time
	// Currency and Decimals are the collection's floor currency (see
	// floorCurrency).
	Currency string
	Decimals int32
}

// floorCurrency is the currency a collection's book and stream floor are
// kept in, from what is known of it: the currency of its newest polled
// OpenSea floor (/stats' floor_price_symbol), else its chain's native
// currency (indexer.NativeCurrency: POL on Polygon), else fallback with 18
// decimals. So the stream's floor and the polled one are stored in one
// currency; a listing in another currency enters the book through its
// eth_price (internal/book).
func floorCurrency(chain string, polled pgtype.Text, polledDecimals pgtype.Int2, fallback string) (string, int32) {
	if polled.Valid && polled.String != "" && polledDecimals.Valid {
		return polled.String, int32(polledDecimals.Int16)
	}
	if sym, dec, ok := indexer.NativeCurrency(chain); ok {
		return sym, dec
	}
	return fallback, book.DefaultDecimals
}

// newBook is an empty book for c in c's currency.
func (s *Service) newBook(currency string, decimals int32) *book.Book {
	return book.NewWithOptions(book.Options{K: s.opts.BookSize, Currency: currency, Decimals: decimals})
}

// currencyChanged notes that c is quoted in another currency than its
// book's (the first polled floor arrived, in another currency than the
// chain's; or /stats changed symbol). The book is rebuilt in the new
// currency at its next bootstrap (adoptCurrency), when events buffer and
// replay on the new book, so nothing is lost: a live collection is
// bootstrapped now (one REST call), one bootstrapping or not joined yet is
// at the bootstrap under way or at its join. Until then floors are stored
// in the book's currency, as before.
func (s *Service) currencyChanged(c *coll, r collRow) {
	if r.Currency == "" || (r.Currency == c.currency && r.Decimals == c.decimals) {
		c.nextCurrency, c.nextDecimals = "", 0
		return
	}
	if r.Currency == c.nextCurrency && r.Decimals == c.nextDecimals {
		return // noted already
	}
	c.nextCurrency, c.nextDecimals = r.Currency, r.Decimals
	s.log.Info("stream: a collection's floor currency changed; its book is rebuilt", slog.String("slug", c.slug),
		slog.String("from", c.currency), slog.String("to", r.Currency))
	if c.state == StateLive && !c.booting {
		s.bootstrap(c, false)
	}
}

// adoptCurrency rebuilds c's book in its new currency, if any: called at a
// bootstrap's answer, before the book is reset from it.
func (s *Service) adoptCurrency(c *coll) {
	if c.nextCurrency == "" {
		return
	}
	c.currency, c.decimals = c.nextCurrency, c.nextDecimals
	c.nextCurrency, c.nextDecimals = "", 0
	c.book = s.newBook(c.currency, c.decimals)
}

type nopObserver struct{}

func (nopObserver) Connections(int)      {}
func (nopObserver) Topics(int)           {}
func (nopObserver) Event(string)         {}
func (nopObserver) Dropped(string)       {}
func (nopObserver) Lag(time.Duration)    {}
func (nopObserver) Reconnect()           {}
func (nopObserver) GapBackfilled(int)    {}
func (nopObserver) BookRefill()          {}
func (nopObserver) ReconcileDifference() {}

// sleep waits d or until ctx is done (false).
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// jitter is up to a fifth of d.
func jitter(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	return time.Duration(rand.Int64N(int64(d)/5 + 1))
}
