package jobs_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/stretchr/testify/require"

	"github.com/nftsync/nftsync/db"
	"github.com/nftsync/nftsync/internal/benchsize"
	"github.com/nftsync/nftsync/internal/indexersim"
	"github.com/nftsync/nftsync/jobs"
)

// BenchmarkQueueOverhead compares our floor/volume refresh pipeline with the
// queue it runs on, in the same run on the same PostgreSQL server:
//   - river-jobs/s: bare River, one client with 200 workers on one queue,
//     no-op jobs inserted beforehand with InsertManyFast (full: 200,000),
//     timed from the client's start to the last completion;
//   - pipeline-jobs/s: fetch_floor_price and fetch_volume jobs, one of each
//     per tracked collection due in the same round, as the planner inserts
//     them (full: 2 × 600; the second of two rounds is timed), worked by our
//     real workers on one client with the production settings and 100
//     workers per queue (pool sized as a worker process sizes it), against
//     the simulator with no latency and no rate limit, every upstream call
//     through the PostgreSQL limiter; timed the same way. Every collection
//     must end with its floor and volumes of the round stored, or the
//     benchmark fails.
//
// ratio is pipeline/river (target ≥ 0.5). river-stmts/job and
// pipeline-stmts/job are the statements (round trips) each side sent per
// job, River's own included: what a job costs the database, and the
// latency it waits for. Each side has a database of its
// own. One iteration is the whole measurement; use -benchtime 1x.
func BenchmarkQueueOverhead(b *testing.B) {
	riverJobs := benchsize.Pick(b, 5_000, 200_000)
	collections := benchsize.Pick(b, 100, 600)
	for b.Loop() {
		bare, bareStmts := benchBareRiver(b, riverJobs)
		pipe := benchFloorVolumePipeline(b, collections)
		b.ReportMetric(bare, "river-jobs/s")
		b.ReportMetric(pipe.jobsPerSec, "pipeline-jobs/s")
		b.ReportMetric(pipe.jobsPerSec/bare, "ratio")
		b.ReportMetric(float64(pipe.snoozes), "snoozes")
		b.ReportMetric(float64(pipe.calls), "stats-calls")
		b.ReportMetric(float64(collections), "collections")
		b.ReportMetric(bareStmts, "river-stmts/job")
		b.ReportMetric(pipe.stmtsPerJob, "pipeline-stmts/job")
	}
}

type benchNoopArgs struct{}

func (benchNoopArgs) Kind() string { return "bench_noop" }

type benchNoopWorker struct {
	river.WorkerDefaults[benchNoopArgs]
}

func (benchNoopWorker) Work(context.Context, *river.Job[benchNoopArgs]) error { return nil }

// benchBareRiver inserts n no-op jobs and returns River's completions per
// second with 200 workers, and the statements it sent per job.
func benchBareRiver(b *testing.B, n int) (float64, float64) {
	b.Helper()
	ctx := context.Background()
	pool, stmts := benchDBCounted(b, 20)
	workers := river.NewWorkers()
	river.AddWorker(workers, &benchNoopWorker{})
	client, err := river.NewClient(riverpgxv5.New(pool), &river.Config{
		Logger: discardLogger(), Workers: workers,
		Queues: map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: 200}},
		// River's shortest fetch cooldown: at the default 100 ms, 200 workers
		// could start at most 2,000 jobs/s, a ceiling of the setting rather
		// than of the queue.
		FetchCooldown: river.FetchCooldownMin,
	})
	require.NoError(b, err)
	const chunk = 10_000
	for start := 0; start < n; start += chunk {
		params := make([]river.InsertManyParams, min(chunk, n-start))
		for i := range params {
			params[i] = river.InsertManyParams{Args: benchNoopArgs{}}
		}
		_, err := client.InsertManyFast(ctx, params)
		require.NoError(b, err)
	}
	before := stmts.n.Load()
	elapsed, _ := timeUntilCompleted(b, client, pool, n, []string{"bench_noop"})
	return float64(n) / elapsed.Seconds(), float64(stmts.n.Load()-before) / float64(n)
}

// pipelineRun is the outcome of one pipeline measurement.
type pipelineRun struct {
	jobsPerSec  float64
	stmtsPerJob float64 // statements sent per job, River's included
	snoozes     int     // snoozes along the way (a kind waiting for the other's stats call)
	calls       int64   // upstream stats calls
}

