package book

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nftsync/nftsync/internal/indexer"
)

var t0 = time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)

func at(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }

func hash(n int) string { return fmt.Sprintf("0x%064x", n) }

// eth is a one-unit ETH listing of order n.
func eth(n int, amount string) indexer.Listing {
	return indexer.Listing{
		OrderHash: hash(n),
		Version:   1,
		Token:     indexer.TokenRef{Chain: "ethereum", Contract: "0xc0ffee", TokenID: fmt.Sprint(n)},
		Price:     indexer.Money{Amount: amount, Currency: "ETH", Decimals: 18},
		EthPrice:  "1",
		Quantity:  1,
	}
}

func ver(l indexer.Listing, v int64) indexer.Listing { l.Version = v; return l }

func rest(ls ...indexer.Listing) []indexer.Listing {
	for i := range ls {
		ls[i].Version = 0
	}
	return ls
}

func requireFloor(t *testing.T, b *Book, want string) {
	t.Helper()
	m, ok := b.Floor()
	if want == "" {
		require.False(t, ok, "floor %v", m)
		return
	}
	require.True(t, ok, "no floor, want %s", want)
	require.Equal(t, want, m.Amount)
}

func hashes(b *Book) []string {
	var hs []string
	for _, l := range b.Entries() {
		hs = append(hs, l.OrderHash)
	}
	return hs
}

func TestNewAndReset(t *testing.T) {
	t.Parallel()

	t.Run("NewNeedsRefill", func(t *testing.T) {
		t.Parallel()
		b := New(3, "ETH")
		require.True(t, b.NeedsRefill())
		requireFloor(t, b, "")
		_, ok := b.Cheapest()
		require.False(t, ok)
		r := b.Listed(eth(1, "1"), at(0))
		require.True(t, r.Applied)
		require.True(t, r.NeedsRefill, "before a Reset nothing is known")
		require.Zero(t, b.Len())
	})

	t.Run("ShortAnswerIsComplete", func(t *testing.T) {
		t.Parallel()
		b := New(3, "ETH")
		r := b.Reset(rest(eth(1, "1.5"), eth(2, "2")), at(0))
		require.True(t, r.Applied)
		require.True(t, r.FloorChanged)
		require.False(t, r.NeedsRefill)
		require.True(t, b.Complete())
		requireFloor(t, b, "1.5")
		m, _ := b.Floor()
		require.Equal(t, indexer.Money{Amount: "1.5", Currency: "ETH", Decimals: 18}, m)
		c, ok := b.Cheapest()
		require.True(t, ok)
		require.Equal(t, hash(1), c.OrderHash)

		// A complete book takes any listing while it has room.
		b.Listed(eth(3, "100"), at(1))
		require.Equal(t, 3, b.Len())
		require.True(t, b.Complete())
		// Full: the dearest leaves and the book is no longer complete.
		r = b.Listed(eth(4, "3"), at(2))
		require.True(t, r.Applied)
		require.False(t, r.FloorChanged)
		require.Equal(t, []string{hash(1), hash(2), hash(4)}, hashes(b))
		require.False(t, b.Complete())
	})

	t.Run("EmptyAnswerIsAnEmptyCollection", func(t *testing.T) {
		t.Parallel()
		b := New(3, "ETH")
		r := b.Reset(nil, at(0))
		require.False(t, r.NeedsRefill)
		require.False(t, r.FloorChanged)
		requireFloor(t, b, "")
		r = b.Listed(eth(1, "7"), at(1))
		require.True(t, r.FloorChanged)
		requireFloor(t, b, "7")
		r = b.Cancelled(hash(1), 2, at(2))
		require.True(t, r.FloorChanged)
		require.False(t, r.NeedsRefill, "the book knew every listing")
	})

	t.Run("FullAnswerBoundsTheBook", func(t *testing.T) {
		t.Parallel()
		b := New(2, "ETH")
		b.Reset(rest(eth(1, "1"), eth(2, "2")), at(0))
		require.False(t, b.Complete())
		// Dearer than the bound: orders between 2 and 5 may exist.
		r := b.Listed(eth(3, "5"), at(1))
		require.True(t, r.Applied)
		require.Equal(t, 2, b.Len())
		// Cheaper than the K-th: enters, the K-th leaves.
		r = b.Listed(eth(4, "0.5"), at(2))
		require.True(t, r.FloorChanged)
		requireFloor(t, b, "0.5")
		require.Equal(t, []string{hash(4), hash(1)}, hashes(b))
		// With room after a removal the bound (2, the evicted price) still
		// rules: 2.5 stays out, 2 (equal to the bound) enters.
		b.Cancelled(hash(1), 2, at(3))
		require.Equal(t, 1, b.Len())
		b.Listed(eth(5, "2.5"), at(4))
		require.Equal(t, 1, b.Len())
		b.Listed(eth(6, "2"), at(5))
		require.Equal(t, []string{hash(4), hash(6)}, hashes(b))
	})

	t.Run("LastEntryGoneNeedsRefill", func(t *testing.T) {
		t.Parallel()
		b := New(2, "ETH")
		b.Reset(rest(eth(1, "1"), eth(2, "2")), at(0))
		r := b.Sold(hash(1), 1, at(1))
		require.True(t, r.FloorChanged)
		require.False(t, r.NeedsRefill)
		requireFloor(t, b, "2")
		r = b.Cancelled(hash(2), 1, at(2))
		require.True(t, r.FloorChanged)
		require.True(t, r.NeedsRefill)
		require.True(t, b.NeedsRefill())
		requireFloor(t, b, "")
		r = b.Reset(rest(eth(3, "4")), at(3))
		require.False(t, r.NeedsRefill)
		requireFloor(t, b, "4")
	})

	t.Run("AnswerLongerThanK", func(t *testing.T) {
		t.Parallel()
		b := New(2, "ETH")
		b.Reset(rest(eth(1, "1"), eth(2, "2"), eth(3, "3")), at(0))
		require.Equal(t, []string{hash(1), hash(2)}, hashes(b))
		b.Listed(eth(4, "2.5"), at(1))
		require.Equal(t, []string{hash(1), hash(2)}, hashes(b), "the bound fell to 2 when 3 was evicted")
	})

	t.Run("PanicsOnK0", func(t *testing.T) {
		t.Parallel()
		require.PanicsWithValue(t, "book: K must be at least 1, got 0", func() { New(0, "ETH") })
	})
}

