package stream

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nftsync/nftsync/internal/clip"
	"github.com/nftsync/nftsync/internal/indexer"
	"github.com/nftsync/nftsync/internal/indexer/opensea"
)

// The event types of the Stream API (stream-js src/types.ts EventType).
// item_received_offer is listed there but never emitted, so it is not
// subscribed to; it would pass through like any unknown type.
const (
	EventItemListed          = "item_listed"
	EventItemCancelled       = "item_cancelled"
	EventItemSold            = "item_sold"
	EventItemTransferred     = "item_transferred"
	EventItemMetadataUpdated = "item_metadata_updated"
	EventItemReceivedBid     = "item_received_bid"
	EventCollectionOffer     = "collection_offer"
	EventTraitOffer          = "trait_offer"
	EventOrderInvalidate     = "order_invalidate"
	EventOrderRevalidate     = "order_revalidate"
)

// EventTypes is the full list every topic is joined with, in one join:
// widening a topic's filter later rejoins it and can miss events
// (opensea-js developerDocs/stream-migration.md).
func EventTypes() []string {
	return []string{
		EventItemListed, EventItemCancelled, EventItemSold, EventItemTransferred,
		EventItemMetadataUpdated, EventItemReceivedBid, EventCollectionOffer,
		EventTraitOffer, EventOrderInvalidate, EventOrderRevalidate,
	}
}

// Event is one message of a collection topic: the BaseStreamMessage
// {event_type, version, sent_at, payload} of stream-js src/types.ts.
type Event struct {
	// Type is event_type, e.g. "item_listed"; unknown types are passed on
	// and the consumer ignores them.
	Type string
	// Slug is the collection, from the topic "collection:<slug>".
	Slug string
	// Version orders the states of one entity: a revision counter per order
	// for order events, epoch milliseconds of the source time for item
	// events (item_sold, item_transferred, item_metadata_updated). The two
	// scales must never be compared (stream-js README, "Event Versioning").
	// 0 when the message carried none (servers before stream-js 0.3.0).
	Version int64
	// SentAt is sent_at; zero when absent.
	SentAt time.Time
	// Payload is the event's payload object, undecoded.
	Payload json.RawMessage
}

// accountDTO is Account.
type accountDTO struct {
	Address string `json:"address"`
}

// paymentTokenDTO is PaymentToken. decimals is kept raw to tell absent from 0.
type paymentTokenDTO struct {
	Address  string          `json:"address"`
	Decimals json.RawMessage `json:"decimals"`
	EthPrice json.RawMessage `json:"eth_price"`
	Symbol   string          `json:"symbol"`
}

// itemDTO is BaseItemType.
type itemDTO struct {
	NFTID string `json:"nft_id"`
	Chain *struct {
		Name string `json:"name"`
	} `json:"chain"`
	Metadata *struct {
		MetadataURL *string `json:"metadata_url"`
	} `json:"metadata"`
}

// payloadDTO holds every payload field the typed accessors read; the
// shapes are ItemListedEventPayload, ItemSoldEventPayload,
// ItemCancelledEventPayload, OrderValidationEventPayload,
// ItemTransferredEventPayload and ItemMetadataUpdatePayload of stream-js
// src/types.ts.
type payloadDTO struct {
	Item           *itemDTO         `json:"item"`
	OrderHash      *string          `json:"order_hash"`
	BasePrice      *string          `json:"base_price"`
	SalePrice      *string          `json:"sale_price"`
	PaymentToken   *paymentTokenDTO `json:"payment_token"`
	Quantity       json.RawMessage  `json:"quantity"`
	ListingDate    json.RawMessage  `json:"listing_date"`
	ExpirationDate json.RawMessage  `json:"expiration_date"`
	ClosingDate    json.RawMessage  `json:"closing_date"`
	EventTimestamp json.RawMessage  `json:"event_timestamp"`
	IsPrivate      *bool            `json:"is_private"`
	Maker          *accountDTO      `json:"maker"`
	Taker          *accountDTO      `json:"taker"`
	FromAccount    *accountDTO      `json:"from_account"`
	ToAccount      *accountDTO      `json:"to_account"`
	Transaction    *struct {
		Hash      string          `json:"hash"`
		Timestamp json.RawMessage `json:"timestamp"`
	} `json:"transaction"`
}

func (e Event) decode() (*payloadDTO, error) {
	var p payloadDTO
	if err := json.Unmarshal(e.Payload, &p); err != nil {
		var typ *json.UnmarshalTypeError
		if errors.As(err, &typ) && typ.Field != "" {
			return nil, fmt.Errorf("%s payload: field %s: got JSON %s", e.Type, typ.Field, typ.Value)
		}
		return nil, fmt.Errorf("%s payload: %w", e.Type, err)
	}
	return &p, nil
}

