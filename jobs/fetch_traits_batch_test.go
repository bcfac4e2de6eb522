package jobs_test

import (
	"context"
	"errors"
	"sort"
	"sync"
	"testing"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivertest"
	"github.com/stretchr/testify/require"

	"github.com/nftsync/nftsync/db"
	"github.com/nftsync/nftsync/internal/benchsize"
	"github.com/nftsync/nftsync/internal/indexer"
	"github.com/nftsync/nftsync/internal/indexersim"
	"github.com/nftsync/nftsync/internal/rarity"
	"github.com/nftsync/nftsync/jobs"
)

// unknownWorld is the simulator of seed 1, whose first collection (300
// tokens) has three tokens whose traits the API answers as null: 46, 195
// and 270.
func unknownWorld(c *indexersim.Config) { c.Seed, c.ListTraits = 1, false }

// unknownTokens lists the tokens of the bundle's collection whose traits
// the simulator does not know.
func unknownTokens(t *testing.T, b *workerBundle) []string {
	t.Helper()
	var out []string
	for i := range b.info.TokenCount {
		id := itoa(b.info.FirstTokenID + i)
		if traits, ok := b.sim.Token(b.info.Slug, id); ok && traits == nil {
			out = append(out, id)
		}
	}
	return out
}

func TestFetchTraitsBatch(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	t.Run("FirstSyncCostsCeilNOverBAndUnknownTokensDoNotBlockRarity", func(t *testing.T) {
		t.Parallel()
		b := setupWorkers(t, unknownWorld)
		q := db.New(b.tx)
		n := b.info.TokenCount
		unknown := unknownTokens(t, b)
		require.Len(t, unknown, 3, "the world this test needs")
		pages := int64((n + 199) / 200)
		batches := int64((n + 49) / 50)

		res := syncAndFetch(t, b)
		require.Equal(t, river.EventKindJobCompleted, res.EventKind)
		st := b.sim.Stats()
		require.Equal(t, batches, st.ByEndpoint[indexersim.EndpointNFTsBatch], "ceil(N/B) batch calls")
		require.Zero(t, st.ByEndpoint[indexersim.EndpointNFT], "no single-NFT call: every token was in its batch's answer")
		require.Equal(t, pages+batches+1, st.Requests, "list pages + ceil(N/B) + one cross-check")
		for i := range n {
			id := itoa(b.info.FirstTokenID + i)
			require.Equal(t, truthTraits(t, b, id), storedTraits(t, b, id), "token %s", id)
		}
		cov, err := q.TokenTraitsCoverage(ctx, b.coll.ID)
		require.NoError(t, err)
		require.Equal(t, int64(n-3), cov.WithTraits)
		require.Equal(t, int64(3), cov.Unknown, "null traits are known to be unknown")
		require.Zero(t, eventKinds(t, b)["token_traits_failed"])
		require.Zero(t, eventKinds(t, b)["traits_incomplete"])
		run, err := q.SyncRunLatest(ctx, b.coll.ID)
		require.NoError(t, err)
		require.Equal(t, batches, run.TraitCalls)
		require.Equal(t, int64(3), run.TraitsUnknown)
		require.InDelta(t, 1.0, run.RarityCoverage.Float64, 0, "every token whose traits the source can tell has them")
		rivertest.RequireInsertedTx[*riverpgxv5.Driver](ctx, t, b.tx, &jobs.ComputeRarityArgs{}, nil)

		// Rarity ranks the known tokens among themselves; the unknown ones
		// are unranked and counted on the run.
		_, err = jobs.ComputeRarity(ctx, b.deps, &b.coll, rarity.OpenRarity)
		require.NoError(t, err)
		rr, err := q.RarityRunGet(ctx, db.RarityRunGetParams{CollectionID: b.coll.ID, Method: string(rarity.OpenRarity)})
		require.NoError(t, err)
		require.Equal(t, int32(n-3), rr.TokenCount)
		require.Equal(t, int32(3), rr.UnknownCount)
		require.Zero(t, rr.MissingCount)
		ranked, err := q.TokenRarityList(ctx, db.TokenRarityListParams{CollectionID: b.coll.ID, Method: string(rarity.OpenRarity)})
		require.NoError(t, err)
		var input []rarity.Token
		for i := range n {
			id := itoa(b.info.FirstTokenID + i)
			traits, _ := b.sim.Token(b.info.Slug, id)
			if traits == nil {
				continue
			}
			tok := rarity.Token{ID: id, Standard: "erc721"}
			for _, tr := range traits {
				tok.Attributes = append(tok.Attributes, rarity.Attribute{Name: tr.Type, Value: tr.Value, DisplayType: tr.DisplayType, Numeric: tr.Numeric})
			}
			input = append(input, tok)
		}
		want, err := rarity.Compute(input, rarity.Options{Method: rarity.OpenRarity})
		require.NoError(t, err)
		got := map[string]int32{}
		for _, r := range ranked {
			got[r.TokenID] = r.Rank
		}
		require.Len(t, got, n-3)
		for _, id := range unknown {
			require.NotContains(t, got, id, "an unknown token has no rank")
		}
		for _, w := range want.Tokens {
			require.Equal(t, int32(w.Rank), got[w.ID], "token %s: ranked among the known tokens only", w.ID)
		}

		// k tokens change upstream, one of them an unknown token that is now
		// revealed: ceil(k/B) = 1 batch call, and the revealed token has traits.
		changed := []string{"3", unknown[0], itoa(n)}
		require.NoError(t, b.sim.Touch(b.info.Slug, changed...))
		res = syncAndFetch(t, b)
		require.Equal(t, river.EventKindJobCompleted, res.EventKind)
		st2 := b.sim.Stats()
		require.Equal(t, int64(1), st2.ByEndpoint[indexersim.EndpointNFTsBatch]-batches)
		require.Equal(t, pages+1, st2.Requests-st.Requests, "list pages + ceil(k/B)")
		require.Equal(t, truthTraits(t, b, unknown[0]), storedTraits(t, b, unknown[0]))
		require.NotEmpty(t, storedTraits(t, b, unknown[0]))
		cov, err = q.TokenTraitsCoverage(ctx, b.coll.ID)
		require.NoError(t, err)
		require.Equal(t, int64(2), cov.Unknown)
		_, err = jobs.ComputeRarity(ctx, b.deps, &b.coll, rarity.OpenRarity)
		require.NoError(t, err)
		rr, err = q.RarityRunGet(ctx, db.RarityRunGetParams{CollectionID: b.coll.ID, Method: string(rarity.OpenRarity)})
		require.NoError(t, err)
		require.Equal(t, int32(n-2), rr.TokenCount, "the revealed token joins the next run")
		require.Equal(t, int32(2), rr.UnknownCount)
		t.Logf("N=%d, B=50: first sync %d calls (%d list pages, %d batch calls, %d cross-check); re-sync with k=%d changed: %d calls",
			n, st.Requests, pages, batches, st.ByEndpoint[indexersim.EndpointTraits], len(changed), st2.Requests-st.Requests)
	})

	t.Run("TooLargeIsHalvedAndRemembered", func(t *testing.T) {
		t.Parallel()
		b := setupWorkers(t, func(c *indexersim.Config) { unknownWorld(c); c.MaxBatchNFTs = 20 })
		q := db.New(b.tx)
		res := syncAndFetch(t, b)
		require.Equal(t, river.EventKindJobCompleted, res.EventKind)
		st := b.sim.Stats()
		require.Equal(t, int64(2), st.ByStatus[400], "50 and 25 refused, then 12 works")
		cov, err := q.TokenTraitsCoverage(ctx, b.coll.ID)
		require.NoError(t, err)
		require.Equal(t, int64(b.info.TokenCount), cov.WithTraits+cov.Unknown, "every token fetched")
		var size, refused int32
		require.NoError(t, b.tx.QueryRow(ctx, "SELECT size, refused FROM trait_batch_sizes WHERE source = 'opensea'").Scan(&size, &refused))
		require.Equal(t, int32(12), size)
		require.Equal(t, int32(25), refused)

		// The next job (any replica) starts from the size that worked.
		changed := []string{"1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12", "13", "14", "15", "16", "17", "18", "19", "20", "21", "22", "23", "24", "25"}
		require.NoError(t, b.sim.Touch(b.info.Slug, changed...))
		res = syncAndFetch(t, b)
		require.Equal(t, river.EventKindJobCompleted, res.EventKind)
		st2 := b.sim.Stats()
		require.Equal(t, int64(2), st2.ByStatus[400], "no batch refused again")
		require.Equal(t, int64(3), st2.ByEndpoint[indexersim.EndpointNFTsBatch]-st.ByEndpoint[indexersim.EndpointNFTsBatch], "ceil(25/12)")
		for _, id := range changed {
			require.Equal(t, truthTraits(t, b, id), storedTraits(t, b, id), "token %s", id)
		}
	})

	t.Run("TokensLeftOutAreAskedAloneOnce", func(t *testing.T) {
		t.Parallel()
		b := setupWorkers(t, unknownWorld)
		src := &omittingSource{BatchTraitSource: b.deps.TraitSources["opensea"].(indexer.BatchTraitSource),
			omit: map[string]bool{"2": true, "9": true}, gone: map[string]bool{"9": true}}
		b.deps.TraitSources = map[string]indexer.TraitSource{"opensea": src}
		res := syncAndFetch(t, b)
		require.Equal(t, river.EventKindJobCompleted, res.EventKind)
		require.Equal(t, []string{"2", "9"}, src.singles(), "each left-out token asked alone, once")
		require.Equal(t, truthTraits(t, b, "2"), storedTraits(t, b, "2"))
		require.Equal(t, 1, eventKinds(t, b)["token_traits_failed"], "the token the source cannot find fails, as a single call would")
		run, err := db.New(b.tx).SyncRunLatest(ctx, b.coll.ID)
		require.NoError(t, err)
		require.Equal(t, int64((b.info.TokenCount+49)/50+2), run.TraitCalls, "batch calls + the two single calls")
		require.Equal(t, int64(1), run.TraitsFailed)
	})
}

