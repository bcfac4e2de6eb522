package jobs

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river/rivertype"

	"github.com/nftsync/nftsync/db"
	"github.com/nftsync/nftsync/internal/indexer"
	"github.com/nftsync/nftsync/internal/ratelimit"
)

// refreshStats is the shared body of fetch_floor_price and fetch_volume. One
// upstream stats call returns floor AND volume, so whichever job calls stores
// both and counts as a refresh of both kinds. The other job, finding a stats
// response stored within Deps.StatsReuse, completes without calling again.
func refreshStats(ctx context.Context, d *Deps, job *rivertype.JobRow, args CollectionArgs, kind string) error {
	c, err := loadCollection(ctx, d, args.CollectionID)
	if err != nil {
		return err
	}
	if err := activeOrSkip(d, ctx, c, kind); err != nil {
		return nil //nolint:nilerr // inactive collections complete without work
	}
	q := db.New(d.DB)
	now := d.now()
	if d.StatsReuse > 0 {
		fresh, err := q.StatsFetchedSince(ctx, db.StatsFetchedSinceParams{CollectionID: c.ID, Source: c.Source, Since: now.Add(-d.StatsReuse)})
		if err != nil {
			return fmt.Errorf("check stats freshness %s: %w", c.Slug, err)
		}
		if fresh {
			d.Logger.DebugContext(ctx, "stats fresh, reusing", slog.String("slug", c.Slug), slog.String("kind", kind))
			return q.ScheduleMarkSuccess(ctx, db.ScheduleMarkSuccessParams{At: now, CollectionID: c.ID, Kind: kind})
		}
	}
	idx, err := d.indexer(c.Source)
	if err != nil {
		return err
	}
	op := "fetch stats " + c.Slug
	stats, err := idx.Stats(withClass(ctx, args, ratelimit.ClassLive), c.Slug)
	if err != nil {
		return handleFetchError(ctx, d, job, c, op, err)
	}
	rows, err := statsRows(c, stats, bucketOf(args, job), now)
	if err != nil {
		// The client validates money already; this guards the database from a
		// client that did not.
		if qerr := recordQuality(ctx, d, job, c, "invalid_value", op, err.Error()); qerr != nil {
			return qerr
		}
		return fmt.Errorf("%s: %w", op, err)
	}
	return withTx(ctx, d, func(tx pgx.Tx) error {
		q := db.New(tx)
		if err := q.FloorPriceUpsert(ctx, rows.floor); err != nil {
			return fmt.Errorf("store floor %s: %w", c.Slug, err)
		}
		for _, v := range rows.volumes {
			if err := q.VolumeUpsert(ctx, v); err != nil {
				return fmt.Errorf("store volume %s %s: %w", c.Slug, v.TimeWindow, err)
			}
		}
		for _, k := range []string{KindFloorPrice, KindVolume} {
			if err := q.ScheduleMarkSuccess(ctx, db.ScheduleMarkSuccessParams{At: rows.floor.FetchedAt, CollectionID: c.ID, Kind: k}); err != nil {
				return fmt.Errorf("mark %s refreshed %s: %w", k, c.Slug, err)
			}
		}
		return nil
	})
}

type statsRowSet struct {
	floor   db.FloorPriceUpsertParams
	volumes []db.VolumeUpsertParams
}

// statsRows validates and converts stats to rows; any invalid amount rejects
// the whole response so nothing partial is stored.
func statsRows(c *db.Collection, s *indexer.Stats, bucket, now time.Time) (*statsRowSet, error) {
	fetched := s.FetchedAt
	if fetched.IsZero() {
		fetched = now
	}
	out := &statsRowSet{floor: db.FloorPriceUpsertParams{
		CollectionID: c.ID, Source: c.Source, AsOfBucket: bucket, Currency: "ETH", Decimals: 18,
		Owners: pgInt8(s.Owners), FetchedAt: fetched, SourceAsOf: pgTime(s.SourceAsOf),
	}}
	if s.Floor != nil {
		amt, err := pgNumeric(s.Floor.Amount)
		if err != nil {
			return nil, fmt.Errorf("floor price: %w", err)
		}
		out.floor.Amount, out.floor.Currency, out.floor.Decimals = amt, s.Floor.Currency, int16(s.Floor.Decimals)
	}
	for _, v := range s.Volumes {
		if v.Amount.Amount == "" {
			return nil, fmt.Errorf("volume %s: empty amount", v.Window)
		}
		amt, err := pgNumeric(v.Amount.Amount)
		if err != nil {
			return nil, fmt.Errorf("volume %s: %w", v.Window, err)
		}
		if v.Sales < 0 {
			return nil, fmt.Errorf("volume %s: negative sales %d", v.Window, v.Sales)
		}
		out.volumes = append(out.volumes, db.VolumeUpsertParams{
			CollectionID: c.ID, Source: c.Source, TimeWindow: string(v.Window), AsOfBucket: bucket,
			Amount: amt, Currency: v.Amount.Currency, Decimals: int16(v.Amount.Decimals),
			Sales: pgInt8(v.Sales), Owners: pgInt8(s.Owners), FetchedAt: fetched, SourceAsOf: pgTime(s.SourceAsOf),
		})
	}
	return out, nil
}
