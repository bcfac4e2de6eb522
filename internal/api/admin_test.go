package api_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
	"github.com/stretchr/testify/require"

	"github.com/nftsync/nftsync/db"
	"github.com/nftsync/nftsync/internal/admin"
	"github.com/nftsync/nftsync/internal/api"
	"github.com/nftsync/nftsync/jobs"
)

const refreshMutation = `mutation($slug: String!, $kinds: [RefreshKind!]) {
	refreshCollection(slug: $slug, kinds: $kinds) { requestedAt auditId collection { slug } jobs { kind jobId alreadyPending } } }`

type refreshOut struct {
	RefreshCollection struct {
		AuditID string `json:"auditId"`
		Jobs    []struct {
			Kind           string `json:"kind"`
			JobID          string `json:"jobId"`
			AlreadyPending bool   `json:"alreadyPending"`
		} `json:"jobs"`
	} `json:"refreshCollection"`
}

func listJobs(t *testing.T, b *testBundle) []*rivertype.JobRow {
	t.Helper()
	res, err := b.admin.River.JobList(context.Background(), river.NewJobListParams().States(rivertype.JobStates()...).First(1000))
	require.NoError(t, err)
	return res.Jobs
}

func TestRefreshCollection(t *testing.T) {
	t.Parallel()

	t.Run("JobsAndAuditInOneTransaction", func(t *testing.T) {
		t.Parallel()
		b := setup(t, setupOpts{cooldown: time.Minute})
		id := b.seedCollection(t, "alpha", "1", "1", nil)
		var out refreshOut
		b.data(t, adminToken, refreshMutation, map[string]any{"slug": "alpha", "kinds": []string{"FLOOR_PRICE", "VOLUME"}}, &out)
		got := out.RefreshCollection
		require.Len(t, got.Jobs, 2)
		require.Equal(t, "FLOOR_PRICE", got.Jobs[0].Kind)
		require.Equal(t, "VOLUME", got.Jobs[1].Kind)
		jobs := listJobs(t, b)
		require.Len(t, jobs, 2)
		kinds := map[string]int64{}
		for _, j := range jobs {
			kinds[j.Kind] = j.ID
			require.Equal(t, 1, j.Priority, "manual refreshes go first")
			require.Contains(t, string(j.EncodedArgs), `"manual": true`)
		}
		require.Equal(t, got.Jobs[0].JobID, strconv.FormatInt(kinds["fetch_floor_price"], 10))
		require.Equal(t, got.Jobs[1].JobID, strconv.FormatInt(kinds["fetch_volume"], 10))

		audit, err := db.New(b.pool).AdminAuditLastRefresh(context.Background(), pgtype.Int8{Int64: id, Valid: true})
		require.NoError(t, err)
		require.Equal(t, got.AuditID, strconv.FormatInt(audit.ID, 10))
		require.Equal(t, "refresh", audit.Action)
		require.Equal(t, "alpha", audit.Slug)
		require.True(t, strings.HasPrefix(audit.Actor, "api:"), audit.Actor)
		require.NotContains(t, audit.Actor, adminToken)
		require.ElementsMatch(t, []int64{kinds["fetch_floor_price"], kinds["fetch_volume"]}, audit.JobIds)
		require.JSONEq(t, `{"kinds": ["floor_price", "volume"]}`, string(audit.Detail))
		require.WithinDuration(t, time.Now(), audit.CreatedAt, time.Minute)

		// Within the cooldown: refused, saying when it is allowed again.
		r := b.query(t, adminToken, refreshMutation, map[string]any{"slug": "alpha"})
		require.Equal(t, "REFRESH_COOLDOWN", r.code())
		require.Contains(t, r.Errors[0].Message, "the next refresh is allowed at "+audit.CreatedAt.Add(time.Minute).UTC().Format(time.RFC3339))
		require.Equal(t, audit.CreatedAt.Add(time.Minute).UTC().Format(time.RFC3339), r.Errors[0].Extensions["retryAt"])
		require.Len(t, listJobs(t, b), 2, "a refused refresh inserts nothing")
	})

	t.Run("NoJobsWithoutCommit", func(t *testing.T) {
		t.Parallel()
		var inserted int
		var b *testBundle
		b = setup(t, setupOpts{afterRefreshInsert: func(ctx context.Context, tx pgx.Tx) error {
			// The jobs are there inside the transaction...
			res, err := b.admin.River.JobListTx(ctx, tx, river.NewJobListParams())
			if err != nil {
				return err
			}
			inserted = len(res.Jobs)
			return errors.New("forced failure after the insert")
		}})
		b.seedCollection(t, "alpha", "1", "1", nil)
		r := b.query(t, adminToken, refreshMutation, map[string]any{"slug": "alpha"})
		require.Equal(t, "INTERNAL_SERVER_ERROR", r.code())
		require.Equal(t, "internal error", r.Errors[0].Message, "the internal reason is not shown")
		require.Equal(t, 4, inserted, "the jobs were inserted in the transaction")
		require.Empty(t, listJobs(t, b), "...and are gone with its rollback")
		_, err := db.New(b.pool).AdminAuditLastRefresh(context.Background(), pgtype.Int8{Int64: 1, Valid: true})
		require.ErrorIs(t, db.Interpret(err), db.ErrNotFound, "no audit row either")
	})

	t.Run("DuplicatesAndRefusals", func(t *testing.T) {
		t.Parallel()
		b := setup(t, setupOpts{})
		b.seedCollection(t, "alpha", "1", "1", nil)
		var first, second refreshOut
		b.data(t, adminToken, refreshMutation, map[string]any{"slug": "alpha"}, &first)
		require.Len(t, first.RefreshCollection.Jobs, 4)
		b.data(t, adminToken, refreshMutation, map[string]any{"slug": "alpha"}, &second)
		for i, j := range second.RefreshCollection.Jobs {
			require.True(t, j.AlreadyPending, "no cooldown: pending kinds are reported, not doubled")
			require.Equal(t, first.RefreshCollection.Jobs[i].JobID, j.JobID)
		}
		require.Len(t, listJobs(t, b), 4)
		r := b.query(t, adminToken, refreshMutation, map[string]any{"slug": "nope"})
		require.Equal(t, "NOT_FOUND", r.code())
		b.data(t, adminToken, `mutation { pauseCollection(slug: "alpha", reason: "maintenance") { status statusReason } }`, nil, &struct{}{})
		r = b.query(t, adminToken, refreshMutation, map[string]any{"slug": "alpha"})
		require.Equal(t, "CONFLICT", r.code())
		require.Contains(t, r.Errors[0].Message, "resume it first")
	})

	t.Run("RoutedSources", func(t *testing.T) {
		t.Parallel()
		ctx := context.Background()
		b := setup(t, setupOpts{})
		id := b.seedCollection(t, "alpha", "1", "1", nil)
		q := db.New(b.pool)
		require.NoError(t, q.IndexerSourceUpsert(ctx, db.IndexerSourceUpsertParams{Source: "opensea", Kinds: jobs.ScheduleKinds, DefaultKinds: jobs.ScheduleKinds}))
		require.NoError(t, q.IndexerSourceUpsert(ctx, db.IndexerSourceUpsertParams{Source: "subgraph:seaport", Kinds: []string{"volume"}, DefaultKinds: []string{"volume"}}))
		require.NoError(t, q.IndexerSourceUpsert(ctx, db.IndexerSourceUpsertParams{Source: "subgraph:blur", Kinds: []string{"volume"}, DefaultKinds: []string{"volume"}}))
		const routedMutation = `mutation($slug: String!, $kinds: [RefreshKind!]) {
			refreshCollection(slug: $slug, kinds: $kinds) { jobs { kind source jobKind jobId alreadyPending } } }`
		type routedOut struct {
			RefreshCollection struct {
				Jobs []struct{ Kind, Source, JobKind, JobID string } `json:"jobs"`
			} `json:"refreshCollection"`
		}
		refresh := func(kinds ...string) []string {
			var out routedOut
			b.data(t, adminToken, routedMutation, map[string]any{"slug": "alpha", "kinds": kinds}, &out)
			var got []string
			for _, j := range out.RefreshCollection.Jobs {
				got = append(got, j.Kind+" "+j.JobKind+" "+j.Source)
			}
			return got
		}
		// Default: volume from OpenSea and both subgraphs.
		require.Equal(t, []string{"VOLUME fetch_volume opensea", "VOLUME fetch_source_volume subgraph:blur",
			"VOLUME fetch_source_volume subgraph:seaport"}, refresh("VOLUME"))
		// Routed away from OpenSea: no OpenSea job, only Seaport's (already
		// pending, so reported, not doubled).
		require.NoError(t, jobs.SetRoute(ctx, b.pool, id, jobs.RefreshVolume, []string{"subgraph:seaport"}))
		require.Equal(t, []string{"FLOOR_PRICE fetch_floor_price opensea", "VOLUME fetch_source_volume subgraph:seaport"}, refresh("VOLUME", "FLOOR_PRICE"))
		require.Len(t, listJobs(t, b), 4, "fetch_volume, two fetch_source_volume, fetch_floor_price")
	})
}

