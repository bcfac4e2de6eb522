package indexersim

import (
	"encoding/base64"
	"encoding/json"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Test-side views of the wire format, written from the API docs.
type (
	apiTrait struct {
		TraitType   string          `json:"trait_type"`
		DisplayType *string         `json:"display_type"`
		MaxValue    *string         `json:"max_value"`
		Value       json.RawMessage `json:"value"`
	}
	apiNFT struct {
		Identifier    string     `json:"identifier"`
		Collection    string     `json:"collection"`
		Contract      string     `json:"contract"`
		TokenStandard string     `json:"token_standard"`
		Traits        []apiTrait `json:"traits"`
	}
	apiPage struct {
		NFTs []apiNFT `json:"nfts"`
		Next *string  `json:"next"`
	}
	apiStats struct {
		Total struct {
			Volume           float64 `json:"volume"`
			Sales            int64   `json:"sales"`
			NumOwners        int64   `json:"num_owners"`
			FloorPrice       float64 `json:"floor_price"`
			FloorPriceSymbol string  `json:"floor_price_symbol"`
		} `json:"total"`
		Intervals []struct {
			Interval string  `json:"interval"`
			Volume   float64 `json:"volume"`
			Sales    int64   `json:"sales"`
		} `json:"intervals"`
	}
)

func TestDeterminism(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	newSim := func(seed int64) *Server {
		sim, err := New(Config{Seed: seed, Clock: clock.Now}, nil)
		require.NoError(t, err)
		return sim
	}
	a, b, c := newSim(42), newSim(42), newSim(43)
	page2 := "/api/v2/collection/sim-collection-004/nfts?limit=200&next=" + url.QueryEscape(encodeCursor(200))
	for _, path := range []string{
		"/api/v2/collections/sim-collection-004",
		"/api/v2/collections/sim-collection-004/stats",
		"/api/v2/collection/sim-collection-004/nfts?limit=200",
		page2,
	} {
		ra, rb, rc := serve(a, path), serve(b, path), serve(c, path)
		require.Equal(t, http.StatusOK, ra.Code, path)
		require.Equal(t, ra.Body.Bytes(), rb.Body.Bytes(), "same seed, same bytes: %s", path)
		require.NotEqual(t, ra.Body.Bytes(), rc.Body.Bytes(), "different seed: %s", path)
	}
}

func TestCollectionEndpoint(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{Collections: 3})
	info, _ := b.sim.Collection("sim-collection-001")

	var doc map[string]any
	b.getJSON(t, "/api/v2/collections/sim-collection-001", &doc)
	for _, field := range []string{"collection", "name", "contracts", "created_date", "editors", "fees",
		"is_disabled", "is_nsfw", "opensea_url", "pricing_currencies", "safelist_status", "total_supply",
		"trait_offers_enabled", "collection_offers_enabled", "unique_item_count"} {
		require.Contains(t, doc, field, "required field")
	}
	require.Equal(t, "sim-collection-001", doc["collection"])
	require.Equal(t, []any{map[string]any{"address": info.Contract, "chain": "ethereum"}}, doc["contracts"])
	require.InDelta(t, float64(info.TokenCount), doc["total_supply"], 0)
	listing := doc["pricing_currencies"].(map[string]any)["listing_currency"].(map[string]any)
	require.Equal(t, "ETH", listing["symbol"])
	require.InDelta(t, 18, listing["decimals"], 0)

	res := b.get(t, "/api/v2/collections/unknown-slug")
	require.Equal(t, http.StatusNotFound, res.status)
	require.JSONEq(t, `{"errors":["collection not found"]}`, string(res.body))
	res = b.get(t, "/api/v2/nothing/here")
	require.Equal(t, http.StatusNotFound, res.status)
	require.JSONEq(t, `{"errors":["not found"]}`, string(res.body))

	st := b.sim.Stats()
	require.Equal(t, int64(3), st.Requests)
	require.Equal(t, map[string]int64{EndpointCollection: 2, EndpointUnknown: 1}, st.ByEndpoint)
	require.Equal(t, map[int]int64{200: 1, 404: 2}, st.ByStatus)
}

