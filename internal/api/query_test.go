package api_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/stretchr/testify/require"

	"github.com/nftsync/nftsync/db"
	"github.com/nftsync/nftsync/internal/api"
)

// alphaTokens: four ranked tokens (one with the largest uint256 id) and two
// without a rank.
var alphaTokens = []seedToken{
	{id: "1", traits: [][2]string{{"Color", "Red"}, {"Hat", "Yes"}}, rank: 2, score: 1.5},
	{id: "2", traits: [][2]string{{"Color", "Blue"}, {"Hat", "No"}}, rank: 1, score: 2.5},
	{id: "10", traits: [][2]string{{"Color", "Red"}, {"Hat", "No"}}, rank: 3, score: 1.25},
	{id: maxUint256, traits: [][2]string{{"Color", "Gold"}, {"Hat", "Yes"}}, rank: 4, score: 1.0},
	{id: "3", traits: [][2]string{{"Color", "Blue"}}},
	{id: "4", traits: [][2]string{{"Color", "Red"}}},
}

func seedThree(t *testing.T, b *testBundle) {
	t.Helper()
	b.seedCollection(t, "alpha", "1.5", "100", alphaTokens)
	b.seedCollection(t, "beta", "20.25", "5", nil)
	b.seedCollection(t, "gamma", "", "50", nil)
}

type collectionsPage struct {
	Collections struct {
		TotalCount int `json:"totalCount"`
		Edges      []struct {
			Cursor string `json:"cursor"`
			Node   struct {
				Slug string `json:"slug"`
			} `json:"node"`
		} `json:"edges"`
		PageInfo struct {
			HasNextPage bool    `json:"hasNextPage"`
			EndCursor   *string `json:"endCursor"`
		} `json:"pageInfo"`
	} `json:"collections"`
}

func (p collectionsPage) slugs() []string {
	var out []string
	for _, e := range p.Collections.Edges {
		out = append(out, e.Node.Slug)
	}
	return out
}

func TestCollectionsQuery(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{opts: api.Options{MaxPageSize: 20}})
	seedThree(t, b)
	const q = `query($order: CollectionOrder, $first: Int, $after: String, $filter: CollectionFilter) {
		collections(orderBy: $order, first: $first, after: $after, filter: $filter) {
			totalCount edges { cursor node { slug } } pageInfo { hasNextPage endCursor } } }`

	t.Run("Orders", func(t *testing.T) {
		t.Parallel()
		for order, want := range map[string][]string{
			"VOLUME_1D": {"alpha", "gamma", "beta"},
			"FLOOR":     {"beta", "alpha", "gamma"},
			"NAME":      {"alpha", "beta", "gamma"},
		} {
			var p collectionsPage
			b.data(t, "", q, map[string]any{"order": order}, &p)
			require.Equal(t, want, p.slugs(), order)
			require.Equal(t, 3, p.Collections.TotalCount)
		}
	})

	t.Run("PagesFirstToLast", func(t *testing.T) {
		t.Parallel()
		var p1, p2 collectionsPage
		b.data(t, "", q, map[string]any{"order": "NAME", "first": 2}, &p1)
		require.Equal(t, []string{"alpha", "beta"}, p1.slugs())
		require.True(t, p1.Collections.PageInfo.HasNextPage)
		b.data(t, "", q, map[string]any{"order": "NAME", "first": 2, "after": *p1.Collections.PageInfo.EndCursor}, &p2)
		require.Equal(t, []string{"gamma"}, p2.slugs())
		require.False(t, p2.Collections.PageInfo.HasNextPage, "last page")
		// A cursor of an edge resumes right after that edge.
		var p3 collectionsPage
		b.data(t, "", q, map[string]any{"order": "NAME", "first": 5, "after": p1.Collections.Edges[0].Cursor}, &p3)
		require.Equal(t, []string{"beta", "gamma"}, p3.slugs())
	})

	t.Run("Filter", func(t *testing.T) {
		t.Parallel()
		var p collectionsPage
		b.data(t, "", q, map[string]any{"filter": map[string]any{"nameContains": "AMM", "status": "ACTIVE", "chain": "ethereum"}}, &p)
		require.Equal(t, []string{"gamma"}, p.slugs())
		require.Equal(t, 1, p.Collections.TotalCount)
		b.data(t, "", q, map[string]any{"filter": map[string]any{"status": "PAUSED"}}, &p)
		require.Empty(t, p.slugs())
	})

	t.Run("BadAndForeignCursor", func(t *testing.T) {
		t.Parallel()
		r := b.query(t, "", q, map[string]any{"after": "not-a-cursor!"})
		require.Equal(t, "BAD_USER_INPUT", r.code())
		require.Contains(t, r.Errors[0].Message, "not a cursor")
		var p collectionsPage
		b.data(t, "", q, map[string]any{"order": "NAME", "first": 1}, &p)
		r = b.query(t, "", q, map[string]any{"order": "FLOOR", "after": *p.Collections.PageInfo.EndCursor})
		require.Equal(t, "BAD_USER_INPUT", r.code())
		require.Contains(t, r.Errors[0].Message, "another listing")
	})

	t.Run("MaxPageSize", func(t *testing.T) {
		t.Parallel()
		r := b.query(t, "", q, map[string]any{"first": 21})
		require.Equal(t, "BAD_USER_INPUT", r.code())
		require.Contains(t, r.Errors[0].Message, "want 1 to 20")
		r = b.query(t, "", q, map[string]any{"first": 0})
		require.Equal(t, "BAD_USER_INPUT", r.code())
	})
}

