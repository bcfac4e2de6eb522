package book

import (
	"cmp"
	"fmt"
	"math/big"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nftsync/nftsync/internal/indexer"
)

// fuzzOrders is the order space of FuzzBook: small, so that versions,
// tombstones and the bound collide often.
const fuzzOrders = 16

// fuzzListing is order n's immutable listing; salt varies the prices.
func fuzzListing(n int, salt byte) indexer.Listing {
	cents := 1 + (n*7+int(salt))%20
	l := indexer.Listing{
		OrderHash: hash(1000 + n),
		Token:     indexer.TokenRef{Chain: "ethereum", Contract: "0xf022", TokenID: fmt.Sprint(n)},
		Price:     indexer.Money{Amount: fmt.Sprintf("0.%02d", cents), Currency: "ETH", Decimals: 18},
		EthPrice:  "1",
		Quantity:  1,
	}
	switch {
	case n%11 == 10:
		l.Price, l.EthPrice = indexer.Money{Amount: fmt.Sprint(cents * 25), Currency: "USDC", Decimals: 6}, "" // never counts
	case n%5 == 0:
		// 25 × cents dollars at 0.0004 ETH = the same cents in ETH.
		l.Price, l.EthPrice = indexer.Money{Amount: fmt.Sprint(cents * 25), Currency: "USDC", Decimals: 6}, "0.0004"
	}
	if n%7 == 6 {
		l.Quantity = 2
		l.Price.Amount = fmt.Sprintf("0.%02d", 2*cents)
	}
	l.Private = n%13 == 12
	if n%3 == 2 {
		l.ExpiresAt = t0.Add(time.Duration(30+n*37%200) * time.Second)
	}
	return l
}

// fuzzRef is the reference: each order's state by the newest version
// delivered.
type fuzzRef struct {
	ls      [fuzzOrders]indexer.Listing
	units   [fuzzOrders]*big.Rat
	state   [fuzzOrders]mState
	version [fuzzOrders]int64
	final   [fuzzOrders]bool
	now     time.Time
}

func (r *fuzzRef) apply(n int, version int64, s mState, final bool) {
	if version > r.version[n] {
		r.version[n], r.state[n], r.final[n] = version, s, final
	}
}

func (r *fuzzRef) active(n int) bool {
	l := r.ls[n]
	return r.state[n] == stActive && !l.Private && l.EthPrice != "" &&
		(l.ExpiresAt.IsZero() || l.ExpiresAt.After(r.now))
}

func (r *fuzzRef) answer(k int, lag bool) []indexer.Listing {
	var ns []int
	for n := range fuzzOrders {
		if r.active(n) || (lag && r.state[n] == stRemoved && r.final[n] && !r.ls[n].Private && r.ls[n].EthPrice != "") {
			ns = append(ns, n)
		}
	}
	slices.SortFunc(ns, func(a, b int) int {
		return cmp.Or(r.units[a].Cmp(r.units[b]), strings.Compare(r.ls[a].OrderHash, r.ls[b].OrderHash))
	})
	var ls []indexer.Listing
	for _, n := range ns[:min(k, len(ns))] {
		ls = append(ls, r.ls[n])
	}
	return ls
}

