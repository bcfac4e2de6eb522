package api

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgtype"

	"github.com/nftsync/nftsync/db"
)

// maxHistoryBuckets bounds the buckets one history field may span (a day
// of minutes fits, as do five years of days).
const maxHistoryBuckets = 2000

// historyStep is an interval's bucket length and the rollup tables holding
// its final buckets ("" for raw only).
func historyStep(iv HistoryInterval) (step time.Duration, floorRollup, volumeRollup string, err error) {
	switch iv {
	case HistoryIntervalMinute:
		return time.Minute, "", "", nil
	case HistoryIntervalHour:
		return time.Hour, "floor_price_hourly", "volume_hourly", nil
	case HistoryIntervalDay:
		return 24 * time.Hour, "floor_price_daily", "volume_daily", nil
	}
	return 0, "", "", badInput(fmt.Sprintf("interval: unknown %q", iv))
}

// historyRange validates [from, to) for step and returns the interval as
// SQL wants it.
func historyRange(from, to time.Time, step time.Duration) (pgtype.Interval, error) {
	if !from.Before(to) {
		return pgtype.Interval{}, badInput(fmt.Sprintf("from (%s) must be before to (%s)",
			from.UTC().Format(time.RFC3339), to.UTC().Format(time.RFC3339)))
	}
	// Truncate counts from year 1 UTC: minutes, hours and days align with
	// SQL's date_bin from 2000-01-01 UTC.
	start := from.Truncate(step)
	if n := (to.Sub(start) + step - 1) / step; n > maxHistoryBuckets {
		return pgtype.Interval{}, badInput(fmt.Sprintf("from..to spans %d buckets of %s; at most %d are allowed: narrow the range or use a longer interval",
			n, step, maxHistoryBuckets))
	}
	return pgtype.Interval{Microseconds: step.Microseconds(), Valid: true}, nil
}

func (r *resolver) FloorHistory(ctx context.Context, obj *Collection, from, to time.Time, interval HistoryInterval) ([]*HistoryBucket, error) {
	uncacheable(ctx) // rollup progress (global, not per collection) decides which table answers
	step, rollup, _, err := historyStep(interval)
	if err != nil {
		return nil, err
	}
	iv, err := historyRange(from, to, step)
	if err != nil {
		return nil, err
	}
	rows, err := r.q.APIFloorHistory(ctx, db.APIFloorHistoryParams{Rollup: rollup, Step: iv, FromTs: from, ToTs: to,
		CollectionID: obj.ID, Source: obj.Source})
	if err != nil {
		return nil, fmt.Errorf("floor history %s: %w", obj.Slug, err)
	}
	out := make([]*HistoryBucket, 0, len(rows))
	for _, h := range rows {
		out = append(out, historyBucket(h.BucketStart, h.Currency, h.Decimals, h.Open, h.Low, h.High, h.Close, -1))
	}
	return out, nil
}

func (r *resolver) VolumeHistory(ctx context.Context, obj *Collection, window string, from, to time.Time, interval HistoryInterval) ([]*HistoryBucket, error) {
	uncacheable(ctx) // as FloorHistory
	switch window {
	case "1d", "7d", "30d", "all":
	default:
		return nil, badInput(fmt.Sprintf("window: %q is not one of 1d, 7d, 30d, all", window))
	}
	step, _, rollup, err := historyStep(interval)
	if err != nil {
		return nil, err
	}
	iv, err := historyRange(from, to, step)
	if err != nil {
		return nil, err
	}
	rows, err := r.q.APIVolumeHistory(ctx, db.APIVolumeHistoryParams{Rollup: rollup, Step: iv, FromTs: from, ToTs: to,
		CollectionID: obj.ID, Source: obj.Source, TimeWindow: window})
	if err != nil {
		return nil, fmt.Errorf("volume history %s %s: %w", obj.Slug, window, err)
	}
	out := make([]*HistoryBucket, 0, len(rows))
	for _, h := range rows {
		out = append(out, historyBucket(h.BucketStart, h.Currency, h.Decimals, h.Open, h.Low, h.High, h.Close, h.Sales))
	}
	return out, nil
}

// historyBucket maps a row; "" amounts and negative sales are unknown.
func historyBucket(start time.Time, currency string, decimals int16, open, low, high, closing string, sales int64) *HistoryBucket {
	b := &HistoryBucket{Start: start.UTC(), Currency: currency, Decimals: int(decimals),
		Open: strPtr(open), Low: strPtr(low), High: strPtr(high), Close: strPtr(closing)}
	if sales >= 0 {
		n := int(sales)
		b.Sales = &n
	}
	return b
}

func strPtr(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
