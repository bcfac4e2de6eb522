package jobs

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"github.com/nftsync/nftsync/db"
)

// MaintainHistoryArgs is the periodic upkeep of the market history: it
// creates partitions ahead, rolls raw history up into hourly and daily
// open/low/high/close rows, and drops what is past its retention.
type MaintainHistoryArgs struct{}

// Kind is stable; never rename it.
func (MaintainHistoryArgs) Kind() string { return "maintain_history" }

// InsertOpts: maintenance queue, one unfinished run at a time (a run that
// continues after a bounded batch is not doubled by the next tick).
func (MaintainHistoryArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueueMaintenance, MaxAttempts: 5, UniqueOpts: uniquePending()}
}

// HistoryPolicy is how long each resolution of the market history is kept
// and how much one maintenance run does.
type HistoryPolicy struct {
	// Raw is how long raw change-based rows are kept (whole UTC days: a
	// day's partition goes once all of it is older than Raw and rolled up).
	// 0 means 7 days.
	Raw time.Duration
	// Hourly is how long hourly rollups are kept (weekly partitions). 0
	// means 90 days.
	Hourly time.Duration
	// Daily is how long daily rollups are kept; 0 keeps them forever.
	Daily time.Duration
	// Batch is the most collections one rollup statement covers; 0 means
	// 1000.
	Batch int32
	// Statements bounds the rollup statements of one run; when work is
	// left the run snoozes a second and continues. 0 means 100.
	Statements int
	// Sales is how long the sales ledger keeps a sale (by its sale time):
	// older sales are deleted, SalesBatch at a time. A token whose last
	// sale is older has no last sale any more. 0 means 35 days (the
	// ledger serves one day live; a month of recent sales is kept); it
	// must be at least MinSalesRetention.
	Sales time.Duration
	// SalesBatch is the most sales one delete statement removes (each in
	// its own short transaction, locking only those rows); a run deletes
	// at most 10 batches and continues in the next pass. 0 means 5000.
	SalesBatch int32
}

// DefaultSalesRetention is how long sales are kept by default.
const DefaultSalesRetention = 35 * 24 * time.Hour

// MinSalesRetention is the shortest sales retention: two days, so that the
// 1-day window the ledger serves live (and the cross-check's edges) are
// never deleted.
const MinSalesRetention = 48 * time.Hour

// maxSalesBatches bounds the sales delete statements of one run.
const maxSalesBatches = 10

// DefaultHistoryPolicy is raw for 7 days, hourly for 90 days, daily forever,
// sales for 35 days.
func DefaultHistoryPolicy() HistoryPolicy {
	return HistoryPolicy{Raw: 7 * 24 * time.Hour, Hourly: 90 * 24 * time.Hour, Sales: DefaultSalesRetention}
}

// Validate reports a policy that cannot be applied, naming the field.
func (p HistoryPolicy) Validate() error {
	if p.Sales != 0 && p.Sales < MinSalesRetention {
		return fmt.Errorf("history policy: sales retention %s is shorter than the minimum %s (the ledger serves the last day live)", p.Sales, MinSalesRetention)
	}
	if p.SalesBatch < 0 {
		return fmt.Errorf("history policy: sales batch %d is negative", p.SalesBatch)
	}
	return nil
}

func (p HistoryPolicy) withDefaults() HistoryPolicy {
	def := DefaultHistoryPolicy()
	if p.Raw <= 0 {
		p.Raw = def.Raw
	}
	if p.Hourly <= 0 {
		p.Hourly = def.Hourly
	}
	if p.Batch <= 0 {
		p.Batch = 1000
	}
	if p.Statements <= 0 {
		p.Statements = 100
	}
	if p.Sales <= 0 {
		p.Sales = def.Sales
	}
	if p.SalesBatch <= 0 {
		p.SalesBatch = 5000
	}
	return p
}

// MaintainHistoryWorker works MaintainHistoryArgs.
type MaintainHistoryWorker struct {
	river.WorkerDefaults[MaintainHistoryArgs]
	Deps   *Deps
	Policy HistoryPolicy
}

// Work runs one bounded pass and snoozes briefly to continue when work is
// left (no attempt spent).
func (w *MaintainHistoryWorker) Work(ctx context.Context, _ *river.Job[MaintainHistoryArgs]) error {
	res, err := MaintainHistory(ctx, w.Deps, w.Policy)
	if err != nil {
		return err
	}
	if res.Rollups > 0 || res.Dropped > 0 || res.Deleted > 0 || res.SalesDeleted > 0 {
		w.Deps.Logger.DebugContext(ctx, "history maintained", slog.Int("rollup_statements", res.Rollups),
			slog.Int("partitions_dropped", res.Dropped), slog.Int64("daily_rows_deleted", res.Deleted),
			slog.Int64("sales_deleted", res.SalesDeleted))
	}
	if res.More {
		return river.JobSnooze(time.Second)
	}
	return nil
}

// MaintenanceResult says what one pass did.
type MaintenanceResult struct {
	Rollups int   // rollup statements run
	Dropped int   // partitions dropped
	Deleted int64 // daily rows deleted
	// SalesDeleted counts the sales deleted past the sales retention.
	SalesDeleted int64
	More         bool // work is left for another pass
}