func TestStatsEndpoint(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{Collections: 20})

	decimals4 := func(x float64) bool { return math.Abs(x*1e4-math.Round(x*1e4)) < 1e-6 }
	floors := map[float64]bool{}
	for _, slug := range b.sim.Slugs() {
		var st apiStats
		b.getJSON(t, "/api/v2/collections/"+slug+"/stats", &st)
		tot := st.Total
		info, _ := b.sim.Collection(slug)
		// The floor is quoted in the chain's native currency.
		require.Equal(t, map[string]string{"ethereum": "ETH", "polygon": "POL"}[info.Chain], tot.FloorPriceSymbol, slug)
		require.Positive(t, tot.FloorPrice)
		require.True(t, decimals4(tot.FloorPrice), "floor %v", tot.FloorPrice)
		require.True(t, decimals4(tot.Volume), "volume %v", tot.Volume)
		require.Positive(t, tot.NumOwners)
		require.LessOrEqual(t, tot.NumOwners, int64(info.TokenCount))

		require.Len(t, st.Intervals, 3)
		require.Equal(t, "one_day", st.Intervals[0].Interval)
		require.Equal(t, "seven_day", st.Intervals[1].Interval)
		require.Equal(t, "thirty_day", st.Intervals[2].Interval)
		d1, d7, d30 := st.Intervals[0], st.Intervals[1], st.Intervals[2]
		require.LessOrEqual(t, d1.Volume, d7.Volume)
		require.LessOrEqual(t, d7.Volume, d30.Volume)
		require.Less(t, d30.Volume, tot.Volume)
		require.LessOrEqual(t, d1.Sales, d7.Sales)
		require.LessOrEqual(t, d7.Sales, d30.Sales)
		require.Less(t, d30.Sales, tot.Sales)
		require.Positive(t, d30.Sales)
		floors[tot.FloorPrice] = true
	}
	require.Greater(t, len(floors), 15, "floors differ between collections")

	t.Run("MovesOverTime", func(t *testing.T) {
		t.Parallel()
		b := setup(t, Config{Collections: 1})
		path := "/api/v2/collections/sim-collection-000/stats"
		var first apiStats
		b.getJSON(t, path, &first)
		again := b.get(t, path)
		require.JSONEq(t, serve(b.sim, path).Body.String(), string(again.body), "same minute, same answer")

		floorsSeen := map[float64]bool{first.Total.FloorPrice: true}
		prevAll := first.Total.Volume
		for range 30 {
			b.clock.Advance(time.Minute)
			var st apiStats
			b.getJSON(t, path, &st)
			floorsSeen[st.Total.FloorPrice] = true
			require.GreaterOrEqual(t, st.Total.Volume, prevAll, "all-time volume never shrinks")
			prevAll = st.Total.Volume
		}
		require.Greater(t, len(floorsSeen), 10, "the floor moves per minute")
		b.clock.Advance(3 * time.Hour)
		var later apiStats
		b.getJSON(t, path, &later)
		require.Greater(t, later.Total.Volume, first.Total.Volume)
		require.Greater(t, later.Total.Sales, first.Total.Sales)
	})
}

