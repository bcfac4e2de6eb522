package jobs_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nftsync/nftsync/internal/benchsize"
)

// BenchmarkWorkerMemory is the memory row of the benchmark report: the
// resident set (rss-MB) of a real `nftsync worker` process, read from the
// kernel (/proc/PID/status):
//
//   - idle: 10,000 tracked collections (500 under NFTSYNC_BENCH_SIZE=quick),
//     each with its four kinds scheduled and none due for an hour, once the
//     worker has planned three times and maintained history once: its
//     resident set then (VmRSS), and rss-peak-MB its peak so far (VmHWM);
//
//   - rarity: the peak (VmHWM) of a worker whose only work is one
//     compute_rarity job for a collection of 100k tokens (5k quick) with 8
//     trait types, and job-s how long the job ran.
//
//     .ci/with-postgres.sh go test -run '^$' -bench '^BenchmarkWorkerMemory$' -benchtime 1x ./jobs
func BenchmarkWorkerMemory(b *testing.B) {
	b.Run("idle", func(b *testing.B) {
		n := benchsize.Pick(b, 500, 10_000)
		var rss, peak int64
		for b.Loop() {
			rss, peak = idleWorkerRSS(b, n)
		}
		b.ReportMetric(float64(n), "collections")
		b.ReportMetric(float64(rss)/1e6, "rss-MB")
		b.ReportMetric(float64(peak)/1e6, "rss-peak-MB")
	})
	b.Run("rarity", func(b *testing.B) {
		n := benchsize.Pick(b, 5_000, 100_000)
		var peak int64
		var took time.Duration
		for b.Loop() {
			peak, took = workerPeakRSS(b, n)
		}
		b.ReportMetric(float64(n), "tokens")
		b.ReportMetric(float64(peak)/1e6, "rss-MB")
		b.ReportMetric(took.Seconds(), "job-s")
	})
}

// idleWorkerRSS tracks n collections in a fresh database with nothing due,
// starts a worker, waits until it has planned three times and maintained
// history once, and returns its resident set then and its peak so far.
func idleWorkerRSS(tb testing.TB, n int) (rss, peak int64) {
	tb.Helper()
	ctx := context.Background()
	url, pool := workerDatabase(tb)
	// Set-based seeding: n collections as tracking leaves them, each kind
	// refreshed just now at the default intervals and next due in an hour.
	_, err := pool.Exec(ctx, `INSERT INTO collections (source, slug, chain, priority)
		SELECT 'opensea', 'idle-' || i, 'ethereum', 1 + i % 4 FROM generate_series(1, $1::int) AS i`, n)
	require.NoError(tb, err)
	_, err = pool.Exec(ctx, `INSERT INTO collection_schedules (collection_id, kind, interval_seconds, next_due_at, last_planned_at, last_success_at)
		SELECT c.id, k.kind, k.every, now() + interval '1 hour', now(), now()
		FROM collections c CROSS JOIN (VALUES ('floor_price', 60), ('volume', 300), ('metadata', 3600), ('tokens', 21600)) AS k (kind, every)`)
	require.NoError(tb, err)

	w := startWorker(tb, url)
	deadline := time.Now().Add(2 * time.Minute)
	for {
		var plans, maintains, others int
		require.NoError(tb, pool.QueryRow(ctx, `SELECT
			count(*) FILTER (WHERE kind = 'plan_refresh' AND state = 'completed'),
			count(*) FILTER (WHERE kind = 'maintain_history' AND state = 'completed'),
			count(*) FILTER (WHERE kind NOT IN ('plan_refresh', 'maintain_history'))
			FROM river_job`).Scan(&plans, &maintains, &others))
		require.Zero(tb, others, "an idle worker planned fetch jobs; worker output:\n%s", w.out.String())
		if plans >= 3 && maintains >= 1 {
			break
		}
		require.True(tb, time.Now().Before(deadline), "worker did not plan 3 times and maintain history once (%d, %d); output:\n%s",
			plans, maintains, w.out.String())
		time.Sleep(250 * time.Millisecond)
	}
	rss = procStatusBytes(tb, w.cmd.Process.Pid, "VmRSS")
	peak = procStatusBytes(tb, w.cmd.Process.Pid, "VmHWM")
	w.stop(tb)
	return rss, peak
}
