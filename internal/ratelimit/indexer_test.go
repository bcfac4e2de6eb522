package ratelimit_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nftsync/nftsync/db/dbtest"
	"github.com/nftsync/nftsync/internal/indexer"
	"github.com/nftsync/nftsync/internal/ratelimit"
)

// fakeClient is an indexer.Indexer that counts calls and returns err (or
// panics) when told to.
type fakeClient struct {
	name string

	mu    sync.Mutex
	calls []string
	err   error
	panic bool
}

func (f *fakeClient) Source() string { return "os" }

func (f *fakeClient) record(op string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, op)
	if f.panic {
		panic("client exploded")
	}
	return f.err
}

func (f *fakeClient) setErr(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.err = err
}

func (f *fakeClient) ncalls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.calls)
}

func (f *fakeClient) Collection(_ context.Context, slug string) (*indexer.Collection, error) {
	if err := f.record("collection " + slug); err != nil {
		return nil, err
	}
	return &indexer.Collection{Slug: slug, Name: f.name}, nil
}

func (f *fakeClient) Stats(_ context.Context, slug string) (*indexer.Stats, error) {
	if err := f.record("stats " + slug); err != nil {
		return nil, err
	}
	return &indexer.Stats{Owners: 7}, nil
}

func (f *fakeClient) Tokens(_ context.Context, slug, cursor string) (*indexer.TokenPage, error) {
	if err := f.record("tokens " + slug + " " + cursor); err != nil {
		return nil, err
	}
	return &indexer.TokenPage{Next: cursor + "+"}, nil
}

