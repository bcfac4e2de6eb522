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
	"github.com/nftsync/nftsync/db/dbtest"
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
	tx := dbtest.Tx(t)
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