// Listing decodes an item_listed event into a listing whose Version is the
// event's. Price is base_price (a raw integer string for the whole order)
// scaled exactly by payment_token.decimals, in payment_token.symbol;
// EthPrice is payment_token.eth_price as a canonical decimal (empty when
// absent); addresses and the order hash are lower-cased; listing_date and
// expiration_date are ISO 8601 strings (unix seconds are accepted too). The
// error names the first missing or invalid field.
func (e Event) Listing() (indexer.Listing, error) {
	p, err := e.decode()
	if err != nil {
		return indexer.Listing{}, err
	}
	f := fieldErr(e.Type)
	var l indexer.Listing
	if l.OrderHash, err = orderHash(p); err != nil {
		return l, f(err)
	}
	if l.Token, err = token(p); err != nil {
		return l, f(err)
	}
	if p.BasePrice == nil {
		return l, f(errors.New("field base_price: required"))
	}
	if l.Price, l.EthPrice, err = money(*p.BasePrice, "base_price", p.PaymentToken); err != nil {
		return l, f(err)
	}
	if l.Quantity, err = quantity(p.Quantity); err != nil {
		return l, f(err)
	}
	if l.ListedAt, err = parseTime(p.ListingDate, "listing_date"); err != nil {
		return l, f(err)
	}
	if l.ExpiresAt, err = parseTime(p.ExpirationDate, "expiration_date"); err != nil {
		return l, f(err)
	}
	if p.IsPrivate != nil {
		l.Private = *p.IsPrivate
	}
	if p.Maker != nil {
		l.Maker = lowerHex(p.Maker.Address)
	}
	l.Version = e.Version
	return l, nil
}

// Sale decodes an item_sold event. Price is sale_price scaled by
// payment_token.decimals; At is closing_date, else transaction.timestamp,
// else event_timestamp; TxHash is transaction.hash. Seller is the order's
// maker and Buyer its taker, which is right for a filled listing; for an
// accepted offer the maker is the buyer, and the payload does not say
// which kind of order was filled [unverified: listing_type may tell].
func (e Event) Sale() (indexer.Sale, error) {
	p, err := e.decode()
	if err != nil {
		return indexer.Sale{}, err
	}
	f := fieldErr(e.Type)
	var s indexer.Sale
	if s.OrderHash, err = orderHash(p); err != nil {
		return s, f(err)
	}
	if s.Token, err = token(p); err != nil {
		return s, f(err)
	}
	if p.Transaction == nil || p.Transaction.Hash == "" {
		return s, f(errors.New("field transaction.hash: required"))
	}
	s.TxHash = lowerHex(p.Transaction.Hash)
	if p.SalePrice == nil {
		return s, f(errors.New("field sale_price: required"))
	}
	if s.Price, s.EthPrice, err = money(*p.SalePrice, "sale_price", p.PaymentToken); err != nil {
		return s, f(err)
	}
	if s.Quantity, err = quantity(p.Quantity); err != nil {
		return s, f(err)
	}
	for _, c := range []struct {
		raw   json.RawMessage
		field string
	}{{p.ClosingDate, "closing_date"}, {txTimestamp(p), "transaction.timestamp"}, {p.EventTimestamp, "event_timestamp"}} {
		if s.At, err = parseTime(c.raw, c.field); err != nil {
			return s, f(err)
		}
		if !s.At.IsZero() {
			break
		}
	}
	if s.At.IsZero() {
		return s, f(errors.New("field closing_date: required"))
	}
	if p.Maker != nil {
		s.Seller = lowerHex(p.Maker.Address)
	}
	if p.Taker != nil {
		s.Buyer = lowerHex(p.Taker.Address)
	}
	return s, nil
}

// Transfer is an item_transferred event: Token moved From one account To
// another (addresses lower-cased) at At.
type Transfer struct {
	Token    indexer.TokenRef
	From, To string
	At       time.Time
}

