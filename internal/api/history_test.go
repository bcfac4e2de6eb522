package api_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgtype"
	"github.com/stretchr/testify/require"

	"github.com/nftsync/nftsync/db"
	"github.com/nftsync/nftsync/internal/admin"
)

// bucket is one history bucket as the API answers it.
type bucket struct {
	Start    time.Time `json:"start"`
	Currency string    `json:"currency"`
	Decimals int       `json:"decimals"`
	Open     *string   `json:"open"`
	Low      *string   `json:"low"`
	High     *string   `json:"high"`
	Close    *string   `json:"close"`
	Sales    *int      `json:"sales"`
}

// eth formats a decimal as numeric(78,18) prints it ("" is null).
func eth(s string) *string {
	if s == "" {
		return nil
	}
	whole, frac, _ := strings.Cut(s, ".")
	out := whole + "." + frac + strings.Repeat("0", 18-len(frac))
	return &out
}

// ohlc is an expected ETH bucket.
func ohlc(start time.Time, o, l, h, c string) bucket {
	return bucket{Start: start, Currency: "ETH", Decimals: 18, Open: eth(o), Low: eth(l), High: eth(h), Close: eth(c)}
}

const historyQuery = `query($slug: String!, $from: Time!, $to: Time!, $interval: HistoryInterval!, $window: String!) {
	collection(slug: $slug) {
		floorHistory(from: $from, to: $to, interval: $interval) { start currency decimals open low high close sales }
		volumeHistory(window: $window, from: $from, to: $to, interval: $interval) { start currency decimals open low high close sales }
	} }`

type historyAnswer struct {
	Collection struct {
		FloorHistory  []bucket `json:"floorHistory"`
		VolumeHistory []bucket `json:"volumeHistory"`
	} `json:"collection"`
}

func (b *testBundle) history(t *testing.T, from, to time.Time, interval, window string) historyAnswer {
	t.Helper()
	var out historyAnswer
	b.data(t, "", historyQuery, map[string]any{"slug": "hist", "from": from, "to": to, "interval": interval, "window": window}, &out)
	return out
}