func TestVersions(t *testing.T) {
	t.Parallel()

	setup := func(t *testing.T) *Book {
		t.Helper()
		b := New(3, "ETH")
		b.Reset(nil, at(0))
		return b
	}

	t.Run("DuplicateAndStaleListing", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		require.True(t, b.Listed(ver(eth(1, "1"), 5), at(1)).Applied)
		r := b.Listed(ver(eth(1, "1"), 5), at(2))
		require.Equal(t, Result{Duplicate: true}, r)
		r = b.Listed(ver(eth(1, "9"), 4), at(3))
		require.Equal(t, Result{Stale: true}, r)
		requireFloor(t, b, "1")
		st := b.Stats()
		require.Equal(t, Stats{Events: 3, Applied: 1, Duplicates: 1, Stale: 1, Resets: 1}, st)
	})

	t.Run("CancelBeforeItsListing", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		require.True(t, b.Cancelled(hash(1), 2, at(1)).Applied)
		r := b.Listed(ver(eth(1, "1"), 1), at(2))
		require.True(t, r.Stale)
		requireFloor(t, b, "")
	})

	t.Run("ReplayNeverResurrects", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		b.Listed(ver(eth(1, "1"), 1), at(1))
		b.Listed(ver(eth(2, "2"), 1), at(1))
		r := b.Sold(hash(1), 3, at(2))
		require.True(t, r.FloorChanged)
		requireFloor(t, b, "2")
		for _, v := range []int64{1, 2, 3} {
			r = b.Listed(ver(eth(1, "1"), v), at(3))
			require.False(t, r.Applied, "version %d", v)
			require.True(t, r.Stale || r.Duplicate)
		}
		require.True(t, b.Revalidated(hash(1), 2, at(4)).Stale)
		require.True(t, b.Cancelled(hash(1), 3, at(4)).Duplicate)
		requireFloor(t, b, "2")
	})

	t.Run("NewerListingOfARemovedOrderEnters", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		b.Listed(ver(eth(1, "1"), 1), at(1))
		b.Cancelled(hash(1), 2, at(2))
		r := b.Listed(ver(eth(1, "1"), 3), at(3))
		require.True(t, r.Applied)
		requireFloor(t, b, "1")
	})

	t.Run("CaseOfTheHashDoesNotMatter", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		l := eth(0xab, "1")
		b.Listed(l, at(1))
		r := b.Cancelled("0x"+fmt.Sprintf("%064X", 0xab), 2, at(2))
		require.True(t, r.Applied)
		require.Zero(t, b.Len())
	})
}

