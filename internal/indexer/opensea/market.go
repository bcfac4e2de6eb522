package opensea

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strconv"
	"time"

	"github.com/nftsync/nftsync/internal/clip"
	"github.com/nftsync/nftsync/internal/indexer"
)

// The market endpoints: a collection's cheapest listings and its sales.
// Shapes from ProjectOpenSea/api-types opensea-api.json v0.8.5:
//
//	GET /api/v2/listings/collection/{slug}/best?limit=1..200 (get_best_listings_collection)
//	  → ListingsResponse {listings: [Listing], next?}
//	  Listing {order_hash, chain, price {current {currency, decimals, value}},
//	           remaining_quantity, status, type, asset? {identifier?, contract},
//	           protocol_data? {parameters {offerer, startTime, endTime, ...}}, order_created_at?}
//	  "sorted by price ascending"; "results are not deduplicated by token ID";
//	  private listings only with include_private_listings=true (default false).
//
//	GET /api/v2/events/collection/{slug}?event_type=sale&after=&limit=&next= (list_events_by_collection)
//	  → AssetEventsResponse {asset_events: [OrderEvent | SaleEvent | TransferEvent], next?}
//	  SaleEvent {event_type "sale", event_timestamp, transaction, order_hash?, chain,
//	             payment {quantity, token_address, decimals, symbol}, closing_date,
//	             seller, buyer, quantity, nft {identifier, contract, metadata_url, ...}}
//	  after/before are unix seconds.
//
// price.current.value and payment.quantity are raw integer strings in the
// currency's smallest unit (opensea-js formats them with decimals the same
// way); they are scaled exactly with ScaleRaw. Neither endpoint gives an
// ETH quote, so EthPrice is "1" for ETH/WETH and empty otherwise. Whether
// price.current.value of a partly filled multi-unit listing covers the
// remaining or the original quantity is not stated anywhere [unverified];
// Quantity is remaining_quantity.

// MaxBestListings is the largest limit the best-listings endpoint accepts.
const MaxBestListings = 200

// listingsDTO is ListingsResponse; listings is required.
type listingsDTO struct {
	Listings *[]listingDTO `json:"listings"`
	Next     *string       `json:"next"`
}

// listingDTO is the part of Listing the client reads.
type listingDTO struct {
	OrderHash         *string          `json:"order_hash"`
	Chain             *string          `json:"chain"`
	Price             *listingPriceDTO `json:"price"`
	RemainingQuantity *int64           `json:"remaining_quantity"`
	Status            string           `json:"status"`
	Asset             *orderAssetDTO   `json:"asset"`
	ProtocolData      *protocolDataDTO `json:"protocol_data"`
	OrderCreatedAt    *int64           `json:"order_created_at"`
}

type listingPriceDTO struct {
	Current *priceDTO `json:"current"`
}

// priceDTO is Price: currency is a symbol, value a raw integer string.
type priceDTO struct {
	Currency *string `json:"currency"`
	Decimals *int32  `json:"decimals"`
	Value    *string `json:"value"`
}

type orderAssetDTO struct {
	Identifier *string `json:"identifier"`
	Contract   *string `json:"contract"`
}

type protocolDataDTO struct {
	Parameters *struct {
		Offerer   string `json:"offerer"`
		StartTime string `json:"startTime"`
		EndTime   string `json:"endTime"`
	} `json:"parameters"`
}

