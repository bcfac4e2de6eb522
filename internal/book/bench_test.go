package book

import (
	"fmt"
	"math/big"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nftsync/nftsync/internal/indexer"
)

// benchEvent is one pre-built stream event.
type benchEvent struct {
	kind    evKind
	l       indexer.Listing
	hash    string
	version int64
}

// benchEvents builds a market's event stream: new listings between 1 and
// 4 ETH (most of them dearer than the K cheapest), cancellations,
// invalidations and revalidations of earlier orders, sales of the cheapest
// (now and then a sweep of 30), about one in ten a duplicate or replay.
func benchEvents(n int, seed uint64) []benchEvent {
	rng := rand.New(rand.NewPCG(seed, 1))
	evs := make([]benchEvent, 0, n)
	type order struct {
		hash    string
		version int64
		milli   int // ETH price in thousandths
	}
	var active, invalid []order
	take := func(os *[]order) order {
		i := rng.IntN(len(*os))
		o := (*os)[i]
		(*os)[i] = (*os)[len(*os)-1]
		*os = (*os)[:len(*os)-1]
		o.version++
		return o
	}
	for i := 0; len(evs) < n; i++ {
		switch r := rng.IntN(100); {
		case r < 45 || len(active) == 0:
			h := fmt.Sprintf("0x%064x", i+1_000_000)
			l := indexer.Listing{
				OrderHash: h, Version: 1,
				Token:    indexer.TokenRef{Chain: "ethereum", Contract: "0xbe0c", TokenID: fmt.Sprint(i)},
				Price:    indexer.Money{Currency: "ETH", Decimals: 18},
				EthPrice: "1", Quantity: 1,
			}
			milli := 1000 + rng.IntN(3000)
			l.Price.Amount = fmt.Sprintf("%d.%03d", milli/1000, milli%1000)
			if rng.IntN(10) == 0 {
				l.Price, l.EthPrice = indexer.Money{Amount: fmt.Sprint(milli * 10 / 4), Currency: "USDC", Decimals: 6}, "0.0004"
			}
			active = append(active, order{hash: h, version: 1, milli: milli})
			evs = append(evs, benchEvent{kind: evListed, l: l, hash: h, version: 1})
		case r < 70:
			o := take(&active)
			evs = append(evs, benchEvent{kind: evCancelled, hash: o.hash, version: o.version})
		case r < 80:
			// Buyers take the floor: a sale is of the cheapest listing,
			// and now and then a sweep buys the 30 cheapest.
			sales := 1
			if rng.IntN(100) == 0 {
				sales = 30
			}
			for range min(sales, len(active)) {
				cheapest := 0
				for i, o := range active {
					if o.milli < active[cheapest].milli {
						cheapest = i
					}
				}
				o := active[cheapest]
				active = slices.Delete(active, cheapest, cheapest+1)
				o.version++
				evs = append(evs, benchEvent{kind: evSold, hash: o.hash, version: o.version})
			}
		case r < 85:
			o := take(&active)
			invalid = append(invalid, o)
			evs = append(evs, benchEvent{kind: evInvalidated, hash: o.hash, version: o.version})
		case r < 90 && len(invalid) > 0:
			o := take(&invalid)
			active = append(active, o)
			evs = append(evs, benchEvent{kind: evRevalidated, hash: o.hash, version: o.version})
		default:
			evs = append(evs, evs[rng.IntN(len(evs))]) // a duplicate or replay
		}
	}
	return evs
}

func (e *benchEvent) apply(b *Book, now time.Time) Result {
	switch e.kind {
	case evListed:
		return b.Listed(e.l, now)
	case evCancelled:
		return b.Cancelled(e.hash, e.version, now)
	case evSold:
		return b.Sold(e.hash, e.version, now)
	case evInvalidated:
		return b.Invalidated(e.hash, e.version, now)
	default:
		return b.Revalidated(e.hash, e.version, now)
	}
}

// benchMarket follows the market the events describe (newest version
// wins) to answer refills as the REST endpoint would.
type benchMarket struct {
	listing map[string]indexer.Listing
	kind    map[string]evKind
	version map[string]int64
}

