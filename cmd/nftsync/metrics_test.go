package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nftsync/nftsync/db/dbtest"
	"github.com/nftsync/nftsync/internal/indexersim"
)

// sample returns the value of the series name whose labels include every
// label in want (`k="v"` pairs), summed over matches, and whether any matched.
func sample(body, name string, want ...string) (float64, bool) {
	var sum float64
	found := false
	for _, line := range strings.Split(body, "\n") {
		if !strings.HasPrefix(line, name+"{") && !strings.HasPrefix(line, name+" ") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		labels := line[len(name):i]
		ok := true
		for _, w := range want {
			ok = ok && strings.Contains(labels, w)
		}
		if !ok {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err == nil {
			sum += v
			found = true
		}
	}
	return sum, found
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return addr
}

func httpGet(url string) (int, string, error) {
	resp, err := http.Get(url)
	if err != nil {
		return 0, "", err
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// TestWorkerMetrics runs a worker with NFTSYNC_METRICS_ADDR against a
// simulator that answers 429 beyond 1 request per second (our budget is
// set far higher), so jobs complete, get rate limited and snooze. /metrics
// must then show real values for jobs by kind and outcome with durations,
// upstream responses by endpoint and status, queue backlog and oldest age,
// paused keys and data age; /healthz and /readyz answer.
func TestWorkerMetrics(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	sim, err := indexersim.Start(ctx, "127.0.0.1:0", indexersim.Config{Seed: 3, Collections: 3, MinTokens: 300, MaxTokens: 600, Rate: 1, Burst: 1}, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	t.Cleanup(func() { _ = sim.Close() })
	dbURL := dbtest.NewDatabase(t)
	addr := freeAddr(t)
	env := envOf(map[string]string{
		"DATABASE_URL": dbURL, "NFTSYNC_OPENSEA_URL": sim.URL, "NFTSYNC_OPENSEA_RATE": "100/s",
		"NFTSYNC_PLAN_INTERVAL": "1s", "NFTSYNC_LOG_LEVEL": "error", "NFTSYNC_METRICS_ADDR": addr,
	})
	require.NoError(t, run(ctx, append([]string{"collections", "add"}, sim.Server.Slugs()...), env, io.Discard, io.Discard))
	pool, err := pgxpool.New(ctx, dbURL)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	// A job in a queue no worker serves: backlog with a known age.
	_, err = pool.Exec(ctx, `INSERT INTO river_job (args, kind, max_attempts, queue, scheduled_at)
		VALUES ('{"collection_id": 1}', 'fetch_floor_price', 10, 'unserved', now() - interval '90 seconds')`)
	require.NoError(t, err)

	wctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- run(wctx, []string{"worker"}, env, io.Discard, io.Discard) }()
	t.Cleanup(func() { stop(); <-done })

	base := "http://" + addr
	require.Eventually(t, func() bool {
		code, _, err := httpGet(base + "/readyz")
		return err == nil && code == http.StatusOK
	}, 30*time.Second, 50*time.Millisecond)
	code, _, err := httpGet(base + "/healthz")
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, code)

	var body string
	var floor, snoozed, limited float64
	ok := assert.Eventually(t, func() bool {
		_, body, err = httpGet(base + "/metrics")
		require.NoError(t, err)
		floor, _ = sample(body, "nftsync_jobs_total", `kind="fetch_floor_price"`, `outcome="completed"`)
		snoozed, _ = sample(body, "nftsync_jobs_total", `outcome="snoozed"`)
		// Jobs also snooze while the other stats kind's call is in flight,
		// so wait for a 429 itself too.
		limited, _ = sample(body, "nftsync_upstream_requests_total", `status="429"`)
		return floor >= 3 && snoozed >= 1 && limited >= 1
	}, 2*time.Minute, 250*time.Millisecond)
	require.True(t, ok, "want 3 completed floor jobs, a 429 and a snooze; have %v, %v and %v; upstream requests:\n%s",
		floor, snoozed, limited, grepLines(body, "nftsync_upstream_requests_total", "nftsync_jobs_total"))

	v, ok := sample(body, "nftsync_job_duration_seconds_count", `kind="fetch_floor_price"`, `outcome="completed"`)
	require.True(t, ok)
	require.GreaterOrEqual(t, v, 3.0)
	v, _ = sample(body, "nftsync_job_duration_seconds_sum", `kind="fetch_floor_price"`)
	require.Positive(t, v)
	v, _ = sample(body, "nftsync_upstream_requests_total", `source="opensea"`, `endpoint="stats"`, `status="200"`)
	require.Positive(t, v)
	v, _ = sample(body, "nftsync_upstream_requests_total", `status="429"`)
	require.Positive(t, v, "the simulator's 429s are counted")
	v, ok = sample(body, "nftsync_queue_available_jobs", `queue="unserved"`)
	require.True(t, ok)
	require.Equal(t, 1.0, v)
	v, _ = sample(body, "nftsync_queue_oldest_available_seconds", `queue="unserved"`)
	require.GreaterOrEqual(t, v, 90.0)
	_, ok = sample(body, "nftsync_upstream_paused_keys", `source="opensea"`)
	require.True(t, ok)
	v, ok = sample(body, "nftsync_data_never_refreshed_collections", `kind="floor_price"`)
	require.True(t, ok)
	require.Zero(t, v, "every floor refreshed")
	v, ok = sample(body, "nftsync_data_age_max_seconds", `kind="floor_price"`)
	require.True(t, ok)
	require.Less(t, v, 600.0)
	_, ok = sample(body, "go_goroutines")
	require.True(t, ok)
}

// TestWorkerTraces points OTEL_EXPORTER_OTLP_ENDPOINT at a recording
// OTLP/HTTP endpoint: the worker's jobs arrive there as otelriver spans
// (flushed at the latest when the worker stops).
func TestWorkerTraces(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	var mu sync.Mutex
	var bodies [][]byte
	collector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if r.URL.Path == "/v1/traces" {
			mu.Lock()
			bodies = append(bodies, b)
			mu.Unlock()
		}
		w.Header().Set("Content-Type", "application/x-protobuf")
	}))
	t.Cleanup(collector.Close)
	sim, err := indexersim.Start(ctx, "127.0.0.1:0", indexersim.Config{Seed: 4, Collections: 1, MinTokens: 10, MaxTokens: 20}, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	t.Cleanup(func() { _ = sim.Close() })
	env := envOf(map[string]string{
		"DATABASE_URL": dbtest.NewDatabase(t), "NFTSYNC_OPENSEA_URL": sim.URL, "NFTSYNC_OPENSEA_RATE": "100/s",
		"NFTSYNC_PLAN_INTERVAL": "1s", "NFTSYNC_LOG_LEVEL": "error", "OTEL_EXPORTER_OTLP_ENDPOINT": collector.URL,
	})
	require.NoError(t, run(ctx, append([]string{"collections", "add"}, sim.Server.Slugs()...), env, io.Discard, io.Discard))
	wctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- run(wctx, []string{"worker"}, env, io.Discard, io.Discard) }()
	pool, err := pgxpool.New(ctx, env("DATABASE_URL"))
	require.NoError(t, err)
	defer pool.Close()
	require.Eventually(t, func() bool {
		var n int
		require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM river_job WHERE kind = 'fetch_floor_price' AND state = 'completed'`).Scan(&n))
		return n > 0
	}, time.Minute, 100*time.Millisecond)
	stop()
	require.NoError(t, <-done)
	mu.Lock()
	defer mu.Unlock()
	all := bytes.Join(bodies, nil)
	require.Contains(t, string(all), "river.work/fetch_floor_price", "a span per job, named by kind")
	require.Contains(t, string(all), "nftsync", "service.name")
}

// TestAPIMetrics runs `nftsync api` with NFTSYNC_METRICS_ADDR: /metrics there
// counts and times GraphQL requests by operation (type and root fields) and
// status (ok or the error code), next to the process and Go runtime series;
// /readyz answers.
func TestAPIMetrics(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	apiAddr, metricsAddr := freeAddr(t), freeAddr(t)
	env := envOf(map[string]string{
		"DATABASE_URL": dbtest.NewDatabase(t), "NFTSYNC_API_ADDR": apiAddr, "NFTSYNC_METRICS_ADDR": metricsAddr,
		"NFTSYNC_API_ADMIN_TOKENS": "admin-token-0123456789", "NFTSYNC_LOG_LEVEL": "error",
	})
	actx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- run(actx, []string{"api"}, env, io.Discard, io.Discard) }()
	t.Cleanup(func() { stop(); require.NoError(t, <-done) })

	base := "http://" + metricsAddr
	require.Eventually(t, func() bool {
		code, _, err := httpGet(base + "/readyz")
		return err == nil && code == http.StatusOK
	}, 30*time.Second, 50*time.Millisecond)
	post := func(query string) {
		resp, err := http.Post("http://"+apiAddr+"/graphql", "application/json",
			strings.NewReader(fmt.Sprintf(`{"query": %q}`, query)))
		require.NoError(t, err)
		_, _ = io.Copy(io.Discard, resp.Body)
		require.NoError(t, resp.Body.Close())
	}
	post(`{ collections { totalCount } b: collections { totalCount } }`)
	post(`{ collections { totalCount } }`)
	post(`mutation { refreshCollection(slug: "x") { auditId } }`) // no token
	post(`{ collections {`)

	_, body, err := httpGet(base + "/metrics")
	require.NoError(t, err)
	for _, c := range []struct {
		want  []string
		count float64
	}{
		{[]string{`operation="query collections"`, `status="ok"`}, 2},
		{[]string{`operation="mutation refreshCollection"`, `status="UNAUTHENTICATED"`}, 1},
		{[]string{`operation="invalid"`, `status="GRAPHQL_PARSE_FAILED"`}, 1},
	} {
		n, ok := sample(body, "nftsync_api_requests_total", c.want...)
		require.True(t, ok, "nftsync_api_requests_total %v missing:\n%s", c.want, body)
		require.Equal(t, c.count, n, "nftsync_api_requests_total %v", c.want)
		n, _ = sample(body, "nftsync_api_request_duration_seconds_count", c.want...)
		require.Equal(t, c.count, n, "nftsync_api_request_duration_seconds_count %v", c.want)
	}
	for _, name := range []string{"process_cpu_seconds_total", "go_goroutines"} {
		_, ok := sample(body, name)
		require.True(t, ok, "%s missing", name)
	}
}

// grepLines returns the lines of body that start with one of the prefixes.
func grepLines(body string, prefixes ...string) string {
	var b strings.Builder
	for _, l := range strings.Split(body, "\n") {
		for _, p := range prefixes {
			if strings.HasPrefix(l, p) {
				b.WriteString(l + "\n")
				break
			}
		}
	}
	return b.String()
}