func TestIndexer(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	ka, kb := ratelimit.KeyFor("os", "key-a"), ratelimit.KeyFor("os", "key-b")

	type bundle struct {
		lim  *ratelimit.Limiter
		a, b *fakeClient
		ix   *ratelimit.Indexer
	}
	setup := func(t *testing.T, cfgs ...ratelimit.BucketConfig) *bundle {
		t.Helper()
		lim := newLimiter(t, dbtest.DB(t), ratelimit.Options{MaxWait: -1, DefaultPause: time.Second})
		require.NoError(t, lim.Ensure(ctx, cfgs))
		bd := &bundle{lim: lim, a: &fakeClient{name: "a"}, b: &fakeClient{name: "b"}}
		bd.ix = ratelimit.NewIndexer(lim, "os", map[string]indexer.Indexer{ka: bd.a, kb: bd.b})
		return bd
	}
	two := func(rate float64, burst int) []ratelimit.BucketConfig {
		return []ratelimit.BucketConfig{
			{Key: ka, Source: "os", Rate: rate, Burst: burst, MaxInFlight: 4},
			{Key: kb, Source: "os", Rate: rate, Burst: burst, MaxInFlight: 4},
		}
	}

	t.Run("CallsThroughAndReleases", func(t *testing.T) {
		t.Parallel()
		// A slow refill (one token per 100 s) keeps the first key one token
		// behind the second after its call, so the next call must go to the
		// other key. At 100/s a key refilled to its burst between two calls on
		// a loaded machine, both keys tied and the key order picked the first
		// key every time.
		bd := setup(t, two(0.01, 10)...)
		var ix indexer.Indexer = bd.ix
		require.Equal(t, "os", ix.Source())
		c, err := ix.Collection(ctx, "apes")
		require.NoError(t, err)
		require.Equal(t, "apes", c.Slug)
		s, err := ix.Stats(ctx, "apes")
		require.NoError(t, err)
		require.Equal(t, int64(7), s.Owners)
		p, err := ix.Tokens(ctx, "apes", "c1")
		require.NoError(t, err)
		require.Equal(t, "c1+", p.Next)
		require.Equal(t, 3, bd.a.ncalls()+bd.b.ncalls())
		require.Positive(t, bd.a.ncalls(), "keys are pooled")
		require.Positive(t, bd.b.ncalls())
		for _, k := range []string{ka, kb} {
			st := bucket(t, bd.lim, k)
			require.Zero(t, st.InFlight, k)
			require.Zero(t, st.Expired, k)
		}
	})

	t.Run("NoBudgetBecomesRateLimitedError", func(t *testing.T) {
		t.Parallel()
		bd := setup(t, two(2, 1)...)
		start := time.Now()
		for range 2 {
			_, err := bd.ix.Stats(ctx, "apes")
			require.NoError(t, err)
		}
		_, err := bd.ix.Stats(ctx, "apes")
		var ie *indexer.Error
		require.ErrorAs(t, err, &ie)
		require.Equal(t, indexer.ClassRateLimited, ie.Class)
		require.Equal(t, "stats apes", ie.Op)
		// A token at 2/s, less the refill since the grants (measured
		// loosely, so that a loaded machine does not fail it).
		require.LessOrEqual(t, ie.RetryAfter, 500*time.Millisecond+50*time.Millisecond)
		require.GreaterOrEqual(t, ie.RetryAfter, 500*time.Millisecond-time.Since(start)-50*time.Millisecond)
		var we *ratelimit.WaitError
		require.ErrorAs(t, err, &we)
		require.Equal(t, 2, bd.a.ncalls()+bd.b.ncalls(), "the refused call never reached a client")
	})

	t.Run("RejectedKeyIsPausedAndTheCallRetriesElsewhere", func(t *testing.T) {
		t.Parallel()
		// A slow refill, as in CallsThroughAndReleases: at 100/s a key
		// refilled to its burst between two calls on a loaded machine, the
		// keys tied at every call and the key order never picked the
		// rejected one.
		bd := setup(t, two(0.01, 10)...)
		bd.a.setErr(&indexer.Error{Class: indexer.ClassPermanent, Op: "stats apes", Status: 401})
		failures := 0
		for range 6 {
			_, err := bd.ix.Stats(ctx, "apes")
			if err != nil {
				failures++
				var ie *indexer.Error
				require.ErrorAs(t, err, &ie)
				require.Equal(t, indexer.ClassTransient, ie.Class, "a rejected key is not the collection's fault")
				require.Equal(t, 401, ie.Status)
			}
		}
		require.Equal(t, 1, bd.a.ncalls(), "the rejected key leaves the pool after its first 401")
		require.Equal(t, 1, failures)
		require.Equal(t, 5, bd.b.ncalls(), "the other key serves the rest")
	})

	t.Run("UpstreamRateLimitPausesThatKeyOnly", func(t *testing.T) {
		t.Parallel()
		bd := setup(t, two(100, 10)...)
		upstream := &indexer.Error{Class: indexer.ClassRateLimited, Op: "stats apes", Status: 429, RetryAfter: 2 * time.Second}
		bd.a.setErr(upstream)
		bd.b.setErr(upstream)
		_, err := bd.ix.Stats(ctx, "apes")
		require.Same(t, upstream, err, "the client's error is returned unchanged")

		paused, other := ka, kb
		if bd.b.ncalls() == 1 {
			paused, other = kb, ka
		}
		require.WithinDuration(t, time.Now().Add(2*time.Second), bucket(t, bd.lim, paused).PausedUntil, 300*time.Millisecond)
		require.True(t, bucket(t, bd.lim, other).PausedUntil.IsZero())

		bd.a.setErr(nil)
		bd.b.setErr(nil)
		for range 3 {
			_, err := bd.ix.Stats(ctx, "apes")
			require.NoError(t, err)
		}
		pausedClient, otherClient := bd.a, bd.b
		if paused == kb {
			pausedClient, otherClient = bd.b, bd.a
		}
		require.Equal(t, 1, pausedClient.ncalls(), "the paused key is skipped")
		require.Equal(t, 3, otherClient.ncalls())
		require.Zero(t, bucket(t, bd.lim, paused).InFlight)
	})

	t.Run("ClassFromContext", func(t *testing.T) {
		t.Parallel()
		bd := setup(t, ratelimit.BucketConfig{Key: ka, Source: "os", Rate: 0.01, Burst: 2, BulkReserve: 0.5})
		bd.ix = ratelimit.NewIndexer(bd.lim, "os", map[string]indexer.Indexer{ka: bd.a})
		bulk := ratelimit.WithClass(ctx, ratelimit.ClassBulk)
		_, err := bd.ix.Tokens(bulk, "apes", "")
		require.NoError(t, err)
		_, err = bd.ix.Tokens(bulk, "apes", "")
		_, limited := indexer.RetryAfter(err)
		require.True(t, limited, "bulk leaves the last token: %v", err)
		_, err = bd.ix.Stats(ctx, "apes")
		require.NoError(t, err, "live (the default) takes it")
	})

	t.Run("PanickingClientStillReleases", func(t *testing.T) {
		t.Parallel()
		bd := setup(t, ratelimit.BucketConfig{Key: ka, Source: "os", Rate: 100, Burst: 10, MaxInFlight: 1})
		bd.a.panic = true
		bd.ix = ratelimit.NewIndexer(bd.lim, "os", map[string]indexer.Indexer{ka: bd.a})
		require.Panics(t, func() { _, _ = bd.ix.Stats(ctx, "apes") })
		require.Zero(t, bucket(t, bd.lim, ka).InFlight)
	})

	t.Run("MisconfiguredIsTransient", func(t *testing.T) {
		t.Parallel()
		bd := setup(t, two(100, 10)...)
		_, err := ratelimit.NewIndexer(bd.lim, "os", nil).Stats(ctx, "apes")
		require.ErrorContains(t, err, "no clients")
		require.Equal(t, indexer.ClassTransient, indexer.ClassOf(err))

		_, err = ratelimit.NewIndexer(bd.lim, "other", map[string]indexer.Indexer{"other": bd.a}).Stats(ctx, "apes")
		require.ErrorIs(t, err, ratelimit.ErrNoBucket)
		require.Equal(t, indexer.ClassTransient, indexer.ClassOf(err))
	})
}

