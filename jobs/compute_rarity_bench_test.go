package jobs_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/nftsync/nftsync/db"
	"github.com/nftsync/nftsync/db/dbtest"
	"github.com/nftsync/nftsync/internal/benchsize"
	"github.com/nftsync/nftsync/internal/rarity"
	"github.com/nftsync/nftsync/jobs"
)

// BenchmarkRarityRoundTrip is the rarity database row of the benchmark
// report: the compute_rarity job's round trip for a 100k-token collection
// with 8 trait types (5k under NFTSYNC_BENCH_SIZE=quick; the sub-benchmark
// is named by the real size): read every token and trait in one snapshot,
// compute OpenRarity, write every token's score and rank plus the trait
// statistics in one transaction (db-s). The stored run is dropped first so
// the write always happens. Besides, on a second read it reports read-s
// (the snapshot read into the engine) and compute-s (the engine alone).
// They come from a separate read, so db-s minus them is no measure of the
// write (it went negative once): none is reported.
//
//	.ci/with-postgres.sh go test -run '^$' -bench '^BenchmarkRarityRoundTrip$' -benchtime 1x ./jobs
func BenchmarkRarityRoundTrip(b *testing.B) {
	n := benchsize.Pick(b, 5_000, 100_000)
	b.Run(fmt.Sprintf("tokens=%dk", n/1000), func(b *testing.B) {
		ctx := context.Background()
		pool := dbtest.DB(b)
		q := db.New(pool)
		c, err := q.CollectionUpsert(ctx, db.CollectionUpsertParams{Source: "opensea", Slug: "bench-round-trip", Chain: "ethereum", Priority: 2})
		require.NoError(b, err)
		seedTokens(b, pool, c.ID, n)
		deps := &jobs.Deps{DB: pool, Logger: discardLogger()}

		var total, read, compute time.Duration
		for b.Loop() {
			_, err := pool.Exec(ctx, "DELETE FROM rarity_runs WHERE collection_id = $1", c.ID)
			require.NoError(b, err)
			start := time.Now()
			changed, err := jobs.ComputeRarity(ctx, deps, &c, rarity.OpenRarity)
			total = time.Since(start)
			require.NoError(b, err)
			require.True(b, changed)
			read, compute, err = jobs.RarityReadCompute(ctx, deps, &c, rarity.OpenRarity)
			require.NoError(b, err)
		}
		ranks, err := q.TokenRarityList(ctx, db.TokenRarityListParams{CollectionID: c.ID, Method: string(rarity.OpenRarity)})
		require.NoError(b, err)
		require.Len(b, ranks, n, "stored token ranks")
		b.ReportMetric(float64(n), "tokens")
		b.ReportMetric(total.Seconds(), "db-s")
		b.ReportMetric(read.Seconds(), "read-s")
		b.ReportMetric(compute.Seconds(), "compute-s")
	})
}

// seedTokens stores a collection of n tokens ("0".."n-1", contract 0xbench)
// with their traits known, as a completed list and trait fetch leaves them:
// 8 trait types, trait k missing on k*5 % of the tokens, its values
// Zipf-like. The rows are COPYed (the sync path's own speed is the ingest
// benchmark's business), the same rows for the same n.
func seedTokens(tb testing.TB, pool *pgxpool.Pool, collectionID int64, n int) {
	tb.Helper()
	ctx := context.Background()
	now := time.Now()
	i := 0
	_, err := pool.CopyFrom(ctx, pgx.Identifier{"tokens"},
		[]string{"collection_id", "contract", "token_id", "token_standard", "traits_known", "fetched_at", "traits_checked_at", "sync_run", "raw"},
		pgx.CopyFromFunc(func() ([]any, error) {
			if i == n {
				return nil, nil
			}
			i++
			return []any{collectionID, "0xbench", strconv.Itoa(i - 1), "erc721", true, now, now, int64(1), "{}"}, nil
		}))
	require.NoError(tb, err, "seed tokens")

	r := rand.New(rand.NewPCG(42, 7))
	var pending [][]any // one token's traits
	i = 0
	_, err = pool.CopyFrom(ctx, pgx.Identifier{"token_traits"},
		[]string{"collection_id", "contract", "token_id", "ordinal", "trait_type", "value_text", "raw"},
		pgx.CopyFromFunc(func() ([]any, error) {
			for len(pending) == 0 && i < n {
				id := strconv.Itoa(i)
				i++
				for k := range 8 {
					if r.Float64() < float64(k)*0.05 { // trait k missing on k*5 % of tokens
						continue
					}
					// Zipf-like: value v with probability ~ 1/(v+1).
					v := int(float64(10*(k+1)) * r.Float64() * r.Float64() * r.Float64())
					pending = append(pending, []any{collectionID, "0xbench", id, int16(k),
						fmt.Sprintf("trait_%d", k), fmt.Sprintf("value_%d", v), `{"value":"x"}`})
				}
			}
			if len(pending) == 0 {
				return nil, nil
			}
			row := pending[0]
			pending = pending[1:]
			return row, nil
		}))
	require.NoError(tb, err, "seed traits")
}