func TestCollectionFields(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	id := b.seedCollection(t, "alpha", "1.500000000000000001", "100", alphaTokens)
	require.NoError(t, db.New(b.pool).DataQualityEventInsert(context.Background(), db.DataQualityEventInsertParams{
		CollectionID: pgtype.Int8{Int64: id, Valid: true}, Source: "opensea", Kind: "malformed_payload", Operation: "fetch stats alpha",
		Message: "negative floor", JobID: pgtype.Int8{Int64: 42, Valid: true}}))
	const q = `query($slug: String, $chain: String, $address: String) { collection(slug: $slug, chain: $chain, address: $address) {
		slug status priority contracts { chain address }
		metadata { name description totalSupply }
		floor { amount currency decimals source fetchedAt }
		volumes { window amount currency sales }
		traitDistribution { type value count frequency }
		rarity { method version tokenCount excludedTraits computedAt }
		freshness { kind lastSuccessAt nextDueAt refreshIntervalSeconds ageSeconds stale }
		qualityEvents { kind operation message jobId }
	} }`
	var out struct {
		Collection struct {
			Slug      string `json:"slug"`
			Status    string `json:"status"`
			Priority  int    `json:"priority"`
			Contracts []struct{ Chain, Address string }
			Metadata  struct {
				Name        string `json:"name"`
				TotalSupply int    `json:"totalSupply"`
			} `json:"metadata"`
			Floor struct {
				Amount   string `json:"amount"`
				Currency string `json:"currency"`
				Decimals int    `json:"decimals"`
				Source   string `json:"source"`
			} `json:"floor"`
			Volumes []struct {
				Window string `json:"window"`
				Amount string `json:"amount"`
				Sales  int    `json:"sales"`
			} `json:"volumes"`
			TraitDistribution []struct {
				Type      string  `json:"type"`
				Value     string  `json:"value"`
				Count     int     `json:"count"`
				Frequency float64 `json:"frequency"`
			} `json:"traitDistribution"`
			Rarity struct {
				Method         string          `json:"method"`
				TokenCount     int             `json:"tokenCount"`
				ExcludedTraits json.RawMessage `json:"excludedTraits"`
			} `json:"rarity"`
			Freshness []struct {
				Kind                   string `json:"kind"`
				AgeSeconds             *int   `json:"ageSeconds"`
				RefreshIntervalSeconds int    `json:"refreshIntervalSeconds"`
				Stale                  bool   `json:"stale"`
			} `json:"freshness"`
			QualityEvents []struct {
				Kind    string `json:"kind"`
				Message string `json:"message"`
				JobID   string `json:"jobId"`
			} `json:"qualityEvents"`
		} `json:"collection"`
	}
	b.data(t, "", q, map[string]any{"slug": "alpha"}, &out)
	c := out.Collection
	require.Equal(t, "alpha", c.Slug)
	require.Equal(t, "ACTIVE", c.Status)
	require.Equal(t, 2, c.Priority)
	require.Equal(t, "The alpha", c.Metadata.Name)
	require.Equal(t, 6, c.Metadata.TotalSupply)
	require.Equal(t, "1.500000000000000001", c.Floor.Amount, "a decimal string, never rounded through a float")
	require.Equal(t, "ETH", c.Floor.Currency)
	require.Equal(t, 18, c.Floor.Decimals)
	require.Equal(t, "opensea", c.Floor.Source)
	require.Len(t, c.Volumes, 2)
	require.Equal(t, "1d", c.Volumes[0].Window)
	require.Equal(t, "100.000000000000000000", c.Volumes[0].Amount)
	require.Equal(t, 7, c.Volumes[0].Sales)
	require.Equal(t, "openrarity", c.Rarity.Method)
	require.Equal(t, 6, c.Rarity.TokenCount)
	require.JSONEq(t, `["generation"]`, string(c.Rarity.ExcludedTraits))
	// color: red ×3, blue ×2, gold ×1; hat: no ×2, yes ×2.
	require.Len(t, c.TraitDistribution, 5)
	require.Equal(t, "color", c.TraitDistribution[0].Type)
	require.Equal(t, "red", c.TraitDistribution[0].Value)
	require.Equal(t, 3, c.TraitDistribution[0].Count)
	require.InDelta(t, 0.5, c.TraitDistribution[0].Frequency, 1e-9)
	require.Len(t, c.Freshness, 4)
	for _, f := range c.Freshness {
		require.Nil(t, f.AgeSeconds, "never fetched")
		require.True(t, f.Stale)
	}
	require.Equal(t, "FLOOR_PRICE", c.Freshness[0].Kind)
	require.Equal(t, 60, c.Freshness[0].RefreshIntervalSeconds)
	require.Len(t, c.QualityEvents, 1)
	require.Equal(t, "negative floor", c.QualityEvents[0].Message)
	require.Equal(t, "42", c.QualityEvents[0].JobID)

	t.Run("ByContract", func(t *testing.T) {
		t.Parallel()
		var out struct {
			Collection *struct{ Slug string } `json:"collection"`
		}
		b.data(t, "", `query($c: String, $a: String) { collection(chain: $c, address: $a) { slug } }`,
			map[string]any{"c": "ethereum", "a": strings.ToUpper(c.Contracts[0].Address[2:])}, &out)
		require.Nil(t, out.Collection, "address without 0x is another address")
		b.data(t, "", `query($c: String, $a: String) { collection(chain: $c, address: $a) { slug } }`,
			map[string]any{"c": "ethereum", "a": "0x" + strings.ToUpper(c.Contracts[0].Address[2:])}, &out)
		require.NotNil(t, out.Collection)
		require.Equal(t, "alpha", out.Collection.Slug)
	})

	t.Run("Freshness", func(t *testing.T) {
		t.Parallel()
		q := db.New(b.pool)
		id2 := b.seedCollection(t, "fresh", "1", "1", nil)
		// Ages are counted from the server's clock: mark relative to now,
		// not to the setup's time (a busy machine may take long to seed).
		now := time.Now()
		require.NoError(t, q.ScheduleMarkSuccess(context.Background(), db.ScheduleMarkSuccessParams{At: now.Add(-90 * time.Second), CollectionID: id2, Kind: "floor_price"}))
		require.NoError(t, q.ScheduleMarkSuccess(context.Background(), db.ScheduleMarkSuccessParams{At: now.Add(-150 * time.Second), CollectionID: id2, Kind: "volume"}))
		var out struct {
			Collection struct {
				Freshness []struct {
					Kind             string `json:"kind"`
					AgeSeconds       *int   `json:"ageSeconds"`
					TargetAgeSeconds int    `json:"targetAgeSeconds"`
					Stale            bool   `json:"stale"`
				} `json:"freshness"`
			} `json:"collection"`
		}
		b.data(t, "", `{ collection(slug: "fresh") { freshness { kind ageSeconds targetAgeSeconds stale } } }`, nil, &out)
		f := out.Collection.Freshness
		require.Equal(t, "FLOOR_PRICE", f[0].Kind)
		require.InDelta(t, 90, *f[0].AgeSeconds, 30, "90 s old")
		require.Equal(t, 60, f[0].TargetAgeSeconds)
		require.True(t, f[0].Stale, "90 s is past the floor's 60 s target")
		require.Equal(t, "METADATA", f[1].Kind)
		require.Nil(t, f[1].AgeSeconds, "never refreshed")
		require.True(t, f[1].Stale, "never refreshed is stale")
		require.Equal(t, "VOLUME", f[3].Kind)
		require.Equal(t, 300, f[3].TargetAgeSeconds)
		require.False(t, f[3].Stale, "150 s of a 300 s target")

		// A collection's own target replaces the kind's: the view, hence
		// the API, follows it.
		require.NoError(t, q.ScheduleSetTarget(context.Background(), db.ScheduleSetTargetParams{CollectionID: id2, Kind: "floor_price", TargetSeconds: pgtype.Int4{Int32: 120, Valid: true}}))
		b.data(t, "", `{ collection(slug: "fresh") { freshness { kind ageSeconds targetAgeSeconds stale } } }`, nil, &out)
		require.Equal(t, 120, out.Collection.Freshness[0].TargetAgeSeconds)
		require.False(t, out.Collection.Freshness[0].Stale, "90 s of its own 120 s target")
	})

	t.Run("Unknown", func(t *testing.T) {
		t.Parallel()
		var out struct{ Collection *struct{ Slug string } }
		b.data(t, "", `{ collection(slug: "nope") { slug } }`, nil, &out)
		require.Nil(t, out.Collection)
		r := b.query(t, "", `{ collection(slug: "a", chain: "ethereum") { slug } }`, nil)
		require.Equal(t, "BAD_USER_INPUT", r.code())
	})
}