func TestInvalidation(t *testing.T) {
	t.Parallel()

	setup := func(t *testing.T) *Book {
		t.Helper()
		b := New(2, "ETH")
		b.Reset(rest(eth(1, "1"), eth(2, "2")), at(0))
		return b
	}

	t.Run("AsideAndBack", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		r := b.Invalidated(hash(1), 1, at(1))
		require.True(t, r.Applied)
		require.True(t, r.FloorChanged)
		requireFloor(t, b, "2")
		require.Equal(t, 1, b.Len())
		require.True(t, b.Revalidated(hash(1), 1, at(2)).Duplicate)
		requireFloor(t, b, "2")
		r = b.Revalidated(hash(1), 2, at(3))
		require.True(t, r.Applied)
		require.True(t, r.FloorChanged)
		require.False(t, r.Uncertain)
		requireFloor(t, b, "1")
	})

	t.Run("RevalidatedDearerThanTheBound", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		b.Invalidated(hash(2), 1, at(1))
		b.Listed(eth(3, "0.5"), at(2))
		b.Listed(eth(4, "0.7"), at(2)) // evicts 1: the bound is 1 now
		r := b.Revalidated(hash(2), 2, at(3))
		require.True(t, r.Applied)
		require.False(t, r.Uncertain)
		require.Equal(t, []string{hash(3), hash(4)}, hashes(b))
	})

	t.Run("UnknownOrderRevalidatedIsUncertain", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		r := b.Revalidated(hash(9), 3, at(1))
		require.True(t, r.Applied)
		require.True(t, r.Uncertain)
		require.True(t, b.Uncertain())
		// Its listing arriving late teaches the price.
		r = b.Listed(ver(eth(9, "0.1"), 1), at(2))
		require.True(t, r.Stale)
		require.True(t, r.FloorChanged)
		requireFloor(t, b, "0.1")
		// A Reset clears the doubt.
		r = b.Reset(rest(eth(9, "0.1"), eth(1, "1")), at(3))
		require.False(t, r.Uncertain)
	})

	t.Run("InvalidatedUnknownThenLearnedThenRevalidated", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		b.Invalidated(hash(9), 2, at(1))
		b.Listed(ver(eth(9, "0.1"), 1), at(2)) // late: goes aside
		requireFloor(t, b, "1")
		r := b.Revalidated(hash(9), 3, at(3))
		require.False(t, r.Uncertain)
		requireFloor(t, b, "0.1")
	})

	t.Run("RevalidateBeforeInvalidate", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		require.True(t, b.Revalidated(hash(1), 3, at(1)).Applied)
		require.True(t, b.Invalidated(hash(1), 2, at(2)).Stale)
		requireFloor(t, b, "1")
	})

	t.Run("AsideIsBounded", func(t *testing.T) {
		t.Parallel()
		b := NewWithOptions(Options{K: 2, Currency: "ETH", MaxAside: 1})
		b.Reset(rest(eth(1, "1"), eth(2, "2")), at(0))
		b.Invalidated(hash(1), 1, at(1))
		b.Invalidated(hash(2), 1, at(2)) // pushes 1's listing out
		r := b.Revalidated(hash(2), 2, at(3))
		require.False(t, r.Uncertain)
		requireFloor(t, b, "2")
		r = b.Revalidated(hash(1), 2, at(4))
		require.True(t, r.Uncertain, "its listing was forgotten")
	})

	t.Run("CancelledWhileAside", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		b.Invalidated(hash(1), 1, at(1))
		b.Cancelled(hash(1), 2, at(2))
		require.True(t, b.Revalidated(hash(1), 1, at(3)).Stale)
		requireFloor(t, b, "2")
	})
}

