package jobs_test

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/stretchr/testify/require"

	"github.com/nftsync/nftsync/db"
	"github.com/nftsync/nftsync/internal/indexer"
	"github.com/nftsync/nftsync/internal/indexer/tokenuri"
	"github.com/nftsync/nftsync/internal/indexersim"
	"github.com/nftsync/nftsync/jobs"
)

// traitProvenance counts a collection's tokens by traits_source, for tokens
// whose traits carry a fetch time and the listed updated_at as their as-of
// time; any token whose traits lack either counts under "incomplete".
func traitProvenance(t *testing.T, b *workerBundle) map[string]int {
	t.Helper()
	rows, err := b.tx.Query(context.Background(), `
		SELECT CASE WHEN traits_known AND traits_checked_at IS NOT NULL
		             AND traits_as_of IS NOT DISTINCT FROM source_updated_at AND traits_as_of IS NOT NULL
		            THEN traits_source ELSE 'incomplete' END, count(*)
		FROM tokens WHERE collection_id = $1 GROUP BY 1`, b.coll.ID)
	require.NoError(t, err)
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var src string
		var n int
		require.NoError(t, rows.Scan(&src, &n))
		out[src] = n
	}
	require.NoError(t, rows.Err())
	return out
}

func TestTraitsSourcePerToken(t *testing.T) {
	t.Parallel()
	noListTraits := func(c *indexersim.Config) { c.ListTraits = false }

	t.Run("OpenSeaSingleNFT", func(t *testing.T) {
		t.Parallel()
		b := setupWorkers(t, noListTraits)
		b.deps.Traits.BatchSize = 1 // the single-NFT endpoint only
		require.Equal(t, river.EventKindJobCompleted, syncAndFetch(t, b).EventKind)
		require.Equal(t, int64(b.info.TokenCount), b.sim.Stats().ByEndpoint[indexersim.EndpointNFT])
		require.Equal(t, map[string]int{indexer.TraitSourceOpenSea: b.info.TokenCount}, traitProvenance(t, b))
	})

	t.Run("OpenSeaBatch", func(t *testing.T) {
		t.Parallel()
		b := setupWorkers(t, noListTraits)
		require.Equal(t, river.EventKindJobCompleted, syncAndFetch(t, b).EventKind)
		require.Equal(t, int64((b.info.TokenCount+49)/50), b.sim.Stats().ByEndpoint[indexersim.EndpointNFTsBatch])
		require.Equal(t, map[string]int{indexer.TraitSourceOpenSea: b.info.TokenCount}, traitProvenance(t, b))
	})

	t.Run("ListAnswer", func(t *testing.T) {
		t.Parallel()
		b := setupWorkers(t, func(c *indexersim.Config) { c.ListTraits = true })
		require.Equal(t, river.EventKindJobCompleted, syncAndFetch(t, b).EventKind)
		require.Zero(t, b.sim.Stats().ByEndpoint[indexersim.EndpointNFT])
		require.Equal(t, map[string]int{"opensea:list": b.info.TokenCount}, traitProvenance(t, b))
		require.Equal(t, "opensea:list", jobs.ListTraitsSource(b.coll.Source))
	})

	t.Run("TokenURIThenListKeepsEachTokensOwn", func(t *testing.T) {
		t.Parallel()
		ctx := context.Background()
		b := setupWorkers(t, noListTraits)
		src, err := tokenuri.New(tokenuri.Options{
			IPFSGateways: []string{b.url + "/ipfs/"}, AllowHTTP: true,
			AllowNets: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")},
			Timeout:   5 * time.Second,
		})
		require.NoError(t, err)
		b.deps.TraitSources[indexer.TraitSourceTokenURI] = src
		require.NoError(t, db.New(b.tx).CollectionSetTraitsSource(ctx, db.CollectionSetTraitsSourceParams{ID: b.coll.ID, TraitsSource: indexer.TraitSourceTokenURI}))
		require.Equal(t, river.EventKindJobCompleted, syncAndFetch(t, b).EventKind)
		require.Zero(t, b.sim.Stats().ByEndpoint[indexersim.EndpointNFT], "no OpenSea single-NFT call")
		require.Equal(t, map[string]int{indexer.TraitSourceTokenURI: b.info.TokenCount}, traitProvenance(t, b))

		// A later list answer without traits keeps each token's source; a
		// token changed upstream and fetched again from the single-NFT
		// endpoint says so, the others still say token_uri.
		require.NoError(t, db.New(b.tx).CollectionSetTraitsSource(ctx, db.CollectionSetTraitsSourceParams{ID: b.coll.ID, TraitsSource: indexer.TraitSourceOpenSea}))
		require.NoError(t, b.sim.Touch(b.info.Slug, "7"))
		require.Equal(t, river.EventKindJobCompleted, syncAndFetch(t, b).EventKind)
		require.Equal(t, map[string]int{indexer.TraitSourceTokenURI: b.info.TokenCount - 1, indexer.TraitSourceOpenSea: 1}, traitProvenance(t, b))
	})
}
