package jobs_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivertest"
	"github.com/stretchr/testify/require"

	"github.com/nftsync/nftsync/db"
	"github.com/nftsync/nftsync/internal/indexer"
	"github.com/nftsync/nftsync/jobs"
)

// pagedSource is an indexer.Indexer serving scripted token pages: pages[i]
// answers cursor "" for i == 0 and cursor "p<i>" otherwise.
type pagedSource struct {
	pages []indexer.TokenPage
	err   map[string]error // by cursor
}

func (s *pagedSource) Source() string { return "opensea" }
func (s *pagedSource) Collection(context.Context, string) (*indexer.Collection, error) {
	return nil, errors.New("not scripted")
}
func (s *pagedSource) Stats(context.Context, string) (*indexer.Stats, error) {
	return nil, errors.New("not scripted")
}
func (s *pagedSource) Tokens(_ context.Context, _ string, cursor string) (*indexer.TokenPage, error) {
	if err := s.err[cursor]; err != nil {
		return nil, err
	}
	i := 0
	if cursor != "" {
		i = int(cursor[1] - '0')
	}
	p := s.pages[i]
	return &p, nil
}

func token(id string, traits ...indexer.Trait) indexer.Token {
	return indexer.Token{TokenID: id, Contract: "0xabc", TokenStandard: "erc721", Traits: append([]indexer.Trait{}, traits...)}
}

func trait(name, value string) indexer.Trait {
	return indexer.Trait{Type: name, ValueText: value, ValueKind: indexer.ValueString}
}

// setupScripted gives a test transaction with the collection "scripted"
// tracked and src as its source, and a function that works one sync_tokens
// job for it.
func setupScripted(t *testing.T, src *pagedSource) (*workerBundle, func() (*rivertest.WorkResult, error)) {
	t.Helper()
	tx := sharedTx(t)
	b := &workerBundle{tx: tx, deps: &jobs.Deps{DB: tx, Logger: discardLogger(), Indexers: map[string]indexer.Indexer{"opensea": src}}}
	b.coll = trackTx(t, tx, "scripted", time.Minute)
	tw := rivertest.NewWorker(t, riverpgxv5.New(nil), &river.Config{Logger: discardLogger()}, &jobs.SyncTokensWorker{Deps: b.deps})
	return b, func() (*rivertest.WorkResult, error) {
		return tw.Work(context.Background(), t, tx, jobs.SyncTokensArgs{CollectionArgs: jobs.CollectionArgs{CollectionID: b.coll.ID}}, nil)
	}
}

func TestSyncTokensEdgeCases(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	setup := setupScripted
	full := []indexer.TokenPage{{Tokens: []indexer.Token{
		token("1", trait("hat", "red"), trait("eyes", "blue")),
		token("2", trait("hat", "blue")),
		token("3"),
	}}}

	t.Run("NullTraitsKeepStoredOnes", func(t *testing.T) {
		t.Parallel()
		src := &pagedSource{pages: full}
		b, run := setup(t, src)
		_, err := run()
		require.NoError(t, err)
		q := db.New(b.tx)
		n, err := q.TokenTraitCount(ctx, b.coll.ID)
		require.NoError(t, err)
		require.Equal(t, int64(3), n)

		// The source now answers without traits (null) for token 1.
		again := []indexer.Token{{TokenID: "1", Contract: "0xabc", TokenStandard: "erc721"}, full[0].Tokens[1], full[0].Tokens[2]}
		src.pages = []indexer.TokenPage{{Tokens: again}}
		_, err = run()
		require.NoError(t, err)
		n, err = q.TokenTraitCount(ctx, b.coll.ID)
		require.NoError(t, err)
		require.Equal(t, int64(3), n, "token 1's traits survive an answer without traits")
		toks, err := q.TokenListForRarity(ctx, b.coll.ID)
		require.NoError(t, err)
		require.Len(t, toks, 3, "traits once known stay known")
	})

	t.Run("ShortListingDeletesNothing", func(t *testing.T) {
		t.Parallel()
		src := &pagedSource{pages: full}
		b, run := setup(t, src)
		_, err := run()
		require.NoError(t, err)
		src.pages = []indexer.TokenPage{{Tokens: []indexer.Token{}}} // a glitchy empty listing
		_, err = run()
		require.NoError(t, err)
		q := db.New(b.tx)
		n, err := q.TokenCount(ctx, b.coll.ID)
		require.NoError(t, err)
		require.Equal(t, int64(3), n)
		events, err := q.DataQualityEventList(ctx, pgtypeInt8(b.coll.ID))
		require.NoError(t, err)
		require.Len(t, events, 1)
		require.Equal(t, "short_listing", events[0].Kind)
	})

	t.Run("RejectedCursorRestartsTheRun", func(t *testing.T) {
		t.Parallel()
		src := &pagedSource{
			pages: []indexer.TokenPage{{Tokens: full[0].Tokens[:1], Next: "p1"}, {Tokens: full[0].Tokens[1:]}},
			err:   map[string]error{"p1": &indexer.Error{Class: indexer.ClassPermanent, Op: "tokens", Status: 400, Err: errors.New("bad cursor")}},
		}
		b, run := setup(t, src)
		_, err := run()
		require.ErrorContains(t, err, "cursor rejected")
		q := db.New(b.tx)
		st, err := q.TokenSyncStateGet(ctx, b.coll.ID)
		require.NoError(t, err)
		require.Empty(t, st.Cursor)
		require.Equal(t, int64(2), st.Run)
		c, err := q.CollectionGetByID(ctx, b.coll.ID)
		require.NoError(t, err)
		require.Equal(t, "active", c.Status, "a refused cursor does not fail the collection")

		delete(src.err, "p1")
		_, err = run()
		require.NoError(t, err)
		n, err := q.TokenCount(ctx, b.coll.ID)
		require.NoError(t, err)
		require.Equal(t, int64(3), n)
	})
}

