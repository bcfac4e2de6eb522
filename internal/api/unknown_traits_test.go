package api_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/nftsync/nftsync/db"
)

// TestUnknownTraitsInTheAPI: a token whose traits the source does not know
// is listed with traitsState UNKNOWN and no rank, and the rarity run says
// how many tokens it ranked and how many it left out as unknown.
func TestUnknownTraitsInTheAPI(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t, setupOpts{})
	toks := []seedToken{
		{id: "1", traits: [][2]string{{"Fur", "Brown"}}, rank: 1, score: 1.2},
		{id: "2", traits: [][2]string{{"Fur", "Gold"}}, rank: 2, score: 0.8},
		{id: "3"}, // unknown to the source, unranked
		{id: "4"}, // never fetched
	}
	id := b.seedCollection(t, "unrevealed", "1", "1", toks)
	q := db.New(b.pool)
	_, err := b.pool.Exec(ctx, `UPDATE tokens SET traits_known = false, traits_unknown = token_id = '3'
		WHERE collection_id = $1 AND token_id IN ('3', '4')`, id)
	require.NoError(t, err)
	_, err = b.pool.Exec(ctx, `UPDATE tokens SET traits_checked_at = now(), traits_as_of = source_updated_at
		WHERE collection_id = $1 AND token_id <> '4'`, id)
	require.NoError(t, err)
	require.NoError(t, q.RarityRunTouch(ctx, db.RarityRunTouchParams{CollectionID: id, Method: "openrarity",
		SyncRun: 2, SnapshotXmax: 1, UnknownCount: 1, MissingCount: 1}))

	const query = `query { collection(slug: "unrevealed") { rarity { tokenCount rankedCount unknownCount missingCount } }
		tokens(collection: "unrevealed") { edges { node { tokenId traitsKnown traitsState rarity { rank } } } } }`
	var out struct {
		Collection struct {
			Rarity struct {
				TokenCount   int `json:"tokenCount"`
				RankedCount  int `json:"rankedCount"`
				UnknownCount int `json:"unknownCount"`
				MissingCount int `json:"missingCount"`
			} `json:"rarity"`
		} `json:"collection"`
		Tokens struct {
			Edges []struct {
				Node struct {
					TokenID     string `json:"tokenId"`
					TraitsKnown bool   `json:"traitsKnown"`
					TraitsState string `json:"traitsState"`
					Rarity      *struct {
						Rank int `json:"rank"`
					} `json:"rarity"`
				} `json:"node"`
			} `json:"edges"`
		} `json:"tokens"`
	}
	b.data(t, "", query, nil, &out)
	r := out.Collection.Rarity
	require.Equal(t, 4, r.TokenCount) // the seeded run's count, as stored
	require.Equal(t, r.TokenCount, r.RankedCount)
	require.Equal(t, 1, r.UnknownCount)
	require.Equal(t, 1, r.MissingCount)
	states := map[string]string{}
	for _, e := range out.Tokens.Edges {
		states[e.Node.TokenID] = e.Node.TraitsState
		if e.Node.TraitsState != "KNOWN" {
			require.Nil(t, e.Node.Rarity, "token %s has no rank", e.Node.TokenID)
		}
	}
	require.Equal(t, map[string]string{"1": "KNOWN", "2": "KNOWN", "3": "UNKNOWN", "4": "PENDING"}, states)
}
