package jobs_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nftsync/nftsync/db"
	"github.com/nftsync/nftsync/db/dbtest"
	"github.com/nftsync/nftsync/internal/indexer"
	"github.com/nftsync/nftsync/internal/indexer/opensea"
	"github.com/nftsync/nftsync/internal/indexersim"
	"github.com/nftsync/nftsync/jobs"
)

// BenchmarkHistoryRowsPerDay drives the floor (every minute) and volume
// (every 5 minutes) workers of two collections over simulated days against
// the simulator (whose floor moves every minute) and reports the rows a
// collection adds per day: raw change-based rows (kept 7 days by default),
// hourly rollups (90 days) and daily rollups (forever), and the upstream
// stats calls. Before change-based history, one such day stored 7200 rows
// per collection (1440 floor + 5760 volume), all kept forever.
//
//	.ci/with-postgres.sh go test -run '^$' -bench BenchmarkHistoryRowsPerDay -benchtime 1x ./jobs
func BenchmarkHistoryRowsPerDay(b *testing.B) {
	const collections = 2
	ctx := context.Background()
	clock := &fakeClock{}
	day := time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)
	clock.Set(day)
	sim, err := indexersim.New(indexersim.Config{Seed: 7, Collections: collections, MinTokens: 100, MaxTokens: 200, Clock: clock.Now}, discardLogger())
	require.NoError(b, err)
	srv := httptest.NewServer(sim.Handler())
	b.Cleanup(srv.Close)
	client, err := opensea.NewClient(srv.URL, &http.Client{Timeout: 5 * time.Second}, opensea.Options{Now: clock.Now})
	require.NoError(b, err)
	pool := dbtest.DB(b)
	tx, err := pool.Begin(ctx)
	require.NoError(b, err)
	defer tx.Rollback(ctx)
	bundle := &workerBundle{tx: tx, sim: sim, deps: &jobs.Deps{
		DB: tx, Logger: discardLogger(), Now: clock.Now, Indexers: map[string]indexer.Indexer{"opensea": client},
	}}
	q := db.New(tx)
	var ids []int64
	for _, slug := range sim.Slugs() {
		c, err := q.CollectionUpsert(ctx, db.CollectionUpsertParams{Source: "opensea", Slug: slug, Chain: "ethereum", Priority: 2})
		require.NoError(b, err)
		for kind, every := range map[string]int32{jobs.RefreshFloorPrice: 60, jobs.RefreshVolume: 300} {
			require.NoError(b, q.ScheduleEnsure(ctx, db.ScheduleEnsureParams{CollectionID: c.ID, Kind: kind, EverySeconds: every}))
		}
		ids = append(ids, c.ID)
	}
	b.ResetTimer()
	for range b.N {
		for m := range 24 * 60 {
			clock.Set(day.Add(time.Duration(m) * time.Minute))
			for _, id := range ids {
				args := jobs.CollectionArgs{CollectionID: id, PlannedAt: clock.Now()}
				work(b, bundle, &jobs.FetchFloorPriceWorker{Deps: bundle.deps}, jobs.FetchFloorPriceArgs{CollectionArgs: args})
				if m%5 == 0 {
					work(b, bundle, &jobs.FetchVolumeWorker{Deps: bundle.deps}, jobs.FetchVolumeArgs{CollectionArgs: args})
				}
			}
		}
		day = day.Add(24 * time.Hour)
	}
	b.StopTimer()
	clock.Set(day.Add(5 * time.Minute))
	for {
		res, err := jobs.MaintainHistory(ctx, bundle.deps, jobs.DefaultHistoryPolicy())
		require.NoError(b, err)
		if !res.More {
			break
		}
	}
	var raw, hourly, daily int64
	for _, id := range ids {
		n, err := q.HistoryRowCounts(ctx, id)
		require.NoError(b, err)
		raw += n.FloorRaw + n.VolumeRaw
		hourly += n.FloorHourly + n.VolumeHourly
		daily += n.FloorDaily + n.VolumeDaily
		b.Logf("collection %d: raw floor %d + volume %d, hourly %d + %d, daily %d + %d",
			id, n.FloorRaw, n.VolumeRaw, n.FloorHourly, n.VolumeHourly, n.FloorDaily, n.VolumeDaily)
	}
	per := float64(b.N * collections)
	b.ReportMetric(float64(raw)/per, "raw_rows/collection/day")
	b.ReportMetric(float64(hourly)/per, "hourly_rows/collection/day")
	b.ReportMetric(float64(daily)/per, "daily_rows/collection/day")
	b.ReportMetric(float64(sim.Stats().ByEndpoint[indexersim.EndpointStats])/per, "stats_calls/collection/day")
}