// endlessSource answers every cursor with an empty page and a new cursor.
type endlessSource struct{ pagedSource }

func (s *endlessSource) Tokens(_ context.Context, _ string, cursor string) (*indexer.TokenPage, error) {
	if cursor == "" {
		return &indexer.TokenPage{Tokens: []indexer.Token{token("1")}, Next: "e"}, nil
	}
	return &indexer.TokenPage{Tokens: []indexer.Token{}, Next: cursor + "e"}, nil
}

// Issue 12: a listing that never ends must fail the run loudly instead of
// snoozing forever without spending an attempt.
func TestSyncTokensListingThatNeverEnds(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	run := func(t *testing.T, src indexer.Indexer) (*workerBundle, *rivertest.WorkResult, error) {
		t.Helper()
		tx := sharedTx(t)
		b := &workerBundle{tx: tx, deps: &jobs.Deps{DB: tx, Logger: discardLogger(), Indexers: map[string]indexer.Indexer{"opensea": src},
			TokenSyncBudget: 2 * time.Second}}
		b.coll = trackTx(t, tx, "looping", time.Minute)
		tw := rivertest.NewWorker(t, riverpgxv5.New(nil), &river.Config{Logger: discardLogger()}, &jobs.SyncTokensWorker{Deps: b.deps})
		res, err := tw.Work(ctx, t, tx, jobs.SyncTokensArgs{CollectionArgs: jobs.CollectionArgs{CollectionID: b.coll.ID}}, nil)
		return b, res, err
	}
	requireFailedLoudly := func(t *testing.T, b *workerBundle, res *rivertest.WorkResult, why string) {
		t.Helper()
		require.Equal(t, river.EventKindJobCancelled, res.EventKind, "the run fails instead of snoozing")
		q := db.New(b.tx)
		events, err := q.DataQualityEventList(ctx, pgtypeInt8(b.coll.ID))
		require.NoError(t, err)
		require.Len(t, events, 1)
		require.Equal(t, "cursor_loop", events[0].Kind)
		require.Contains(t, events[0].Message, why)
		st, err := q.TokenSyncStateGet(ctx, b.coll.ID)
		require.NoError(t, err)
		require.Empty(t, st.Cursor, "the next sync starts from the first page")
		require.False(t, st.CompletedAt.Valid)
	}

	t.Run("CursorCycle", func(t *testing.T) {
		t.Parallel()
		// A -> B -> A: "" -> p1 -> p2 -> p1 -> ...
		src := &pagedSource{pages: []indexer.TokenPage{
			{Tokens: []indexer.Token{token("1")}, Next: "p1"},
			{Tokens: []indexer.Token{token("2")}, Next: "p2"},
			{Tokens: []indexer.Token{token("3")}, Next: "p1"},
		}}
		b, res, err := run(t, src)
		require.NoError(t, err)
		requireFailedLoudly(t, b, res, "cursor cycle")
	})

	t.Run("EndlessEmptyPages", func(t *testing.T) {
		t.Parallel()
		b, res, err := run(t, &endlessSource{})
		require.NoError(t, err)
		requireFailedLoudly(t, b, res, "the list goes on")
	})

	t.Run("PageBoundFollowsSupply", func(t *testing.T) {
		t.Parallel()
		require.Equal(t, int64(10), jobs.MaxListPages(0, 200))
		require.Equal(t, int64(55+10), jobs.MaxListPages(10000, 200), "10k tokens: 50 pages needed, 65 allowed")
	})
}

// Issue 12: ordinals are smallint; a token with more traits than the cap
// keeps the first MaxPerToken and the excess is a data-quality event.
func TestSyncTokensCapsTraitsPerToken(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	many := make([]indexer.Trait, 40000) // more than a smallint ordinal holds
	for i := range many {
		many[i] = trait("t"+itoa(i), "v")
	}
	src := &pagedSource{pages: []indexer.TokenPage{{Tokens: []indexer.Token{token("1", many...), token("2", trait("hat", "red"))}}}}
	tx := sharedTx(t)
	b := &workerBundle{tx: tx, deps: &jobs.Deps{DB: tx, Logger: discardLogger(), Indexers: map[string]indexer.Indexer{"opensea": src}}}
	b.coll = trackTx(t, tx, "many-traits", time.Minute)
	tw := rivertest.NewWorker(t, riverpgxv5.New(nil), &river.Config{Logger: discardLogger()}, &jobs.SyncTokensWorker{Deps: b.deps})
	_, err := tw.Work(ctx, t, tx, jobs.SyncTokensArgs{CollectionArgs: jobs.CollectionArgs{CollectionID: b.coll.ID}}, nil)
	require.NoError(t, err)
	q := db.New(tx)
	n, err := q.TokenTraitCount(ctx, b.coll.ID)
	require.NoError(t, err)
	require.Equal(t, int64(1000+1), n, "the default cap is 1000 per token")
	events, err := q.DataQualityEventList(ctx, pgtypeInt8(b.coll.ID))
	require.NoError(t, err)
	require.Len(t, events, 1)
	require.Equal(t, "traits_capped", events[0].Kind)
	require.Contains(t, events[0].Message, "1 (1000 of 40000 kept)")
}
