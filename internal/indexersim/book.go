package indexersim

import (
	"cmp"
	"container/heap"
	"math"
	"math/big"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The order book model. Every collection has an order book of listings
// that evolves in time: listings are posted, cancelled, sold, expire, are
// invalidated and revalidated (the maker's approval or balance lapsed and
// came back), and tokens change metadata and owners. /stats reports the
// cheapest active public listing as the floor, the best-listings endpoint
// serves the book, the events endpoint and the Stream API serve what
// happened (book.go, listings.go, stream.go).
//
// Every listing is a pure function of (seed, slug, when and which it was
// posted): its price, token, maker, currency, expiry and its fate (when it
// is cancelled, sold, expires, is invalidated or revalidated) are drawn
// when it is created. The one interaction, a token changing hands (a sale
// or a transfer) invalidating its other listings for good, depends only
// on the sales and transfers during the listing's life. So the book at an
// instant t is a function of the seed and t alone, whatever the process
// did before: two simulators with the same seed
// agree on the book, and a book is built for any t by replaying only the
// last maxLife (no listing lives longer). A running book advances lazily,
// when it is read, through the events in between.
//
// Listings are drawn around the market's reference floor (market.floorAt,
// the bounded random walk that gives each collection its character):
//   - floor-seeking listings (about 70%) are priced within ±0.8% of the
//     reference and are usually cancelled within minutes (relisting), so
//     the floor follows the reference and changes about every two minutes;
//   - depth listings sit 1% to 120% above it (and above where it goes
//     while they live) for hours, until they are cancelled or expire; a
//     few of them are priced in USDC;
//   - sale listings are the scheduled sales of the market (market.sale, the
//     same trades /stats sums into its volumes): each is posted a few
//     minutes before its sale at the sale's price and filled at the sale's
//     minute. So item_sold events and the events endpoint's sales are
//     exactly the trades behind /stats' one-day, seven-day and thirty-day
//     windows.

const (
	// maxLife bounds every listing's life (posting to removal) in ms; a
	// book for instant t is rebuilt from t-maxLife.
	maxLife = int64(6 * time.Hour / time.Millisecond)
	// maxLead bounds how long before its sale a sale listing is posted.
	maxLead = int64(2 * time.Hour / time.Millisecond)
	// eventRing is the most unread events a book keeps for its readers
	// (stream subscribers); a reader further behind loses the oldest.
	eventRing = 8192
)

// Purpose tags of the order book's hash streams (apart from gen.go's).
const (
	tagListCount uint64 = 0x100 + iota
	tagListing
	tagListMeta
	tagSaleListing
	tagSaleTx
	tagMetaCount
	tagMeta
	tagTransferCount
	tagTransfer
	tagOrderHash
	tagMaker
	tagBuyer
	tagRate
)

// Book event kinds, in the order applied at equal times.
type evKind uint8

const (
	evCreate evKind = iota + 1
	evInvalidate
	evRevalidate
	evCancel
	evExpire
	evSold
	evTransfer
	evMetadata
)

// Stream event types (stream-js src/types.ts, EventType).
const (
	EventItemListed          = "item_listed"
	EventItemSold            = "item_sold"
	EventItemTransferred     = "item_transferred"
	EventItemMetadataUpdated = "item_metadata_updated"
	EventItemCancelled       = "item_cancelled"
	EventItemReceivedBid     = "item_received_bid"
	EventCollectionOffer     = "collection_offer"
	EventTraitOffer          = "trait_offer"
	EventOrderInvalidate     = "order_invalidate"
	EventOrderRevalidate     = "order_revalidate"
)

// listing is one sell order. Times are Unix milliseconds.
type listing struct {
	key       uint64 // identity; the order hash is derived from it
	token     int    // token index
	created   int64
	expires   int64
	end       int64  // removal: cancel, expiry or sale
	endKind   evKind // evCancel, evExpire or evSold
	invalid   int64  // 0, or when it is invalidated
	revalid   int64  // 0, or when it is revalidated (after invalid)
	micro     int64  // ETH listings: price in µETH; USDC: price in cents
	usdc      bool   // priced in USDC instead of ETH
	private   bool
	unit      float64 // price of one unit in ETH, for ordering
	saleHour  int64   // sale listings: the sale's hour and index, else -1
	saleIndex int

	// state while in a book
	version int64 // order revision: 1 listed, then +1 per order event
	active  bool  // posted, not removed, not invalidated
	gone    bool  // invalid for good: the token changed hands
}

// bookEvent is one thing that happened in a book.
type bookEvent struct {
	at    int64 // Unix ms
	kind  evKind
	key   uint64 // tie-break among events at the same time
	l     *listing
	token int    // evTransfer, evMetadata, evSold: the token
	extra uint64 // evTransfer: its hash
	seq   uint64 // position in the book's event log (set when applied)
	ver   int64  // the order version the event carries (order events)
}

type eventHeap []*bookEvent

func (h eventHeap) Len() int { return len(h) }
func (h eventHeap) Less(i, j int) bool {
	if h[i].at != h[j].at {
		return h[i].at < h[j].at
	}
	if h[i].kind != h[j].kind {
		return h[i].kind < h[j].kind
	}
	return h[i].key < h[j].key
}
func (h eventHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *eventHeap) Push(x any)   { *h = append(*h, x.(*bookEvent)) }
func (h *eventHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return x
}

// floorChange is one change of a book's floor: the cheapest active public
// listing from At on (nil when the book has none).
type floorChange struct {
	at int64
	l  *listing
}

// book is one collection's order book, advanced lazily.
type book struct {
	c       *collection
	cfg     MarketConfig
	usdcEth float64 // the collection's currency per USDC (ETH per USDC on Ethereum)
	rate    float64 // listings per minute of this collection

	mu       sync.Mutex
	started  bool
	at       int64 // the book holds the state at this instant (ms)
	quiet    bool  // warming up: events are not logged
	nextMin  int64 // next minute whose listings, transfers and metadata updates are generated
	nextHour int64 // next hour whose sale listings are generated
	pending  eventHeap
	active   map[uint64]*listing // posted and not removed (valid or not)
	floor    *listing            // cheapest active public listing
	log      []*bookEvent        // events not yet read by every reader, oldest first
	logBase  uint64              // seq of log[0]
	seq      uint64              // seq of the next logged event
	readers  map[any]uint64      // subscribers and the seq each reads next; events are logged only while there are some
	changes  *[]floorChange      // when set, floor changes are appended
}

func newBook(c *collection, cfg MarketConfig, usdcEth float64) *book {
	return &book{
		c: c, cfg: cfg, usdcEth: usdcEth,
		rate: cfg.ListingsPerMinute * (0.7 + 0.6*unit(hash(c.seed, tagRate))),
	}
}

// reset empties the book and positions it at t-maxLife, so that advancing
// to t builds the state at t.
func (b *book) reset(t int64) {
	start := t - maxLife
	b.started, b.at, b.quiet = true, start, true
	b.nextMin = floorDiv(start, 60_000)
	b.nextHour = floorDiv(start, 3_600_000)
	b.pending = b.pending[:0]
	b.active = make(map[uint64]*listing, 256)
	b.floor = nil
}

// advanceTo moves the book to t (ms), applying every event up to t. A
// first call, a clock that went back, or a jump longer than maxLife
// rebuilds the book quietly (no events logged). b.mu must be held.
func (b *book) advanceTo(t int64) {
	if !b.started || t < b.at || t-b.at > maxLife {
		b.reset(t)
		b.advance(t)
		b.quiet = false
		return
	}
	b.advance(t)
}

func (b *book) advance(t int64) {
	for b.nextMin <= floorDiv(t, 60_000) {
		b.genMinute(b.nextMin)
		b.nextMin++
	}
	for b.nextHour <= floorDiv(t+maxLead, 3_600_000) {
		b.genSaleHour(b.nextHour)
		b.nextHour++
	}
	for len(b.pending) > 0 && b.pending[0].at <= t {
		b.apply(heap.Pop(&b.pending).(*bookEvent))
	}
	b.at = t
}

// genMinute draws the listings posted in minute m and that minute's
// transfers and metadata updates.
func (b *book) genMinute(m int64) {
	seed, mm := b.c.seed, uint64(m)
	n := poisson(b.rate, unit(hash(seed, tagListCount, mm)))
	for k := range n {
		l := b.genListing(m, k)
		heap.Push(&b.pending, &bookEvent{at: l.created, kind: evCreate, key: l.key, l: l})
	}
	tokens := uint64(b.c.info.TokenCount)
	nt := poisson(b.cfg.TransfersPerHour/60, unit(hash(seed, tagTransferCount, mm)))
	for k := range nt {
		h := hash(seed, tagTransfer, mm, uint64(k))
		heap.Push(&b.pending, &bookEvent{at: m*60_000 + int64(h%60_000), kind: evTransfer, key: h,
			token: int(hash(h, 1) % tokens), extra: h})
	}
	nm := poisson(b.cfg.MetadataUpdatesPerHour/60, unit(hash(seed, tagMetaCount, mm)))
	for k := range nm {
		h := hash(seed, tagMeta, mm, uint64(k))
		heap.Push(&b.pending, &bookEvent{at: m*60_000 + int64(h%60_000), kind: evMetadata, key: h,
			token: int(hash(h, 1) % tokens)})
	}
}

// expiryChoices are the durations a depth listing is posted for.
var expiryChoices = [...]int64{1, 2, 4, 6} //nolint:gochecknoglobals // read-only table, hours

// genListing draws listing k of minute m.
func (b *book) genListing(m int64, k int) *listing {
	m64 := b.c.market
	h := hash(b.c.seed, tagListing, uint64(m), uint64(k))
	u := func(i uint64) float64 { return unit(hash(h, i)) }
	l := &listing{key: h, saleHour: -1}
	l.created = m*60_000 + int64(hash(h, 1)%60_000)
	l.token = int(hash(h, 2) % uint64(b.c.info.TokenCount))
	ref := m64.floorAt(m)
	var price float64
	seeker := u(3) < 0.7
	if seeker {
		// Floor-seeking: near the reference, cancelled within minutes.
		price = ref * (1 + 0.008*(2*u(4)-1))
		l.expires = l.created + 6*3_600_000 - 1
		l.end = l.created + 20_000 + int64(-math.Log(1-u(5))*180_000)
	} else {
		l.expires = l.created + expiryChoices[hash(h, 6)%uint64(len(expiryChoices))]*3_600_000 - 1
		l.end = math.MaxInt64
		if u(5) < 0.5 {
			l.end = l.created + 60_000 + int64(-math.Log(1-u(7))*3*3_600_000)
		}
	}
	l.endKind = evCancel
	if l.end >= l.expires {
		l.end, l.endKind = l.expires, evExpire
	}
	if price == 0 {
		// A depth listing stays above the reference for its whole life
		// (a listing under the market would be bought at once).
		price = max(ref*(1.01+1.2*u(4)*u(4)), 1.002*m64.floorBound(m, floorDiv(l.end, 60_000)+1))
	}
	l.private = u(8) < b.cfg.PrivateFraction
	if !seeker && u(9) < b.cfg.OtherCurrencyFraction/0.3 {
		l.usdc = true
		l.micro = max(1, int64(math.Round(price/b.usdcEth*100)))
		l.unit = float64(l.micro) / 100 * b.usdcEth
	} else {
		l.micro = max(1, int64(math.Round(price*1e6)))
		l.unit = float64(l.micro) / 1e6
	}
	if u(10) < b.cfg.InvalidateFraction {
		life := l.end - l.created
		l.invalid = l.created + 1 + int64(u(11)*float64(life)/2)
		if u(12) < 0.7 {
			if r := l.invalid + 1_000 + int64(-math.Log(1-u(13))*600_000); r < l.end {
				l.revalid = r
			}
		}
	}
	return l
}

// saleMillis is when sale k of hour h is filled: the start of its minute,
// so that the sale lies in the same /stats windows as in market.snapshot.
func saleMillis(h int64, minute int64) int64 { return (h*60 + minute) * 60_000 }

// genSaleHour draws the listings behind hour h's scheduled sales.
func (b *book) genSaleHour(h int64) {
	m := b.c.market
	n := m.hourSales(h)
	if n == 0 {
		return
	}
	floor := m.floorAt(h * 60)
	for k := range n {
		l := b.c.saleListing(h, k, floor)
		heap.Push(&b.pending, &bookEvent{at: l.created, kind: evCreate, key: l.key, l: l})
	}
}

// saleListing is the listing filled by sale k of hour h (floor is the
// hour's opening floor): posted a few minutes before the sale (30 s plus an
// exponential wait of mean 8 minutes, at most maxLead), at the sale's price,
// in ETH, public.
func (c *collection) saleListing(h int64, k int, floor float64) *listing {
	minute, price := c.market.sale(h, k, floor)
	key := hash(c.seed, tagSaleListing, uint64(h), uint64(k))
	at := saleMillis(h, minute)
	lead := 30_000 + min(int64(-math.Log(1-unit(hash(key, 1)))*8*60_000), maxLead-30_000)
	l := &listing{
		key: key, token: int(hash(key, 2) % uint64(c.info.TokenCount)),
		created: at - lead, expires: at - lead + 24*3_600_000 - 1,
		end: at, endKind: evSold, micro: int64(math.Round(price * 1e6)), saleHour: h, saleIndex: k,
	}
	l.unit = float64(l.micro) / 1e6
	return l
}

// saleTx is the transaction hash of a sale listing's sale.
func (l *listing) saleTx() string { return hex256(hash(l.key, tagSaleTx)) }

// apply applies one event and logs it (unless warming up).
func (b *book) apply(e *bookEvent) {
	l := e.l
	switch e.kind {
	case evCreate:
		l.version = 1
		b.active[l.key] = l
		l.active = l.invalid == 0 || l.invalid > l.created
		if l.invalid != 0 {
			heap.Push(&b.pending, &bookEvent{at: l.invalid, kind: evInvalidate, key: l.key, l: l})
		}
		heap.Push(&b.pending, &bookEvent{at: l.end, kind: l.endKind, key: l.key, l: l})
		if l.active {
			b.added(l, e.at)
		}
	case evInvalidate:
		if l.gone {
			return // already invalid for good: its maker no longer owns the token
		}
		l.version++
		l.active = false
		if l.revalid != 0 {
			heap.Push(&b.pending, &bookEvent{at: l.revalid, kind: evRevalidate, key: l.key, l: l})
		}
		b.removed(l, e.at)
	case evRevalidate:
		if l.gone {
			return
		}
		l.version++
		l.active = true
		b.added(l, e.at)
	case evCancel, evExpire, evSold:
		if e.kind == evCancel {
			l.version++
		}
		delete(b.active, l.key)
		was := l.active
		l.active = false
		if was {
			b.removed(l, e.at)
		}
		if e.kind == evSold {
			e.token = l.token
		}
	}
	if l != nil {
		e.ver = l.version
	}
	if b.quiet || e.kind == evExpire || len(b.readers) == 0 {
		// The stream has no expiry event: an order just lapses.
	} else {
		b.logEvent(e)
	}
	if e.kind == evSold || e.kind == evTransfer {
		b.ownerChanged(e.token, e.at)
	}
}

// ownerChanged invalidates for good the other listings of a token that
// changed hands: their makers no longer own it (OpenSea sends
// order_invalidate for orders that can no longer be filled). A listing
// that was invalid already stays so, silently. Sale listings are exempt:
// their sales are the trades /stats sums, so they always happen.
func (b *book) ownerChanged(token int, at int64) {
	var hit []*listing
	for _, x := range b.active {
		if x.token == token && !x.gone && x.saleHour < 0 {
			hit = append(hit, x)
		}
	}
	slices.SortFunc(hit, func(a, b *listing) int { return cmp.Compare(a.key, b.key) })
	for _, x := range hit {
		x.gone = true
		if !x.active {
			continue
		}
		x.version++
		x.active = false
		b.removed(x, at)
		if !b.quiet && len(b.readers) > 0 {
			b.logEvent(&bookEvent{at: at, kind: evInvalidate, key: x.key, l: x, token: token, ver: x.version})
		}
	}
}

// logEvent appends e to the log for the readers, dropping the oldest half
// when the log is full.
func (b *book) logEvent(e *bookEvent) {
	e.seq = b.seq
	b.seq++
	b.log = append(b.log, e)
	if len(b.log) > eventRing {
		drop := len(b.log) / 2
		b.log = append(b.log[:0:0], b.log[drop:]...)
		b.logBase += uint64(drop)
	}
}

// trim drops the events every reader has read. b.mu must be held.
func (b *book) trim() {
	low := b.seq
	for _, next := range b.readers {
		low = min(low, next)
	}
	if low <= b.logBase {
		return
	}
	drop := int(min(low-b.logBase, uint64(len(b.log))))
	clear(b.log[:drop])
	b.log = b.log[drop:]
	b.logBase += uint64(drop)
	if len(b.log) == 0 {
		b.log = nil
	}
}

// cheaper orders listings by unit price, then by key.
func cheaper(a, b *listing) bool {
	if a.unit != b.unit {
		return a.unit < b.unit
	}
	return a.key < b.key
}

func (b *book) added(l *listing, at int64) {
	if l.private {
		return
	}
	if b.floor == nil || cheaper(l, b.floor) {
		b.setFloor(l, at)
	}
}

func (b *book) removed(l *listing, at int64) {
	if l != b.floor {
		return
	}
	var best *listing
	for _, x := range b.active {
		if x.active && !x.private && (best == nil || cheaper(x, best)) {
			best = x
		}
	}
	b.setFloor(best, at)
}

func (b *book) setFloor(l *listing, at int64) {
	old := b.floor
	b.floor = l
	if b.changes == nil || b.quiet {
		return
	}
	if old != nil && l != nil && old.unit == l.unit {
		return // another order at the same price: the floor did not change
	}
	*b.changes = append(*b.changes, floorChange{at: at, l: l})
}

// floorAt returns the cheapest active public listing at t, nil when none.
func (b *book) floorAt(t time.Time) *listing {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.advanceTo(t.UnixMilli())
	return b.floor
}

// listings returns the active listings at t, cheapest first, private ones
// only when asked.
func (b *book) listings(t time.Time, private bool) []*listing {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.advanceTo(t.UnixMilli())
	out := make([]*listing, 0, len(b.active))
	for _, l := range b.active {
		if l.active && (private || !l.private) {
			out = append(out, l)
		}
	}
	sortListings(out)
	return out
}

// subscribe advances the book to t and registers reader, which reads the
// events from now on (from the returned seq).
func (b *book) subscribe(reader any, t time.Time) uint64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.advanceTo(t.UnixMilli())
	if b.readers == nil {
		b.readers = map[any]uint64{}
	}
	b.readers[reader] = b.seq
	return b.seq
}

