package jobargs_test

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivertype"
	"github.com/stretchr/testify/require"

	"github.com/nftsync/nftsync/db"
	"github.com/nftsync/nftsync/db/dbtest"
	"github.com/nftsync/nftsync/jobs/jobargs"
	"github.com/nftsync/nftsync/jobs/jobargs/internal/jobargsdb"
)

type bundle struct {
	tx     pgx.Tx
	q      *db.Queries
	client *river.Client[pgx.Tx]
}

// refreshKinds are the refresh kinds this contract's Version names.
var refreshKinds = []string{jobargs.RefreshFloorPrice, jobargs.RefreshVolume, jobargs.RefreshMetadata, jobargs.RefreshTokens}

// setup gives a transaction in which OpenSea serves every kind and two
// subgraphs serve volumes by default (seaport also metadata, on request),
// as workers configured with them register.
func setup(t *testing.T) *bundle {
	t.Helper()
	tx := dbtest.Tx(t)
	q := db.New(tx)
	ctx := context.Background()
	for _, s := range []db.IndexerSourceUpsertParams{
		{Source: "opensea", Kinds: refreshKinds, DefaultKinds: refreshKinds},
		{Source: "subgraph:seaport", Kinds: []string{"volume", "metadata"}, DefaultKinds: []string{"volume"}},
		{Source: "subgraph:blur", Kinds: []string{"volume"}, DefaultKinds: []string{"volume"}},
	} {
		require.NoError(t, q.IndexerSourceUpsert(ctx, s))
	}
	client, err := river.NewClient(riverpgxv5.New(nil), &river.Config{})
	require.NoError(t, err)
	return &bundle{tx: tx, q: q, client: client}
}

func (b *bundle) track(t *testing.T, slug string) db.Collection {
	t.Helper()
	c, err := b.q.CollectionUpsert(context.Background(), db.CollectionUpsertParams{Source: "opensea", Slug: slug, Chain: "ethereum", Priority: 3})
	require.NoError(t, err)
	return c
}

func (b *bundle) route(t *testing.T, c db.Collection, kind string, sources ...string) {
	t.Helper()
	require.NoError(t, b.q.CollectionRouteSet(context.Background(), db.CollectionRouteSetParams{CollectionID: c.ID, Kind: kind, Sources: sources}))
}

// sqlEnqueue calls nftsync_enqueue_refresh and returns "job_kind/source"
// with inserted per job, and the job ids.
func (b *bundle) sqlEnqueue(t *testing.T, slug, kind string) ([]string, []bool, []int64) {
	t.Helper()
	rows, err := b.tx.Query(context.Background(), `SELECT job_id, job_kind, job_source, inserted FROM nftsync_enqueue_refresh($1, $2)`, slug, kind)
	require.NoError(t, err)
	var jobs []string
	var inserted []bool
	var ids []int64
	for rows.Next() {
		var id int64
		var k, s string
		var ins bool
		require.NoError(t, rows.Scan(&id, &k, &s, &ins))
		jobs, inserted, ids = append(jobs, k+"/"+s), append(inserted, ins), append(ids, id)
	}
	require.NoError(t, rows.Err())
	return jobs, inserted, ids
}

func goJobs(res []jobargs.RefreshJob) ([]string, []bool, []int64) {
	var jobs []string
	var inserted []bool
	var ids []int64
	for _, r := range res {
		jobs = append(jobs, r.Job.Kind+"/"+r.Source)
		inserted = append(inserted, !r.UniqueSkippedAsDuplicate)
		ids = append(ids, r.Job.ID)
	}
	return jobs, inserted, ids
}

