package indexersim

import (
	"encoding/base64"
	"encoding/json"

	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// metaDoc is a metadata document as a client reads it.
type metaDoc struct {
	Name       string `json:"name"`
	Image      string `json:"image"`
	Attributes []struct {
		TraitType   string          `json:"trait_type"`
		Value       json.RawMessage `json:"value"`
		DisplayType *string         `json:"display_type"`
		MaxValue    json.RawMessage `json:"max_value"`
	} `json:"attributes"`
}

// traitsOf turns a document's attributes back into simulator Traits.
func traitsOf(t *testing.T, doc metaDoc) []Trait {
	t.Helper()
	out := make([]Trait, 0, len(doc.Attributes))
	for _, a := range doc.Attributes {
		tr := Trait{Type: a.TraitType}
		if a.DisplayType != nil {
			tr.DisplayType = *a.DisplayType
		}
		if len(a.MaxValue) > 0 {
			tr.MaxValue = strings.Trim(string(a.MaxValue), `"`)
		}
		if a.Value[0] == '"' {
			require.NoError(t, json.Unmarshal(a.Value, &tr.Value))
		} else {
			tr.Value, tr.Numeric = string(a.Value), true
		}
		out = append(out, tr)
	}
	return out
}

// metadataURLs lists the first page of a collection and returns each
// token's metadata_url by identifier.
func (b *testBundle) metadataURLs(t *testing.T, slug string) map[string]string {
	t.Helper()
	var page struct {
		NFTs []struct {
			Identifier  string `json:"identifier"`
			MetadataURL string `json:"metadata_url"`
		} `json:"nfts"`
	}
	b.getJSON(t, "/api/v2/collection/"+slug+"/nfts?limit=200", &page)
	out := map[string]string{}
	for _, n := range page.NFTs {
		out[n.Identifier] = n.MetadataURL
	}
	return out
}

// document fetches a metadata_url the simulator serves (http or ipfs via
// the gateway path) or decodes a data: URL.
func (b *testBundle) document(t *testing.T, metadataURL, gatewayPath string) (response, metaDoc) {
	t.Helper()
	var res response
	switch {
	case strings.HasPrefix(metadataURL, "data:application/json;base64,"):
		body, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(metadataURL, "data:application/json;base64,"))
		require.NoError(t, err)
		res = response{status: http.StatusOK, body: body}
	case strings.HasPrefix(metadataURL, "ipfs://"):
		res = b.get(t, gatewayPath+strings.TrimPrefix(metadataURL, "ipfs://"))
	default:
		require.True(t, strings.HasPrefix(metadataURL, b.ts.URL+"/metadata/"), metadataURL)
		res = b.get(t, strings.TrimPrefix(metadataURL, b.ts.URL))
	}
	var doc metaDoc
	if res.status == http.StatusOK && json.Valid(res.body) {
		require.NoError(t, json.Unmarshal(res.body, &doc), string(res.body))
	}
	return res, doc
}

