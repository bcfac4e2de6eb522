package subgraph_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nftsync/nftsync/internal/indexer"
	"github.com/nftsync/nftsync/internal/indexer/indexertest"
	"github.com/nftsync/nftsync/internal/indexer/subgraph"
)

const addr = "0xabcabcabcabcabcabcabcabcabcabcabcabcabca"

// head is the fixtures' head block time: day 20454, half elapsed.
var head = time.Unix(1767268800, 0).UTC()

// answer is one recorded response.
type answer struct {
	status int
	file   string
	header map[string]string
}

// gqlRequest is what the test server saw.
type gqlRequest struct {
	Query     string         `json:"query"`
	Variables map[string]any `json:"variables"`
	Auth      string         `json:"-"`
}

// setup serves the answers in order (the last one repeats) and records the
// requests.
func setup(t *testing.T, opts subgraph.Options, answers ...answer) (*subgraph.Client, func() []gqlRequest) {
	t.Helper()
	var mu sync.Mutex
	var seen []gqlRequest
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req gqlRequest
		body, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(body, &req); err != nil {
			t.Errorf("request body is not JSON: %v", err)
		}
		req.Auth = r.Header.Get("Authorization")
		mu.Lock()
		a := answers[min(len(seen), len(answers)-1)]
		seen = append(seen, req)
		mu.Unlock()
		b, err := os.ReadFile(filepath.Join("testdata", a.file))
		if err != nil {
			t.Errorf("fixture: %v", err)
		}
		for k, v := range a.header {
			w.Header().Set(k, v)
		}
		w.WriteHeader(a.status)
		_, _ = w.Write(b)
	}))
	t.Cleanup(srv.Close)
	if opts.Now == nil {
		opts.Now = func() time.Time { return head.Add(5 * time.Second) }
	}
	c, err := subgraph.NewClient("seaport", srv.URL+"/subgraphs/name/messari/seaport", nil, opts)
	require.NoError(t, err)
	return c, func() []gqlRequest {
		mu.Lock()
		defer mu.Unlock()
		return append([]gqlRequest(nil), seen...)
	}
}

func volumes(st *indexer.Stats) map[indexer.Window]indexer.Volume {
	out := map[indexer.Window]indexer.Volume{}
	for _, v := range st.Volumes {
		out[v.Window] = v
	}
	return out
}

// The windows of stats_ok.json, worked by hand: day 20454 is half over, so
// the day before a window counts half.
func wantWindows(t *testing.T, st *indexer.Stats) {
	t.Helper()
	v := volumes(st)
	require.Len(t, v, 4)
	require.Equal(t, "9.250000000000000001", v[indexer.Window1d].Amount.Amount) // 3.25 + 12.000000000000000001/2
	require.EqualValues(t, 6, v[indexer.Window1d].Sales)                        // 2 + 8/2
	require.Equal(t, "3.25", v[indexer.Window1d].Low)
	require.Equal(t, "15.250000000000000001", v[indexer.Window1d].High)
	require.Equal(t, "20.750000000000000001", v[indexer.Window7d].Amount.Amount)
	require.EqualValues(t, 14, v[indexer.Window7d].Sales)
	require.Equal(t, "35.750000000000000001", v[indexer.Window30d].Amount.Amount) // + 30/2 from day 20424
	require.EqualValues(t, 19, v[indexer.Window30d].Sales)                        // + 10/2
	require.Equal(t, "15234.567890123456789012", v[indexer.WindowAll].Amount.Amount)
	require.EqualValues(t, 48210, v[indexer.WindowAll].Sales)
	for _, w := range v {
		require.Equal(t, "ETH", w.Amount.Currency)
		require.EqualValues(t, 18, w.Amount.Decimals)
	}
	require.Nil(t, st.Floor)
	require.Equal(t, head, st.SourceAsOf)
	require.Equal(t, head.Add(5*time.Second), st.FetchedAt)
}

