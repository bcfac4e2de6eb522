package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/nftsync/nftsync/db"
	"github.com/nftsync/nftsync/internal/indexer"
	"github.com/nftsync/nftsync/internal/ratelimit"
)

// refreshMarketStats is the shared body of fetch_floor_price (kind floor_price)
// and fetch_volume (kind volume). One upstream market stats call returns floor AND
// volume, and both kinds are usually due in the same planning round, so the
// call is a single flight per collection (the stats_fetches row):
//
//   - a stored response fetched in this job's round (at or after the job's
//     bucket, and no older than the kind's interval) is used without calling;
//   - else, when another job holds the lease (it is calling now), this job
//     snoozes briefly and looks again;
//   - else it takes the lease, calls, and stores the response for the other
//     kind of the round.
//
// Each job stores only its own kind's rows and marks only its own schedule,
// so each kind is refreshed at its own interval, never staler.
func refreshMarketStats(ctx context.Context, d *Deps, job *rivertype.JobRow, args CollectionArgs, kind string) error {
	c, err := loadCollection(ctx, d, args.CollectionID)
	if err != nil {
		return err
	}
	if err := activeOrSkip(d, ctx, c, kind); err != nil {
		return nil //nolint:nilerr // inactive collections complete without work
	}
	now := d.now()
	// A floor a live stream keeps current is fetched only as a reconcile:
	// under the bulk class, and checked against the stream's floor. So is
	// the volume while the sales ledger serves the 1-day figure.
	streamed, covered, err := streamLive(ctx, d, c, now)
	if err != nil {
		return err
	}
	bulk := streamed && (kind == RefreshFloorPrice || kind == RefreshVolume && covered)
	freshFrom, err := marketStatsFreshFrom(ctx, d, c, kind, plannedAt(args, job), now)
	if err != nil {
		return err
	}
	stats, err := claimMarketStats(ctx, d, job, c, freshFrom, now)
	if err != nil {
		return err
	}
	reused := stats != nil
	op := "fetch stats " + c.Slug
	if !reused {
		class := ratelimit.ClassLive
		if bulk {
			class = ratelimit.ClassBulk
		}
		stats, err = fetchMarketStats(ctx, d, job, c, args, class)
		if err != nil {
			return handleFetchError(ctx, d, job, c, op, err)
		}
	} else {
		d.Logger.DebugContext(ctx, "stats fetched this round, reusing", slog.String("slug", c.Slug), slog.String("kind", kind))
	}
	rows, err := marketStatsRows(ctx, d, c, stats, kind)
	if err == nil {
		err = storeMarketStats(ctx, d, job, c, stats, rows, kind, !reused)
	}
	if err != nil {
		if !reused {
			releaseMarketStats(ctx, d, job, c)
		}
		var qe *qualityError
		if errors.As(err, &qe) {
			if qerr := recordQuality(ctx, d, job, c, qe.kind, op, qe.Error()); qerr != nil {
				return qerr
			}
			if qe.permanent {
				return river.JobCancel(fmt.Errorf("%s: %w", op, err))
			}
		}
		return fmt.Errorf("%s: %w", op, err)
	}
	if covered {
		if err := checkLedger(ctx, d, job, c, stats, rows.seenAt); err != nil {
			return err
		}
	}
	if streamed && kind == RefreshFloorPrice {
		return reconcileStreamFloor(ctx, d, job, c, rows.floor)
	}
	return nil
}

// marketStatsFreshFrom is the oldest fetch time a job of kind may use: its round
// (bucket), and never older than the kind's interval.
func marketStatsFreshFrom(ctx context.Context, d *Deps, c *db.Collection, kind string, bucket, now time.Time) (time.Time, error) {
	from := bucket
	s, err := db.New(d.DB).ScheduleGet(ctx, db.ScheduleGetParams{CollectionID: c.ID, Kind: kind})
	switch {
	case err == nil:
		if oldest := now.Add(-time.Duration(s.IntervalSeconds) * time.Second); oldest.After(from) {
			from = oldest
		}
	case !errors.Is(db.Interpret(err), db.ErrNotFound):
		return time.Time{}, fmt.Errorf("load %s schedule %s: %w", kind, c.Slug, err)
	}
	return from, nil
}