func TestCollectionMutations(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	type coll struct {
		Slug         string `json:"slug"`
		Chain        string `json:"chain"`
		Priority     int    `json:"priority"`
		Status       string `json:"status"`
		StatusReason string `json:"statusReason"`
		Freshness    []struct {
			Kind                   string `json:"kind"`
			RefreshIntervalSeconds int    `json:"refreshIntervalSeconds"`
		} `json:"freshness"`
	}
	const fields = `slug chain priority status statusReason freshness { kind refreshIntervalSeconds }`
	var tr struct{ TrackCollection coll }
	b.data(t, adminToken, `mutation { trackCollection(slug: "newbie", chain: "base", priority: 1, intervals: {floorPrice: 30}) { `+fields+` } }`, nil, &tr)
	require.Equal(t, "base", tr.TrackCollection.Chain)
	require.Equal(t, 1, tr.TrackCollection.Priority)
	require.Equal(t, "ACTIVE", tr.TrackCollection.Status)
	require.Equal(t, 30, tr.TrackCollection.Freshness[0].RefreshIntervalSeconds)
	require.Equal(t, 300, tr.TrackCollection.Freshness[3].RefreshIntervalSeconds, "volume keeps its default")

	r := b.query(t, adminToken, `mutation { trackCollection(slug: "x", priority: 9) { slug } }`, nil)
	require.Equal(t, "BAD_USER_INPUT", r.code())
	require.Contains(t, r.Errors[0].Message, "priority 9")
	r = b.query(t, adminToken, `mutation { trackCollection(slug: "x", source: "nowhere") { slug } }`, nil)
	require.Equal(t, "BAD_USER_INPUT", r.code())

	var set struct{ SetRefreshIntervals coll }
	b.data(t, adminToken, `mutation { setRefreshIntervals(slug: "newbie", intervals: {volume: 120, tokens: 3600}) { `+fields+` } }`, nil, &set)
	require.Equal(t, 120, set.SetRefreshIntervals.Freshness[3].RefreshIntervalSeconds)
	require.Equal(t, 3600, set.SetRefreshIntervals.Freshness[2].RefreshIntervalSeconds)
	r = b.query(t, adminToken, `mutation { setRefreshIntervals(slug: "newbie", intervals: {volume: 0}) { slug } }`, nil)
	require.Equal(t, "BAD_USER_INPUT", r.code())

	var p struct{ PauseCollection coll }
	b.data(t, adminToken, `mutation { pauseCollection(slug: "newbie", reason: "holiday") { `+fields+` } }`, nil, &p)
	require.Equal(t, "PAUSED", p.PauseCollection.Status)
	require.Equal(t, "holiday", p.PauseCollection.StatusReason)
	var res struct{ ResumeCollection coll }
	b.data(t, adminToken, `mutation { resumeCollection(slug: "newbie") { `+fields+` } }`, nil, &res)
	require.Equal(t, "ACTIVE", res.ResumeCollection.Status)

	var un struct {
		UntrackCollection struct{ Slug, ID string } `json:"untrackCollection"`
	}
	b.data(t, adminToken, `mutation { untrackCollection(slug: "newbie") { slug id } }`, nil, &un)
	require.Equal(t, "newbie", un.UntrackCollection.Slug)
	var c struct{ Collection *coll }
	b.data(t, "", `{ collection(slug: "newbie") { slug } }`, nil, &c)
	require.Nil(t, c.Collection)

	audit, err := db.New(b.pool).AdminAuditList(context.Background(), db.AdminAuditListParams{MaxRows: 100})
	require.NoError(t, err)
	var actions []string
	for _, a := range audit {
		if a.Slug == "newbie" {
			actions = append(actions, a.Action)
		}
	}
	require.Equal(t, []string{"untrack", "resume", "pause", "set_intervals", "track"}, actions, "every change is audited, newest first")
}

