package book

import (
	"cmp"
	"fmt"
	"math/big"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nftsync/nftsync/internal/indexer"
)

// The model: a market of orders whose true events are delivered to a book
// duplicated, reordered and replayed (never dropped: the book's premise),
// and a reference that applies every delivered event by version to the
// full set of orders. Whenever the book is non-empty and neither
// NeedsRefill nor Uncertain, its floor must equal the reference's; no
// order whose removal was delivered may ever be in the book again; every
// entry must be active in the reference.

type evKind uint8

const (
	evListed evKind = iota
	evCancelled
	evSold
	evInvalidated
	evRevalidated
)

func (k evKind) String() string {
	return [...]string{"listed", "cancelled", "sold", "invalidated", "revalidated"}[k]
}

type mState uint8

const (
	stActive mState = iota + 1
	stInvalid
	stRemoved
)

type mEvent struct {
	kind    evKind
	order   int
	version int64
}

type mOrder struct {
	l    indexer.Listing
	unit *big.Rat // unit price in ETH; nil when it cannot be converted
	// units is unit × unitScale, exact: every model price has at most 12
	// decimals and quantities are 1..4.
	units int64
	// The market's truth.
	state   mState
	version int64
	// What the delivered events say (the reference).
	dState   mState
	dVersion int64
	// removedFinal: a final removal (a cancellation, or a sale of one
	// unit) was delivered; the order must never be in the book again.
	removedFinal bool
}

const unitScale = 12e12

type model struct {
	t       *testing.T
	byHash  map[string]*mOrder
	live    []int // orders not known removed by both market and reference
	rng     *rand.Rand
	k       int
	orders  []*mOrder
	pending []mEvent
	history []mEvent
	now     time.Time
	book    *Book
	// A refill in flight: the answer was taken at sentAt.
	refill     []indexer.Listing
	refillAt   time.Time
	refillIn   int
	checks     int
	deliveries int
	reordered  int // deliveries that overtook an earlier event
	lagged     int
}

type modelFaults struct {
	reorder   int     // window the next delivery is picked from
	duplicate float64 // chance an event is delivered twice in a row
	replay    float64 // chance of a replay of an older delivered event
	lag       float64 // chance a REST answer still lists removed orders
}

func newModel(t *testing.T, seed uint64, k int) *model {
	m := &model{
		t:      t,
		rng:    rand.New(rand.NewPCG(seed, seed*0x9e3779b97f4a7c15)),
		byHash: make(map[string]*mOrder),
		k:      k,
		now:    t0,
		book: NewWithOptions(Options{
			K: k, Currency: "ETH", MaxTombstones: 1 << 16, MaxAside: 1 << 10,
		}),
	}
	// Listings older than the stream: some of them invalid.
	for range 3 * k {
		o := m.newOrder()
		o.state, o.version = stActive, 1
		if m.rng.IntN(5) == 0 {
			o.state, o.version = stInvalid, 2
		}
		o.dState, o.dVersion = o.state, o.version
	}
	return m
}

func (m *model) newOrder() *mOrder {
	n := len(m.orders)
	l := indexer.Listing{
		OrderHash: hash(n + 1),
		Token:     indexer.TokenRef{Chain: "ethereum", Contract: "0xc0ffee", TokenID: fmt.Sprint(n)},
		Quantity:  1,
		ListedAt:  m.now,
	}
	amount := new(big.Rat).SetFrac64(int64(1+m.rng.IntN(5000)), 1000)
	if m.rng.IntN(10) == 0 {
		l.Quantity = int64(2 + m.rng.IntN(3))
	}
	unit := new(big.Rat).Quo(amount, new(big.Rat).SetInt64(l.Quantity))
	switch r := m.rng.IntN(20); {
	case r < 14:
		l.Price, l.EthPrice = indexer.Money{Currency: "ETH", Decimals: 18}, "1"
	case r < 16:
		l.Price = indexer.Money{Currency: "WETH", Decimals: 18}
		if r == 15 {
			l.EthPrice = "1"
		}
	case r < 19:
		// Priced in USDC at 0.0004 or 0.00031 ETH per dollar.
		rate := []string{"0.0004", "0.00031"}[(r-16)%2]
		l.Price, l.EthPrice = indexer.Money{Currency: "USDC", Decimals: 6}, rate
		ethRate, _ := new(big.Rat).SetString(rate)
		amount.Quo(amount, ethRate) // so that it costs about as much
		amount.SetFrac(new(big.Int).Quo(new(big.Int).Mul(amount.Num(), big.NewInt(1e6)), amount.Denom()), big.NewInt(1e6))
		unit = new(big.Rat).Mul(amount, ethRate)
		unit.Quo(unit, new(big.Rat).SetInt64(l.Quantity))
	default:
		l.Price = indexer.Money{Currency: "USDC", Decimals: 6} // no rate: never counts
		unit = nil
	}
	l.Price.Amount = strings.TrimSuffix(strings.TrimRight(amount.FloatString(6), "0"), ".")
	l.Private = m.rng.IntN(20) == 0
	if m.rng.IntN(3) == 0 {
		l.ExpiresAt = m.now.Add(time.Duration(10+m.rng.IntN(600)) * time.Second)
	}
	o := &mOrder{l: l, unit: unit}
	if unit != nil {
		u := new(big.Rat).Mul(unit, new(big.Rat).SetInt64(unitScale))
		if !u.IsInt() || !u.Num().IsInt64() {
			m.t.Fatalf("unit price %s does not scale exactly", unit.FloatString(20))
		}
		o.units = u.Num().Int64()
	}
	m.live = append(m.live, len(m.orders))
	m.orders = append(m.orders, o)
	m.byHash[l.OrderHash] = o
	return o
}

