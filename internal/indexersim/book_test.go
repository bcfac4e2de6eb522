package indexersim

import (
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// apiListings mirrors ListingsResponse for tests.
type apiListings struct {
	Listings []struct {
		OrderHash string `json:"order_hash"`
		Chain     string `json:"chain"`
		Type      string `json:"type"`
		Status    string `json:"status"`
		Price     struct {
			Current struct {
				Currency string `json:"currency"`
				Decimals int    `json:"decimals"`
				Value    string `json:"value"`
			} `json:"current"`
		} `json:"price"`
		Asset struct {
			Identifier string `json:"identifier"`
			Contract   string `json:"contract"`
		} `json:"asset"`
		RemainingQuantity int64 `json:"remaining_quantity"`
		ProtocolData      struct {
			Parameters struct {
				Offerer       string `json:"offerer"`
				StartTime     string `json:"startTime"`
				EndTime       string `json:"endTime"`
				Consideration []struct {
					StartAmount string `json:"startAmount"`
				} `json:"consideration"`
			} `json:"parameters"`
		} `json:"protocol_data"`
	} `json:"listings"`
	Next string `json:"next"`
}

// unitETH converts a best-listings price to ETH per unit (exact), using
// the simulator's USDC rate for USDC.
func (b *testBundle) unitETH(t *testing.T, currency string, decimals int, value string) *big.Rat {
	t.Helper()
	v, ok := new(big.Rat).SetString(value)
	require.True(t, ok, value)
	v.Quo(v, new(big.Rat).SetInt(new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(decimals)), nil)))
	switch currency {
	case "ETH":
	case "USDC":
		r, ok := new(big.Rat).SetString(b.sim.usdcEth)
		require.True(t, ok)
		v.Mul(v, r)
	default:
		t.Fatalf("unexpected currency %q", currency)
	}
	return v
}

// bestAll pages through every best listing.
func (b *testBundle) bestAll(t *testing.T, slug string, private bool) apiListings {
	t.Helper()
	var all apiListings
	next := ""
	for range 100 {
		path := "/api/v2/listings/collection/" + slug + "/best?limit=200&include_private_listings=" + strconv.FormatBool(private)
		if next != "" {
			path += "&next=" + next
		}
		var page apiListings
		b.getJSON(t, path, &page)
		all.Listings = append(all.Listings, page.Listings...)
		if next = page.Next; next == "" {
			return all
		}
	}
	t.Fatal("best listings never ended")
	return all
}

func TestFloorIsCheapestListing(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{Collections: 3, Seed: 5})
	currencies := map[string]int{}
	for step := range 40 {
		b.clock.Advance(time.Duration(7+step*13%80) * time.Second)
		for _, slug := range b.sim.Slugs() {
			var st apiStats
			b.getJSON(t, "/api/v2/collections/"+slug+"/stats", &st)
			var best apiListings
			b.getJSON(t, "/api/v2/listings/collection/"+slug+"/best?limit=1", &best)
			require.Len(t, best.Listings, 1)
			p := best.Listings[0].Price.Current
			unit := b.unitETH(t, p.Currency, p.Decimals, p.Value)
			f, _ := unit.Float64()
			require.InDelta(t, max(round4(f), 0.0001), st.Total.FloorPrice, 1e-9, "step %d %s", step, slug)

			truth, err := b.sim.FloorAt(slug, b.clock.Now())
			require.NoError(t, err)
			require.Equal(t, best.Listings[0].OrderHash, truth.OrderHash)
			require.Equal(t, unit.FloatString(18), mustRat(t, truth.Price).FloatString(18))

			if step%10 == 0 {
				all := b.bestAll(t, slug, false)
				for i := range all.Listings {
					l := all.Listings[i]
					currencies[l.Price.Current.Currency]++
					require.Equal(t, "ACTIVE", l.Status)
					require.Equal(t, int64(1), l.RemainingQuantity)
					if i > 0 {
						prev := all.Listings[i-1].Price.Current
						require.LessOrEqual(t, b.unitETH(t, prev.Currency, prev.Decimals, prev.Value).Cmp(
							b.unitETH(t, l.Price.Current.Currency, l.Price.Current.Decimals, l.Price.Current.Value)), 0, "sorted by unit price")
					}
				}
				withPrivate := b.bestAll(t, slug, true)
				require.GreaterOrEqual(t, len(withPrivate.Listings), len(all.Listings))
			}
		}
	}
	require.Positive(t, currencies["ETH"])
	require.Positive(t, currencies["USDC"], "some listings are in another currency")
}

