package jobs_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivertest"
	"github.com/stretchr/testify/require"

	"github.com/nftsync/nftsync/db"
	"github.com/nftsync/nftsync/internal/indexer"
	"github.com/nftsync/nftsync/internal/indexersim"
	"github.com/nftsync/nftsync/jobs"
)

// storedTraits returns a token's stored traits as "type=value" in order.
func storedTraits(t *testing.T, b *workerBundle, tokenID string) []string {
	t.Helper()
	rows, err := b.tx.Query(context.Background(),
		"SELECT trait_type, value_text FROM token_traits WHERE collection_id = $1 AND token_id = $2 ORDER BY ordinal", b.coll.ID, tokenID)
	require.NoError(t, err)
	defer rows.Close()
	var out []string
	for rows.Next() {
		var name, value string
		require.NoError(t, rows.Scan(&name, &value))
		out = append(out, name+"="+value)
	}
	require.NoError(t, rows.Err())
	return out
}

// truthTraits is what the simulator says a token's traits are now.
func truthTraits(t *testing.T, b *workerBundle, tokenID string) []string {
	t.Helper()
	traits, ok := b.sim.Token(b.info.Slug, tokenID)
	require.True(t, ok)
	out := []string{}
	for _, tr := range traits {
		out = append(out, tr.Type+"="+tr.Value)
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

func syncAndFetch(t testing.TB, b *workerBundle) *rivertest.WorkResult {
	t.Helper()
	res := work(t, b, &jobs.SyncTokensWorker{Deps: b.deps}, jobs.SyncTokensArgs{CollectionArgs: jobs.CollectionArgs{CollectionID: b.coll.ID}})
	require.Equal(t, river.EventKindJobCompleted, res.EventKind)
	st, err := db.New(b.tx).TokenSyncStateGet(context.Background(), b.coll.ID)
	require.NoError(t, err)
	w := &jobs.FetchTraitsWorker{Deps: b.deps}
	jobs.SetAfterTraitsForTest(w)
	return work(t, b, w, jobs.FetchTraitsArgs{CollectionID: b.coll.ID, SyncRun: st.Run})
}

func TestFetchTraitsWorker(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	noListTraits := func(c *indexersim.Config) { c.ListTraits = false }

	t.Run("FetchesEveryTokenOnceThenOnlyChangedOnes", func(t *testing.T) {
		t.Parallel()
		b := setupWorkers(t, noListTraits)
		b.deps.Traits.BatchSize = 1 // one single-NFT call per token
		q := db.New(b.tx)
		n := b.info.TokenCount
		pages := int64((n + 199) / 200)

		res := syncAndFetch(t, b)
		require.Equal(t, river.EventKindJobCompleted, res.EventKind)
		st := b.sim.Stats()
		require.Equal(t, pages, st.ByEndpoint[indexersim.EndpointNFTs])
		require.Equal(t, int64(n), st.ByEndpoint[indexersim.EndpointNFT], "one call per token")
		for i := range n {
			id := itoa(b.info.FirstTokenID + i)
			require.Equal(t, truthTraits(t, b, id), storedTraits(t, b, id), "token %s", id)
		}
		cov, err := q.TokenTraitsCoverage(ctx, b.coll.ID)
		require.NoError(t, err)
		require.Equal(t, int64(n), cov.WithTraits)
		job := rivertest.RequireInsertedTx[*riverpgxv5.Driver](ctx, t, b.tx, &jobs.ComputeRarityArgs{}, nil)
		require.Equal(t, b.coll.ID, job.Args.CollectionID)
		run, err := q.SyncRunLatest(ctx, b.coll.ID)
		require.NoError(t, err)
		require.Equal(t, int32(pages), run.ListPages)
		require.Equal(t, int64(n), run.TraitCalls)
		require.InDelta(t, 1.0, run.RarityCoverage.Float64, 0)
		require.Equal(t, int64(1), st.ByEndpoint[indexersim.EndpointTraits], "cross-checked once after the full fetch")
		require.Zero(t, eventKinds(t, b)["trait_counts_mismatch"], "our counts agree with the source's")

		// Nothing changed upstream: the next sync lists and fetches no traits.
		res = syncAndFetch(t, b)
		require.Equal(t, river.EventKindJobCompleted, res.EventKind)
		st2 := b.sim.Stats()
		require.Equal(t, 2*pages, st2.ByEndpoint[indexersim.EndpointNFTs])
		require.Equal(t, pages, st2.Requests-st.Requests, "ceil(N/200) upstream calls in all")
		require.Equal(t, int64(n), st2.ByEndpoint[indexersim.EndpointNFT], "no trait call for unchanged tokens")
		require.Equal(t, int64(1), st2.ByEndpoint[indexersim.EndpointTraits], "no cross-check without a full fetch")

		// k tokens change upstream: exactly k trait calls, and their new traits land.
		changed := []string{"3", "17", itoa(n)}
		before := storedTraits(t, b, "17")
		require.NoError(t, b.sim.Touch(b.info.Slug, changed...))
		res = syncAndFetch(t, b)
		require.Equal(t, river.EventKindJobCompleted, res.EventKind)
		st3 := b.sim.Stats()
		require.Equal(t, pages, st3.ByEndpoint[indexersim.EndpointNFTs]-st2.ByEndpoint[indexersim.EndpointNFTs])
		require.Equal(t, int64(len(changed)), st3.ByEndpoint[indexersim.EndpointNFT]-st2.ByEndpoint[indexersim.EndpointNFT])
		require.Equal(t, pages+int64(len(changed)), st3.Requests-st2.Requests, "ceil(N/200) + k upstream calls in all")
		t.Logf("N=%d: first sync %d upstream calls (%d list pages, %d trait calls, %d cross-check); unchanged re-sync %d; re-sync with k=%d changed %d",
			n, st.Requests, st.ByEndpoint[indexersim.EndpointNFTs], st.ByEndpoint[indexersim.EndpointNFT], st.ByEndpoint[indexersim.EndpointTraits],
			st2.Requests-st.Requests, len(changed), st3.Requests-st2.Requests)
		for _, id := range changed {
			require.Equal(t, truthTraits(t, b, id), storedTraits(t, b, id), "token %s", id)
		}
		require.NotEqual(t, before, storedTraits(t, b, "17"))
		run, err = q.SyncRunLatest(ctx, b.coll.ID)
		require.NoError(t, err)
		require.Equal(t, int32(pages), run.ListPages)
		require.Equal(t, int64(len(changed)), run.TraitCalls)
	})

	t.Run("ResumesWithoutRefetchingStoredTokens", func(t *testing.T) {
		t.Parallel()
		b := setupWorkers(t, noListTraits)
		b.deps.TokenSyncBudget = time.Nanosecond // one batch per job run, then yield
		b.deps.Traits.Batch = 100
		b.deps.Traits.BatchSize = 1
		res := work(t, b, &jobs.SyncTokensWorker{Deps: b.deps}, jobs.SyncTokensArgs{CollectionArgs: jobs.CollectionArgs{CollectionID: b.coll.ID}})
		for res.EventKind == river.EventKindJobSnoozed {
			res = work(t, b, &jobs.SyncTokensWorker{Deps: b.deps}, jobs.SyncTokensArgs{CollectionArgs: jobs.CollectionArgs{CollectionID: b.coll.ID}})
		}
		w := &jobs.FetchTraitsWorker{Deps: b.deps}
		args := jobs.FetchTraitsArgs{CollectionID: b.coll.ID, SyncRun: 1}
		res = work(t, b, w, args)
		require.Equal(t, river.EventKindJobSnoozed, res.EventKind)
		require.Equal(t, int64(100), b.sim.Stats().ByEndpoint[indexersim.EndpointNFT])
		for res.EventKind == river.EventKindJobSnoozed {
			res = work(t, b, w, args)
		}
		require.Equal(t, river.EventKindJobCompleted, res.EventKind)
		require.Equal(t, int64(b.info.TokenCount), b.sim.Stats().ByEndpoint[indexersim.EndpointNFT], "no token fetched twice")
	})

	t.Run("ListAnswersWithTraitsNeedNoCalls", func(t *testing.T) {
		t.Parallel()
		b := setupWorkers(t, func(c *indexersim.Config) { c.ListTraits = true })
		res := syncAndFetch(t, b)
		require.Equal(t, river.EventKindJobCompleted, res.EventKind)
		require.Zero(t, b.sim.Stats().ByEndpoint[indexersim.EndpointNFT])
		rivertest.RequireInsertedTx[*riverpgxv5.Driver](ctx, t, b.tx, &jobs.ComputeRarityArgs{}, nil)
	})

	t.Run("TokenFailuresAreTheTokensOnly", func(t *testing.T) {
		t.Parallel()
		b := setupWorkers(t, noListTraits)
		client := b.deps.TraitSources["opensea"]
		bad := &flakySource{TraitSource: client, permanent: map[string]bool{"5": true}, noTraits: map[string]bool{"6": true}}
		b.deps.TraitSources = map[string]indexer.TraitSource{"opensea": bad}
		res := syncAndFetch(t, b)
		require.Equal(t, river.EventKindJobCompleted, res.EventKind)
		q := db.New(b.tx)
		cov, err := q.TokenTraitsCoverage(ctx, b.coll.ID)
		require.NoError(t, err)
		require.Equal(t, int64(b.info.TokenCount-2), cov.WithTraits)
		require.Equal(t, int64(1), cov.Unknown, "an answer without traits is a token whose traits are unknown, not a failure")
		got, err := q.CollectionGetByID(ctx, b.coll.ID)
		require.NoError(t, err)
		require.Equal(t, "active", got.Status, "a bad token never fails the collection")
		kinds := eventKinds(t, b)
		require.Equal(t, 1, kinds["token_traits_failed"])
		require.Equal(t, 1, kinds["traits_incomplete"], "rarity waits for full coverage")
		_, err = q.SyncRunLatest(ctx, b.coll.ID)
		require.NoError(t, err)
		rows, err := b.tx.Query(ctx, "SELECT count(*) FROM river_job WHERE kind = 'compute_rarity'")
		require.NoError(t, err)
		var n int
		for rows.Next() {
			require.NoError(t, rows.Scan(&n))
		}
		rows.Close()
		require.Zero(t, n, "no rarity below the coverage minimum")

		// The failed tokens are not fetched again until they change.
		calls := bad.calls()
		res = syncAndFetch(t, b)
		require.Equal(t, river.EventKindJobCompleted, res.EventKind)
		require.Equal(t, calls, bad.calls())

		// With a lower minimum, rarity runs and records its coverage.
		b.deps.Traits.MinCoverage = 0.9
		res = syncAndFetch(t, b)
		require.Equal(t, river.EventKindJobCompleted, res.EventKind)
		rivertest.RequireInsertedTx[*riverpgxv5.Driver](ctx, t, b.tx, &jobs.ComputeRarityArgs{}, nil)
		run, err := q.SyncRunLatest(ctx, b.coll.ID)
		require.NoError(t, err)
		// Coverage is of the tokens whose traits the source can tell.
		require.InDelta(t, float64(b.info.TokenCount-2)/float64(b.info.TokenCount-1), run.RarityCoverage.Float64, 1e-9)
	})

	t.Run("RateLimitSnoozesKeepingWhatWasFetched", func(t *testing.T) {
		t.Parallel()
		b := setupWorkers(t, noListTraits)
		limited := &flakySource{TraitSource: b.deps.TraitSources["opensea"], limitAfter: 30}
		b.deps.TraitSources = map[string]indexer.TraitSource{"opensea": limited}
		b.deps.Traits.Concurrency = 1
		res := syncAndFetch(t, b)
		require.Equal(t, river.EventKindJobSnoozed, res.EventKind)
		require.Equal(t, 0, res.Job.Attempt, "a snooze spends no attempt")
		cov, err := db.New(b.tx).TokenTraitsCoverage(ctx, b.coll.ID)
		require.NoError(t, err)
		require.Equal(t, int64(30), cov.WithTraits+cov.Unknown)
	})

	t.Run("EnqueuedWithoutRunUsesTheLatestSync", func(t *testing.T) {
		t.Parallel()
		b := setupWorkers(t, noListTraits)
		b.deps.Traits.BatchSize = 1
		w := &jobs.FetchTraitsWorker{Deps: b.deps}
		jobs.SetAfterTraitsForTest(w)
		// Never synced: cancelled, saying what to enqueue instead.
		res := work(t, b, w, jobs.FetchTraitsArgs{CollectionID: b.coll.ID})
		require.Equal(t, river.EventKindJobCancelled, res.EventKind)
		require.Contains(t, res.Job.Errors[0].Error, "no token sync has run yet")
		require.Zero(t, b.sim.Stats().ByEndpoint[indexersim.EndpointNFT])

		res = work(t, b, &jobs.SyncTokensWorker{Deps: b.deps}, jobs.SyncTokensArgs{CollectionArgs: jobs.CollectionArgs{CollectionID: b.coll.ID}})
		require.Equal(t, river.EventKindJobCompleted, res.EventKind)
		st, err := db.New(b.tx).TokenSyncStateGet(ctx, b.coll.ID)
		require.NoError(t, err)
		res = work(t, b, w, jobs.FetchTraitsArgs{CollectionID: b.coll.ID})
		require.Equal(t, river.EventKindJobCompleted, res.EventKind)
		run, err := db.New(b.tx).SyncRunGet(ctx, db.SyncRunGetParams{CollectionID: b.coll.ID, Run: st.Run})
		require.NoError(t, err)
		require.True(t, run.TraitsCompletedAt.Valid, "recorded on the latest run")
		require.Equal(t, int64(b.info.TokenCount), run.TraitCalls)
		_, err = db.New(b.tx).SyncRunGet(ctx, db.SyncRunGetParams{CollectionID: b.coll.ID, Run: 0})
		require.ErrorIs(t, db.Interpret(err), db.ErrNotFound, "no run 0 made up")
	})

	t.Run("UnavailableSourceIsAClearPermanentError", func(t *testing.T) {
		t.Parallel()
		b := setupWorkers(t, noListTraits)
		require.NoError(t, db.New(b.tx).CollectionSetTraitsSource(ctx, db.CollectionSetTraitsSourceParams{ID: b.coll.ID, TraitsSource: "token_uri"}))
		b.deps.TraitSources = map[string]indexer.TraitSource{"opensea": b.deps.TraitSources["opensea"]}
		res := syncAndFetch(t, b)
		require.Equal(t, river.EventKindJobCancelled, res.EventKind)
		require.Equal(t, 1, eventKinds(t, b)["traits_source_unavailable"])
		require.Zero(t, b.sim.Stats().ByEndpoint[indexersim.EndpointNFT])
	})

	t.Run("CrossCheckRecordsOneEventListingTheDifferences", func(t *testing.T) {
		t.Parallel()
		b := setupWorkers(t, noListTraits)
		drift := &flakySource{TraitSource: b.deps.TraitSources["opensea"], drift: map[string]bool{"1": true, "2": true, "3": true}}
		b.deps.TraitSources = map[string]indexer.TraitSource{"opensea": drift}
		res := syncAndFetch(t, b)
		require.Equal(t, river.EventKindJobCompleted, res.EventKind)
		require.Equal(t, int64(1), b.sim.Stats().ByEndpoint[indexersim.EndpointTraits], "one cross-check after the full fetch")
		events, err := db.New(b.tx).DataQualityEventList(ctx, pgtypeInt8(b.coll.ID))
		require.NoError(t, err)
		var msgs []string
		for _, e := range events {
			if e.Kind == "trait_counts_mismatch" {
				msgs = append(msgs, e.Message)
			}
		}
		require.Len(t, msgs, 1, "one event for all differences")
		// Tokens 1-3 carry a value the source never counted (their first
		// trait type differs from token to token).
		require.Regexp(t, `=drifted value: ours [123], source none`, msgs[0])
		require.Contains(t, msgs[0], "differ from the source's counts")
	})
}

// eventKinds counts a collection's data-quality events by kind.
func eventKinds(t *testing.T, b *workerBundle) map[string]int {
	t.Helper()
	events, err := db.New(b.tx).DataQualityEventList(context.Background(), pgtypeInt8(b.coll.ID))
	require.NoError(t, err)
	out := map[string]int{}
	for _, e := range events {
		out[e.Kind]++
	}
	return out
}

// flakySource wraps a trait source: permanent tokens fail for good, noTraits
// tokens answer without traits, drift tokens get their first trait's value
// replaced, and after limitAfter successful calls every call is rate
// limited.
type flakySource struct {
	indexer.TraitSource
	permanent, noTraits, drift map[string]bool
	limitAfter                 int

	mu sync.Mutex
	n  int
}

func (f *flakySource) calls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.n
}

func (f *flakySource) TokenTraits(ctx context.Context, ref indexer.TokenRef) (*indexer.TokenMetadata, error) {
	f.mu.Lock()
	f.n++
	n := f.n
	f.mu.Unlock()
	switch {
	case f.limitAfter > 0 && n > f.limitAfter:
		return nil, &indexer.Error{Class: indexer.ClassRateLimited, Op: "nft " + ref.TokenID, RetryAfter: time.Second, Err: errors.New("slow down")}
	case f.permanent[ref.TokenID]:
		return nil, &indexer.Error{Class: indexer.ClassPermanent, Op: "nft " + ref.TokenID, Status: 404, Err: errors.New("nft not found")}
	case f.noTraits[ref.TokenID]:
		return &indexer.TokenMetadata{}, nil
	}
	md, err := f.TraitSource.TokenTraits(ctx, ref)
	if err == nil && f.drift[ref.TokenID] && len(md.Traits) > 0 && md.Traits[0].ValueKind == indexer.ValueString {
		md.Traits[0].ValueText = "Drifted Value"
	}
	return md, err
}

func (f *flakySource) CollectionTraits(ctx context.Context, slug string) (*indexer.TraitCounts, error) {
	return f.TraitSource.(indexer.TraitCounter).CollectionTraits(ctx, slug)
}