// step makes one true market event.
func (m *model) step() {
	pick := func(s mState) int {
		var ids []int
		for _, i := range m.live {
			if m.orders[i].state == s {
				ids = append(ids, i)
			}
		}
		if len(ids) == 0 {
			return -1
		}
		return ids[m.rng.IntN(len(ids))]
	}
	var kind evKind
	var id int
	switch r := m.rng.IntN(100); {
	case r < 40:
		kind, id = evListed, len(m.orders)
		m.newOrder()
	case r < 60:
		kind, id = evCancelled, pick(stActive)
	case r < 70:
		kind, id = evSold, pick(stActive)
	case r < 85:
		kind, id = evInvalidated, pick(stActive)
	default:
		kind, id = evRevalidated, pick(stInvalid)
	}
	if id < 0 {
		return
	}
	o := m.orders[id]
	o.version++
	switch kind {
	case evListed, evRevalidated:
		o.state = stActive
	case evInvalidated:
		o.state = stInvalid
	default:
		o.state = stRemoved
	}
	m.pending = append(m.pending, mEvent{kind: kind, order: id, version: o.version})
}

// deliver hands one event to the book and the reference.
func (m *model) deliver(f modelFaults) {
	var ev mEvent
	switch {
	case len(m.history) > 0 && m.rng.Float64() < f.replay:
		ev = m.history[m.rng.IntN(len(m.history))]
	case len(m.pending) > 0:
		i := m.rng.IntN(min(f.reorder, len(m.pending)))
		if i > 0 {
			m.reordered++
		}
		ev = m.pending[i]
		m.pending = slices.Delete(m.pending, i, i+1)
		if m.rng.Float64() < f.duplicate {
			m.pending = slices.Insert(m.pending, 0, ev)
		}
	default:
		return
	}
	m.now = m.now.Add(time.Second)
	m.deliveries++
	m.history = append(m.history, ev)
	o := m.orders[ev.order]
	var r Result
	switch ev.kind {
	case evListed:
		l := o.l
		l.Version = ev.version
		r = m.book.Listed(l, m.now)
	case evCancelled:
		r = m.book.Cancelled(o.l.OrderHash, ev.version, m.now)
	case evSold:
		r = m.book.Sold(o.l.OrderHash, ev.version, m.now)
	case evInvalidated:
		r = m.book.Invalidated(o.l.OrderHash, ev.version, m.now)
	case evRevalidated:
		r = m.book.Revalidated(o.l.OrderHash, ev.version, m.now)
	}
	if ev.version > o.dVersion {
		require.False(m.t, r.Duplicate || r.Stale, "%s v%d of order %d: %+v", ev.kind, ev.version, ev.order, r)
		o.dVersion = ev.version
		switch ev.kind {
		case evListed, evRevalidated:
			o.dState = stActive
		case evInvalidated:
			o.dState = stInvalid
		default:
			o.dState = stRemoved
			o.removedFinal = ev.kind == evCancelled || o.l.Quantity == 1
		}
	}
}

func (m *model) active(o *mOrder) bool {
	return o.dState == stActive && !o.l.Private && o.unit != nil &&
		(o.l.ExpiresAt.IsZero() || o.l.ExpiresAt.After(m.now))
}

// answer is what a REST call would return now: the K cheapest active
// listings, and with lag some finally removed orders it still lists.
func (m *model) answer(f modelFaults) []indexer.Listing {
	var os []*mOrder
	lag := m.rng.Float64() < f.lag
	for _, o := range m.orders {
		if m.active(o) || (lag && o.removedFinal && o.unit != nil && !o.l.Private && m.rng.IntN(4) == 0) {
			os = append(os, o)
		}
	}
	slices.SortFunc(os, func(a, b *mOrder) int {
		return cmp.Or(cmp.Compare(a.units, b.units), strings.Compare(a.l.OrderHash, b.l.OrderHash))
	})
	ls := make([]indexer.Listing, 0, m.k)
	for _, o := range os[:min(m.k, len(os))] {
		if o.dState != stActive {
			m.lagged++
		}
		l := o.l
		l.Version = 0
		ls = append(ls, l)
	}
	return ls
}