// The history of one collection, observed through the write path, answered
// per MINUTE, HOUR and DAY from the raw runs, then again for HOUR and DAY
// after the first day is rolled up and its raw partition dropped.
func TestHistory(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	ctx := context.Background()
	q := db.New(b.pool)
	c, err := b.admin.Track(ctx, "test", admin.TrackParams{Slug: "hist"})
	require.NoError(t, err)
	day1 := time.Date(2026, 1, 10, 0, 0, 0, 0, time.UTC)
	day2 := day1.AddDate(0, 0, 1)
	at := func(d time.Time, hms string) time.Time {
		x, err := time.Parse("15:04:05", hms)
		require.NoError(t, err)
		return d.Add(time.Duration(x.Hour())*time.Hour + time.Duration(x.Minute())*time.Minute + time.Duration(x.Second())*time.Second)
	}
	for _, p := range []struct{ table, unit string }{{"floor_price_history", "day"}, {"volume_history", "day"},
		{"floor_price_hourly", "week"}, {"volume_hourly", "week"}} {
		_, err := q.HistoryEnsurePartitions(ctx, db.HistoryEnsurePartitionsParams{Parent: p.table, Unit: p.unit, FromTs: day1, ToTs: day2.AddDate(0, 0, 1)})
		require.NoError(t, err)
	}
	floor := func(ts time.Time, amount string) {
		var n pgtype.Numeric
		if amount != "" {
			n = numeric(t, amount)
		}
		require.NoError(t, q.FloorPriceObserve(ctx, db.FloorPriceObserveParams{CollectionID: c.ID, Source: "opensea",
			Amount: n, Currency: "ETH", Decimals: 18, SeenAt: ts}))
	}
	volume := func(ts time.Time, window, amount string, sales int64) {
		require.NoError(t, q.VolumeObserve(ctx, db.VolumeObserveParams{CollectionID: c.ID, Source: "opensea", TimeWindow: window,
			Amount: numeric(t, amount), Currency: "ETH", Decimals: 18, Sales: pgtype.Int8{Int64: sales, Valid: true}, SeenAt: ts}))
	}
	// Floor runs: 1.0 [10:00:10], 1.2 [10:00:40], 0.9 [10:01:20..10:01:50],
	// 1.5 [10:03:05], 2.000000000000000001 [11:30..11:59]; day 2: 2.0
	// [00:30] (a new day starts a new run), 0.5 [05:00], no floor [06:00].
	floor(at(day1, "10:00:10"), "1.0")
	floor(at(day1, "10:00:40"), "1.2")
	floor(at(day1, "10:01:20"), "0.9")
	floor(at(day1, "10:01:50"), "0.9")
	floor(at(day1, "10:03:05"), "1.5")
	floor(at(day1, "11:30:00"), "2.000000000000000001")
	floor(at(day1, "11:59:00"), "2.000000000000000001")
	floor(at(day2, "00:30:00"), "2.000000000000000001")
	floor(at(day2, "05:00:00"), "0.5")
	floor(at(day2, "06:00:00"), "")
	// Volume 1d: 10 (3 sales) [10:00:10], 12 (4) [10:00:50], 11 (4) [10:05];
	// day 2: 20 (9) [01:00]. 7d: 100 (30) [10:00:10], not in 1d's buckets.
	volume(at(day1, "10:00:10"), "1d", "10", 3)
	volume(at(day1, "10:00:50"), "1d", "12", 4)
	volume(at(day1, "10:05:00"), "1d", "11", 4)
	volume(at(day2, "01:00:00"), "1d", "20", 9)
	volume(at(day1, "10:00:10"), "7d", "100", 30)

	withSales := func(x bucket, n int) bucket { x.Sales = &n; return x }

	// MINUTE from 10:00:30 (its minute is included) to 10:04: the gap at
	// 10:02 stays a gap.
	m := b.history(t, at(day1, "10:00:30"), at(day1, "10:04:00"), "MINUTE", "1d")
	require.Equal(t, []bucket{
		ohlc(at(day1, "10:00:00"), "1.0", "1.0", "1.2", "1.2"),
		ohlc(at(day1, "10:01:00"), "0.9", "0.9", "0.9", "0.9"),
		ohlc(at(day1, "10:03:00"), "1.5", "1.5", "1.5", "1.5"),
	}, m.Collection.FloorHistory)
	require.Equal(t, []bucket{withSales(ohlc(at(day1, "10:00:00"), "10", "10", "12", "12"), 4)}, m.Collection.VolumeHistory)

	hourly := []bucket{
		ohlc(at(day1, "10:00:00"), "1.0", "0.9", "1.5", "1.5"),
		ohlc(at(day1, "11:00:00"), "2.000000000000000001", "2.000000000000000001", "2.000000000000000001", "2.000000000000000001"),
	}
	hourlyVolume := []bucket{withSales(ohlc(at(day1, "10:00:00"), "10", "10", "12", "11"), 4)}
	daily := []bucket{
		ohlc(day1, "1.0", "0.9", "2.000000000000000001", "2.000000000000000001"),
		ohlc(day2, "2.000000000000000001", "0.5", "2.000000000000000001", ""),
	}
	dailyVolume := []bucket{
		withSales(ohlc(day1, "10", "10", "12", "11"), 4),
		withSales(ohlc(day2, "20", "20", "20", "20"), 9),
	}
	check := func(step string) {
		h := b.history(t, day1, day2, "HOUR", "1d")
		require.Equal(t, hourly, h.Collection.FloorHistory, step)
		require.Equal(t, hourlyVolume, h.Collection.VolumeHistory, step)
		d := b.history(t, day1.Add(time.Hour), day2.AddDate(0, 0, 1), "DAY", "1d")
		require.Equal(t, daily, d.Collection.FloorHistory, step)
		require.Equal(t, dailyVolume, d.Collection.VolumeHistory, step)
		w := b.history(t, day1, day2, "DAY", "7d")
		require.Equal(t, []bucket{withSales(ohlc(day1, "100", "100", "100", "100"), 30)}, w.Collection.VolumeHistory, step)
	}
	check("from raw")

	// Roll day 1 up as the maintenance job does, mark it final and drop its
	// raw rows: HOUR and DAY read day 1 from the rollups, day 2 still raw.
	for hr := day1; hr.Before(day2); hr = hr.Add(time.Hour) {
		_, err := q.FloorPriceRollupHour(ctx, db.FloorPriceRollupHourParams{Bucket: hr, Batch: 100})
		require.NoError(t, err)
		_, err = q.VolumeRollupHour(ctx, db.VolumeRollupHourParams{Bucket: hr, Batch: 100})
		require.NoError(t, err)
	}
	_, err = q.FloorPriceRollupDay(ctx, db.FloorPriceRollupDayParams{Bucket: day1, Batch: 100})
	require.NoError(t, err)
	_, err = q.VolumeRollupDay(ctx, db.VolumeRollupDayParams{Bucket: day1, Batch: 100})
	require.NoError(t, err)
	for _, target := range []string{"floor_price_hourly", "volume_hourly", "floor_price_daily", "volume_daily"} {
		require.NoError(t, q.RollupStateInit(ctx, db.RollupStateInitParams{Target: target, Start: day2}))
		require.NoError(t, q.RollupStateSet(ctx, db.RollupStateSetParams{Target: target, DoneUntil: day2}))
	}
	for _, raw := range []string{"floor_price_history", "volume_history"} {
		n, err := q.HistoryDropPartitions(ctx, db.HistoryDropPartitionsParams{Parent: raw, BeforeTs: day2})
		require.NoError(t, err)
		require.Positive(t, n)
	}
	gone := b.history(t, at(day1, "10:00:00"), at(day1, "10:04:00"), "MINUTE", "1d")
	require.Empty(t, gone.Collection.FloorHistory, "MINUTE reads raw rows only, and day 1's are dropped")
	check("from rollups")
}