// unsubscribe forgets reader.
func (b *book) unsubscribe(reader any) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.readers, reader)
	b.trim()
}

// eventsSince advances the book to t and returns reader's events from seq
// on, and the seq to read from next time. Events that fell out of a full
// log are skipped (lost says how many).
func (b *book) eventsSince(reader any, seq uint64, t time.Time) (evs []*bookEvent, next uint64, lost uint64) {
	return b.eventsUpTo(reader, seq, t, 0)
}

// eventsUpTo is eventsSince returning at most limit events (0: all); the
// rest stay in the log for the next call (from next on).
func (b *book) eventsUpTo(reader any, seq uint64, t time.Time, limit int) (evs []*bookEvent, next uint64, lost uint64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.advanceTo(t.UnixMilli())
	if seq < b.logBase {
		lost, seq = b.logBase-seq, b.logBase
	}
	next = b.seq
	if limit > 0 && b.seq-seq > uint64(limit) {
		next = seq + uint64(limit)
	}
	if seq < next {
		evs = append([]*bookEvent(nil), b.log[seq-b.logBase:next-b.logBase]...)
	}
	if _, ok := b.readers[reader]; ok {
		b.readers[reader] = next
		b.trim()
	}
	return evs, next, lost
}

// touched logs metadata updates of tokens at t (Server.Touch).
func (b *book) touched(t time.Time, tokens []int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.advanceTo(t.UnixMilli())
	if len(b.readers) == 0 {
		return
	}
	for _, i := range tokens {
		b.logEvent(&bookEvent{at: t.UnixMilli(), kind: evMetadata, token: i})
	}
}

