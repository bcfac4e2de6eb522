package jobs_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgtype"
	"github.com/riverqueue/river"
	"github.com/stretchr/testify/require"

	"github.com/nftsync/nftsync/db"
	"github.com/nftsync/nftsync/jobs"
)

// ledgerSale is one sale for the ledger: its ETH amount and how long before
// the upstream clock's now it was sold.
type ledgerSale struct {
	amount string
	ago    time.Duration
}

// storeSales inserts sales into the collection's ledger as the stream
// consumer does (ETH, so every sale is priced).
func storeSales(t *testing.T, b *marketStatsBundle, sales []ledgerSale) {
	t.Helper()
	var p db.SalesInsertBatchParams
	now := b.up.clock()
	for i, s := range sales {
		p.CollectionIds = append(p.CollectionIds, b.coll.ID)
		p.TxHashes = append(p.TxHashes, fmt.Sprintf("0xtx%d", i))
		p.OrderHashes = append(p.OrderHashes, fmt.Sprintf("0xorder%d", i))
		p.Chains = append(p.Chains, "ethereum")
		p.Contracts = append(p.Contracts, "0xc0ffee")
		p.TokenIds = append(p.TokenIds, fmt.Sprint(i))
		p.Amounts = append(p.Amounts, s.amount)
		p.Currencies = append(p.Currencies, "ETH")
		p.Decimals = append(p.Decimals, 18)
		p.EthPrices = append(p.EthPrices, "")
		p.Quantities = append(p.Quantities, 1)
		p.SoldAts = append(p.SoldAts, now.Add(-s.ago))
		p.Buyers = append(p.Buyers, "0xb")
		p.Sellers = append(p.Sellers, "0xs")
		p.Sources = append(p.Sources, "opensea:stream")
	}
	n, err := db.New(b.tx).SalesInsertBatch(context.Background(), p)
	require.NoError(t, err)
	require.Equal(t, int64(len(sales)), n)
}

// dayOfSales is 17 sales worth 10 ETH in all, spread over the day away from
// its edges: what the test upstream's /stats says of the day (one_day volume
// 10, sales 17) when it is set to "10".
func dayOfSales() []ledgerSale {
	out := make([]ledgerSale, 0, 17)
	for i := range 16 {
		out = append(out, ledgerSale{amount: "0.5", ago: time.Duration(i+1) * time.Hour})
	}
	return append(out, ledgerSale{amount: "2", ago: 30 * time.Minute})
}

