package tokenuri_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"

	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nftsync/nftsync/internal/indexer"
	"github.com/nftsync/nftsync/internal/indexer/tokenuri"
	"github.com/nftsync/nftsync/internal/indexersim"
)

// simulator serves cfg over HTTP on loopback.
func simulator(t *testing.T, cfg indexersim.Config) (*indexersim.Server, string) {
	t.Helper()
	sim, err := indexersim.New(cfg, nil)
	require.NoError(t, err)
	ts := httptest.NewServer(sim.Handler())
	t.Cleanup(func() {
		sim.Close()
		ts.Close()
	})
	return sim, ts.URL
}

// listed returns the first page of a collection's tokens as the list
// endpoint sends them: identifier and metadata_url.
func listed(t *testing.T, base, slug string) []indexer.TokenRef {
	t.Helper()
	res, err := http.Get(base + "/api/v2/collection/" + slug + "/nfts?limit=200")
	require.NoError(t, err)
	defer res.Body.Close()
	require.Equal(t, http.StatusOK, res.StatusCode)
	var page struct {
		NFTs []struct {
			Identifier  string `json:"identifier"`
			Contract    string `json:"contract"`
			MetadataURL string `json:"metadata_url"`
		} `json:"nfts"`
	}
	require.NoError(t, json.NewDecoder(res.Body).Decode(&page))
	out := make([]indexer.TokenRef, 0, len(page.NFTs))
	for _, n := range page.NFTs {
		out = append(out, indexer.TokenRef{Chain: "ethereum", Contract: n.Contract, TokenID: n.Identifier, MetadataURL: n.MetadataURL})
	}
	return out
}

// simRows is the simulator's ground truth for a token as trait rows.
func simRows(t *testing.T, sim *indexersim.Server, slug, id string) []traitRow {
	t.Helper()
	traits, ok := sim.Token(slug, id)
	require.True(t, ok)
	out := make([]traitRow, 0, len(traits))
	for _, tr := range traits {
		r := traitRow{Type: tr.Type, Text: tr.Value, Kind: indexer.ValueString, Display: tr.DisplayType, Max: tr.MaxValue}
		if tr.Numeric {
			r.Kind, r.Numeric = indexer.ValueNumber, tr.Value
		}
		out = append(out, r)
	}
	return out
}

// Every scheme the simulator uses (http, ipfs via its gateway path, data:)
// yields the simulator's ground truth.
func TestSimulatorDocuments(t *testing.T) {
	t.Parallel()
	sim, base := simulator(t, indexersim.Config{Collections: 4, MinTokens: 40, MaxTokens: 40})
	src := setup(t, tokenuri.Options{AllowHTTP: true, IPFSGateways: []string{base + "/ipfs/"}})
	schemes := map[string]int{}
	for _, slug := range sim.Slugs() {
		schemes[sim.MetadataScheme(slug)]++
		for _, ref := range listed(t, base, slug) {
			md, err := src.TokenTraits(t.Context(), ref)
			require.NoError(t, err, "%s #%s %s", slug, ref.TokenID, ref.MetadataURL)
			if truth, _ := sim.Token(slug, ref.TokenID); truth == nil {
				require.Nil(t, md.Traits, "%s #%s: a document without attributes says nothing about traits", slug, ref.TokenID)
				continue
			}
			require.NotNil(t, md.Traits)
			require.Equal(t, simRows(t, sim, slug, ref.TokenID), rows(md.Traits), "%s #%s", slug, ref.TokenID)
		}
	}
	require.Equal(t, map[string]int{indexersim.MetadataHTTP: 2, indexersim.MetadataIPFS: 1, indexersim.MetadataData: 1}, schemes)
	st := sim.Stats().Metadata
	require.Equal(t, int64(80), st.ByEndpoint[indexersim.EndpointMetadata])
	require.Equal(t, int64(40), st.ByEndpoint[indexersim.EndpointGateway])
}

// The simulator's faults come out with the classes a job needs: 404 is
// permanent, slow is transient, oversize and not JSON are malformed.
func TestSimulatorFaults(t *testing.T) {
	t.Parallel()
	sim, base := simulator(t, indexersim.Config{Collections: 2, MinTokens: 120, MaxTokens: 120, OversizeBytes: 64 << 10,
		Metadata: indexersim.MetadataConfig{NotFoundRate: 0.1, SlowRate: 0.03, OversizeRate: 0.05, NotJSONRate: 0.1, SlowDelay: 10 * time.Second}})
	src := setup(t, tokenuri.Options{AllowHTTP: true, IPFSGateways: []string{base + "/ipfs/"},
		MaxBodyBytes: 32 << 10, Timeout: 500 * time.Millisecond})
	want := map[string]indexer.Class{
		indexersim.FaultMetadataNotFound: indexer.ClassPermanent,
		indexersim.FaultMetadataSlow:     indexer.ClassTransient,
		indexersim.FaultMetadataOversize: indexer.ClassMalformed,
		indexersim.FaultMetadataNotJSON:  indexer.ClassMalformed,
	}
	seen := map[string]int{}
	for _, slug := range sim.Slugs() {
		for _, ref := range listed(t, base, slug) {
			fault, ok := sim.MetadataFault(slug, ref.TokenID)
			require.True(t, ok)
			seen[fault]++
			md, err := src.TokenTraits(t.Context(), ref)
			if fault == "" {
				require.NoError(t, err)
				require.Equal(t, simRows(t, sim, slug, ref.TokenID), rows(md.Traits))
				continue
			}
			require.Error(t, err, "%s #%s has fault %s", slug, ref.TokenID, fault)
			require.Equal(t, want[fault], indexer.ClassOf(err), "%s #%s %s: %v", slug, ref.TokenID, fault, err)
		}
	}
	for fault := range want {
		require.Positive(t, seen[fault], "no token with %s among %v", fault, seen)
	}
}

// Falling back from a failing gateway to the simulator's.
func TestSimulatorGatewayFallback(t *testing.T) {
	t.Parallel()
	sim, base := simulator(t, indexersim.Config{Collections: 2, MinTokens: 5, MaxTokens: 5})
	down := newServer(t, func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusBadGateway) })
	src := setup(t, tokenuri.Options{IPFSGateways: []string{down.URL + "/ipfs/", base + "/ipfs/"}})
	for _, ref := range listed(t, base, "sim-collection-001") {
		md, err := src.TokenTraits(t.Context(), ref)
		require.NoError(t, err)
		require.Equal(t, simRows(t, sim, "sim-collection-001", ref.TokenID), rows(md.Traits))
	}
	require.Equal(t, 5, down.total())
	require.Equal(t, int64(5), sim.Stats().Metadata.ByEndpoint[indexersim.EndpointGateway])

}
