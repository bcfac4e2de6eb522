package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/nftsync/nftsync/db"
	"github.com/nftsync/nftsync/internal/clip"
	"github.com/nftsync/nftsync/internal/indexer"
	"github.com/nftsync/nftsync/internal/ratelimit"
	"github.com/nftsync/nftsync/jobs/jobargs"
)

// Queue names: one per data kind, each with its own MaxWorkers (see
// jobargs, the contract other services enqueue by).
const (
	QueuePlanner    = jobargs.QueuePlanner
	QueueFloorPrice = jobargs.QueueFloorPrice
	QueueVolume     = jobargs.QueueVolume
	QueueMetadata   = jobargs.QueueMetadata
	QueueTokens     = jobargs.QueueTokens
	QueueRarity     = jobargs.QueueRarity
	// QueueMaintenance runs maintain_history (internal: nothing outside
	// enqueues it).
	QueueMaintenance = "maintenance"
)

// Schedule kinds as stored in collection_schedules.kind.
const (
	KindFloorPrice = jobargs.KindFloorPrice
	KindVolume     = jobargs.KindVolume
	KindMetadata   = jobargs.KindMetadata
	KindTokens     = jobargs.KindTokens
)

// ScheduleKinds lists every schedule kind, in planning order.
var ScheduleKinds = jobargs.RefreshKinds() //nolint:gochecknoglobals // read-only

// CollectionArgs is embedded by every per-collection fetch job; see
// jobargs.CollectionArgs.
type CollectionArgs = jobargs.CollectionArgs

// uniquePending keeps one job per (kind, collection) among jobs not yet
// finished.
func uniquePending() river.UniqueOpts { return jobargs.UniquePending() }

// withClass marks ctx with the rate-limit class of a single-call job's
// upstream call: manual refreshes go first, otherwise def (live for periodic
// refreshes). sync_tokens picks its class per page (manualFirstPage).
func withClass(ctx context.Context, args CollectionArgs, def ratelimit.Class) context.Context {
	if args.Manual {
		return ratelimit.WithClass(ctx, ratelimit.ClassPriority)
	}
	return ratelimit.WithClass(ctx, def)
}

func bucketOf(args CollectionArgs, job *rivertype.JobRow) time.Time {
	if !args.Bucket.IsZero() {
		return args.Bucket.UTC().Truncate(time.Microsecond)
	}
	return job.CreatedAt.UTC().Truncate(time.Microsecond)
}

// loadCollection fetches the job's collection. A missing collection cancels
// the job (it was untracked); an inactive one completes it without work.
func loadCollection(ctx context.Context, d *Deps, id int64) (*db.Collection, error) {
	c, err := db.New(d.DB).CollectionGetByID(ctx, id)
	if err != nil {
		if errors.Is(db.Interpret(err), db.ErrNotFound) {
			return nil, river.JobCancel(fmt.Errorf("collection %d is not tracked", id))
		}
		return nil, fmt.Errorf("load collection %d: %w", id, err)
	}
	return &c, nil
}

// errSkip tells Work to complete without doing anything.
var errSkip = errors.New("skip")

func activeOrSkip(d *Deps, ctx context.Context, c *db.Collection, kind string) error {
	if c.Status == "active" {
		return nil
	}
	d.Logger.InfoContext(ctx, "collection not active, skipping", slog.String("slug", c.Slug),
		slog.String("kind", kind), slog.String("status", c.Status))
	return errSkip
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

func recordQuality(ctx context.Context, d *Deps, job *rivertype.JobRow, c *db.Collection, kind, op, msg string) error {
	err := db.New(d.DB).DataQualityEventInsert(ctx, db.DataQualityEventInsertParams{
		CollectionID: pgInt8(c.ID),
		Source:       c.Source,
		Kind:         kind,
		Operation:    op,
		Message:      clip.Text(msg, 2000),
		JobID:        pgInt8(job.ID),
	})
	if err != nil {
		return fmt.Errorf("record data-quality event for %s: %w", c.Slug, err)
	}
	return nil
}

// withTx runs fn in a transaction on d.DB.
func withTx(ctx context.Context, d *Deps, fn func(tx pgx.Tx) error) error {
	return db.WithTx(ctx, d.DB, fn)
}
