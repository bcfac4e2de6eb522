package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"

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

// Work computes the rarity of the collection (see ComputeRarity): every
// token's score, rank, unique count and trait count, method, version, input
// hash and the sync run it was computed from, plus the per trait-value
// counts, written in ONE transaction with COPY (no row-by-row writes). An
// unchanged input or a stored run computed from newer data writes nothing.
// An ERC-1155 collection cancels the job with the reason recorded as a
// data-quality event.
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

// ComputeRarity is the body of the job: read, compute, and write unless the
// stored run is as new and has the same input hash. It reports whether a
// new run was written.
//
// The input is read in ONE repeatable-read snapshot (tokens, traits and the
// token sync run they belong to), streamed into the engine row by row with
// repeated strings interned, so no copy of the collection is held. The
// write takes the collection's rarity lock and only then compares with the
// stored run: a run computed from an older sync run (or an older snapshot
// of the same run) never replaces a newer one, whatever the commit order of
// two overlapping jobs.
func ComputeRarity(ctx context.Context, d *Deps, c *db.Collection, method rarity.Method) (bool, error) {
	in, err := readRarityInput(ctx, d, c, method)
	if err != nil {
		return false, err
	}
	return computeAndStore(ctx, d, c, in)
}

// errRefused stops the read of a collection the engine refuses.
var errRefused = errors.New("rarity input refused")

// rarityInput is what one snapshot read gathered.
type rarityInput struct {
	b    *rarity.Builder
	pks  []int64 // builder input index -> tokens.id
	src  rarityRunSource
	refu error // refused while reading (bad token standard)
	// Tokens left out, unranked: the source does not know their traits
	// (unknown), or their traits are not known for another reason (missing:
	// not fetched yet, fetch failed; only below full coverage).
	unknown, missing int32
}

// rarityRunSource identifies the data a run was computed from.
type rarityRunSource struct {
	syncRun, snapshotXmax int64
}

func (s rarityRunSource) newerThan(o rarityRunSource) bool {
	return s.syncRun > o.syncRun || (s.syncRun == o.syncRun && s.snapshotXmax > o.snapshotXmax)
}

// txBeginner opens a transaction with options (a pool does; a pgx.Tx, as
// tests pass, does not: its Begin opens a savepoint of the outer one).
type txBeginner interface {
	BeginTx(ctx context.Context, opts pgx.TxOptions) (pgx.Tx, error)
}