func mustRat(t *testing.T, s string) *big.Rat {
	t.Helper()
	r, ok := new(big.Rat).SetString(s)
	require.True(t, ok, s)
	return r
}

func TestBookDeterminism(t *testing.T) {
	t.Parallel()
	// One simulator watches the market for three hours, minute by minute;
	// another starts at the end. Both serve the same book and floor, and
	// the floor change log replays what the first one saw.
	a := setup(t, Config{Collections: 2, Seed: 9})
	start := a.clock.Now()
	slug := "sim-collection-001"
	seen := map[int64]float64{}
	for range 180 {
		a.clock.Advance(time.Minute)
		var st apiStats
		a.getJSON(t, "/api/v2/collections/"+slug+"/stats", &st)
		seen[a.clock.Now().Unix()] = st.Total.FloorPrice
	}
	b := setup(t, Config{Collections: 2, Seed: 9})
	b.clock.Advance(a.clock.Now().Sub(b.clock.Now()))
	pa := a.get(t, "/api/v2/listings/collection/"+slug+"/best?limit=200&include_private_listings=true")
	pb := b.get(t, "/api/v2/listings/collection/"+slug+"/best?limit=200&include_private_listings=true")
	require.Equal(t, http.StatusOK, pa.status)
	require.Equal(t, string(pa.body), string(pb.body))

	changes, err := b.sim.FloorChanges(slug, start, a.clock.Now())
	require.NoError(t, err)
	require.Greater(t, len(changes), 30, "the floor changes often")
	for at, floor := range seen {
		// The floor at an instant is the last change at or before it.
		i := len(changes) - 1
		for changes[i].At.Unix() > at || (changes[i].At.Unix() == at && changes[i].At.UnixMilli() > at*1000) {
			i--
		}
		require.InDelta(t, floor, max(round4(changes[i].ETH), 0.0001), 1e-9, "at %s", time.Unix(at, 0).UTC())
	}
	for i := 1; i < len(changes); i++ {
		require.False(t, changes[i].At.Before(changes[i-1].At))
		require.NotEqual(t, changes[i].Price, changes[i-1].Price, "a change changes the value")
	}
}

// apiSales mirrors AssetEventsResponse for tests.
type apiSales struct {
	AssetEvents []struct {
		EventType      string `json:"event_type"`
		EventTimestamp int64  `json:"event_timestamp"`
		Transaction    string `json:"transaction"`
		OrderHash      string `json:"order_hash"`
		Chain          string `json:"chain"`
		ClosingDate    int64  `json:"closing_date"`
		Seller         string `json:"seller"`
		Buyer          string `json:"buyer"`
		Quantity       int64  `json:"quantity"`
		Payment        struct {
			Quantity     string `json:"quantity"`
			TokenAddress string `json:"token_address"`
			Decimals     int    `json:"decimals"`
			Symbol       string `json:"symbol"`
		} `json:"payment"`
		NFT struct {
			Identifier string `json:"identifier"`
			Contract   string `json:"contract"`
		} `json:"nft"`
	} `json:"asset_events"`
	Next string `json:"next"`
}

