package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/riverqueue/river"

	"github.com/nftsync/nftsync/db"
	"github.com/nftsync/nftsync/internal/clip"
	"github.com/nftsync/nftsync/internal/indexer"
	"github.com/nftsync/nftsync/internal/rarity"
	"github.com/nftsync/nftsync/internal/ratelimit"
	"github.com/nftsync/nftsync/jobs/jobargs"
)

// QueueTraits is the queue of fetch_traits, with its own MaxWorkers.
const QueueTraits = jobargs.QueueTraits

// FetchTraitsArgs is the job contract in jobargs: fetch the traits of a
// collection's tokens that need them.
type FetchTraitsArgs = jobargs.FetchTraitsArgs

// enqueueFetchTraits is the token sync's AfterSync hook: fetch_traits is
// inserted in the transaction that completes the listing.
func enqueueFetchTraits(ctx context.Context, tx pgx.Tx, collectionID, syncRun int64) error {
	client, err := river.ClientFromContextSafely[pgx.Tx](ctx)
	if err != nil {
		return fmt.Errorf("enqueue fetch_traits: %w", err)
	}
	if _, err := client.InsertTx(ctx, tx, FetchTraitsArgs{CollectionID: collectionID, SyncRun: syncRun}, nil); err != nil {
		return fmt.Errorf("enqueue fetch_traits for collection %d: %w", collectionID, err)
	}
	return nil
}

// FetchTraitsWorker works FetchTraitsArgs.
type FetchTraitsWorker struct {
	river.WorkerDefaults[FetchTraitsArgs]
	Deps *Deps
	// AfterTraits, when set, is called inside the transaction that completes
	// the fetch when enough traits are known, to enqueue compute_rarity
	// atomically with it.
	AfterTraits func(ctx context.Context, tx pgx.Tx, collectionID, syncRun int64) error
}

// Timeout leaves room for the budget plus one slow batch.
func (w *FetchTraitsWorker) Timeout(*river.Job[FetchTraitsArgs]) time.Duration {
	return SyncTokensTimeout(w.Deps.tokenSyncBudget(), w.Deps.PageTimeout)
}

// tokenOutcome is what one token's fetch gave.
type tokenOutcome struct {
	row     db.TokenTraitsDueRow
	md      *indexer.TokenMetadata
	unknown bool   // the fetch succeeded and the source does not know the token's traits
	fail    string // permanent or malformed: the reason, for this token only
	err     error  // rate limited, transient or cancelled: stop the batch
}

