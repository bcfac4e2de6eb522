package jobs

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/nftsync/nftsync/db"
	"github.com/nftsync/nftsync/internal/clip"
	"github.com/nftsync/nftsync/internal/indexer"
	"github.com/nftsync/nftsync/internal/ratelimit"
	"github.com/nftsync/nftsync/jobs/jobargs"
)

// SyncTokensArgs is the job contract in jobargs.
type SyncTokensArgs = jobargs.SyncTokensArgs

// SyncTokensWorker works SyncTokensArgs.
type SyncTokensWorker struct {
	river.WorkerDefaults[SyncTokensArgs]
	Deps *Deps
	// AfterSync, when set, is called inside the transaction that stores the
	// last page, to enqueue follow-up work (compute_rarity) atomically with
	// the sync's completion.
	AfterSync func(ctx context.Context, tx pgx.Tx, collectionID, syncRun int64) error
}

// Timeout leaves room for the page budget plus one slow last page.
func (w *SyncTokensWorker) Timeout(*river.Job[SyncTokensArgs]) time.Duration {
	return SyncTokensTimeout(w.Deps.tokenSyncBudget(), w.Deps.PageTimeout)
}

// SyncTokensTimeout is the sync_tokens job timeout for a page budget and an
// upstream request timeout (0 means 30s): budget + page timeout + 10s.
// RescueStuckJobsAfter must exceed it.
func SyncTokensTimeout(budget, pageTimeout time.Duration) time.Duration {
	if pageTimeout <= 0 {
		pageTimeout = 30 * time.Second
	}
	return budget + pageTimeout + 10*time.Second
}

var tokenIDPattern = regexp.MustCompile(`^[0-9]+$`)

