package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/riverqueue/river/rivertype"

	"github.com/nftsync/nftsync/db"
	"github.com/nftsync/nftsync/internal/clip"
	"github.com/nftsync/nftsync/internal/indexer"
)

// LedgerCheck bounds the cross-check of the sales ledger against /stats.
//
// Every /stats answer for a collection whose sales ledger has covered the
// last day (collection_streams.sales_covered_since at or before the answer's
// time minus one day) has its 1-day volume and sale count compared with the
// ledger's sales of the same window, ending at the answer's as-of time (its
// fetch time when the source names none). Two things keep an honest answer
// from looking wrong:
//
//   - sales in flight near the window's edges: a sale the ledger stored
//     within Edge of the window's start may have left /stats' window
//     already (or not yet), and one within Edge of its end may not be in
//     /stats yet, while the ledger may have stored sales after the answer's
//     time. So /stats' figure must lie between the narrow count (sales from
//     start + Edge to end − Edge) and the wide one (every stored sale from
//     start − Edge on);
//   - /stats' volume is a double (about 16 significant digits, summed in
//     floating point upstream): it may lie Tolerance (relative) outside
//     those bounds. The sale count is an integer and gets no tolerance.
//
// Each comparison is one source_cross_checks row (metrics volume_1d and
// sales_1d, source_a the collection's source, source_b the ledger's
// "<source>:stream", low_b/high_b the narrow and wide figures, round the
// answer's fetch time, so the floor and volume jobs that share one answer
// record it once). A disagreement is a data-quality event of kind
// cross_source_disagreement. The volume is not compared while a sale of the
// window has no known ETH price or when /stats counts in another currency
// than ETH (or WETH); the count still is.
type LedgerCheck struct {
	// Edge is the slack at each end of the window; 0 means 5 minutes.
	Edge time.Duration
	// Tolerance is the relative slack of the volume; 0 means 1e-6.
	Tolerance float64
	// Disabled turns the check off.
	Disabled bool
}

func (o LedgerCheck) edge() time.Duration {
	if o.Edge <= 0 {
		return 5 * time.Minute
	}
	return o.Edge
}

func (o LedgerCheck) tolerance() float64 {
	if o.Tolerance <= 0 {
		return 1e-6
	}
	return o.Tolerance
}