func TestJobsQueries(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	b.seedCollection(t, "alpha", "1", "1", nil)
	b.seedCollection(t, "beta", "1", "1", nil)
	b.data(t, adminToken, refreshMutation, map[string]any{"slug": "alpha"}, &refreshOut{})
	b.data(t, adminToken, refreshMutation, map[string]any{"slug": "beta", "kinds": []string{"TOKENS"}}, &refreshOut{})

	type jobsOut struct {
		Jobs struct {
			Nodes []struct {
				ID      string         `json:"id"`
				Kind    string         `json:"kind"`
				Queue   string         `json:"queue"`
				State   string         `json:"state"`
				Args    map[string]any `json:"args"`
				Attempt int            `json:"attempt"`
			} `json:"nodes"`
			PageInfo struct {
				HasNextPage bool    `json:"hasNextPage"`
				EndCursor   *string `json:"endCursor"`
			} `json:"pageInfo"`
		} `json:"jobs"`
	}
	const q = `query($kind: String, $state: JobState, $queue: String, $first: Int, $after: String) {
		jobs(kind: $kind, state: $state, queue: $queue, first: $first, after: $after) {
			nodes { id kind queue state args attempt maxAttempts priority createdAt scheduledAt errors { error } }
			pageInfo { hasNextPage endCursor } } }`
	var all []string
	var after any
	for i := 0; i < 4; i++ {
		var out jobsOut
		b.data(t, adminToken, q, map[string]any{"first": 2, "after": after}, &out)
		for _, n := range out.Jobs.Nodes {
			all = append(all, n.ID)
		}
		if !out.Jobs.PageInfo.HasNextPage {
			break
		}
		after = *out.Jobs.PageInfo.EndCursor
	}
	require.Equal(t, []string{"5", "4", "3", "2", "1"}, all, "newest first, over three pages")

	var out jobsOut
	b.data(t, adminToken, q, map[string]any{"kind": "sync_tokens"}, &out)
	require.Len(t, out.Jobs.Nodes, 2)
	require.Equal(t, "tokens", out.Jobs.Nodes[0].Queue)
	require.Equal(t, "AVAILABLE", out.Jobs.Nodes[0].State)
	require.EqualValues(t, 2, out.Jobs.Nodes[0].Args["collection_id"])
	b.data(t, adminToken, q, map[string]any{"queue": "volume", "state": "AVAILABLE"}, &out)
	require.Len(t, out.Jobs.Nodes, 1)
	b.data(t, adminToken, q, map[string]any{"state": "COMPLETED"}, &out)
	require.Empty(t, out.Jobs.Nodes)
	r := b.query(t, adminToken, q, map[string]any{"after": "garbage"})
	require.Equal(t, "BAD_USER_INPUT", r.code())

	var cancel struct {
		CancelJob struct{ ID, State string } `json:"cancelJob"`
	}
	b.data(t, adminToken, `mutation { cancelJob(id: "1") { id state } }`, nil, &cancel)
	require.Equal(t, "CANCELLED", cancel.CancelJob.State)
	var retry struct {
		RetryJob struct{ ID, State string } `json:"retryJob"`
	}
	b.data(t, adminToken, `mutation { retryJob(id: "1") { id state } }`, nil, &retry)
	require.Equal(t, "AVAILABLE", retry.RetryJob.State)
	r = b.query(t, adminToken, `mutation { retryJob(id: "999") { id } }`, nil)
	require.Equal(t, "NOT_FOUND", r.code())
	r = b.query(t, adminToken, `mutation { cancelJob(id: "x") { id } }`, nil)
	require.Equal(t, "BAD_USER_INPUT", r.code())

	var one struct {
		Job *struct{ Kind string } `json:"job"`
	}
	b.data(t, adminToken, `{ job(id: "5") { kind } }`, nil, &one)
	require.Equal(t, "sync_tokens", one.Job.Kind)
	b.data(t, adminToken, `{ job(id: "999") { kind } }`, nil, &one)
	require.Nil(t, one.Job)

	b.data(t, adminToken, `mutation { cancelJob(id: "2") { id } }`, nil, &struct{}{})
	var stats struct {
		JobStats struct {
			ByState []struct {
				State string `json:"state"`
				Count int    `json:"count"`
			} `json:"byState"`
			ByKind []struct {
				Kind    string `json:"kind"`
				State   string `json:"state"`
				Count   int    `json:"count"`
				AtLeast bool   `json:"atLeast"`
			} `json:"byKind"`
			Queues []struct {
				Name                      string  `json:"name"`
				Available                 int     `json:"available"`
				OldestAvailableAgeSeconds float64 `json:"oldestAvailableAgeSeconds"`
			} `json:"queues"`
		} `json:"jobStats"`
	}
	b.data(t, adminToken, `{ jobStats { byState { state count } byKind { kind state count atLeast } queues { name available running paused oldestAvailableAgeSeconds } } }`, nil, &stats)
	byState := map[string]int{}
	for _, s := range stats.JobStats.ByState {
		byState[s.State] = s.Count
	}
	require.Equal(t, map[string]int{"AVAILABLE": 4, "CANCELLED": 1, "COMPLETED": 0, "DISCARDED": 0, "PENDING": 0, "RETRYABLE": 0, "RUNNING": 0, "SCHEDULED": 0}, byState)
	byKind := map[string]int{}
	for _, k := range stats.JobStats.ByKind {
		byKind[k.Kind+"/"+k.State] = k.Count
	}
	require.Equal(t, map[string]int{"fetch_floor_price/AVAILABLE": 1, "fetch_volume/AVAILABLE": 1, "sync_tokens/AVAILABLE": 2,
		"fetch_collection_metadata/CANCELLED": 1}, byKind, "job 2 (metadata) is cancelled, and finished states count too")
	for _, k := range stats.JobStats.ByKind {
		require.False(t, k.AtLeast, "%s/%s: exact below the listing bound", k.Kind, k.State)
	}
	queues := map[string]int{}
	for _, q := range stats.JobStats.Queues {
		queues[q.Name] = q.Available
		if q.Available > 0 {
			require.GreaterOrEqual(t, q.OldestAvailableAgeSeconds, 0.0)
		}
	}
	require.Equal(t, 2, queues["tokens"])
	require.Equal(t, 0, queues["metadata"], "its only job is cancelled")
}

