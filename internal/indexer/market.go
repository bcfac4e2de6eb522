package indexer

import (
	"context"
	"time"
)

// Listing is one active sell order of a token, as OpenSea's best-listings
// endpoint and its Stream API's item_listed event describe it.
type Listing struct {
	// OrderHash identifies the order across events (lower-cased 0x hex).
	OrderHash string
	// Version orders the states of one order: a later state has a higher
	// version (the stream event's version; 0 for a REST answer, which is
	// the state at FetchedAt).
	Version int64
	// Token is the listed token.
	Token TokenRef
	// Price is the price of the whole order (base_price scaled by the
	// payment token's decimals) in its payment currency.
	Price Money
	// EthPrice is the price of one unit of Price.Currency in ETH as a
	// canonical decimal ("1" for ETH and WETH); empty when unknown. It is
	// how listings in different currencies are compared.
	EthPrice string
	// Quantity is the number of units on sale (1 for ERC-721).
	Quantity int64
	// ListedAt and ExpiresAt bound the order's life; ExpiresAt is zero
	// when the order does not expire.
	ListedAt  time.Time
	ExpiresAt time.Time
	// Private listings are reserved for one buyer and never make a floor.
	Private bool
	// Maker is the seller's lower-cased 0x address.
	Maker string
}

// Sale is one sale of a token, from the stream's item_sold event or the
// events endpoint's sale events.
type Sale struct {
	// TxHash and OrderHash identify the sale (both lower-cased 0x hex);
	// one transaction may fill several orders.
	TxHash    string
	OrderHash string
	Token     TokenRef
	// Price is the total paid, in its payment currency.
	Price    Money
	EthPrice string
	Quantity int64
	// At is the sale's time (closing_date / the transaction's timestamp).
	At     time.Time
	Buyer  string
	Seller string
}

// SalePage is one page of a collection's sales, newest first.
type SalePage struct {
	Sales []Sale
	// Next is the cursor of the following (older) page; empty on the last.
	Next string
}

// MarketSource reads a collection's order book and sales over REST. The
// stream consumer calls it to bootstrap and refill a collection's book and
// to backfill sales missed while its stream was down. Errors are *Error
// values as for Indexer.
type MarketSource interface {
	// BestListings returns up to limit of the collection's cheapest active
	// listings, cheapest first (OpenSea's
	// GET /api/v2/listings/collection/{slug}/best).
	BestListings(ctx context.Context, slug string, limit int) ([]Listing, error)
	// Sales returns the collection's sales after the given time, newest
	// first, one page per call (OpenSea's
	// GET /api/v2/events/collection/{slug}?event_type=sale&after=).
	Sales(ctx context.Context, slug string, after time.Time, cursor string) (*SalePage, error)
}
