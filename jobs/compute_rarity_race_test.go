package jobs_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/nftsync/nftsync/db"
	"github.com/nftsync/nftsync/db/dbtest"
	"github.com/nftsync/nftsync/internal/rarity"
	"github.com/nftsync/nftsync/jobs"
)

// pauseTracer runs fn once, the first time its connection is about to run
// a statement containing match.
type pauseTracer struct {
	match string
	once  sync.Once
	fn    func()
}

func (p *pauseTracer) TraceQueryStart(ctx context.Context, _ *pgx.Conn, data pgx.TraceQueryStartData) context.Context {
	if strings.Contains(data.SQL, p.match) {
		p.once.Do(p.fn)
	}
	return ctx
}

func (p *pauseTracer) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

// completeSync starts a token sync run and completes it at once.
func completeSync(t *testing.T, q *db.Queries, collectionID int64) int64 {
	t.Helper()
	ctx := context.Background()
	st, err := q.TokenSyncStateStart(ctx, db.TokenSyncStateStartParams{CollectionID: collectionID, Now: time.Now()})
	require.NoError(t, err)
	n, err := q.TokenSyncStateAdvance(ctx, db.TokenSyncStateAdvanceParams{
		CollectionID: collectionID, Run: st.Run, Cursor: st.Cursor, NextCursor: "", Done: true, Now: time.Now(),
	})
	require.NoError(t, err)
	require.Equal(t, int64(1), n)
	return st.Run
}

// TestComputeRarityOlderSyncCommitsLast: a job that read sync run 1 is held
// just before it writes; meanwhile sync run 2 changes a trait and its own
// job stores the new ranks. When the first job goes on, it must not put
// run 1's ranks back.
func TestComputeRarityOlderSyncCommitsLast(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := dbtest.NewDatabase(t)
	pool, err := pgxpool.New(ctx, url)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	q := db.New(pool)
	c, err := q.CollectionUpsert(ctx, db.CollectionUpsertParams{Source: "opensea", Slug: "race", Chain: "ethereum", Priority: 2})
	require.NoError(t, err)
	seedTokens(t, pool, c.ID, 300)
	require.Equal(t, int64(1), completeSync(t, q, c.ID))

	var newer db.RarityRun
	cfg, err := pgxpool.ParseConfig(url)
	require.NoError(t, err)
	cfg.ConnConfig.Tracer = &pauseTracer{match: "pg_advisory_xact_lock", fn: func() {
		// Sync run 2: token 0 gets a value nobody else has, then completes.
		tag, err := pool.Exec(ctx, "UPDATE token_traits SET value_text = 'one-of-one' WHERE collection_id = $1 AND token_id = '0' AND ordinal = 0", c.ID)
		require.NoError(t, err)
		require.Equal(t, int64(1), tag.RowsAffected())
		require.Equal(t, int64(2), completeSync(t, q, c.ID))
		changed, err := jobs.ComputeRarity(ctx, &jobs.Deps{DB: pool, Logger: discardLogger()}, &c, rarity.OpenRarity)
		require.NoError(t, err)
		require.True(t, changed)
		newer, err = q.RarityRunGet(ctx, db.RarityRunGetParams{CollectionID: c.ID, Method: "openrarity"})
		require.NoError(t, err)
	}}
	held, err := pgxpool.NewWithConfig(ctx, cfg)
	require.NoError(t, err)
	t.Cleanup(held.Close)

	changed, err := jobs.ComputeRarity(ctx, &jobs.Deps{DB: held, Logger: discardLogger()}, &c, rarity.OpenRarity)
	require.NoError(t, err)
	require.False(t, changed, "the older computation is not stored")
	require.NotEmpty(t, newer.InputHash, "the newer job ran while the older one was held")

	run, err := q.RarityRunGet(ctx, db.RarityRunGetParams{CollectionID: c.ID, Method: "openrarity"})
	require.NoError(t, err)
	require.Equal(t, newer.InputHash, run.InputHash, "stale ranks replaced the newer run")
	require.Equal(t, newer.RunID, run.RunID)
	require.Equal(t, int64(2), run.SyncRun)
	ranks, err := q.TokenRarityList(ctx, db.TokenRarityListParams{CollectionID: c.ID, Method: "openrarity"})
	require.NoError(t, err)
	require.Len(t, ranks, 300)
	for _, r := range ranks {
		require.Equal(t, newer.InputHash, r.InputHash)
		if r.TokenID == "0" {
			require.Positive(t, r.UniqueCount, "token 0's one-of-one value (sync run 2) is scored")
		}
	}

	// The same input again under a newer snapshot writes nothing but
	// moves the provenance on.
	changed, err = jobs.ComputeRarity(ctx, &jobs.Deps{DB: pool, Logger: discardLogger()}, &c, rarity.OpenRarity)
	require.NoError(t, err)
	require.False(t, changed)
	again, err := q.RarityRunGet(ctx, db.RarityRunGetParams{CollectionID: c.ID, Method: "openrarity"})
	require.NoError(t, err)
	require.Equal(t, run.RunID, again.RunID)
	require.Greater(t, again.SnapshotXmax, run.SnapshotXmax)
}

