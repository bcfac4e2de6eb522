package jobs_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nftsync/nftsync/db"
	"github.com/nftsync/nftsync/db/dbtest"
	"github.com/nftsync/nftsync/jobs"
)

func TestMaintainHistoryDropsOldSales(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := dbtest.DB(t) // own database: maintenance creates and drops partitions
	q := db.New(pool)
	now := time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)
	clock := &fakeClock{now: now}
	deps := &jobs.Deps{DB: pool, Logger: discardLogger(), Now: clock.Now}

	// sell stores n sales of collection id sold ago before now.
	seq := 0
	sell := func(id int64, n int, ago time.Duration) {
		t.Helper()
		var p db.SalesInsertBatchParams
		for range n {
			seq++
			p.CollectionIds = append(p.CollectionIds, id)
			p.TxHashes = append(p.TxHashes, fmt.Sprintf("0x%x", seq))
			p.OrderHashes = append(p.OrderHashes, "")
			p.Chains = append(p.Chains, "ethereum")
			p.Contracts = append(p.Contracts, "0xc0ffee")
			p.TokenIds = append(p.TokenIds, fmt.Sprint(seq))
			p.Amounts = append(p.Amounts, "1.5")
			p.Currencies = append(p.Currencies, "ETH")
			p.Decimals = append(p.Decimals, 18)
			p.EthPrices = append(p.EthPrices, "")
			p.Quantities = append(p.Quantities, 1)
			p.SoldAts = append(p.SoldAts, now.Add(-ago))
			p.Buyers = append(p.Buyers, "0xb")
			p.Sellers = append(p.Sellers, "0xs")
			p.Sources = append(p.Sources, "opensea:stream")
		}
		inserted, err := q.SalesInsertBatch(ctx, p)
		require.NoError(t, err)
		require.Equal(t, int64(n), inserted)
	}
	// left is how many sales of collection id remain, and the oldest's age.
	left := func(id int64) (int, time.Duration) {
		t.Helper()
		rows, err := q.SalesRecent(ctx, db.SalesRecentParams{CollectionID: id, Lim: 1000})
		require.NoError(t, err)
		if len(rows) == 0 {
			return 0, 0
		}
		return len(rows), now.Sub(rows[len(rows)-1].SoldAt)
	}
	day := 24 * time.Hour
	var ids []int64
	for _, slug := range []string{"retention-a", "retention-b"} {
		c, err := q.CollectionUpsert(ctx, db.CollectionUpsertParams{Source: "opensea", Slug: slug, Chain: "ethereum", Priority: 2})
		require.NoError(t, err)
		ids = append(ids, c.ID)
	}
	sell(ids[0], 15, 40*day)
	sell(ids[0], 3, 35*day+time.Minute)
	sell(ids[0], 4, 35*day-time.Minute) // inside the retention
	sell(ids[0], 5, time.Hour)
	sell(ids[1], 7, 90*day)
	sell(ids[1], 2, 2*day)

	// Batches of 2, at most 10 per pass: 25 old sales take two passes.
	policy := jobs.HistoryPolicy{SalesBatch: 2}
	res, err := jobs.MaintainHistory(ctx, deps, policy)
	require.NoError(t, err)
	require.Equal(t, int64(20), res.SalesDeleted, "one pass deletes at most 10 batches")
	require.True(t, res.More, "a full last batch asks for another pass")
	res, err = jobs.MaintainHistory(ctx, deps, policy)
	require.NoError(t, err)
	require.Equal(t, int64(5), res.SalesDeleted)
	require.False(t, res.More)

	n, oldest := left(ids[0])
	require.Equal(t, 9, n, "the sales of the last 35 days stay")
	require.Equal(t, 35*day-time.Minute, oldest)
	n, oldest = left(ids[1])
	require.Equal(t, 2, n)
	require.Equal(t, 2*day, oldest)

	res, err = jobs.MaintainHistory(ctx, deps, policy)
	require.NoError(t, err)
	require.Zero(t, res.SalesDeleted, "nothing is left to delete")

	// A shorter retention applies at the next pass.
	res, err = jobs.MaintainHistory(ctx, deps, jobs.HistoryPolicy{Sales: 3 * day})
	require.NoError(t, err)
	require.Equal(t, int64(4), res.SalesDeleted)
	n, _ = left(ids[0])
	require.Equal(t, 5, n)
}

func TestHistoryPolicyValidate(t *testing.T) {
	t.Parallel()
	require.NoError(t, jobs.HistoryPolicy{}.Validate(), "zero fields take the defaults")
	require.NoError(t, jobs.DefaultHistoryPolicy().Validate())
	require.Equal(t, jobs.DefaultSalesRetention, jobs.DefaultHistoryPolicy().Sales)
	err := jobs.HistoryPolicy{Sales: 12 * time.Hour}.Validate()
	require.ErrorContains(t, err, "sales retention 12h0m0s is shorter than the minimum 48h0m0s")
	require.ErrorContains(t, jobs.HistoryPolicy{SalesBatch: -1}.Validate(), "sales batch -1")
	_, err = jobs.MaintainHistory(context.Background(), &jobs.Deps{Logger: discardLogger()}, jobs.HistoryPolicy{Sales: time.Hour})
	require.ErrorContains(t, err, "sales retention", "an invalid policy deletes nothing")
}