func TestSaleEventsMatchStats(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{Collections: 4, Seed: 3})
	b.clock.Advance(37 * time.Second)
	now := b.clock.Now()
	minute := now.Unix() / 60
	for _, slug := range b.sim.Slugs() {
		var st apiStats
		b.getJSON(t, "/api/v2/collections/"+slug+"/stats", &st)
		after := (minute - 1440) * 60 // the one-day window's first minute is the next one
		next, vol, n := "", new(big.Rat), int64(0)
		seenTx := map[string]bool{}
		lastTS := int64(math.MaxInt64)
		for range 1000 {
			path := fmt.Sprintf("/api/v2/events/collection/%s?event_type=sale&after=%d&limit=37", slug, after)
			if next != "" {
				path += "&next=" + next
			}
			var page apiSales
			b.getJSON(t, path, &page)
			for _, e := range page.AssetEvents {
				require.Equal(t, "sale", e.EventType)
				require.Greater(t, e.EventTimestamp, after)
				require.LessOrEqual(t, e.EventTimestamp, now.Unix())
				require.LessOrEqual(t, e.EventTimestamp, lastTS, "newest first")
				lastTS = e.EventTimestamp
				require.False(t, seenTx[e.Transaction], "no sale twice")
				seenTx[e.Transaction] = true
				require.Equal(t, "ETH", e.Payment.Symbol)
				require.Len(t, e.Transaction, 66)
				require.Len(t, e.OrderHash, 66)
				require.NotEqual(t, e.Seller, e.Buyer)
				vol.Add(vol, b.unitETH(t, "ETH", e.Payment.Decimals, e.Payment.Quantity))
				n++
			}
			if next = page.Next; next == "" {
				break
			}
		}
		require.Equal(t, "one_day", st.Intervals[0].Interval)
		require.Equal(t, st.Intervals[0].Sales, n, slug)
		f, _ := vol.Float64()
		require.InDelta(t, st.Intervals[0].Volume, f, 0.00011, slug)
	}
}

func TestMarketEndpointsRequests(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{Collections: 1, Rate: 2, Burst: 4})
	slug := "sim-collection-000"
	for _, tc := range []struct {
		path   string
		status int
		msg    string
	}{
		{"/api/v2/listings/collection/" + slug + "/best?limit=0", 400, "limit"},
		{"/api/v2/listings/collection/" + slug + "/best?limit=201", 400, "limit"},
		{"/api/v2/listings/collection/nope/best", 404, "collection not found"},
		{"/api/v2/events/collection/" + slug, 400, "event_type=sale"},
	} {
		res := b.get(t, tc.path)
		require.Equal(t, tc.status, res.status, tc.path)
		require.Contains(t, string(res.body), tc.msg)
	}
	res := b.get(t, "/api/v2/events/collection/"+slug+"?event_type=listing")
	require.Equal(t, http.StatusTooManyRequests, res.status, "the market endpoints share the rate limit")
	st := b.sim.Stats()
	require.Equal(t, int64(3), st.ByEndpoint[EndpointBestListings])
	require.Equal(t, int64(2), st.ByEndpoint[EndpointEvents])
	require.Equal(t, int64(1), st.RateLimited)

	b.clock.Advance(time.Minute)
	var page apiListings
	b.getJSON(t, "/api/v2/listings/collection/"+slug+"/best?limit=3", &page)
	require.Len(t, page.Listings, 3)
	require.NotEmpty(t, page.Next)
	l := page.Listings[0]
	require.Equal(t, "ethereum", l.Chain)
	info, _ := b.sim.Collection(slug)
	require.Equal(t, info.Contract, l.Asset.Contract)
	require.Len(t, l.ProtocolData.Parameters.Consideration, 2)
	paid := new(big.Int)
	for _, c := range l.ProtocolData.Parameters.Consideration {
		v, ok := new(big.Int).SetString(c.StartAmount, 10)
		require.True(t, ok)
		paid.Add(paid, v)
	}
	require.Equal(t, l.Price.Current.Value, paid.String(), "the consideration adds up to the price")
	end, err := strconv.ParseInt(l.ProtocolData.Parameters.EndTime, 10, 64)
	require.NoError(t, err)
	require.Greater(t, end, b.clock.Now().Unix(), "an active listing has not expired")
}

