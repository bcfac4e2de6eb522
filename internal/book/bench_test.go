package book

import (
	"fmt"
	"math/rand/v2"
	"runtime"
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

// benchEvents builds a market's event stream: new listings spread around
// the floor (most of them dearer than the K cheapest), cancellations,
// sales, invalidations and revalidations of earlier orders, about one in
// ten a duplicate.
func benchEvents(n int, seed uint64) []benchEvent {
	rng := rand.New(rand.NewPCG(seed, 1))
	evs := make([]benchEvent, 0, n)
	type order struct {
		hash    string
		version int64
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
				Price:    indexer.Money{Amount: fmt.Sprintf("%d.%03d", 1+rng.IntN(3), rng.IntN(1000)), Currency: "ETH", Decimals: 18},
				EthPrice: "1", Quantity: 1,
			}
			if rng.IntN(10) == 0 {
				l.Price, l.EthPrice = indexer.Money{Amount: fmt.Sprint(4000 + rng.IntN(4000)), Currency: "USDC", Decimals: 6}, "0.0004"
			}
			active = append(active, order{hash: h, version: 1})
			evs = append(evs, benchEvent{kind: evListed, l: l, hash: h, version: 1})
		case r < 70:
			o := take(&active)
			evs = append(evs, benchEvent{kind: evCancelled, hash: o.hash, version: o.version})
		case r < 80:
			o := take(&active)
			evs = append(evs, benchEvent{kind: evSold, hash: o.hash, version: o.version})
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

func benchAnswer(k int) []indexer.Listing {
	ls := make([]indexer.Listing, k)
	for i := range ls {
		ls[i] = indexer.Listing{
			OrderHash: fmt.Sprintf("0x%064x", i+1), Quantity: 1, EthPrice: "1",
			Price: indexer.Money{Amount: fmt.Sprintf("1.%03d", 100+i*10), Currency: "ETH", Decimals: 18},
		}
	}
	return ls
}

// BenchmarkBookEvents measures events applied per second to one book
// (K=20) and the allocations per event. The book is refilled (Reset) when
// it asks, as the consumer would; refills are reported per 1000 events.
func BenchmarkBookEvents(b *testing.B) {
	const k = 20
	evs := benchEvents(1<<14, 7)
	answer := benchAnswer(k)
	bk := New(k, "ETH")
	now := t0
	bk.Reset(answer, now)
	refills := 0
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		now = now.Add(time.Millisecond)
		e := &evs[i%len(evs)]
		if i%len(evs) == 0 && i > 0 {
			bk = New(k, "ETH") // the stream's versions start over
			bk.Reset(answer, now)
		}
		if r := e.apply(bk, now); r.NeedsRefill {
			bk.Reset(answer, now)
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
	answer := benchAnswer(k)
	for range b.N {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		bs := make([]*Book, books)
		for i := range bs {
			bk := New(k, "ETH")
			now := t0
			bk.Reset(answer, now)
			for j := range evs {
				now = now.Add(time.Millisecond)
				e := evs[j]
				// Each book holds its own strings, as decoded events do.
				e.hash, e.l.OrderHash = strings.Clone(e.hash), strings.Clone(e.l.OrderHash)
				e.l.Price.Amount, e.l.Token.TokenID = strings.Clone(e.l.Price.Amount), strings.Clone(e.l.Token.TokenID)
				if r := e.apply(bk, now); r.NeedsRefill {
					bk.Reset(answer, now)
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