// Work resumes the collection's sync run (or starts a new one after a
// completed run) from its persisted cursor and stores page after page; each
// page's tokens, traits and the advanced cursor commit together, so a crash
// loses at most the page in flight. When the budget is spent it snoozes (no
// attempt spent) and the next run continues from the cursor. The last page
// deletes tokens the run did not see and marks the run complete.
func (w *SyncTokensWorker) Work(ctx context.Context, job *river.Job[SyncTokensArgs]) error {
	d := w.Deps
	c, err := loadCollection(ctx, d, job.Args.CollectionID)
	if err != nil {
		return err
	}
	if err := activeOrSkip(d, ctx, c, RefreshTokens); err != nil {
		return nil //nolint:nilerr // inactive collections complete without work
	}
	idx, err := d.indexer(c.Source)
	if err != nil {
		return err
	}
	state, err := db.New(d.DB).TokenSyncStateStart(ctx, db.TokenSyncStateStartParams{CollectionID: c.ID, Now: d.now()})
	if err != nil {
		return fmt.Errorf("start token sync %s: %w", c.Slug, err)
	}
	deadline := d.now().Add(d.tokenSyncBudget())
	priorityFirst := manualFirstPage(job.JobRow, job.Args.CollectionArgs, state.Pages)
	cursor, seen := state.Cursor, state.TokensSeen
	supply := w.supply(ctx, c)
	visited := map[string]bool{cursor: true}
	for page := 1; ; page++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		op := fmt.Sprintf("fetch tokens %s page %d", c.Slug, state.Pages+int32(page))
		class := ratelimit.ClassBulk
		if page == 1 && priorityFirst {
			class = ratelimit.ClassPriority
		}
		tp, err := idx.Tokens(ratelimit.WithClass(ctx, class), c.Slug, cursor)
		if err != nil {
			if cursor != "" && indexer.ClassOf(err) == indexer.ClassPermanent && !isNotFound(err) {
				// Upstream refused the cursor (expired, or changed format):
				// start the run over instead of giving up on the collection.
				if rerr := db.New(d.DB).TokenSyncStateRestart(ctx, db.TokenSyncStateRestartParams{Now: d.now(), CollectionID: c.ID}); rerr != nil {
					return fmt.Errorf("restart token sync %s: %w", c.Slug, rerr)
				}
				if qerr := recordQuality(ctx, d, job.JobRow, c, "cursor_rejected", op, err.Error()); qerr != nil {
					return qerr
				}
				return fmt.Errorf("%s: cursor rejected, sync restarts from the first page: %w", op, err)
			}
			return handleFetchError(ctx, d, job.JobRow, c, op, err)
		}
		done := tp.Next == ""
		if !done && visited[tp.Next] {
			return w.failLoop(ctx, job, c, op, fmt.Sprintf("the cursor after page %d was already followed in this run (a cursor cycle)", state.Pages+int32(page)))
		}
		visited[tp.Next] = true
		if !done {
			stored, err := db.New(d.DB).TokenCount(ctx, c.ID)
			if err != nil {
				return fmt.Errorf("count tokens %s: %w", c.Slug, err)
			}
			known := max(supply, stored+int64(len(tp.Tokens)))
			if limit := maxListPages(known, d.Traits.listPageSize()); int64(state.Pages)+int64(page) >= limit {
				return w.failLoop(ctx, job, c, op, fmt.Sprintf("%d pages and the list goes on, but %d tokens (supply %d, %d stored) need at most %d pages",
					state.Pages+int32(page), known, supply, stored, limit))
			}
		}
		tokens, traits, capped, err := pageRows(c.ID, tp, d.Traits.maxPerToken())
		if err != nil {
			// A token we cannot key would be lost from this page: reject the
			// page like any malformed payload and fetch it again later.
			return handleFetchError(ctx, d, job.JobRow, c, op, &indexer.Error{Class: indexer.ClassMalformed, Op: op, Err: err})
		}
		if err := w.storePage(ctx, c, state.Run, seen, cursor, tp.Next, tokens, traits, done); err != nil {
			return err
		}
		if len(capped) > 0 {
			msg := fmt.Sprintf("more than %d traits per token; the excess was dropped: %s", d.Traits.maxPerToken(), strings.Join(capped, ", "))
			d.Logger.WarnContext(ctx, "traits capped", slog.String("slug", c.Slug), slog.String("detail", clip.Text(msg, 300)))
			if err := recordQuality(ctx, d, job.JobRow, c, "traits_capped", op, msg); err != nil {
				return err
			}
		}
		seen += int64(len(tokens.TokenIds))
		cursor = tp.Next
		if done {
			d.Logger.InfoContext(ctx, "token sync complete", slog.String("slug", c.Slug),
				slog.Int64("run", state.Run), slog.Int("pages_this_job", page))
			return nil
		}
		if d.now().After(deadline) {
			d.Logger.DebugContext(ctx, "token sync budget spent, continuing later", slog.String("slug", c.Slug))
			return river.JobSnooze(0)
		}
	}
}

// manualFirstPage reports whether a sync_tokens job fetches its first page
// at priority: only a manual refresh does, and only for the page that
// shows the operator fresh data; every later page is a bulk backfill, so a
// refresh of a big collection cannot starve live refreshes cluster-wide. A
// manual job keeps priority while its run has stored no page yet (its first
// try was rate limited) or until its first snooze (it joined a run in
// progress); after the budget snooze that follows its first pages, it
// continues in bulk.
func manualFirstPage(job *rivertype.JobRow, args CollectionArgs, runPages int32) bool {
	if !args.Manual {
		return false
	}
	return runPages == 0 || snoozes(job) == 0
}

// snoozes returns how often River snoozed the job (metadata.snoozes).
func snoozes(job *rivertype.JobRow) int {
	var md struct {
		Snoozes int `json:"snoozes"`
	}
	if len(job.Metadata) == 0 || json.Unmarshal(job.Metadata, &md) != nil {
		return 0
	}
	return md.Snoozes
}

// supply is the collection's size as its metadata says (0 when unknown).
func (w *SyncTokensWorker) supply(ctx context.Context, c *db.Collection) int64 {
	m, err := db.New(w.Deps.DB).MetadataGet(ctx, c.ID)
	if err != nil || !m.TotalSupply.Valid {
		return 0
	}
	return m.TotalSupply.Int64
}

// maxListPages bounds the pages one listing of n tokens may take (n is the
// larger of the collection's supply and the distinct tokens stored so far
// plus the page in hand): n plus 10%, in pages, plus 10 pages of margin.
// Endless pages, empty or repeating ones, add no new tokens and cross it.
func maxListPages(n int64, pageSize int) int64 {
	return (n+n/10+int64(pageSize)-1)/int64(pageSize) + 10
}

