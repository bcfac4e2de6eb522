package jobs

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/riverqueue/river"

	"github.com/nftsync/nftsync/db"
	"github.com/nftsync/nftsync/internal/ratelimit"
	"github.com/nftsync/nftsync/jobs/jobargs"
)

// FetchCollectionMetadataArgs is the job contract in jobargs.
type FetchCollectionMetadataArgs = jobargs.FetchCollectionMetadataArgs

// FetchCollectionMetadataWorker works FetchCollectionMetadataArgs.
type FetchCollectionMetadataWorker struct {
	river.WorkerDefaults[FetchCollectionMetadataArgs]
	Deps *Deps
}

// Work fetches metadata and upserts it with the collection's contracts in one
// transaction.
func (w *FetchCollectionMetadataWorker) Work(ctx context.Context, job *river.Job[FetchCollectionMetadataArgs]) error {
	d := w.Deps
	c, err := loadCollection(ctx, d, job.Args.CollectionID)
	if err != nil {
		return err
	}
	if err := activeOrSkip(d, ctx, c, RefreshMetadata); err != nil {
		return nil //nolint:nilerr // inactive collections complete without work
	}
	source := cmp.Or(job.Args.Source, c.Source)
	idx, err := d.indexer(source)
	if err != nil {
		return err
	}
	key, err := sourceKey(ctx, d, job.JobRow, c, source)
	if err != nil || key == "" {
		return err
	}
	op := "fetch collection " + c.Slug
	if source != c.Source {
		op += " from " + source
	}
	m, err := idx.Collection(withClass(ctx, job.Args.CollectionArgs, ratelimit.ClassLive), key)
	if err != nil {
		if source != c.Source {
			return handleSourceError(ctx, d, job.JobRow, c, source, op, err)
		}
		return handleFetchError(ctx, d, job.JobRow, c, op, err)
	}
	if strings.TrimSpace(m.Name) == "" {
		if qerr := recordQuality(ctx, d, job.JobRow, c, "invalid_value", op, "collection name is empty"); qerr != nil {
			return qerr
		}
		return fmt.Errorf("%s: collection name is empty", op)
	}
	raw := m.Raw
	if len(raw) == 0 || !json.Valid(raw) {
		raw = json.RawMessage("{}")
	}
	fetched := m.FetchedAt
	if fetched.IsZero() {
		fetched = d.now()
	}
	return withTx(ctx, d, func(tx pgx.Tx) error {
		q := db.New(tx)
		err := q.MetadataUpsert(ctx, db.MetadataUpsertParams{
			CollectionID: c.ID, Source: source, Name: m.Name, Description: m.Description,
			ImageUrl: m.ImageURL, BannerImageUrl: m.BannerImageURL, ExternalUrl: m.ExternalURL,
			Category: m.Category, SafelistStatus: m.SafelistStatus,
			TotalSupply: pgInt8(m.TotalSupply), UniqueItemCount: pgInt8(m.UniqueItemCount),
			Currency: m.Currency, CurrencyDecimals: optInt2(m.Currency != "", m.CurrencyDecimals),
			CreatedDate: m.CreatedDate, Raw: raw, FetchedAt: fetched, SourceAsOf: pgTime(m.SourceAsOf),
		})
		if err != nil {
			return fmt.Errorf("store metadata %s: %w", c.Slug, err)
		}
		for _, ct := range m.Contracts {
			if err := q.CollectionContractUpsert(ctx, db.CollectionContractUpsertParams{
				CollectionID: c.ID, Chain: ct.Chain, Address: strings.ToLower(ct.Address),
			}); err != nil {
				return fmt.Errorf("store contract %s: %w", c.Slug, err)
			}
		}
		return q.ScheduleMarkSuccess(ctx, db.ScheduleMarkSuccessParams{At: fetched, CollectionID: c.ID, Kind: RefreshMetadata})
	})
}

func optInt2(valid bool, v int32) pgtype.Int2 {
	if !valid {
		return pgtype.Int2{}
	}
	return pgInt2(v)
}