// BestListings implements indexer.MarketSource with one call of GET
// /api/v2/listings/collection/{slug}/best?limit=limit: up to limit of the
// collection's cheapest active public listings, cheapest first, in the
// order the API sorted them. limit must be 1..MaxBestListings
// (ClassPermanent otherwise, without a call). Listings whose status is
// present and not ACTIVE are left out. Version is 0 (a REST answer is the
// state at the time of the call).
//
// A listing that cannot be used (missing order_hash, price, asset contract
// or identifier, a price that is not a raw integer, decimals out of range,
// remaining_quantity below 1, unparseable times) fails the whole call as
// ClassMalformed naming listings[i] and the field: a book bootstrapped from
// a partial answer would have a wrong floor.
func (c *Client) BestListings(ctx context.Context, slug string, limit int) ([]indexer.Listing, error) {
	op := "best listings " + slug
	if err := checkSlug(op, slug); err != nil {
		return nil, err
	}
	if limit < 1 || limit > MaxBestListings {
		return nil, &indexer.Error{Class: indexer.ClassPermanent, Op: op, Err: fmt.Errorf("limit must be 1..%d, got %d", MaxBestListings, limit)}
	}
	q := url.Values{"limit": {strconv.Itoa(limit)}}
	resp, err := c.get(ctx, op, "/api/v2/listings/collection/"+url.PathEscape(slug)+"/best", q)
	if err != nil {
		return nil, err
	}
	ls, err := decodeBestListings(resp.body)
	if err != nil {
		return nil, malformed(op, resp.status, fmt.Errorf("decode best listings %s: %w", slug, err))
	}
	return ls, nil
}

func decodeBestListings(body []byte) ([]indexer.Listing, error) {
	var dto listingsDTO
	if err := decodeStrict(body, &dto); err != nil {
		return nil, err
	}
	if dto.Listings == nil {
		return nil, errors.New("field listings: required")
	}
	out := make([]indexer.Listing, 0, len(*dto.Listings))
	for i, l := range *dto.Listings {
		if l.Status != "" && l.Status != "ACTIVE" {
			continue
		}
		li, err := decodeListing(l)
		if err != nil {
			return nil, fmt.Errorf("listings[%d]: %w", i, err)
		}
		out = append(out, li)
	}
	return out, nil
}

func decodeListing(l listingDTO) (indexer.Listing, error) {
	var li indexer.Listing
	switch {
	case l.OrderHash == nil || *l.OrderHash == "":
		return li, errors.New("field order_hash: required")
	case l.Chain == nil || *l.Chain == "":
		return li, errors.New("field chain: required")
	case l.Price == nil || l.Price.Current == nil:
		return li, errors.New("field price.current: required")
	case l.RemainingQuantity == nil:
		return li, errors.New("field remaining_quantity: required")
	case *l.RemainingQuantity < 1:
		return li, fmt.Errorf("field remaining_quantity: want at least 1, got %d", *l.RemainingQuantity)
	case l.Asset == nil || l.Asset.Contract == nil || *l.Asset.Contract == "":
		return li, errors.New("field asset.contract: required")
	case l.Asset.Identifier == nil || *l.Asset.Identifier == "":
		return li, errors.New("field asset.identifier: required")
	}
	price, err := restPrice(l.Price.Current, "price.current")
	if err != nil {
		return li, err
	}
	li = indexer.Listing{
		OrderHash: normalizeAddress(*l.OrderHash),
		Token:     indexer.TokenRef{Chain: *l.Chain, Contract: normalizeAddress(*l.Asset.Contract), TokenID: *l.Asset.Identifier},
		Price:     price,
		EthPrice:  EthPriceOf(price.Currency),
		Quantity:  *l.RemainingQuantity,
	}
	if p := l.ProtocolData; p != nil && p.Parameters != nil {
		li.Maker = normalizeAddress(p.Parameters.Offerer)
		if li.ListedAt, err = unixString(p.Parameters.StartTime, "protocol_data.parameters.startTime"); err != nil {
			return li, err
		}
		if li.ExpiresAt, err = unixString(p.Parameters.EndTime, "protocol_data.parameters.endTime"); err != nil {
			return li, err
		}
	}
	if li.ListedAt.IsZero() && l.OrderCreatedAt != nil && *l.OrderCreatedAt > 0 {
		li.ListedAt = time.Unix(*l.OrderCreatedAt, 0).UTC()
	}
	return li, nil
}

// restPrice scales a Price {currency, decimals, value}.
func restPrice(p *priceDTO, field string) (indexer.Money, error) {
	switch {
	case p.Currency == nil || *p.Currency == "":
		return indexer.Money{}, fmt.Errorf("field %s.currency: required", field)
	case p.Decimals == nil:
		return indexer.Money{}, fmt.Errorf("field %s.decimals: required", field)
	case p.Value == nil:
		return indexer.Money{}, fmt.Errorf("field %s.value: required", field)
	}
	amount, err := ScaleRaw(*p.Value, *p.Decimals)
	if err != nil {
		return indexer.Money{}, fmt.Errorf("field %s: %w", field, err)
	}
	return indexer.Money{Amount: amount, Currency: *p.Currency, Decimals: *p.Decimals}, nil
}