// rollupLag is how long after an hour ends it is rolled up, so that fetches
// in flight at the turn of the hour are stored first.
const rollupLag = 5 * time.Minute

// rollupTarget is one rollup table: its step, what it is rolled up from,
// and the statement that rolls one bucket up for a batch of collections.
type rollupTarget struct {
	name     string
	step     time.Duration
	unit     string // partition unit of the target; "" when not partitioned
	from     string // the hourly target a daily target reads; "" for raw
	rollup   func(ctx context.Context, q *db.Queries, bucket time.Time, after int64, batch int32) (last int64, n int32, err error)
	raw      string // raw table an hourly target reads (its partitions are dropped after rollup)
	dailyKey string // the daily target reading this hourly target
}

var rollupTargets = []rollupTarget{ //nolint:gochecknoglobals // read-only table
	{name: "floor_price_hourly", step: time.Hour, unit: "week", raw: "floor_price_history", dailyKey: "floor_price_daily",
		rollup: func(ctx context.Context, q *db.Queries, b time.Time, after int64, n int32) (int64, int32, error) {
			r, err := q.FloorPriceRollupHour(ctx, db.FloorPriceRollupHourParams{AfterCollection: after, Batch: n, Bucket: b})
			return r.LastCollection, r.Collections, err
		}},
	{name: "volume_hourly", step: time.Hour, unit: "week", raw: "volume_history", dailyKey: "volume_daily",
		rollup: func(ctx context.Context, q *db.Queries, b time.Time, after int64, n int32) (int64, int32, error) {
			r, err := q.VolumeRollupHour(ctx, db.VolumeRollupHourParams{AfterCollection: after, Batch: n, Bucket: b})
			return r.LastCollection, r.Collections, err
		}},
	{name: "floor_price_daily", step: 24 * time.Hour, from: "floor_price_hourly",
		rollup: func(ctx context.Context, q *db.Queries, b time.Time, after int64, n int32) (int64, int32, error) {
			r, err := q.FloorPriceRollupDay(ctx, db.FloorPriceRollupDayParams{AfterCollection: after, Batch: n, Bucket: b})
			return r.LastCollection, r.Collections, err
		}},
	{name: "volume_daily", step: 24 * time.Hour, from: "volume_hourly",
		rollup: func(ctx context.Context, q *db.Queries, b time.Time, after int64, n int32) (int64, int32, error) {
			r, err := q.VolumeRollupDay(ctx, db.VolumeRollupDayParams{AfterCollection: after, Batch: n, Bucket: b})
			return r.LastCollection, r.Collections, err
		}},
}

// MaintainHistory runs one bounded maintenance pass at d's clock:
//  1. partitions: raw days from yesterday to 4 days ahead, hourly weeks
//     from last week to 2 weeks ahead;
//  2. hourly rollups of every complete hour (in batches of collections,
//     progress kept in history_rollup_state), then daily rollups of every
//     day whose hours are all rolled up;
//  3. raw partitions older than p.Raw and rolled up, and hourly partitions
//     older than p.Hourly and rolled up into days, are dropped; daily rows
//     older than p.Daily (when set) are deleted in batches;
//  4. sales sold before p.Sales ago are deleted in batches of p.SalesBatch
//     (at most maxSalesBatches per pass).
func MaintainHistory(ctx context.Context, d *Deps, p HistoryPolicy) (MaintenanceResult, error) {
	if err := p.Validate(); err != nil {
		return MaintenanceResult{}, err
	}
	p = p.withDefaults()
	now := d.now()
	q := db.New(d.DB)
	var res MaintenanceResult
	if err := ensureHistoryPartitions(ctx, q, now); err != nil {
		return res, err
	}
	start, err := q.HistoryOldest(ctx, now)
	if err != nil {
		return res, fmt.Errorf("history start: %w", err)
	}
	budget := p.Statements
	done := map[string]time.Time{}
	for _, t := range rollupTargets {
		limit := now.Add(-rollupLag).Truncate(t.step)
		if t.from != "" {
			limit = done[t.from].Truncate(t.step)
		}
		until, n, more, err := rollUp(ctx, d, t, start.Truncate(t.step), limit, p.Batch, budget)
		if err != nil {
			return res, err
		}
		done[t.name] = until
		res.Rollups += n
		budget -= n
		res.More = res.More || more
	}
	for _, t := range rollupTargets {
		var parent string
		var before time.Time
		switch {
		case t.raw != "":
			parent, before = t.raw, earliest(now.Add(-p.Raw), done[t.name])
		case t.from != "":
			parent, before = t.from, earliest(now.Add(-p.Hourly), done[t.name])
		}
		n, err := q.HistoryDropPartitions(ctx, db.HistoryDropPartitionsParams{Parent: parent, BeforeTs: before})
		if err != nil {
			return res, fmt.Errorf("drop %s partitions before %s: %w", parent, before.Format(time.RFC3339), err)
		}
		res.Dropped += int(n)
	}
	if p.Daily > 0 {
		before, most := now.Add(-p.Daily), p.Batch*10
		f, err := q.FloorPriceDailyDeleteBefore(ctx, db.FloorPriceDailyDeleteBeforeParams{BeforeTs: before, MaxRows: most})
		if err != nil {
			return res, fmt.Errorf("delete old daily floor rows: %w", err)
		}
		v, err := q.VolumeDailyDeleteBefore(ctx, db.VolumeDailyDeleteBeforeParams{BeforeTs: before, MaxRows: most})
		if err != nil {
			return res, fmt.Errorf("delete old daily volume rows: %w", err)
		}
		res.Deleted = f + v
		res.More = res.More || f == int64(most) || v == int64(most)
	}
	n, more, err := deleteOldSales(ctx, q, now.Add(-p.Sales), p.SalesBatch)
	res.SalesDeleted = n
	res.More = res.More || more
	return res, err
}

