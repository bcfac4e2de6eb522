package streamer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/riverqueue/river"

	"github.com/nftsync/nftsync/db"
	"github.com/nftsync/nftsync/internal/clip"
	"github.com/nftsync/nftsync/internal/indexer"
	"github.com/nftsync/nftsync/jobs/jobargs"
)

// batch is what the loop collected for one flush.
type batch struct {
	floors       map[int64]floorRow // newest per collection
	sales        []saleRow
	touch        map[int64]touchRow
	marks        map[int64]string // newest state per collection
	bootstrapped []int64
	covered      map[int64]time.Time
	metadata     []metadataRow
	quality      []qualityRow
}

type floorRow struct {
	amount   string // "" = the book is known empty: no floor
	currency string
	decimals int32
	sentAt   time.Time
}

type saleRow struct {
	collectionID int64
	sale         indexer.Sale
	sentAt       time.Time // zero for backfilled sales
}

type touchRow struct{ at, sentAt time.Time }

type metadataRow struct {
	collectionID      int64
	contract, tokenID string
	at                time.Time
}

type qualityRow struct {
	collectionID *int64
	kind         string
	message      string
}

// Bounds on what a failing database lets pile up (the newest floors and
// states are always kept: they are one per collection).
const (
	maxPendingSales    = 200000
	maxPendingMetadata = 100000
	maxPendingQuality  = 1000
)

func newBatch() *batch {
	return &batch{floors: map[int64]floorRow{}, touch: map[int64]touchRow{}, marks: map[int64]string{}, covered: map[int64]time.Time{}}
}

func (b *batch) empty() bool {
	return len(b.floors) == 0 && len(b.sales) == 0 && len(b.touch) == 0 && len(b.marks) == 0 &&
		len(b.bootstrapped) == 0 && len(b.covered) == 0 && len(b.metadata) == 0 && len(b.quality) == 0
}

// mergeOlder puts an unwritten older batch back under the newer b: b's
// values win where both have one.
func (b *batch) mergeOlder(old *batch) {
	keepNewer(b.floors, old.floors)
	keepNewer(b.touch, old.touch)
	keepNewer(b.marks, old.marks)
	keepNewer(b.covered, old.covered)
	b.sales = olderFirst(old.sales, b.sales, maxPendingSales)
	b.bootstrapped = append(old.bootstrapped, b.bootstrapped...)
	b.metadata = olderFirst(old.metadata, b.metadata, maxPendingMetadata)
	b.quality = olderFirst(old.quality, b.quality, maxPendingQuality)
}

// olderFirst is old followed by newer, keeping the newest limit.
func olderFirst[T any](old, newer []T, limit int) []T {
	all := append(old, newer...)
	return all[max(0, len(all)-limit):]
}

// keepNewer adds old's entries whose key newer lacks.
func keepNewer[K comparable, V any](newer, old map[K]V) {
	for k, v := range old {
		if _, ok := newer[k]; !ok {
			newer[k] = v
		}
	}
}

// writer commits what the loop collected every FlushInterval. A failed
// flush (PostgreSQL restarting) keeps its rows for the next one: floors and
// states newest-wins, sales and updates appended (bounded).
func (s *Service) writer(ctx context.Context) {
	t := time.NewTicker(s.opts.FlushInterval)
	defer t.Stop()
	var failingSince, lastLog time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		err := s.flush(ctx)
		switch {
		case err == nil && !failingSince.IsZero():
			s.log.Info("stream writes flowing again", slog.Duration("after", time.Since(failingSince).Round(time.Millisecond)))
			failingSince = time.Time{}
		case err != nil && ctx.Err() == nil:
			if failingSince.IsZero() {
				failingSince = time.Now()
			}
			if time.Since(lastLog) > 10*time.Second {
				lastLog = time.Now()
				s.log.Warn("stream writes failing; kept for the next flush", slog.Any("error", err),
					slog.Duration("since", time.Since(failingSince).Round(time.Second)))
			}
		}
	}
}