// failLoop fails a listing that does not end: the run restarts from the
// first page next time, a data-quality event and an error log say why, and
// the job is cancelled instead of snoozing forever.
func (w *SyncTokensWorker) failLoop(ctx context.Context, job *river.Job[SyncTokensArgs], c *db.Collection, op, why string) error {
	d := w.Deps
	msg := "token listing does not end: " + why + "; the sync run is abandoned and restarts from the first page on the next schedule"
	d.Logger.ErrorContext(ctx, "token listing loops; sync run failed", slog.String("slug", c.Slug), slog.String("op", op), slog.String("reason", why))
	if err := db.New(d.DB).TokenSyncStateRestart(ctx, db.TokenSyncStateRestartParams{Now: d.now(), CollectionID: c.ID}); err != nil {
		return fmt.Errorf("restart token sync %s: %w", c.Slug, err)
	}
	if err := recordQuality(ctx, d, job.JobRow, c, "cursor_loop", op, msg); err != nil {
		return err
	}
	return river.JobCancel(fmt.Errorf("%s: %s", op, msg))
}

// storePage writes one page's tokens and traits and advances the cursor from
// cursor to next, in one transaction.
func (w *SyncTokensWorker) storePage(ctx context.Context, c *db.Collection, run, seen int64, cursor, next string, tokens *db.TokenUpsertBatchParams, traits *db.TokenTraitsInsertBatchParams, done bool) error {
	d := w.Deps
	now := d.now()
	return withTx(ctx, d, func(tx pgx.Tx) error {
		q := db.New(tx)
		tokens.FetchedAt, tokens.SyncRun, tokens.TraitsSource = now, run, ListTraitsSource(c.Source)
		if len(tokens.TokenIds) > 0 {
			if err := q.TokenUpsertBatch(ctx, *tokens); err != nil {
				return fmt.Errorf("store tokens %s: %w", c.Slug, err)
			}
			// Only tokens that came with traits get theirs replaced; a token
			// without (null) keeps what is stored.
			known := &db.TokenTraitsDeleteBatchParams{CollectionID: c.ID}
			for i, ok := range tokens.TraitsKnown {
				if ok {
					known.Contracts = append(known.Contracts, tokens.Contracts[i])
					known.TokenIds = append(known.TokenIds, tokens.TokenIds[i])
				}
			}
			if err := q.TokenTraitsDeleteBatch(ctx, *known); err != nil {
				return fmt.Errorf("clear traits %s: %w", c.Slug, err)
			}
			if len(traits.TokenIds) > 0 {
				if err := q.TokenTraitsInsertBatch(ctx, *traits); err != nil {
					return fmt.Errorf("store traits %s: %w", c.Slug, err)
				}
			}
		}
		if err := q.SyncRunListedPage(ctx, db.SyncRunListedPageParams{
			CollectionID: c.ID, Run: run, Now: now, Tokens: int64(len(tokens.TokenIds)), Done: done,
		}); err != nil {
			return fmt.Errorf("count list page %s: %w", c.Slug, err)
		}
		n, err := q.TokenSyncStateAdvance(ctx, db.TokenSyncStateAdvanceParams{
			NextCursor: next, PageTokens: int64(len(tokens.TokenIds)), Now: now, Done: done,
			CollectionID: c.ID, Run: run, Cursor: cursor,
		})
		if err != nil {
			return fmt.Errorf("advance token cursor %s: %w", c.Slug, err)
		}
		if n == 0 {
			return fmt.Errorf("advance token cursor %s: another attempt moved the cursor; retrying", c.Slug)
		}
		if !done {
			return nil
		}
		if err := w.removeVanished(ctx, q, c, run, seen+int64(len(tokens.TokenIds))); err != nil {
			return err
		}
		if err := q.ScheduleMarkSuccess(ctx, db.ScheduleMarkSuccessParams{At: now, CollectionID: c.ID, Kind: RefreshTokens}); err != nil {
			return fmt.Errorf("mark tokens refreshed %s: %w", c.Slug, err)
		}
		if w.AfterSync != nil {
			return w.AfterSync(ctx, tx, c.ID, run)
		}
		return nil
	})
}