// A sync run in progress is not claimed: the run recorded is the last
// completed one.
func TestComputeRarityRecordsCompletedSyncRun(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := dbtest.DB(t)
	q := db.New(pool)
	c, err := q.CollectionUpsert(ctx, db.CollectionUpsertParams{Source: "opensea", Slug: "inprogress", Chain: "ethereum", Priority: 2})
	require.NoError(t, err)
	seedTokens(t, pool, c.ID, 50)
	deps := &jobs.Deps{DB: pool, Logger: discardLogger()}

	changed, err := jobs.ComputeRarity(ctx, deps, &c, rarity.OpenRarity)
	require.NoError(t, err)
	require.True(t, changed)
	run, err := q.RarityRunGet(ctx, db.RarityRunGetParams{CollectionID: c.ID, Method: "openrarity"})
	require.NoError(t, err)
	require.Zero(t, run.SyncRun, "no sync completed yet")

	completeSync(t, q, c.ID)
	completeSync(t, q, c.ID)
	_, err = q.TokenSyncStateStart(ctx, db.TokenSyncStateStartParams{CollectionID: c.ID, Now: time.Now()}) // run 3, unfinished
	require.NoError(t, err)
	_, err = pool.Exec(ctx, "UPDATE token_traits SET value_text = 'x' WHERE collection_id = $1 AND token_id = '1' AND ordinal = 0", c.ID)
	require.NoError(t, err)
	changed, err = jobs.ComputeRarity(ctx, deps, &c, rarity.OpenRarity)
	require.NoError(t, err)
	require.True(t, changed)
	run, err = q.RarityRunGet(ctx, db.RarityRunGetParams{CollectionID: c.ID, Method: "openrarity"})
	require.NoError(t, err)
	require.Equal(t, int64(2), run.SyncRun)
}

// The job merges two key-ordered reads (tokens, traits): tokens without
// traits, tokens whose traits are unknown (left out, their traits too),
// several contracts (ids "contract/token"), colliding trait names in
// ordinal order and numeric values must come out as rarity.Compute on the
// same tokens gives.
func TestComputeRarityMergesTokensAndTraits(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := dbtest.DB(t)
	q := db.New(pool)
	c, err := q.CollectionUpsert(ctx, db.CollectionUpsertParams{Source: "opensea", Slug: "merge", Chain: "ethereum", Priority: 2})
	require.NoError(t, err)
	type trait struct {
		name, value, kind string
	}
	type token struct {
		contract, id string
		known        bool
		traits       []trait
	}
	toks := []token{
		{"0xa", "1", true, []trait{{"Hat", "Cap", "string"}, {"Eyes", "Blue", "string"}}},
		{"0xa", "10", true, []trait{{"Hat", "Crown", "string"}, {" hat ", "Beanie", "string"}, {"Level", "3", "number"}}},
		{"0xa", "2", true, nil},
		{"0xa", "3", false, []trait{{"Hat", "Unique", "string"}}},
		{"0xa", "4", true, []trait{{"Eyes", "Red", "string"}}},
		{"0xb", "1", true, []trait{{"Hat", "Cap", "string"}, {"Eyes", "Blue", "string"}}},
		{"0xb", "5", false, nil},
		{"0xb", "6", true, nil},
	}
	tp := db.TokenUpsertBatchParams{CollectionID: c.ID, FetchedAt: time.Now(), SyncRun: 1}
	tr := db.TokenTraitsInsertBatchParams{CollectionID: c.ID}
	var want []rarity.Token
	for _, tk := range toks {
		tp.Contracts, tp.TokenIds, tp.TokenStandards = append(tp.Contracts, tk.contract), append(tp.TokenIds, tk.id), append(tp.TokenStandards, "erc721")
		tp.Names, tp.ImageUrls, tp.MetadataUrls = append(tp.Names, ""), append(tp.ImageUrls, ""), append(tp.MetadataUrls, "")
		tp.TraitsKnown, tp.SourceUpdatedAts, tp.Raws = append(tp.TraitsKnown, tk.known), append(tp.SourceUpdatedAts, time.Time{}), append(tp.Raws, []byte("{}"))
		rt := rarity.Token{ID: tk.contract + "/" + tk.id, Standard: "erc721"}
		for k, a := range tk.traits {
			tr.Contracts, tr.TokenIds, tr.Ordinals = append(tr.Contracts, tk.contract), append(tr.TokenIds, tk.id), append(tr.Ordinals, int16(k))
			tr.TraitTypes, tr.ValueTexts, tr.ValueKinds = append(tr.TraitTypes, a.name), append(tr.ValueTexts, a.value), append(tr.ValueKinds, a.kind)
			tr.ValueNumerics, tr.DisplayTypes, tr.MaxValues = append(tr.ValueNumerics, pgtype.Numeric{}), append(tr.DisplayTypes, ""), append(tr.MaxValues, "")
			tr.Raws = append(tr.Raws, []byte(`{}`))
			rt.Attributes = append(rt.Attributes, rarity.Attribute{Name: a.name, Value: a.value, Numeric: a.kind != "string"})
		}
		if tk.known {
			want = append(want, rt)
		}
	}
	require.NoError(t, q.TokenUpsertBatch(ctx, tp))
	require.NoError(t, q.TokenTraitsInsertBatch(ctx, tr))
	ref, err := rarity.Compute(want, rarity.Options{})
	require.NoError(t, err)

	changed, err := jobs.ComputeRarity(ctx, &jobs.Deps{DB: pool, Logger: discardLogger()}, &c, rarity.OpenRarity)
	require.NoError(t, err)
	require.True(t, changed)
	run, err := q.RarityRunGet(ctx, db.RarityRunGetParams{CollectionID: c.ID, Method: "openrarity"})
	require.NoError(t, err)
	require.Equal(t, ref.InputHash, run.InputHash)
	rows, err := q.TokenRarityList(ctx, db.TokenRarityListParams{CollectionID: c.ID, Method: "openrarity"})
	require.NoError(t, err)
	got := map[string][2]float64{}
	for _, r := range rows {
		got[r.Contract+"/"+r.TokenID] = [2]float64{r.Score, float64(r.Rank)}
	}
	exp := map[string][2]float64{}
	for _, r := range ref.Tokens {
		exp[r.ID] = [2]float64{r.Score, float64(r.Rank)}
	}
	require.Equal(t, exp, got)
}
