package jobs_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgtype"
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
// (the snapshot read into the engine) and compute-s (the engine alone);
// write-s is db-s minus those two.
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
		seedTokens(b, q, c.ID, n)
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
		b.ReportMetric((total - read - compute).Seconds(), "write-s")
	})
}

func seedTokens(b testing.TB, q *db.Queries, collectionID int64, n int) {
	b.Helper()
	ctx := context.Background()
	r := rand.New(rand.NewPCG(42, 7))
	const chunk = 5000
	for start := 0; start < n; start += chunk {
		t := db.TokenUpsertBatchParams{CollectionID: collectionID, FetchedAt: time.Now(), SyncRun: 1}
		tr := db.TokenTraitsInsertBatchParams{CollectionID: collectionID}
		for i := start; i < min(n, start+chunk); i++ {
			id := strconv.Itoa(i)
			t.Contracts = append(t.Contracts, "0xbench")
			t.TokenIds = append(t.TokenIds, id)
			t.TokenStandards = append(t.TokenStandards, "erc721")
			t.Names, t.ImageUrls, t.MetadataUrls = append(t.Names, ""), append(t.ImageUrls, ""), append(t.MetadataUrls, "")
			t.TraitsKnown = append(t.TraitsKnown, true)
			t.SourceUpdatedAts = append(t.SourceUpdatedAts, time.Time{})
			t.Raws = append(t.Raws, []byte("{}"))
			for k := range 8 {
				if r.Float64() < float64(k)*0.05 { // trait k missing on k*5 % of tokens
					continue
				}
				// Zipf-like: value v with probability ~ 1/(v+1).
				v := int(float64(10*(k+1)) * r.Float64() * r.Float64() * r.Float64())
				tr.Contracts = append(tr.Contracts, "0xbench")
				tr.TokenIds = append(tr.TokenIds, id)
				tr.Ordinals = append(tr.Ordinals, int16(k))
				tr.TraitTypes = append(tr.TraitTypes, fmt.Sprintf("trait_%d", k))
				tr.ValueTexts = append(tr.ValueTexts, fmt.Sprintf("value_%d", v))
				tr.ValueKinds = append(tr.ValueKinds, "string")
				tr.ValueNumerics = append(tr.ValueNumerics, pgtype.Numeric{})
				tr.DisplayTypes = append(tr.DisplayTypes, "")
				tr.MaxValues = append(tr.MaxValues, "")
				tr.Raws = append(tr.Raws, []byte(`{"value":"x"}`))
			}
		}
		require.NoError(b, q.TokenUpsertBatch(ctx, t))
		require.NoError(b, q.TokenTraitsInsertBatch(ctx, tr))
	}
}