// Work fetches due tokens step by step: with a source that has a batch
// lookup (indexer.BatchTraitSource) in batch calls of Traits.BatchSize
// tokens (see fetchBatched), else one call per token. Every step's traits,
// the tokens' fetch marks and the run's counters commit together, so a
// crash refetches at most the step in flight and never a stored token (the
// job is resumable and idempotent: it always works on what is still due).
// A token the source refuses for good (not found, bad document) is recorded
// as a data-quality event; a token whose traits the source answers as
// unknown (null, a document without attributes) is marked unknown; neither
// is fetched again until its updated_at moves. When nothing is due the
// fetch completes: after a full fetch the collection's trait counts are
// cross-checked with the source's, and compute_rarity is enqueued when the
// share of known traits among the tokens whose traits the source can tell
// (all but the unknown ones) reaches Traits.MinCoverage.
func (w *FetchTraitsWorker) Work(ctx context.Context, job *river.Job[FetchTraitsArgs]) error {
	d := w.Deps
	c, err := loadCollection(ctx, d, job.Args.CollectionID)
	if err != nil {
		return err
	}
	if err := activeOrSkip(d, ctx, c, "traits"); err != nil {
		return nil //nolint:nilerr // inactive collections complete without work
	}
	src, ok := d.TraitSources[c.TraitsSource]
	if !ok {
		msg := fmt.Sprintf("trait source %q is not available in this worker (collection %s); set the collection's traits source to one that is, e.g. `collections add -traits-source opensea %s`", c.TraitsSource, c.Slug, c.Slug)
		if qerr := recordQuality(ctx, d, job.JobRow, c, "traits_source_unavailable", "fetch traits "+c.Slug, msg); qerr != nil {
			return qerr
		}
		d.Logger.ErrorContext(ctx, "cannot fetch traits", slog.String("slug", c.Slug), slog.String("reason", msg))
		return river.JobCancel(errors.New(msg))
	}
	q := db.New(d.DB)
	syncRun := job.Args.SyncRun
	if syncRun <= 0 {
		// Enqueued without a run (by another service): the collection's
		// latest token sync.
		latest, err := q.SyncRunLatest(ctx, c.ID)
		if errors.Is(db.Interpret(err), db.ErrNotFound) {
			return river.JobCancel(fmt.Errorf("fetch traits %s: no token sync has run yet (enqueue sync_tokens; it enqueues fetch_traits)", c.Slug))
		}
		if err != nil {
			return fmt.Errorf("latest token sync of %s: %w", c.Slug, err)
		}
		syncRun = latest.Run
	}
	due, err := q.TokenTraitsDueCount(ctx, c.ID)
	if err != nil {
		return fmt.Errorf("count tokens due for traits %s: %w", c.Slug, err)
	}
	run, err := q.SyncRunTraitsStart(ctx, db.SyncRunTraitsStartParams{
		CollectionID: c.ID, Run: syncRun, Now: d.now(), TraitsSource: c.TraitsSource, Due: due,
	})
	if err != nil {
		return fmt.Errorf("start trait fetch %s: %w", c.Slug, err)
	}
	ctx = ratelimit.WithClass(ctx, ratelimit.ClassBulk)
	deadline := d.now().Add(d.tokenSyncBudget())
	lastLog := time.Now()
	var sizer *batchSizer
	bsrc, batched := src.(indexer.BatchTraitSource)
	if batched && d.Traits.batchSize() > 1 {
		if sizer, err = newBatchSizer(ctx, d, c.TraitsSource); err != nil {
			return err
		}
	}
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		step := d.Traits.batch()
		if sizer != nil {
			// Whole batch calls per step: ceil(N/B) calls for N due tokens.
			b := sizer.get()
			step = (step + b - 1) / b * b
		}
		rows, err := q.TokenTraitsDue(ctx, db.TokenTraitsDueParams{CollectionID: c.ID, MaxTokens: int32(step)})
		if err != nil {
			return fmt.Errorf("select tokens due for traits %s: %w", c.Slug, err)
		}
		if len(rows) == 0 {
			return w.complete(ctx, job, c, src, run)
		}
		var (
			outcomes []tokenOutcome
			calls    int64
		)
		if sizer != nil {
			outcomes, calls = fetchBatched(ctx, d, bsrc, c, rows, sizer)
		} else {
			outcomes, calls = fetchBatch(ctx, src, c, rows, d.Traits.concurrency())
		}
		if err := w.storeBatch(ctx, job, c, run.Run, outcomes, calls); err != nil {
			return err
		}
		if o, stop := firstStop(outcomes); stop {
			return handleTraitError(ctx, d, c, o)
		}
		run.TraitsFetched += int64(len(outcomes))
		if time.Since(lastLog) > 10*time.Second {
			lastLog = time.Now()
			d.Logger.InfoContext(ctx, "trait fetch progress", slog.String("slug", c.Slug), slog.Int64("run", run.Run),
				slog.Int64("done_this_job", run.TraitsFetched), slog.Int64("due_at_start", run.TraitsDue))
		}
		if d.now().After(deadline) {
			return river.JobSnooze(0)
		}
	}
}

// handleTraitError turns the first call that stopped a batch into the
// job's outcome: snooze on rate limits, retry otherwise.
func handleTraitError(ctx context.Context, d *Deps, c *db.Collection, o tokenOutcome) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if wait, limited := indexer.RetryAfter(o.err); limited {
		if wait <= 0 {
			wait = 2 * time.Second
		}
		d.Logger.DebugContext(ctx, "trait fetch rate limited, snoozing", slog.String("slug", c.Slug), slog.Duration("wait", wait))
		return river.JobSnooze(wait)
	}
	return fmt.Errorf("fetch traits %s token %s: %w", c.Slug, o.row.TokenID, o.err)
}

// firstStop returns the outcome that stopped a step (rate limit, transient
// error), preferring a real error to the skips it caused.
func firstStop(outcomes []tokenOutcome) (tokenOutcome, bool) {
	var skipped *tokenOutcome
	for i, o := range outcomes {
		switch {
		case o.err == nil:
		case errors.Is(o.err, errSkip):
			if skipped == nil {
				skipped = &outcomes[i]
			}
		default:
			return o, true
		}
	}
	if skipped != nil {
		return *skipped, true
	}
	return tokenOutcome{}, false
}

