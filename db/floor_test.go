package db_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgtype"
	"github.com/stretchr/testify/require"

	"github.com/nftsync/nftsync/db"
	"github.com/nftsync/nftsync/db/dbtest"
)

func numeric(t *testing.T, s string) pgtype.Numeric {
	t.Helper()
	var n pgtype.Numeric
	require.NoError(t, n.Scan(s))
	return n
}

// TestFloorPriceObserveOneStatement checks that the poller's one-element
// form and the stream's batch form are the same change-based upsert: their
// observations extend each other's runs, and the nullable columns (owners,
// source_as_of) survive the array form.
func TestFloorPriceObserveOneStatement(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	q := db.New(dbtest.DB(t))
	ids := track(t, q, "opensea", "one", "two")
	t0 := time.Now().UTC().Truncate(24 * time.Hour).Add(time.Hour)
	asOf := t0.Add(-time.Second)

	// The poller: one observation with owners and the source's time.
	require.NoError(t, q.FloorPriceObserve(ctx, db.FloorPriceObserveParams{
		CollectionID: ids[0], Source: "opensea", Amount: numeric(t, "1.5"), Currency: "ETH", Decimals: 18,
		Owners: pgtype.Int8{Int64: 42, Valid: true}, SeenAt: t0, SourceAsOf: pgtype.Timestamptz{Time: asOf, Valid: true},
	}))
	cur, err := q.FloorPriceLatest(ctx, db.FloorPriceLatestParams{CollectionID: ids[0], Source: "opensea"})
	require.NoError(t, err)
	require.Equal(t, pgtype.Int8{Int64: 42, Valid: true}, cur.Owners)
	require.True(t, cur.SourceAsOf.Valid)
	require.Equal(t, asOf, cur.SourceAsOf.Time.UTC())

	// The batch form: the same value a minute later extends the run, a
	// second collection gets its first row, an untracked id is skipped, and
	// unknown owners and a zero source time are stored as NULL.
	require.NoError(t, q.FloorPriceObserveBatch(ctx, db.FloorPriceObserveBatchParams{
		CollectionIds: []int64{ids[0], ids[1], 999999},
		Amounts:       []pgtype.Numeric{numeric(t, "1.50"), {}, numeric(t, "9")},
		Currencies:    []string{"ETH", "ETH", "ETH"},
		Decimals:      []int16{18, 18, 18},
		Owners:        []int64{0, 0, 0},
		OwnersKnown:   []bool{false, false, false},
		SeenAts:       []time.Time{t0.Add(time.Minute), t0.Add(time.Minute), t0.Add(time.Minute)},
		SourceAsOfs:   []time.Time{{}, t0, t0},
		Source:        "opensea",
	}))
	cur, err = q.FloorPriceLatest(ctx, db.FloorPriceLatestParams{CollectionID: ids[0], Source: "opensea"})
	require.NoError(t, err)
	require.False(t, cur.Owners.Valid, "owners not known are NULL")
	require.False(t, cur.SourceAsOf.Valid, "a zero source time is NULL, never 0001-01-01")
	require.Equal(t, t0, cur.ChangedAt.UTC(), "the unchanged value keeps its changed_at")
	hist, err := q.FloorPriceHistory(ctx, db.FloorPriceHistoryParams{CollectionID: ids[0], MaxRows: 10})
	require.NoError(t, err)
	require.Len(t, hist, 1, "one run across both forms")
	require.Equal(t, t0, hist[0].FirstSeenAt.UTC())
	require.Equal(t, t0.Add(time.Minute), hist[0].LastSeenAt.UTC())

	empty, err := q.FloorPriceLatest(ctx, db.FloorPriceLatestParams{CollectionID: ids[1], Source: "opensea"})
	require.NoError(t, err)
	require.False(t, empty.Amount.Valid, "a NULL amount is a known empty book")

	// The poller again: a changed value starts a new run; an older
	// observation changes nothing.
	require.NoError(t, q.FloorPriceObserve(ctx, db.FloorPriceObserveParams{
		CollectionID: ids[0], Source: "opensea", Amount: numeric(t, "1.6"), Currency: "ETH", Decimals: 18, SeenAt: t0.Add(2 * time.Minute),
	}))
	require.NoError(t, q.FloorPriceObserve(ctx, db.FloorPriceObserveParams{
		CollectionID: ids[0], Source: "opensea", Amount: numeric(t, "7"), Currency: "ETH", Decimals: 18, SeenAt: t0.Add(90 * time.Second),
	}))
	hist, err = q.FloorPriceHistory(ctx, db.FloorPriceHistoryParams{CollectionID: ids[0], MaxRows: 10})
	require.NoError(t, err)
	require.Len(t, hist, 2)
	require.Equal(t, t0.Add(2*time.Minute), hist[0].FirstSeenAt.UTC())
	cur, err = q.FloorPriceLatest(ctx, db.FloorPriceLatestParams{CollectionID: ids[0], Source: "opensea"})
	require.NoError(t, err)
	require.Equal(t, t0.Add(2*time.Minute), cur.ChangedAt.UTC())

	// The poller for a collection no longer tracked stores nothing.
	require.NoError(t, q.FloorPriceObserve(ctx, db.FloorPriceObserveParams{
		CollectionID: 999999, Source: "opensea", Amount: numeric(t, "1"), Currency: "ETH", Decimals: 18, SeenAt: t0,
	}))
	_, err = q.FloorPriceLatest(ctx, db.FloorPriceLatestParams{CollectionID: 999999, Source: "opensea"})
	require.ErrorIs(t, db.Interpret(err), db.ErrNotFound)
}
