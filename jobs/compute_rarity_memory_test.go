package jobs_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivertype"
	"github.com/stretchr/testify/require"

	"github.com/nftsync/nftsync/db"
	"github.com/nftsync/nftsync/db/dbtest"
	"github.com/nftsync/nftsync/jobs"
)

// Peak resident set size of a whole `nftsync worker` process whose only
// work is one compute_rarity job for a 100k-token collection (8 trait
// types): docs/traits-and-rarity.md promises less than this.
const rarityWorker100kRSS = 150 << 20

// TestComputeRarityWorkerMemory runs a real worker process (built without
// the race detector) on a 100k-token collection and bounds its peak RSS,
// read from the kernel (VmHWM).
func TestComputeRarityWorkerMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("seeds a 100k-token collection")
	}
	t.Parallel()
	peak, took := workerPeakRSS(t, 100_000)
	t.Logf("100k tokens: worker peak RSS %.1f MB, job %v", float64(peak)/1e6, took)
	require.Less(t, peak, int64(rarityWorker100kRSS), "peak RSS of the worker process")
}

// BenchmarkComputeRarityWorkerRSS reports the peak RSS (peak-RSS-MB) of a
// whole `nftsync worker` process that computes and stores the rarity of one
// collection of 100k or 1M tokens with 8 trait types, and how long the job
// took (job-s). Seeding the 1M collection takes a few minutes:
//
//	.ci/with-postgres.sh go test -run '^$' -bench ComputeRarityWorkerRSS -benchtime 1x -timeout 30m ./jobs
func BenchmarkComputeRarityWorkerRSS(b *testing.B) {
	for _, tc := range []struct {
		name string
		n    int
	}{{"100k", 100_000}, {"1M", 1_000_000}} {
		b.Run(tc.name, func(b *testing.B) {
			var peak int64
			var took time.Duration
			for b.Loop() {
				peak, took = workerPeakRSS(b, tc.n)
			}
			b.ReportMetric(float64(peak)/1e6, "peak-RSS-MB")
			b.ReportMetric(took.Seconds(), "job-s")
		})
	}
}

// lockedBuffer is a bytes.Buffer safe for the process's output goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

var (
	workerBinOnce sync.Once
	workerBin     string
	workerBinErr  error
)

// buildWorker builds the nftsync binary once per test process.
func buildWorker(tb testing.TB) string {
	tb.Helper()
	workerBinOnce.Do(func() {
		dir, err := os.MkdirTemp("", "nftsync-rss-")
		if err != nil {
			workerBinErr = err
			return
		}
		workerBin = filepath.Join(dir, "nftsync")
		cmd := exec.Command("go", "build", "-o", workerBin, "github.com/nftsync/nftsync/cmd/nftsync")
		cmd.Stderr = os.Stderr
		workerBinErr = cmd.Run()
	})
	require.NoError(tb, workerBinErr, "build nftsync")
	return workerBin
}

// workerPeakRSS seeds a collection of n tokens in a fresh database, starts
// `nftsync worker` on it, enqueues compute_rarity, waits for the job to
// complete, reads the process's peak RSS (VmHWM in /proc/PID/status), stops
// the worker with SIGTERM and returns that peak and the job's run time.
func workerPeakRSS(tb testing.TB, n int) (int64, time.Duration) {
	tb.Helper()
	ctx := context.Background()
	url, pool := workerDatabase(tb)
	q := db.New(pool)
	c, err := q.CollectionUpsert(ctx, db.CollectionUpsertParams{Source: "opensea", Slug: "rss", Chain: "ethereum", Priority: 2})
	require.NoError(tb, err)
	seedTokens(tb, pool, c.ID, n)

	w := startWorker(tb, url)
	client, err := river.NewClient(riverpgxv5.New(pool), &river.Config{})
	require.NoError(tb, err)
	res, err := client.Insert(ctx, jobs.ComputeRarityArgs{CollectionID: c.ID}, nil)
	require.NoError(tb, err)
	deadline := time.Now().Add(10 * time.Minute)
	var job *rivertype.JobRow
	for {
		job, err = client.JobGet(ctx, res.Job.ID)
		require.NoError(tb, err)
		if job.State == rivertype.JobStateCompleted {
			break
		}
		require.NotContains(tb, []rivertype.JobState{rivertype.JobStateCancelled, rivertype.JobStateDiscarded, rivertype.JobStateRetryable},
			job.State, "compute_rarity: %v\nworker output:\n%s", job.Errors, w.out.String())
		require.True(tb, time.Now().Before(deadline), "compute_rarity did not finish; worker output:\n%s", w.out.String())
		time.Sleep(200 * time.Millisecond)
	}
	peak := procStatusBytes(tb, w.cmd.Process.Pid, "VmHWM")
	w.stop(tb)
	ranks, err := q.TokenRarityList(ctx, db.TokenRarityListParams{CollectionID: c.ID, Method: "openrarity"})
	require.NoError(tb, err)
	require.Len(tb, ranks, n)
	return peak, job.FinalizedAt.Sub(*job.AttemptedAt)
}