// deleteOldSales deletes sales sold before before, batch at a time, each
// statement its own transaction (so no lock is held past a batch and the
// ingestion of new sales never waits long), at most maxSalesBatches
// statements; more says a full last batch left possibly more.
func deleteOldSales(ctx context.Context, q *db.Queries, before time.Time, batch int32) (deleted int64, more bool, err error) {
	for range maxSalesBatches {
		n, err := q.SalesDeleteBefore(ctx, db.SalesDeleteBeforeParams{BeforeTs: before, MaxRows: batch})
		if err != nil {
			return deleted, false, fmt.Errorf("delete sales sold before %s: %w", before.UTC().Format(time.RFC3339), err)
		}
		deleted += n
		if n < int64(batch) {
			return deleted, false, nil
		}
	}
	return deleted, true, nil
}

// rollUp rolls target t's buckets before limit up, at most budget
// statements, each in its own transaction with its progress. It returns
// the time up to which every bucket is rolled up, the statements run and
// whether buckets before limit are left.
func rollUp(ctx context.Context, d *Deps, t rollupTarget, start, limit time.Time, batch int32, budget int) (time.Time, int, bool, error) {
	if err := db.New(d.DB).RollupStateInit(ctx, db.RollupStateInitParams{Target: t.name, Start: start}); err != nil {
		return time.Time{}, 0, false, fmt.Errorf("init %s rollup: %w", t.name, err)
	}
	var (
		until time.Time
		n     int
		left  bool
	)
	for {
		stop := false
		err := withTx(ctx, d, func(tx pgx.Tx) error {
			q := db.New(tx)
			st, err := q.RollupStateGet(ctx, t.name)
			if err != nil {
				return fmt.Errorf("load %s rollup state: %w", t.name, err)
			}
			until = st.DoneUntil
			complete := !st.DoneUntil.Add(t.step).After(limit)
			if !complete || n >= budget {
				left, stop = complete, true
				return nil
			}
			bucket := st.DoneUntil.UTC()
			if t.unit != "" {
				if _, err := q.HistoryEnsurePartitions(ctx, db.HistoryEnsurePartitionsParams{
					Parent: t.name, Unit: t.unit, FromTs: bucket, ToTs: bucket.Add(t.step),
				}); err != nil {
					return fmt.Errorf("partition %s for %s: %w", t.name, bucket.Format(time.RFC3339), err)
				}
			}
			last, covered, err := t.rollup(ctx, q, bucket, st.AfterCollection, batch)
			if err != nil {
				return fmt.Errorf("roll %s up for %s: %w", t.name, bucket.Format(time.RFC3339), err)
			}
			n++
			next := db.RollupStateSetParams{Target: t.name, DoneUntil: bucket, AfterCollection: last}
			if covered < batch { // no collection left in this bucket
				next.DoneUntil, next.AfterCollection = bucket.Add(t.step), 0
			}
			return q.RollupStateSet(ctx, next)
		})
		if err != nil || stop {
			return until, n, left && err == nil, err
		}
	}
}

// ensureHistoryPartitions creates the raw history partitions from the day
// before at to 4 days after it, and the hourly rollup partitions from the
// week before to 2 weeks after.
func ensureHistoryPartitions(ctx context.Context, q *db.Queries, at time.Time) error {
	for _, p := range []db.HistoryEnsurePartitionsParams{
		{Parent: "floor_price_history", Unit: "day", FromTs: at.Add(-24 * time.Hour), ToTs: at.Add(4 * 24 * time.Hour)},
		{Parent: "volume_history", Unit: "day", FromTs: at.Add(-24 * time.Hour), ToTs: at.Add(4 * 24 * time.Hour)},
		{Parent: "floor_price_hourly", Unit: "week", FromTs: at.Add(-7 * 24 * time.Hour), ToTs: at.Add(14 * 24 * time.Hour)},
		{Parent: "volume_hourly", Unit: "week", FromTs: at.Add(-7 * 24 * time.Hour), ToTs: at.Add(14 * 24 * time.Hour)},
	} {
		if _, err := q.HistoryEnsurePartitions(ctx, p); err != nil {
			return fmt.Errorf("create %s partitions: %w", p.Parent, err)
		}
	}
	return nil
}

func earliest(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}
