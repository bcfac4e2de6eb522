package opensea

import (
	"bytes"
	"context"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/nftsync/nftsync/internal/indexer"
)

func TestCollection(t *testing.T) {
	t.Parallel()

	ctx := context.Background()

	t.Run("DecodesFixtureExactly", func(t *testing.T) {
		t.Parallel()

		var gotURI string
		serve := serveFixture(t, http.StatusOK, "collection.json", nil)
		srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
			gotURI = r.RequestURI
			serve(w, r)
		})
		col, err := newTestClient(t, srv.URL, Options{}).Collection(ctx, "example-apes")
		require.NoError(t, err)
		require.Equal(t, "/api/v2/collections/example-apes", gotURI)
		require.Equal(t, &indexer.Collection{
			Slug:             "example-apes",
			Name:             "Example Apes",
			Description:      "10k example apes",
			ImageURL:         "https://i.seadn.io/s/raw/files/aa.png",
			BannerImageURL:   "https://i.seadn.io/s/raw/files/bb.png",
			ExternalURL:      "https://example.org",
			Category:         "pfps",
			SafelistStatus:   "verified",
			TotalSupply:      10000,
			UniqueItemCount:  9998,
			Contracts:        []indexer.Contract{{Chain: "ethereum", Address: "0xabcabcabcabcabcabcabcabcabcabcabcabcabca"}},
			Currency:         "ETH",
			CurrencyDecimals: 18,
			CreatedDate:      "2021-04-22",
			Raw:              bytes.TrimSpace(fixture(t, "collection.json")),
			FetchedAt:        testNow(),
		}, col)
	})

	t.Run("MinimalBodyLeavesOptionalFieldsEmpty", func(t *testing.T) {
		t.Parallel()

		srv := newServer(t, func(w http.ResponseWriter, _ *http.Request) {
			_, _ = w.Write([]byte(`{"collection":"renamed-apes","name":"X","contracts":[],"description":null,` +
				`"pricing_currencies":{"listing_currency":{"symbol":"USDC"}}}`))
		})
		col, err := newTestClient(t, srv.URL, Options{}).Collection(ctx, "example-apes")
		require.NoError(t, err)
		require.Equal(t, "renamed-apes", col.Slug) // the API's slug wins
		require.Empty(t, col.Description)
		require.Empty(t, col.Contracts)
		require.NotNil(t, col.Contracts)
		require.Equal(t, "USDC", col.Currency)
		require.Equal(t, int32(6), col.CurrencyDecimals) // from the table
	})

	t.Run("MalformedFixtures", func(t *testing.T) {
		t.Parallel()

		for _, tc := range []struct {
			fixture string
			wantMsg string
		}{
			{"collection_missing_slug.json", "field collection: required"},
			{"collection_wrong_types.json", "field total_supply: want integer, got JSON string"},
			{"collection_contract_no_address.json", "field contracts[0].address: required"},
			{"collection_is_array.json", "field body: want object, got JSON array"},
			{"truncated.json", "truncated JSON"},
			{"trailing_garbage.json", "trailing data after JSON value"},
		} {
			t.Run(tc.fixture, func(t *testing.T) {
				t.Parallel()

				srv := newServer(t, serveFixture(t, http.StatusOK, tc.fixture, nil))
				col, err := newTestClient(t, srv.URL, Options{}).Collection(ctx, "example-apes")
				require.Nil(t, col)
				ie := requireClass(t, err, indexer.ClassMalformed)
				require.Equal(t, "collection example-apes", ie.Op)
				require.Contains(t, err.Error(), "decode collection example-apes: "+tc.wantMsg)
			})
		}
	})

	t.Run("NotFound", func(t *testing.T) {
		t.Parallel()

		srv := newServer(t, serveFixture(t, http.StatusNotFound, "error_404.json", nil))
		_, err := newTestClient(t, srv.URL, Options{}).Collection(ctx, "nope")
		ie := requireClass(t, err, indexer.ClassPermanent)
		require.Equal(t, http.StatusNotFound, ie.Status)
		require.EqualError(t, err,
			`collection nope: permanent (HTTP 404): collection not found: upstream says "Collection not found"`)
	})

	t.Run("InvalidSlugsMakeNoRequest", func(t *testing.T) {
		t.Parallel()

		srv := newServer(t, func(http.ResponseWriter, *http.Request) {
			t.Error("unexpected request")
		})
		c := newTestClient(t, srv.URL, Options{})
		for _, slug := range []string{"", ".", ".."} {
			_, err := c.Collection(ctx, slug)
			requireClass(t, err, indexer.ClassPermanent)
			require.ErrorContains(t, err, "invalid slug")
		}
	})
}

func TestNormalizeAddress(t *testing.T) {
	t.Parallel()

	require.Equal(t, "0xabcdef0123", normalizeAddress("0xABCdef0123"))
	require.Equal(t, "0xabcdef0123", normalizeAddress("0XABCDEF0123"))
	// Solana base58 is case-sensitive and must survive unchanged.
	require.Equal(t, "7xKXtg2CW87d97TXJSDpbD5jBkheTqA83TZRuJosgAsU",
		normalizeAddress("7xKXtg2CW87d97TXJSDpbD5jBkheTqA83TZRuJosgAsU"))
}

func TestCurrencyDecimals(t *testing.T) {
	t.Parallel()

	for symbol, want := range map[string]int32{
		"ETH": 18, "WETH": 18, "weth": 18, "USDC": 6, "USDT": 6, "SOL": 9, "AVAX": 18, "": 18,
	} {
		require.Equal(t, want, currencyDecimals(symbol), symbol)
	}
}