func TestSold(t *testing.T) {
	t.Parallel()

	t.Run("MultiUnitSaleIsUncertain", func(t *testing.T) {
		t.Parallel()
		b := New(2, "ETH")
		l := eth(1, "3")
		l.Quantity = 3
		b.Reset(rest(l, eth(2, "2")), at(0))
		requireFloor(t, b, "1")
		r := b.Sold(hash(1), 1, at(1))
		require.True(t, r.Uncertain)
		requireFloor(t, b, "2")
		// The order still has units on sale: a later answer restores it
		// (the removal was not final).
		r = b.Reset(rest(l, eth(2, "2")), at(2))
		require.False(t, r.Uncertain)
		requireFloor(t, b, "1")
	})

	t.Run("SingleUnitSaleIsFinal", func(t *testing.T) {
		t.Parallel()
		b := New(2, "ETH")
		b.Reset(rest(eth(1, "1"), eth(2, "2")), at(0))
		b.Sold(hash(1), 1, at(1))
		// A lagging answer still lists the sold order: it stays out.
		b.Reset(rest(eth(1, "1"), eth(2, "2")), at(2))
		requireFloor(t, b, "2")
	})
}

func TestTransferred(t *testing.T) {
	t.Parallel()
	maker := func(l indexer.Listing, m string, listed time.Time) indexer.Listing {
		l.Maker, l.ListedAt = m, listed
		return l
	}

	t.Run("LostSaleRepairedByItsTransfer", func(t *testing.T) {
		t.Parallel()
		b := New(3, "ETH")
		b.Reset(rest(maker(eth(1, "1"), "0xa", at(-60)), maker(eth(2, "2"), "0xb", at(-60))), at(0))
		// The item_sold of order 1 was lost; its transfer arrives.
		r := b.Transferred(eth(1, "1").Token, "0xA", at(5), at(6))
		require.True(t, r.Applied)
		require.True(t, r.FloorChanged)
		require.True(t, r.Uncertain, "a multi-unit maker may still hold units: a REST answer confirms")
		requireFloor(t, b, "2")
		// The sale arriving late removes it for good; a replay of its
		// listing does not bring it back.
		b.Sold(hash(1), 2, at(7))
		b.Listed(maker(eth(1, "1"), "0xa", at(-60)), at(8))
		requireFloor(t, b, "2")
	})

	t.Run("OtherTokensMakersAndLaterListingsStay", func(t *testing.T) {
		t.Parallel()
		b := New(3, "ETH")
		b.Reset(rest(maker(eth(1, "1"), "0xa", at(-60)), maker(eth(2, "2"), "0xb", at(-60))), at(0))
		for _, tc := range []struct {
			token indexer.TokenRef
			from  string
			at    time.Time
		}{
			{eth(2, "2").Token, "0xa", at(5)},   // another token of the same maker
			{eth(1, "1").Token, "0xb", at(5)},   // the token, sent by someone else
			{eth(1, "1").Token, "0xa", at(-90)}, // before the listing was made
		} {
			r := b.Transferred(tc.token, tc.from, tc.at, at(6))
			require.False(t, r.Applied, "%+v", tc)
			requireFloor(t, b, "1")
		}
	})

	t.Run("RESTAnswerRestoresAListingStillValid", func(t *testing.T) {
		t.Parallel()
		b := New(3, "ETH")
		b.Reset(rest(maker(eth(1, "1"), "0xa", at(-60)), maker(eth(2, "2"), "0xb", at(-60))), at(0))
		b.Transferred(eth(1, "1").Token, "0xa", at(5), at(6))
		requireFloor(t, b, "2")
		// The maker holds more units: the audit's answer still lists it.
		r := b.Reset(rest(maker(eth(1, "1"), "0xa", at(-60)), maker(eth(2, "2"), "0xb", at(-60))), at(10))
		require.False(t, r.Uncertain)
		requireFloor(t, b, "1")
	})

	t.Run("RevalidationRestores", func(t *testing.T) {
		t.Parallel()
		b := New(3, "ETH")
		b.Listed(maker(ver(eth(1, "1"), 4), "0xa", at(-60)), at(0))
		b.Reset(rest(maker(eth(1, "1"), "0xa", at(-60)), maker(eth(2, "2"), "0xb", at(-60))), at(1))
		b.Transferred(eth(1, "1").Token, "0xa", time.Time{}, at(2))
		requireFloor(t, b, "2")
		// The token came back to its maker: OpenSea revalidates the order.
		b.Revalidated(hash(1), 5, at(3))
		requireFloor(t, b, "1")
	})
}

