package main

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"log/slog"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/nftsync/nftsync/db/dbtest"
	"github.com/nftsync/nftsync/internal/indexersim"
)

// TestEnqueueFromOtherServices enqueues floor-price refreshes the three ways
// another service can, twice each, before any worker runs: a separate Go
// program using only jobargs (insert-only River client, its own
// transaction), psql calling nftsync_enqueue_refresh, and a Python script
// calling it through psycopg. The SQL path computes the same unique key as
// River, so it also skips the Go path's pending job. Then a worker works
// exactly one job per collection; a job of an unknown kind and one with
// malformed args end cancelled with the reason.
func TestEnqueueFromOtherServices(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	psql, err := exec.LookPath("psql")
	require.NoError(t, err, "psql is needed (PostgreSQL client)")
	python := "/usr/bin/python3"
	require.NoError(t, exec.Command(python, "-c", "import psycopg").Run(), "python3-psycopg is needed (.ci/run installs it)")

	sim, err := indexersim.Start(ctx, "127.0.0.1:0", indexersim.Config{Seed: 9, Collections: 3, MinTokens: 10, MaxTokens: 20}, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	t.Cleanup(func() { _ = sim.Close() })
	dbURL := dbtest.NewDatabase(t)
	env := envOf(map[string]string{
		"DATABASE_URL": dbURL, "NFTSYNC_OPENSEA_URL": sim.URL, "NFTSYNC_OPENSEA_RATE": "200/s",
		"NFTSYNC_PLAN_INTERVAL": "1s", "NFTSYNC_LOG_LEVEL": "error",
	})
	slugs := sim.Server.Slugs()
	require.NoError(t, run(ctx, append([]string{"collections", "add"}, slugs...), env, io.Discard, io.Discard))
	pool, err := pgxpool.New(ctx, dbURL)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	// Only what this test enqueues runs: the planner finds nothing due.
	_, err = pool.Exec(ctx, `UPDATE collection_schedules SET next_due_at = now() + interval '1 day'`)
	require.NoError(t, err)

	// (a) Go: a separate program with its own main.
	bin := filepath.Join(t.TempDir(), "enqueue-example")
	build := exec.Command("go", "build", "-o", bin, "./../../jobs/jobargs/example")
	out, err := build.CombinedOutput()
	require.NoError(t, err, string(out))
	deps, err := exec.Command("go", "list", "-deps", "./../../jobs/jobargs/example").Output()
	require.NoError(t, err)
	for _, heavy := range []string{"nftsync/jobs\n", "internal/rarity", "internal/indexer", "net/http\n"} {
		require.NotContains(t, string(deps), "github.com/nftsync/"+heavy, "jobargs must stay light")
	}
	goRun := func() string {
		cmd := exec.Command(bin, slugs[0], "floor_price")
		cmd.Env = []string{"DATABASE_URL=" + dbURL}
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, string(out))
		return string(out)
	}
	require.Contains(t, goRun(), "fetch_floor_price queue=floor_price duplicate=false")
	require.Contains(t, goRun(), "duplicate=true")

	// (b) psql, twice; and once for the Go path's collection, which the same
	// unique key turns into a duplicate.
	psqlCall := func(slug string) string {
		cmd := exec.Command(psql, dbURL, "-XAtq", "-v", "ON_ERROR_STOP=1", "-c",
			fmt.Sprintf("SELECT job_kind, inserted FROM nftsync_enqueue_refresh('%s', 'floor_price')", slug))
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, string(out))
		return strings.TrimSpace(string(out))
	}
	require.Equal(t, "fetch_floor_price|t", psqlCall(slugs[1]))
	require.Equal(t, "fetch_floor_price|f", psqlCall(slugs[1]))
	require.Equal(t, "fetch_floor_price|f", psqlCall(slugs[0]), "the SQL path skips the Go path's pending job")

	// (c) Python with psycopg, twice.
	pyCall := func() string {
		cmd := exec.Command(python, "../../jobs/jobargs/example/enqueue.py", slugs[2], "floor_price")
		cmd.Env = []string{"DATABASE_URL=" + dbURL}
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, string(out))
		return string(out)
	}
	require.Contains(t, pyCall(), "fetch_floor_price queue=floor_price duplicate=false")
	require.Contains(t, pyCall(), "duplicate=true")

	// Clear errors from the function.
	cmd := exec.Command(psql, dbURL, "-XAtq", "-v", "ON_ERROR_STOP=1", "-c", "SELECT * FROM nftsync_enqueue_refresh('no-such-slug')")
	out, err = cmd.CombinedOutput()
	require.Error(t, err)
	require.Contains(t, string(out), "collection opensea/no-such-slug is not tracked")
	cmd = exec.Command(psql, dbURL, "-XAtq", "-v", "ON_ERROR_STOP=1", "-c", fmt.Sprintf("SELECT * FROM nftsync_enqueue_refresh('%s', 'floor')", slugs[0]))
	out, err = cmd.CombinedOutput()
	require.Error(t, err)
	require.Contains(t, string(out), "unknown kind 'floor'")

	// Every row carries the key River computes: sha256 of the canonical
	// string, states B'11110001', whichever path inserted it.
	rows, err := pool.Query(ctx, `SELECT args->>'collection_id', kind, unique_key, unique_states::text, priority, max_attempts FROM river_job WHERE kind = 'fetch_floor_price' ORDER BY id`)
	require.NoError(t, err)
	n := 0
	for rows.Next() {
		var id, kind, states string
		var key []byte
		var prio, attempts int16
		require.NoError(t, rows.Scan(&id, &kind, &key, &states, &prio, &attempts))
		want := sha256.Sum256([]byte(`&kind=fetch_floor_price&args={"collection_id":` + id + `}`))
		require.Equal(t, want[:], key)
		require.Equal(t, "11110001", states)
		require.Equal(t, int16(2), prio, "the collection's priority")
		require.Equal(t, int16(10), attempts)
		n++
	}
	require.NoError(t, rows.Err())
	require.Equal(t, 3, n, "one job per collection")

	// Malformed work from elsewhere: an unknown kind, and args that do not decode.
	_, err = pool.Exec(ctx, `INSERT INTO river_job (args, kind, max_attempts, queue) VALUES
		('{"collection_id": 1}', 'fetch_flor_price', 10, 'floor_price'),
		('{"collection_id": "one"}', 'fetch_floor_price', 10, 'floor_price')`)
	require.NoError(t, err)

	wctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- run(wctx, []string{"worker"}, env, io.Discard, io.Discard) }()
	t.Cleanup(func() { stop(); <-done })

	type outcome struct{ completed, cancelled int }
	var got outcome
	var errs string
	require.Eventually(t, func() bool {
		require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FILTER (WHERE state = 'completed'), count(*) FILTER (WHERE state = 'cancelled'),
			coalesce(string_agg(errors[1]->>'error', ' | ') FILTER (WHERE state = 'cancelled'), '')
			FROM river_job WHERE queue = 'floor_price'`).Scan(&got.completed, &got.cancelled, &errs))
		return got.completed+got.cancelled == 5
	}, time.Minute, 100*time.Millisecond)
	require.Equal(t, outcome{completed: 3, cancelled: 2}, got, errs)
	require.Contains(t, errs, "fetch_flor_price")
	require.Contains(t, errs, "cannot unmarshal string")
	var floors int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(DISTINCT collection_id) FROM floor_price_latest`).Scan(&floors))
	require.Equal(t, 3, floors)
}