// omittingSource leaves omit tokens out of batch answers (as the API does
// with tokens it does not find); single calls for gone tokens answer 404.
type omittingSource struct {
	indexer.BatchTraitSource
	omit, gone map[string]bool

	mu     sync.Mutex
	single []string
}

func (o *omittingSource) singles() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	out := append([]string(nil), o.single...)
	sort.Strings(out) // asked concurrently
	return out
}

func (o *omittingSource) TokenTraitsBatch(ctx context.Context, refs []indexer.TokenRef) ([]*indexer.TokenMetadata, error) {
	mds, err := o.BatchTraitSource.TokenTraitsBatch(ctx, refs)
	for i, r := range refs {
		if err == nil && o.omit[r.TokenID] {
			mds[i] = nil
		}
	}
	return mds, err
}

func (o *omittingSource) TokenTraits(ctx context.Context, ref indexer.TokenRef) (*indexer.TokenMetadata, error) {
	o.mu.Lock()
	o.single = append(o.single, ref.TokenID)
	o.mu.Unlock()
	if o.gone[ref.TokenID] {
		return nil, &indexer.Error{Class: indexer.ClassPermanent, Op: "nft " + ref.TokenID, Status: 404, Err: errors.New("nft not found")}
	}
	return o.BatchTraitSource.TokenTraits(ctx, ref)
}