// marketStatsInFlightPolls are the pauses after which a job that found the
// other kind's market stats call of its round in flight looks again, before it
// gives up and snoozes: such a call usually ends within a fraction of a
// second, and looking again within the job costs one read where a snooze
// costs a River round trip, a re-run and at least a second of latency.
// 775 ms in all, during which the job holds its worker.
var marketStatsInFlightPolls = []time.Duration{ //nolint:gochecknoglobals // read-only
	25 * time.Millisecond, 50 * time.Millisecond, 100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond,
}

// claimMarketStats decides, under the collection's single-flight row lock,
// whether to reuse a stored response (returned) or to call (nil, nil: the
// lease is this job's). While another job's call is in flight it reads the
// lease (without a lock or a transaction) after each of marketStatsInFlightPolls
// and claims again once the lease is gone; it snoozes when the call is still
// in flight after the last one.
func claimMarketStats(ctx context.Context, d *Deps, job *rivertype.JobRow, c *db.Collection, freshFrom, now time.Time) (*indexer.Stats, error) {
	stats, err := claimMarketStatsOnce(ctx, d, job, c, freshFrom, now)
	var busy *marketStatsInFlight
	if !errors.As(err, &busy) {
		return stats, err
	}
	d.Logger.DebugContext(ctx, "stats call in flight, waiting", slog.String("slug", c.Slug), slog.Int64("holder", busy.holder))
	for _, pause := range marketStatsInFlightPolls {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(pause):
		}
		now = d.now()
		lease, err := db.New(d.DB).StatsFetchPeek(ctx, db.StatsFetchPeekParams{CollectionID: c.ID, Source: c.Source})
		if err != nil && !errors.Is(db.Interpret(err), db.ErrNotFound) {
			return nil, fmt.Errorf("look at stats call %s: %w", c.Slug, err)
		}
		if err == nil && leaseHeldByOther(lease.LeaseJob, lease.LeaseUntil, job, now) {
			continue
		}
		stats, err = claimMarketStatsOnce(ctx, d, job, c, freshFrom, now)
		if !errors.As(err, &busy) {
			return stats, err
		}
	}
	return nil, river.JobSnooze(busy.wait)
}

// leaseHeldByOther reports whether a job other than job holds an unexpired
// market stats lease.
func leaseHeldByOther(holder pgtype.Int8, until pgtype.Timestamptz, job *rivertype.JobRow, now time.Time) bool {
	return holder.Valid && holder.Int64 != job.ID && until.Valid && until.Time.After(now)
}

// marketStatsInFlight says another job holds the market stats lease; wait is how long to
// snooze for it.
type marketStatsInFlight struct {
	holder int64
	wait   time.Duration
}

func (e *marketStatsInFlight) Error() string {
	return fmt.Sprintf("stats call of job %d in flight", e.holder)
}

// claimMarketStatsOnce is one look at the single-flight row: a stored response
// fresh enough, a *marketStatsInFlight error, or the lease taken.
func claimMarketStatsOnce(ctx context.Context, d *Deps, job *rivertype.JobRow, c *db.Collection, freshFrom, now time.Time) (*indexer.Stats, error) {
	var stats *indexer.Stats
	err := withTx(ctx, d, func(tx pgx.Tx) error {
		q := db.New(tx)
		row, err := q.StatsFetchClaim(ctx, db.StatsFetchClaimParams{CollectionID: c.ID, Source: c.Source})
		if err != nil {
			return fmt.Errorf("claim stats %s: %w", c.Slug, err)
		}
		if row.FetchedAt.Valid && !row.FetchedAt.Time.Before(freshFrom) && len(row.Response) > 0 {
			var s indexer.Stats
			if err := json.Unmarshal(row.Response, &s); err == nil {
				stats = &s
				return nil
			}
			// An unreadable stored response is not reused: fetch again.
		}
		if leaseHeldByOther(row.LeaseJob, row.LeaseUntil, job, now) {
			wait := min(row.LeaseUntil.Time.Sub(now), time.Second) + time.Duration(rand.Int64N(int64(250*time.Millisecond)))
			return &marketStatsInFlight{holder: row.LeaseJob.Int64, wait: wait}
		}
		return q.StatsFetchLease(ctx, db.StatsFetchLeaseParams{
			JobID: pgInt8(job.ID), LeaseUntil: pgTime(now.Add(d.marketStatsLeaseTTL())), CollectionID: c.ID, Source: c.Source,
		})
	})
	if err != nil {
		return nil, err
	}
	return stats, nil
}

