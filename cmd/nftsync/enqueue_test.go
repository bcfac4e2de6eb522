package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
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
	require.NoError(t, exec.Command(python, "-c", "import psycopg").Run(), "python3-psycopg is needed: run make deps (as root it installs it; else it prints the command)")

	sim, err := indexersim.Start(ctx, "127.0.0.1:0", indexersim.Config{Seed: 9, Collections: 3, MinTokens: 10, MaxTokens: 20}, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	t.Cleanup(func() { _ = sim.Close() })
	dbURL := dbtest.NewDatabase(t)
	env := envOf(map[string]string{
		"DATABASE_URL": dbURL, "NFTSYNC_OPENSEA_URL": sim.URL, "NFTSYNC_OPENSEA_RATE": "200/s",
		"NFTSYNC_PLAN_INTERVAL": "1s", "NFTSYNC_LOG_LEVEL": "error",
	})
	slugs := sim.Server.Slugs()
	pool := trackNothingDue(t, env, dbURL, slugs)

	// (a) Go: a separate program with its own main.
	bin := buildEnqueueExample(t)
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
	out, err := cmd.CombinedOutput()
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

// buildEnqueueExample builds jobs/jobargs/example, the separate program
// another Go service would be, and checks it stays light: no workers, no
// rarity, no indexer clients, no HTTP.
func buildEnqueueExample(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "enqueue-example")
	out, err := exec.Command("go", "build", "-o", bin, "./../../jobs/jobargs/example").CombinedOutput()
	require.NoError(t, err, string(out))
	deps, err := exec.Command("go", "list", "-deps", "./../../jobs/jobargs/example").Output()
	require.NoError(t, err)
	for _, heavy := range []string{"github.com/nftsync/nftsync/jobs\n", "github.com/nftsync/nftsync/internal/", "net/http\n"} {
		require.NotContains(t, string(deps), heavy, "jobargs must stay light")
	}
	return bin
}