func TestResetAndNewerState(t *testing.T) {
	t.Parallel()

	t.Run("RemovalDuringTheRequest", func(t *testing.T) {
		t.Parallel()
		b := New(2, "ETH")
		b.Reset(rest(eth(1, "1"), eth(2, "2"), eth(3, "3")), at(0))
		// Request sent at 10; an invalidation arrives at 11, the answer
		// (which predates it) still lists the order.
		b.Invalidated(hash(1), 4, at(11))
		b.Reset(rest(eth(1, "1"), eth(2, "2")), at(10))
		requireFloor(t, b, "2")
		r := b.Revalidated(hash(1), 5, at(12))
		require.True(t, r.FloorChanged)
		requireFloor(t, b, "1")
	})

	t.Run("OlderInvalidationLosesToTheAnswer", func(t *testing.T) {
		t.Parallel()
		b := New(2, "ETH")
		b.Reset(rest(eth(1, "1"), eth(2, "2")), at(0))
		b.Invalidated(hash(1), 4, at(1))
		// Revalidated but the event was lost; the answer knows.
		b.Reset(rest(eth(1, "1"), eth(2, "2")), at(10))
		requireFloor(t, b, "1")
		require.True(t, b.Revalidated(hash(1), 4, at(11)).Duplicate, "the version survives the answer")
	})

	t.Run("ListingDuringTheRequest", func(t *testing.T) {
		t.Parallel()
		b := New(2, "ETH")
		// Before the first answer nothing enters, but it is remembered.
		b.Listed(eth(6, "0.4"), at(9)) // before the request: the answer holds it if active
		b.Listed(eth(5, "0.5"), at(11))
		b.Reset(rest(eth(1, "1"), eth(2, "2")), at(10)) // sent at 10, answered after 11
		require.Equal(t, []string{hash(5), hash(1)}, hashes(b))
		requireFloor(t, b, "0.5")
	})

	t.Run("StaleStateDropped", func(t *testing.T) {
		t.Parallel()
		b := New(2, "ETH")
		b.Reset(rest(eth(2, "2"), eth(3, "3")), at(0))
		b.Listed(ver(eth(1, "1"), 3), at(1))
		// 1 was cancelled but the event was lost: the answer does not
		// list it. A replay of its listing stays out.
		b.Reset(rest(eth(2, "2"), eth(3, "3")), at(10))
		require.Equal(t, []string{hash(2), hash(3)}, hashes(b))
		require.True(t, b.Listed(ver(eth(1, "1"), 3), at(11)).Duplicate)
		require.True(t, b.Listed(ver(eth(1, "1"), 2), at(11)).Stale)
		requireFloor(t, b, "2")
	})

	t.Run("FilteredAnswer", func(t *testing.T) {
		t.Parallel()
		b := New(3, "ETH")
		priv := eth(1, "0.1")
		priv.Private = true
		expired := eth(2, "0.2")
		expired.ExpiresAt = at(5)
		bad := eth(3, "x")
		r := b.Reset(rest(priv, expired, bad, eth(4, "4"), eth(4, "4")), at(10))
		require.ErrorContains(t, r.Err, hash(3))
		require.Equal(t, []string{hash(4)}, hashes(b))
		require.False(t, b.Complete(), "five listings answered for K=3")
		st := b.Stats()
		require.Equal(t, uint64(1), st.Private)
		require.Equal(t, uint64(1), st.Expired)
		require.Equal(t, uint64(1), st.Invalid)
		// The bound is the dearest answered listing, 4.
		b.Listed(eth(5, "4.5"), at(11))
		require.Equal(t, 1, b.Len())
	})
}

