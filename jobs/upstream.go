package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/nftsync/nftsync/db"
	"github.com/nftsync/nftsync/internal/clip"
	"github.com/nftsync/nftsync/internal/indexer"
	"github.com/nftsync/nftsync/internal/ratelimit"
)

// withClass marks ctx with the rate-limit class of a single-call job's
// upstream call: manual refreshes go first, otherwise def (live for periodic
// refreshes). sync_tokens picks its class per page (manualFirstPage).
func withClass(ctx context.Context, args CollectionArgs, def ratelimit.Class) context.Context {
	if args.Manual {
		return ratelimit.WithClass(ctx, ratelimit.ClassPriority)
	}
	return ratelimit.WithClass(ctx, def)
}

// handleFetchError turns a failed upstream call into the job's outcome:
//   - rate limited: snooze for Retry-After (or a few jittered seconds), no
//     attempt spent;
//   - permanent (unknown collection, rejected key): the collection is marked
//     failed so the planner stops scheduling it, and the job is cancelled
//     with the reason;
//   - malformed payload: nothing is stored, a data-quality event is
//     recorded, and the job is retried with backoff;
//   - transient: retried with backoff.
func handleFetchError(ctx context.Context, d *Deps, job *rivertype.JobRow, c *db.Collection, op string, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	switch indexer.ClassOf(err) {
	case indexer.ClassRateLimited:
		wait, _ := indexer.RetryAfter(err)
		if wait <= 0 {
			wait = 2 * time.Second
		}
		wait += time.Duration(rand.Int64N(int64(500 * time.Millisecond)))
		d.Logger.InfoContext(ctx, "rate limited, snoozing", slog.String("op", op), slog.Duration("wait", wait), slog.String("reason", err.Error()))
		return river.JobSnooze(wait)
	case indexer.ClassPermanent:
		reason := fmt.Sprintf("%s: %v", op, err)
		q := db.New(d.DB)
		if serr := q.CollectionSetStatus(ctx, db.CollectionSetStatusParams{ID: c.ID, Status: "failed", StatusReason: clip.Text(reason, 500)}); serr != nil {
			return fmt.Errorf("mark collection %s failed: %w", c.Slug, serr)
		}
		d.Logger.WarnContext(ctx, "permanent upstream error; collection marked failed", slog.String("slug", c.Slug), slog.String("reason", reason))
		return river.JobCancel(fmt.Errorf("%s: %w", op, err))
	case indexer.ClassMalformed:
		if qerr := recordQuality(ctx, d, job, c, "malformed_payload", op, err.Error()); qerr != nil {
			return qerr
		}
		return fmt.Errorf("%s: %w", op, err)
	default:
		return fmt.Errorf("%s: %w", op, err)
	}
}

// isNotFound reports whether err is an upstream 404.
func isNotFound(err error) bool {
	var ie *indexer.Error
	return errors.As(err, &ie) && ie.Status == http.StatusNotFound
}