// floor is the reference's true floor, rounded down to 18 decimals.
func (m *model) floor() (string, bool) {
	var best *mOrder
	for _, i := range m.live {
		if o := m.orders[i]; m.active(o) && (best == nil || o.units < best.units) {
			best = o
		}
	}
	if best == nil {
		return "", false
	}
	// Exact as a rational; then rounded down by integer division.
	unit := new(big.Rat).SetFrac64(best.units, unitScale)
	if unit.Cmp(best.unit) != 0 {
		m.t.Fatalf("scaled unit price %s != %s", unit.FloatString(20), best.unit.FloatString(20))
	}
	wei := new(big.Int).Quo(new(big.Int).Mul(unit.Num(), pow10(18)), unit.Denom())
	s := new(big.Rat).SetFrac(wei, pow10(18)).FloatString(18)
	return strings.TrimSuffix(strings.TrimRight(s, "0"), "."), true
}

func (m *model) check() {
	t, b := m.t, m.book
	if b.Len() > m.k {
		t.Fatalf("%d entries for K=%d", b.Len(), m.k)
	}
	for _, e := range b.entries {
		o := m.byHash[e.l.OrderHash]
		if o.removedFinal {
			t.Fatalf("removed order %s came back after %d deliveries", e.l.OrderHash, m.deliveries)
		}
		if !m.active(o) {
			t.Fatalf("entry %s is not active (state %d) after %d deliveries", e.l.OrderHash, o.dState, m.deliveries)
		}
	}
	if b.NeedsRefill() || b.Uncertain() || m.refill != nil {
		return
	}
	m.checks++
	want, ok := m.floor()
	got, gotOK := b.Floor()
	if b.Len() == 0 {
		require.True(t, b.Complete())
		require.False(t, ok, "the book is empty and complete, the market's floor is %s", want)
		return
	}
	if !ok || !gotOK || want != got.Amount {
		t.Fatalf("floor after %d deliveries: book %s (%v), market %s (%v)", m.deliveries, got.Amount, gotOK, want, ok)
	}
}

// run plays steps market events with their deliveries, refilling the book
// when it asks (after 0..3 more deliveries: the REST request's flight).
func (m *model) run(steps int, f modelFaults) {
	m.refill, m.refillAt, m.refillIn = m.answer(f), m.now, m.rng.IntN(4)
	for i := range steps {
		if i%64 == 0 {
			m.live = slices.DeleteFunc(m.live, func(i int) bool {
				o := m.orders[i]
				return o.state == stRemoved && o.dState == stRemoved
			})
		}
		// Events come in bursts, so that several are in flight for the
		// reordering to pick from.
		for range m.rng.IntN(3) {
			m.step()
		}
		m.deliver(f)
		if len(m.pending) > 8 {
			m.deliver(f)
		}
		if m.refill != nil {
			if m.refillIn == 0 {
				m.book.Reset(m.refill, m.refillAt)
				m.refill = nil
			} else {
				m.refillIn--
			}
		} else if m.book.NeedsRefill() || m.book.Uncertain() {
			m.refill, m.refillAt, m.refillIn = m.answer(f), m.now, m.rng.IntN(4)
		}
		m.check()
	}
}

func TestModel(t *testing.T) {
	t.Parallel()

	for _, c := range []struct {
		name   string
		k      int
		faults modelFaults
	}{
		{"InOrder", 5, modelFaults{reorder: 1}},
		{"Duplicated", 4, modelFaults{reorder: 1, duplicate: 0.2}},
		{"Reordered", 5, modelFaults{reorder: 6}},
		{"Replayed", 3, modelFaults{reorder: 1, replay: 0.2}},
		{"Everything", 4, modelFaults{reorder: 8, duplicate: 0.1, replay: 0.15, lag: 0.5}},
		{"K1", 1, modelFaults{reorder: 4, duplicate: 0.1, replay: 0.1, lag: 0.5}},
		{"K20", 20, modelFaults{reorder: 4, duplicate: 0.05, replay: 0.05, lag: 0.3}},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			var checks, deliveries, lagged, resets, reordered int
			const seeds, steps = 10, 1000
			for seed := range uint64(seeds) {
				m := newModel(t, seed+1, c.k)
				m.run(steps, c.faults)
				checks += m.checks
				deliveries += m.deliveries
				lagged += m.lagged
				resets += int(m.book.Stats().Resets)
				reordered += m.reordered
			}
			// The floor was compared at many instants, not vacuously (the
			// rest wait for a refill: small K empties books often).
			require.Greater(t, checks, seeds*steps*2/5, "compared at %d of %d instants", checks, seeds*steps)
			if c.faults.reorder > 1 {
				require.Greater(t, reordered, deliveries/10, "too few reordered deliveries")
			}
			if c.faults.lag > 0 {
				require.Positive(t, lagged, "no answer listed a removed order")
			}
			t.Logf("%d deliveries (%d reordered), floor compared at %d instants, %d refills, %d removed orders in lagging answers", deliveries, reordered, checks, resets, lagged)
		})
	}
}
