package indexersim

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// gqlAnswer is a GraphQL response as the test reads it.
type gqlAnswer struct {
	status int
	header http.Header
	Data   map[string]json.RawMessage `json:"data"`
	Errors []struct {
		Message string `json:"message"`
	} `json:"errors"`
}

func (b *testBundle) gql(t *testing.T, name, key, query string, vars map[string]any) gqlAnswer {
	t.Helper()
	body, err := json.Marshal(map[string]any{"query": query, "variables": vars})
	require.NoError(t, err)
	req, err := http.NewRequest(http.MethodPost, b.ts.URL+"/subgraphs/name/"+name, bytes.NewReader(body))
	require.NoError(t, err)
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	a := gqlAnswer{status: resp.StatusCode, header: resp.Header}
	if resp.Header.Get("Content-Type") == "application/json" {
		require.NoError(t, json.Unmarshal(raw, &a), "body %s", raw)
	}
	return a
}

const snapshotsQuery = `query($c: String!, $first: Int!, $last: ID!, $since: BigInt!) {
  _meta { block { number timestamp } }
  collectionDailySnapshots(first: $first, orderBy: id, orderDirection: asc,
      where: {collection: $c, timestamp_gte: $since, id_gt: $last}) {
    id timestamp blockNumber dailyTradeVolumeETH dailyTradedItemCount tradeCount cumulativeTradeVolumeETH
    collection { id }
  }
}`

type wireSnap struct {
	ID                       string `json:"id"`
	Timestamp                string `json:"timestamp"`
	DailyTradeVolumeETH      string `json:"dailyTradeVolumeETH"`
	DailyTradedItemCount     int64  `json:"dailyTradedItemCount"`
	CumulativeTradeVolumeETH string `json:"cumulativeTradeVolumeETH"`
	Collection               struct {
		ID string `json:"id"`
	} `json:"collection"`
}

func TestSubgraphServesMessariSchema(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{Collections: 3, Subgraphs: []SubgraphConfig{{Name: "seaport", Mirror: true}}})
	info, _ := b.sim.Collection("sim-collection-001")
	now := b.clock.Now()
	since := strconv.FormatInt((now.Unix()/86400-30)*86400, 10)

	a := b.gql(t, "seaport", "", `query($id: ID!) { collection(id: $id) { id name symbol totalSupply nftStandard royaltyFee cumulativeTradeVolumeETH tradeCount buyerCount sellerCount } }`,
		map[string]any{"id": info.Contract})
	require.Equal(t, 200, a.status)
	require.Empty(t, a.Errors)
	var col map[string]any
	require.NoError(t, json.Unmarshal(a.Data["collection"], &col))
	require.Equal(t, info.Contract, col["id"])
	require.IsType(t, "", col["cumulativeTradeVolumeETH"], "BigDecimal is a string")
	require.IsType(t, "", col["totalSupply"], "BigInt is a string")
	require.IsType(t, float64(0), col["tradeCount"], "Int is a number")
	require.Equal(t, "ERC721", col["nftStandard"])

	// All pages of three, walked with id_gt, equal one page of 1000.
	var all []wireSnap
	a = b.gql(t, "seaport", "", snapshotsQuery, map[string]any{"c": info.Contract, "first": 1000, "last": "", "since": since})
	require.Empty(t, a.Errors)
	require.NoError(t, json.Unmarshal(a.Data["collectionDailySnapshots"], &all))
	require.NotEmpty(t, all)
	require.LessOrEqual(t, len(all), 31)
	var paged []wireSnap
	last := ""
	for range 20 {
		var p []wireSnap
		a = b.gql(t, "seaport", "", snapshotsQuery, map[string]any{"c": info.Contract, "first": 3, "last": last, "since": since})
		require.NoError(t, json.Unmarshal(a.Data["collectionDailySnapshots"], &p))
		paged = append(paged, p...)
		if len(p) < 3 {
			break
		}
		last = p[len(p)-1].ID
	}
	require.Equal(t, all, paged)
	for i, s := range all {
		require.Equal(t, info.Contract, s.Collection.ID)
		ts, err := strconv.ParseInt(s.Timestamp, 10, 64)
		require.NoError(t, err)
		require.Equal(t, info.Contract+"-"+strconv.FormatInt(ts/86400, 10), s.ID)
		require.LessOrEqual(t, ts, now.Unix())
		if i > 0 {
			require.Less(t, all[i-1].ID, s.ID)
		}
	}

	// The last snapshot's cumulative volume is the stats endpoint's total
	// (the trades are the same), before rounding to four places.
	var stats struct {
		Total struct {
			Volume float64 `json:"volume"`
		} `json:"total"`
	}
	b.getJSON(t, "/api/v2/collections/sim-collection-001/stats", &stats)
	cum, err := strconv.ParseFloat(all[len(all)-1].CumulativeTradeVolumeETH, 64)
	require.NoError(t, err)
	require.InDelta(t, stats.Total.Volume, cum, 0.01*stats.Total.Volume)
}

