package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/nftsync/nftsync/db"
	"github.com/nftsync/nftsync/internal/clip"
	"github.com/nftsync/nftsync/internal/indexer"
	"github.com/nftsync/nftsync/internal/ratelimit"
	"github.com/nftsync/nftsync/jobs/jobargs"
)

// addressKeyed lists the source name prefixes whose collections are keyed
// by contract address rather than slug.
var addressKeyed = []string{"subgraph:"} //nolint:gochecknoglobals // read-only

// FetchSourceVolumeArgs is the job contract in jobargs: one routed source
// that is not the collection's own. The queue (QueueSourceVolume) keeps
// these apart from the stats queue, so that the OpenSea stats call stays one
// per round and a slow subgraph never holds it up.
type FetchSourceVolumeArgs = jobargs.FetchSourceVolumeArgs

// QueueSourceVolume is the queue of fetch_source_volume jobs.
const QueueSourceVolume = jobargs.QueueSourceVolume

// CrossCheck compares one figure from two sources after every refresh.
type CrossCheck struct {
	// Reference is the source whose figure is compared ("opensea").
	Reference string
	// Source is the source checked against it ("subgraph:seaport"); empty
	// disables the check.
	Source string
	// Window is the volume window compared; empty means 1d.
	Window indexer.Window
	// Tolerance is the relative slack: the reference may lie that fraction
	// outside the checked source's bounds before they disagree.
	Tolerance float64
	// MaxAge is how far apart the two figures' fetch times may be for a
	// comparison; 0 means 5 minutes (one volume refresh interval).
	MaxAge time.Duration
}

// FetchSourceVolumeWorker works FetchSourceVolumeArgs.
type FetchSourceVolumeWorker struct {
	river.WorkerDefaults[FetchSourceVolumeArgs]
	Deps *Deps
}

// Work asks the source for the collection's volumes, stores them under the
// source's name with its provenance (fetched_at, the source's as-of time),
// and, in the same transaction, runs the cross-check of the round. A
// collection the source does not know (a marketplace that never traded it)
// stores nothing; a permanent error of the source is recorded as a
// data-quality event and cancels the job without failing the collection,
// which its own source still serves.
func (w *FetchSourceVolumeWorker) Work(ctx context.Context, job *river.Job[FetchSourceVolumeArgs]) error {
	d, a := w.Deps, job.Args
	c, err := loadCollection(ctx, d, a.CollectionID)
	if err != nil {
		return err
	}
	if err := activeOrSkip(d, ctx, c, RefreshVolume); err != nil {
		return nil //nolint:nilerr // inactive collections complete without work
	}
	idx, ok := d.Indexers[a.Source]
	if !ok || !indexer.Supports(idx, indexer.DataVolume) {
		return river.JobCancel(fmt.Errorf("source %q is not configured or serves no volume", a.Source))
	}
	key, err := sourceKey(ctx, d, job.JobRow, c, a.Source)
	if err != nil || key == "" {
		return err
	}
	op := "fetch volume " + c.Slug + " from " + a.Source
	st, err := idx.Stats(withClass(ctx, a.CollectionArgs, ratelimit.ClassLive), key)
	if err != nil {
		return handleSourceError(ctx, d, job.JobRow, c, a.Source, op, err)
	}
	fetched := st.FetchedAt
	if fetched.IsZero() {
		fetched = d.now()
	}
	round := plannedAt(a.CollectionArgs, job.JobRow)
	params := make([]db.VolumeObserveParams, 0, len(st.Volumes))
	for _, v := range st.Volumes {
		amt, err := pgNumeric(v.Amount.Amount)
		if err != nil || v.Amount.Amount == "" || v.Sales < 0 {
			msg := fmt.Sprintf("volume %s: invalid amount %q or sales %d", v.Window, v.Amount.Amount, v.Sales)
			if qerr := recordSourceQuality(ctx, d, job.JobRow, c, a.Source, "invalid_value", op, msg); qerr != nil {
				return qerr
			}
			return fmt.Errorf("%s: %s", op, msg)
		}
		params = append(params, db.VolumeObserveParams{
			CollectionID: c.ID, Source: a.Source, TimeWindow: string(v.Window),
			Amount: amt, Currency: v.Amount.Currency, Decimals: int16(v.Amount.Decimals),
			Sales: pgInt8(v.Sales), SeenAt: fetched, SourceAsOf: pgTime(st.SourceAsOf),
		})
	}
	store := func(tx pgx.Tx) error {
		q := db.New(tx)
		for _, p := range params {
			if err := q.VolumeObserve(ctx, p); err != nil {
				return fmt.Errorf("store volume %s %s from %s: %w", c.Slug, p.TimeWindow, a.Source, err)
			}
		}
		return crossCheck(ctx, d, q, job.JobRow, c, a.Source, st, fetched, round)
	}
	err = withTx(ctx, d, store)
	if isNoPartition(err) {
		// The history partition of the day is made by maintenance; make it
		// now and store once more.
		if perr := ensureHistoryPartitions(ctx, db.New(d.DB), fetched); perr != nil {
			return errors.Join(err, perr)
		}
		err = withTx(ctx, d, store)
	}
	return err
}