// readRarityInput reads the collection in one REPEATABLE READ, READ ONLY
// transaction into a rarity.Builder. Only tokens whose traits are known
// are read into it: the others (unknown to the source, not fetched, failed)
// are counted and left unranked, and the collection size OpenRarity's
// probabilities use is the number of tokens ranked. Collections with one contract use the
// token id as rarity id (numeric order); with several contracts the id is
// "contract/token".
func readRarityInput(ctx context.Context, d *Deps, c *db.Collection, method rarity.Method) (*rarityInput, error) {
	b, err := rarity.NewBuilder(rarity.Options{Method: method})
	if err != nil {
		return nil, err
	}
	in := &rarityInput{b: b}
	var tx pgx.Tx
	if bt, ok := d.DB.(txBeginner); ok {
		tx, err = bt.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	} else {
		tx, err = d.DB.Begin(ctx)
	}
	if err != nil {
		return nil, fmt.Errorf("read rarity input %s: begin: %w", c.Slug, err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	q := db.New(tx)
	if err := q.RarityReadSettings(ctx); err != nil {
		return nil, fmt.Errorf("read rarity input %s: settings: %w", c.Slug, err)
	}
	snap, err := q.RaritySnapshot(ctx, c.ID)
	if err != nil {
		return nil, fmt.Errorf("read rarity input %s: snapshot: %w", c.Slug, err)
	}
	in.src = rarityRunSource{syncRun: snap.SyncRun, snapshotXmax: snap.SnapshotXmax}
	unranked, err := q.RarityUnranked(ctx, c.ID)
	if err != nil {
		return nil, fmt.Errorf("read rarity input %s: unranked tokens: %w", c.Slug, err)
	}
	in.unknown, in.missing = unranked.Unknown, unranked.Missing

	// Pass 1: every token, in key order (ids, keys, standards and whether
	// its traits are known).
	var (
		ids      []string
		pks      []int64
		known    []bool
		stdOf    []uint16 // index into stds
		stds     []string
		stdIndex = map[string]uint16{}
		key      []byte
	)
	keyOf := func(contract, tokenID []byte) []byte {
		if !snap.MultiContract {
			return tokenID
		}
		key = append(append(append(key[:0], contract...), '/'), tokenID...)
		return key
	}
	err = q.RarityTokensEach(ctx, c.ID, func(r *db.RarityTokenRaw) error {
		si, ok := stdIndex[string(r.TokenStandard)]
		if !ok {
			if len(stds) == 1<<16-1 {
				return fmt.Errorf("more than %d token standards", len(stds))
			}
			si = uint16(len(stds))
			stds = append(stds, string(r.TokenStandard))
			stdIndex[stds[si]] = si
		}
		ids = append(ids, string(keyOf(r.Contract, r.TokenID)))
		pks = append(pks, r.ID)
		known = append(known, r.TraitsKnown)
		stdOf = append(stdOf, si)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read rarity input %s: tokens: %w", c.Slug, err)
	}

	// Pass 2: the traits in the same key order, merged with the tokens.
	// Tokens whose traits are unknown are left out.
	b.Grow(len(ids))
	begin := func(i int) error {
		if err := b.Begin(ids[i], stds[stdOf[i]]); err != nil {
			in.refu = err
			return errRefused
		}
		in.pks = append(in.pks, pks[i])
		return nil
	}
	empty := func(from, to int) error { // tokens without traits
		for i := from; i < to; i++ {
			if known[i] {
				if err := begin(i); err != nil {
					return err
				}
				b.End()
			}
		}
		return nil
	}
	cur, open := -1, false // the token whose traits are arriving; whether it is being built
	err = q.RarityTraitsEach(ctx, c.ID, func(r *db.RarityTraitRaw) error {
		if k := keyOf(r.Contract, r.TokenID); cur < 0 || ids[cur] != string(k) {
			if open {
				b.End()
				open = false
			}
			to := cur + 1
			for to < len(ids) && ids[to] != string(k) {
				to++
			}
			if to == len(ids) {
				return fmt.Errorf("traits of token %q do not follow the token order", k)
			}
			if err := empty(cur+1, to); err != nil {
				return err
			}
			cur = to
			if known[cur] {
				if err := begin(cur); err != nil {
					return err
				}
				open = true
			}
		}
		if open {
			b.AttrBytes(r.TraitType, r.ValueText, r.DisplayType, r.IsNumeric)
		}
		return nil
	})
	if err == nil {
		if open {
			b.End()
		}
		err = empty(cur+1, len(ids))
	}
	switch {
	case in.refu != nil:
		return in, nil
	case err != nil:
		return nil, fmt.Errorf("read rarity input %s: traits: %w", c.Slug, err)
	}
	return in, nil
}

// computeAndStore computes the rarity of in and stores it unless the stored
// run is newer or equal.
func computeAndStore(ctx context.Context, d *Deps, c *db.Collection, in *rarityInput) (bool, error) {
	if in.refu != nil {
		return false, &RarityRefusedError{fmt.Errorf("compute rarity %s: %w", c.Slug, in.refu)}
	}
	res, err := in.b.Compute()
	in.b = nil
	if err != nil {
		return false, &RarityRefusedError{fmt.Errorf("compute rarity %s: %w", c.Slug, err)}
	}
	written := false
	err = withTx(ctx, d, func(tx pgx.Tx) error {
		written, err = storeRarity(ctx, d, tx, c, res, in)
		return err
	})
	if err != nil {
		return false, fmt.Errorf("store rarity %s: %w", c.Slug, err)
	}
	return written, nil
}

// copyChunk bounds the rows built for one COPY.
const copyChunk = 16 << 10

// storeRarity writes a new run under the collection's rarity lock: the
// per-token rows under a fresh run id (COPY, in chunks), the trait
// statistics, and the run row pointing at the new id; the previous run's
// rows are deleted. Readers see either the old or the new run. Nothing is
// written when the stored run was computed from newer data, or from the
// same input (then only its provenance moves on).
func storeRarity(ctx context.Context, d *Deps, tx pgx.Tx, c *db.Collection, res *rarity.Result, in *rarityInput) (bool, error) {
	q := db.New(tx)
	method := string(res.Method)
	log := d.Logger.With(slog.String("slug", c.Slug), slog.String("method", method),
		slog.Int64("sync_run", in.src.syncRun))
	if err := q.RarityLock(ctx, int32(c.ID)); err != nil {
		return false, fmt.Errorf("lock rarity of collection %d: %w", c.ID, err)
	}
	prev, err := q.RarityRunGet(ctx, db.RarityRunGetParams{CollectionID: c.ID, Method: method})
	switch {
	case err == nil:
		stored := rarityRunSource{syncRun: prev.SyncRun, snapshotXmax: prev.SnapshotXmax}
		if stored.newerThan(in.src) {
			log.InfoContext(ctx, "rarity run computed from older data than the stored one; not stored",
				slog.Int64("stored_sync_run", prev.SyncRun))
			return false, nil
		}
		if prev.InputHash == res.InputHash && prev.Version == res.Version {
			log.DebugContext(ctx, "rarity input unchanged")
			return false, q.RarityRunTouch(ctx, db.RarityRunTouchParams{
				CollectionID: c.ID, Method: method, SyncRun: in.src.syncRun, SnapshotXmax: in.src.snapshotXmax,
				UnknownCount: in.unknown, MissingCount: in.missing,
			})
		}
		if err := q.TokenRarityDeleteRun(ctx, prev.RunID); err != nil {
			return false, fmt.Errorf("delete previous run: %w", err)
		}
	case !errors.Is(db.Interpret(err), db.ErrNotFound):
		return false, fmt.Errorf("load previous run: %w", err)
	}
	runID, err := q.RarityRunNextID(ctx)
	if err != nil {
		return false, fmt.Errorf("new run id: %w", err)
	}
	rows := make([]db.TokenRarityInsertParams, 0, min(copyChunk, len(res.Tokens)))
	for i, t := range res.Tokens {
		rows = append(rows, db.TokenRarityInsertParams{
			RunID: runID, TokenPk: in.pks[t.Input], Score: t.Score, Rank: int32(t.Rank),
			UniqueCount: int32(t.Unique), TraitCount: int32(t.TraitCount),
		})
		if len(rows) == cap(rows) || i == len(res.Tokens)-1 {
			if _, err := q.TokenRarityInsert(ctx, rows); err != nil {
				return false, fmt.Errorf("write token rarity: %w", err)
			}
			rows = rows[:0]
		}
	}
	if err := q.TraitValueStatsDeleteForMethod(ctx, db.TraitValueStatsDeleteForMethodParams{CollectionID: c.ID, Method: method}); err != nil {
		return false, fmt.Errorf("clear trait stats: %w", err)
	}
	stats := make([]db.TraitValueStatsInsertParams, 0, min(copyChunk, len(res.Traits)))
	for i, v := range res.Traits {
		stats = append(stats, db.TraitValueStatsInsertParams{
			CollectionID: c.ID, Method: method, TraitType: v.Name, Value: v.Value, IsNull: v.Null,
			Count: int32(v.Count), Frequency: v.Frequency,
		})
		if len(stats) == cap(stats) || i == len(res.Traits)-1 {
			if _, err := q.TraitValueStatsInsert(ctx, stats); err != nil {
				return false, fmt.Errorf("write trait stats: %w", err)
			}
			stats = stats[:0]
		}
	}
	excluded, err := json.Marshal(res.Excluded)
	if err != nil {
		return false, fmt.Errorf("encode excluded traits: %w", err)
	}
	notes, err := json.Marshal(map[string]any{"duplicates": len(res.Duplicates)})
	if err != nil {
		return false, fmt.Errorf("encode notes: %w", err)
	}
	n, err := q.RarityRunUpsert(ctx, db.RarityRunUpsertParams{
		CollectionID: c.ID, Method: method, RunID: runID, Version: res.Version, InputHash: res.InputHash,
		Entropy: res.Entropy, TokenCount: int32(len(res.Tokens)), ExcludedTraits: excluded, Notes: notes,
		ComputedAt: d.now(), SyncRun: in.src.syncRun, SnapshotXmax: in.src.snapshotXmax,
		UnknownCount: in.unknown, MissingCount: in.missing,
	})
	if err != nil {
		return false, fmt.Errorf("write rarity run: %w", err)
	}
	if n == 0 { // cannot happen under the lock; never keep a half-replaced run
		return false, errors.New("write rarity run: a newer run appeared under the lock")
	}
	return true, nil
}
