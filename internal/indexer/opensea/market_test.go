package opensea

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nftsync/nftsync/internal/indexer"
)

func TestScaleRaw(t *testing.T) {
	t.Parallel()

	for _, tc := range []struct {
		raw      string
		decimals int32
		want     string
	}{
		{"5000000000000000", 18, "0.005"},
		{"11250000000000000000", 18, "11.25"},
		{"1500000", 6, "1.5"},
		{"1", 18, "0.000000000000000001"},
		{"0", 18, "0"},
		{"000", 18, "0"},
		{"0042", 0, "42"},
		{"115792089237316195423570985008687907853269984665640564039457584007913129639935", 18,
			"115792089237316195423570985008687907853269984665640564039457.584007913129639935"},
	} {
		got, err := ScaleRaw(tc.raw, tc.decimals)
		require.NoError(t, err, "%s e-%d", tc.raw, tc.decimals)
		require.Equal(t, tc.want, got, "%s e-%d", tc.raw, tc.decimals)
	}
	for _, tc := range []struct {
		raw      string
		decimals int32
		msg      string
	}{
		{"", 18, "empty"},
		{"-1", 18, "not a non-negative integer"},
		{"1.5", 18, "not a non-negative integer"},
		{"1e18", 18, "not a non-negative integer"},
		{" 1", 18, "not a non-negative integer"},
		{"1", -1, "out of range"},
		{"1", 78, "out of range"},
	} {
		_, err := ScaleRaw(tc.raw, tc.decimals)
		require.ErrorContains(t, err, tc.msg, "%q e-%d", tc.raw, tc.decimals)
	}
}