// flush writes the pending batch in one transaction.
func (s *Service) flush(ctx context.Context) error {
	s.pmu.Lock()
	b := s.pending
	if b.empty() {
		s.pmu.Unlock()
		return nil
	}
	s.pending = newBatch()
	s.pmu.Unlock()
	now := s.opts.Now()
	err := db.WithTx(ctx, s.db, func(tx pgx.Tx) error { return s.write(ctx, tx, b, now) })
	if isNoPartition(err) {
		if perr := ensurePartitions(ctx, db.New(s.db), now); perr != nil {
			err = errors.Join(err, perr)
		} else {
			err = db.WithTx(ctx, s.db, func(tx pgx.Tx) error { return s.write(ctx, tx, b, now) })
		}
	}
	if err != nil {
		s.pmu.Lock()
		s.pending.mergeOlder(b)
		s.pmu.Unlock()
		return err
	}
	committed := s.opts.Now()
	for _, f := range b.floors {
		if !f.sentAt.IsZero() {
			s.recordLag(committed.Sub(f.sentAt))
		}
	}
	s.stats.floorWrites.Add(int64(len(b.floors)))
	return nil
}

// write is one flush's statements.
func (s *Service) write(ctx context.Context, tx pgx.Tx, b *batch, now time.Time) error {
	q := db.New(tx)
	if len(b.floors) > 0 {
		p := db.FloorPriceObserveBatchParams{Source: Source}
		ids := make([]int64, 0, len(b.floors))
		for id := range b.floors {
			ids = append(ids, id)
		}
		slices.Sort(ids) // a stable lock order against concurrent writers
		for _, id := range ids {
			f := b.floors[id]
			amount := pgtype.Numeric{}
			if f.amount != "" {
				if err := amount.Scan(f.amount); err != nil {
					b.quality = append(b.quality, qualityRow{collectionID: &id, kind: "invalid_value", message: "stream floor " + clip.Text(f.amount, 100) + ": " + err.Error()})
					continue
				}
			}
			p.CollectionIds = append(p.CollectionIds, id)
			p.Amounts = append(p.Amounts, amount)
			p.Currencies = append(p.Currencies, f.currency)
			p.Decimals = append(p.Decimals, int16(f.decimals))
			p.Owners = append(p.Owners, 0) // the stream does not tell owners
			p.OwnersKnown = append(p.OwnersKnown, false)
			p.SeenAts = append(p.SeenAts, now)
			p.SourceAsOfs = append(p.SourceAsOfs, f.sentAt)
		}
		if err := q.FloorPriceObserveBatch(ctx, p); err != nil {
			return fmt.Errorf("store %d stream floors: %w", len(p.CollectionIds), err)
		}
	}
	if len(b.sales) > 0 {
		n, err := s.insertSales(ctx, q, b.sales)
		if err != nil {
			return err
		}
		s.stats.sales.Add(n)
	}
	if err := s.writeStates(ctx, q, b, now); err != nil {
		return err
	}
	if len(b.metadata) > 0 {
		if err := s.markMetadata(ctx, tx, q, b.metadata, now); err != nil {
			return err
		}
	}
	for _, e := range b.quality {
		var id pgtype.Int8
		if e.collectionID != nil {
			id = pgtype.Int8{Int64: *e.collectionID, Valid: true}
		}
		if err := q.DataQualityEventInsert(ctx, db.DataQualityEventInsertParams{
			CollectionID: id, Source: "opensea", Kind: e.kind, Operation: "stream", Message: clip.Text(e.message, 2000),
		}); err != nil {
			return fmt.Errorf("record stream data-quality event: %w", err)
		}
	}
	return nil
}

