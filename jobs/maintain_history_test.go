package jobs_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgtype"
	"github.com/stretchr/testify/require"

	"github.com/nftsync/nftsync/db"
	"github.com/nftsync/nftsync/db/dbtest"
	"github.com/nftsync/nftsync/jobs"
)

type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }

func (c *fakeClock) Set(t time.Time) { c.mu.Lock(); defer c.mu.Unlock(); c.now = t }

func TestMaintainHistory(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := dbtest.DB(t) // own database: the job creates and drops partitions
	q := db.New(pool)
	c, err := q.CollectionUpsert(ctx, db.CollectionUpsertParams{Source: "opensea", Slug: "history", Chain: "ethereum", Priority: 2})
	require.NoError(t, err)
	clock := &fakeClock{}
	deps := &jobs.Deps{DB: pool, Logger: discardLogger(), Now: clock.Now}
	policy := jobs.HistoryPolicy{Raw: 48 * time.Hour, Hourly: 7 * 24 * time.Hour, Statements: 50}
	maintain := func(at time.Time) {
		t.Helper()
		clock.Set(at)
		for range 100 {
			res, err := jobs.MaintainHistory(ctx, deps, policy)
			require.NoError(t, err)
			if !res.More {
				return
			}
		}
		t.Fatal("maintenance does not finish")
	}
	partitions := func(parent string) []string {
		t.Helper()
		names, err := q.HistoryPartitions(ctx, parent)
		require.NoError(t, err)
		return names
	}
	d0 := time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)
	observe := func(at time.Duration, floor, vol string) {
		t.Helper()
		var f, v pgtype.Numeric
		require.NoError(t, f.Scan(floor))
		require.NoError(t, v.Scan(vol))
		require.NoError(t, q.FloorPriceObserve(ctx, db.FloorPriceObserveParams{CollectionID: c.ID, Source: "opensea", Amount: f, Currency: "ETH", Decimals: 18, SeenAt: d0.Add(at)}))
		require.NoError(t, q.VolumeObserve(ctx, db.VolumeObserveParams{CollectionID: c.ID, Source: "opensea", TimeWindow: "1d", Amount: v, Currency: "ETH", Decimals: 18, SeenAt: d0.Add(at)}))
	}

	// The first run creates the partitions around its day.
	maintain(d0.Add(10 * time.Hour))
	require.Contains(t, partitions("floor_price_history"), "floor_price_history_p20261001")
	require.Contains(t, partitions("floor_price_history"), "floor_price_history_p20261004", "created ahead")
	require.Contains(t, partitions("volume_hourly"), "volume_hourly_p20260928", "weekly, from Monday")

	h := time.Hour
	observe(10*h+5*time.Minute, "1.0", "100")
	observe(10*h+20*time.Minute, "3.0", "120")
	observe(10*h+40*time.Minute, "2.0", "90")
	observe(11*h+10*time.Minute, "2.0", "90") // unchanged: extends the run into 11:00
	observe(11*h+30*time.Minute, "0.5", "95")

	// 12:05: hours 10 and 11 are complete and rolled up.
	maintain(d0.Add(12*h + 5*time.Minute))
	hourly := floorRollups(t, pool, c.ID, false)
	require.Equal(t, []string{
		"2026-10-01T10:00:00Z 1 1 3 2",
		"2026-10-01T11:00:00Z 2 0.5 2 0.5",
	}, hourly, "open low high close per hour; a run counts for every hour it overlaps")

	// Next day: the whole of d0 is rolled up into a day.
	maintain(d0.Add(24*h + 5*time.Minute))
	require.Equal(t, []string{"2026-10-01T00:00:00Z 1 0.5 3 0.5"}, floorRollups(t, pool, c.ID, true))
	counts, err := q.HistoryRowCounts(ctx, c.ID)
	require.NoError(t, err)
	require.Equal(t, int64(1), counts.VolumeDaily)
	require.Equal(t, int64(4), counts.FloorRaw)

	// Past the raw retention (48 h) d0's raw partition goes; the rollups stay.
	maintain(d0.Add(72*h + 5*time.Minute))
	require.NotContains(t, partitions("floor_price_history"), "floor_price_history_p20261001")
	require.NotContains(t, partitions("volume_history"), "volume_history_p20261001")
	counts, err = q.HistoryRowCounts(ctx, c.ID)
	require.NoError(t, err)
	require.Zero(t, counts.FloorRaw)
	require.Zero(t, counts.VolumeRaw)
	require.Equal(t, int64(2), counts.FloorHourly)
	require.Equal(t, int64(2), counts.VolumeHourly)
	require.Contains(t, partitions("floor_price_history"), "floor_price_history_p20261004")

	// Past the hourly retention (7 days) the week's hourly partition goes;
	// daily rows are kept forever by default.
	maintain(d0.Add(20 * 24 * h))
	require.NotContains(t, partitions("floor_price_hourly"), "floor_price_hourly_p20260928")
	counts, err = q.HistoryRowCounts(ctx, c.ID)
	require.NoError(t, err)
	require.Zero(t, counts.FloorHourly)
	require.Equal(t, int64(1), counts.FloorDaily)
	require.Equal(t, int64(1), counts.VolumeDaily)

	// A daily retention deletes old daily rows.
	policy.Daily = 10 * 24 * h
	maintain(d0.Add(20 * 24 * h))
	counts, err = q.HistoryRowCounts(ctx, c.ID)
	require.NoError(t, err)
	require.Zero(t, counts.FloorDaily)
	require.Zero(t, counts.VolumeDaily)
}

// floorRollups lists a collection's hourly (or daily) floor rollups as
// "bucket open low high close".
func floorRollups(t *testing.T, pool db.DBTX, collectionID int64, daily bool) []string {
	t.Helper()
	ctx := context.Background()
	from, to := time.Unix(0, 0), time.Now().Add(1000*24*time.Hour)
	var rows []db.FloorPriceHourly
	if daily {
		days, err := db.New(pool).FloorPriceDailyRange(ctx, db.FloorPriceDailyRangeParams{CollectionID: collectionID, FromTs: from, ToTs: to})
		require.NoError(t, err)
		for _, d := range days {
			rows = append(rows, db.FloorPriceHourly(d))
		}
	} else {
		var err error
		rows, err = db.New(pool).FloorPriceHourlyRange(ctx, db.FloorPriceHourlyRangeParams{CollectionID: collectionID, FromTs: from, ToTs: to})
		require.NoError(t, err)
	}
	out := []string{}
	for _, r := range rows {
		out = append(out, r.BucketStart.UTC().Format(time.RFC3339)+" "+num(t, r.Open)+" "+num(t, r.Low)+" "+num(t, r.High)+" "+num(t, r.Close))
	}
	return out
}