// unixString parses Seaport's startTime/endTime: unix seconds as a decimal
// string. "" is the zero time. An endTime at or beyond year 9999 (Seaport
// orders without expiry use a huge value) is the zero time too, meaning "no
// expiry".
func unixString(s, field string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		if errors.Is(err, strconv.ErrRange) {
			return time.Time{}, nil
		}
		return time.Time{}, fmt.Errorf("field %s: want unix seconds, got %q", field, clip.Text(s, 40))
	}
	if n >= maxUnixSeconds {
		return time.Time{}, nil
	}
	return time.Unix(int64(n), 0).UTC(), nil
}

// maxUnixSeconds is 9999-01-01T00:00:00Z.
const maxUnixSeconds = 253370764800

// eventsDTO is AssetEventsResponse; asset_events is required.
type eventsDTO struct {
	AssetEvents *[]saleEventDTO `json:"asset_events"`
	Next        *string         `json:"next"`
}

// saleEventDTO reads the SaleEvent fields; other event kinds share
// event_type and are skipped by it.
type saleEventDTO struct {
	EventType      *string     `json:"event_type"`
	EventTimestamp *int64      `json:"event_timestamp"`
	Transaction    *string     `json:"transaction"`
	OrderHash      *string     `json:"order_hash"`
	Chain          *string     `json:"chain"`
	Payment        *paymentDTO `json:"payment"`
	ClosingDate    *int64      `json:"closing_date"`
	Seller         *string     `json:"seller"`
	Buyer          *string     `json:"buyer"`
	Quantity       *int64      `json:"quantity"`
	NFT            *struct {
		Identifier  *string `json:"identifier"`
		Contract    *string `json:"contract"`
		MetadataURL string  `json:"metadata_url"`
	} `json:"nft"`
}

// paymentDTO is Payment: quantity is the raw amount paid.
type paymentDTO struct {
	Quantity     *string `json:"quantity"`
	TokenAddress string  `json:"token_address"`
	Decimals     *int32  `json:"decimals"`
	Symbol       *string `json:"symbol"`
}

// Sales implements indexer.MarketSource with one page of GET
// /api/v2/events/collection/{slug}?event_type=sale&after=<unix seconds>
// &limit=Options.PageSize[&next=cursor]: the collection's sales after the
// given time (after omitted when zero), newest first as the API orders
// them. Next is "" on the last page; a next equal to the request's cursor
// is malformed, since following it would loop forever. Events of another
// type in the answer are ignored.
//
// At is closing_date (unix seconds; event_timestamp when closing_date is
// 0). Seller and Buyer are the event's seller and buyer. A sale that cannot
// be used (missing transaction, payment, nft contract or identifier, a
// payment quantity that is not a raw integer, a quantity below 1) fails the
// page as ClassMalformed naming asset_events[i] and the field, so a gap in
// the ledger is never mistaken for a complete page.
func (c *Client) Sales(ctx context.Context, slug string, after time.Time, cursor string) (*indexer.SalePage, error) {
	op := "sales " + slug
	if err := checkSlug(op, slug); err != nil {
		return nil, err
	}
	q := url.Values{"event_type": {"sale"}, "limit": {strconv.Itoa(c.pageSize)}}
	if !after.IsZero() {
		q.Set("after", strconv.FormatInt(after.Unix(), 10))
	}
	if cursor != "" {
		q.Set("next", cursor)
	}
	resp, err := c.get(ctx, op, "/api/v2/events/collection/"+url.PathEscape(slug), q)
	if err != nil {
		return nil, err
	}
	page, ignored, err := decodeSales(resp.body, cursor)
	if err != nil {
		return nil, malformed(op, resp.status, fmt.Errorf("decode sales %s: %w", slug, err))
	}
	if ignored > 0 {
		c.logger.DebugContext(ctx, "opensea: ignoring events of other types in a sales page",
			slog.String("op", op), slog.Int("ignored", ignored))
	}
	return page, nil
}