// Every scheme serves the same traits as the single-NFT answer: one
// generator is the ground truth of both trait sources.
func TestMetadataDocumentsAreTheGroundTruth(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{Collections: 4, MinTokens: 60, MaxTokens: 60})
	schemes := map[string]string{}
	for _, slug := range b.sim.Slugs() {
		scheme := b.sim.MetadataScheme(slug)
		schemes[slug] = scheme
		for id, u := range b.metadataURLs(t, slug) {
			switch scheme {
			case MetadataHTTP:
				require.Equal(t, b.ts.URL+"/metadata/"+slug+"/"+id, u)
			case MetadataIPFS:
				require.Regexp(t, `^ipfs://bafybei[a-z2-7]{52}/`+id+`$`, u)
			case MetadataData:
				require.True(t, strings.HasPrefix(u, "data:application/json;base64,"), u)
			}
			res, doc := b.document(t, u, DefaultGatewayPath)
			require.Equal(t, http.StatusOK, res.status, string(res.body))
			want, ok := b.sim.Token(slug, id)
			require.True(t, ok)
			if want == nil {
				require.Nil(t, doc.Attributes, "%s #%s: a token whose traits are unknown has no attributes", slug, id)
				continue
			}
			require.Equal(t, want, traitsOf(t, doc), "%s #%s", slug, id)
			require.NotNil(t, doc.Attributes, "a token without traits has attributes: []")
			info, _ := b.sim.Collection(slug)
			require.Equal(t, info.Name+" #"+id, doc.Name)
			switch scheme {
			case MetadataHTTP:
				require.Equal(t, "application/json", res.header.Get("Content-Type"))
			case MetadataIPFS:
				require.Equal(t, "text/plain; charset=utf-8", res.header.Get("Content-Type"), "gateways sniff JSON as text")
			}
		}
	}
	require.Equal(t, map[string]string{"sim-collection-000": MetadataHTTP, "sim-collection-001": MetadataIPFS,
		"sim-collection-002": MetadataHTTP, "sim-collection-003": MetadataData}, schemes)

	// Requests are counted apart from the OpenSea API's.
	st := b.sim.Stats()
	require.NotNil(t, st.Metadata)
	require.Equal(t, int64(120), st.Metadata.ByEndpoint[EndpointMetadata])
	require.Equal(t, int64(60), st.Metadata.ByEndpoint[EndpointGateway])
	require.Equal(t, int64(180), st.Metadata.ByStatus[http.StatusOK])
	require.Equal(t, int64(4), st.Requests, "only the four list pages are API requests")
}

func TestMetadataFollowsTouch(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{Collections: 2, MinTokens: 20, MaxTokens: 20})
	for _, slug := range []string{"sim-collection-000", "sim-collection-001"} {
		u := b.metadataURLs(t, slug)["5"]
		_, before := b.document(t, u, DefaultGatewayPath)
		require.NoError(t, b.sim.Touch(slug, "5"))
		_, after := b.document(t, u, DefaultGatewayPath)
		want, _ := b.sim.Token(slug, "5")
		require.Equal(t, want, traitsOf(t, after))
		require.NotEqual(t, traitsOf(t, before), traitsOf(t, after))
	}
}

func TestMetadataGatewayPathAndUnknownPaths(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{Collections: 2, MinTokens: 10, MaxTokens: 10, Metadata: MetadataConfig{GatewayPath: "/gw/ipfs/"}})
	u := b.metadataURLs(t, "sim-collection-001")["3"]
	res, doc := b.document(t, u, "/gw/ipfs/")
	require.Equal(t, http.StatusOK, res.status)
	require.NotEmpty(t, doc.Name)
	require.Equal(t, http.StatusNotFound, b.get(t, "/ipfs/"+strings.TrimPrefix(u, "ipfs://")).status, "the default path is not served")

	cid := strings.TrimSuffix(strings.TrimPrefix(u, "ipfs://"), "/3")
	for path, want := range map[string]string{
		"/gw/ipfs/" + cid + "/11":         "no link named",
		"/gw/ipfs/" + cid + "/0":          "no link named",
		"/gw/ipfs/bafybeiunknown/1":       "no link named",
		"/metadata/sim-collection-000/11": "token not found",
		"/metadata/sim-collection-000/01": "token not found",
		"/metadata/no-such-collection/1":  "token not found",
	} {
		res := b.get(t, path)
		require.Equal(t, http.StatusNotFound, res.status, path)
		require.Contains(t, string(res.body), want, path)
	}
}