func TestSubgraphGraphNodeRules(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{Collections: 2, Subgraphs: []SubgraphConfig{{Name: "seaport", Mirror: true}}})
	info, _ := b.sim.Collection("sim-collection-000")

	a := b.gql(t, "seaport", "", `{ collectionDailySnapshots(first: 1001) { id } }`, nil)
	require.Equal(t, 200, a.status)
	require.Contains(t, a.Errors[0].Message, "The `first` argument must be between 0 and 1000, but is 1001")

	a = b.gql(t, "seaport", "", `{ collection(id: "x") { floorPrice } }`, nil)
	require.NotEmpty(t, a.Errors, "a real executor rejects unknown fields")
	require.Contains(t, a.Errors[0].Message, "floorPrice")

	a = b.gql(t, "seaport", "", `query($id: ID!) { collection(id: $id) { id } }`, map[string]any{"id": "0x0000000000000000000000000000000000000001"})
	require.Empty(t, a.Errors)
	require.JSONEq(t, "null", string(a.Data["collection"]), "unknown collection is null")

	a = b.gql(t, "seaport", "", `{ _meta { block { number } } }`, nil)
	var meta struct {
		Block struct{ Number int64 } `json:"block"`
	}
	require.NoError(t, json.Unmarshal(a.Data["_meta"], &meta))
	future := meta.Block.Number + 100
	a = b.gql(t, "seaport", "", `query($id: ID!, $n: Int!) { collection(id: $id, block: {number: $n}) { id } }`,
		map[string]any{"id": info.Contract, "n": future})
	require.Contains(t, a.Errors[0].Message, "has only indexed up to block number")

	// A past block sees the past: the cumulative volume an hour ago is no
	// larger than now.
	q := `query($id: ID!, $n: Int!) { collection(id: $id, block: {number: $n}) { tradeCount } }`
	var then, now struct{ TradeCount int64 }
	a = b.gql(t, "seaport", "", q, map[string]any{"id": info.Contract, "n": meta.Block.Number - 300})
	require.NoError(t, json.Unmarshal(a.Data["collection"], &then))
	a = b.gql(t, "seaport", "", q, map[string]any{"id": info.Contract, "n": meta.Block.Number})
	require.NoError(t, json.Unmarshal(a.Data["collection"], &now))
	require.LessOrEqual(t, then.TradeCount, now.TradeCount)

	a = b.gql(t, "nope", "", `{ _meta { deployment } }`, nil)
	require.Contains(t, a.Errors[0].Message, "subgraph not found")
}

func TestSubgraphAuthLimitsAndFaults(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{Collections: 2, Subgraphs: []SubgraphConfig{
		{Name: "keyed", Mirror: true, APIKeys: []string{"k1"}, Rate: 1, Burst: 2},
		{Name: "flaky", ThrottleRate: 0.25, ErrorRate: 0.25, GraphQLErrorRate: 0.25, PartialRate: 0.25},
	}})
	q := `{ _meta { block { number } } }`
	a := b.gql(t, "keyed", "", q, nil)
	require.Equal(t, 200, a.status)
	require.Equal(t, "auth error: missing authorization header", a.Errors[0].Message)
	require.Equal(t, 200, b.gql(t, "keyed", "k1", q, nil).status)
	require.Equal(t, 200, b.gql(t, "keyed", "k1", q, nil).status)
	a = b.gql(t, "keyed", "k1", q, nil)
	require.Equal(t, 429, a.status, "burst 2 spent")
	require.Equal(t, "1", a.header.Get("Retry-After"))
	b.clock.Advance(time.Second)
	require.Equal(t, 200, b.gql(t, "keyed", "k1", q, nil).status)

	seen := map[string]bool{}
	for range 60 {
		a := b.gql(t, "flaky", "", `{ collections(first: 1) { id } }`, nil)
		switch {
		case a.status == 429:
			require.NotEmpty(t, a.header.Get("Retry-After"))
			seen["429"] = true
		case a.status >= 500:
			seen["5xx"] = true
		case len(a.Errors) > 0 && a.Data != nil:
			seen["partial"] = true
		case len(a.Errors) > 0:
			seen["errors"] = true
		}
	}
	require.Len(t, seen, 4, "every fault kind drawn: %v", seen)
	st := b.sim.Stats()
	require.EqualValues(t, 1, st.Subgraphs["keyed"].RateLimited)
	require.EqualValues(t, 1, st.Subgraphs["keyed"].Unauthorized)
	require.Positive(t, st.Subgraphs["flaky"].Faults[FaultSubgraphPartial])
	require.Zero(t, st.Requests, "subgraph requests are counted apart from the OpenSea endpoints")
}

func TestSubgraphVolumeFactorAndCoverage(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{Collections: 20, Subgraphs: []SubgraphConfig{
		{Name: "seaport", Mirror: true}, {Name: "skewed", Mirror: true, VolumeFactor: 2}, {Name: "blur", Coverage: 0.5},
	}})
	q := `query($id: ID!) { collection(id: $id) { cumulativeTradeVolumeETH } }`
	covered := 0
	for _, slug := range b.sim.Slugs() {
		info, _ := b.sim.Collection(slug)
		var x, y struct{ CumulativeTradeVolumeETH string }
		require.NoError(t, json.Unmarshal(b.gql(t, "seaport", "", q, map[string]any{"id": info.Contract}).Data["collection"], &x))
		require.NoError(t, json.Unmarshal(b.gql(t, "skewed", "", q, map[string]any{"id": info.Contract}).Data["collection"], &y))
		fx, _ := strconv.ParseFloat(x.CumulativeTradeVolumeETH, 64)
		fy, _ := strconv.ParseFloat(y.CumulativeTradeVolumeETH, 64)
		require.InDelta(t, 2*fx, fy, 1e-6*fy)
		if string(b.gql(t, "blur", "", q, map[string]any{"id": info.Contract}).Data["collection"]) != "null" {
			covered++
		}
	}
	require.Greater(t, covered, 2)
	require.Less(t, covered, 18)
}