type tokensPage struct {
	Tokens struct {
		TotalCount int `json:"totalCount"`
		Edges      []struct {
			Cursor string `json:"cursor"`
			Node   struct {
				TokenID string `json:"tokenId"`
				Traits  []struct {
					Type      string   `json:"type"`
					Value     string   `json:"value"`
					Count     *int     `json:"count"`
					Frequency *float64 `json:"frequency"`
				} `json:"traits"`
				Rarity *struct {
					Rank  int     `json:"rank"`
					Score float64 `json:"score"`
				} `json:"rarity"`
			} `json:"node"`
		} `json:"edges"`
		PageInfo struct {
			HasNextPage bool    `json:"hasNextPage"`
			EndCursor   *string `json:"endCursor"`
		} `json:"pageInfo"`
	} `json:"tokens"`
}

func (p tokensPage) ids() []string {
	var out []string
	for _, e := range p.Tokens.Edges {
		out = append(out, e.Node.TokenID)
	}
	return out
}

const tokensQuery = `query($c: String!, $order: TokenOrder, $where: TokenWhere, $first: Int, $after: String) {
	tokens(collection: $c, orderBy: $order, where: $where, first: $first, after: $after) {
		totalCount edges { cursor node { tokenId traits { type value count frequency } rarity { rank score } } }
		pageInfo { hasNextPage endCursor } } }`