func TestMetadataFaults(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		cfg   MetadataConfig
		fault string
		check func(t *testing.T, res response)
	}{
		{MetadataConfig{NotFoundRate: 1}, FaultMetadataNotFound, func(t *testing.T, res response) {
			require.Equal(t, http.StatusNotFound, res.status)
		}},
		{MetadataConfig{OversizeRate: 1}, FaultMetadataOversize, func(t *testing.T, res response) {
			require.Equal(t, http.StatusOK, res.status)
			require.Len(t, res.body, 2<<10)
			require.True(t, json.Valid(res.body), "oversize bodies are valid JSON, only too big")
		}},
		{MetadataConfig{NotJSONRate: 1}, FaultMetadataNotJSON, func(t *testing.T, res response) {
			require.Equal(t, http.StatusOK, res.status)
			require.False(t, json.Valid(res.body), string(res.body))
		}},
		{MetadataConfig{SlowRate: 1, SlowDelay: 50 * time.Millisecond}, FaultMetadataSlow, func(t *testing.T, res response) {
			require.Equal(t, http.StatusOK, res.status)
			require.True(t, json.Valid(res.body))
		}},
	} {
		t.Run(tc.fault, func(t *testing.T) {
			t.Parallel()
			b := setup(t, Config{Collections: 2, MinTokens: 10, MaxTokens: 10, OversizeBytes: 2 << 10, Metadata: tc.cfg})
			for _, slug := range b.sim.Slugs() {
				for id, u := range b.metadataURLs(t, slug) {
					fault, ok := b.sim.MetadataFault(slug, id)
					require.True(t, ok)
					require.Equal(t, tc.fault, fault)
					start := time.Now()
					res, _ := b.document(t, u, DefaultGatewayPath)
					tc.check(t, res)
					if tc.fault == FaultMetadataSlow {
						require.GreaterOrEqual(t, time.Since(start), 50*time.Millisecond)
					}
				}
			}
			require.Equal(t, int64(20), b.sim.Stats().Metadata.Faults[tc.fault])
		})
	}

	// Rates pick tokens deterministically, and data: URLs have no faults.
	b := setup(t, Config{Collections: 4, MinTokens: 1000, MaxTokens: 1000, Metadata: MetadataConfig{NotFoundRate: 0.1, NotJSONRate: 0.05}})
	counts := map[string]int{}
	for i := 1; i <= 1000; i++ {
		f, _ := b.sim.MetadataFault("sim-collection-000", strconv.Itoa(i))
		counts[f]++
		again, _ := b.sim.MetadataFault("sim-collection-000", strconv.Itoa(i))
		require.Equal(t, f, again)
		d, _ := b.sim.MetadataFault("sim-collection-003", strconv.Itoa(i))
		require.Empty(t, d)
	}
	require.InDelta(t, 100, counts[FaultMetadataNotFound], 40)
	require.InDelta(t, 50, counts[FaultMetadataNotJSON], 30)
	_, ok := b.sim.MetadataFault("sim-collection-000", "1001")
	require.False(t, ok)
}

func TestMetadataRateLimit(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{Collections: 1, MinTokens: 10, MaxTokens: 10, Rate: 1000, Metadata: MetadataConfig{Rate: 1, Burst: 2}})
	for i, want := range []int{http.StatusOK, http.StatusOK, http.StatusTooManyRequests} {
		res := b.get(t, "/metadata/sim-collection-000/"+strconv.Itoa(i+1))
		require.Equal(t, want, res.status)
		if want == http.StatusTooManyRequests {
			require.Equal(t, "1", res.header.Get("Retry-After"))
		}
	}
	b.clock.Advance(time.Second)
	require.Equal(t, http.StatusOK, b.get(t, "/metadata/sim-collection-000/4").status)
	st := b.sim.Stats()
	require.Equal(t, int64(1), st.Metadata.RateLimited)
	require.Equal(t, int64(4), st.Metadata.Requests)
	require.Zero(t, st.RateLimited, "the API's own budget is untouched")
}

func TestMetadataConfigValidate(t *testing.T) {
	t.Parallel()
	for _, m := range []MetadataConfig{
		{GatewayPath: "ipfs"},
		{GatewayPath: "/api/ipfs/"},
		{GatewayPath: "/ipfs"},
		{Rate: -1},
		{NotFoundRate: 0.7, SlowRate: 0.5},
		{OversizeRate: 2},
		{SlowDelay: -time.Second},
	} {
		_, err := New(Config{Metadata: m}, nil)
		require.Error(t, err, "%+v", m)
	}
	_, err := New(Config{Collections: 1, MinTokens: 1, MaxTokens: 1, Metadata: MetadataConfig{GatewayPath: "/x/ipfs/", NotFoundRate: 0.5, SlowRate: 0.5}}, nil)
	require.NoError(t, err)
}