// traitClient is a fakeClient that is also a trait source and counter.
type traitClient struct{ *fakeClient }

func (f traitClient) TokenTraits(_ context.Context, ref indexer.TokenRef) (*indexer.TokenMetadata, error) {
	if err := f.record("nft " + ref.TokenID); err != nil {
		return nil, err
	}
	return &indexer.TokenMetadata{Name: ref.TokenID, Traits: []indexer.Trait{}}, nil
}

func (f traitClient) CollectionTraits(_ context.Context, slug string) (*indexer.TraitCounts, error) {
	if err := f.record("traits " + slug); err != nil {
		return nil, err
	}
	return &indexer.TraitCounts{}, nil
}

func TestIndexerTraitCalls(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	ka := ratelimit.KeyFor("os", "key-a")
	lim := newLimiter(t, dbtest.DB(t), ratelimit.Options{MaxWait: -1, DefaultPause: time.Second})
	require.NoError(t, lim.Ensure(ctx, []ratelimit.BucketConfig{{Key: ka, Source: "os", Rate: 0.01, Burst: 2, MaxInFlight: 4}}))

	fc := &fakeClient{name: "a"}
	ix := ratelimit.NewIndexer(lim, "os", map[string]indexer.Indexer{ka: traitClient{fc}})
	md, err := ix.TokenTraits(ctx, indexer.TokenRef{Contract: "0xabc", TokenID: "7"})
	require.NoError(t, err)
	require.Equal(t, "7", md.Name)
	_, err = ix.CollectionTraits(ctx, "apes")
	require.NoError(t, err)
	_, err = ix.TokenTraits(ctx, indexer.TokenRef{Contract: "0xabc", TokenID: "8"})
	_, limited := indexer.RetryAfter(err)
	require.True(t, limited, "trait calls spend the same budget: %v", err)
	require.Equal(t, 2, fc.ncalls())
	require.Zero(t, bucket(t, lim, ka).InFlight)

	// A source whose clients cannot fetch traits says so without spending budget.
	plain := ratelimit.NewIndexer(lim, "os", map[string]indexer.Indexer{ka: &fakeClient{}})
	_, err = plain.TokenTraits(ctx, indexer.TokenRef{TokenID: "1"})
	require.Equal(t, indexer.ClassPermanent, indexer.ClassOf(err))
	_, err = plain.CollectionTraits(ctx, "apes")
	require.Equal(t, indexer.ClassPermanent, indexer.ClassOf(err))
}