// floorHistory replays [from, to] in a fresh book and returns the floor at
// from and every change up to to. It does not touch the running book.
func (b *book) floorHistory(from, to int64) (*listing, []floorChange) {
	x := newBook(b.c, b.cfg, b.usdcEth)
	x.advanceTo(from)
	first := x.floor
	var changes []floorChange
	x.changes = &changes
	x.advance(to)
	return first, changes
}

// orderHash renders a listing's order hash (0x + 64 hex digits).
func orderHash(key uint64) string { return hex256(hash(key, tagOrderHash)) }

// hex256 renders 32 bytes drawn from h as 0x-prefixed hex.
func hex256(h uint64) string {
	var sb strings.Builder
	sb.Grow(66)
	sb.WriteString("0x")
	for i := range 4 {
		v := hash(h, uint64(i))
		s := strconv.FormatUint(v, 16)
		sb.WriteString(strings.Repeat("0", 16-len(s)))
		sb.WriteString(s)
	}
	return sb.String()
}

// maker is the listing's seller.
func (l *listing) maker() string { return address(l.key, tagMaker) }

// taker is the buyer of a private listing or a sale, else "".
func (l *listing) taker() string {
	if l.private || l.saleHour >= 0 {
		return address(l.key, tagBuyer)
	}
	return ""
}