func TestExpiry(t *testing.T) {
	t.Parallel()

	b := New(3, "ETH")
	l1, l2 := eth(1, "1"), eth(2, "2")
	l1.ExpiresAt, l2.ExpiresAt = at(10), at(20)
	b.Reset(rest(l1, l2, eth(3, "3")), at(0))
	next, ok := b.NextExpiry()
	require.True(t, ok)
	require.Equal(t, at(10), next)

	r := b.Expire(at(9))
	require.False(t, r.FloorChanged)
	r = b.Expire(at(10))
	require.True(t, r.FloorChanged)
	requireFloor(t, b, "2")
	next, _ = b.NextExpiry()
	require.Equal(t, at(20), next)

	// Any call expires too, and the clock never goes back.
	r = b.Cancelled(hash(99), 1, at(25))
	require.True(t, r.FloorChanged)
	requireFloor(t, b, "3")
	_, ok = b.NextExpiry()
	require.False(t, ok)
	// The clock never goes back: at(5) reads as at(25), so a replayed
	// listing that expired at 20 stays out.
	r = b.Listed(ver(l2, 9), at(5))
	require.True(t, r.Applied)
	require.Equal(t, ReasonExpired, r.Ignored)
	requireFloor(t, b, "3")
}

func TestCurrencies(t *testing.T) {
	t.Parallel()

	usdc := func(n int, amount, ethPrice string) indexer.Listing {
		l := eth(n, amount)
		l.Price.Currency, l.Price.Decimals, l.EthPrice = "USDC", 6, ethPrice
		return l
	}

	t.Run("ETHBook", func(t *testing.T) {
		t.Parallel()
		b := New(3, "ETH")
		b.Reset(nil, at(0))
		weth := eth(1, "2")
		weth.Price.Currency, weth.EthPrice = "WETH", ""
		require.Empty(t, b.Listed(weth, at(1)).Ignored)
		requireFloor(t, b, "2")
		// 3000 USDC at 0.0005 ETH per USDC = 1.5 ETH.
		r := b.Listed(usdc(2, "3000", "0.0005"), at(2))
		require.True(t, r.FloorChanged)
		m, _ := b.Floor()
		require.Equal(t, indexer.Money{Amount: "1.5", Currency: "ETH", Decimals: 18}, m)
		r = b.Listed(usdc(3, "1", ""), at(3))
		require.Equal(t, ReasonNoRate, r.Ignored)
		require.Equal(t, uint64(1), b.Stats().NoRate)
		require.Equal(t, 2, b.Len())
	})

	t.Run("POLBookLearnsItsRate", func(t *testing.T) {
		t.Parallel()
		b := NewWithOptions(Options{K: 3, Currency: "POL", Decimals: 18})
		b.Reset(nil, at(0))
		// No rate for POL yet: an ETH listing cannot be compared.
		require.Equal(t, ReasonNoRate, b.Listed(eth(1, "0.001"), at(1)).Ignored)
		pol := eth(2, "10")
		pol.Price.Currency, pol.EthPrice = "POL", "0.0002"
		pol2 := eth(3, "12")
		pol2.Price.Currency, pol2.EthPrice = "POL", ""
		require.Empty(t, b.Listed(pol2, at(2)).Ignored, "its own currency needs no rate")
		require.Empty(t, b.Listed(pol, at(2)).Ignored)
		requireFloor(t, b, "10")
		// 0.001 ETH / 0.0002 = 5 POL.
		require.True(t, b.Listed(ver(eth(1, "0.001"), 2), at(3)).FloorChanged)
		m, _ := b.Floor()
		require.Equal(t, indexer.Money{Amount: "5", Currency: "POL", Decimals: 18}, m)
	})

	t.Run("RoundedDown", func(t *testing.T) {
		t.Parallel()
		b := New(3, "ETH")
		b.Reset(nil, at(0))
		l := eth(1, "1")
		l.Quantity = 3
		b.Listed(l, at(1))
		requireFloor(t, b, "0.333333333333333333")
		c := NewWithOptions(Options{K: 1, Currency: "USDC", Decimals: 6})
		c.Reset(nil, at(0))
		c.Listed(usdc(1, "2", ""), at(1))
		l = usdc(2, "1.0000009", "")
		c.Reset(rest(l), at(2))
		requireFloor(t, c, "1")
		l = usdc(3, "0.00000099", "")
		c.Reset(rest(l), at(3))
		requireFloor(t, c, "0")
	})

	t.Run("Invalid", func(t *testing.T) {
		t.Parallel()
		b := New(3, "ETH")
		b.Reset(nil, at(0))
		for name, l := range map[string]indexer.Listing{
			"price":    eth(1, "1e3"),
			"negative": eth(2, "-1"),
			"quantity": func() indexer.Listing { l := eth(3, "1"); l.Quantity = 0; return l }(),
			"rate":     usdc(4, "1", "abc"),
			"hash":     func() indexer.Listing { l := eth(5, "1"); l.OrderHash = ""; return l }(),
		} {
			r := b.Listed(l, at(1))
			require.Equal(t, ReasonInvalid, r.Ignored, name)
			require.Error(t, r.Err, name)
			require.Contains(t, r.Err.Error(), "0xc0ffee/"+l.Token.TokenID, name)
			require.False(t, r.Applied, name)
		}
		require.Equal(t, uint64(5), b.Stats().Invalid)
		requireFloor(t, b, "")
	})

	t.Run("InvalidNewerStateKeepsTheOld", func(t *testing.T) {
		t.Parallel()
		b := New(3, "ETH")
		b.Reset(rest(eth(1, "1")), at(0))
		r := b.Listed(ver(eth(1, "garbage"), 5), at(1))
		require.Error(t, r.Err)
		requireFloor(t, b, "1")
	})

	t.Run("Private", func(t *testing.T) {
		t.Parallel()
		b := New(3, "ETH")
		b.Reset(rest(eth(1, "1")), at(0))
		l := ver(eth(1, "1"), 2)
		l.Private = true
		r := b.Listed(l, at(1))
		require.Equal(t, ReasonPrivate, r.Ignored)
		require.True(t, r.FloorChanged, "the order went private")
		require.Zero(t, b.Len())
		require.True(t, b.Listed(ver(eth(1, "1"), 1), at(2)).Stale)
	})
}