func decodeSales(body []byte, cursor string) (page *indexer.SalePage, ignored int, err error) {
	var dto eventsDTO
	if err := decodeStrict(body, &dto); err != nil {
		return nil, 0, err
	}
	if dto.AssetEvents == nil {
		return nil, 0, errors.New("field asset_events: required")
	}
	page = &indexer.SalePage{Sales: make([]indexer.Sale, 0, len(*dto.AssetEvents))}
	for i, ev := range *dto.AssetEvents {
		if ev.EventType == nil {
			return nil, 0, fmt.Errorf("asset_events[%d]: field event_type: required", i)
		}
		if *ev.EventType != "sale" {
			ignored++
			continue
		}
		s, err := decodeSale(ev)
		if err != nil {
			return nil, 0, fmt.Errorf("asset_events[%d]: %w", i, err)
		}
		page.Sales = append(page.Sales, s)
	}
	if dto.Next != nil {
		if cursor != "" && *dto.Next == cursor {
			return nil, 0, fmt.Errorf("field next: repeats the request's cursor %q", clip.Text(cursor, 40))
		}
		page.Next = *dto.Next
	}
	return page, ignored, nil
}

func decodeSale(ev saleEventDTO) (indexer.Sale, error) {
	var s indexer.Sale
	switch {
	case ev.Transaction == nil || *ev.Transaction == "":
		return s, errors.New("field transaction: required")
	case ev.Chain == nil || *ev.Chain == "":
		return s, errors.New("field chain: required")
	case ev.Payment == nil:
		return s, errors.New("field payment: required")
	case ev.Payment.Symbol == nil || *ev.Payment.Symbol == "":
		return s, errors.New("field payment.symbol: required")
	case ev.Payment.Decimals == nil:
		return s, errors.New("field payment.decimals: required")
	case ev.Payment.Quantity == nil:
		return s, errors.New("field payment.quantity: required")
	case ev.Quantity == nil:
		return s, errors.New("field quantity: required")
	case *ev.Quantity < 1:
		return s, fmt.Errorf("field quantity: want at least 1, got %d", *ev.Quantity)
	case ev.NFT == nil || ev.NFT.Contract == nil || *ev.NFT.Contract == "":
		return s, errors.New("field nft.contract: required")
	case ev.NFT.Identifier == nil || *ev.NFT.Identifier == "":
		return s, errors.New("field nft.identifier: required")
	case ev.Seller == nil:
		return s, errors.New("field seller: required")
	case ev.Buyer == nil:
		return s, errors.New("field buyer: required")
	}
	amount, err := ScaleRaw(*ev.Payment.Quantity, *ev.Payment.Decimals)
	if err != nil {
		return s, fmt.Errorf("field payment.quantity: %w", err)
	}
	var at int64
	switch {
	case ev.ClosingDate != nil && *ev.ClosingDate > 0:
		at = *ev.ClosingDate
	case ev.EventTimestamp != nil && *ev.EventTimestamp > 0:
		at = *ev.EventTimestamp
	default:
		return s, errors.New("field closing_date: required")
	}
	if at >= maxUnixSeconds {
		return s, fmt.Errorf("field closing_date: out of range (%d)", at)
	}
	s = indexer.Sale{
		TxHash:   normalizeAddress(*ev.Transaction),
		Token:    indexer.TokenRef{Chain: *ev.Chain, Contract: normalizeAddress(*ev.NFT.Contract), TokenID: *ev.NFT.Identifier, MetadataURL: ev.NFT.MetadataURL},
		Price:    indexer.Money{Amount: amount, Currency: *ev.Payment.Symbol, Decimals: *ev.Payment.Decimals},
		EthPrice: EthPriceOf(*ev.Payment.Symbol),
		Quantity: *ev.Quantity,
		At:       time.Unix(at, 0).UTC(),
		Buyer:    normalizeAddress(*ev.Buyer),
		Seller:   normalizeAddress(*ev.Seller),
	}
	if ev.OrderHash != nil {
		s.OrderHash = normalizeAddress(*ev.OrderHash)
	}
	return s, nil
}

var _ indexer.MarketSource = (*Client)(nil)