// fetchMarketStats calls upstream under the job's rate-limit class (class
// unless the refresh is manual).
func fetchMarketStats(ctx context.Context, d *Deps, job *rivertype.JobRow, c *db.Collection, args CollectionArgs, class ratelimit.Class) (*indexer.Stats, error) {
	idx, err := d.indexer(c.Source)
	if err == nil {
		var s *indexer.Stats
		s, err = idx.Stats(withClass(ctx, args, class), c.Slug)
		if err == nil {
			return s, nil
		}
	}
	releaseMarketStats(ctx, d, job, c)
	return nil, err
}

// releaseMarketStats gives the lease up so that the other kind's job calls
// without waiting for the lease to expire. Best effort: an expired lease
// frees itself.
func releaseMarketStats(ctx context.Context, d *Deps, job *rivertype.JobRow, c *db.Collection) {
	if err := db.New(d.DB).StatsFetchRelease(context.WithoutCancel(ctx), db.StatsFetchReleaseParams{
		CollectionID: c.ID, Source: c.Source, JobID: pgInt8(job.ID),
	}); err != nil {
		d.Logger.WarnContext(ctx, "release stats lease", slog.String("slug", c.Slug), slog.String("error", err.Error()))
	}
}

// storeMarketStats records the job's kind from stats in one transaction (with the
// response itself when this job fetched it) and marks the kind refreshed.
// A missing history partition (the maintenance job has not run yet for that
// day) is created and the store tried once more.
func storeMarketStats(ctx context.Context, d *Deps, job *rivertype.JobRow, c *db.Collection, stats *indexer.Stats, rows *marketStatsRowSet, kind string, fetched bool) error {
	store := func(tx pgx.Tx) error {
		q := db.New(tx)
		switch kind {
		case RefreshFloorPrice:
			if err := q.FloorPriceObserve(ctx, rows.floor); err != nil {
				return fmt.Errorf("store floor %s: %w", c.Slug, err)
			}
		case RefreshVolume:
			for _, v := range rows.volumes {
				if err := q.VolumeObserve(ctx, v); err != nil {
					return fmt.Errorf("store volume %s %s: %w", c.Slug, v.TimeWindow, err)
				}
			}
		}
		if fetched {
			body, err := json.Marshal(stats)
			if err != nil {
				return fmt.Errorf("encode stats %s: %w", c.Slug, err)
			}
			if err := q.StatsFetchStore(ctx, db.StatsFetchStoreParams{
				FetchedAt: rows.seenAt, Response: body, JobID: pgInt8(job.ID), CollectionID: c.ID, Source: c.Source,
			}); err != nil {
				return fmt.Errorf("store stats response %s: %w", c.Slug, err)
			}
		}
		if err := q.ScheduleMarkSuccess(ctx, db.ScheduleMarkSuccessParams{At: rows.seenAt, CollectionID: c.ID, Kind: kind}); err != nil {
			return fmt.Errorf("mark %s refreshed %s: %w", kind, c.Slug, err)
		}
		return nil
	}
	err := withTx(ctx, d, store)
	if isNoPartition(err) {
		if perr := ensureHistoryPartitions(ctx, db.New(d.DB), rows.seenAt); perr != nil {
			return errors.Join(err, perr)
		}
		err = withTx(ctx, d, store)
	}
	return err
}

// isNoPartition reports whether err is PostgreSQL's "no partition of
// relation ... found for row".
func isNoPartition(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23514" && strings.HasPrefix(pe.Message, "no partition of relation")
}

// qualityError is invalid data found while converting a response: recorded
// as a data-quality event of kind; permanent ones cancel the job (a retry
// would find the same), others are retried.
type qualityError struct {
	kind      string
	permanent bool
	err       error
}

func (e *qualityError) Error() string { return e.err.Error() }
func (e *qualityError) Unwrap() error { return e.err }

// amountError is the quality error of an amount pgAmount refused: one the
// columns cannot hold is an out_of_range event and a permanent outcome for
// that answer (retrying would store nothing either); others are invalid
// values, retried.
func amountError(err error) *qualityError {
	if errors.Is(err, errAmountRange) {
		return &qualityError{kind: "out_of_range", permanent: true, err: err}
	}
	return &qualityError{kind: "invalid_value", err: err}
}

type marketStatsRowSet struct {
	seenAt  time.Time
	floor   db.FloorPriceObserveParams
	volumes []db.VolumeObserveParams
}