func TestTombstoneBounds(t *testing.T) {
	t.Parallel()

	t.Run("Count", func(t *testing.T) {
		t.Parallel()
		b := NewWithOptions(Options{K: 2, Currency: "ETH", MaxTombstones: 4})
		b.Reset(nil, at(0))
		for n := range 6 {
			b.Cancelled(hash(n), 2, at(1))
		}
		require.Equal(t, 4, b.recs.len())
		require.True(t, b.Listed(ver(eth(5, "1"), 1), at(2)).Stale)
		require.True(t, b.Listed(ver(eth(0, "1"), 1), at(2)).Applied, "the oldest tombstone was forgotten")
	})

	t.Run("Age", func(t *testing.T) {
		t.Parallel()
		b := NewWithOptions(Options{K: 2, Currency: "ETH", TombstoneTTL: time.Minute})
		b.Reset(nil, at(0))
		b.Cancelled(hash(1), 2, at(0))
		b.Cancelled(hash(2), 2, at(30))
		b.Expire(at(61))
		require.Equal(t, 1, b.recs.len())
		require.True(t, b.Listed(ver(eth(2, "1"), 1), at(62)).Stale)
	})

	t.Run("RewrittenRecordsKeepTheirSlot", func(t *testing.T) {
		t.Parallel()
		b := NewWithOptions(Options{K: 2, Currency: "ETH", MaxTombstones: 4})
		b.Reset(nil, at(0))
		for v := range 1000 {
			b.Invalidated(hash(v%3), int64(2*v+1), at(1))
			b.Revalidated(hash(v%3), int64(2*v+2), at(1))
		}
		require.Len(t, b.recs.ring, 4)
		require.Equal(t, 3, b.recs.len())
		require.Equal(t, 3, b.recs.n)
		// Deleted records leave dead slots that do not count.
		b.Listed(ver(eth(0, "1"), 5000), at(2))
		b.Listed(ver(eth(1, "1"), 5000), at(2))
		for n := 10; n < 13; n++ {
			b.Cancelled(hash(n), 1, at(3))
		}
		require.Equal(t, 4, b.recs.len(), "2's record and three tombstones")
		require.True(t, b.Revalidated(hash(2), 1, at(4)).Stale)
	})
}