// workerDatabase creates a fresh database for a worker process and returns
// its URL and a pool on it for the test.
func workerDatabase(tb testing.TB) (string, *pgxpool.Pool) {
	tb.Helper()
	url := dbtest.NewDatabase(tb)
	pool, err := pgxpool.New(context.Background(), url)
	require.NoError(tb, err)
	tb.Cleanup(pool.Close)
	return url, pool
}

// workerProcess is a running `nftsync worker`.
type workerProcess struct {
	cmd     *exec.Cmd
	out     *lockedBuffer
	exited  chan error
	stopped bool
}

// startWorker starts `nftsync worker` (built without the race detector) on
// the database at url, planning every second, with an upstream that does
// not answer; cleanup kills it unless stop stopped it.
func startWorker(tb testing.TB, url string) *workerProcess {
	tb.Helper()
	w := &workerProcess{out: &lockedBuffer{}, exited: make(chan error, 1)}
	w.cmd = exec.Command(buildWorker(tb), "worker")
	w.cmd.Env = append(os.Environ(), "DATABASE_URL="+url, "NFTSYNC_WORKER_ID=rss", "NFTSYNC_LOG_LEVEL=warn",
		"NFTSYNC_OPENSEA_URL=http://127.0.0.1:9", "NFTSYNC_JOB_TIMEOUT=10m", "NFTSYNC_RESCUE_AFTER=15m",
		"NFTSYNC_PLAN_INTERVAL=1s")
	w.cmd.Stdout, w.cmd.Stderr = w.out, w.out
	require.NoError(tb, w.cmd.Start())
	go func() { w.exited <- w.cmd.Wait() }()
	tb.Cleanup(func() {
		if !w.stopped {
			_ = w.cmd.Process.Kill()
			<-w.exited
		}
	})
	return w
}

// stop stops the worker with SIGTERM and requires a clean exit.
func (w *workerProcess) stop(tb testing.TB) {
	tb.Helper()
	require.NoError(tb, w.cmd.Process.Signal(syscall.SIGTERM))
	select {
	case err := <-w.exited:
		w.stopped = true
		require.NoError(tb, err, "worker exit; output:\n%s", w.out.String())
	case <-time.After(time.Minute):
		tb.Fatalf("worker did not stop; output:\n%s", w.out.String())
	}
}

// procStatusBytes returns a kB field of /proc/PID/status (VmRSS: the
// resident set now; VmHWM: its peak since exec) in bytes (Linux). The
// kernel's own figure for the process, where getrusage's maxrss of a child
// is no good: a child started with vfork counts its parent's pages until it
// execs.
func procStatusBytes(tb testing.TB, pid int, field string) int64 {
	tb.Helper()
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		tb.Skipf("no /proc on this platform: %v", err)
	}
	for _, line := range strings.Split(string(status), "\n") {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			require.NoError(tb, err, line)
			return kb << 10
		}
	}
	tb.Fatalf("no %s in /proc/%d/status", field, pid)
	return 0
}
