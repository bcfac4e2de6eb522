package jobs_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nftsync/nftsync/internal/indexer"
	"github.com/nftsync/nftsync/internal/indexer/subgraph"
	"github.com/nftsync/nftsync/jobs"
)

// TestCatalogueConsistent: every refresh kind has one job for the
// collection's own source and at most one for another, on a queue the
// catalogue sizes, with a worker, a positive interval and target, and a
// source that serves it; sources serve only refresh kinds.
func TestCatalogueConsistent(t *testing.T) {
	t.Parallel()
	queues := map[string]jobs.QueueSpec{}
	for _, q := range jobs.QueueSpecs() {
		require.NotContains(t, queues, q.Name, "queue listed twice")
		require.Positive(t, q.Workers, q.Name)
		queues[q.Name] = q
	}
	for q, kinds := range jobs.QueueJobKinds() {
		require.Contains(t, queues, q, "queue of %v has no QueueSpecs row", kinds)
	}
	names := jobs.RefreshKindNames()
	require.Len(t, slices.Compact(slices.Sorted(slices.Values(names))), len(names), "refresh kinds are unique")
	for _, k := range jobs.RefreshKinds() {
		own, other := 0, 0
		for _, j := range k.Jobs {
			if j.OwnSource {
				own++
				require.NotNil(t, j.Add, "%s: the own source's job registers its worker", k.Name)
			} else {
				other++
			}
			require.Contains(t, queues, j.Opts().Queue, "%s: %s", k.Name, j.JobKind())
		}
		require.Equal(t, 1, own, "%s: one job for the collection's own source", k.Name)
		require.LessOrEqual(t, other, 1, "%s: at most one job for other sources", k.Name)
		require.GreaterOrEqual(t, k.Interval, time.Second, k.Name)
		require.Positive(t, k.Target, k.Name)
		require.NotEmpty(t, k.Sources(), "%s: some source serves it", k.Name)
	}
	for _, s := range jobs.Sources() {
		for _, k := range s.Serves {
			require.Contains(t, names, k, "source %s", s.Name)
		}
	}
}

// TestCatalogueSourcesMatchClients: what the catalogue says a source serves
// is what its client says it serves (indexer.Capabilities).
func TestCatalogueSourcesMatchClients(t *testing.T) {
	t.Parallel()
	c, err := subgraph.NewClient("seaport", "http://127.0.0.1:1/", nil, subgraph.Options{})
	require.NoError(t, err)
	var got []string
	for _, k := range c.Supported() {
		got = append(got, string(k))
	}
	var want []string
	for _, s := range jobs.Sources() {
		if s.Name == "subgraph" {
			want = s.Serves
		}
	}
	require.ElementsMatch(t, want, got)
	var all []string
	for _, k := range indexer.DataKinds() {
		all = append(all, string(k))
	}
	require.ElementsMatch(t, jobs.RefreshKindNames(), all, "every refresh kind is a data kind of the Indexer interface")
}

// TestCatalogueRowsInDatabase: the migrated database holds the catalogue's
// rows (catalog.sql is generated from it), so SQL callers see the same
// refresh kinds, targets and jobs as Go.
func TestCatalogueRowsInDatabase(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tx := sharedTx(t)
	rows, err := tx.Query(ctx, `SELECT refresh_kind, default_interval_seconds, target_age_seconds FROM refresh_kinds ORDER BY position`)
	require.NoError(t, err)
	defer rows.Close()
	var got []jobs.RefreshKindSpec
	for rows.Next() {
		var k jobs.RefreshKindSpec
		var interval, target int
		require.NoError(t, rows.Scan(&k.Name, &interval, &target))
		k.Interval, k.Target = time.Duration(interval)*time.Second, time.Duration(target)*time.Second
		got = append(got, k)
	}
	require.NoError(t, rows.Err())
	require.Len(t, got, len(jobs.RefreshKinds()))
	for i, k := range jobs.RefreshKinds() {
		require.Equal(t, k.Name, got[i].Name)
		require.Equal(t, k.Interval, got[i].Interval, k.Name)
		require.Equal(t, k.Target, got[i].Target, k.Name)
	}
}