// writeStates marks states, touches the collections that had events,
// records bootstraps and the ledger's coverage.
func (s *Service) writeStates(ctx context.Context, q *db.Queries, b *batch, now time.Time) error {
	byState := map[string][]int64{}
	for id, st := range b.marks {
		byState[st] = append(byState[st], id)
	}
	for _, st := range []string{StateJoining, StateLive, StateDown} {
		ids := byState[st]
		if len(ids) == 0 {
			continue
		}
		slices.Sort(ids)
		if err := q.StreamStatesMark(ctx, db.StreamStatesMarkParams{CollectionIds: ids, State: st, Owner: s.opts.Replica, At: now}); err != nil {
			return fmt.Errorf("mark %d collections %s: %w", len(ids), st, err)
		}
	}
	if len(b.touch) > 0 {
		p := db.StreamStatesTouchParams{}
		ids := make([]int64, 0, len(b.touch))
		for id := range b.touch {
			ids = append(ids, id)
		}
		slices.Sort(ids)
		for _, id := range ids {
			t := b.touch[id]
			p.CollectionIds = append(p.CollectionIds, id)
			p.LastEventAt = append(p.LastEventAt, t.at)
			p.LastEventSentAt = append(p.LastEventSentAt, t.sentAt)
		}
		if err := q.StreamStatesTouch(ctx, p); err != nil {
			return fmt.Errorf("touch %d stream states: %w", len(ids), err)
		}
	}
	for _, id := range b.bootstrapped {
		if err := q.StreamBootstrapped(ctx, db.StreamBootstrappedParams{CollectionID: id, At: now}); err != nil {
			return fmt.Errorf("mark collection %d bootstrapped: %w", id, err)
		}
	}
	for id, since := range b.covered {
		if err := q.StreamSalesCovered(ctx, db.StreamSalesCoveredParams{CollectionID: id, Since: pgtype.Timestamptz{Time: since, Valid: !since.IsZero()}}); err != nil {
			return fmt.Errorf("record the sales ledger's coverage of collection %d: %w", id, err)
		}
	}
	return nil
}

// markMetadata marks updated tokens due for a trait fetch and enqueues one
// fetch_traits per collection, scheduled TraitsSettle later: a burst of
// updates makes one fetch of just the updated tokens, and its completion
// one rarity run.
func (s *Service) markMetadata(ctx context.Context, tx pgx.Tx, q *db.Queries, rows []metadataRow, now time.Time) error {
	p := db.TokensMarkMetadataUpdatedParams{}
	for _, r := range rows {
		p.CollectionIds = append(p.CollectionIds, r.collectionID)
		p.Contracts = append(p.Contracts, strings.ToLower(r.contract))
		p.TokenIds = append(p.TokenIds, r.tokenID)
		p.Ats = append(p.Ats, r.at)
	}
	marked, err := q.TokensMarkMetadataUpdated(ctx, p)
	if err != nil {
		return fmt.Errorf("mark %d updated tokens: %w", len(rows), err)
	}
	if len(marked) == 0 || s.opts.Enqueue == nil {
		return nil
	}
	slices.Sort(marked)
	marked = slices.Compact(marked)
	params := make([]river.InsertManyParams, 0, len(marked))
	for _, id := range marked {
		opts := jobargs.FetchTraitsArgs{}.InsertOpts()
		opts.ScheduledAt = now.Add(s.opts.TraitsSettle)
		params = append(params, river.InsertManyParams{Args: jobargs.FetchTraitsArgs{CollectionID: id}, InsertOpts: &opts})
	}
	if _, err := s.opts.Enqueue.InsertManyTx(ctx, tx, params); err != nil {
		return fmt.Errorf("enqueue trait fetches of %d collections: %w", len(params), err)
	}
	return nil
}

// ensurePartitions creates the floor history partitions around at (the
// maintenance job creates them days ahead; a fresh database may lack them).
func ensurePartitions(ctx context.Context, q *db.Queries, at time.Time) error {
	if _, err := q.HistoryEnsurePartitions(ctx, db.HistoryEnsurePartitionsParams{
		Parent: "floor_price_history", Unit: "day", FromTs: at.Add(-24 * time.Hour), ToTs: at.Add(4 * 24 * time.Hour),
	}); err != nil {
		return fmt.Errorf("create floor history partitions: %w", err)
	}
	return nil
}

// isNoPartition reports whether err is PostgreSQL's "no partition of
// relation ... found for row".
func isNoPartition(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23514" && strings.HasPrefix(pe.Message, "no partition of relation")
}

