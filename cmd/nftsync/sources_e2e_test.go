package main

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/nftsync/nftsync/db/dbtest"
	"github.com/nftsync/nftsync/internal/indexersim"
)

func scalar[T any](t *testing.T, pool *pgxpool.Pool, sql string, args ...any) T {
	t.Helper()
	var v T
	require.NoError(t, pool.QueryRow(context.Background(), sql, args...).Scan(&v), sql)
	return v
}

// TestTwoSourcesEndToEnd runs `nftsync dev` with both sources: OpenSea and
// the simulator's Seaport and Blur subgraphs, the Seaport one forced to
// disagree. Collections are routed across the sources; every volume row
// lands under its source with provenance; every cross-check round of a
// collection records exactly one disagreement event; and neither the
// OpenSea endpoints nor the subgraphs ever had to refuse a request.
func TestTwoSourcesEndToEnd(t *testing.T) {
	t.Parallel()
	dbURL := dbtest.NewDatabase(t)
	simAddr := freeAddr(t)
	env := map[string]string{
		"DATABASE_URL":                  dbURL,
		"NFTSYNC_SIM_COLLECTIONS":       "4",
		"NFTSYNC_SIM_SEED":              "11",
		"NFTSYNC_SIM_MIN_TOKENS":        "100",
		"NFTSYNC_SIM_MAX_TOKENS":        "300",
		"NFTSYNC_SIM_ADDR":              simAddr,
		"NFTSYNC_SIM_RATE":              "20",
		"NFTSYNC_SIM_SUBGRAPH_RATE":     "6",
		"NFTSYNC_SIM_SUBGRAPH_DISAGREE": "0.2",
		"NFTSYNC_PLAN_INTERVAL":         "1s",
		"NFTSYNC_REFRESH_VOLUME":        "2s",
		"NFTSYNC_LOG_LEVEL":             "warn",
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out bytes.Buffer
	logs := &syncBuffer{}
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"dev"}, envOf(env), &out, logs) }()

	pool, err := pgxpool.New(context.Background(), dbURL)
	require.NoError(t, err)
	defer pool.Close()
	waitForMigrations(t, pool)
	truth, err := indexersim.New(indexersim.Config{Seed: 11, Collections: 4, MinTokens: 100, MaxTokens: 300}, nil)
	require.NoError(t, err)
	slugs := truth.Slugs()

	// Wait for the sources to be registered, then route: the first
	// collection's volume only from the Seaport subgraph, the second's only
	// from OpenSea; the others keep the default (OpenSea and both subgraphs).
	for start := time.Now(); scalar[int64](t, pool, `SELECT count(*) FROM indexer_sources`) < 3; time.Sleep(100 * time.Millisecond) {
		require.Less(t, time.Since(start), time.Minute, "sources not registered")
	}
	cli := func(args ...string) string {
		var o, l bytes.Buffer
		require.NoError(t, run(context.Background(), args, envOf(env), &o, &l), l.String())
		return o.String()
	}
	require.Contains(t, cli("collections", "route", slugs[0], "volume", "subgraph:seaport"), "subgraph:seaport")
	require.Contains(t, cli("collections", "route", slugs[1], "volume", "opensea"), "opensea")
	routedAt := scalar[time.Time](t, pool, `SELECT now()`)

	// Until every collection has its rows (OpenSea's for all but the first,
	// the Seaport subgraph's for all but
	// the second, unless its first round came before the route) and two
	// rounds were checked where both sources serve volume.
	var status string
	for start := time.Now(); ; time.Sleep(500 * time.Millisecond) {
		status = fmt.Sprintf("sources %d, seaport collections %d, opensea collections %d, metadata %d, checked rounds of the last two %d",
			scalar[int64](t, pool, `SELECT count(*) FROM indexer_sources`),
			scalar[int64](t, pool, `SELECT count(DISTINCT collection_id) FROM volume_current WHERE source = 'subgraph:seaport'`),
			scalar[int64](t, pool, `SELECT count(DISTINCT collection_id) FROM volume_current WHERE source = 'opensea'`),
			scalar[int64](t, pool, `SELECT count(*) FROM collection_metadata`),
			scalar[int64](t, pool, `SELECT coalesce(min(n), 0) FROM (SELECT count(*) AS n FROM source_cross_checks x JOIN collections c ON c.id = x.collection_id
			                        WHERE c.slug = ANY($1) AND x.round > $2 GROUP BY c.id) AS r`, slugs[2:], routedAt))
		if scalar[bool](t, pool, `SELECT
			(SELECT count(DISTINCT collection_id) FROM volume_current WHERE source = 'subgraph:seaport') >= 3 AND
			(SELECT count(DISTINCT collection_id) FROM volume_current WHERE source = 'opensea') >= 3 AND
			(SELECT count(*) FROM collection_metadata) = 4 AND
			(SELECT count(*) FROM (SELECT c.id FROM source_cross_checks x JOIN collections c ON c.id = x.collection_id
			                       WHERE c.slug = ANY($1) AND x.round > $2 GROUP BY c.id HAVING count(*) >= 2) AS r) = 2`, slugs[2:], routedAt) {
			break
		}
		if time.Since(start) > 3*time.Minute {
			t.Fatalf("not there yet: %s\nlogs:\n%s", status, tail(logs.String(), 4000))
		}
	}

	// Routing: after the routes were set, no OpenSea volume job for the
	// first collection and no subgraph job for the second was planned.
	require.Zero(t, scalar[int64](t, pool, `SELECT count(*) FROM river_job j JOIN collections c ON c.id = (j.args->>'collection_id')::bigint
		WHERE c.slug = $1 AND j.kind = 'fetch_volume' AND j.created_at > $2::timestamptz + interval '1 second'`, slugs[0], routedAt))
	require.Zero(t, scalar[int64](t, pool, `SELECT count(*) FROM river_job j JOIN collections c ON c.id = (j.args->>'collection_id')::bigint
		WHERE c.slug = $1 AND j.kind = 'fetch_source_volume' AND j.created_at > $2::timestamptz + interval '1 second'`, slugs[1], routedAt))
	// The Seaport subgraph's volume still arrives for the first collection.
	require.Positive(t, scalar[int64](t, pool, `SELECT count(*) FROM river_job j JOIN collections c ON c.id = (j.args->>'collection_id')::bigint
		WHERE c.slug = $1 AND j.kind = 'fetch_source_volume' AND j.state = 'completed' AND j.created_at > $2::timestamptz + interval '1 second'`, slugs[0], routedAt))

	// Provenance: every subgraph row has its block time, no OpenSea row
	// invents one; metadata says where it came from.
	require.Zero(t, scalar[int64](t, pool, `SELECT count(*) FROM volume_current WHERE source LIKE 'subgraph:%' AND (source_as_of IS NULL OR source_as_of > fetched_at)`))
	require.Zero(t, scalar[int64](t, pool, `SELECT count(*) FROM volume_current WHERE source = 'opensea' AND source_as_of IS NOT NULL`))
	require.Zero(t, scalar[int64](t, pool, `SELECT count(*) FROM collection_metadata WHERE source <> 'opensea'`))
	require.Zero(t, scalar[int64](t, pool, `SELECT count(*) FROM volume_current WHERE source NOT IN ('opensea', 'subgraph:seaport', 'subgraph:blur')`))
	require.Positive(t, scalar[int64](t, pool, `SELECT count(*) FROM volume_current WHERE source = 'subgraph:blur'`))

	// Limits held for both sources: no bucket of the simulator ever had
	// to refuse a request.
	st := simStats(t, "http://"+simAddr)
	require.Zero(t, st.RateLimited, "OpenSea endpoints refused requests: %+v", st)
	require.Len(t, st.Subgraphs, 2)
	for name, sg := range st.Subgraphs {
		require.Positive(t, sg.Served, name)
		require.Zero(t, sg.RateLimited, "subgraph %s refused requests: %+v", name, sg)
	}

	cancel()
	select {
	case err := <-done:
		require.NoError(t, err, "logs:\n%s", tail(logs.String(), 4000))
	case <-time.After(time.Minute):
		t.Fatal("dev did not stop within a minute of cancellation")
	}

	// The forced disagreement: every checked round disagrees, and each has
	// exactly one event naming both values and sources.
	checks := scalar[int64](t, pool, `SELECT count(*) FROM source_cross_checks`)
	require.Positive(t, checks)
	require.Zero(t, scalar[int64](t, pool, `SELECT count(*) FROM source_cross_checks WHERE agree`))
	require.Equal(t, checks, scalar[int64](t, pool, `SELECT count(*) FROM data_quality_events WHERE kind = 'cross_source_disagreement'
		AND message LIKE '%opensea says %' AND message LIKE '%subgraph:seaport says %'`))
	require.Zero(t, scalar[int64](t, pool, `SELECT count(*) FROM (SELECT 1 FROM source_cross_checks GROUP BY collection_id, round HAVING count(*) > 1) AS d`))
	// A collection whose volume comes from OpenSea alone is not checked.
	require.Zero(t, scalar[int64](t, pool, `SELECT count(*) FROM source_cross_checks x JOIN collections c ON c.id = x.collection_id
		WHERE c.slug = $1 AND x.round > $2::timestamptz + interval '1 second'`, slugs[1], routedAt))
}
