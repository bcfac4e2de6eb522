package indexersim

import (
	"math/big"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// unitIn converts a best-listings price to the price of one unit in the
// collection's currency cur (exact): USDC through USDC's eth_price and
// cur's.
func (b *testBundle) unitIn(t *testing.T, cur *simCurrency, currency string, decimals int, value string) *big.Rat {
	t.Helper()
	v, ok := new(big.Rat).SetString(value)
	require.True(t, ok, value)
	v.Quo(v, new(big.Rat).SetInt(new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(decimals)), nil)))
	switch currency {
	case cur.symbol:
	case "USDC":
		usdc := mustRat(t, b.sim.usdcEth)
		v.Mul(v, usdc)
		v.Quo(v, mustRat(t, cur.ethPrice))
	default:
		t.Fatalf("unexpected currency %q in a %s collection", currency, cur.symbol)
	}
	return v
}

func TestPolygonFractionDrawsSomeCollections(t *testing.T) {
	t.Parallel()
	count := func(cfg Config) (polygon int) {
		sim, err := New(cfg, nil)
		require.NoError(t, err)
		defer sim.Close()
		for _, slug := range sim.Slugs() {
			info, _ := sim.Collection(slug)
			switch info.Chain {
			case chainPolygon:
				polygon++
			default:
				require.Equal(t, "ethereum", info.Chain)
			}
		}
		return polygon
	}
	n := count(Config{Collections: 400, MinTokens: 10, MaxTokens: 20, Seed: 3, PolygonFraction: 0.02})
	require.Greater(t, n, 0, "a small share is not none")
	require.Less(t, n, 30, "about 2%% of 400")
	require.Equal(t, n, count(Config{Collections: 400, MinTokens: 10, MaxTokens: 20, Seed: 3, PolygonFraction: 0.02}), "deterministic")
	require.Zero(t, count(Config{Collections: 400, MinTokens: 10, MaxTokens: 20, Seed: 3}), "none by default")
	require.Zero(t, count(Config{Collections: 400, MinTokens: 10, MaxTokens: 20, Seed: 3, PolygonFraction: -1}))
	require.Equal(t, 40, count(Config{Collections: 40, MinTokens: 10, MaxTokens: 20, Seed: 3, PolygonFraction: 1}))
	require.Error(t, Config{PolygonFraction: 1.5}.Validate())
}

// A Polygon collection is quoted in POL everywhere: /stats' floor is its
// cheapest public listing in POL (a USDC listing converted through both
// eth_prices), listings and sales are priced in POL, stream events carry
// POL's eth_price.
func TestPolygonCollectionQuotedInPOL(t *testing.T) {
	t.Parallel()
	b := streamSetup(t, Config{Collections: 2, Seed: 5, PolygonFraction: 1,
		Market: MarketConfig{OtherCurrencyFraction: 0.3}})
	pol := b.sim.pol
	require.Equal(t, "POL", pol.symbol)
	polEth := mustRat(t, pol.ethPrice)
	require.Positive(t, polEth.Sign())
	require.Negative(t, polEth.Cmp(big.NewRat(1, 1000)), "POL is worth a small fraction of an ETH")

	slug := "sim-collection-001"
	info, _ := b.sim.Collection(slug)
	require.Equal(t, chainPolygon, info.Chain)
	ws := b.dial(t, "k")
	ws.join(slug)
	currencies := map[string]int{}
	for step := range 30 {
		b.clock.Advance(time.Duration(20+step*17%90) * time.Second)
		var st apiStats
		b.getJSON(t, "/api/v2/collections/"+slug+"/stats", &st)
		require.Equal(t, "POL", st.Total.FloorPriceSymbol)
		var best apiListings
		b.getJSON(t, "/api/v2/listings/collection/"+slug+"/best?limit=1", &best)
		require.Len(t, best.Listings, 1)
		p := best.Listings[0].Price.Current
		require.Equal(t, chainPolygon, best.Listings[0].Chain)
		unit := b.unitIn(t, pol, p.Currency, p.Decimals, p.Value)
		f, _ := unit.Float64()
		require.InDelta(t, max(round4(f), 0.0001), st.Total.FloorPrice, 1e-9, "step %d: /stats' floor is the cheapest listing", step)

		truth, err := b.sim.FloorAt(slug, b.clock.Now())
		require.NoError(t, err)
		require.Equal(t, "POL", truth.Currency)
		require.Equal(t, best.Listings[0].OrderHash, truth.OrderHash)
		require.Equal(t, unit.FloatString(18), mustRat(t, truth.Price).FloatString(18))
		if step%10 == 0 {
			all := b.bestAll(t, slug, false)
			for i, l := range all.Listings {
				c := l.Price.Current
				currencies[c.Currency]++
				if i > 0 {
					prev := all.Listings[i-1].Price.Current
					require.LessOrEqual(t, b.unitIn(t, pol, prev.Currency, prev.Decimals, prev.Value).Cmp(
						b.unitIn(t, pol, c.Currency, c.Decimals, c.Value)), 0, "sorted by unit price in POL")
				}
			}
		}
	}
	require.Positive(t, currencies["POL"])
	require.Positive(t, currencies["USDC"], "some depth listings are in USDC")
	require.Zero(t, currencies["ETH"])

	// Stream events: POL with POL's eth_price, USDC with USDC's.
	events := map[string]int{}
	for _, f := range ws.drain(300 * time.Millisecond) {
		m, o := decodeEvent(t, f)
		require.True(t, strings.HasPrefix(o.Item.NFTID, "polygon/0x"), o.Item.NFTID)
		if m.EventType != EventItemListed && m.EventType != EventItemSold {
			continue
		}
		switch o.PaymentToken.Symbol {
		case "POL":
			require.Equal(t, pol.ethPrice, o.PaymentToken.EthPrice)
			require.Equal(t, 18, o.PaymentToken.Decimals)
		case "USDC":
			require.Equal(t, b.sim.usdcEth, o.PaymentToken.EthPrice)
			require.Equal(t, usdcDecimals, o.PaymentToken.Decimals)
		default:
			t.Fatalf("event priced in %q: %s", o.PaymentToken.Symbol, f.raw)
		}
		events[m.EventType+"/"+o.PaymentToken.Symbol]++
	}
	require.Positive(t, events[EventItemListed+"/POL"])

	// Sales and the payment token endpoint.
	var sales apiSales
	b.getJSON(t, "/api/v2/events/collection/"+slug+"?event_type=sale&limit=5", &sales)
	require.NotEmpty(t, sales.AssetEvents)
	for _, e := range sales.AssetEvents {
		require.Equal(t, "POL", e.Payment.Symbol)
	}
	var tok wireCurrency
	b.getJSON(t, "/api/v2/chain/polygon/payment_token/"+ethAddress, &tok)
	require.Equal(t, "POL", tok.Symbol)
	require.Equal(t, pol.ethPrice, tok.EthPrice)
	res := b.get(t, "/api/v2/chain/polygon/payment_token/"+wethAddress)
	require.Equal(t, http.StatusNotFound, res.status, "mainnet WETH is not a Polygon token")
}