func TestTokensQuery(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	b.seedCollection(t, "alpha", "1", "1", alphaTokens)
	b.seedCollection(t, "other", "1", "1", []seedToken{{id: "1", rank: 1, traits: [][2]string{{"Color", "Red"}}}})

	t.Run("RarityRankThenUnranked", func(t *testing.T) {
		t.Parallel()
		var p tokensPage
		b.data(t, "", tokensQuery, map[string]any{"c": "alpha"}, &p)
		require.Equal(t, []string{"2", "1", "10", maxUint256, "3", "4"}, p.ids())
		require.Equal(t, 1, p.Tokens.Edges[0].Node.Rarity.Rank)
		require.InDelta(t, 2.5, p.Tokens.Edges[0].Node.Rarity.Score, 1e-12)
		require.Nil(t, p.Tokens.Edges[4].Node.Rarity, "unranked")
		require.Equal(t, 6, p.Tokens.TotalCount)
		tr := p.Tokens.Edges[1].Node.Traits // token 1: Color Red, Hat Yes
		require.Equal(t, "Color", tr[0].Type)
		require.Equal(t, "Red", tr[0].Value, "traits as the source sent them")
		require.Equal(t, 3, *tr[0].Count, "count of the normalised value")
		require.InDelta(t, 0.5, *tr[0].Frequency, 1e-9)
	})

	t.Run("TraitsThroughFragments", func(t *testing.T) {
		t.Parallel()
		// A page fills its tokens' traits in one batch when the selection
		// reaches traits, through fragments and aliases too.
		for _, q := range []string{
			`query($c: String!) { tokens(collection: $c) { edges { node { ...T } } } } fragment T on Token { tokenId traits { type value count } }`,
			`query($c: String!) { tokens(collection: $c) { edges { node { tokenId ... on Token { t: traits { type value count } } } } } }`,
			`query($c: String!) { tokens(collection: $c) { ... on TokenConnection { edges { node { tokenId traits { type value count } } } } } }`,
		} {
			var raw map[string]any
			r := b.query(t, "", q, map[string]any{"c": "alpha"})
			require.Empty(t, r.Errors, q)
			require.NoError(t, json.Unmarshal(r.Data, &raw))
			require.Contains(t, string(r.Data), `"type":"Color","value":"Red","count":3`, q)
		}
		var one struct {
			Token struct {
				Traits []struct{ Type string } `json:"traits"`
			} `json:"token"`
		}
		b.data(t, "", `{ token(collection: "alpha", tokenId: "1") { ... on Token { traits { type } } } }`, nil, &one)
		require.Len(t, one.Token.Traits, 2)
	})

	t.Run("PagesAcrossRankedAndUnranked", func(t *testing.T) {
		t.Parallel()
		var all []string
		var after any
		for page := 0; page < 5; page++ {
			var p tokensPage
			b.data(t, "", tokensQuery, map[string]any{"c": "alpha", "first": 3, "after": after}, &p)
			all = append(all, p.ids()...)
			if !p.Tokens.PageInfo.HasNextPage {
				require.Equal(t, 1, page, "two pages of three")
				break
			}
			after = *p.Tokens.PageInfo.EndCursor
		}
		require.Equal(t, []string{"2", "1", "10", maxUint256, "3", "4"}, all)
		// Pages of 4 and 5 cross the boundary mid-page.
		var p tokensPage
		b.data(t, "", tokensQuery, map[string]any{"c": "alpha", "first": 5}, &p)
		require.True(t, p.Tokens.PageInfo.HasNextPage)
		b.data(t, "", tokensQuery, map[string]any{"c": "alpha", "first": 5, "after": *p.Tokens.PageInfo.EndCursor}, &p)
		require.Equal(t, []string{"4"}, p.ids())
		require.False(t, p.Tokens.PageInfo.HasNextPage)
	})

	t.Run("TokenIDOrder", func(t *testing.T) {
		t.Parallel()
		var p tokensPage
		b.data(t, "", tokensQuery, map[string]any{"c": "alpha", "order": "TOKEN_ID", "first": 4}, &p)
		require.Equal(t, []string{"1", "2", "3", "4"}, p.ids(), "numeric, not text, order")
		b.data(t, "", tokensQuery, map[string]any{"c": "alpha", "order": "TOKEN_ID", "after": *p.Tokens.PageInfo.EndCursor}, &p)
		require.Equal(t, []string{"10", maxUint256}, p.ids())
		require.False(t, p.Tokens.PageInfo.HasNextPage)
	})

	t.Run("TraitFilters", func(t *testing.T) {
		t.Parallel()
		var p tokensPage
		where := map[string]any{"traits": []any{
			map[string]any{"type": "Color", "values": []string{"Red"}},
			map[string]any{"type": "Hat", "values": []string{"No"}},
		}}
		b.data(t, "", tokensQuery, map[string]any{"c": "alpha", "where": where}, &p)
		require.Equal(t, []string{"10"}, p.ids(), "every type must match")
		require.Equal(t, 1, p.Tokens.TotalCount)
		where = map[string]any{"traits": []any{map[string]any{"type": "Color", "values": []string{"Blue", "Gold"}}}}
		b.data(t, "", tokensQuery, map[string]any{"c": "alpha", "where": where}, &p)
		require.Equal(t, []string{"2", maxUint256, "3"}, p.ids(), "any listed value of a type")
		b.data(t, "", tokensQuery, map[string]any{"c": "alpha", "where": where, "order": "TOKEN_ID"}, &p)
		require.Equal(t, []string{"2", "3", maxUint256}, p.ids())
		r := b.query(t, "", tokensQuery, map[string]any{"c": "alpha", "where": map[string]any{"traits": []any{map[string]any{"type": "Color", "values": []string{}}}}})
		require.Equal(t, "BAD_USER_INPUT", r.code())

		// Names and values compare as traitDistribution shows them
		// (OpenRarity's lower().strip()), whatever case the source sent.
		var dist struct {
			Collection struct {
				TraitDistribution []struct{ Type, Value string }
			}
		}
		b.data(t, "", `{ collection(slug: "alpha") { traitDistribution { type value } } }`, nil, &dist)
		var blue []string
		for _, d := range dist.Collection.TraitDistribution {
			if d.Value == "blue" {
				blue = []string{d.Type, d.Value}
			}
		}
		require.Equal(t, []string{"color", "blue"}, blue, "the distribution lists normalised names and values")
		where = map[string]any{"traits": []any{map[string]any{"type": blue[0], "values": []string{blue[1]}}}}
		b.data(t, "", tokensQuery, map[string]any{"c": "alpha", "where": where}, &p)
		require.Equal(t, []string{"2", "3"}, p.ids(), "a value from traitDistribution filters")
		where = map[string]any{"traits": []any{
			map[string]any{"type": " COLOR ", "values": []string{"rED"}},
			map[string]any{"type": "hat", "values": []string{"no\t"}},
			map[string]any{"type": "Hat", "values": []string{"NO"}},
		}}
		b.data(t, "", tokensQuery, map[string]any{"c": "alpha", "where": where}, &p)
		require.Equal(t, []string{"10"}, p.ids(), "spellings of one type are one type")
		require.Equal(t, 1, p.Tokens.TotalCount)
	})

	t.Run("ForeignCursor", func(t *testing.T) {
		t.Parallel()
		var p tokensPage
		b.data(t, "", tokensQuery, map[string]any{"c": "other", "first": 1}, &p)
		r := b.query(t, "", tokensQuery, map[string]any{"c": "alpha", "after": p.Tokens.Edges[0].Cursor})
		require.Equal(t, "BAD_USER_INPUT", r.code(), "a cursor of another collection")
		r = b.query(t, "", tokensQuery, map[string]any{"c": "alpha", "after": "eyJrIjoidG9rZW5zIn0"})
		require.Equal(t, "BAD_USER_INPUT", r.code())
	})

	t.Run("Uint256RoundTrip", func(t *testing.T) {
		t.Parallel()
		var out struct {
			Token *struct {
				TokenID string `json:"tokenId"`
				Rarity  struct {
					Rank int `json:"rank"`
				} `json:"rarity"`
				Traits []struct{ Value string } `json:"traits"`
			} `json:"token"`
		}
		b.data(t, "", `query($id: String!) { token(collection: "alpha", tokenId: $id) { tokenId rarity { rank } traits { value } } }`,
			map[string]any{"id": "000" + maxUint256}, &out)
		require.Equal(t, maxUint256, out.Token.TokenID)
		require.Equal(t, 4, out.Token.Rarity.Rank)
		require.Equal(t, "Gold", out.Token.Traits[0].Value)
		r := b.query(t, "", `{ token(collection: "alpha", tokenId: "1157920892373161954235709850086879078532699846656405640394575840079131296399351") { tokenId } }`, nil)
		require.Equal(t, "BAD_USER_INPUT", r.code(), "over 256 bits")
		r = b.query(t, "", `{ token(collection: "alpha", tokenId: "-1") { tokenId } }`, nil)
		require.Equal(t, "BAD_USER_INPUT", r.code())
		b.data(t, "", `{ token(collection: "alpha", tokenId: "99") { tokenId } }`, nil, &out)
		require.Nil(t, out.Token)
		r = b.query(t, "", `{ token(collection: "nope", tokenId: "1") { tokenId } }`, nil)
		require.Equal(t, "NOT_FOUND", r.code())
	})
}

