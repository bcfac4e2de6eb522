package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/nftsync/nftsync/db"
	"github.com/nftsync/nftsync/internal/clip"
)

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

// activeOrSkip returns errSkip, after a log line naming the refresh kind,
// for a collection that is paused or failed.
func activeOrSkip(d *Deps, ctx context.Context, c *db.Collection, refreshKind string) error {
	if c.Status == "active" {
		return nil
	}
	d.Logger.InfoContext(ctx, "collection not active, skipping", slog.String("slug", c.Slug),
		slog.String("refresh_kind", refreshKind), slog.String("status", c.Status))
	return errSkip
}

// recordQuality stores a data-quality event of kind dataKind (e.g.
// "malformed_payload") for the job's collection, the message clipped.
func recordQuality(ctx context.Context, d *Deps, job *rivertype.JobRow, c *db.Collection, dataKind, op, msg string) error {
	err := db.New(d.DB).DataQualityEventInsert(ctx, db.DataQualityEventInsertParams{
		CollectionID: pgInt8(c.ID),
		Source:       c.Source,
		Kind:         dataKind,
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
