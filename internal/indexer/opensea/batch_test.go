package opensea

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/nftsync/nftsync/internal/indexer"
	"github.com/nftsync/nftsync/internal/indexersim"
)

func TestTokenTraitsBatch(t *testing.T) {
	t.Parallel()
	const contract = "0xbc4ca0eda7647a8ab7c2061c2e118a18a936f13d"
	refs := func(ids ...string) []indexer.TokenRef {
		out := make([]indexer.TokenRef, len(ids))
		for i, id := range ids {
			out[i] = indexer.TokenRef{Contract: contract, TokenID: id}
		}
		return out
	}

	t.Run("OneEntryPerRefLeftOutTokensNil", func(t *testing.T) {
		t.Parallel()
		var (
			mu   sync.Mutex
			sent []byte
			meth string
		)
		body := fixture(t, "nfts_batch.json")
		srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
			b, _ := io.ReadAll(r.Body)
			mu.Lock()
			sent, meth = b, r.Method+" "+r.URL.Path
			mu.Unlock()
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write(body)
		})
		var skips []Skip
		c := newTestClient(t, srv.URL, Options{ObserveSkip: func(s Skip) { mu.Lock(); skips = append(skips, s); mu.Unlock() }})
		got, err := c.TokenTraitsBatch(t.Context(), refs("1", "2", "3", "4"))
		require.NoError(t, err)
		require.Equal(t, "POST /api/v2/nfts/batch", meth)
		require.JSONEq(t, `{"identifiers":[
			{"chain":"ethereum","contract_address":"`+contract+`","token_id":"1"},
			{"chain":"ethereum","contract_address":"`+contract+`","token_id":"2"},
			{"chain":"ethereum","contract_address":"`+contract+`","token_id":"3"},
			{"chain":"ethereum","contract_address":"`+contract+`","token_id":"4"}]}`, string(sent))
		require.Len(t, got, 4)
		require.NotNil(t, got[0])
		require.Len(t, got[0].Traits, 2, "checksummed contract in the answer still matches")
		require.Equal(t, "Brown", got[0].Traits[0].ValueText)
		require.NotNil(t, got[1], "token 2 was answered")
		require.Nil(t, got[1].Traits, "traits null: unknown")
		require.Nil(t, got[2], "not found: left out")
		require.Nil(t, got[3], "an unusable entry leaves its token out")
		require.Len(t, skips, 1)
		require.Equal(t, "4", skips[0].TokenID)
	})

	t.Run("TooLargeIsRecognised", func(t *testing.T) {
		t.Parallel()
		for _, tc := range []struct {
			status  int
			fixture string
			large   bool
		}{
			{http.StatusBadRequest, "nfts_batch_too_large.json", true},
			{http.StatusRequestEntityTooLarge, "", true},
			{http.StatusBadRequest, "error_400.json", false},
		} {
			srv := newServer(t, serveFixture(t, tc.status, tc.fixture, nil))
			_, err := newTestClient(t, srv.URL, Options{}).TokenTraitsBatch(t.Context(), refs("1", "2"))
			requireClass(t, err, indexer.ClassPermanent)
			require.Equal(t, tc.large, errors.Is(err, indexer.ErrBatchTooLarge), "%d %s: %v", tc.status, tc.fixture, err)
		}
	})

	t.Run("AgainstTheSimulator", func(t *testing.T) {
		t.Parallel()
		sim, err := indexersim.New(indexersim.Config{Seed: 1, Collections: 1, MinTokens: 300, MaxTokens: 300, MaxBatchNFTs: 3}, nil)
		require.NoError(t, err)
		srv := httptest.NewServer(sim.Handler())
		t.Cleanup(srv.Close)
		info, _ := sim.Collection(sim.Slugs()[0])
		c := newTestClient(t, srv.URL, Options{})
		ref := func(id string) indexer.TokenRef {
			return indexer.TokenRef{Chain: "ethereum", Contract: info.Contract, TokenID: id}
		}
		got, err := c.TokenTraitsBatch(t.Context(), []indexer.TokenRef{ref("1"), ref("46"), ref("9999")})
		require.NoError(t, err)
		want, _ := sim.Token(info.Slug, "1")
		require.Len(t, got[0].Traits, len(want))
		require.NotNil(t, got[1])
		require.Nil(t, got[1].Traits, "the simulator does not know token 46's traits: null")
		require.Nil(t, got[2], "no token 9999: omitted")
		_, err = c.TokenTraitsBatch(t.Context(), []indexer.TokenRef{ref("1"), ref("2"), ref("3"), ref("4")})
		require.ErrorIs(t, err, indexer.ErrBatchTooLarge)
		require.Contains(t, err.Error(), "at most 3")

		// The simulator's answer to a bad body says what is wrong.
		resp, err := http.Post(srv.URL+"/api/v2/nfts/batch", "application/json", nil)
		require.NoError(t, err)
		defer resp.Body.Close()
		require.Equal(t, http.StatusBadRequest, resp.StatusCode)
		var e struct{ Errors []string }
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&e))
		require.NotEmpty(t, e.Errors)
	})
}