// Transfer decodes an item_transferred event. At is event_timestamp, else
// transaction.timestamp (zero when neither is there). The error names the
// first missing or invalid field.
func (e Event) Transfer() (Transfer, error) {
	p, err := e.decode()
	if err != nil {
		return Transfer{}, err
	}
	f := fieldErr(e.Type)
	var t Transfer
	if t.Token, err = token(p); err != nil {
		return t, f(err)
	}
	if p.FromAccount == nil || p.FromAccount.Address == "" {
		return t, f(errors.New("field from_account.address: required"))
	}
	t.From = lowerHex(p.FromAccount.Address)
	if p.ToAccount != nil {
		t.To = lowerHex(p.ToAccount.Address)
	}
	for _, c := range []struct {
		raw   json.RawMessage
		field string
	}{{p.EventTimestamp, "event_timestamp"}, {txTimestamp(p), "transaction.timestamp"}} {
		if t.At, err = parseTime(c.raw, c.field); err != nil {
			return t, f(err)
		}
		if !t.At.IsZero() {
			break
		}
	}
	return t, nil
}

// OrderHash returns the lower-cased order_hash of an order event
// (item_listed, item_cancelled, item_sold, order_invalidate,
// order_revalidate, and the offer events).
func (e Event) OrderHash() (string, error) {
	p, err := e.decode()
	if err != nil {
		return "", err
	}
	h, err := orderHash(p)
	if err != nil {
		return "", fieldErr(e.Type)(err)
	}
	return h, nil
}

// Token returns the event's token from item.nft_id
// "<chain>/<contract>/<identifier>" (contract lower-cased) with
// item.metadata.metadata_url (item_metadata_updated, item_transferred,
// item_listed, item_sold, ...).
func (e Event) Token() (indexer.TokenRef, error) {
	p, err := e.decode()
	if err != nil {
		return indexer.TokenRef{}, err
	}
	ref, err := token(p)
	if err != nil {
		return ref, fieldErr(e.Type)(err)
	}
	return ref, nil
}

func fieldErr(eventType string) func(error) error {
	return func(err error) error { return fmt.Errorf("%s payload: %w", eventType, err) }
}

func orderHash(p *payloadDTO) (string, error) {
	if p.OrderHash == nil || *p.OrderHash == "" {
		return "", errors.New("field order_hash: required")
	}
	return lowerHex(*p.OrderHash), nil
}

func txTimestamp(p *payloadDTO) json.RawMessage {
	if p.Transaction == nil {
		return nil
	}
	return p.Transaction.Timestamp
}

// token parses item.nft_id. The identifier is everything after the second
// slash, a decimal for EVM chains; the chain must agree with item.chain.name
// when both are present.
func token(p *payloadDTO) (indexer.TokenRef, error) {
	if p.Item == nil || p.Item.NFTID == "" {
		return indexer.TokenRef{}, errors.New("field item.nft_id: required")
	}
	ref, err := ParseNFTID(p.Item.NFTID)
	if err != nil {
		return ref, fmt.Errorf("field item.nft_id: %w", err)
	}
	if c := p.Item.Chain; c != nil && c.Name != "" && !strings.EqualFold(c.Name, ref.Chain) {
		return ref, fmt.Errorf("field item.chain.name: %q disagrees with nft_id chain %q", clip.Text(c.Name, 40), ref.Chain)
	}
	if m := p.Item.Metadata; m != nil && m.MetadataURL != nil {
		ref.MetadataURL = *m.MetadataURL
	}
	return ref, nil
}

// ParseNFTID parses the Stream API's nft_id, "<chain>/<contract>/<identifier>"
// (e.g. "ethereum/0x495f…7b5e/7463…8145"). The contract is lower-cased
// when it is 0x hex; an EVM identifier must be decimal digits.
func ParseNFTID(id string) (indexer.TokenRef, error) {
	chain, rest, ok1 := strings.Cut(id, "/")
	contract, ident, ok2 := strings.Cut(rest, "/")
	if !ok1 || !ok2 || chain == "" || contract == "" || ident == "" || strings.Contains(ident, "/") {
		return indexer.TokenRef{}, fmt.Errorf("%q: want <chain>/<contract>/<identifier>", clip.Text(id, 120))
	}
	if strings.HasPrefix(contract, "0x") || strings.HasPrefix(contract, "0X") {
		for i := 0; i < len(ident); i++ {
			if ident[i] < '0' || ident[i] > '9' {
				return indexer.TokenRef{}, fmt.Errorf("%q: identifier is not decimal", clip.Text(id, 120))
			}
		}
	}
	return indexer.TokenRef{Chain: strings.ToLower(chain), Contract: lowerHex(contract), TokenID: ident}, nil
}