func TestBestListings(t *testing.T) {
	t.Parallel()

	ctx := context.Background()

	t.Run("DecodesFixtureExactly", func(t *testing.T) {
		t.Parallel()

		var gotURI string
		serve := serveFixture(t, http.StatusOK, "best_listings.json", nil)
		srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
			gotURI = r.URL.RequestURI()
			serve(w, r)
		})
		ls, err := newTestClient(t, srv.URL, Options{}).BestListings(ctx, "example-apes", 20)
		require.NoError(t, err)
		require.Equal(t, "/api/v2/listings/collection/example-apes/best?limit=20", gotURI)
		contract := "0x495f947276749ce646f68ac8c248420045cb7b5e"
		require.Equal(t, []indexer.Listing{
			{
				OrderHash: "0xccbf2c8bc22d06fc16e118e5a865377d8b2fe4ea485cd0cb713899cca17d8964",
				Token:     indexer.TokenRef{Chain: "ethereum", Contract: contract, TokenID: "77"},
				Price:     indexer.Money{Amount: "0.005", Currency: "ETH", Decimals: 18},
				EthPrice:  "1",
				Quantity:  1,
				ListedAt:  time.Unix(1764600000, 0).UTC(),
				ExpiresAt: time.Unix(1767278400, 0).UTC(),
				Maker:     "0xa4ff2b59d72f76ee51051196d25e3998cdc579c6",
			},
			{
				OrderHash: "0x1f7b3c9e5d2a4b6c8e0f1a3b5c7d9e1f2a4b6c8d0e2f4a6b8c0d2e4f6a8b0c2d",
				Token:     indexer.TokenRef{Chain: "ethereum", Contract: contract, TokenID: "1234"},
				Price:     indexer.Money{Amount: "0.0051", Currency: "WETH", Decimals: 18},
				EthPrice:  "1",
				Quantity:  1,
				ListedAt:  time.Unix(1764601000, 0).UTC(),
				// endTime is uint256 max: no expiry.
				Maker: "0x6666666666666666666666666666666666666666",
			},
			{
				OrderHash: "0x2a4b6c8d0e2f4a6b8c0d2e4f6a8b0c2d1f7b3c9e5d2a4b6c8e0f1a3b5c7d9e1f",
				Token:     indexer.TokenRef{Chain: "ethereum", Contract: contract, TokenID: "9"},
				Price:     indexer.Money{Amount: "45", Currency: "USDC", Decimals: 6},
				Quantity:  3,
				ListedAt:  time.Unix(1764602000, 0).UTC(),
			},
		}, ls)
	})

	t.Run("EmptyBook", func(t *testing.T) {
		t.Parallel()

		srv := newServer(t, serveFixture(t, http.StatusOK, "best_listings_empty.json", nil))
		ls, err := newTestClient(t, srv.URL, Options{}).BestListings(ctx, "example-apes", 5)
		require.NoError(t, err)
		require.Empty(t, ls)
	})

	t.Run("InactiveListingsAreLeftOut", func(t *testing.T) {
		t.Parallel()

		srv := newServer(t, serveFixture(t, http.StatusOK, "best_listings_inactive.json", nil))
		ls, err := newTestClient(t, srv.URL, Options{}).BestListings(ctx, "example-apes", 5)
		require.NoError(t, err)
		require.Len(t, ls, 2)
		require.Equal(t, "1234", ls[0].Token.TokenID)
	})

	t.Run("MalformedFixtures", func(t *testing.T) {
		t.Parallel()

		for name, msg := range map[string]string{
			"best_listings_float_price.json":  "field listings.price.current.value: want string, got JSON number",
			"best_listings_no_asset.json":     "listings[2]: field asset.contract: required",
			"best_listings_bad_decimals.json": "listings[0]: field price.current: decimals 99: out of range",
			"best_listings_missing.json":      "field listings: required",
			"truncated.json":                  "truncated JSON",
			"trailing_garbage.json":           "trailing data",
		} {
			srv := newServer(t, serveFixture(t, http.StatusOK, name, nil))
			_, err := newTestClient(t, srv.URL, Options{}).BestListings(ctx, "example-apes", 20)
			ie := requireClass(t, err, indexer.ClassMalformed)
			require.ErrorContains(t, ie, msg, name)
			require.Contains(t, ie.Op, "best listings example-apes")
		}
	})

	t.Run("LimitOutOfRangeMakesNoCall", func(t *testing.T) {
		t.Parallel()

		srv := newServer(t, func(http.ResponseWriter, *http.Request) { t.Error("unexpected call") })
		c := newTestClient(t, srv.URL, Options{})
		for _, limit := range []int{0, -1, 201} {
			_, err := c.BestListings(ctx, "example-apes", limit)
			requireClass(t, err, indexer.ClassPermanent)
		}
	})

	t.Run("ErrorsAreClassified", func(t *testing.T) {
		t.Parallel()

		srv := newServer(t, serveFixture(t, http.StatusNotFound, "error_404.json", nil))
		_, err := newTestClient(t, srv.URL, Options{}).BestListings(ctx, "nope", 20)
		requireClass(t, err, indexer.ClassPermanent)

		srv = newServer(t, serveFixture(t, http.StatusTooManyRequests, "throttled_429.json", map[string]string{"Retry-After": "3"}))
		_, err = newTestClient(t, srv.URL, Options{}).BestListings(ctx, "example-apes", 20)
		ie := requireClass(t, err, indexer.ClassRateLimited)
		require.Equal(t, 3*time.Second, ie.RetryAfter)
	})
}

