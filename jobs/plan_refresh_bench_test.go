package jobs_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nftsync/nftsync/db"
	"github.com/nftsync/nftsync/jobs"
)

// BenchmarkPlanRouted times one planning round of a full batch: 250
// collections × 4 kinds due (1,000 pairs), OpenSea and two subgraphs
// registered, a fifth of the collections with volume routed to one
// subgraph. Each iteration claims the pairs, reads which jobs they mean
// (nftsync_refresh_jobs) and inserts them in a savepoint that is rolled
// back, so every iteration plans the same round. It reports jobs per round
// and ms per round.
func BenchmarkPlanRouted(b *testing.B) {
	ctx := context.Background()
	tx := sharedTx(b)
	q := db.New(tx)
	for _, s := range []db.IndexerSourceUpsertParams{
		{Source: "opensea", Kinds: jobs.ScheduleKinds, DefaultKinds: jobs.ScheduleKinds},
		{Source: "subgraph:seaport", Kinds: []string{"volume"}, DefaultKinds: []string{"volume"}},
		{Source: "subgraph:blur", Kinds: []string{"volume"}, DefaultKinds: []string{"volume"}},
	} {
		require.NoError(b, q.IndexerSourceUpsert(ctx, s))
	}
	for i := range 250 {
		c := trackTx(b, tx, fmt.Sprintf("bench-plan-%03d", i), time.Minute)
		if i%5 == 0 {
			require.NoError(b, jobs.SetRoute(ctx, tx, c.ID, jobs.RefreshVolume, []string{"subgraph:seaport"}))
		}
	}
	client := insertOnlyClient(b)
	now := time.Now().Add(time.Hour)
	var n int
	for b.Loop() {
		sp, err := tx.Begin(ctx)
		require.NoError(b, err)
		n, err = jobs.PlanTx(ctx, sp, client, now, jobs.PlanOptions{Batch: 1000})
		require.NoError(b, err)
		require.NoError(b, sp.Rollback(ctx))
	}
	require.Equal(b, 250*3+200*3+50, n, "floor, metadata, tokens each; volume from 3 sources, or 1 when routed")
	b.ReportMetric(float64(n), "jobs/round")
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/round")
}
