package api_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgtype"
	"github.com/stretchr/testify/require"

	"github.com/nftsync/nftsync/db"
)

// sale is one row of the sales ledger for a test.
type sale struct {
	tx, token, amount, currency, ethPrice string
	at                                    time.Time
}

// insertSales stores sales of collection id as the stream consumer does.
func insertSales(t testing.TB, q *db.Queries, id int64, contract string, ss ...sale) {
	t.Helper()
	var p db.SalesInsertBatchParams
	for _, s := range ss {
		p.CollectionIds = append(p.CollectionIds, id)
		p.TxHashes = append(p.TxHashes, s.tx)
		p.OrderHashes = append(p.OrderHashes, "0xorder-"+s.tx)
		p.Chains = append(p.Chains, "ethereum")
		p.Contracts = append(p.Contracts, contract)
		p.TokenIds = append(p.TokenIds, s.token)
		p.Amounts = append(p.Amounts, s.amount)
		p.Currencies = append(p.Currencies, s.currency)
		p.Decimals = append(p.Decimals, 18)
		p.EthPrices = append(p.EthPrices, s.ethPrice)
		p.Quantities = append(p.Quantities, 1)
		p.SoldAts = append(p.SoldAts, s.at)
		p.Buyers = append(p.Buyers, "0xbuyer")
		p.Sellers = append(p.Sellers, "0xseller")
		p.Sources = append(p.Sources, "opensea:stream")
	}
	n, err := q.SalesInsertBatch(context.Background(), p)
	require.NoError(t, err)
	require.EqualValues(t, len(ss), n)
}

func markStream(t testing.TB, q *db.Queries, id int64, state string, at time.Time) {
	t.Helper()
	require.NoError(t, q.StreamStatesMark(context.Background(), db.StreamStatesMarkParams{
		CollectionIds: []int64{id}, State: state, Owner: "replica-1", At: at}))
}

func TestFloorAndFreshnessFollowTheStream(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t, setupOpts{})
	id := b.seedCollection(t, "streamed", "1.5", "10", nil)
	q := db.New(b.pool)

	type floorAnswer struct {
		Collection struct {
			Floor struct {
				Amount string `json:"amount"`
				Source string `json:"source"`
			} `json:"floor"`
			Freshness []struct {
				Kind          string     `json:"kind"`
				Mode          string     `json:"mode"`
				Stale         bool       `json:"stale"`
				LastSuccessAt *time.Time `json:"lastSuccessAt"`
			} `json:"freshness"`
		} `json:"collection"`
	}
	read := func() (floorAnswer, string, bool) {
		var a floorAnswer
		b.data(t, "", `{ collection(slug: "streamed") { floor { amount source } freshness { kind mode stale lastSuccessAt } } }`, nil, &a)
		for _, f := range a.Collection.Freshness {
			if f.Kind == "FLOOR_PRICE" {
				return a, f.Mode, f.Stale
			}
		}
		t.Fatal("no FLOOR_PRICE freshness")
		return a, "", false
	}
	a, mode, stale := read()
	require.Equal(t, "1.500000000000000000", a.Collection.Floor.Amount)
	require.Equal(t, "opensea", a.Collection.Floor.Source)
	require.Equal(t, "POLLED", mode)
	require.True(t, stale, "never polled successfully")

	// The stream stores a newer floor: it is the one shown.
	now := time.Now()
	require.NoError(t, q.FloorPriceObserve(ctx, db.FloorPriceObserveParams{CollectionID: id, Source: "opensea:stream",
		Amount: numeric(t, "1.4"), Currency: "ETH", Decimals: 18, SeenAt: now, SourceAsOf: pgtype.Timestamptz{Time: now, Valid: true}}))
	markStream(t, q, id, "live", now)
	a, mode, stale = read()
	require.Equal(t, "1.400000000000000000", a.Collection.Floor.Amount)
	require.Equal(t, "opensea:stream", a.Collection.Floor.Source)
	require.Equal(t, "LIVE", mode)
	require.False(t, stale, "a live stream keeps the floor fresh")

	// A newer poll (a reconcile) wins until the stream stores again.
	require.NoError(t, q.FloorPriceObserve(ctx, db.FloorPriceObserveParams{CollectionID: id, Source: "opensea",
		Amount: numeric(t, "1.45"), Currency: "ETH", Decimals: 18, SeenAt: now.Add(time.Second)}))
	a, _, _ = read()
	require.Equal(t, "1.450000000000000000", a.Collection.Floor.Amount)
	require.Equal(t, "opensea", a.Collection.Floor.Source)

	// Ordering by floor follows the floor shown.
	b.seedCollection(t, "middle", "1.42", "10", nil)
	var page struct {
		Collections struct {
			Edges []struct {
				Node struct {
					Slug string `json:"slug"`
				} `json:"node"`
			} `json:"edges"`
		} `json:"collections"`
	}
	order := func() []string {
		b.data(t, "", `{ collections(orderBy: FLOOR) { edges { node { slug } } } }`, nil, &page)
		var out []string
		for _, e := range page.Collections.Edges {
			out = append(out, e.Node.Slug)
		}
		return out
	}
	require.Equal(t, []string{"streamed", "middle"}, order(), "1.45 (polled, newer) before 1.42")
	require.NoError(t, q.FloorPriceObserve(ctx, db.FloorPriceObserveParams{CollectionID: id, Source: "opensea:stream",
		Amount: numeric(t, "1.3"), Currency: "ETH", Decimals: 18, SeenAt: now.Add(2 * time.Second)}))
	require.Equal(t, []string{"middle", "streamed"}, order(), "the stream's newer 1.3 after 1.42")

	// A live mark older than the liveness TTL is a dead replica's: polled.
	markStream(t, q, id, "live", now.Add(-2*time.Minute))
	_, mode, _ = read()
	require.Equal(t, "POLLED", mode)
	markStream(t, q, id, "down", now)
	_, mode, _ = read()
	require.Equal(t, "POLLED", mode)
}

