package indexersim

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The live list endpoint sends no traits key at all (opensea-sdk issue
// #1889); the old behaviour is an option.
func TestListWithoutTraits(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{Collections: 1, MinTokens: 300, MaxTokens: 300})
	var page struct {
		NFTs []map[string]json.RawMessage `json:"nfts"`
	}
	b.getJSON(t, "/api/v2/collection/sim-collection-000/nfts?limit=200", &page)
	require.Len(t, page.NFTs, 200)
	for _, nft := range page.NFTs {
		require.NotContains(t, nft, "traits")
		require.Contains(t, nft, "metadata_url")
		require.Contains(t, nft, "updated_at")
	}

	old := setup(t, Config{Collections: 1, MinTokens: 300, MaxTokens: 300, ListTraits: true})
	old.getJSON(t, "/api/v2/collection/sim-collection-000/nfts?limit=200", &page)
	for _, nft := range page.NFTs {
		require.Contains(t, nft, "traits")
	}
}

func TestSingleNFT(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{Collections: 2, MinTokens: 50, MaxTokens: 50})
	info, _ := b.sim.Collection("sim-collection-001")
	base := "/api/v2/chain/ethereum/contract/" + info.Contract + "/nfts/"

	for id := info.FirstTokenID; id < info.FirstTokenID+info.TokenCount; id++ {
		var doc struct {
			NFT struct {
				Identifier  string          `json:"identifier"`
				Collection  string          `json:"collection"`
				Contract    string          `json:"contract"`
				MetadataURL string          `json:"metadata_url"`
				UpdatedAt   string          `json:"updated_at"`
				Traits      []apiTrait      `json:"traits"`
				Owners      []wireOwner     `json:"owners"`
				Rarity      json.RawMessage `json:"rarity"`
			} `json:"nft"`
		}
		b.getJSON(t, base+strconv.Itoa(id), &doc)
		require.Equal(t, strconv.Itoa(id), doc.NFT.Identifier)
		require.Equal(t, "sim-collection-001", doc.NFT.Collection)
		require.Equal(t, info.Contract, doc.NFT.Contract)
		require.NotEmpty(t, doc.NFT.MetadataURL)
		require.NotEmpty(t, doc.NFT.UpdatedAt)
		require.Len(t, doc.NFT.Owners, 1)
		require.Equal(t, int64(1), doc.NFT.Owners[0].Quantity)
		require.JSONEq(t, "null", string(doc.NFT.Rarity))
		want, _ := b.sim.Token("sim-collection-001", strconv.Itoa(id))
		if want == nil {
			require.Nil(t, doc.NFT.Traits, "traits null: the API does not know them")
			continue
		}
		require.NotNil(t, doc.NFT.Traits, "traits is always a list here, [] for none, null when unknown")
		require.Len(t, doc.NFT.Traits, len(want))
		for k, tr := range doc.NFT.Traits {
			require.Equal(t, want[k].Type, tr.TraitType)
			if want[k].Numeric {
				require.Equal(t, want[k].Value, string(tr.Value))
			} else {
				require.Equal(t, strconv.Quote(want[k].Value), string(tr.Value))
			}
		}
	}

	// Upper-case address and chain are the same contract.
	res := b.get(t, "/api/v2/chain/ethereum/contract/"+"0X"+info.Contract[2:]+"/nfts/1")
	require.Equal(t, http.StatusOK, res.status)

	for _, path := range []string{
		base + "0", base + strconv.Itoa(info.TokenCount+1), base + "01", base + "abc",
		"/api/v2/chain/ethereum/contract/0x0000000000000000000000000000000000000001/nfts/1",
		"/api/v2/chain/base/contract/" + info.Contract + "/nfts/1",
	} {
		res := b.get(t, path)
		require.Equal(t, http.StatusNotFound, res.status, path)
		require.Contains(t, string(res.body), `"errors"`, path)
	}
	require.Equal(t, int64(info.TokenCount+7), b.sim.Stats().ByEndpoint[EndpointNFT])
}