// checkLedger runs the LedgerCheck of the /stats answer s, fetched at
// fetched, for c (whose ledger covers the day at the caller's now).
func checkLedger(ctx context.Context, d *Deps, job *rivertype.JobRow, c *db.Collection, s *indexer.Stats, fetched time.Time) error {
	opts := d.LedgerCheck
	if opts.Disabled {
		return nil
	}
	var v *indexer.Volume
	for i := range s.Volumes {
		if s.Volumes[i].Window == indexer.Window1d {
			v = &s.Volumes[i]
		}
	}
	if v == nil || v.Amount.Amount == "" {
		return nil // nothing to compare
	}
	until := fetched
	if !s.SourceAsOf.IsZero() && s.SourceAsOf.Before(fetched) {
		until = s.SourceAsOf.UTC().Truncate(time.Microsecond)
	}
	q := db.New(d.DB)
	st, err := q.StreamStateGet(ctx, c.ID)
	if err != nil {
		return fmt.Errorf("load sales ledger coverage %s: %w", c.Slug, err)
	}
	if !ledgerCovers(st.SalesCoveredSince, until.Add(-opts.edge())) {
		return nil // the ledger began within the answer's window
	}
	b, err := q.SalesWindowBounds(ctx, db.SalesWindowBoundsParams{
		CollectionID: c.ID, Since: until.Add(-ledgerWindow), Until: until, EdgeSeconds: opts.edge().Seconds(),
	})
	if err != nil {
		return fmt.Errorf("sales ledger totals %s: %w", c.Slug, err)
	}
	cur := v.Amount.Currency
	if cur == "" {
		f, err := fallbackCurrency(ctx, d, c, s)
		if err != nil {
			var qe *qualityError
			if !errors.As(err, &qe) {
				return err
			}
		} else {
			cur = f.Currency
		}
	}
	ledger := StreamSource(c.Source)
	checkedAt := d.now()
	type check struct {
		metric         string
		ref            string
		val, low, high string
		tol            float64
		agree          bool
	}
	checks := []check{{metric: "sales_1d", ref: strconv.FormatInt(v.Sales, 10),
		val: strconv.FormatInt(b.Sales, 10), low: strconv.FormatInt(b.NarrowSales, 10), high: strconv.FormatInt(b.WideSales, 10)}}
	if b.Unpriced == 0 && (cur == "ETH" || cur == "WETH") {
		checks = append(checks, check{metric: "volume_1d", ref: v.Amount.Amount,
			val: b.VolumeEth, low: b.NarrowVolumeEth, high: b.WideVolumeEth, tol: opts.tolerance()})
	}
	for i := range checks {
		ch := &checks[i]
		ch.agree, err = withinBounds(ch.ref, &indexer.Volume{Amount: indexer.Money{Amount: ch.val}, Low: ch.low, High: ch.high}, ch.tol)
		if err != nil {
			return fmt.Errorf("cross-check %s %s against the sales ledger: %w", ch.metric, c.Slug, err)
		}
	}
	return withTx(ctx, d, func(tx pgx.Tx) error {
		q := db.New(tx)
		var bad []string
		for _, ch := range checks {
			p := db.CrossCheckInsertParams{
				CollectionID: c.ID, Metric: ch.metric, Round: fetched,
				SourceA: c.Source, FetchedAtA: fetched, SourceB: ledger, FetchedAtB: checkedAt, Agree: ch.agree,
			}
			for _, f := range []struct {
				dst *pgtype.Numeric
				v   string
			}{{&p.ValueA, ch.ref}, {&p.ValueB, ch.val}, {&p.LowB, ch.low}, {&p.HighB, ch.high},
				{&p.Tolerance, big.NewFloat(ch.tol).Text('f', -1)}} {
				if *f.dst, err = pgNumeric(f.v); err != nil {
					return fmt.Errorf("cross-check %s %s against the sales ledger: %w", ch.metric, c.Slug, err)
				}
			}
			if _, err := q.CrossCheckInsert(ctx, p); err != nil {
				if errors.Is(db.Interpret(err), db.ErrNotFound) {
					return nil // this answer was checked already (the other kind's job)
				}
				return fmt.Errorf("record sales ledger cross-check %s: %w", c.Slug, err)
			}
			if !ch.agree {
				bad = append(bad, fmt.Sprintf("%s: %s says %s, the ledger %s (between %s and %s allowing sales within %s of the window's ends, tolerance %g)",
					ch.metric, c.Source, ch.ref, ch.val, ch.low, ch.high, opts.edge(), ch.tol))
			}
		}
		if len(bad) == 0 {
			return nil
		}
		msg := fmt.Sprintf("/stats and the sales ledger disagree on the day to %s (fetched %s): %s",
			until.UTC().Format(time.RFC3339), fetched.UTC().Format(time.RFC3339), strings.Join(bad, "; "))
		d.Logger.WarnContext(ctx, "sales ledger disagrees with /stats", slog.String("slug", c.Slug), slog.String("detail", msg))
		if err := q.DataQualityEventInsert(ctx, db.DataQualityEventInsertParams{
			CollectionID: pgInt8(c.ID), Source: ledger, Kind: "cross_source_disagreement",
			Operation: "cross-check 1d volume " + c.Source + " vs " + ledger,
			Message:   clip.Text(msg, 2000), JobID: pgInt8(job.ID),
		}); err != nil {
			return fmt.Errorf("record sales ledger disagreement %s: %w", c.Slug, err)
		}
		return nil
	})
}