func TestNFTPaging(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{Collections: 2, MinTokens: 1000, MaxTokens: 3000, ListTraits: true})
	slug := "sim-collection-001"
	info, _ := b.sim.Collection(slug)

	seen := make(map[string]bool, info.TokenCount)
	pages := 0
	path := "/api/v2/collection/" + slug + "/nfts?limit=200"
	for {
		var page apiPage
		b.getJSON(t, path, &page)
		pages++
		for _, nft := range page.NFTs {
			require.False(t, seen[nft.Identifier], "token %s twice", nft.Identifier)
			seen[nft.Identifier] = true
			require.Equal(t, slug, nft.Collection)
			require.Equal(t, info.Contract, nft.Contract)
			require.Equal(t, "erc721", nft.TokenStandard)
			want, ok := b.sim.Token(slug, nft.Identifier)
			require.True(t, ok)
			if want == nil {
				require.Nil(t, nft.Traits, "token %s: traits unknown, null", nft.Identifier)
				continue
			}
			require.NotNil(t, nft.Traits, "traits is [] or a list, null only when unknown")
			require.Len(t, nft.Traits, len(want))
			for i, tr := range nft.Traits {
				require.Equal(t, want[i].Type, tr.TraitType)
				if want[i].Numeric {
					require.Equal(t, want[i].Value, string(tr.Value))
				} else {
					require.Equal(t, strconv.Quote(want[i].Value), string(tr.Value))
					require.Nil(t, tr.DisplayType)
				}
			}
		}
		if page.Next == nil {
			require.NotEmpty(t, page.NFTs)
			break
		}
		require.Len(t, page.NFTs, 200)
		_, err := base64.StdEncoding.DecodeString(*page.Next)
		require.NoError(t, err, "cursor is base64")
		path = "/api/v2/collection/" + slug + "/nfts?limit=200&next=" + url.QueryEscape(*page.Next)
	}
	require.Len(t, seen, info.TokenCount)
	require.Equal(t, (info.TokenCount+199)/200, pages)
	for i := range info.TokenCount {
		require.True(t, seen[strconv.Itoa(info.FirstTokenID+i)])
	}
	require.Equal(t, int64(pages), b.sim.Stats().ByEndpoint[EndpointNFTs])

	t.Run("DefaultLimit", func(t *testing.T) {
		t.Parallel()
		var page apiPage
		b.getJSON(t, "/api/v2/collection/"+slug+"/nfts", &page)
		require.Len(t, page.NFTs, 50)
		require.Equal(t, "1", page.NFTs[0].Identifier)
		require.NotNil(t, page.Next)
	})

	t.Run("BadRequests", func(t *testing.T) {
		t.Parallel()
		base := "/api/v2/collection/" + slug + "/nfts?"
		out := url.QueryEscape(encodeCursor(info.TokenCount + 5))
		for _, q := range []string{"limit=0", "limit=201", "limit=abc", "limit=-3",
			"next=%%%", "next=!!!", "next=" + url.QueryEscape(base64.StdEncoding.EncodeToString([]byte("garbage"))),
			"next=" + out, "traits=" + url.QueryEscape(`[{"traitType":"Fur","value":"Red"}]`)} {
			res := b.get(t, base+q)
			require.Equal(t, http.StatusBadRequest, res.status, q)
			var body struct {
				Errors []string `json:"errors"`
			}
			require.NoError(t, json.Unmarshal(res.body, &body), q)
			require.NotEmpty(t, body.Errors, q)
		}
		res := b.get(t, "/api/v2/collection/unknown/nfts")
		require.Equal(t, http.StatusNotFound, res.status)
	})
}

func TestNumericTraitsOnTheWire(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{Collections: 1, ListTraits: true})
	info, _ := b.sim.Collection("sim-collection-000")
	require.NotEmpty(t, info.NumericTraitTypes, "collection 0 always has numeric traits")

	var page apiPage
	b.getJSON(t, "/api/v2/collection/sim-collection-000/nfts?limit=200", &page)
	numeric := 0
	for _, nft := range page.NFTs {
		for _, tr := range nft.Traits {
			if tr.DisplayType == nil {
				continue
			}
			require.Contains(t, []string{"number", "date"}, *tr.DisplayType)
			var v int64
			require.NoError(t, json.Unmarshal(tr.Value, &v), "numeric value is a JSON integer: %s", tr.Value)
			numeric++
		}
	}
	require.Positive(t, numeric)
}

func TestSimEndpoints(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{Collections: 4, APIKeys: []string{"k"}})
	b.get(t, "/api/v2/collections/sim-collection-000") // 401, counted

	var list struct {
		Collections []CollectionInfo `json:"collections"`
	}
	b.getJSON(t, "/_sim/collections", &list)
	require.Len(t, list.Collections, 4)
	for i, c := range list.Collections {
		want, _ := b.sim.Collection(b.sim.Slugs()[i])
		require.Equal(t, want, c)
	}

	var st Stats
	b.getJSON(t, "/_sim/stats", &st)
	require.Equal(t, b.sim.Stats(), st)
	require.Equal(t, int64(1), st.Requests, "/_sim/ requests are not counted")
	require.Equal(t, int64(1), st.Unauthorized)
}

func BenchmarkNFTPage200(b *testing.B) {
	sim, err := New(Config{}, nil)
	require.NoError(b, err)
	path := "/api/v2/collection/sim-collection-002/nfts?limit=200&next=" + url.QueryEscape(encodeCursor(1000))
	b.ReportAllocs()
	for b.Loop() {
		rec := serve(sim, path)
		if rec.Code != http.StatusOK {
			b.Fatal(rec.Code)
		}
		b.SetBytes(int64(rec.Body.Len()))
	}
}

func BenchmarkStats(b *testing.B) {
	clock := newFakeClock()
	sim, err := New(Config{Clock: clock.Now}, nil)
	require.NoError(b, err)
	b.ReportAllocs()
	for b.Loop() {
		clock.Advance(time.Minute)
		if rec := serve(sim, "/api/v2/collections/sim-collection-002/stats"); rec.Code != http.StatusOK {
			b.Fatal(rec.Code)
		}
	}
}
