package jobs_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
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
	seedTokens(t, q, c.ID, 300)
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
	seedTokens(t, q, c.ID, 50)
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