func TestMarketConfigValidate(t *testing.T) {
	t.Parallel()
	_, err := New(Config{Market: MarketConfig{ListingsPerMinute: -1, PrivateFraction: 2},
		Stream: StreamConfig{DropRate: 1.5, DisconnectEvery: -time.Second, RefusedKeys: []string{""}}}, nil)
	require.Error(t, err)
	for _, want := range []string{"listings per minute", "private fraction", "stream drop rate", "disconnect period", "refused key 0"} {
		require.ErrorContains(t, err, want)
	}
}

// BenchmarkMarket1000 measures the order books' cost: CPU per simulated
// minute to advance 1,000 collections' books through a minute of events
// (what a simulator serving one consumer of every collection spends),
// and the events per simulated minute.
func BenchmarkMarket1000(b *testing.B) {
	clock := newFakeClock()
	sim, err := New(Config{Collections: 1000, Clock: clock.Now}, nil)
	require.NoError(b, err)
	seqs := make([]uint64, len(sim.collections))
	for i, c := range sim.collections { // warm up: build every book
		seqs[i] = c.book.subscribe(&seqs[i], clock.Now())
	}
	events, changes := 0, make([][]floorChange, len(sim.collections))
	for i, c := range sim.collections {
		c.book.changes = &changes[i]
	}
	b.ResetTimer()
	for range b.N {
		clock.Advance(time.Minute)
		now := clock.Now()
		for i, c := range sim.collections {
			evs, next, _ := c.book.eventsSince(&seqs[i], seqs[i], now)
			seqs[i] = next
			events += len(evs)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/1e6, "cpu-ms/sim-min")
	b.ReportMetric(float64(events)/float64(b.N), "events/sim-min")
	n := 0
	for _, ch := range changes {
		n += len(ch)
	}
	b.ReportMetric(float64(n)/float64(b.N), "floor-changes/sim-min")
}

// BenchmarkBookWarmup measures building one collection's book from
// scratch (replaying the last maxLife), what the first request for a
// collection costs.
func BenchmarkBookWarmup(b *testing.B) {
	clock := newFakeClock()
	sim, err := New(Config{Collections: 100, Clock: clock.Now}, nil)
	require.NoError(b, err)
	b.ResetTimer()
	for i := range b.N {
		c := sim.collections[i%len(sim.collections)]
		x := newBook(c, c.book.cfg, c.book.usdcEth)
		x.advanceTo(clock.Now().UnixMilli())
	}
}

// specSchemas are the spec excerpt's schemas (testdata/opensea-market-spec.json).
type specDoc struct {
	Components struct {
		Schemas map[string]json.RawMessage `json:"schemas"`
	} `json:"components"`
}

type specSchema struct {
	Ref        string                     `json:"$ref"`
	AllOf      []json.RawMessage          `json:"allOf"`
	OneOf      []json.RawMessage          `json:"oneOf"`
	Type       string                     `json:"type"`
	Required   []string                   `json:"required"`
	Properties map[string]json.RawMessage `json:"properties"`
	Items      json.RawMessage            `json:"items"`
}

// checkSpec requires v to have every field the schema requires, at every
// depth. oneOf takes its branch named pick. Nft.traits is exempt: OpenSea
// leaves traits out of its bulk answers (opensea-sdk issue #1889), and so
// does the simulator.
func checkSpec(t *testing.T, doc specDoc, raw json.RawMessage, v any, path, pick string) {
	t.Helper()
	var sc specSchema
	require.NoError(t, json.Unmarshal(raw, &sc))
	if sc.Ref != "" {
		name := strings.TrimPrefix(sc.Ref, "#/components/schemas/")
		if name == "Nft" {
			m, _ := v.(map[string]any)
			if m != nil && m["traits"] == nil {
				m["traits"] = []any{}
			}
		}
		checkSpec(t, doc, doc.Components.Schemas[name], v, path, pick)
		return
	}
	for _, part := range sc.AllOf {
		checkSpec(t, doc, part, v, path, pick)
	}
	for _, part := range sc.OneOf {
		if strings.Contains(string(part), pick) {
			checkSpec(t, doc, part, v, path, pick)
		}
	}
	switch x := v.(type) {
	case map[string]any:
		for _, r := range sc.Required {
			require.Contains(t, x, r, "%s: required field %q", path, r)
		}
		for name, p := range sc.Properties {
			if fv, ok := x[name]; ok && fv != nil {
				checkSpec(t, doc, p, fv, path+"."+name, pick)
			}
		}
	case []any:
		if sc.Items != nil {
			for i, item := range x {
				checkSpec(t, doc, sc.Items, item, fmt.Sprintf("%s[%d]", path, i), pick)
			}
		}
	}
}

func TestMarketEndpointsFollowSpec(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile("testdata/opensea-market-spec.json")
	require.NoError(t, err)
	var doc specDoc
	require.NoError(t, json.Unmarshal(data, &doc))
	b := setup(t, Config{Collections: 1})
	for _, tc := range []struct{ path, schema, pick string }{
		{"/api/v2/listings/collection/sim-collection-000/best?limit=50&include_private_listings=true", "ListingsResponse", ""},
		{"/api/v2/events/collection/sim-collection-000?event_type=sale&limit=20", "AssetEventsResponse", "SaleEvent"},
	} {
		res := b.get(t, tc.path)
		require.Equal(t, http.StatusOK, res.status, string(res.body))
		var v any
		require.NoError(t, json.Unmarshal(res.body, &v))
		require.Contains(t, doc.Components.Schemas, tc.schema)
		checkSpec(t, doc, doc.Components.Schemas[tc.schema], v, tc.schema, tc.pick)
		require.NotEmpty(t, v.(map[string]any)[map[string]string{"ListingsResponse": "listings", "AssetEventsResponse": "asset_events"}[tc.schema]])
	}
}

func TestBestListingsPaging(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{Collections: 1, Seed: 12})
	slug := "sim-collection-000"
	var all apiListings
	b.getJSON(t, "/api/v2/listings/collection/"+slug+"/best?limit=200", &all)
	require.Greater(t, len(all.Listings), 20)
	var paged []string
	next := ""
	for {
		path := "/api/v2/listings/collection/" + slug + "/best?limit=7"
		if next != "" {
			path += "&next=" + next
		}
		var page apiListings
		b.getJSON(t, path, &page)
		require.LessOrEqual(t, len(page.Listings), 7)
		for _, l := range page.Listings {
			paged = append(paged, l.OrderHash)
		}
		if next = page.Next; next == "" {
			break
		}
	}
	want := make([]string, len(all.Listings))
	for i, l := range all.Listings {
		want[i] = l.OrderHash
	}
	require.Equal(t, want, paged)
	require.Equal(t, http.StatusBadRequest, b.get(t, "/api/v2/listings/collection/"+slug+"/best?next=nope").status)
}