// TestJobStatsFinishedBound: finished jobs are counted per kind by listing
// the most recent ones up to a bound; past it the counts say "at least".
func TestJobStatsFinishedBound(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	b.admin.FinishedListLimit = 2
	for _, slug := range []string{"a", "b", "c"} {
		b.seedCollection(t, slug, "", "1", nil)
	}
	for _, slug := range []string{"a", "b", "c"} {
		_, err := b.admin.Refresh(context.Background(), "test", slug, []string{"floor_price"})
		require.NoError(t, err)
	}
	list, err := b.admin.Jobs(context.Background(), admin.JobFilter{})
	require.NoError(t, err)
	for _, j := range list.Jobs {
		_, err := b.admin.CancelJob(context.Background(), "test", j.ID)
		require.NoError(t, err)
	}
	st, err := b.admin.JobStats(context.Background())
	require.NoError(t, err)
	require.Equal(t, 3, st.ByState[rivertype.JobStateCancelled])
	require.Equal(t, []admin.KindCount{{Kind: "fetch_floor_price", State: rivertype.JobStateCancelled, Count: 2, AtLeast: true}}, st.ByKind)
}

func TestAuth(t *testing.T) {
	t.Parallel()
	const (
		mutation   = `mutation { pauseCollection(slug: "alpha") { status } }`
		adminQuery = `{ jobStats { byState { state count } } }`
		read       = `{ collections { totalCount } }`
	)

	t.Run("AdminFields", func(t *testing.T) {
		t.Parallel()
		b := setup(t, setupOpts{opts: api.Options{ReadTokens: []string{readToken}}})
		b.seedCollection(t, "alpha", "1", "1", nil)
		for _, q := range []string{mutation, adminQuery} {
			r := b.query(t, "", q, nil)
			require.Equal(t, http.StatusUnauthorized, r.status, q)
			require.Equal(t, "UNAUTHENTICATED", r.code())
			r = b.query(t, "wrong-token-0123456789", q, nil)
			require.Equal(t, http.StatusForbidden, r.status, q)
			require.Equal(t, "FORBIDDEN", r.code())
			r = b.query(t, readToken, q, nil)
			require.Equal(t, http.StatusForbidden, r.status, "a read token is not an admin token")
			require.Equal(t, "FORBIDDEN", r.code())
			r = b.query(t, adminToken, q, nil)
			require.Equal(t, http.StatusOK, r.status, q)
			require.Empty(t, r.Errors)
		}
		r := b.query(t, readToken, `{ collections { totalCount } job(id: "1") { id } }`, nil)
		require.Equal(t, http.StatusForbidden, r.status)
		require.JSONEq(t, `{"collections": {"totalCount": 1}, "job": null}`, string(r.Data), "the readable part is answered")
	})

	t.Run("ReadTokenEnforcedWhenSet", func(t *testing.T) {
		t.Parallel()
		b := setup(t, setupOpts{opts: api.Options{ReadTokens: []string{readToken}}})
		r := b.query(t, "", read, nil)
		require.Equal(t, http.StatusUnauthorized, r.status)
		require.Equal(t, "UNAUTHENTICATED", r.code())
		r = b.query(t, "wrong-token-0123456789", read, nil)
		require.Equal(t, http.StatusForbidden, r.status)
		require.Equal(t, "FORBIDDEN", r.code())
		for _, tok := range []string{readToken, adminToken} {
			r = b.query(t, tok, read, nil)
			require.Equal(t, http.StatusOK, r.status)
			require.Empty(t, r.Errors)
		}
	})

	t.Run("PublicReadsWithoutReadTokens", func(t *testing.T) {
		t.Parallel()
		b := setup(t, setupOpts{})
		r := b.query(t, "", read, nil)
		require.Equal(t, http.StatusOK, r.status)
		require.Empty(t, r.Errors)
	})

	t.Run("RiverUI", func(t *testing.T) {
		t.Parallel()
		b := setup(t, setupOpts{})
		get := func(path string, auth func(*http.Request)) *http.Response {
			req, err := http.NewRequest(http.MethodGet, b.url+path, nil)
			require.NoError(t, err)
			auth(req)
			resp, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			resp.Body.Close()
			return resp
		}
		for _, path := range []string{"/riverui/", "/riverui/api/jobs?state=available"} {
			resp := get(path, func(*http.Request) {}) //nolint:bodyclose // the helper closed it
			require.Equal(t, http.StatusUnauthorized, resp.StatusCode, path)
			require.Contains(t, resp.Header.Get("WWW-Authenticate"), "Basic")
			resp = get(path, func(r *http.Request) { r.Header.Set("Authorization", "Bearer wrong-token-0123456789") }) //nolint:bodyclose // the helper closed it
			require.Equal(t, http.StatusForbidden, resp.StatusCode, path)
			resp = get(path, func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+adminToken) }) //nolint:bodyclose // the helper closed it
			require.Equal(t, http.StatusOK, resp.StatusCode, path)
			resp = get(path, func(r *http.Request) { r.SetBasicAuth("anyone", adminToken) }) //nolint:bodyclose // the helper closed it
			require.Equal(t, http.StatusOK, resp.StatusCode, path)
		}
	})
}