func TestHistoryBadArguments(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	_, err := b.admin.Track(context.Background(), "test", admin.TrackParams{Slug: "hist"})
	require.NoError(t, err)
	t0 := time.Date(2026, 1, 10, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name     string
		from, to time.Time
		interval string
		window   string
		message  string
	}{
		{"from equals to", t0, t0, "HOUR", "1d", "must be before to"},
		{"from after to", t0, t0.Add(-time.Hour), "DAY", "1d", "must be before to"},
		{"too many minutes", t0, t0.Add(2 * 24 * time.Hour), "MINUTE", "1d", "spans 2880 buckets of 1m0s; at most 2000"},
		{"too many days", t0, t0.AddDate(6, 0, 0), "DAY", "1d", "at most 2000"},
		{"unknown window", t0, t0.Add(time.Hour), "HOUR", "2d", `window: "2d" is not one of`},
	} {
		r := b.query(t, "", historyQuery, map[string]any{"slug": "hist", "from": tc.from, "to": tc.to, "interval": tc.interval, "window": tc.window})
		require.NotEmpty(t, r.Errors, tc.name)
		require.Equal(t, admin.CodeBadInput, r.code(), tc.name)
		require.Contains(t, r.Errors[0].Message, tc.message, tc.name)
	}
	// The largest allowed span is answered.
	ok := b.query(t, "", historyQuery, map[string]any{"slug": "hist", "from": t0, "to": t0.Add(2000 * time.Minute), "interval": "MINUTE", "window": "all"})
	require.Empty(t, ok.Errors)
	// An unknown interval fails GraphQL validation.
	r := b.query(t, "", historyQuery, map[string]any{"slug": "hist", "from": t0, "to": t0.Add(time.Hour), "interval": "WEEK", "window": "1d"})
	require.NotEmpty(t, r.Errors)
	require.Contains(t, r.Errors[0].Message, "WEEK")
}