func TestPaymentToken(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{Collections: 1})
	var tok struct {
		Symbol   string `json:"symbol"`
		Decimals int    `json:"decimals"`
		EthPrice string `json:"eth_price"`
	}
	b.getJSON(t, "/api/v2/chain/ethereum/payment_token/"+usdcAddress, &tok)
	require.Equal(t, "USDC", tok.Symbol)
	require.Equal(t, 6, tok.Decimals)
	require.Equal(t, b.sim.usdcEth, tok.EthPrice, "the rate the stream's payment_token carries")
	require.Equal(t, http.StatusNotFound, b.get(t, "/api/v2/chain/ethereum/payment_token/0x1234").status)
	require.Equal(t, int64(2), b.sim.Stats().ByEndpoint[EndpointPaymentToken])
}

func TestBookLogKeepsOnlyUnreadEvents(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	sim, err := New(Config{Collections: 1, Clock: clock.Now}, nil)
	require.NoError(t, err)
	bk := sim.collections[0].book
	var r1, r2 int
	s1, s2 := bk.subscribe(&r1, clock.Now()), bk.subscribe(&r2, clock.Now())
	clock.Advance(15 * time.Minute)
	evs1, s1, _ := bk.eventsSince(&r1, s1, clock.Now())
	require.NotEmpty(t, evs1)
	require.Len(t, bk.log, len(evs1), "kept for the reader that has not read")
	clock.Advance(15 * time.Minute)
	evs2, _, lost := bk.eventsSince(&r2, s2, clock.Now())
	require.Zero(t, lost)
	require.Greater(t, len(evs2), len(evs1), "the slow reader gets everything")
	require.Equal(t, evs1, evs2[:len(evs1)])
	require.Len(t, bk.log, len(evs2)-len(evs1), "what r1 has not read yet")
	bk.unsubscribe(&r1)
	require.Empty(t, bk.log)
	bk.unsubscribe(&r2)
	clock.Advance(15 * time.Minute)
	_, _, _ = bk.eventsSince(&r1, s1, clock.Now())
	require.Empty(t, bk.log, "no readers, no log")
}