// insertSales stores sales in the ledger (a sale stored before is skipped)
// and returns how many were new. A sale the ledger cannot hold (no
// transaction hash, a non-decimal token id or amount) is a data-quality
// event instead, so one bad sale never blocks the others.
func (s *Service) insertSales(ctx context.Context, q *db.Queries, sales []saleRow) (int64, error) {
	p := db.SalesInsertBatchParams{}
	committed := s.opts.Now()
	var lags []time.Duration
	for _, r := range sales {
		sl := r.sale
		if reason := invalidSale(sl); reason != "" {
			id := r.collectionID
			if err := q.DataQualityEventInsert(ctx, db.DataQualityEventInsertParams{
				CollectionID: pgtype.Int8{Int64: id, Valid: true}, Source: "opensea", Kind: "invalid_value", Operation: "stream sale",
				Message: clip.Text(fmt.Sprintf("sale %s/%s refused: %s", sl.TxHash, sl.OrderHash, reason), 2000),
			}); err != nil {
				return 0, fmt.Errorf("record refused sale: %w", err)
			}
			continue
		}
		source := Source
		if r.sentAt.IsZero() {
			source = "opensea:events" // read back from the events endpoint after a gap
		} else {
			lags = append(lags, committed.Sub(r.sentAt))
		}
		qty := sl.Quantity
		if qty < 1 {
			qty = 1
		}
		p.CollectionIds = append(p.CollectionIds, r.collectionID)
		p.TxHashes = append(p.TxHashes, strings.ToLower(sl.TxHash))
		p.OrderHashes = append(p.OrderHashes, strings.ToLower(sl.OrderHash))
		p.Chains = append(p.Chains, sl.Token.Chain)
		p.Contracts = append(p.Contracts, strings.ToLower(sl.Token.Contract))
		p.TokenIds = append(p.TokenIds, sl.Token.TokenID)
		p.Amounts = append(p.Amounts, sl.Price.Amount)
		p.Currencies = append(p.Currencies, sl.Price.Currency)
		p.Decimals = append(p.Decimals, sl.Price.Decimals)
		p.EthPrices = append(p.EthPrices, sl.EthPrice)
		p.Quantities = append(p.Quantities, qty)
		p.SoldAts = append(p.SoldAts, sl.At)
		p.Buyers = append(p.Buyers, strings.ToLower(sl.Buyer))
		p.Sellers = append(p.Sellers, strings.ToLower(sl.Seller))
		p.Sources = append(p.Sources, source)
	}
	if len(p.CollectionIds) == 0 {
		return 0, nil
	}
	n, err := q.SalesInsertBatch(ctx, p)
	if err != nil {
		return 0, fmt.Errorf("store %d sales: %w", len(p.CollectionIds), err)
	}
	for _, d := range lags {
		s.opts.Observer.Lag(d)
	}
	return n, nil
}

// invalidSale says why the ledger cannot hold sl ("" when it can).
func invalidSale(sl indexer.Sale) string {
	switch {
	case sl.TxHash == "":
		return "no transaction hash"
	case sl.Token.TokenID == "" || strings.Trim(sl.Token.TokenID, "0123456789") != "":
		return fmt.Sprintf("token id %q is not a decimal number", clip.Text(sl.Token.TokenID, 80))
	case !decimalRE.MatchString(sl.Price.Amount):
		return fmt.Sprintf("amount %q is not a decimal number", clip.Text(sl.Price.Amount, 80))
	case sl.Price.Currency == "" || sl.Price.Decimals < 0 || sl.Price.Decimals > 36:
		return fmt.Sprintf("currency %q with %d decimals", clip.Text(sl.Price.Currency, 40), sl.Price.Decimals)
	case sl.EthPrice != "" && !decimalRE.MatchString(sl.EthPrice):
		return fmt.Sprintf("eth_price %q is not a decimal number", clip.Text(sl.EthPrice, 80))
	case sl.At.IsZero():
		return "no sale time"
	}
	return ""
}

// decimalRE is a non-negative decimal that numeric(78,18) holds.
var decimalRE = regexp.MustCompile(`^[0-9]{1,60}(\.[0-9]{1,18})?$`)