func TestStatsSuccess(t *testing.T) {
	t.Parallel()
	c, seen := setup(t, subgraph.Options{APIKey: "0123456789abcdef0123456789abcdef"}, answer{status: 200, file: "stats_ok.json"})
	st, err := c.Stats(context.Background(), addr)
	require.NoError(t, err)
	wantWindows(t, st)
	reqs := seen()
	require.Len(t, reqs, 1)
	require.Equal(t, "Bearer 0123456789abcdef0123456789abcdef", reqs[0].Auth)
	q := reqs[0].Query
	for _, want := range []string{"_meta{block{number,timestamp}", "collection(id: $id)", "cumulativeTradeVolumeETH",
		"collectionDailySnapshots(first: $first, orderBy: id, orderDirection: asc, where: {collection: $collection, timestamp_gte: $since, id_gt: $last})",
		"dailyTradeVolumeETH", "dailyTradedItemCount", "$first:Int!", "$since:BigInt!", "$last:ID!", "$collection:String!"} {
		require.Contains(t, q, want)
	}
	require.NotContains(t, q, "skip")
	require.EqualValues(t, 1000, reqs[0].Variables["first"])
	require.Equal(t, addr, reqs[0].Variables["collection"])
	require.Equal(t, "subgraph:seaport", c.Source())
}

func TestStatsPagesWithIDGtPinnedToBlock(t *testing.T) {
	t.Parallel()
	c, seen := setup(t, subgraph.Options{PageSize: 2},
		answer{status: 200, file: "page1.json"}, answer{status: 200, file: "page2.json"}, answer{status: 200, file: "page3.json"})
	st, err := c.Stats(context.Background(), addr)
	require.NoError(t, err)
	wantWindows(t, st)
	reqs := seen()
	require.Len(t, reqs, 3)
	require.Equal(t, "", reqs[0].Variables["last"])
	require.Equal(t, addr+"-20424", reqs[1].Variables["last"])
	require.Equal(t, addr+"-20453", reqs[2].Variables["last"])
	for _, r := range reqs[1:] {
		require.Contains(t, r.Query, "block: {number: $block}")
		require.EqualValues(t, 21500000, r.Variables["block"])
		require.NotContains(t, r.Query, "_meta")
	}
	require.Empty(t, reqs[0].Auth, "no key configured, none sent")
}

func TestStatsFailures(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		a      answer
		class  indexer.Class
		status int
		check  func(t *testing.T, e *indexer.Error)
	}{
		{name: "errors with partial data", a: answer{status: 200, file: "errors_partial.json"}, class: indexer.ClassPermanent},
		{name: "subgraph not found", a: answer{status: 200, file: "errors_not_found.json"}, class: indexer.ClassPermanent},
		{name: "auth error in 200", a: answer{status: 200, file: "errors_auth.json"}, class: indexer.ClassPermanent},
		{name: "not indexed yet", a: answer{status: 200, file: "errors_behind.json"}, class: indexer.ClassTransient},
		{name: "429 with Retry-After", a: answer{status: 429, file: "throttled_429.json", header: map[string]string{"Retry-After": "7"}},
			class: indexer.ClassRateLimited, status: 429, check: func(t *testing.T, e *indexer.Error) {
				t.Helper()
				require.Equal(t, 7*time.Second, e.RetryAfter)
			}},
		{name: "429 with HTTP date", a: answer{status: 429, file: "throttled_429.json", header: map[string]string{"Retry-After": head.Add(65 * time.Second).Format(http.TimeFormat)}},
			class: indexer.ClassRateLimited, status: 429, check: func(t *testing.T, e *indexer.Error) {
				t.Helper()
				require.Equal(t, time.Minute, e.RetryAfter) // relative to the client clock (head + 5 s)
			}},
		{name: "502", a: answer{status: 502, file: "error_502.html"}, class: indexer.ClassTransient, status: 502},
		{name: "401", a: answer{status: 401, file: "errors_auth.json"}, class: indexer.ClassPermanent, status: 401},
		{name: "number for BigDecimal", a: answer{status: 200, file: "malformed_number_volume.json"}, class: indexer.ClassMalformed},
		{name: "negative volume", a: answer{status: 200, file: "malformed_negative.json"}, class: indexer.ClassMalformed},
		{name: "truncated", a: answer{status: 200, file: "malformed_truncated.json"}, class: indexer.ClassMalformed},
		{name: "unknown collection", a: answer{status: 200, file: "unknown_collection.json"}, class: indexer.ClassPermanent, status: 404,
			check: func(t *testing.T, e *indexer.Error) {
				t.Helper()
				require.ErrorIs(t, e, indexer.ErrUnknownCollection)
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, _ := setup(t, subgraph.Options{APIKey: "0123456789abcdef0123456789abcdef"}, tc.a)
			st, err := c.Stats(context.Background(), addr)
			require.Nil(t, st, "nothing half-used")
			e := indexertest.RequireClass(t, err, tc.class)
			require.Equal(t, tc.status, e.Status)
			require.NotContains(t, err.Error(), "0123456789abcdef0123456789abcdef", "the key never appears in errors")
			if tc.check != nil {
				tc.check(t, e)
			}
		})
	}
}