// sourceKey is what source calls the collection: its slug, or its contract
// address for address-keyed sources. Without a known contract yet (the
// collection's metadata brings it) a fresh job snoozes a little; an old one
// completes without work ("" and nil) and the next round tries again.
func sourceKey(ctx context.Context, d *Deps, job *rivertype.JobRow, c *db.Collection, source string) (string, error) {
	if source == c.Source || !hasAnyPrefix(source, addressKeyed) {
		return c.Slug, nil
	}
	addr, err := db.New(d.DB).CollectionContractFirst(ctx, c.ID)
	if err == nil {
		return addr, nil
	}
	if !errors.Is(db.Interpret(err), db.ErrNotFound) {
		return "", fmt.Errorf("load contract of %s: %w", c.Slug, err)
	}
	if d.now().Sub(job.CreatedAt) < 10*time.Minute {
		return "", river.JobSnooze(15 * time.Second)
	}
	d.Logger.InfoContext(ctx, "no contract address known yet; skipping this round",
		slog.String("slug", c.Slug), slog.String("source", source))
	return "", nil
}

func hasAnyPrefix(s string, prefixes []string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

// handleSourceError is handleFetchError for a source that is not the
// collection's own: an unknown collection there is normal (nothing is
// stored), and a permanent error condemns the source for this job only (a
// data-quality event names it), never the collection.
func handleSourceError(ctx context.Context, d *Deps, job *rivertype.JobRow, c *db.Collection, source, op string, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	switch {
	case errors.Is(err, indexer.ErrUnknownCollection):
		d.Logger.DebugContext(ctx, "source does not know the collection", slog.String("slug", c.Slug), slog.String("source", source))
		return nil
	case indexer.ClassOf(err) == indexer.ClassPermanent:
		if qerr := recordSourceQuality(ctx, d, job, c, source, "source_error", op, err.Error()); qerr != nil {
			return qerr
		}
		d.Logger.WarnContext(ctx, "permanent error from a routed source", slog.String("op", op), slog.String("error", err.Error()))
		return river.JobCancel(fmt.Errorf("%s: %w", op, err))
	case indexer.ClassOf(err) == indexer.ClassMalformed:
		if qerr := recordSourceQuality(ctx, d, job, c, source, "malformed_payload", op, err.Error()); qerr != nil {
			return qerr
		}
		return fmt.Errorf("%s: %w", op, err)
	}
	return handleFetchError(ctx, d, job, c, op, err) // rate limited or transient
}

func recordSourceQuality(ctx context.Context, d *Deps, job *rivertype.JobRow, c *db.Collection, source, kind, op, msg string) error {
	s := *c
	s.Source = source
	return recordQuality(ctx, d, job, &s, kind, op, msg)
}

// crossCheck compares the reference source's current figure with the one
// just fetched from source, once per collection and round (a retried job
// finds the round checked and does nothing), and records a data-quality
// event naming both values and sources when they disagree.
func crossCheck(ctx context.Context, d *Deps, q *db.Queries, job *rivertype.JobRow, c *db.Collection, source string, st *indexer.Stats, fetched, round time.Time) error {
	cc := d.CrossCheck
	if cc.Source == "" || cc.Source != source || cc.Reference == "" {
		return nil
	}
	win := cc.Window
	if win == "" {
		win = indexer.Window1d
	}
	var b *indexer.Volume
	for i := range st.Volumes {
		if st.Volumes[i].Window == win {
			b = &st.Volumes[i]
		}
	}
	if b == nil {
		return nil
	}
	// A reference the collection's volume is not routed to is not refreshed
	// any more: its last figure only grows stale, so nothing is compared.
	routed, err := routedSources(ctx, q, c.ID, RefreshVolume)
	if err != nil {
		return err
	}
	if !slices.Contains(routed, cc.Reference) || !slices.Contains(routed, source) {
		return nil
	}
	ref, err := q.VolumeCurrentWindow(ctx, db.VolumeCurrentWindowParams{CollectionID: c.ID, Source: cc.Reference, TimeWindow: string(win)})
	if errors.Is(db.Interpret(err), db.ErrNotFound) {
		return nil // nothing to compare with yet
	}
	if err != nil {
		return fmt.Errorf("load %s volume of %s: %w", cc.Reference, c.Slug, err)
	}
	maxAge := cc.MaxAge
	if maxAge <= 0 {
		maxAge = 5 * time.Minute
	}
	if gap := fetched.Sub(ref.FetchedAt).Abs(); gap > maxAge {
		return nil // too far apart in time to compare
	}
	agree, err := withinBounds(ref.Amount, b, cc.Tolerance)
	if err != nil {
		return fmt.Errorf("cross-check %s: %w", c.Slug, err)
	}
	p := db.CrossCheckInsertParams{
		CollectionID: c.ID, Metric: "volume_" + string(win), Round: round,
		SourceA: cc.Reference, FetchedAtA: ref.FetchedAt,
		SourceB: source, FetchedAtB: fetched, SourceAsOfB: pgTime(st.SourceAsOf), Agree: agree,
	}
	for _, f := range []struct {
		dst *pgtype.Numeric
		v   string
	}{{&p.ValueA, ref.Amount}, {&p.ValueB, b.Amount.Amount}, {&p.LowB, b.Low}, {&p.HighB, b.High},
		{&p.Tolerance, big.NewFloat(cc.Tolerance).Text('f', -1)}} {
		if *f.dst, err = pgNumeric(f.v); err != nil {
			return fmt.Errorf("cross-check %s: %w", c.Slug, err)
		}
	}
	if _, err := q.CrossCheckInsert(ctx, p); err != nil {
		if errors.Is(db.Interpret(err), db.ErrNotFound) {
			return nil // this round was checked already
		}
		return fmt.Errorf("record cross-check %s: %w", c.Slug, err)
	}
	if agree {
		return nil
	}
	bounds := ""
	if b.Low != "" {
		bounds = fmt.Sprintf(" (its daily totals allow %s to %s)", b.Low, b.High)
	}
	msg := fmt.Sprintf("%s volume disagrees beyond %g: %s says %s %s (fetched %s), %s says %s %s%s (fetched %s, as of %s)",
		win, cc.Tolerance, cc.Reference, ref.Amount, b.Amount.Currency, ref.FetchedAt.UTC().Format(time.RFC3339),
		source, b.Amount.Amount, b.Amount.Currency, bounds, fetched.UTC().Format(time.RFC3339), st.SourceAsOf.UTC().Format(time.RFC3339))
	d.Logger.WarnContext(ctx, "cross-source disagreement", slog.String("slug", c.Slug), slog.String("detail", msg))
	return q.DataQualityEventInsert(ctx, db.DataQualityEventInsertParams{
		CollectionID: pgInt8(c.ID), Source: source, Kind: "cross_source_disagreement",
		Operation: "cross-check " + string(win) + " volume " + cc.Reference + " vs " + source,
		Message:   clip.Text(msg, 2000), JobID: pgInt8(job.ID),
	})
}

// withinBounds says whether the reference amount lies within the checked
// figure's bounds (the figure itself when it has none), widened by the
// relative tolerance.
func withinBounds(ref string, b *indexer.Volume, tol float64) (bool, error) {
	a, ok := new(big.Rat).SetString(ref)
	if !ok {
		return false, fmt.Errorf("reference amount %q is not a decimal", ref)
	}
	lo, hi := b.Low, b.High
	if lo == "" || hi == "" {
		lo, hi = b.Amount.Amount, b.Amount.Amount
	}
	l, ok1 := new(big.Rat).SetString(lo)
	h, ok2 := new(big.Rat).SetString(hi)
	if !ok1 || !ok2 {
		return false, fmt.Errorf("bounds %q..%q are not decimals", lo, hi)
	}
	t := new(big.Rat).SetFloat64(tol)
	l.Mul(l, new(big.Rat).Sub(big.NewRat(1, 1), t))
	h.Mul(h, new(big.Rat).Add(big.NewRat(1, 1), t))
	return a.Cmp(l) >= 0 && a.Cmp(h) <= 0, nil
}