// removeVanished deletes the tokens a completed run did not see, unless the
// run saw suspiciously few: an empty or truncated listing must not wipe a
// collection. Then nothing is deleted and a data-quality event says why.
func (w *SyncTokensWorker) removeVanished(ctx context.Context, q *db.Queries, c *db.Collection, run, seen int64) error {
	stored, err := q.TokenCount(ctx, c.ID)
	if err != nil {
		return fmt.Errorf("count tokens %s: %w", c.Slug, err)
	}
	if stale := stored - seen; stale > 0 && seen < stored/2 {
		msg := fmt.Sprintf("run %d listed %d tokens but %d are stored; kept the %d not listed", run, seen, stored, stale)
		w.Deps.Logger.WarnContext(ctx, "token listing much shorter than stored; not deleting", slog.String("slug", c.Slug), slog.String("detail", msg))
		return q.DataQualityEventInsert(ctx, db.DataQualityEventInsertParams{
			CollectionID: pgInt8(c.ID), Source: c.Source, Kind: "short_listing", Operation: "sync tokens " + c.Slug, Message: msg,
		})
	}
	removed, err := q.TokenDeleteNotInRun(ctx, db.TokenDeleteNotInRunParams{CollectionID: c.ID, SyncRun: run})
	if err != nil {
		return fmt.Errorf("remove vanished tokens %s: %w", c.Slug, err)
	}
	if removed > 0 {
		w.Deps.Logger.InfoContext(ctx, "removed tokens no longer listed upstream", slog.String("slug", c.Slug), slog.Int64("tokens", removed))
	}
	return nil
}

// ListTraitsSource is the traits_source of tokens whose traits came in the
// list answer of the collection's source ("opensea:list"), as opposed to the
// per-token trait sources ("opensea", "token_uri").
func ListTraitsSource(source string) string { return source + ":list" }

// pageRows converts a page into batch parameters; duplicate tokens in one
// page keep the last occurrence. A token whose identifier is not a decimal
// number fails the whole page (storing the rest would silently lose it).
// Traits beyond maxTraits per token are dropped; capped lists those tokens.
func pageRows(collectionID int64, tp *indexer.TokenPage, maxTraits int) (t *db.TokenUpsertBatchParams, tr *db.TokenTraitsInsertBatchParams, capped []string, err error) {
	t = &db.TokenUpsertBatchParams{CollectionID: collectionID}
	tr = &db.TokenTraitsInsertBatchParams{CollectionID: collectionID}
	seen := map[string]bool{}
	for i := len(tp.Tokens) - 1; i >= 0; i-- { // last occurrence wins
		tok := tp.Tokens[i]
		contract := strings.ToLower(tok.Contract)
		key := contract + "/" + tok.TokenID
		if seen[key] {
			continue
		}
		seen[key] = true
		if !tokenIDPattern.MatchString(tok.TokenID) {
			return nil, nil, nil, fmt.Errorf("token identifier %q is not a decimal number", clip.Text(tok.TokenID, 80))
		}
		raw := tok.Raw
		if len(raw) == 0 || !json.Valid(raw) {
			raw = json.RawMessage("{}")
		}
		t.Contracts = append(t.Contracts, contract)
		t.TokenIds = append(t.TokenIds, tok.TokenID)
		t.TokenStandards = append(t.TokenStandards, tok.TokenStandard)
		t.Names = append(t.Names, tok.Name)
		t.ImageUrls = append(t.ImageUrls, tok.ImageURL)
		t.MetadataUrls = append(t.MetadataUrls, tok.MetadataURL)
		t.TraitsKnown = append(t.TraitsKnown, tok.Traits != nil)
		t.SourceUpdatedAts = append(t.SourceUpdatedAts, tok.UpdatedAt)
		t.Raws = append(t.Raws, raw)
		kept, dropped := capTraits(tok.Traits, maxTraits)
		if dropped > 0 {
			capped = append(capped, fmt.Sprintf("%s (%d of %d kept)", tok.TokenID, len(kept), len(tok.Traits)))
		}
		appendTraitRows(tr, contract, tok.TokenID, kept)
	}
	return t, tr, capped, nil
}