// TestTokensPageStatementCount proves the no-N+1 claim: a page of 50 tokens
// with traits and rarity, inside a collection with its floor and volumes,
// costs the same small number of statements as a page of 2.
func TestTokensPageStatementCount(t *testing.T) {
	t.Parallel()
	// Without the response cache: what is counted is the work of resolving.
	b := setup(t, setupOpts{opts: api.Options{CacheEntries: -1}})
	var toks []seedToken
	for i := 1; i <= 60; i++ {
		toks = append(toks, seedToken{id: bigID(int64(i)), rank: int32(i), score: 100 - float64(i),
			traits: [][2]string{{"Color", []string{"Red", "Blue", "Green"}[i%3]}, {"Hat", []string{"Yes", "No"}[i%2]}}})
	}
	b.seedCollection(t, "big", "1", "1", toks)
	const q = `query($n: Int) {
		collection(slug: "big") { slug floor { amount } volumes { window amount } metadata { name } rarity { method } }
		tokens(collection: "big", first: $n) { edges { node { tokenId name traits { type value count frequency } rarity { rank score } } } } }`
	count := func(n int) int64 {
		before := b.statements.n.Load()
		var p tokensPage
		b.data(t, "", q, map[string]any{"n": n}, &p)
		require.Len(t, p.Tokens.Edges, n)
		return b.statements.n.Load() - before
	}
	cold := count(2) // reads the rarity run's trait statistics into the cache
	two, fifty := count(2), count(50)
	t.Logf("statements: cold page of 2 = %d, page of 2 = %d, page of 50 = %d", cold, two, fifty)
	require.Equal(t, two, fifty, "statements must not grow with the page size")
	require.Equal(t, cold-1, two, "the run's trait statistics come from the cache once read")
	require.LessOrEqual(t, fifty, int64(8))
}

