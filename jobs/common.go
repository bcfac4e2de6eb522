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
	"github.com/nftsync/nftsync/internal/indexer"
	"github.com/nftsync/nftsync/internal/ratelimit"
)

// Queue names: one per data kind, each with its own MaxWorkers.
const (
	QueuePlanner    = "planner"
	QueueFloorPrice = "floor_price"
	QueueVolume     = "volume"
	QueueMetadata   = "metadata"
	QueueTokens     = "tokens"
	QueueRarity     = "rarity"
)

// Schedule kinds as stored in collection_schedules.kind.
const (
	KindFloorPrice = "floor_price"
	KindVolume     = "volume"
	KindMetadata   = "metadata"
	KindTokens     = "tokens"
)

// ScheduleKinds lists every schedule kind, in planning order.
var ScheduleKinds = []string{KindFloorPrice, KindVolume, KindMetadata, KindTokens} //nolint:gochecknoglobals // read-only

// CollectionArgs is embedded by every per-collection fetch job. Only
// CollectionID takes part in uniqueness, so a collection never has two
// pending jobs of one kind. Bucket is the planned refresh time; snapshots are
// keyed by it, so a retried job overwrites its own row instead of adding one.
// Services that enqueue by hand may leave Bucket out: the job's creation time
// is used.
//
// Manual marks an operator's "refresh now": such jobs get the upstream rate
// budget first (see internal/ratelimit) and are inserted with priority 1.
type CollectionArgs struct {
	CollectionID int64     `json:"collection_id" river:"unique"`
	Bucket       time.Time `json:"bucket,omitzero"`
	Manual       bool      `json:"manual,omitempty"`
}

// uniquePending keeps one job per (kind, collection) among jobs not yet
// finished; completed, cancelled and discarded jobs do not block a new one.
func uniquePending() river.UniqueOpts {
	return river.UniqueOpts{
		ByArgs: true,
		ByState: []rivertype.JobState{
			rivertype.JobStateAvailable, rivertype.JobStatePending, rivertype.JobStateRunning,
			rivertype.JobStateRetryable, rivertype.JobStateScheduled,
		},
	}
}

// withClass marks ctx with the rate-limit class of the job's upstream calls:
// manual refreshes go first, otherwise def (live for periodic refreshes, bulk
// for token backfills, which leave a reserve to live ones).
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
		if serr := q.CollectionSetStatus(ctx, db.CollectionSetStatusParams{ID: c.ID, Status: "failed", StatusReason: truncate(reason, 500)}); serr != nil {
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
		Message:      truncate(msg, 2000),
		JobID:        pgInt8(job.ID),
	})
	if err != nil {
		return fmt.Errorf("record data-quality event for %s: %w", c.Slug, err)
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// withTx runs fn in a transaction on d.DB.
func withTx(ctx context.Context, d *Deps, fn func(tx pgx.Tx) error) error {
	return db.WithTx(ctx, d.DB, fn)
}