func TestFloorChangedOnlyForTheFloor(t *testing.T) {
	t.Parallel()
	b := New(3, "ETH")
	b.Reset(rest(eth(1, "1"), eth(2, "2"), eth(3, "3")), at(0))
	require.False(t, b.Cancelled(hash(3), 1, at(1)).FloorChanged)
	require.False(t, b.Listed(eth(4, "1.5"), at(2)).FloorChanged)
	// Same price, another order: the floor's value is unchanged.
	require.False(t, b.Listed(eth(5, "1"), at(3)).FloorChanged)
	require.False(t, b.Cancelled(hash(1), 1, at(4)).FloorChanged)
	require.True(t, b.Cancelled(hash(5), 2, at(5)).FloorChanged)
	requireFloor(t, b, "1.5")
}

func TestFormatDown(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		in   string
		dec  int32
		want string
	}{
		{"0", 18, "0"},
		{"1", 18, "1"},
		{"11.25", 18, "11.25"},
		{"0.000000000000000001", 18, "0.000000000000000001"},
		{"0.0000000000000000019", 18, "0.000000000000000001"},
		{"123.456", 2, "123.45"},
		{"123.456", 0, "123"},
		{"100", 2, "100"},
	} {
		r, err := parseDecimal(c.in)
		require.NoError(t, err)
		require.Equal(t, c.want, formatDown(r, c.dec), c.in)
	}
	for _, bad := range []string{"", ".", "1.", ".5", "-1", "+1", "1e3", "0x1", "1/2", " 1", "1,5"} {
		_, err := parseDecimal(bad)
		require.Error(t, err, bad)
	}
}

func TestResetUncertainty(t *testing.T) {
	t.Parallel()

	t.Run("UnpricedNewerThanTheAnswer", func(t *testing.T) {
		t.Parallel()
		b := New(2, "ETH")
		b.Reset(rest(eth(1, "1"), eth(2, "2")), at(0))
		b.Revalidated(hash(9), 3, at(11)) // after the request was sent
		r := b.Reset(rest(eth(1, "1"), eth(2, "2")), at(10))
		require.True(t, r.Uncertain, "the answer may predate 9's return")
		r = b.Reset(rest(eth(1, "1"), eth(2, "2")), at(12))
		require.False(t, r.Uncertain, "a newer answer does not list 9: it is dearer")
		require.True(t, b.Revalidated(hash(9), 3, at(13)).Duplicate, "its version is kept")
	})

	t.Run("ListingsLostDuringTheRequest", func(t *testing.T) {
		t.Parallel()
		b := New(1, "ETH")
		b.Reset(rest(eth(1, "1")), at(0))
		// More listings dearer than the bound arrive during the request
		// than the book keeps (16): some that the answer does not hold
		// may be lost.
		for n := range minRecent + 1 {
			b.Listed(eth(100+n, "5"), at(11+n))
		}
		r := b.Reset(rest(eth(1, "1")), at(10))
		require.True(t, r.Uncertain)

		c := New(1, "ETH")
		c.Reset(rest(eth(1, "1")), at(0))
		for n := range minRecent {
			c.Listed(eth(100+n, "5"), at(11+n))
		}
		r = c.Reset(rest(eth(1, "1")), at(10))
		require.False(t, r.Uncertain, "every listing of the flight was kept")
	})

	t.Run("AnswerOfUnusableListings", func(t *testing.T) {
		t.Parallel()
		b := New(2, "ETH")
		p1, p2 := eth(1, "1"), eth(2, "2")
		p1.Private, p2.Private = true, true
		r := b.Reset(rest(p1, p2), at(0))
		require.True(t, r.NeedsRefill, "K listings answered, none usable: the floor lies beyond")
		require.Zero(t, b.Len())
	})
}

func TestAsideExpires(t *testing.T) {
	t.Parallel()
	b := New(2, "ETH")
	l := eth(1, "1")
	l.ExpiresAt = at(50)
	b.Reset(rest(l, eth(2, "2")), at(0))
	b.Invalidated(hash(1), 1, at(1))
	next, ok := b.NextExpiry()
	require.True(t, ok)
	require.Equal(t, at(50), next)
	b.Expire(at(50))
	_, ok = b.NextExpiry()
	require.False(t, ok)
	r := b.Revalidated(hash(1), 2, at(51))
	require.True(t, r.Applied)
	require.False(t, r.Uncertain, "an expired order that returns is still expired")
	requireFloor(t, b, "2")
}