func TestOversizeBodyIsMalformed(t *testing.T) {
	t.Parallel()
	c, _ := setup(t, subgraph.Options{MaxBodyBytes: 1024}, answer{status: 200, file: "stats_ok.json"})
	_, err := c.Stats(context.Background(), addr)
	indexertest.RequireClass(t, err, indexer.ClassMalformed)
}

func TestConnectionRefusedIsTransient(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	c, err := subgraph.NewClient("seaport", url, nil, subgraph.Options{})
	require.NoError(t, err)
	_, err = c.Stats(context.Background(), addr)
	indexertest.RequireClass(t, err, indexer.ClassTransient)
}

func TestCollection(t *testing.T) {
	t.Parallel()
	c, seen := setup(t, subgraph.Options{Chain: "ethereum"}, answer{status: 200, file: "collection_ok.json"})
	col, err := c.Collection(context.Background(), addr)
	require.NoError(t, err)
	require.Equal(t, "Example Apes", col.Name)
	require.EqualValues(t, 10000, col.TotalSupply)
	require.Equal(t, []indexer.Contract{{Chain: "ethereum", Address: addr}}, col.Contracts)
	require.Equal(t, head, col.SourceAsOf)
	require.Contains(t, string(col.Raw), `"RoyaltyFee":"2.5"`)
	require.NotContains(t, seen()[0].Query, "collectionDailySnapshots")

	c, _ = setup(t, subgraph.Options{}, answer{status: 200, file: "unknown_collection.json"})
	_, err = c.Collection(context.Background(), addr)
	e := indexertest.RequireClass(t, err, indexer.ClassPermanent)
	require.Equal(t, http.StatusNotFound, e.Status)
}

func TestNotSupportedAndBadAddress(t *testing.T) {
	t.Parallel()
	c, seen := setup(t, subgraph.Options{}, answer{status: 200, file: "stats_ok.json"})
	_, err := c.Tokens(context.Background(), addr, "")
	indexertest.RequireClass(t, err, indexer.ClassPermanent)
	require.ErrorIs(t, err, indexer.ErrNotSupported)
	require.False(t, indexer.Supports(c, indexer.DataFloorPrice))
	require.False(t, indexer.Supports(c, indexer.DataTokens))
	require.True(t, indexer.Supports(c, indexer.DataVolume))
	_, err = c.Stats(context.Background(), "sim-collection-001")
	indexertest.RequireClass(t, err, indexer.ClassPermanent)
	_, err = c.Stats(context.Background(), strings.ToUpper(addr))
	indexertest.RequireClass(t, err, indexer.ClassPermanent)
	require.Empty(t, seen(), "invalid addresses are refused before any request")
}

func TestNewClientValidates(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, url string }{{"", "http://x"}, {"a:b", "http://x"}, {"ok", "ftp://x"}, {"ok", "/relative"}} {
		_, err := subgraph.NewClient(tc.name, tc.url, nil, subgraph.Options{})
		require.Error(t, err, "%q %q", tc.name, tc.url)
	}
	_, err := subgraph.NewClient("ok", "http://x", nil, subgraph.Options{PageSize: 1001})
	require.Error(t, err)
}
