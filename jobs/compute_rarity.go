package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"github.com/nftsync/nftsync/db"
	"github.com/nftsync/nftsync/internal/rarity"
	"github.com/nftsync/nftsync/jobs/jobargs"
)

// ComputeRarityArgs is the job contract in jobargs.
type ComputeRarityArgs = jobargs.ComputeRarityArgs

// enqueueRarity is the token sync's AfterSync hook: compute_rarity is
// inserted in the same transaction that completes the sync, so a sync never
// completes without its rarity job and a rolled-back sync enqueues nothing.
func enqueueRarity(ctx context.Context, tx pgx.Tx, collectionID, syncRun int64) error {
	client, err := river.ClientFromContextSafely[pgx.Tx](ctx)
	if err != nil {
		return fmt.Errorf("enqueue compute_rarity: %w", err)
	}
	args := ComputeRarityArgs{CollectionID: collectionID, Method: string(rarity.OpenRarity), SyncRun: syncRun}
	if _, err := client.InsertTx(ctx, tx, args, nil); err != nil {
		return fmt.Errorf("enqueue compute_rarity for collection %d: %w", collectionID, err)
	}
	return nil
}

// ComputeRarityWorker works ComputeRarityArgs.
type ComputeRarityWorker struct {
	river.WorkerDefaults[ComputeRarityArgs]
	Deps *Deps
}

// Work loads every token with its traits, computes scores and ranks, and
// writes score, rank, unique count, trait count, method, version and input
// hash of every token plus the per trait-value counts in ONE transaction,
// with COPY (no row-by-row writes). When the input hash equals the stored
// run's, nothing is written. An ERC-1155 collection cancels the job with the
// reason recorded as a data-quality event.
func (w *ComputeRarityWorker) Work(ctx context.Context, job *river.Job[ComputeRarityArgs]) error {
	d := w.Deps
	c, err := loadCollection(ctx, d, job.Args.CollectionID)
	if err != nil {
		return err
	}
	method, err := rarity.ParseMethod(job.Args.Method)
	if err != nil {
		return river.JobCancel(err)
	}
	_, err = ComputeRarity(ctx, d, c, method)
	var refused *RarityRefusedError
	if errors.As(err, &refused) {
		if qerr := recordQuality(ctx, d, job.JobRow, c, "rarity_refused", "compute rarity "+c.Slug, err.Error()); qerr != nil {
			return qerr
		}
		return river.JobCancel(err)
	}
	return err
}

// RarityRefusedError is returned when the collection cannot be scored (an
// ERC-1155 token, an unknown standard); retrying will not help.
type RarityRefusedError struct{ Err error }

func (e *RarityRefusedError) Error() string { return e.Err.Error() }
func (e *RarityRefusedError) Unwrap() error { return e.Err }

// ComputeRarity is the body of the job: load, compute, and write unless the
// input hash is unchanged. It reports whether anything was written.
func ComputeRarity(ctx context.Context, d *Deps, c *db.Collection, method rarity.Method) (bool, error) {
	q := db.New(d.DB)
	toks, err := q.TokenListForRarity(ctx, c.ID)
	if err != nil {
		return false, fmt.Errorf("load tokens %s: %w", c.Slug, err)
	}
	traits, err := q.TokenTraitsForRarity(ctx, c.ID)
	if err != nil {
		return false, fmt.Errorf("load traits %s: %w", c.Slug, err)
	}
	tokens, keys := rarityInput(toks, traits)
	res, err := rarity.Compute(tokens, rarity.Options{Method: method})
	if err != nil {
		return false, &RarityRefusedError{fmt.Errorf("compute rarity %s: %w", c.Slug, err)}
	}
	prev, err := db.New(d.DB).RarityRunGet(ctx, db.RarityRunGetParams{CollectionID: c.ID, Method: string(res.Method)})
	if err == nil && prev.InputHash == res.InputHash && prev.Version == res.Version {
		d.Logger.DebugContext(ctx, "rarity input unchanged", slog.String("slug", c.Slug))
		return false, nil
	}
	if err != nil && !errors.Is(db.Interpret(err), db.ErrNotFound) {
		return false, fmt.Errorf("load rarity run %s: %w", c.Slug, err)
	}
	err = withTx(ctx, d, func(tx pgx.Tx) error {
		return storeRarity(ctx, tx, c.ID, res, keys, d.now())
	})
	if err != nil {
		return false, fmt.Errorf("store rarity %s: %w", c.Slug, err)
	}
	return true, nil
}

type tokenKey struct{ contract, tokenID string }