func TestSalesFields(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t, setupOpts{})
	id := b.seedCollection(t, "sold", "1.5", "10", []seedToken{{id: "1"}, {id: "2"}, {id: "3"}})
	contract := "0x" + fmt.Sprintf("%040x", id)
	q := db.New(b.pool)
	now := time.Now().UTC().Truncate(time.Second)
	insertSales(t, q, id, contract,
		sale{"0xa", "1", "1", "ETH", "1", now.Add(-30 * time.Hour)},
		sale{"0xb", "1", "2", "WETH", "", now.Add(-2 * time.Hour)},
		sale{"0xc", "2", "3000", "USDC", "0.0005", now.Add(-time.Hour)},
	)

	type tokensAnswer struct {
		Tokens struct {
			Edges []struct {
				Node struct {
					TokenID  string `json:"tokenId"`
					LastSale *struct {
						TxHash   string  `json:"txHash"`
						Amount   string  `json:"amount"`
						Currency string  `json:"currency"`
						EthPrice *string `json:"ethPrice"`
					} `json:"lastSale"`
				} `json:"node"`
			} `json:"edges"`
		} `json:"tokens"`
	}
	lastSales := func() map[string]string {
		var a tokensAnswer
		b.data(t, "", `{ tokens(collection: "sold", orderBy: TOKEN_ID) { edges { node { tokenId lastSale { txHash amount currency ethPrice } } } } }`, nil, &a)
		out := map[string]string{}
		for _, e := range a.Tokens.Edges {
			if e.Node.LastSale != nil {
				out[e.Node.TokenID] = e.Node.LastSale.TxHash
			}
		}
		return out
	}
	require.Equal(t, map[string]string{"1": "0xb", "2": "0xc"}, lastSales(), "token 3 never sold")
	// A new sale is seen at once (the sale bumps the data version the
	// response cache checks).
	insertSales(t, q, id, contract, sale{"0xd", "1", "1.1", "ETH", "1", now})
	require.Equal(t, map[string]string{"1": "0xd", "2": "0xc"}, lastSales())

	type collAnswer struct {
		Collection struct {
			RecentSales []struct {
				TxHash string    `json:"txHash"`
				SoldAt time.Time `json:"soldAt"`
			} `json:"recentSales"`
			Volumes []struct {
				Window string `json:"window"`
				Amount string `json:"amount"`
				Sales  int    `json:"sales"`
				Source string `json:"source"`
			} `json:"volumes"`
		} `json:"collection"`
	}
	coll := func() collAnswer {
		var a collAnswer
		b.data(t, "", `{ collection(slug: "sold") { recentSales(first: 2) { txHash soldAt } volumes { window amount sales source } } }`, nil, &a)
		return a
	}
	a := coll()
	require.Len(t, a.Collection.RecentSales, 2)
	require.Equal(t, "0xd", a.Collection.RecentSales[0].TxHash)
	require.Equal(t, "0xc", a.Collection.RecentSales[1].TxHash)
	require.Equal(t, "1d", a.Collection.Volumes[0].Window)
	require.Equal(t, "opensea", a.Collection.Volumes[0].Source, "the ledger does not cover the day yet")

	// The ledger has covered the last 25 hours: the 1-day figure is its own.
	markStream(t, q, id, "live", now)
	require.NoError(t, q.StreamSalesCovered(ctx, db.StreamSalesCoveredParams{CollectionID: id, Since: pgtype.Timestamptz{Time: now.Add(-25 * time.Hour), Valid: true}}))
	a = coll()
	require.Equal(t, "1d", a.Collection.Volumes[0].Window)
	require.Equal(t, "opensea:stream", a.Collection.Volumes[0].Source)
	// 2 WETH + 3000 USDC x 0.0005 + 1.1 ETH = 4.6 ETH in three sales.
	require.Equal(t, "4.600000000000000000", a.Collection.Volumes[0].Amount)
	require.Equal(t, 3, a.Collection.Volumes[0].Sales)
	require.Equal(t, "7d", a.Collection.Volumes[1].Window)
	require.Equal(t, "opensea", a.Collection.Volumes[1].Source, "7d stays the source's")

	// Covered only since 2 hours ago: not the whole day.
	require.NoError(t, q.StreamSalesCovered(ctx, db.StreamSalesCoveredParams{CollectionID: id, Since: pgtype.Timestamptz{Time: now.Add(-2 * time.Hour), Valid: true}}))
	require.Equal(t, "opensea", coll().Collection.Volumes[0].Source)

	// A sale without a known ETH price makes the ledger's volume unknown.
	require.NoError(t, q.StreamSalesCovered(ctx, db.StreamSalesCoveredParams{CollectionID: id, Since: pgtype.Timestamptz{Time: now.Add(-25 * time.Hour), Valid: true}}))
	insertSales(t, q, id, contract, sale{"0xe", "3", "100", "APE", "", now})
	require.Equal(t, "opensea", coll().Collection.Volumes[0].Source)
}

