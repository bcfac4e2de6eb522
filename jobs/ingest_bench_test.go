package jobs_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/stretchr/testify/require"

	"github.com/nftsync/nftsync/db"
	"github.com/nftsync/nftsync/internal/benchsize"
	"github.com/nftsync/nftsync/internal/indexersim"
	"github.com/nftsync/nftsync/jobs"
)

// BenchmarkIngest compares our token sync path with the database's own bulk
// load, in the same run on the same database:
//   - sync-rows/s: token and trait rows stored per second by the real jobs
//     on one River client with the production queue sizes: sync_tokens
//     lists every collection in pages of 200, and the fetch_traits it
//     enqueues fetches each token's traits (the live API sends none in the
//     list answer), every call through the PostgreSQL limiter, from the
//     simulator with no latency and no rate limit (full: 6 collections of
//     1,000 tokens). Timed from the client's start to the last completion;
//     the stored tokens and traits must equal the simulator's.
//   - copy-rows/s: the same rows, read back, written with COPY (pgx
//     CopyFrom) into empty tables of the same shape (columns, defaults,
//     checks and indexes).
//
// ratio is sync/copy (target ≥ 0.5). sync-stmts/token is the statements
// (round trips) the sync path sent per token, River's included. One iteration is the whole
// measurement; use -benchtime 1x.
func BenchmarkIngest(b *testing.B) {
	collections := benchsize.Pick(b, 2, 6)
	tokens := benchsize.Pick(b, 300, 1000)
	for b.Loop() {
		pool, stmts := benchDBCounted(b, 30)
		before := stmts.n.Load()
		rows, syncRate, ids := benchSyncPath(b, pool, collections, tokens)
		sent := stmts.n.Load() - before
		copyRate := benchCopyRows(b, pool, ids, rows)
		b.ReportMetric(syncRate, "sync-rows/s")
		b.ReportMetric(copyRate, "copy-rows/s")
		b.ReportMetric(syncRate/copyRate, "ratio")
		b.ReportMetric(float64(rows), "rows")
		b.ReportMetric(float64(sent)/float64(collections*tokens), "sync-stmts/token")
	}
}

// benchSyncPath syncs every token and trait of n simulated collections of
// size tokens through the jobs and returns the rows stored, the rows per
// second, and the collections' ids.
func benchSyncPath(b *testing.B, pool *pgxpool.Pool, n, size int) (int64, float64, []int64) {
	b.Helper()
	ctx := context.Background()
	up := newBenchUpstream(b, pool, indexersim.Config{Seed: 13, Collections: n, MinTokens: size, MaxTokens: size})
	defaults := jobs.DefaultMaxWorkers()
	cfg := jobs.Config{MaxWorkers: map[string]int{jobs.QueueTokens: defaults[jobs.QueueTokens], jobs.QueueTraits: defaults[jobs.QueueTraits]}}
	q := db.New(pool)
	var params []river.InsertManyParams
	var ids []int64
	var wantTokens, wantTraits int64
	for _, slug := range up.sim.Slugs() {
		c, err := q.CollectionUpsert(ctx, db.CollectionUpsertParams{Source: "opensea", Slug: slug, Chain: "ethereum", Priority: 2})
		require.NoError(b, err)
		require.NoError(b, q.ScheduleEnsure(ctx, db.ScheduleEnsureParams{CollectionID: c.ID, Kind: jobs.RefreshTokens, EverySeconds: 3600}))
		params = append(params, river.InsertManyParams{Args: jobs.SyncTokensArgs{CollectionArgs: jobs.CollectionArgs{CollectionID: c.ID}}})
		ids = append(ids, c.ID)
		info, ok := up.sim.Collection(slug)
		require.True(b, ok)
		for i := range info.TokenCount {
			traits, ok := up.sim.Token(slug, strconv.Itoa(info.FirstTokenID+i))
			require.True(b, ok)
			wantTokens++
			wantTraits += int64(len(traits))
		}
	}
	client := newBenchClient(b, pool, up.deps, cfg)
	_, err := client.InsertManyFast(ctx, params)
	require.NoError(b, err)
	elapsed, _ := timeUntilCompleted(b, client, pool, 2*n, []string{"sync_tokens", "fetch_traits"})

	var gotTokens, gotTraits int64
	require.NoError(b, pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM tokens WHERE collection_id = ANY($1)),
		(SELECT count(*) FROM token_traits WHERE collection_id = ANY($1))`, ids).Scan(&gotTokens, &gotTraits))
	require.Equal(b, wantTokens, gotTokens, "tokens stored")
	require.Equal(b, wantTraits, gotTraits, "trait rows stored")
	rows := gotTokens + gotTraits
	return rows, float64(rows) / elapsed.Seconds(), ids
}

// benchCopyRows reads the collections' token and trait rows back and
// returns the rows per second COPY writes them into empty tables of the same
// shape (identity dropped: the ids are copied as they are).
func benchCopyRows(b *testing.B, pool *pgxpool.Pool, ids []int64, want int64) float64 {
	b.Helper()
	ctx := context.Background()
	type table struct {
		from, to string
		cols     []string
		rows     [][]any
	}
	tables := []*table{{from: "tokens", to: "bench_copy_tokens"}, {from: "token_traits", to: "bench_copy_token_traits"}}
	var total int64
	for _, t := range tables {
		_, err := pool.Exec(ctx, "CREATE TABLE "+pgx.Identifier{t.to}.Sanitize()+" (LIKE "+pgx.Identifier{t.from}.Sanitize()+
			" INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING INDEXES)")
		require.NoError(b, err)
		rows, err := pool.Query(ctx, "SELECT * FROM "+pgx.Identifier{t.from}.Sanitize()+" WHERE collection_id = ANY($1)", ids)
		require.NoError(b, err)
		for _, f := range rows.FieldDescriptions() {
			t.cols = append(t.cols, f.Name)
		}
		for rows.Next() {
			v, err := rows.Values()
			require.NoError(b, err)
			t.rows = append(t.rows, v)
		}
		require.NoError(b, rows.Err())
		total += int64(len(t.rows))
	}
	require.Equal(b, want, total, "rows read back")
	start := time.Now()
	for _, t := range tables {
		n, err := pool.CopyFrom(ctx, pgx.Identifier{t.to}, t.cols, pgx.CopyFromRows(t.rows))
		require.NoError(b, err)
		require.Equal(b, int64(len(t.rows)), n)
	}
	return float64(total) / time.Since(start).Seconds()
}