// FuzzBook plays byte-coded event sequences (listings, cancellations,
// sales, invalidations, transfers, revalidations with arbitrary versions, time
// passing, REST answers taken before events that arrive ahead of them,
// answers still listing removed orders) and checks the invariants after
// every step: at most K entries, cheapest first, the floor is the first
// entry rounded down, no order removed for good is ever in the book, every
// entry is active, and the floor is the true floor whenever the book
// vouches for it.
func FuzzBook(f *testing.F) {
	f.Add([]byte{3, 0})
	f.Add([]byte{2, 5, 60, 0, 0, 1, 10, 1, 11, 2, 70, 0, 12, 2, 22, 3, 43, 4, 45, 5, 70, 0})
	f.Add([]byte{1, 9, 0, 1, 1, 1, 2, 1, 3, 1, 60, 0, 4, 2, 14, 3, 70, 0, 80, 30, 5, 4, 25, 5, 90, 0, 70, 0})
	f.Add([]byte{4, 3, 60, 0, 5, 3, 15, 2, 70, 0, 0, 1, 0, 1, 24, 2, 20, 1, 34, 3, 44, 1, 54, 6, 80, 255, 70, 0})
	f.Add([]byte{3, 7, 0, 1, 10, 1, 20, 1, 60, 0, 4, 128, 14, 200, 70, 0, 15, 2, 24, 130, 70, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) < 2 {
			return
		}
		k, salt := 1+int(data[0])%5, data[1]
		b := New(k, "ETH")
		ref := &fuzzRef{now: t0}
		for n := range fuzzOrders {
			ref.ls[n] = fuzzListing(n, salt)
			ref.version[n] = -1
			if ref.ls[n].EthPrice != "" {
				amount, _ := new(big.Rat).SetString(ref.ls[n].Price.Amount)
				eth, _ := new(big.Rat).SetString(ref.ls[n].EthPrice)
				ref.units[n] = amount.Mul(amount, eth).Quo(amount, big.NewRat(ref.ls[n].Quantity, 1))
			}
		}
		var pending []indexer.Listing
		var pendingAt time.Time
		havePending := false
		for i := 2; i+1 < len(data); i += 2 {
			op, arg := data[i], data[i+1]
			n, v := int(op/10)%fuzzOrders, int64(arg%8)
			ref.now = ref.now.Add(time.Second)
			now := ref.now
			h := ref.ls[n].OrderHash
			switch op % 10 {
			case 0, 1:
				l := ref.ls[n]
				l.Version = v
				b.Listed(l, now)
				ref.apply(n, v, stActive, false)
			case 2:
				b.Cancelled(h, v, now)
				ref.apply(n, v, stRemoved, true)
			case 3:
				b.Sold(h, v, now)
				ref.apply(n, v, stRemoved, ref.ls[n].Quantity == 1)
			case 4:
				if arg >= 128 { // the token left its maker: the order can no longer be filled
					b.Transferred(ref.ls[n].Token, ref.ls[n].Maker, time.Time{}, now)
					if ref.state[n] == stActive {
						ref.state[n] = stInvalid
					}
					break
				}
				b.Invalidated(h, v, now)
				ref.apply(n, v, stInvalid, false)
			case 5:
				b.Revalidated(h, v, now)
				ref.apply(n, v, stActive, false)
			case 6, 9: // a REST request is sent now
				pending, pendingAt, havePending = ref.answer(k, op%10 == 9), now, true
				b.Expire(now)
			case 7: // its answer arrives
				if !havePending {
					pending, pendingAt = ref.answer(k, false), now
				}
				b.Reset(pending, pendingAt)
				b.Expire(now)
				havePending = false
			case 8:
				ref.now = ref.now.Add(time.Duration(arg) * time.Second)
				b.Expire(ref.now)
			}
			checkFuzz(t, b, ref, k)
		}
	})
}

func checkFuzz(t *testing.T, b *Book, ref *fuzzRef, k int) {
	t.Helper()
	if b.Len() > k {
		t.Fatalf("%d entries, K=%d", b.Len(), k)
	}
	for i, e := range b.entries {
		if i > 0 && compare(b.entries[i-1], e) > 0 {
			t.Fatalf("entries out of order at %d", i)
		}
		n := slices.IndexFunc(ref.ls[:], func(l indexer.Listing) bool { return l.OrderHash == e.l.OrderHash })
		if ref.state[n] == stRemoved && ref.final[n] {
			t.Fatalf("order %d, removed for good at v%d, is in the book", n, ref.version[n])
		}
		if !ref.active(n) {
			t.Fatalf("order %d in the book is not active (state %d v%d)", n, ref.state[n], ref.version[n])
		}
	}
	m, ok := b.Floor()
	if ok != (b.Len() > 0) {
		t.Fatalf("floor %v with %d entries", ok, b.Len())
	}
	if ok && m.Amount != formatDown(b.entries[0].key, 18) {
		t.Fatalf("floor %s, cheapest entry %s", m.Amount, b.entries[0].key.FloatString(20))
	}
	if b.NeedsRefill() || b.Uncertain() {
		return
	}
	var best *big.Rat
	for n := range fuzzOrders {
		if ref.active(n) && (best == nil || ref.units[n].Cmp(best) < 0) {
			best = ref.units[n]
		}
	}
	switch {
	case best == nil && ok:
		t.Fatalf("floor %s, the market has none", m.Amount)
	case best != nil && !ok:
		if b.Complete() {
			t.Fatalf("no floor in a complete book, the market's is %s", best.FloatString(18))
		}
	case best != nil && m.Amount != formatDown(best, 18):
		t.Fatalf("floor %s, the market's is %s", m.Amount, formatDown(best, 18))
	}
}
