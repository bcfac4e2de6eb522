package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/riverqueue/river/rivertype"

	"github.com/nftsync/nftsync/db"
)

// StreamSource is the provenance of what a collection's push stream
// stored: the source's name plus ":stream" (OpenSea's Stream API floors
// are stored as "opensea:stream" beside the polled "opensea").
func StreamSource(source string) string { return source + ":stream" }

// streamReconcileGrace: a stream floor that changed this close to (or
// after) the REST fetch is not compared with it, since either may not
// reflect the other's latest listing yet.
const streamReconcileGrace = 10 * time.Second

// streamLive reports whether c's floor is kept current by a live stream at
// now: its collection_streams row is live and was marked within the
// liveness TTL (the consumer marks live collections every 15 s, so an older
// mark belongs to a replica that died); covered, whether its sales ledger
// has covered the last day (the API's 1-day volume then comes from it),
// whether or not the stream is live at the moment, as the API decides.
func streamLive(ctx context.Context, d *Deps, c *db.Collection, now time.Time) (live, covered bool, err error) {
	rows, err := db.New(d.DB).StreamStatesList(ctx, db.StreamStatesListParams{
		CollectionIds: []int64{c.ID}, LiveAfter: now.Add(-d.streamLiveTTL()),
	})
	if err != nil {
		return false, false, fmt.Errorf("load stream state %s: %w", c.Slug, err)
	}
	if len(rows) != 1 {
		return false, false, nil
	}
	return rows[0].Live, ledgerCovers(rows[0].SalesCoveredSince, now), nil
}

// ledgerCovers reports whether a sales ledger gap-free since covered has
// covered the whole day before now (the API then serves the 1-day volume
// and sale count from it).
func ledgerCovers(covered pgtype.Timestamptz, now time.Time) bool {
	return covered.Valid && !covered.Time.After(now.Add(-ledgerWindow))
}

// ledgerWindow is the window the sales ledger serves live: one day.
const ledgerWindow = 24 * time.Hour

// reconcileStreamFloor compares the floor just fetched over REST (and
// stored: the REST value is the newest floor and wins) with the floor the
// stream stored. A difference is a data-quality event (kind
// stream_floor_mismatch, source <source>:stream) and asks the stream's
// owner to bootstrap the collection's book again (needs_bootstrap). A
// stream floor that changed within streamReconcileGrace of the fetch is
// not compared, and a stream that stored no floor yet has nothing to
// compare.
func reconcileStreamFloor(ctx context.Context, d *Deps, job *rivertype.JobRow, c *db.Collection, rest db.FloorPriceObserveParams) error {
	src := StreamSource(c.Source)
	q := db.New(d.DB)
	cur, err := q.FloorPriceLatest(ctx, db.FloorPriceLatestParams{CollectionID: c.ID, Source: src})
	if errors.Is(db.Interpret(err), db.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("load stream floor %s: %w", c.Slug, err)
	}
	if !cur.ChangedAt.Before(rest.SeenAt.Add(-streamReconcileGrace)) {
		return nil
	}
	if cur.Currency == rest.Currency && numericEqual(cur.Amount, rest.Amount) {
		return nil
	}
	msg := fmt.Sprintf("stream floor %s %s (since %s) differs from /stats floor %s %s (fetched %s); the /stats value is stored and the book is bootstrapped again",
		numericText(cur.Amount), cur.Currency, cur.ChangedAt.UTC().Format(time.RFC3339), numericText(rest.Amount), rest.Currency,
		rest.SeenAt.UTC().Format(time.RFC3339))
	d.Logger.WarnContext(ctx, "stream floor differs from /stats", slog.String("slug", c.Slug), slog.String("detail", msg))
	return withTx(ctx, d, func(tx pgx.Tx) error {
		q := db.New(tx)
		if err := q.DataQualityEventInsert(ctx, db.DataQualityEventInsertParams{
			CollectionID: pgInt8(c.ID), Source: src, Kind: "stream_floor_mismatch",
			Operation: "reconcile floor " + c.Slug, Message: msg, JobID: pgInt8(job.ID),
		}); err != nil {
			return fmt.Errorf("record stream floor difference %s: %w", c.Slug, err)
		}
		if err := q.StreamRequestBootstrap(ctx, c.ID); err != nil {
			return fmt.Errorf("request book bootstrap %s: %w", c.Slug, err)
		}
		return nil
	})
}

// numericEqual compares two numerics by value (1.5 = 1.500); two NULLs (no
// floor) are equal.
func numericEqual(a, b pgtype.Numeric) bool {
	if !a.Valid || !b.Valid {
		return a.Valid == b.Valid
	}
	return numericRat(a).Cmp(numericRat(b)) == 0
}

func numericRat(n pgtype.Numeric) *big.Rat {
	r := new(big.Rat).SetInt(n.Int)
	if n.Exp == 0 {
		return r
	}
	p := new(big.Rat).SetInt(new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(abs(n.Exp))), nil))
	if n.Exp > 0 {
		return r.Mul(r, p)
	}
	return r.Quo(r, p)
}

func abs(x int32) int32 {
	if x < 0 {
		return -x
	}
	return x
}

// numericText is a numeric as a decimal string ("none" for NULL).
func numericText(n pgtype.Numeric) string {
	if !n.Valid {
		return "none"
	}
	v, err := n.Value()
	if err != nil {
		return "?"
	}
	s, _ := v.(string)
	return s
}
