package indexersim

import (
	"fmt"
	"time"
)

// FloorPoint is a collection's true floor from At on: the cheapest active
// public listing's price per unit in the collection's currency (its
// chain's native one: ETH, or POL on Polygon).
type FloorPoint struct {
	At time.Time
	// Currency is the symbol of Price, the one /stats names in
	// floor_price_symbol (set even when nothing is listed).
	Currency string
	// Price is the floor as an exact canonical decimal in Currency (""
	// when nothing is listed). A listing in another currency (USDC) is
	// converted through its payment token's eth_price and Currency's, and
	// rounded down to 18 decimals, as a consumer's book converts it.
	Price string
	// ETH is Price as a float64 (0 when nothing is listed), in Currency
	// despite its name (which predates other currencies); /stats reports
	// it rounded to four decimals.
	ETH float64
	// OrderHash is the floor listing's order hash ("" when none).
	OrderHash string
}

func (s *Server) floorPoint(c *collection, at int64, l *listing) FloorPoint {
	p := FloorPoint{At: time.UnixMilli(at).UTC(), Currency: c.cur.symbol}
	if l != nil {
		p.Price, p.ETH, p.OrderHash = l.unitPrice(c.cur, s.usdcEth), l.unit, orderHash(l.key)
	}
	return p
}

// FloorAt returns a collection's true floor at t (to the millisecond). It
// is computed in a fresh book, so it neither depends on nor moves the
// served market: the answer is the same in any process with the same seed.
func (s *Server) FloorAt(slug string, t time.Time) (FloorPoint, error) {
	c, ok := s.bySlug[slug]
	if !ok {
		return FloorPoint{}, fmt.Errorf("floor at: unknown collection %q", slug)
	}
	first, _ := c.book.floorHistory(t.UnixMilli(), t.UnixMilli())
	p := s.floorPoint(c, t.UnixMilli(), first)
	return p, nil
}

// FloorChanges returns a collection's true floor over [from, to]: the
// floor at from (At = from), then one point per change of the floor's
// value up to and including to, in time order. The floor changes when a
// cheaper listing is posted or revalidated, or the cheapest is sold,
// cancelled, expires or is invalidated and the next one differs in price.
// It replays the interval in a fresh book (about a millisecond per
// simulated hour per collection at the default market).
func (s *Server) FloorChanges(slug string, from, to time.Time) ([]FloorPoint, error) {
	c, ok := s.bySlug[slug]
	if !ok {
		return nil, fmt.Errorf("floor changes: unknown collection %q", slug)
	}
	if to.Before(from) {
		return nil, fmt.Errorf("floor changes of %s: to %s is before from %s", slug, to, from)
	}
	first, changes := c.book.floorHistory(from.UnixMilli(), to.UnixMilli())
	out := make([]FloorPoint, 0, len(changes)+1)
	out = append(out, s.floorPoint(c, from.UnixMilli(), first))
	for _, ch := range changes {
		out = append(out, s.floorPoint(c, ch.at, ch.l))
	}
	return out, nil
}