// money scales raw by payment_token.decimals and canonicalises eth_price.
func money(raw, field string, pt *paymentTokenDTO) (indexer.Money, string, error) {
	if pt == nil {
		return indexer.Money{}, "", errors.New("field payment_token: required")
	}
	if pt.Symbol == "" {
		return indexer.Money{}, "", errors.New("field payment_token.symbol: required")
	}
	if indexer.JSONKind(pt.Decimals) != "number" {
		return indexer.Money{}, "", fmt.Errorf("field payment_token.decimals: want integer, got %s", indexer.JSONKind(pt.Decimals))
	}
	dec, err := strconv.ParseInt(string(pt.Decimals), 10, 32)
	if err != nil || dec < 0 || dec > opensea.MaxCurrencyDecimals {
		return indexer.Money{}, "", fmt.Errorf("field payment_token.decimals: want 0..%d, got %s", opensea.MaxCurrencyDecimals, clip.Text(string(pt.Decimals), 40))
	}
	amount, err := opensea.ScaleRaw(raw, int32(dec))
	if err != nil {
		return indexer.Money{}, "", fmt.Errorf("field %s: %w", field, err)
	}
	var eth string
	switch indexer.JSONKind(pt.EthPrice) {
	case "absent", "null":
	case "string":
		var s string
		_ = json.Unmarshal(pt.EthPrice, &s)
		if s != "" {
			if eth, err = opensea.CanonicalPrice(s); err != nil {
				return indexer.Money{}, "", fmt.Errorf("field payment_token.eth_price: %w", err)
			}
		}
	case "number":
		if eth, err = opensea.CanonicalPrice(string(pt.EthPrice)); err != nil {
			return indexer.Money{}, "", fmt.Errorf("field payment_token.eth_price: %w", err)
		}
	default:
		return indexer.Money{}, "", fmt.Errorf("field payment_token.eth_price: want string, got %s", indexer.JSONKind(pt.EthPrice))
	}
	return indexer.Money{Amount: amount, Currency: pt.Symbol, Decimals: int32(dec)}, eth, nil
}

// quantity reads a positive integer quantity; absent means 1 (ERC-721).
func quantity(raw json.RawMessage) (int64, error) {
	switch indexer.JSONKind(raw) {
	case "absent", "null":
		return 1, nil
	case "number":
		n, err := strconv.ParseInt(string(raw), 10, 64)
		if err != nil || n < 1 {
			return 0, fmt.Errorf("field quantity: want a positive integer, got %s", clip.Text(string(raw), 40))
		}
		return n, nil
	}
	return 0, fmt.Errorf("field quantity: want integer, got JSON %s", indexer.JSONKind(raw))
}

// parseTime reads a payload time: an ISO 8601 string as the Stream API
// sends ("2022-12-01T16:54:22.000000+00:00", docs example payloads; a
// missing zone means UTC), or unix time as a JSON number or a digit string
// (seconds, or milliseconds when above 1e11, as stream-js's test fixtures
// send sent_at). Absent, null and "" are the zero time.
func parseTime(raw json.RawMessage, field string) (time.Time, error) {
	var s string
	switch indexer.JSONKind(raw) {
	case "absent", "null":
		return time.Time{}, nil
	case "number":
		s = string(raw)
	case "string":
		_ = json.Unmarshal(raw, &s)
	default:
		return time.Time{}, fmt.Errorf("field %s: want a time, got JSON %s", field, indexer.JSONKind(raw))
	}
	if s == "" {
		return time.Time{}, nil
	}
	t, ok := ParseTime(s)
	if !ok {
		return time.Time{}, fmt.Errorf("field %s: not a time: %q", field, clip.Text(s, 60))
	}
	return t, nil
}

// isoLayouts are the ISO 8601 spellings seen in Stream API payloads.
var isoLayouts = []string{ //nolint:gochecknoglobals // read-only table
	time.RFC3339Nano,
	"2006-01-02T15:04:05.999999999",
	"2006-01-02 15:04:05.999999999Z07:00",
	"2006-01-02 15:04:05.999999999",
}

// ParseTime parses a Stream API time string (see parseTime); the result is
// UTC.
func ParseTime(s string) (time.Time, bool) {
	if s != "" && s[0] >= '0' && s[0] <= '9' && !strings.ContainsAny(s, "-:T ") {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n <= 0 {
			return time.Time{}, false
		}
		if n > 1e11 {
			return time.UnixMilli(n).UTC(), true
		}
		return time.Unix(n, 0).UTC(), true
	}
	for _, layout := range isoLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), true
		}
	}
	return time.Time{}, false
}

// lowerHex lower-cases 0x hex (addresses, hashes); anything else is kept.
func lowerHex(s string) string {
	if len(s) > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X') {
		return strings.ToLower(s)
	}
	return s
}
