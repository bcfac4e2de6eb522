package opensea

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"

	"github.com/nftsync/nftsync/internal/clip"
	"github.com/nftsync/nftsync/internal/indexer"
)

// statsDTO is CollectionStatsResponse. total is required; intervals is
// optional. Removed fields (average_price, market_cap, *_diff, *_change)
// are not read.
type statsDTO struct {
	Intervals []statsIntervalDTO `json:"intervals"`
	Total     *statsTotalDTO     `json:"total"`
}

// statsTotalDTO holds amounts as raw JSON so they are never floats; see
// moneyAmount. volume, sales and num_owners are required; floor_price and
// floor_price_symbol may be absent or null.
type statsTotalDTO struct {
	FloorPrice       json.RawMessage `json:"floor_price"`
	FloorPriceSymbol string          `json:"floor_price_symbol"`
	NumOwners        *int64          `json:"num_owners"`
	Sales            *int64          `json:"sales"`
	Volume           json.RawMessage `json:"volume"`
}

type statsIntervalDTO struct {
	Interval *string         `json:"interval"`
	Sales    *int64          `json:"sales"`
	Volume   json.RawMessage `json:"volume"`
}

// windowOf maps OpenSea interval names to windows; ok is false for names
// this client does not store.
func windowOf(interval string) (indexer.Window, bool) {
	switch interval {
	case "one_day":
		return indexer.Window1d, true
	case "seven_day":
		return indexer.Window7d, true
	case "thirty_day":
		return indexer.Window30d, true
	}
	return "", false
}

// Stats fetches GET /api/v2/collections/{slug}/stats. Floor is nil when the
// floor is 0, null or absent (see the package doc). Volumes holds 1d, 7d
// and 30d when present, then always "all" from total; unknown intervals are
// ignored. All amounts are canonical decimal strings. SourceAsOf stays zero:
// the endpoint gives no timestamp. Errors are *indexer.Error; a negative,
// non-numeric or out-of-range amount, a missing required field, or a
// duplicate interval is ClassMalformed naming the field.
func (c *Client) Stats(ctx context.Context, slug string) (*indexer.Stats, error) {
	op := "stats " + slug
	if err := checkSlug(op, slug); err != nil {
		return nil, err
	}
	resp, err := c.get(ctx, op, "/api/v2/collections/"+url.PathEscape(slug)+"/stats", nil)
	if err != nil {
		return nil, err
	}
	st, ignored, err := decodeStats(resp.body)
	if err != nil {
		return nil, malformed(op, resp.status, fmt.Errorf("decode stats %s: %w", slug, err))
	}
	for _, name := range ignored {
		c.logger.DebugContext(ctx, "opensea: ignoring unknown stats interval",
			slog.String("op", op), slog.String("interval", name))
	}
	st.FetchedAt = resp.fetchedAt
	return st, nil
}

// decodeStats decodes and validates a stats body. ignored lists the unknown
// interval names that were skipped.
func decodeStats(body []byte) (st *indexer.Stats, ignored []string, err error) {
	var dto statsDTO
	if err := decodeStrict(body, &dto); err != nil {
		return nil, nil, err
	}
	t := dto.Total
	switch {
	case t == nil:
		return nil, nil, errors.New("field total: required")
	case t.Sales == nil:
		return nil, nil, errors.New("field total.sales: required")
	case *t.Sales < 0:
		return nil, nil, fmt.Errorf("field total.sales: negative (%d)", *t.Sales)
	case t.NumOwners == nil:
		return nil, nil, errors.New("field total.num_owners: required")
	case *t.NumOwners < 0:
		return nil, nil, fmt.Errorf("field total.num_owners: negative (%d)", *t.NumOwners)
	}

	// Volumes share the floor's symbol: the spec names no other currency.
	currency := indexer.Money{Currency: t.FloorPriceSymbol}
	if t.FloorPriceSymbol != "" {
		currency.Decimals = currencyDecimals(t.FloorPriceSymbol)
	}
	st = &indexer.Stats{Owners: *t.NumOwners, Sales: *t.Sales}

	floor, err := moneyAmount(t.FloorPrice, "total.floor_price", false)
	if err != nil {
		return nil, nil, err
	}
	if floor != "" && floor != "0" {
		if t.FloorPriceSymbol == "" {
			return nil, nil, fmt.Errorf("field total.floor_price_symbol: required for non-zero floor %s", floor)
		}
		m := currency
		m.Amount = floor
		st.Floor = &m
	}

	byWindow := make(map[indexer.Window]indexer.Volume, 4)
	for i, iv := range dto.Intervals {
		if iv.Interval == nil {
			return nil, nil, fmt.Errorf("field intervals[%d].interval: required", i)
		}
		w, ok := windowOf(*iv.Interval)
		if !ok {
			ignored = append(ignored, *iv.Interval)
			continue
		}
		field := fmt.Sprintf("intervals[%d] (%s)", i, *iv.Interval)
		if _, dup := byWindow[w]; dup {
			return nil, nil, fmt.Errorf("field %s: duplicate interval", field)
		}
		v, err := volume(w, iv.Volume, iv.Sales, currency, field)
		if err != nil {
			return nil, nil, err
		}
		byWindow[w] = v
	}
	all, err := volume(indexer.WindowAll, t.Volume, t.Sales, currency, "total")
	if err != nil {
		return nil, nil, err
	}
	for _, w := range []indexer.Window{indexer.Window1d, indexer.Window7d, indexer.Window30d} {
		if v, ok := byWindow[w]; ok {
			st.Volumes = append(st.Volumes, v)
		}
	}
	st.Volumes = append(st.Volumes, all)
	return st, ignored, nil
}

// volume builds one Volume; field names the JSON object for errors.
func volume(w indexer.Window, rawVolume json.RawMessage, sales *int64, currency indexer.Money, field string) (indexer.Volume, error) {
	amount, err := moneyAmount(rawVolume, field+".volume", true)
	if err != nil {
		return indexer.Volume{}, err
	}
	if sales == nil {
		return indexer.Volume{}, fmt.Errorf("field %s.sales: required", field)
	}
	if *sales < 0 {
		return indexer.Volume{}, fmt.Errorf("field %s.sales: negative (%d)", field, *sales)
	}
	m := currency
	m.Amount = amount
	return indexer.Volume{Window: w, Amount: m, Sales: *sales}, nil
}

// moneyAmount validates a raw JSON amount and returns it as a canonical
// decimal string. It must be a JSON number (a numeric string is rejected:
// the spec says double, and a quoted amount hints at a different API
// shape), finite by construction, non-negative and within indexer.MaxDecimalDigits.
// Absent or null returns "" when !required, else an error.
func moneyAmount(raw json.RawMessage, field string, required bool) (string, error) {
	switch kind := rawKind(raw); kind {
	case "number":
		s, err := indexer.CanonicalDecimal(string(raw), false)
		if err != nil {
			return "", fmt.Errorf("field %s: invalid amount %w", field, err)
		}
		return s, nil
	case "absent", "null":
		if required {
			return "", fmt.Errorf("field %s: required", field)
		}
		return "", nil
	default:
		return "", fmt.Errorf("field %s: want number, got JSON %s %s", field, kind, clip.Text(string(raw), 40))
	}
}
