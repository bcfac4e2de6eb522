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

	"github.com/nftsync/nftsync/internal/indexer"
	"github.com/nftsync/nftsync/internal/ratelimit"
	"github.com/nftsync/nftsync/jobs"
)

// classRecorder records the rate-limit class of every token page request.
// The first rateLimited requests are answered as rate limited.
type classRecorder struct {
	*pagedSource
	classes     []ratelimit.Class
	rateLimited int
}

func (r *classRecorder) Tokens(ctx context.Context, slug, cursor string) (*indexer.TokenPage, error) {
	r.classes = append(r.classes, ratelimit.ClassFrom(ctx))
	if r.rateLimited > 0 {
		r.rateLimited--
		return nil, &indexer.Error{Class: indexer.ClassRateLimited, Op: "tokens " + slug, RetryAfter: time.Millisecond, Err: errors.New("no budget")}
	}
	return r.pagedSource.Tokens(ctx, slug, cursor)
}

// A manual refresh ("collections refresh") fetches the first token page at
// priority; the rest of the backfill, run after budget snoozes, is bulk.
func TestSyncTokensClass(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pages := []indexer.TokenPage{
		{Tokens: []indexer.Token{token("1")}, Next: "p1"},
		{Tokens: []indexer.Token{token("2")}, Next: "p2"},
		{Tokens: []indexer.Token{token("3")}},
	}

	// setup works a sync_tokens job page by page: its budget is spent after
	// every page, so it snoozes and the same job row is worked again.
	setup := func(t *testing.T, src *classRecorder) func(manual bool) []ratelimit.Class {
		t.Helper()
		tx := sharedTx(t)
		deps := &jobs.Deps{DB: tx, Logger: discardLogger(), TokenSyncBudget: time.Nanosecond,
			Indexers: map[string]indexer.Indexer{"opensea": src}}
		coll := trackTx(t, tx, "scripted", time.Minute)
		tw := rivertest.NewWorker(t, riverpgxv5.New(nil), &river.Config{Logger: discardLogger()}, &jobs.SyncTokensWorker{Deps: deps})
		return func(manual bool) []ratelimit.Class {
			src.classes = nil
			args := jobs.SyncTokensArgs{CollectionArgs: jobs.CollectionArgs{CollectionID: coll.ID, Manual: manual}}
			res, err := tw.Work(ctx, t, tx, args, nil)
			for err == nil && res.EventKind == river.EventKindJobSnoozed {
				res, err = tw.WorkJob(ctx, t, tx, res.Job)
			}
			require.NoError(t, err)
			require.Equal(t, river.EventKindJobCompleted, res.EventKind)
			return src.classes
		}
	}

	t.Run("ManualFirstPageOnly", func(t *testing.T) {
		t.Parallel()
		run := setup(t, &classRecorder{pagedSource: &pagedSource{pages: pages}})
		require.Equal(t, []ratelimit.Class{ratelimit.ClassPriority, ratelimit.ClassBulk, ratelimit.ClassBulk}, run(true))
	})

	t.Run("PeriodicIsBulk", func(t *testing.T) {
		t.Parallel()
		run := setup(t, &classRecorder{pagedSource: &pagedSource{pages: pages}})
		require.Equal(t, []ratelimit.Class{ratelimit.ClassBulk, ratelimit.ClassBulk, ratelimit.ClassBulk}, run(false))
	})

	t.Run("RateLimitedFirstPageKeepsPriority", func(t *testing.T) {
		t.Parallel()
		// The first request finds no budget: the job snoozes without a
		// page stored, and its next try still asks at priority.
		run := setup(t, &classRecorder{pagedSource: &pagedSource{pages: pages}, rateLimited: 1})
		require.Equal(t, []ratelimit.Class{ratelimit.ClassPriority, ratelimit.ClassPriority, ratelimit.ClassBulk, ratelimit.ClassBulk}, run(true))
	})
}