// rarityInput builds the rarity input from the token list and the
// (unordered) traits, attributes in ordinal order. Collections with one
// contract use the token id as rarity id (numeric order); with several
// contracts the id is "contract/token" (byte order after numeric ids).
func rarityInput(toks []db.TokenListForRarityRow, traits []db.TokenTraitsForRarityRow) ([]rarity.Token, map[string]int64) {
	multi := false
	for _, t := range toks {
		multi = multi || t.Contract != toks[0].Contract
	}
	tokens := make([]rarity.Token, len(toks))
	keys := make(map[string]int64, len(toks))
	index := make(map[tokenKey]int, len(toks))
	for i, t := range toks {
		k := tokenKey{t.Contract, t.TokenID}
		id := t.TokenID
		if multi {
			id = t.Contract + "/" + t.TokenID
		}
		keys[id] = t.ID
		index[k] = i
		tokens[i] = rarity.Token{ID: id, Standard: t.TokenStandard}
	}
	// Traits arrive unordered; sort each token's by ordinal afterwards.
	ordinals := make([][]int16, len(toks))
	for _, r := range traits {
		i, ok := index[tokenKey{r.Contract, r.TokenID}]
		if !ok {
			continue // token deleted concurrently; its traits go with it
		}
		tokens[i].Attributes = append(tokens[i].Attributes, rarity.Attribute{
			Name: r.TraitType, Value: r.ValueText, DisplayType: r.DisplayType, Numeric: r.IsNumeric,
		})
		ordinals[i] = append(ordinals[i], r.Ordinal)
	}
	for i := range tokens {
		sortByOrdinal(tokens[i].Attributes, ordinals[i])
	}
	return tokens, keys
}

// sortByOrdinal orders attrs by ords (insertion sort: a token has a handful
// of traits, usually already in order).
func sortByOrdinal(attrs []rarity.Attribute, ords []int16) {
	for i := 1; i < len(attrs); i++ {
		for j := i; j > 0 && ords[j] < ords[j-1]; j-- {
			attrs[j], attrs[j-1] = attrs[j-1], attrs[j]
			ords[j], ords[j-1] = ords[j-1], ords[j]
		}
	}
}

// storeRarity writes a new run: per-token rows under a fresh run id (COPY),
// the trait statistics, and the run row pointing at the new id; the previous
// run's rows are deleted. Readers see either the old or the new run.
func storeRarity(ctx context.Context, tx pgx.Tx, collectionID int64, res *rarity.Result, keys map[string]int64, now time.Time) error {
	q := db.New(tx)
	method := string(res.Method)
	if err := q.RarityLock(ctx, int32(collectionID)); err != nil {
		return fmt.Errorf("lock rarity of collection %d: %w", collectionID, err)
	}
	prev, err := q.RarityRunGet(ctx, db.RarityRunGetParams{CollectionID: collectionID, Method: method})
	switch {
	case err == nil:
		if err := q.TokenRarityDeleteRun(ctx, prev.RunID); err != nil {
			return fmt.Errorf("delete previous run: %w", err)
		}
	case !errors.Is(db.Interpret(err), db.ErrNotFound):
		return fmt.Errorf("load previous run: %w", err)
	}
	runID, err := q.RarityRunNextID(ctx)
	if err != nil {
		return fmt.Errorf("new run id: %w", err)
	}
	rows := make([]db.TokenRarityInsertParams, 0, len(res.Tokens))
	for _, t := range res.Tokens {
		rows = append(rows, db.TokenRarityInsertParams{
			RunID: runID, TokenPk: keys[t.ID], Score: t.Score, Rank: int32(t.Rank),
			UniqueCount: int32(t.Unique), TraitCount: int32(t.TraitCount),
		})
	}
	if _, err := q.TokenRarityInsert(ctx, rows); err != nil {
		return fmt.Errorf("write token rarity: %w", err)
	}
	if err := q.TraitValueStatsDeleteForMethod(ctx, db.TraitValueStatsDeleteForMethodParams{CollectionID: collectionID, Method: method}); err != nil {
		return fmt.Errorf("clear trait stats: %w", err)
	}
	stats := make([]db.TraitValueStatsInsertParams, 0, len(res.Traits))
	for _, v := range res.Traits {
		stats = append(stats, db.TraitValueStatsInsertParams{
			CollectionID: collectionID, Method: method, TraitType: v.Name, Value: v.Value, IsNull: v.Null,
			Count: int32(v.Count), Frequency: v.Frequency,
		})
	}
	if _, err := q.TraitValueStatsInsert(ctx, stats); err != nil {
		return fmt.Errorf("write trait stats: %w", err)
	}
	excluded, err := json.Marshal(res.Excluded)
	if err != nil {
		return fmt.Errorf("encode excluded traits: %w", err)
	}
	notes, err := json.Marshal(map[string]any{"duplicates": len(res.Duplicates)})
	if err != nil {
		return fmt.Errorf("encode notes: %w", err)
	}
	return q.RarityRunUpsert(ctx, db.RarityRunUpsertParams{
		CollectionID: collectionID, Method: method, RunID: runID, Version: res.Version, InputHash: res.InputHash,
		Entropy: res.Entropy, TokenCount: int32(len(res.Tokens)), ExcludedTraits: excluded, Notes: notes, ComputedAt: now,
	})
}