func TestSubscriptionSalesAdded(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	id := b.seedCollection(t, "market", "1.5", "10", nil)
	other := b.seedCollection(t, "elsewhere", "1.5", "10", nil)
	contract := "0x" + fmt.Sprintf("%040x", id)
	q := db.New(b.pool)
	type salesAdded struct {
		SalesAdded struct {
			TxHash  string `json:"txHash"`
			TokenID string `json:"tokenId"`
		} `json:"salesAdded"`
	}
	c, _ := b.dialWS(t, b.url, nil)
	c.subscribe("1", `subscription { salesAdded(slug: "market") { txHash tokenId } }`)

	// No initial state: sell until a sale arrives, which shows the
	// subscription is in place.
	var ev salesAdded
	for i := 1; ; i++ {
		require.Less(t, i, 100, "the subscription never reported")
		insertSales(t, q, id, contract, sale{fmt.Sprintf("0xwarm%d", i), "1", "1", "ETH", "1", time.Now()})
		select {
		case m := <-c.msgs:
			require.Equal(t, "next", m.Type)
			require.Contains(t, string(m.Payload), fmt.Sprintf(`"txHash":"0xwarm%d"`, i))
		case <-time.After(100 * time.Millisecond):
			continue
		}
		break
	}
	// Another collection's sales are not sent; a batch arrives in order.
	insertSales(t, q, other, contract, sale{"0xother", "1", "1", "ETH", "1", time.Now()})
	insertSales(t, q, id, contract,
		sale{"0xs1", "2", "1", "ETH", "1", time.Now()},
		sale{"0xs2", "3", "1", "ETH", "1", time.Now()})
	c.event(&ev)
	require.Equal(t, "0xs1", ev.SalesAdded.TxHash)
	c.event(&ev)
	require.Equal(t, "0xs2", ev.SalesAdded.TxHash)
	c.quiet(300 * time.Millisecond)
}