// TestTraitStatsFollowNewRun: the trait statistics are cached per rarity
// run, so a new run's counts and frequencies show as soon as it is stored.
func TestTraitStatsFollowNewRun(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	toks := []seedToken{
		{id: "1", rank: 1, score: 2, traits: [][2]string{{"Hat", "Red"}}},
		{id: "2", rank: 2, score: 1, traits: [][2]string{{"Hat", "Blue"}}},
	}
	id := b.seedCollection(t, "runs", "1", "1", toks)
	const q = `{ tokens(collection: "runs", first: 1) { edges { node { tokenId traits { value count frequency } } } } }`
	type page struct {
		Tokens struct {
			Edges []struct {
				Node struct {
					Traits []struct {
						Value     string
						Count     int
						Frequency float64
					}
				}
			}
		}
	}
	read := func() (int, float64) {
		var p page
		b.data(t, "", q, nil, &p)
		tr := p.Tokens.Edges[0].Node.Traits[0]
		require.Equal(t, "Red", tr.Value)
		return tr.Count, tr.Frequency
	}
	n, f := read()
	require.Equal(t, 1, n)
	require.InDelta(t, 0.5, f, 1e-9)

	// A new run (as the rarity job stores one: fresh run id, statistics
	// replaced in the same transaction) says every token is red.
	ctx := context.Background()
	require.NoError(t, db.WithTx(ctx, b.pool, func(tx pgx.Tx) error {
		q := db.New(tx)
		runID, err := q.RarityRunNextID(ctx)
		require.NoError(t, err)
		require.NoError(t, q.TraitValueStatsDeleteForMethod(ctx, db.TraitValueStatsDeleteForMethodParams{CollectionID: id, Method: "openrarity"}))
		_, err = q.TraitValueStatsInsert(ctx, []db.TraitValueStatsInsertParams{{CollectionID: id, Method: "openrarity", TraitType: "hat", Value: "red", Count: 2, Frequency: 1}})
		require.NoError(t, err)
		_, err = q.RarityRunUpsert(ctx, db.RarityRunUpsertParams{CollectionID: id, Method: "openrarity", RunID: runID, Version: "0.7.5",
			InputHash: "h2", TokenCount: 2, ExcludedTraits: []byte(`[]`), Notes: []byte(`{}`), ComputedAt: b.now, SyncRun: 2})
		return err
	}))
	n, f = read()
	require.Equal(t, 2, n)
	require.InDelta(t, 1.0, f, 1e-9)
}

func TestHealth(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	get := func(path string) (int, string) {
		resp, err := http.Get(b.url + path)
		require.NoError(t, err)
		defer resp.Body.Close()
		body := make([]byte, 512)
		n, _ := resp.Body.Read(body)
		return resp.StatusCode, string(body[:n])
	}
	code, _ := get("/healthz")
	require.Equal(t, http.StatusOK, code)
	code, _ = get("/readyz")
	require.Equal(t, http.StatusOK, code)
	_, err := b.pool.Exec(context.Background(), "DELETE FROM nftsync_migration WHERE version = 1")
	require.NoError(t, err)
	code, body := get("/readyz")
	require.Equal(t, http.StatusServiceUnavailable, code)
	require.Contains(t, body, "migrations are not current")
}