// TestEnqueueFollowsRoutes: every enqueue path asks the sources routed for
// a kind and no other, against the simulator's OpenSea and its Seaport and
// Blur subgraphs, and the jobs are worked. A volume refresh of a collection
// routed to Seaport alone (Go program) enqueues one fetch_source_volume and
// no OpenSea job; of one on the default route (psql) OpenSea's fetch_volume
// plus one per subgraph; of one routed to OpenSea alone (Python) only
// fetch_volume; the API's refreshCollection the default set. Each path run
// twice enqueues nothing twice, and the SQL path skips the Go path's pending
// subgraph job. Workers then store each collection's volume from exactly its
// routed sources.
func TestEnqueueFollowsRoutes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	psql, err := exec.LookPath("psql")
	require.NoError(t, err, "psql is needed (PostgreSQL client)")
	python := "/usr/bin/python3"
	require.NoError(t, exec.Command(python, "-c", "import psycopg").Run(), "python3-psycopg is needed: run make deps (as root it installs it; else it prints the command)")
	bin := buildEnqueueExample(t)

	sim, err := indexersim.Start(ctx, "127.0.0.1:0", indexersim.Config{Seed: 13, Collections: 4, MinTokens: 10, MaxTokens: 20,
		Subgraphs: []indexersim.SubgraphConfig{{Name: "seaport", Mirror: true}, {Name: "blur"}}}, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	t.Cleanup(func() { _ = sim.Close() })
	dbURL := dbtest.NewDatabase(t)
	const token = "test-admin-token-0123456789"
	apiAddr := freeAddr(t)
	env := envOf(map[string]string{
		"DATABASE_URL": dbURL, "NFTSYNC_OPENSEA_URL": sim.URL, "NFTSYNC_OPENSEA_RATE": "200/s",
		"NFTSYNC_SUBGRAPHS":            "seaport,blur",
		"NFTSYNC_SUBGRAPH_SEAPORT_URL": sim.URL + "/subgraphs/name/seaport", "NFTSYNC_SUBGRAPH_SEAPORT_RATE": "50/s",
		"NFTSYNC_SUBGRAPH_BLUR_URL": sim.URL + "/subgraphs/name/blur", "NFTSYNC_SUBGRAPH_BLUR_RATE": "50/s",
		"NFTSYNC_PLAN_INTERVAL": "1s", "NFTSYNC_LOG_LEVEL": "error",
		"NFTSYNC_API_ADDR": apiAddr, "NFTSYNC_API_ADMIN_TOKENS": token,
	})
	slugs := sim.Server.Slugs()
	pool := trackNothingDue(t, env, dbURL, slugs)

	worker := func() (stop func()) {
		wctx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- run(wctx, []string{"worker"}, env, io.Discard, io.Discard) }()
		return func() { cancel(); require.NoError(t, <-done) }
	}
	psqlRows := func(sql string) []string {
		out, err := exec.Command(psql, dbURL, "-XAtq", "-v", "ON_ERROR_STOP=1", "-c", sql).CombinedOutput()
		require.NoError(t, err, string(out))
		return strings.Fields(string(out))
	}
	waitJobs := func(where string, n int) {
		require.Eventually(t, func() bool {
			var done, all int
			require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FILTER (WHERE state = 'completed'), count(*) FROM river_job WHERE `+where).Scan(&done, &all))
			return done == n && all == n
		}, 2*time.Minute, 100*time.Millisecond, where)
	}

	// A worker registers the configured sources; metadata brings the
	// contract addresses the subgraphs are asked by.
	stop := worker()
	require.Eventually(t, func() bool {
		return scalar[int64](t, pool, `SELECT count(*) FROM indexer_sources`) == 3
	}, time.Minute, 100*time.Millisecond, "sources registered")
	for _, slug := range slugs {
		require.Equal(t, []string{"fetch_collection_metadata|t"}, psqlRows(fmt.Sprintf("SELECT job_kind, inserted FROM nftsync_enqueue_refresh('%s', 'metadata')", slug)))
	}
	waitJobs(`kind = 'fetch_collection_metadata'`, len(slugs))
	stop() // the rest stays queued until a worker runs again

	cli := func(args ...string) {
		require.NoError(t, run(ctx, args, env, io.Discard, io.Discard))
	}
	cli("collections", "route", slugs[0], "volume", "subgraph:seaport")
	cli("collections", "route", slugs[2], "volume", "opensea")

	// (a) Go: volume routed to Seaport alone.
	goRun := func() []string {
		cmd := exec.Command(bin, slugs[0], "volume")
		cmd.Env = []string{"DATABASE_URL=" + dbURL}
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, string(out))
		return strings.Split(strings.TrimSpace(string(out)), "\n")
	}
	got := goRun()
	require.Len(t, got, 1, got)
	require.Contains(t, got[0], "fetch_source_volume queue=source_volume duplicate=false source=subgraph:seaport")
	got = goRun()
	require.Len(t, got, 1, got)
	require.Contains(t, got[0], "duplicate=true")

	// (b) psql: the default route, twice; and the Go path's collection,
	// whose pending subgraph job the same unique key finds.
	const call = "SELECT job_kind || ':' || job_source || ':' || inserted FROM nftsync_enqueue_refresh('%s', 'volume')"
	require.Equal(t, []string{"fetch_volume:opensea:true", "fetch_source_volume:subgraph:blur:true", "fetch_source_volume:subgraph:seaport:true"},
		psqlRows(fmt.Sprintf(call, slugs[1])))
	require.Equal(t, []string{"fetch_volume:opensea:false", "fetch_source_volume:subgraph:blur:false", "fetch_source_volume:subgraph:seaport:false"},
		psqlRows(fmt.Sprintf(call, slugs[1])))
	require.Equal(t, []string{"fetch_source_volume:subgraph:seaport:false"}, psqlRows(fmt.Sprintf(call, slugs[0])))

	// (c) Python: volume routed to OpenSea alone.
	pyCall := func() string {
		cmd := exec.Command(python, "../../jobs/jobargs/example/enqueue.py", slugs[2], "volume")
		cmd.Env = []string{"DATABASE_URL=" + dbURL}
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, string(out))
		return strings.TrimSpace(string(out))
	}
	require.Regexp(t, `^job \d+ fetch_volume queue=volume duplicate=false source=opensea$`, pyCall())
	require.Regexp(t, `^job \d+ fetch_volume queue=volume duplicate=true source=opensea$`, pyCall())

	// (d) GraphQL refreshCollection, from the API process.
	actx, stopAPI := context.WithCancel(ctx)
	apiDone := make(chan error, 1)
	go func() { apiDone <- run(actx, []string{"api"}, env, io.Discard, io.Discard) }()
	t.Cleanup(func() { stopAPI(); <-apiDone })
	var body struct {
		Data struct {
			RefreshCollection struct {
				Jobs []struct{ Kind, Source, JobKind string } `json:"jobs"`
			} `json:"refreshCollection"`
		} `json:"data"`
		Errors []struct{ Message string } `json:"errors"`
	}
	require.Eventually(t, func() bool {
		resp, err := http.Get("http://" + apiAddr + "/healthz")
		if err == nil {
			_ = resp.Body.Close()
		}
		return err == nil && resp.StatusCode == http.StatusOK
	}, time.Minute, 50*time.Millisecond, "api up")
	q, err := json.Marshal(map[string]any{"query": fmt.Sprintf(`mutation { refreshCollection(slug: %q, kinds: [VOLUME]) { jobs { kind source jobKind } } }`, slugs[3])})
	require.NoError(t, err)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+apiAddr+"/graphql", bytes.NewReader(q))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&body))
	_ = resp.Body.Close()
	require.Empty(t, body.Errors)
	var apiJobs []string
	for _, j := range body.Data.RefreshCollection.Jobs {
		apiJobs = append(apiJobs, j.Kind+" "+j.JobKind+" "+j.Source)
	}
	require.Equal(t, []string{"VOLUME fetch_volume opensea", "VOLUME fetch_source_volume subgraph:blur", "VOLUME fetch_source_volume subgraph:seaport"}, apiJobs)

	// Worked: 1 + 3 + 1 + 3 volume jobs, each collection's volume rows
	// from exactly its routed sources (blur traded only some collections).
	stop = worker()
	t.Cleanup(stop)
	waitJobs(`kind IN ('fetch_volume', 'fetch_source_volume')`, 8)
	sources := func(slug string) []string {
		return psqlRows(fmt.Sprintf(`SELECT DISTINCT v.source FROM volume_latest v JOIN collections c ON c.id = v.collection_id WHERE c.slug = '%s' ORDER BY 1`, slug))
	}
	require.Equal(t, []string{"subgraph:seaport"}, sources(slugs[0]), "no OpenSea volume for a collection routed away from it")
	require.Equal(t, []string{"opensea"}, sources(slugs[2]))
	for _, slug := range []string{slugs[1], slugs[3]} {
		got := sources(slug)
		require.Subset(t, got, []string{"opensea", "subgraph:seaport"}, slug)
		require.Subset(t, []string{"opensea", "subgraph:blur", "subgraph:seaport"}, got, slug)
	}
}

// trackNothingDue tracks the slugs and moves their schedules a day ahead, so
// that only what the test enqueues runs; it returns a pool on dbURL.
func trackNothingDue(t *testing.T, env func(string) string, dbURL string, slugs []string) *pgxpool.Pool {
	t.Helper()
	ctx := context.Background()
	require.NoError(t, run(ctx, append([]string{"collections", "add"}, slugs...), env, io.Discard, io.Discard))
	pool, err := pgxpool.New(ctx, dbURL)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	_, err = pool.Exec(ctx, `UPDATE collection_schedules SET next_due_at = now() + interval '1 day'`)
	require.NoError(t, err)
	return pool
}
