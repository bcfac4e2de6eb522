package db

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5/pgtype"
)

// FloorPriceObserveParams is one observation of a collection's floor.
type FloorPriceObserveParams struct {
	CollectionID int64
	Source       string
	// Amount is NULL (not Valid) for a known empty book: no floor.
	Amount   pgtype.Numeric
	Currency string
	Decimals int16
	// Owners is NULL (not Valid) when the source did not say.
	Owners pgtype.Int8
	SeenAt time.Time
	// SourceAsOf is NULL (not Valid) when the source did not say.
	SourceAsOf pgtype.Timestamptz
}

// FloorPriceObserve records one observation of a collection's floor with
// FloorPriceObserveBatch (queries/snapshots.sql), the statement the stream
// consumer stores its floors with, so the poller and the stream share one
// change-based upsert: the latest row takes the value, the open history row
// is extended while the value and the UTC day stay the same, and an
// observation older than the latest one changes nothing. An observation of
// a collection that is no longer tracked is skipped.
func (q *Queries) FloorPriceObserve(ctx context.Context, arg FloorPriceObserveParams) error {
	var asOf time.Time // the zero time is stored as NULL
	if arg.SourceAsOf.Valid {
		asOf = arg.SourceAsOf.Time
	}
	return q.FloorPriceObserveBatch(ctx, FloorPriceObserveBatchParams{
		CollectionIds: []int64{arg.CollectionID},
		Amounts:       []pgtype.Numeric{arg.Amount},
		Currencies:    []string{arg.Currency},
		Decimals:      []int16{arg.Decimals},
		Owners:        []int64{arg.Owners.Int64},
		OwnersKnown:   []bool{arg.Owners.Valid},
		SeenAts:       []time.Time{arg.SeenAt},
		SourceAsOfs:   []time.Time{asOf},
		Source:        arg.Source,
	})
}