func TestLimits(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{opts: api.Options{MaxDepth: 8, MaxComplexity: 3000, MaxBodyBytes: 4096}})

	t.Run("TooDeep", func(t *testing.T) {
		t.Parallel()
		r := b.query(t, "", `{ collections { edges { node { rarity { excludedTraits } contracts { chain } } } } a: collection(slug: "x") { freshness { kind } } }`, nil)
		require.Empty(t, r.Errors, "depth 4 is fine")
		// __type > fields > type > ofType > ofType > ofType > ofType > ofType > name: 9 levels.
		r = b.query(t, "", `{ __type(name: "Query") { fields { type { ofType { ofType { ofType { ofType { ofType { name } } } } } } } } }`, nil)
		require.Equal(t, "QUERY_TOO_DEEP", r.code())
		require.Contains(t, r.Errors[0].Message, "the limit is 8")
		r = b.query(t, "", `query { ...A } fragment A on Query { __schema { types { fields { type { ofType { ofType { ofType { ofType { name } } } } } } } } }`, nil)
		require.Equal(t, "QUERY_TOO_DEEP", r.code(), "fragments count")
	})

	t.Run("TooComplex", func(t *testing.T) {
		t.Parallel()
		r := b.query(t, "", `{ collections(first: 100) { edges { node { slug metadata { name } floor { amount } qualityEvents(first: 100) { message } } } } }`, nil)
		require.Equal(t, "COMPLEXITY_LIMIT_EXCEEDED", r.code())
		require.Contains(t, r.Errors[0].Message, "exceeds the limit of 3000")
		r = b.query(t, "", `{ tokens(collection: "x", first: 100) { edges { node { tokenId name traits { type value count frequency } } } } }`, nil)
		require.Equal(t, "COMPLEXITY_LIMIT_EXCEEDED", r.code())
	})

	t.Run("IntrospectionAllowedWithinLimits", func(t *testing.T) {
		t.Parallel()
		r := b.query(t, "", `{ __schema { queryType { name } types { name kind } } }`, nil)
		require.Empty(t, r.Errors)
	})

	t.Run("TooLarge", func(t *testing.T) {
		t.Parallel()
		big := fmt.Sprintf(`{"query": "{ collections { totalCount } }", "variables": {"pad": %q}}`, strings.Repeat("x", 5000))
		r := b.post(t, "", []byte(big))
		require.Equal(t, http.StatusRequestEntityTooLarge, r.status)
		require.Equal(t, "REQUEST_TOO_LARGE", r.code())
		require.Contains(t, r.Errors[0].Message, "4096 bytes")
	})

	t.Run("ErrorsDoNotLeak", func(t *testing.T) {
		t.Parallel()
		b := setup(t, setupOpts{})
		b.seedCollection(t, "alpha", "1", "1", nil)
		_, err := b.pool.Exec(context.Background(), "DROP TABLE trait_value_stats")
		require.NoError(t, err)
		r := b.query(t, "", `{ collection(slug: "alpha") { slug traitDistribution { type } } }`, nil)
		require.Equal(t, "INTERNAL_SERVER_ERROR", r.code())
		require.Equal(t, "internal error", r.Errors[0].Message)
		require.NotContains(t, fmt.Sprint(r), "trait_value_stats")
		r = b.query(t, "", `{ nope }`, nil)
		require.Equal(t, "GRAPHQL_VALIDATION_FAILED", r.code(), "validation errors keep their message")
	})
}

