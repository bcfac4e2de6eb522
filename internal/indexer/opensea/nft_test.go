package opensea

import (
	"context"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/nftsync/nftsync/internal/indexer"
)

// The client is the opensea trait source and counts a collection's traits.
var (
	_ indexer.TraitSource  = (*Client)(nil)
	_ indexer.TraitCounter = (*Client)(nil)
)

func TestNFT(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	const contract = "0x3f036e8fa536bae768bb01f8dffe7a964a716ec8"

	t.Run("Traits", func(t *testing.T) {
		t.Parallel()
		var path string
		srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
			path = r.URL.Path
			serveFixture(t, http.StatusOK, "nft.json", nil)(w, r)
		})
		md, err := newTestClient(t, srv.URL, Options{}).TokenTraits(ctx, indexer.TokenRef{Chain: "ethereum", Contract: contract, TokenID: "5"})
		require.NoError(t, err)
		require.Equal(t, "/api/v2/chain/ethereum/contract/"+contract+"/nfts/5", path)
		require.Equal(t, "Mystic Punks #5", md.Name)
		require.Equal(t, "2026-04-07T00:44:11Z", md.UpdatedAt.Format("2006-01-02T15:04:05Z07:00"))
		require.Len(t, md.Traits, 4)
		require.Equal(t, "Necklace", md.Traits[0].Type)
		require.Equal(t, "Ivory Grin", md.Traits[0].ValueText)
		require.Equal(t, indexer.ValueString, md.Traits[0].ValueKind)
		lvl := md.Traits[3]
		require.Equal(t, "Level", lvl.Type)
		require.Equal(t, indexer.ValueNumber, lvl.ValueKind)
		require.Equal(t, "6", *lvl.ValueNumeric)
		require.Equal(t, "number", lvl.DisplayType)
		require.Equal(t, "100", lvl.MaxValue)
		require.NotEmpty(t, md.Raw)
	})

	t.Run("EmptyAndNull", func(t *testing.T) {
		t.Parallel()
		srv := newServer(t, serveFixture(t, http.StatusOK, "nft_no_traits.json", nil))
		md, err := newTestClient(t, srv.URL, Options{}).NFT(ctx, "ethereum", contract, "5")
		require.NoError(t, err)
		require.NotNil(t, md.Traits, "[] means known to have none")
		require.Empty(t, md.Traits)

		srv = newServer(t, serveFixture(t, http.StatusOK, "nft_traits_null.json", nil))
		md, err = newTestClient(t, srv.URL, Options{}).NFT(ctx, "ethereum", contract, "5")
		require.NoError(t, err)
		require.Nil(t, md.Traits, "null means unknown")
	})

	t.Run("NotFoundIsPermanent", func(t *testing.T) {
		t.Parallel()
		srv := newServer(t, serveFixture(t, http.StatusNotFound, "nft_not_found.json", nil))
		_, err := newTestClient(t, srv.URL, Options{}).NFT(ctx, "ethereum", contract, "999")
		ie := requireClass(t, err, indexer.ClassPermanent)
		require.Equal(t, http.StatusNotFound, ie.Status)
		require.Contains(t, err.Error(), "nft not found")
	})

	t.Run("Malformed", func(t *testing.T) {
		t.Parallel()
		for _, name := range []string{"nft_other_identifier.json", "nfts_no_traits.json", "truncated.json", "trailing_garbage.json"} {
			srv := newServer(t, serveFixture(t, http.StatusOK, name, nil))
			_, err := newTestClient(t, srv.URL, Options{}).NFT(ctx, "ethereum", contract, "5")
			requireClass(t, err, indexer.ClassMalformed)
		}
	})

	t.Run("BadArguments", func(t *testing.T) {
		t.Parallel()
		c := newTestClient(t, "http://127.0.0.1:1", Options{})
		for _, args := range [][3]string{{"", contract, "1"}, {"ethereum", "", "1"}, {"ethereum", contract, ""}, {"ethereum", contract, "1/../2"}} {
			_, err := c.NFT(ctx, args[0], args[1], args[2])
			requireClass(t, err, indexer.ClassPermanent)
		}
	})
}

func TestCollectionTraits(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	t.Run("SpecExample", func(t *testing.T) {
		t.Parallel()
		var path string
		srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
			path = r.URL.Path
			serveFixture(t, http.StatusOK, "traits_spec_example.json", nil)(w, r)
		})
		tc, err := newTestClient(t, srv.URL, Options{}).CollectionTraits(ctx, "example-apes")
		require.NoError(t, err)
		require.Equal(t, "/api/v2/traits/example-apes", path)
		require.Equal(t, map[string]string{"face": "string", "background": "string", "level": "number"}, tc.Categories)
		require.Equal(t, map[string]map[string]int64{"face": {"glasses": 4, "sunglasses": 2}, "background": {"red": 6}}, tc.Values)
		require.Equal(t, map[string]indexer.Range{"level": {Min: "1", Max: "99"}}, tc.Ranges)
	})

	t.Run("Recorded", func(t *testing.T) {
		t.Parallel()
		srv := newServer(t, serveFixture(t, http.StatusOK, "traits.json", nil))
		tc, err := newTestClient(t, srv.URL, Options{}).CollectionTraits(ctx, "sim-collection-000")
		require.NoError(t, err)
		require.Len(t, tc.Categories, 6)
		require.Equal(t, int64(9), tc.Values["Body"]["Teal Jacket"])
		require.Equal(t, indexer.Range{Min: "4", Max: "98"}, tc.Ranges["Level"])
	})

	t.Run("Malformed", func(t *testing.T) {
		t.Parallel()
		for _, name := range []string{"traits_bad_count.json", "traits_bad_category.json", "traits_numeric_not_number.json", "nft.json", "truncated.json"} {
			srv := newServer(t, serveFixture(t, http.StatusOK, name, nil))
			_, err := newTestClient(t, srv.URL, Options{}).CollectionTraits(ctx, "x")
			requireClass(t, err, indexer.ClassMalformed)
		}
	})

	t.Run("NotFound", func(t *testing.T) {
		t.Parallel()
		srv := newServer(t, serveFixture(t, http.StatusNotFound, "error_404.json", nil))
		_, err := newTestClient(t, srv.URL, Options{}).CollectionTraits(ctx, "x")
		requireClass(t, err, indexer.ClassPermanent)
	})
}

// The list fixture recorded from the default simulator has no traits key:
// every token's traits are unknown, not empty.
func TestTokensWithoutTraitsKey(t *testing.T) {
	t.Parallel()
	srv := newServer(t, serveFixture(t, http.StatusOK, "nfts_no_traits.json", nil))
	page, err := newTestClient(t, srv.URL, Options{}).Tokens(context.Background(), "sim-collection-000", "")
	require.NoError(t, err)
	require.Len(t, page.Tokens, 3)
	for _, tok := range page.Tokens {
		require.Nil(t, tok.Traits)
		require.NotEmpty(t, tok.MetadataURL)
		require.False(t, tok.UpdatedAt.IsZero())
	}
}