// benchFloorVolumePipeline tracks n simulated collections and runs two
// refresh rounds of their floor and volume jobs, each on a client of its
// own; it returns the completions per second of the second round. The
// first round warms up what a running system has warm (connections and
// their prepared statements, latest rows, history partitions) and is not
// timed.
func benchFloorVolumePipeline(b *testing.B, n int) pipelineRun {
	b.Helper()
	ctx := context.Background()
	cfg := jobs.Config{MaxWorkers: map[string]int{jobs.QueueFloorPrice: 100, jobs.QueueVolume: 100}}
	pool, stmts := benchDBCounted(b, int32(10+workerTotal(cfg))) // as a worker process sizes its pool
	up := newBenchUpstream(b, pool, indexersim.Config{Seed: 11, Collections: n, MinTokens: 1, MaxTokens: 10})
	q := db.New(pool)
	ids := make([]int64, 0, n)
	for _, slug := range up.sim.Slugs() {
		c, err := q.CollectionUpsert(ctx, db.CollectionUpsertParams{Source: "opensea", Slug: slug, Chain: "ethereum", Priority: 2})
		require.NoError(b, err)
		for _, kind := range []string{jobs.RefreshFloorPrice, jobs.RefreshVolume} {
			require.NoError(b, q.ScheduleEnsure(ctx, db.ScheduleEnsureParams{CollectionID: c.ID, Kind: kind, EverySeconds: 3600}))
		}
		ids = append(ids, c.ID)
	}
	var run pipelineRun
	for range 2 {
		round := time.Now().UTC()
		params := make([]river.InsertManyParams, 0, 2*n)
		for _, id := range ids {
			args := jobs.CollectionArgs{CollectionID: id, PlannedAt: round}
			params = append(params,
				river.InsertManyParams{Args: jobs.FetchFloorPriceArgs{CollectionArgs: args}},
				river.InsertManyParams{Args: jobs.FetchVolumeArgs{CollectionArgs: args}})
		}
		client := newBenchClient(b, pool, up.deps, cfg)
		_, err := client.InsertManyFast(ctx, params)
		require.NoError(b, err)
		calls, sent := up.sim.Stats().ByEndpoint[indexersim.EndpointStats], stmts.n.Load()
		elapsed, snoozes := timeUntilCompleted(b, client, pool, len(params), []string{"fetch_floor_price", "fetch_volume"})

		var floors, volumes int64
		require.NoError(b, pool.QueryRow(ctx,
			`SELECT (SELECT count(DISTINCT collection_id) FROM floor_price_latest WHERE collection_id = ANY($1) AND last_seen_at >= $2),
			        (SELECT count(DISTINCT collection_id) FROM volume_latest WHERE collection_id = ANY($1) AND last_seen_at >= $2)`,
			ids, round).Scan(&floors, &volumes))
		require.Equal(b, int64(n), floors, "collections with a floor stored this round")
		require.Equal(b, int64(n), volumes, "collections with volumes stored this round")
		run = pipelineRun{
			jobsPerSec:  float64(len(params)) / elapsed.Seconds(),
			stmtsPerJob: float64(stmts.n.Load()-sent) / float64(len(params)),
			snoozes:     snoozes,
			calls:       up.sim.Stats().ByEndpoint[indexersim.EndpointStats] - calls,
		}
	}
	return run
}

func workerTotal(cfg jobs.Config) int {
	n := 0
	for _, w := range cfg.MaxWorkers {
		n += w
	}
	return n
}

// timeUntilCompleted starts client, waits until n jobs of kinds have
// completed, stops it and returns the time from the start to the last
// completion and how many snoozes it saw. A job that ends in any other final
// state, or jobs still missing after 5 minutes, fail the benchmark.
func timeUntilCompleted(b *testing.B, client *river.Client[pgx.Tx], pool *pgxpool.Pool, n int, kinds []string) (time.Duration, int) {
	b.Helper()
	ctx := context.Background()
	events, cancel := client.SubscribeConfig(&river.SubscribeConfig{
		ChanSize: n + 10_000,
		Kinds:    []river.EventKind{river.EventKindJobCompleted, river.EventKindJobCancelled, river.EventKindJobSnoozed, river.EventKindJobFailed},
	})
	defer cancel()
	start := time.Now()
	require.NoError(b, client.Start(ctx))
	defer func() {
		stopCtx, stop := context.WithTimeout(ctx, time.Minute)
		defer stop()
		require.NoError(b, client.Stop(stopCtx))
	}()
	want := map[string]bool{}
	for _, k := range kinds {
		want[k] = true
	}
	timeout := time.After(5 * time.Minute)
	completed, snoozes, failures := 0, 0, 0
	var last time.Time
	for completed < n {
		select {
		case ev := <-events:
			if !want[ev.Job.Kind] {
				continue
			}
			switch ev.Kind {
			case river.EventKindJobCompleted:
				completed++
				last = time.Now()
			case river.EventKindJobSnoozed:
				snoozes++
			case river.EventKindJobFailed:
				failures++
				if ev.Job.State == "discarded" {
					b.Fatalf("job %d (%s) discarded: %v", ev.Job.ID, ev.Job.Kind, ev.Job.Errors)
				}
			default:
				b.Fatalf("job %d (%s) ended %s: %v", ev.Job.ID, ev.Job.Kind, ev.Kind, ev.Job.Errors)
			}
		case <-timeout:
			b.Fatalf("%d of %d jobs completed after 5 minutes (%d failed attempts)", completed, n, failures)
		}
	}
	if failures > 0 {
		b.Logf("%d failed attempts were retried", failures)
	}
	var left int64
	require.NoError(b, pool.QueryRow(ctx, "SELECT count(*) FROM river_job WHERE state <> 'completed' AND kind = ANY($1)", kinds).Scan(&left))
	require.Zero(b, left, "jobs not completed")
	return last.Sub(start), snoozes
}