func TestLedgerCrossCheckAgainstStats(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	// setup tracks a collection whose ledger has covered the last 25 hours
	// (coveredFor) and holds sales.
	setup := func(t *testing.T, coveredFor time.Duration, sales []ledgerSale) *marketStatsBundle {
		t.Helper()
		b := setupMarketStats(t, "ethereum")
		now := b.up.clock()
		markStream(t, b.tx, b.coll.ID, "live", now.Add(-5*time.Second))
		require.NoError(t, db.New(b.tx).StreamSalesCovered(ctx, db.StreamSalesCoveredParams{CollectionID: b.coll.ID,
			Since: pgtype.Timestamptz{Time: now.Add(-coveredFor), Valid: true}}))
		storeSales(t, b, sales)
		return b
	}
	checks := func(t *testing.T, b *marketStatsBundle) map[string]db.SourceCrossCheck {
		t.Helper()
		rows, err := db.New(b.tx).CrossCheckList(ctx, b.coll.ID)
		require.NoError(t, err)
		out := map[string]db.SourceCrossCheck{}
		for _, r := range rows {
			require.Equal(t, "opensea", r.SourceA)
			require.Equal(t, "opensea:stream", r.SourceB)
			_, dup := out[r.Metric]
			require.False(t, dup, "one check of %s per /stats answer", r.Metric)
			out[r.Metric] = r
		}
		return out
	}
	disagreements := func(t *testing.T, b *marketStatsBundle) []db.DataQualityEvent {
		t.Helper()
		evs, err := db.New(b.tx).DataQualityEventList(ctx, pgtypeInt8(b.coll.ID))
		require.NoError(t, err)
		var out []db.DataQualityEvent
		for _, e := range evs {
			if e.Kind == "cross_source_disagreement" {
				out = append(out, e)
			}
		}
		return out
	}

	t.Run("AgreementIsRecordedOncePerAnswer", func(t *testing.T) {
		t.Parallel()
		b := setup(t, 25*time.Hour, dayOfSales())
		b.up.set("1.5", "10")
		require.Equal(t, river.EventKindJobCompleted, b.floorRound(t))
		require.Equal(t, river.EventKindJobCompleted, b.volumeRound(t))
		require.Equal(t, int64(1), b.up.calls.Load(), "the volume job reuses the floor's answer")
		cc := checks(t, b)
		require.Len(t, cc, 2)
		require.True(t, cc["sales_1d"].Agree)
		require.Equal(t, "17", num(t, cc["sales_1d"].ValueB))
		require.True(t, cc["volume_1d"].Agree)
		require.Equal(t, "10", num(t, cc["volume_1d"].ValueA))
		require.Equal(t, "10", num(t, cc["volume_1d"].ValueB))
		require.Empty(t, disagreements(t, b))
	})

	t.Run("SalesInFlightAtTheEdgesAgree", func(t *testing.T) {
		t.Parallel()
		// The ledger also holds a sale 2 minutes before the window's start
		// (/stats may still count it) and one 1 minute before the fetch
		// (/stats may not count it yet); the ledger's own window then has 18
		// sales and 10.5 ETH against /stats' 17 and 10.
		sales := append(dayOfSales(), ledgerSale{amount: "0.3", ago: 24*time.Hour + 2*time.Minute},
			ledgerSale{amount: "0.5", ago: time.Minute})
		b := setup(t, 25*time.Hour, sales)
		b.up.set("1.5", "10")
		require.Equal(t, river.EventKindJobCompleted, b.volumeRound(t))
		cc := checks(t, b)
		require.True(t, cc["sales_1d"].Agree)
		require.Equal(t, "18", num(t, cc["sales_1d"].ValueB))
		require.Equal(t, "17", num(t, cc["sales_1d"].LowB))
		require.Equal(t, "19", num(t, cc["sales_1d"].HighB))
		require.True(t, cc["volume_1d"].Agree)
		require.Empty(t, disagreements(t, b))
	})

	t.Run("DoubleRoundingAgrees", func(t *testing.T) {
		t.Parallel()
		b := setup(t, 25*time.Hour, dayOfSales())
		b.up.set("1.5", "10.000000000000002") // 10 as a sum of doubles may come out
		require.Equal(t, river.EventKindJobCompleted, b.volumeRound(t))
		require.True(t, checks(t, b)["volume_1d"].Agree)
		require.Empty(t, disagreements(t, b))
	})

	t.Run("VolumeDifferenceIsADataQualityEvent", func(t *testing.T) {
		t.Parallel()
		b := setup(t, 25*time.Hour, dayOfSales())
		b.up.set("1.5", "10.4")
		require.Equal(t, river.EventKindJobCompleted, b.volumeRound(t))
		cc := checks(t, b)
		require.True(t, cc["sales_1d"].Agree)
		require.False(t, cc["volume_1d"].Agree)
		evs := disagreements(t, b)
		require.Len(t, evs, 1)
		require.Equal(t, "opensea:stream", evs[0].Source)
		require.Contains(t, evs[0].Message, "volume_1d: opensea says 10.4, the ledger 10")
		vol, err := db.New(b.tx).VolumeCurrentWindow(ctx, db.VolumeCurrentWindowParams{CollectionID: b.coll.ID, Source: "opensea", TimeWindow: "1d"})
		require.NoError(t, err)
		require.Equal(t, "10.4", normDecimal(vol.Amount), "/stats' figure is stored all the same")
	})

	t.Run("MissedSaleIsADataQualityEvent", func(t *testing.T) {
		t.Parallel()
		// The ledger lost a sale of 0.5 ETH in the middle of the day.
		b := setup(t, 25*time.Hour, dayOfSales()[1:])
		b.up.set("1.5", "10")
		require.Equal(t, river.EventKindJobCompleted, b.volumeRound(t))
		cc := checks(t, b)
		require.False(t, cc["sales_1d"].Agree)
		require.False(t, cc["volume_1d"].Agree)
		evs := disagreements(t, b)
		require.Len(t, evs, 1)
		require.Contains(t, evs[0].Message, "sales_1d: opensea says 17, the ledger 16")
	})

	t.Run("LedgerNotCoveringTheDayIsNotChecked", func(t *testing.T) {
		t.Parallel()
		b := setup(t, 23*time.Hour, dayOfSales()[1:])
		b.up.set("1.5", "10")
		require.Equal(t, river.EventKindJobCompleted, b.volumeRound(t))
		require.Empty(t, checks(t, b))
		require.Empty(t, disagreements(t, b))
	})

	t.Run("DisabledChecksNothing", func(t *testing.T) {
		t.Parallel()
		b := setup(t, 25*time.Hour, dayOfSales()[1:])
		b.deps.LedgerCheck = jobs.LedgerCheck{Disabled: true}
		require.Equal(t, river.EventKindJobCompleted, b.volumeRound(t))
		require.Empty(t, checks(t, b))
	})
}