// Currency parameters of listings.
const (
	usdcAddress  = "0xa0b86991c6218b36c1d19d4a2e9eb0ce3606eb48"
	usdcDecimals = 6
)

// rawPrice is the order's price in its currency's smallest unit: wei for
// ETH and POL (micro-units × 10^12), 10^-6 USDC for USDC (cents × 10^4).
func (l *listing) rawPrice() string {
	if l.usdc {
		return strconv.FormatInt(l.micro, 10) + "0000"
	}
	return strconv.FormatInt(l.micro, 10) + "000000000000"
}

// rawSplit splits the price into the maker's proceeds and OpenSea's 2.5%
// fee, in the smallest unit, exactly.
func (l *listing) rawSplit() (proceeds, fee string) {
	if l.usdc {
		return strconv.FormatInt(l.micro*9750, 10), strconv.FormatInt(l.micro*250, 10)
	}
	return strconv.FormatInt(l.micro*975, 10) + "000000000", strconv.FormatInt(l.micro*25, 10) + "000000000"
}

// decimalString renders a non-negative rational rounded down to 18
// decimals, without trailing zeros.
func decimalString(r *big.Rat) string {
	scaled := new(big.Int).Mul(r.Num(), new(big.Int).Exp(big.NewInt(10), big.NewInt(18), nil))
	scaled.Quo(scaled, r.Denom())
	s := scaled.String()
	if len(s) <= 18 {
		s = strings.Repeat("0", 19-len(s)) + s
	}
	intPart, frac := s[:len(s)-18], strings.TrimRight(s[len(s)-18:], "0")
	if frac == "" {
		return intPart
	}
	return intPart + "." + frac
}