func TestCORS(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{opts: api.Options{CORSOrigins: []string{"https://app.example"}}})
	preflight := func(origin string) *http.Response {
		req, err := http.NewRequest(http.MethodOptions, b.url+"/graphql", nil)
		require.NoError(t, err)
		req.Header.Set("Origin", origin)
		req.Header.Set("Access-Control-Request-Method", "POST")
		req.Header.Set("Access-Control-Request-Headers", "authorization, content-type")
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		return resp
	}
	resp := preflight("https://app.example") //nolint:bodyclose // the helper closed it
	require.Equal(t, http.StatusNoContent, resp.StatusCode)
	require.Equal(t, "https://app.example", resp.Header.Get("Access-Control-Allow-Origin"))
	require.Contains(t, resp.Header.Get("Access-Control-Allow-Headers"), "Authorization")
	resp = preflight("https://evil.example") //nolint:bodyclose // the helper closed it
	require.Equal(t, http.StatusForbidden, resp.StatusCode)
	require.Empty(t, resp.Header.Get("Access-Control-Allow-Origin"))
}

// TestCollectionRoutes sets a collection's per-kind sources over HTTP: the
// collection exposes its effective routes (own or default), a bad route is
// refused with the reason and changes nothing, null goes back to the
// default, and every change has its audit row.
func TestCollectionRoutes(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	ctx := context.Background()
	q := db.New(b.pool)
	require.NoError(t, q.IndexerSourceUpsert(ctx, db.IndexerSourceUpsertParams{Source: "opensea",
		Kinds: []string{"floor_price", "volume", "metadata", "tokens"}, DefaultKinds: []string{}}))
	require.NoError(t, q.IndexerSourceUpsert(ctx, db.IndexerSourceUpsertParams{Source: "subgraph:seaport",
		Kinds: []string{"volume"}, DefaultKinds: []string{"volume"}}))
	b.seedCollection(t, "routed", "1", "1", nil)

	type route struct {
		Kind    string   `json:"kind"`
		Sources []string `json:"sources"`
		Own     bool     `json:"own"`
	}
	routes := func(rs []route) map[string]route {
		m := map[string]route{}
		for _, r := range rs {
			m[r.Kind] = r
		}
		return m
	}
	var read struct {
		Collection struct {
			Routes []route `json:"routes"`
		} `json:"collection"`
	}
	b.data(t, "", `{ collection(slug: "routed") { routes { kind sources own } } }`, nil, &read)
	got := routes(read.Collection.Routes)
	require.Len(t, got, 4)
	require.Equal(t, route{"VOLUME", []string{"opensea", "subgraph:seaport"}, false}, got["VOLUME"])
	require.Equal(t, route{"FLOOR_PRICE", []string{"opensea"}, false}, got["FLOOR_PRICE"])

	const set = `mutation($kind: RefreshKind!, $sources: [String!]) {
		setCollectionRoute(slug: "routed", kind: $kind, sources: $sources) { slug routes { kind sources own } } }`
	r := b.query(t, "", set, map[string]any{"kind": "VOLUME", "sources": []string{"subgraph:seaport"}})
	require.Equal(t, "UNAUTHENTICATED", r.code(), "admin only")
	var out struct {
		Set struct {
			Slug   string  `json:"slug"`
			Routes []route `json:"routes"`
		} `json:"setCollectionRoute"`
	}
	b.data(t, adminToken, set, map[string]any{"kind": "VOLUME", "sources": []string{"subgraph:seaport"}}, &out)
	require.Equal(t, route{"VOLUME", []string{"subgraph:seaport"}, true}, routes(out.Set.Routes)["VOLUME"])
	b.data(t, "", `{ collection(slug: "routed") { routes { kind sources own } } }`, nil, &read)
	require.Equal(t, route{"VOLUME", []string{"subgraph:seaport"}, true}, routes(read.Collection.Routes)["VOLUME"])

	for _, bad := range []struct {
		kind    string
		sources []string
		says    string
	}{
		{"METADATA", []string{"subgraph:seaport"}, "subgraph:seaport"}, // does not serve metadata
		{"TOKENS", []string{"opensea", "opensea"}, "exactly one"},
		{"VOLUME", []string{"nowhere"}, "nowhere"},
		{"VOLUME", []string{}, "at least one"},
	} {
		r := b.query(t, adminToken, set, map[string]any{"kind": bad.kind, "sources": bad.sources})
		require.Equal(t, "BAD_USER_INPUT", r.code(), "%v", bad)
		require.Contains(t, r.Errors[0].Message, bad.says)
	}
	b.data(t, "", `{ collection(slug: "routed") { routes { kind sources own } } }`, nil, &read)
	require.Equal(t, route{"VOLUME", []string{"subgraph:seaport"}, true}, routes(read.Collection.Routes)["VOLUME"], "refused routes change nothing")
	r = b.query(t, adminToken, `mutation { setCollectionRoute(slug: "nope", kind: VOLUME, sources: ["opensea"]) { slug } }`, nil)
	require.Equal(t, "NOT_FOUND", r.code())

	b.data(t, adminToken, set, map[string]any{"kind": "VOLUME", "sources": nil}, &out)
	require.Equal(t, route{"VOLUME", []string{"opensea", "subgraph:seaport"}, false}, routes(out.Set.Routes)["VOLUME"])

	audit, err := q.AdminAuditList(ctx, db.AdminAuditListParams{MaxRows: 10})
	require.NoError(t, err)
	var details []string
	for _, a := range audit {
		if a.Action == "route" {
			details = append(details, string(a.Detail))
		}
	}
	require.Len(t, details, 2, "one audit row per change, none for refusals")
	require.JSONEq(t, `{"kind": "volume", "sources": "default"}`, details[0])
	require.JSONEq(t, `{"kind": "volume", "sources": ["subgraph:seaport"]}`, details[1])
}