func TestTraitsEndpoint(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{Collections: 1, MinTokens: 400, MaxTokens: 400})
	slug := "sim-collection-000"
	info, _ := b.sim.Collection(slug)

	var doc struct {
		Categories map[string]string                     `json:"categories"`
		Counts     map[string]map[string]json.RawMessage `json:"counts"`
	}
	b.getJSON(t, "/api/v2/traits/"+slug, &doc)

	// Ground truth from the generator.
	want := map[string]map[string]int64{}
	lo, hi := map[string]int64{}, map[string]int64{}
	for i := range info.TokenCount {
		traits, _ := b.sim.Token(slug, strconv.Itoa(info.FirstTokenID+i))
		for _, tr := range traits {
			if tr.Numeric {
				v, _ := strconv.ParseInt(tr.Value, 10, 64)
				if _, ok := lo[tr.Type]; !ok {
					lo[tr.Type], hi[tr.Type] = v, v
				}
				lo[tr.Type], hi[tr.Type] = min(lo[tr.Type], v), max(hi[tr.Type], v)
				continue
			}
			if want[tr.Type] == nil {
				want[tr.Type] = map[string]int64{}
			}
			want[tr.Type][tr.Value]++
		}
	}
	require.NotEmpty(t, lo, "collection 0 has numeric traits")
	require.Len(t, doc.Categories, len(want)+len(lo))
	for name, values := range want {
		require.Equal(t, "string", doc.Categories[name])
		require.Len(t, doc.Counts[name], len(values))
		for v, n := range values {
			require.Equal(t, strconv.FormatInt(n, 10), string(doc.Counts[name][v]), "%s=%s", name, v)
		}
	}
	for name := range lo {
		require.Contains(t, []string{"number", "date"}, doc.Categories[name])
		require.Equal(t, strconv.FormatInt(lo[name], 10), string(doc.Counts[name]["min"]))
		require.Equal(t, strconv.FormatInt(hi[name], 10), string(doc.Counts[name]["max"]))
	}
	require.Equal(t, http.StatusNotFound, b.get(t, "/api/v2/traits/unknown").status)
	require.Equal(t, int64(2), b.sim.Stats().ByEndpoint[EndpointTraits])
}

func TestTouch(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{Collections: 1, MinTokens: 100, MaxTokens: 100, ListTraits: true})
	slug := "sim-collection-000"
	info, _ := b.sim.Collection(slug)
	nftPath := "/api/v2/chain/ethereum/contract/" + info.Contract + "/nfts/"
	type nft struct {
		UpdatedAt string     `json:"updated_at"`
		Traits    []apiTrait `json:"traits"`
	}
	get := func(id string) nft {
		var doc struct {
			NFT nft `json:"nft"`
		}
		b.getJSON(t, nftPath+id, &doc)
		return doc.NFT
	}
	before := map[string]nft{}
	for _, id := range []string{"3", "4", "50"} {
		before[id] = get(id)
	}
	b.clock.Advance(time.Hour)
	require.NoError(t, b.sim.Touch(slug, "3", "50"))
	body, _ := json.Marshal(wireTouch{Slug: slug, Identifiers: []string{"4"}})
	res, err := b.ts.Client().Post(b.ts.URL+"/_sim/touch", "application/json", bytes.NewReader(body))
	require.NoError(t, err)
	res.Body.Close()
	require.Equal(t, http.StatusOK, res.StatusCode)

	for id, old := range before {
		now := get(id)
		require.NotEqual(t, old.UpdatedAt, now.UpdatedAt, id)
		require.Equal(t, b.clock.Now().UTC().Format(timeLayout), now.UpdatedAt, id)
		require.NotEqual(t, old.Traits, now.Traits, "touched token %s has new traits", id)
		truth, _ := b.sim.Token(slug, id)
		require.Len(t, now.Traits, len(truth))
	}
	// The list follows too.
	var page apiPage
	b.getJSON(t, "/api/v2/collection/"+slug+"/nfts?limit=5", &page)
	require.Equal(t, "3", page.NFTs[2].Identifier)
	truth, _ := b.sim.Token(slug, "3")
	require.Len(t, page.NFTs[2].Traits, len(truth))

	require.Error(t, b.sim.Touch(slug, "1000"))
	require.Error(t, b.sim.Touch("nope", "1"))
	res, err = b.ts.Client().Post(b.ts.URL+"/_sim/touch", "application/json", bytes.NewReader([]byte(`{"slug":"x","identifiers":["1"]}`)))
	require.NoError(t, err)
	res.Body.Close()
	require.Equal(t, http.StatusBadRequest, res.StatusCode)
}