func newBenchMarket() *benchMarket {
	return &benchMarket{listing: map[string]indexer.Listing{}, kind: map[string]evKind{}, version: map[string]int64{}}
}

func (m *benchMarket) apply(e *benchEvent) {
	if v, ok := m.version[e.hash]; ok && e.version <= v {
		return
	}
	m.version[e.hash], m.kind[e.hash] = e.version, e.kind
	if e.kind == evListed {
		m.listing[e.hash] = e.l
	}
}

// best is the k cheapest active listings, cheapest first.
func (m *benchMarket) best(k int) []indexer.Listing {
	type priced struct {
		l    indexer.Listing
		unit *big.Rat
	}
	var ps []priced
	for h, kind := range m.kind {
		if kind != evListed && kind != evRevalidated {
			continue
		}
		l := m.listing[h]
		unit, _ := parseDecimal(l.Price.Amount)
		eth, _ := parseDecimal(l.EthPrice)
		ps = append(ps, priced{l, unit.Mul(unit, eth)})
	}
	slices.SortFunc(ps, func(a, b priced) int { return a.unit.Cmp(b.unit) })
	ls := make([]indexer.Listing, 0, k)
	for _, p := range ps[:min(k, len(ps))] {
		p.l.Version = 0
		ls = append(ls, p.l)
	}
	return ls
}

// benchPlan plays the events once, untimed, and records the REST answers
// the book asks for (where it NeedsRefill): the timed run replays them.
func benchPlan(evs []benchEvent, k int) map[int][]indexer.Listing {
	m, bk := newBenchMarket(), New(k, "ETH")
	bk.Reset(nil, t0)
	refills := map[int][]indexer.Listing{}
	for i := range evs {
		now := t0.Add(time.Duration(i+1) * time.Millisecond)
		m.apply(&evs[i])
		if r := evs[i].apply(bk, now); r.NeedsRefill {
			refills[i] = m.best(k)
			bk.Reset(refills[i], now)
		}
	}
	return refills
}

// BenchmarkBookEvents measures events applied per second to one book
// (K=20) and the allocations per event, refills included: the book is
// refilled (Reset with the market's K cheapest) when it asks, as the
// consumer would, and the refills per 1000 events are reported.
func BenchmarkBookEvents(b *testing.B) {
	const k = 20
	evs := benchEvents(1<<14, 7)
	plan := benchPlan(evs, k)
	var bk *Book
	refills := 0
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		j := i % len(evs)
		if j == 0 { // the stream starts over with a new book
			bk = New(k, "ETH")
			bk.Reset(nil, t0)
		}
		now := t0.Add(time.Duration(j+1) * time.Millisecond)
		r := evs[j].apply(bk, now)
		if ans, ok := plan[j]; ok {
			if !r.NeedsRefill {
				b.Fatalf("event %d: the planned refill is not needed", j)
			}
			bk.Reset(ans, now)
			refills++
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	b.ReportMetric(float64(refills)*1000/float64(b.N), "refills/1k-events")
}

// BenchmarkThousandBooks reports the heap held by 1,000 books after each
// took a long event stream (tombstones, aside and recent listings at their
// bounds).
func BenchmarkThousandBooks(b *testing.B) {
	const k, books = 20, 1000
	evs := benchEvents(4000, 11)
	plan := benchPlan(evs, k)
	for range b.N {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		bs := make([]*Book, books)
		for i := range bs {
			bk := New(k, "ETH")
			bk.Reset(nil, t0)
			for j := range evs {
				now := t0.Add(time.Duration(j+1) * time.Millisecond)
				e := evs[j]
				// Each book holds its own strings, as decoded events do.
				e.hash, e.l.OrderHash = strings.Clone(e.hash), strings.Clone(e.l.OrderHash)
				e.l.Price.Amount, e.l.Token.TokenID = strings.Clone(e.l.Price.Amount), strings.Clone(e.l.Token.TokenID)
				e.apply(bk, now)
				if ans, ok := plan[j]; ok {
					bk.Reset(ans, now)
				}
			}
			bs[i] = bk
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/books, "heap-bytes/book")
		runtime.KeepAlive(bs)
	}
}