func (o *omittingSource) CollectionTraits(ctx context.Context, slug string) (*indexer.TraitCounts, error) {
	return o.BatchTraitSource.(indexer.TraitCounter).CollectionTraits(ctx, slug)
}

// BenchmarkTraitsFirstSync counts, as the simulator counts them, the
// upstream calls of a first sync of one collection of N tokens (full:
// 10,000; quick: 1,000): list pages + trait calls + the cross-check, and of
// a re-sync with k = 100 changed tokens, with the default batch size
// (batch=50: ceil(N/200) + ceil(N/50) + 1, then ceil(N/200) + ceil(k/50))
// and with one single-NFT call per token (batch=1) for comparison. The
// collection has tokens whose traits are unknown; they cost nothing extra.
// One iteration is the measurement; use -benchtime 1x.
func BenchmarkTraitsFirstSync(b *testing.B) {
	n := benchsize.Pick(b, 1000, 10000)
	for _, size := range []int{50, 1} {
		b.Run("batch="+itoa(size), func(b *testing.B) {
			for b.Loop() {
				wb := setupWorkers(b, func(c *indexersim.Config) {
					c.Seed, c.ListTraits, c.Collections, c.MinTokens, c.MaxTokens = 1, false, 1, n, n
				})
				wb.deps.Traits.BatchSize = size
				syncAndFetchAll(b, wb)
				st := wb.sim.Stats()
				b.ReportMetric(float64(st.Requests), "first-sync-calls")
				b.ReportMetric(float64(st.ByEndpoint[indexersim.EndpointNFTs]), "list-pages")
				b.ReportMetric(float64(st.ByEndpoint[indexersim.EndpointNFTsBatch]), "batch-calls")
				b.ReportMetric(float64(st.ByEndpoint[indexersim.EndpointNFT]), "single-nft-calls")
				b.ReportMetric(float64(st.ByEndpoint[indexersim.EndpointTraits]), "cross-check-calls")
				changed := make([]string, 100)
				for i := range changed {
					changed[i] = itoa(1 + i*(n/100))
				}
				require.NoError(b, wb.sim.Touch(wb.info.Slug, changed...))
				syncAndFetchAll(b, wb)
				b.ReportMetric(float64(wb.sim.Stats().Requests-st.Requests), "resync-k100-calls")
			}
		})
	}
}

// syncAndFetchAll runs a token sync and then its trait fetch, each again
// after a snooze (a job yields after its time budget), until both complete.
func syncAndFetchAll(t testing.TB, b *workerBundle) {
	t.Helper()
	sync := jobs.SyncTokensArgs{CollectionArgs: jobs.CollectionArgs{CollectionID: b.coll.ID}}
	res := work(t, b, &jobs.SyncTokensWorker{Deps: b.deps}, sync)
	for res.EventKind == river.EventKindJobSnoozed {
		res = work(t, b, &jobs.SyncTokensWorker{Deps: b.deps}, sync)
	}
	require.Equal(t, river.EventKindJobCompleted, res.EventKind)
	st, err := db.New(b.tx).TokenSyncStateGet(context.Background(), b.coll.ID)
	require.NoError(t, err)
	w := &jobs.FetchTraitsWorker{Deps: b.deps}
	jobs.SetAfterTraitsForTest(w)
	args := jobs.FetchTraitsArgs{CollectionID: b.coll.ID, SyncRun: st.Run}
	res = work(t, b, w, args)
	for res.EventKind == river.EventKindJobSnoozed {
		res = work(t, b, w, args)
	}
	require.Equal(t, river.EventKindJobCompleted, res.EventKind)
}