func TestSales(t *testing.T) {
	t.Parallel()

	ctx := context.Background()
	after := time.Unix(1765000000, 0)

	t.Run("PagesAndDecodesExactly", func(t *testing.T) {
		t.Parallel()

		var uris []string
		srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
			uris = append(uris, r.URL.RequestURI())
			name := "sales_page1.json"
			if r.URL.Query().Get("next") != "" {
				name = "sales_page2.json"
			}
			serveFixture(t, http.StatusOK, name, nil)(w, r)
		})
		c := newTestClient(t, srv.URL, Options{PageSize: 50})
		p1, err := c.Sales(ctx, "example-apes", after, "")
		require.NoError(t, err)
		contract := "0x495f947276749ce646f68ac8c248420045cb7b5e"
		require.Equal(t, &indexer.SalePage{
			Sales: []indexer.Sale{
				{
					TxHash:    "0x20cd873b465edb4f6dcf08263e0f1fb3af54f0cab2fd318fdc73e3c1fea216a3",
					OrderHash: "0xb0eae933670ab31a7f9a986b2393474b2fd4a1e782792e1d2ce538d758568e80",
					Token:     indexer.TokenRef{Chain: "ethereum", Contract: contract, TokenID: "77", MetadataURL: "ipfs://QmExample/77"},
					Price:     indexer.Money{Amount: "0.008", Currency: "ETH", Decimals: 18},
					EthPrice:  "1",
					Quantity:  1,
					At:        time.Unix(1765099988, 0).UTC(),
					Buyer:     "0x05576aae1c7eeca6c674e8f74d3b50ef38fa08b6",
					Seller:    "0xebe71b162c4fd6be6f07bf11b17d271c1087bd8b",
				},
				{
					TxHash:    "0x30cd873b465edb4f6dcf08263e0f1fb3af54f0cab2fd318fdc73e3c1fea216a3",
					OrderHash: "0xc0eae933670ab31a7f9a986b2393474b2fd4a1e782792e1d2ce538d758568e80",
					Token:     indexer.TokenRef{Chain: "ethereum", Contract: contract, TokenID: "9"},
					Price:     indexer.Money{Amount: "1.5", Currency: "USDC", Decimals: 6},
					Quantity:  2,
					At:        time.Unix(1765089999, 0).UTC(),
					Buyer:     "0x4444444444444444444444444444444444444444",
					Seller:    "0x3333333333333333333333333333333333333333",
				},
			},
			Next: "LWV2ZW50LTE3NjUwOTAwMDA=",
		}, p1)

		p2, err := c.Sales(ctx, "example-apes", after, p1.Next)
		require.NoError(t, err)
		require.Empty(t, p2.Next)
		require.Len(t, p2.Sales, 1)
		// closing_date 0: the event's timestamp is the sale's time.
		require.Equal(t, time.Unix(1765080000, 0).UTC(), p2.Sales[0].At)
		require.Equal(t, indexer.Money{Amount: "12", Currency: "WETH", Decimals: 18}, p2.Sales[0].Price)

		require.Equal(t, []string{
			"/api/v2/events/collection/example-apes?after=1765000000&event_type=sale&limit=50",
			"/api/v2/events/collection/example-apes?after=1765000000&event_type=sale&limit=50&next=LWV2ZW50LTE3NjUwOTAwMDA%3D",
		}, uris)
	})

	t.Run("ZeroAfterIsOmitted", func(t *testing.T) {
		t.Parallel()

		var uri string
		srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
			uri = r.URL.RequestURI()
			serveFixture(t, http.StatusOK, "sales_page2.json", nil)(w, r)
		})
		_, err := newTestClient(t, srv.URL, Options{}).Sales(ctx, "example-apes", time.Time{}, "")
		require.NoError(t, err)
		require.Equal(t, "/api/v2/events/collection/example-apes?event_type=sale&limit=200", uri)
	})

	t.Run("MalformedFixtures", func(t *testing.T) {
		t.Parallel()

		for name, msg := range map[string]string{
			"sales_negative_payment.json": "asset_events[2]: field payment.quantity: raw amount \"-1500000\": not a non-negative integer",
			"sales_no_transaction.json":   "asset_events[0]: field transaction: required",
			"sales_quantity_string.json":  "want integer, got JSON string",
			"sales_missing.json":          "field asset_events: required",
			"truncated.json":              "truncated JSON",
		} {
			srv := newServer(t, serveFixture(t, http.StatusOK, name, nil))
			_, err := newTestClient(t, srv.URL, Options{}).Sales(ctx, "example-apes", after, "")
			ie := requireClass(t, err, indexer.ClassMalformed)
			require.ErrorContains(t, ie, msg, name)
		}
	})

	t.Run("NextRepeatingTheCursorIsMalformed", func(t *testing.T) {
		t.Parallel()

		srv := newServer(t, serveFixture(t, http.StatusOK, "sales_next_repeats.json", nil))
		_, err := newTestClient(t, srv.URL, Options{}).Sales(ctx, "example-apes", after, "cursor-1")
		ie := requireClass(t, err, indexer.ClassMalformed)
		require.ErrorContains(t, ie, "field next: repeats")
	})
}