// fetchBatch fetches rows one call per token with up to n calls in flight,
// and reports the answered calls. After the first call that must stop the
// batch (rate limit, transient error), the calls not yet started are
// skipped.
func fetchBatch(ctx context.Context, src indexer.TraitSource, c *db.Collection, rows []db.TokenTraitsDueRow, n int) ([]tokenOutcome, int64) {
	out := make([]tokenOutcome, len(rows))
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		stopped bool
	)
	sem := make(chan struct{}, n)
	for i, r := range rows {
		out[i].row = r
		sem <- struct{}{}
		mu.Lock()
		stop := stopped
		mu.Unlock()
		if stop {
			<-sem
			out[i].err = errSkip
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			md, err := src.TokenTraits(ctx, tokenRef(c, r))
			if setOutcome(&out[i], md, err) {
				mu.Lock()
				stopped = true
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	calls := int64(0) // answered calls, as token_sync_runs counts them
	for _, o := range out {
		if o.err == nil {
			calls++
		}
	}
	return out, calls
}

func tokenRef(c *db.Collection, r db.TokenTraitsDueRow) indexer.TokenRef {
	return indexer.TokenRef{Chain: c.Chain, Contract: r.Contract, TokenID: r.TokenID, MetadataURL: r.MetadataUrl}
}

// setOutcome records what one token's answer (or error) means, and reports
// whether the error must stop the step. An answer without traits (null, a
// document without attributes) is a successful fetch of a token whose
// traits the source does not know.
func setOutcome(o *tokenOutcome, md *indexer.TokenMetadata, err error) (stop bool) {
	switch {
	case err == nil && md.Traits == nil:
		o.unknown = true
	case err == nil:
		o.md = md
	case indexer.ClassOf(err) == indexer.ClassPermanent || indexer.ClassOf(err) == indexer.ClassMalformed:
		o.fail = err.Error()
	default:
		o.err = err
		return true
	}
	return false
}

// storeBatch stores what a batch got in one transaction: the traits of
// fetched tokens (replacing stored ones, capped per token), the marks of
// fetched and failed tokens, their data-quality events and the run's
// counters. Tokens whose call was stopped stay due.
func (w *FetchTraitsWorker) storeBatch(ctx context.Context, job *river.Job[FetchTraitsArgs], c *db.Collection, run int64, outcomes []tokenOutcome, calls int64) error {
	d := w.Deps
	now := d.now()
	fetched := db.TokenTraitsMarkFetchedParams{CollectionID: c.ID, Now: now, TraitsSource: c.TraitsSource}
	failed := db.TokenTraitsMarkFailedParams{CollectionID: c.ID, Now: now}
	unknown := db.TokenTraitsMarkUnknownParams{CollectionID: c.ID, Now: now}
	clear := db.TokenTraitsDeleteBatchParams{CollectionID: c.ID}
	traits := &db.TokenTraitsInsertBatchParams{CollectionID: c.ID}
	var capped, failedTokens []string
	for _, o := range outcomes {
		var asOf time.Time // zero: the source gave no updated_at
		if o.row.SourceUpdatedAt.Valid {
			asOf = o.row.SourceUpdatedAt.Time
		}
		switch {
		case o.md != nil:
			fetched.Ids = append(fetched.Ids, o.row.ID)
			fetched.AsOfs = append(fetched.AsOfs, asOf)
			clear.Contracts = append(clear.Contracts, o.row.Contract)
			clear.TokenIds = append(clear.TokenIds, o.row.TokenID)
			kept, dropped := capTraits(o.md.Traits, d.Traits.maxPerToken())
			if dropped > 0 {
				capped = append(capped, fmt.Sprintf("%s (%d of %d kept)", o.row.TokenID, len(kept), len(o.md.Traits)))
			}
			appendTraitRows(traits, o.row.Contract, o.row.TokenID, kept)
		case o.unknown:
			unknown.Ids = append(unknown.Ids, o.row.ID)
			unknown.AsOfs = append(unknown.AsOfs, asOf)
		case o.fail != "":
			failed.Ids = append(failed.Ids, o.row.ID)
			failed.AsOfs = append(failed.AsOfs, asOf)
			failed.Errors = append(failed.Errors, clip.Text(o.fail, 500))
			failedTokens = append(failedTokens, o.row.TokenID)
		}
	}
	if len(fetched.Ids)+len(failed.Ids)+len(unknown.Ids) == 0 && calls == 0 {
		return nil
	}
	op := "fetch traits " + c.Slug
	return withTx(ctx, d, func(tx pgx.Tx) error {
		q := db.New(tx)
		if len(fetched.Ids) > 0 {
			if err := q.TokenTraitsDeleteBatch(ctx, clear); err != nil {
				return fmt.Errorf("clear traits %s: %w", c.Slug, err)
			}
			if len(traits.TokenIds) > 0 {
				if err := q.TokenTraitsInsertBatch(ctx, *traits); err != nil {
					return fmt.Errorf("store traits %s: %w", c.Slug, err)
				}
			}
			if err := q.TokenTraitsMarkFetched(ctx, fetched); err != nil {
				return fmt.Errorf("mark traits fetched %s: %w", c.Slug, err)
			}
		}
		if len(unknown.Ids) > 0 {
			if err := q.TokenTraitsMarkUnknown(ctx, unknown); err != nil {
				return fmt.Errorf("mark traits unknown %s: %w", c.Slug, err)
			}
		}
		if len(failed.Ids) > 0 {
			if err := q.TokenTraitsMarkFailed(ctx, failed); err != nil {
				return fmt.Errorf("mark trait fetch failed %s: %w", c.Slug, err)
			}
		}
		for i, tokenID := range failedTokens {
			if err := insertQuality(ctx, q, job.ID, c, "token_traits_failed", op+" token "+tokenID, failed.Errors[i]); err != nil {
				return err
			}
		}
		if len(capped) > 0 {
			msg := fmt.Sprintf("more than %d traits per token; the excess was dropped: %s", d.Traits.maxPerToken(), strings.Join(capped, ", "))
			d.Logger.WarnContext(ctx, "traits capped", slog.String("slug", c.Slug), slog.String("detail", clip.Text(msg, 300)))
			if err := insertQuality(ctx, q, job.ID, c, "traits_capped", op, msg); err != nil {
				return err
			}
		}
		return q.SyncRunTraitsProgress(ctx, db.SyncRunTraitsProgressParams{
			Fetched: int64(len(fetched.Ids) + len(unknown.Ids)), Failed: int64(len(failed.Ids)), Calls: calls, Now: now,
			CollectionID: c.ID, Run: run,
		})
	})
}

// insertQuality records a data-quality event inside tx.
func insertQuality(ctx context.Context, q *db.Queries, jobID int64, c *db.Collection, kind, op, msg string) error {
	if err := q.DataQualityEventInsert(ctx, db.DataQualityEventInsertParams{
		CollectionID: pgInt8(c.ID), Source: c.Source, Kind: kind, Operation: clip.Text(op, 200),
		Message: clip.Text(msg, 2000), JobID: pgInt8(jobID),
	}); err != nil {
		return fmt.Errorf("record data-quality event for %s: %w", c.Slug, err)
	}
	return nil
}

// complete finishes the run's trait fetch: cross-check after a full fetch,
// then, when the known share reaches the minimum, compute_rarity in the
// transaction that marks the fetch complete.
func (w *FetchTraitsWorker) complete(ctx context.Context, job *river.Job[FetchTraitsArgs], c *db.Collection, src indexer.TraitSource, run db.TokenSyncRun) error {
	d := w.Deps
	q := db.New(d.DB)
	cov, err := q.TokenTraitsCoverage(ctx, c.ID)
	if err != nil {
		return fmt.Errorf("trait coverage %s: %w", c.Slug, err)
	}
	full := run.TraitsDue > 0 && run.TraitsDue >= cov.Tokens
	if counter, ok := src.(indexer.TraitCounter); ok && full && !run.TraitsCompletedAt.Valid {
		if err := w.crossCheck(ctx, job, c, counter); err != nil {
			return err
		}
	}
	// Coverage counts the tokens whose traits the source can tell: those it
	// answered as unknown are left out of rarity (unranked), not missing.
	tellable := cov.Tokens - cov.Unknown
	share := 1.0
	if tellable > 0 {
		share = float64(cov.WithTraits) / float64(tellable)
	}
	enough := tellable > 0 && share >= d.Traits.minCoverage()
	return withTx(ctx, d, func(tx pgx.Tx) error {
		tq := db.New(tx)
		params := db.SyncRunTraitsCompleteParams{Now: d.now(), CollectionID: c.ID, Run: run.Run, TraitsUnknown: cov.Unknown}
		if enough {
			params.RarityCoverage = pgtype.Float8{Float64: share, Valid: true}
		}
		done, err := tq.SyncRunTraitsComplete(ctx, params)
		if err != nil {
			return fmt.Errorf("complete trait fetch %s: %w", c.Slug, err)
		}
		d.Logger.InfoContext(ctx, "trait fetch complete", slog.String("slug", c.Slug), slog.Int64("run", run.Run),
			slog.String("source", c.TraitsSource), slog.Int64("tokens", cov.Tokens), slog.Int64("with_traits", cov.WithTraits),
			slog.Int64("traits_unknown", cov.Unknown),
			slog.Int("list_pages", int(done.ListPages)), slog.Int64("trait_calls", done.TraitCalls), slog.Int64("trait_failures", done.TraitsFailed))
		if !enough {
			msg := fmt.Sprintf("traits known for %d of the %d tokens whose traits the source can tell (%.1f%%; %d more it does not know), below the %.1f%% rarity needs; rarity not computed",
				cov.WithTraits, tellable, 100*share, cov.Unknown, 100*d.Traits.minCoverage())
			if tellable == 0 && cov.Tokens > 0 {
				msg = fmt.Sprintf("the source does not know the traits of any of the %d tokens; rarity not computed", cov.Tokens)
			}
			d.Logger.WarnContext(ctx, "rarity postponed", slog.String("slug", c.Slug), slog.String("reason", msg))
			if cov.Tokens == 0 {
				return nil
			}
			return insertQuality(ctx, tq, job.ID, c, "traits_incomplete", "fetch traits "+c.Slug, msg)
		}
		if w.AfterTraits != nil {
			return w.AfterTraits(ctx, tx, c.ID, run.Run)
		}
		return nil
	})
}

// crossCheck compares our per-(type, value) token counts with the source's
// own counts, both normalized as rarity normalizes names and values. Values
// whose counts differ by more than Traits.CheckTolerance (relative), or
// that only one side has, become ONE data-quality event listing them. A
// failed upstream call is logged and skipped (the check is advisory), except
// a rate limit, which snoozes.
func (w *FetchTraitsWorker) crossCheck(ctx context.Context, job *river.Job[FetchTraitsArgs], c *db.Collection, counter indexer.TraitCounter) error {
	d := w.Deps
	theirs, err := counter.CollectionTraits(ctx, c.Slug)
	if err != nil {
		if wait, limited := indexer.RetryAfter(err); limited {
			return river.JobSnooze(max(wait, time.Second))
		}
		d.Logger.WarnContext(ctx, "trait cross-check skipped", slog.String("slug", c.Slug), slog.Any("error", err))
		return nil
	}
	rows, err := db.New(d.DB).TokenTraitCountsForCheck(ctx, c.ID)
	if err != nil {
		return fmt.Errorf("count traits %s: %w", c.Slug, err)
	}
	type key struct{ name, value string }
	ours := map[key]int64{}
	for _, r := range rows {
		ours[key{rarity.Normalize(r.TraitType), rarity.Normalize(r.ValueText)}] += r.Tokens
	}
	upstream := map[key]int64{}
	for name, values := range theirs.Values {
		for v, n := range values {
			upstream[key{rarity.Normalize(name), rarity.Normalize(v)}] += n
		}
	}
	tol := d.Traits.checkTolerance()
	var diffs []string
	for k, want := range upstream {
		got := ours[k]
		if math.Abs(float64(got-want)) > tol*float64(max(want, got)) {
			diffs = append(diffs, fmt.Sprintf("%s=%s: ours %d, source %d", k.name, k.value, got, want))
		}
	}
	for k, got := range ours {
		if _, ok := upstream[k]; !ok {
			diffs = append(diffs, fmt.Sprintf("%s=%s: ours %d, source none", k.name, k.value, got))
		}
	}
	if len(diffs) == 0 {
		d.Logger.InfoContext(ctx, "trait counts agree with the source", slog.String("slug", c.Slug), slog.Int("values", len(upstream)))
		return nil
	}
	sort.Strings(diffs)
	msg := fmt.Sprintf("%d trait values differ from the source's counts by more than %.2g%%: %s", len(diffs), 100*tol, strings.Join(diffs, "; "))
	d.Logger.WarnContext(ctx, "trait counts differ from the source", slog.String("slug", c.Slug), slog.Int("values", len(diffs)))
	return recordQuality(ctx, d, job.JobRow, c, "trait_counts_mismatch", "cross-check traits "+c.Slug, msg)
}

// capTraits keeps the first max traits; it returns them and how many were
// dropped.
func capTraits(traits []indexer.Trait, maxTraits int) ([]indexer.Trait, int) {
	if len(traits) <= maxTraits {
		return traits, 0
	}
	return traits[:maxTraits], len(traits) - maxTraits
}

// appendTraitRows adds one token's traits to a batch insert, in order.
func appendTraitRows(tr *db.TokenTraitsInsertBatchParams, contract, tokenID string, traits []indexer.Trait) {
	for j, a := range traits {
		num := pgtype.Numeric{}
		if a.ValueNumeric != nil {
			if n, err := pgNumeric(*a.ValueNumeric); err == nil {
				num = n
			} else if err := num.Scan(*a.ValueNumeric); err != nil {
				num = pgtype.Numeric{} // not a number after all: keep text only
			}
		}
		traw := a.Raw
		if len(traw) == 0 || !json.Valid(traw) {
			traw = []byte("{}")
		}
		kind := a.ValueKind
		if kind == "" {
			kind = indexer.ValueString
		}
		tr.Contracts = append(tr.Contracts, contract)
		tr.TokenIds = append(tr.TokenIds, tokenID)
		tr.Ordinals = append(tr.Ordinals, int16(j)) // j < maxPerToken <= 32767
		tr.TraitTypes = append(tr.TraitTypes, a.Type)
		tr.ValueTexts = append(tr.ValueTexts, a.ValueText)
		tr.ValueKinds = append(tr.ValueKinds, string(kind))
		tr.ValueNumerics = append(tr.ValueNumerics, num)
		tr.DisplayTypes = append(tr.DisplayTypes, a.DisplayType)
		tr.MaxValues = append(tr.MaxValues, a.MaxValue)
		tr.Raws = append(tr.Raws, traw)
	}
}

// batchSizeMemory is how long a batch size learned from a refusal holds;
// after it the configured size is tried again (the source may have raised
// its maximum), at the cost of one refused call a day.
const batchSizeMemory = 24 * time.Hour

// batchSizer is the size of one trait source's batch calls: the configured
// size (Traits.BatchSize), or the smaller one learned since the source last
// refused a batch as too large. What it learns is kept in PostgreSQL
// (trait_batch_sizes), so every replica and the next job start from the
// size that works instead of each paying its own refused calls, and a
// restart does not forget it.
type batchSizer struct {
	d      *Deps
	source string
	mu     sync.Mutex
	size   int
}

// newBatchSizer starts from the configured size, or the smaller size
// learned within batchSizeMemory.
func newBatchSizer(ctx context.Context, d *Deps, source string) (*batchSizer, error) {
	size := d.Traits.batchSize()
	row, err := db.New(d.DB).TraitBatchSizeGet(ctx, db.TraitBatchSizeGetParams{Source: source, Since: d.now().Add(-batchSizeMemory)})
	switch {
	case err == nil:
		size = min(size, int(row.Size))
	case errors.Is(db.Interpret(err), db.ErrNotFound):
	default:
		return nil, fmt.Errorf("learned trait batch size of %s: %w", source, err)
	}
	return &batchSizer{d: d, source: source, size: max(size, 1)}, nil
}

func (b *batchSizer) get() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.size
}

// refused records that a call of n tokens was refused as too large and
// returns the size to go on with: half of n, or less when another call or
// replica has learned less. A failure to record it is logged; the halved
// size still holds for this job.
func (b *batchSizer) refused(ctx context.Context, n int) int {
	b.mu.Lock()
	b.size = min(b.size, max(1, n/2))
	size := b.size
	b.mu.Unlock()
	now := b.d.now()
	learned, err := db.New(b.d.DB).TraitBatchSizeLearn(ctx, db.TraitBatchSizeLearnParams{
		Source: b.source, Size: int32(size), Refused: int32(n), Now: now, Since: now.Add(-batchSizeMemory),
	})
	if err != nil {
		b.d.Logger.WarnContext(ctx, "could not record the trait batch size", slog.String("source", b.source), slog.Any("error", err))
		return size
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.size = min(b.size, max(int(learned), 1))
	b.d.Logger.InfoContext(ctx, "trait batch too large for the source; batch size halved",
		slog.String("source", b.source), slog.Int("refused", n), slog.Int("size", b.size))
	return b.size
}

// fetchBatched fetches rows with batch calls of the sizer's size, up to
// Traits.Concurrency calls in flight, and reports the answered calls. A call
// refused as too large is split in halves, and the halved size is
// remembered (batchSizer). Tokens the answer left out (not found, or an
// entry that could not be read), and every token of a call refused for
// another reason, are asked alone, once, exactly as fetchBatch asks them; a
// rate limit or transient error stops the step, and the tokens not fetched
// stay due.
func fetchBatched(ctx context.Context, d *Deps, src indexer.BatchTraitSource, c *db.Collection, rows []db.TokenTraitsDueRow, sizer *batchSizer) ([]tokenOutcome, int64) {
	out := make([]tokenOutcome, len(rows))
	for i, r := range rows {
		out[i].row = r
	}
	var (
		calls   atomic.Int64
		stopped atomic.Bool
		mu      sync.Mutex
		alone   []int // indices into rows to ask one by one
	)
	var batch func(idx []int)
	batch = func(idx []int) {
		if stopped.Load() {
			for _, i := range idx {
				out[i].err = errSkip
			}
			return
		}
		refs := make([]indexer.TokenRef, len(idx))
		for k, i := range idx {
			refs[k] = tokenRef(c, rows[i])
		}
		mds, err := src.TokenTraitsBatch(ctx, refs)
		switch class := indexer.ClassOf(err); {
		case err == nil || class == indexer.ClassPermanent || class == indexer.ClassMalformed:
			calls.Add(1) // answered (rate limits and transient failures are not counted)
		}
		switch class := indexer.ClassOf(err); {
		case err == nil:
			var missing []int
			for k, i := range idx {
				if mds[k] == nil {
					missing = append(missing, i)
					continue
				}
				setOutcome(&out[i], mds[k], nil)
			}
			mu.Lock()
			alone = append(alone, missing...)
			mu.Unlock()
		case errors.Is(err, indexer.ErrBatchTooLarge) && len(idx) > 1:
			sizer.refused(ctx, len(idx))
			for start := 0; start < len(idx); {
				size := sizer.get() // what this or another call learned since
				batch(idx[start:min(start+size, len(idx))])
				start += size
			}
		case class == indexer.ClassPermanent || class == indexer.ClassMalformed:
			d.Logger.WarnContext(ctx, "trait batch call refused; asking its tokens one by one",
				slog.String("slug", c.Slug), slog.Int("tokens", len(idx)), slog.Any("error", err))
			mu.Lock()
			alone = append(alone, idx...)
			mu.Unlock()
		default:
			for _, i := range idx {
				out[i].err = err
			}
			stopped.Store(true)
		}
	}
	size := sizer.get()
	sem := make(chan struct{}, d.Traits.concurrency())
	var wg sync.WaitGroup
	for start := 0; start < len(rows); start += size {
		idx := make([]int, 0, size)
		for i := start; i < min(start+size, len(rows)); i++ {
			idx = append(idx, i)
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			batch(idx)
		}()
	}
	wg.Wait()
	if len(alone) == 0 {
		return out, calls.Load()
	}
	sort.Ints(alone)
	if stopped.Load() {
		for _, i := range alone {
			out[i].err = errSkip // still due: asked again by the next step
		}
		return out, calls.Load()
	}
	single := make([]db.TokenTraitsDueRow, len(alone))
	for k, i := range alone {
		single[k] = rows[i]
	}
	got, n := fetchBatch(ctx, src, c, single, d.Traits.concurrency())
	for k, i := range alone {
		out[i] = got[k]
	}
	d.Logger.DebugContext(ctx, "trait batch: tokens asked alone", slog.String("slug", c.Slug), slog.Int("tokens", len(alone)))
	return out, calls.Load() + n
}
