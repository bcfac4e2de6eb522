package api

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/nftsync/nftsync/db"
)

func (r *resolver) Subscription() SubscriptionResolver { return subscriptionResolver{r} }

type subscriptionResolver struct{ *resolver }

// readyWait bounds how long a new subscription waits for the hub to listen.
const readyWait = 5 * time.Second

// start takes a subscription slot of the connection and waits until changes
// are being received; the returned release gives the slot back.
func (r subscriptionResolver) start(ctx context.Context) (func(), error) {
	release, err := takeSubscriptionSlot(ctx)
	if err != nil {
		return nil, err
	}
	wctx, cancel := context.WithTimeout(ctx, readyWait)
	defer cancel()
	if err := r.hub.waitReady(wctx); err != nil {
		release()
		return nil, publicError(codeUnavailable, err.Error())
	}
	return release, nil
}

func (r subscriptionResolver) CollectionUpdated(ctx context.Context, slug string) (<-chan *CollectionUpdate, error) {
	release, err := r.start(ctx)
	if err != nil {
		return nil, err
	}
	c, err := r.collectionBySlug(ctx, slug)
	if err != nil {
		release()
		return nil, err
	}
	sub := r.hub.subscribe(false, []int64{c.ID})
	out := make(chan *CollectionUpdate, 1)
	go func() {
		defer close(out)
		defer release()
		defer r.hub.unsubscribe(sub)
		send := func(changed []DataChange) bool {
			// Read the collection again: status and priority are served too.
			cur, err := r.q.APICollectionBySlug(ctx, slug)
			if err != nil {
				return false // untracked (or the database went away): the subscription ends
			}
			upd := &CollectionUpdate{Collection: &Collection{Collection: cur, ld: newLoaders(r.q)}, Changed: changed, At: r.now().UTC()}
			select {
			case out <- upd:
				return true
			case <-ctx.Done():
				return false
			}
		}
		if !send([]DataChange{}) {
			return
		}
		for {
			select {
			case <-ctx.Done():
				return
			case <-sub.done:
				return
			case <-sub.wake:
			}
			if kinds := sortedKinds(sub.take()[c.ID]); len(kinds) > 0 && !send(kinds) {
				return
			}
		}
	}()
	return out, nil
}

func (r subscriptionResolver) FloorChanged(ctx context.Context, slugs []string) (<-chan *FloorChange, error) {
	release, err := r.start(ctx)
	if err != nil {
		return nil, err
	}
	slugOf := map[int64]string{}
	var ids []int64
	for _, slug := range slugs {
		c, err := r.collectionBySlug(ctx, slug)
		if err != nil {
			release()
			return nil, err
		}
		slugOf[c.ID] = c.Slug
		ids = append(ids, c.ID)
	}
	sub := r.hub.subscribe(slugs == nil, ids)
	out := make(chan *FloorChange, 1)
	go func() {
		defer close(out)
		defer release()
		defer r.hub.unsubscribe(sub)
		last := map[int64]string{} // amount and currency last sent
		if slugs == nil {
			// Every collection: start from the floors as they are, so that
			// only changes are sent.
			rows, err := r.q.APIFloorKeysAll(ctx)
			if err != nil {
				return
			}
			for _, f := range rows {
				last[f.CollectionID] = floorKey(f.Amount, f.Currency)
			}
		}
		send := func(ids []int64, first bool) bool {
			changes, err := r.floorChanges(ctx, ids, slugOf, last, first)
			if err != nil {
				return false
			}
			for _, fc := range changes {
				select {
				case out <- fc:
				case <-ctx.Done():
					return false
				}
			}
			return true
		}
		if !send(ids, true) {
			return
		}
		for {
			select {
			case <-ctx.Done():
				return
			case <-sub.done:
				return
			case <-sub.wake:
			}
			var changed []int64
			for id, kinds := range sub.take() {
				if kinds[DataChangeFloor] {
					changed = append(changed, id)
				}
			}
			slices.Sort(changed)
			if len(changed) > 0 && !send(changed, false) {
				return
			}
		}
	}()
	return out, nil
}

// floorChanges reads the floors of ids and returns those that differ from
// last (every one when first), updating last.
func (r subscriptionResolver) floorChanges(ctx context.Context, ids []int64, slugOf map[int64]string, last map[int64]string, first bool) ([]*FloorChange, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	rows, err := r.q.APIFloorByCollections(ctx, ids)
	if err != nil {
		return nil, fmt.Errorf("read floors: %w", err)
	}
	floors := map[int64]db.APIFloorByCollectionsRow{}
	for _, f := range rows {
		floors[f.CollectionID] = f
	}
	var out []*FloorChange
	for _, id := range ids {
		f, ok := floors[id]
		key := ""
		var p *Price
		if ok && f.Amount != "" {
			key = floorKey(f.Amount, f.Currency)
			p = &Price{Amount: f.Amount, Currency: f.Currency, Decimals: int(f.Decimals), Source: f.Source, FetchedAt: f.FetchedAt}
			if f.SourceAsOf.Valid {
				p.SourceAsOf = &f.SourceAsOf.Time
			}
		}
		if prev, seen := last[id]; !first && seen && prev == key {
			continue
		}
		last[id] = key
		slug, ok := slugOf[id]
		if !ok {
			c, err := r.q.CollectionGetByID(ctx, id)
			if errors.Is(db.Interpret(err), db.ErrNotFound) {
				continue
			}
			if err != nil {
				return nil, fmt.Errorf("look up collection %d: %w", id, err)
			}
			slug = c.Slug
			slugOf[id] = slug
		}
		out = append(out, &FloorChange{Slug: slug, Floor: p, At: r.now().UTC()})
	}
	return out, nil
}

// floorKey identifies a floor value for change detection ("" when none).
func floorKey(amount, currency string) string {
	if amount == "" {
		return ""
	}
	return amount + " " + currency
}

func sortedKinds(set map[DataChange]bool) []DataChange {
	out := make([]DataChange, 0, len(set))
	for _, k := range AllDataChange {
		if set[k] {
			out = append(out, k)
		}
	}
	return out
}