func TestTokenChangingHandsInvalidatesItsListings(t *testing.T) {
	t.Parallel()
	// Three tokens: every sale or transfer hits the token's other listings.
	clock := newFakeClock()
	sim, err := New(Config{Collections: 1, MinTokens: 3, MaxTokens: 3, Clock: clock.Now}, nil)
	require.NoError(t, err)
	bk := sim.collections[0].book
	var r int
	seq := bk.subscribe(&r, clock.Now())
	moved := map[int]int64{} // token -> last time it changed hands
	invalidated := 0
	for range 120 {
		clock.Advance(time.Minute)
		evs, next, _ := bk.eventsSince(&r, seq, clock.Now())
		seq = next
		for _, e := range evs {
			switch e.kind {
			case evSold, evTransfer:
				moved[e.token] = e.at
			case evInvalidate:
				if e.at == moved[e.l.token] {
					invalidated++
				}
			}
		}
		for _, l := range bk.listings(clock.Now(), true) {
			if l.saleHour < 0 {
				require.Less(t, moved[l.token], l.created, "an active listing was posted after its token last moved")
			}
		}
	}
	require.Positive(t, invalidated, "order_invalidate at the moment the token moved")
}

// TestCollectionEndpointsPreamble: the paged collection endpoints answer an
// unknown slug with 404 and a query string that does not parse, or a bad
// limit, with 400, alike.
func TestCollectionEndpointsPreamble(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{Collections: 1})
	for _, path := range []string{"/api/v2/collection/%s/nfts", "/api/v2/listings/collection/%s/best", "/api/v2/events/collection/%s"} {
		res := b.get(t, fmt.Sprintf(path, "nope")+"?event_type=sale")
		require.Equal(t, http.StatusNotFound, res.status, path)
		require.Contains(t, string(res.body), "collection not found", path)
		res = b.get(t, fmt.Sprintf(path, "sim-collection-000")+"?event_type=sale&limit=%zz")
		require.Equal(t, http.StatusBadRequest, res.status, path)
		require.Contains(t, string(res.body), "invalid query string", path)
		res = b.get(t, fmt.Sprintf(path, "sim-collection-000")+"?event_type=sale&limit=201")
		require.Equal(t, http.StatusBadRequest, res.status, path)
		require.Contains(t, string(res.body), "limit must be an integer between 1 and 200", path)
	}
}