// marketStatsRows validates and converts the kind's part of stats to rows; any
// invalid amount rejects the whole response so nothing partial is stored.
// Amounts without a currency (no floor, or a source that names none) take
// the currency the rest of the response names, else the collection's
// pricing currency, else its chain's native currency; with none of these
// the rows are refused, never stored with an empty currency.
func marketStatsRows(ctx context.Context, d *Deps, c *db.Collection, s *indexer.Stats, kind string) (*marketStatsRowSet, error) {
	seen := s.FetchedAt
	if seen.IsZero() {
		seen = d.now()
	}
	seen = seen.UTC().Truncate(time.Microsecond)
	out := &marketStatsRowSet{seenAt: seen}
	var fallback *indexer.Money
	currencyOf := func(m indexer.Money) (string, int16, error) {
		if m.Currency != "" {
			return m.Currency, int16(m.Decimals), nil
		}
		if fallback == nil {
			f, err := fallbackCurrency(ctx, d, c, s)
			if err != nil {
				return "", 0, err
			}
			fallback = f
		}
		return fallback.Currency, int16(fallback.Decimals), nil
	}
	switch kind {
	case RefreshFloorPrice:
		var floor indexer.Money
		if s.Floor != nil {
			floor = *s.Floor
		}
		amt, err := pgAmount(floor.Amount)
		if err != nil {
			return nil, amountError(fmt.Errorf("floor price: %w", err))
		}
		cur, dec, err := currencyOf(floor)
		if err != nil {
			return nil, err
		}
		out.floor = db.FloorPriceObserveParams{
			CollectionID: c.ID, Source: c.Source, Amount: amt, Currency: cur, Decimals: dec,
			Owners: pgInt8(s.Owners), SeenAt: seen, SourceAsOf: pgTime(s.SourceAsOf),
		}
	case RefreshVolume:
		for _, v := range s.Volumes {
			if v.Amount.Amount == "" {
				return nil, &qualityError{kind: "invalid_value", err: fmt.Errorf("volume %s: empty amount", v.Window)}
			}
			amt, err := pgAmount(v.Amount.Amount)
			if err != nil {
				return nil, amountError(fmt.Errorf("volume %s: %w", v.Window, err))
			}
			if v.Sales < 0 {
				return nil, &qualityError{kind: "invalid_value", err: fmt.Errorf("volume %s: negative sales %d", v.Window, v.Sales)}
			}
			cur, dec, err := currencyOf(v.Amount)
			if err != nil {
				return nil, err
			}
			out.volumes = append(out.volumes, db.VolumeObserveParams{
				CollectionID: c.ID, Source: c.Source, TimeWindow: string(v.Window),
				Amount: amt, Currency: cur, Decimals: dec, Sales: pgInt8(v.Sales), Owners: pgInt8(s.Owners),
				SeenAt: seen, SourceAsOf: pgTime(s.SourceAsOf),
			})
		}
	}
	return out, nil
}

// fallbackCurrency is the currency of amounts that come without one: the
// currency another amount of the same response names, else the
// collection's pricing currency (metadata), else the chain's native one.
func fallbackCurrency(ctx context.Context, d *Deps, c *db.Collection, s *indexer.Stats) (*indexer.Money, error) {
	if s.Floor != nil && s.Floor.Currency != "" {
		return &indexer.Money{Currency: s.Floor.Currency, Decimals: s.Floor.Decimals}, nil
	}
	for _, v := range s.Volumes {
		if v.Amount.Currency != "" {
			return &indexer.Money{Currency: v.Amount.Currency, Decimals: v.Amount.Decimals}, nil
		}
	}
	m, err := db.New(d.DB).MetadataGet(ctx, c.ID)
	switch {
	case err == nil:
		if m.Currency != "" && m.CurrencyDecimals.Valid {
			return &indexer.Money{Currency: m.Currency, Decimals: int32(m.CurrencyDecimals.Int16)}, nil
		}
	case !errors.Is(db.Interpret(err), db.ErrNotFound):
		return nil, fmt.Errorf("load pricing currency %s: %w", c.Slug, err)
	}
	if sym, dec, ok := indexer.NativeCurrency(c.Chain); ok {
		return &indexer.Money{Currency: sym, Decimals: dec}, nil
	}
	return nil, &qualityError{kind: "unknown_currency", permanent: true,
		err: fmt.Errorf("the response names no currency, the collection has no pricing currency and chain %q has no known native currency", c.Chain)}
}
