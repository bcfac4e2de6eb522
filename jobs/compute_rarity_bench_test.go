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
	"github.com/nftsync/nftsync/internal/rarity"
	"github.com/nftsync/nftsync/jobs"
)

// BenchmarkComputeRarityDB measures the database round trip of the rarity
// job for a 100k-token collection with 8 trait types: load every token and
// trait, compute OpenRarity, write every token's score and rank plus the
// trait statistics in one transaction. The stored run is dropped before each
// iteration so the write always happens.
func BenchmarkComputeRarityDB(b *testing.B) {
	const tokens = 100_000
	ctx := context.Background()
	pool := dbtest.DB(b)
	q := db.New(pool)
	c, err := q.CollectionUpsert(ctx, db.CollectionUpsertParams{Source: "opensea", Slug: "bench-100k", Chain: "ethereum", Priority: 2})
	require.NoError(b, err)
	seedTokens(b, q, c.ID, tokens)
	deps := &jobs.Deps{DB: pool, Logger: discardLogger()}

	b.ResetTimer()
	for b.Loop() {
		b.StopTimer()
		_, err := pool.Exec(ctx, "DELETE FROM rarity_runs WHERE collection_id = $1", c.ID)
		require.NoError(b, err)
		b.StartTimer()
		changed, err := jobs.ComputeRarity(ctx, deps, &c, rarity.OpenRarity)
		require.NoError(b, err)
		require.True(b, changed)
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/collection")
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
