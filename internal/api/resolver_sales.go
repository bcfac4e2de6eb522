package api

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5/pgtype"
	"github.com/vikstrous/dataloadgen"

	"github.com/nftsync/nftsync/db"
	"github.com/nftsync/nftsync/jobs"
)

// streamLiveTTL is how recent a live stream mark must be for the floor to
// count as live (the planner's and the view's liveness TTL).
const streamLiveTTL = jobs.DefaultStreamLiveTTL

// ledgerWindow is the window the sales ledger serves when it has covered all
// of it: the 1-day volume and sale count.
const ledgerWindow = 24 * time.Hour

// salesAddedBatch bounds the sales one read of the salesAdded subscription
// takes (it reads again until it has them all).
const salesAddedBatch = 200

func (r *resolver) Token() TokenResolver { return r }

// saleKey is one token of one collection.
type saleKey struct {
	collectionID    int64
	contract, token string
}

// newSaleLoader batches the lastSale fields of a page of tokens: one
// statement per collection on the page.
func newSaleLoader(q *db.Queries) *dataloadgen.Loader[saleKey, db.SalesLastForTokensRow] {
	return dataloadgen.NewMappedLoader(func(ctx context.Context, keys []saleKey) (map[saleKey]db.SalesLastForTokensRow, error) {
		byColl := map[int64]*db.SalesLastForTokensParams{}
		var order []int64
		for _, k := range keys {
			p := byColl[k.collectionID]
			if p == nil {
				p = &db.SalesLastForTokensParams{CollectionID: k.collectionID}
				byColl[k.collectionID] = p
				order = append(order, k.collectionID)
			}
			p.Contracts, p.TokenIds = append(p.Contracts, k.contract), append(p.TokenIds, k.token)
		}
		slices.Sort(order)
		out := make(map[saleKey]db.SalesLastForTokensRow, len(keys))
		for _, id := range order {
			rows, err := q.SalesLastForTokens(ctx, *byColl[id])
			if err != nil {
				return out, err
			}
			for _, s := range rows {
				out[saleKey{id, s.Contract, s.TokenID}] = s
			}
		}
		return out, nil
	}, dataloadgen.WithWait(loaderWait))
}

// LastSale is the token's newest sale in the ledger.
func (r *resolver) LastSale(ctx context.Context, obj *Token) (*Sale, error) {
	l := loadersFrom(ctx)
	s, err := l.lastSale.Load(ctx, saleKey{obj.CollectionID, obj.Contract, obj.TokenID})
	if isNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("load last sale: %w", err)
	}
	return saleOf(db.SalesRecentRow(s)), nil
}

// RecentSales are the collection's newest sales.
func (r *resolver) RecentSales(ctx context.Context, obj *Collection, first *int) ([]*Sale, error) {
	n, err := r.pageSize(first, 20)
	if err != nil {
		return nil, err
	}
	rows, err := r.q.SalesRecent(ctx, db.SalesRecentParams{CollectionID: obj.ID, Lim: int32(n)})
	if err != nil {
		return nil, fmt.Errorf("recent sales: %w", err)
	}
	out := make([]*Sale, 0, len(rows))
	for _, s := range rows {
		out = append(out, saleOf(s))
	}
	return out, nil
}

func saleOf(s db.SalesRecentRow) *Sale {
	out := &Sale{TokenID: s.TokenID, Contract: s.Contract, Chain: s.Chain, Amount: s.Amount, Currency: s.Currency,
		Decimals: int(s.Decimals), Quantity: int(s.Quantity), SoldAt: s.SoldAt, Buyer: s.Buyer, Seller: s.Seller,
		TxHash: s.TxHash, OrderHash: s.OrderHash, Source: s.Source}
	if s.EthPrice != "" {
		p := s.EthPrice
		out.EthPrice = &p
	}
	return out
}

// ledgerVolume1d is the collection's 1-day volume from the sales ledger,
// when the ledger has covered the whole day without a gap and every sale of
// the day has a known ETH price; ok is false otherwise (the source's own
// figure stands). The answer depends on the clock (the window slides), so
// it is not cached. covered is the start of the gap-free ledger.
func (r *resolver) ledgerVolume1d(ctx context.Context, obj *Collection, covered pgtype.Timestamptz) (*Volume, bool, error) {
	now := r.now()
	since := now.Add(-ledgerWindow)
	if !covered.Valid || covered.Time.After(since) {
		return nil, false, nil
	}
	uncacheable(ctx)
	tot, err := r.q.SalesWindowTotals(ctx, db.SalesWindowTotalsParams{CollectionID: obj.ID, Since: since})
	if err != nil {
		return nil, false, fmt.Errorf("sales ledger totals: %w", err)
	}
	if tot.Unpriced > 0 {
		return nil, false, nil
	}
	sales := int(tot.Sales)
	return &Volume{Window: "1d", Amount: tot.VolumeEth, Currency: "ETH", Decimals: 18, Sales: &sales,
		Source: jobs.StreamSource(obj.Source), FetchedAt: now.UTC()}, true, nil
}

// SalesAdded sends every sale of the collection stored after the
// subscription started, in the order stored, woken by the hub's SALES
// changes.
func (r subscriptionResolver) SalesAdded(ctx context.Context, slug string) (<-chan *Sale, error) {
	release, err := r.start(ctx)
	if err != nil {
		return nil, err
	}
	c, err := r.collectionBySlug(ctx, slug)
	if err != nil {
		release()
		return nil, err
	}
	// Subscribe before reading where to start, so no sale committed in
	// between is missed.
	sub := r.hub.subscribe(false, []int64{c.ID})
	last, err := r.q.SalesLastID(ctx, c.ID)
	if err != nil {
		r.hub.unsubscribe(sub)
		release()
		return nil, fmt.Errorf("read latest sale: %w", err)
	}
	out := make(chan *Sale, 1)
	go func() {
		defer close(out)
		defer release()
		defer r.hub.unsubscribe(sub)
		for {
			select {
			case <-ctx.Done():
				return
			case <-sub.done:
				return
			case <-sub.wake:
			}
			if !sub.take()[c.ID][DataChangeSales] {
				continue
			}
			for {
				rows, err := r.q.SalesAfterID(ctx, db.SalesAfterIDParams{CollectionID: c.ID, AfterID: last, Lim: salesAddedBatch})
				if err != nil {
					return
				}
				for _, s := range rows {
					last = s.ID
					select {
					case out <- saleOf(db.SalesRecentRow(s)):
					case <-ctx.Done():
						return
					}
				}
				if len(rows) < salesAddedBatch {
					break
				}
			}
		}
	}()
	return out, nil
}