// TestRefreshFollowsRoutes: a refresh through Go (InsertRefreshTx) and
// through SQL (nftsync_enqueue_refresh) enqueues, kind by kind, one job per
// source routed for it and serving it, the same set both ways with the same
// unique keys: whichever path runs second finds every job pending.
func TestRefreshFollowsRoutes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t)

	// Default routes: volume from OpenSea and both subgraphs.
	def := b.track(t, "default-routes")
	res, err := jobargs.InsertRefreshTx(ctx, b.client, b.tx, def.Slug, jobargs.RefreshOpts{Kinds: []string{jobargs.RefreshVolume}})
	require.NoError(t, err)
	jobs, inserted, goIDs := goJobs(res)
	require.Equal(t, []string{"fetch_volume/opensea", "fetch_source_volume/subgraph:blur", "fetch_source_volume/subgraph:seaport"}, jobs)
	require.Equal(t, []bool{true, true, true}, inserted)
	for _, r := range res {
		require.Equal(t, jobargs.RefreshVolume, r.RefreshKind)
		require.Equal(t, 3, r.Job.Priority, "the collection's priority")
	}
	sqlJobs, sqlInserted, sqlIDs := b.sqlEnqueue(t, def.Slug, "volume")
	require.Equal(t, jobs, sqlJobs)
	require.Equal(t, []bool{false, false, false}, sqlInserted, "the SQL path skips the Go path's pending jobs")
	require.Equal(t, goIDs, sqlIDs)

	// Volume routed away from OpenSea to Seaport alone, metadata to Seaport:
	// no OpenSea job for either; SQL first this time.
	away := b.track(t, "subgraph-only")
	b.route(t, away, jobargs.RefreshVolume, "subgraph:seaport")
	b.route(t, away, jobargs.RefreshMetadata, "subgraph:seaport")
	sqlJobs, sqlInserted, sqlIDs = b.sqlEnqueue(t, away.Slug, "all")
	require.Equal(t, []string{"fetch_floor_price/opensea", "fetch_source_volume/subgraph:seaport",
		"fetch_collection_metadata/subgraph:seaport", "sync_tokens/opensea"}, sqlJobs)
	require.Equal(t, []bool{true, true, true, true}, sqlInserted)
	res, err = jobargs.InsertRefreshTx(ctx, b.client, b.tx, away.Slug, jobargs.RefreshOpts{})
	require.NoError(t, err)
	jobs, inserted, goIDs = goJobs(res)
	// Go goes kind by kind in sorted order.
	require.ElementsMatch(t, sqlJobs, jobs)
	require.ElementsMatch(t, sqlIDs, goIDs)
	require.Equal(t, []bool{false, false, false, false}, inserted, "the Go path skips the SQL path's pending jobs")
	var args string
	require.NoError(t, b.tx.QueryRow(ctx, `SELECT args::text FROM river_job WHERE id = $1`, sqlIDs[2]).Scan(&args))
	require.JSONEq(t, `{"collection_id": `+jsonInt(away.ID)+`, "source": "subgraph:seaport"}`, args)

	// A route naming a source that no longer serves the kind (blur lost
	// metadata; floor_price never came from a subgraph) asks nobody for it.
	gone := b.track(t, "stale-route")
	b.route(t, gone, jobargs.RefreshMetadata, "subgraph:blur")
	res, err = jobargs.InsertRefreshTx(ctx, b.client, b.tx, gone.Slug, jobargs.RefreshOpts{Kinds: []string{jobargs.RefreshMetadata}})
	require.NoError(t, err)
	require.Empty(t, res)
	sqlJobs, _, _ = b.sqlEnqueue(t, gone.Slug, "metadata")
	require.Empty(t, sqlJobs)

	// Unknown kinds are refused before anything is inserted.
	_, err = jobargs.InsertRefreshTx(ctx, b.client, b.tx, def.Slug, jobargs.RefreshOpts{Kinds: []string{"floor"}})
	require.ErrorContains(t, err, `unknown refresh kind "floor"`)
	_, err = jobargs.InsertRefreshTx(ctx, b.client, b.tx, "nope", jobargs.RefreshOpts{})
	require.ErrorIs(t, err, jobargs.ErrNotTracked)
}

func jsonInt(n int64) string {
	b, _ := json.Marshal(n)
	return string(b)
}

// TestJobTypesAgreeWithDatabase holds the Go job types to the database's
// job table (refresh_kind_jobs, generated from the catalogue, the rows
// every enqueue path uses): same kind, queue, attempts and uniqueness, the
// same args, and the unique key the SQL path computes is the one River
// computes.
func TestJobTypesAgreeWithDatabase(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t)
	kinds, err := b.q.RefreshJobKinds(ctx)
	require.NoError(t, err)
	require.Len(t, kinds, 6)
	c := b.track(t, "agree")
	b.route(t, c, jobargs.RefreshMetadata, "subgraph:seaport")
	seen := map[string]bool{}
	for _, k := range kinds {
		source := ""
		if !k.OwnSource {
			source = "subgraph:seaport"
		}
		args, err := jobargs.ForJob(k.JobKind, jobargs.CollectionArgs{CollectionID: c.ID}, source)
		require.NoError(t, err)
		opts := args.(interface{ InsertOpts() river.InsertOpts }).InsertOpts()
		require.Equal(t, k.JobKind, args.Kind())
		require.Equal(t, k.JobQueue, opts.Queue, k.JobKind)
		require.EqualValues(t, k.MaxAttempts, opts.MaxAttempts, k.JobKind)
		require.Equal(t, jobargs.UniquePending(), opts.UniqueOpts, k.JobKind)
		seen[k.Kind] = true
	}
	require.Len(t, seen, len(refreshKinds), "every refresh kind has a job")

	// Every job a refresh of c means: the SQL row's args and unique key
	// match what River inserts for the Go args.
	rows, err := jobargsdb.New(b.tx).RefreshJobs(ctx, jobargsdb.RefreshJobsParams{
		CollectionIds: []int64{c.ID, c.ID, c.ID, c.ID}, Kinds: refreshKinds})
	require.NoError(t, err)
	require.Len(t, rows, 6, "floor, 3 volume sources, metadata from seaport, tokens")
	for _, r := range rows {
		source := ""
		if !r.OwnSource {
			source = r.Source
		}
		args, err := jobargs.ForJob(r.JobKind, jobargs.CollectionArgs{CollectionID: c.ID}, source)
		require.NoError(t, err)
		encoded, err := json.Marshal(args)
		require.NoError(t, err)
		require.JSONEq(t, string(r.JobArgs), string(encoded), r.JobKind)
		opts := args.(interface{ InsertOpts() river.InsertOpts }).InsertOpts()
		res, err := b.client.InsertTx(ctx, b.tx, args, &opts)
		require.NoError(t, err)
		want := sha256.Sum256([]byte("&kind=" + r.JobKind + "&args=" + r.UniqueArgs))
		require.Equal(t, want[:], res.Job.UniqueKey, "%s %s: River's key is sha256(%s)", r.JobKind, r.Source, r.UniqueArgs)
		require.ElementsMatch(t, []rivertype.JobState{rivertype.JobStateAvailable, rivertype.JobStatePending, rivertype.JobStateRunning,
			rivertype.JobStateRetryable, rivertype.JobStateScheduled}, res.Job.UniqueStates)
	}
}
