package indexersim

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The order book over REST: GET /api/v2/listings/collection/{slug}/best and
// GET /api/v2/events/collection/{slug}?event_type=sale, shaped after the
// OpenSea API spec (ProjectOpenSea/api-types opensea-api.json v0.8.5:
// operations get_best_listings_collection and list_events_by_collection,
// schemas ListingsResponse, Listing, ListingPrice, Price, OrderAsset,
// ProtocolData, AssetEventsResponse, SaleEvent, Payment). Excerpts are in
// testdata/opensea-market-spec.json.

// Page sizes of the best-listings and events endpoints. The spec bounds
// limit to 1..200 (MaxPageLimit) and gives 20 as its example; the defaults
// are not stated [unverified].
const (
	DefaultListingsLimit = 100
	DefaultEventsLimit   = 50
)

// Seaport 1.6, the protocol of OpenSea's orders, OpenSea's conduit key and
// its fee recipient, as they appear in real orders' protocol_data.
const (
	seaportAddress = "0x0000000000000068f116a894984e2db1123eb395"
	conduitKey     = "0x0000007b02230091a7ed01230072f7006a004d60a8d4e71d599b8104250f0000"
	feeRecipient   = "0x0000a26b00c1f0df003000390027140000faa719"
	zeroHash       = "0x0000000000000000000000000000000000000000000000000000000000000000"
)

// wirePrice is Price: value is an integer string in the currency's
// smallest unit.
type wirePrice struct {
	Currency string `json:"currency"`
	Decimals int    `json:"decimals"`
	Value    string `json:"value"`
}

type wireListingPrice struct {
	Current wirePrice `json:"current"`
}

type wireOrderAsset struct {
	Identifier string `json:"identifier"`
	Contract   string `json:"contract"`
}

// wireOfferItem is Item / ConsiderationItem of Seaport's order parameters.
type wireOfferItem struct {
	ItemType             int    `json:"itemType"`
	Token                string `json:"token"`
	IdentifierOrCriteria string `json:"identifierOrCriteria"`
	StartAmount          string `json:"startAmount"`
	EndAmount            string `json:"endAmount"`
	Recipient            string `json:"recipient,omitempty"`
}

type wireParameters struct {
	Offerer                         string          `json:"offerer"`
	Offer                           []wireOfferItem `json:"offer"`
	Consideration                   []wireOfferItem `json:"consideration"`
	StartTime                       string          `json:"startTime"`
	EndTime                         string          `json:"endTime"`
	OrderType                       int             `json:"orderType"`
	Zone                            string          `json:"zone"`
	ZoneHash                        string          `json:"zoneHash"`
	Salt                            string          `json:"salt"`
	ConduitKey                      string          `json:"conduitKey"`
	TotalOriginalConsiderationItems int             `json:"totalOriginalConsiderationItems"`
	Counter                         int             `json:"counter"`
}

type wireProtocolData struct {
	Parameters wireParameters `json:"parameters"`
	Signature  *string        `json:"signature"`
}

// wireListing is Listing.
type wireListing struct {
	OrderHash         string           `json:"order_hash"`
	Chain             string           `json:"chain"`
	Type              string           `json:"type"`
	Price             wireListingPrice `json:"price"`
	ProtocolData      wireProtocolData `json:"protocol_data"`
	ProtocolAddress   string           `json:"protocol_address"`
	Asset             wireOrderAsset   `json:"asset"`
	RemainingQuantity int64            `json:"remaining_quantity"`
	OrderCreatedAt    int64            `json:"order_created_at"`
	Status            string           `json:"status"`
}

// wireListings is ListingsResponse; Next is absent on the last page.
type wireListings struct {
	Listings []wireListing `json:"listings"`
	Next     string        `json:"next,omitempty"`
}

// wirePayment is Payment: quantity is the amount paid in the token's
// smallest unit.
type wirePayment struct {
	Quantity     string `json:"quantity"`
	TokenAddress string `json:"token_address"`
	Decimals     int    `json:"decimals"`
	Symbol       string `json:"symbol"`
}

// wireSaleEvent is SaleEvent; times are Unix seconds.
type wireSaleEvent struct {
	EventType       string      `json:"event_type"`
	EventTimestamp  int64       `json:"event_timestamp"`
	Transaction     string      `json:"transaction"`
	OrderHash       string      `json:"order_hash"`
	ProtocolAddress string      `json:"protocol_address"`
	Chain           string      `json:"chain"`
	Payment         wirePayment `json:"payment"`
	ClosingDate     int64       `json:"closing_date"`
	Seller          string      `json:"seller"`
	Buyer           string      `json:"buyer"`
	Quantity        int64       `json:"quantity"`
	NFT             wireNFT     `json:"nft"`
}

// wireEvents is AssetEventsResponse; Next is absent on the last page.
type wireEvents struct {
	AssetEvents []wireSaleEvent `json:"asset_events"`
	Next        string          `json:"next,omitempty"`
}

// sortListings orders listings cheapest first per unit in ETH (ties by
// order), as the best-listings endpoint sorts them ("sorted by price
// ascending").
func sortListings(ls []*listing) {
	slices.SortFunc(ls, func(a, b *listing) int {
		switch {
		case a == b:
			return 0
		case cheaper(a, b):
			return -1
		default:
			return 1
		}
	})
}

// serveBestListings answers GET /api/v2/listings/collection/{slug}/best
// with the active listings at the request's time, cheapest first per unit
// in ETH (not deduplicated by token, as the spec says), public ones only
// unless include_private_listings=true. next pages through the same
// ordering by position; the book may change between pages.
func (s *Server) serveBestListings(r *http.Request, now time.Time) (int, any) {
	c, q, fail := s.collectionQuery(r)
	if fail != nil {
		return fail.status, fail.body
	}
	limit, ok := parseLimit(q, DefaultListingsLimit)
	if !ok {
		return badRequest("limit must be an integer between 1 and 200")
	}
	if q.Has("traits") {
		return badRequest("the simulator does not support the traits filter")
	}
	private := false
	if v := q.Get("include_private_listings"); v != "" {
		var err error
		if private, err = strconv.ParseBool(v); err != nil {
			return badRequest("include_private_listings must be true or false")
		}
	}
	start := 0
	if v := q.Get("next"); v != "" {
		n, ok := decodeOffset(v)
		if !ok {
			return badRequest("invalid cursor")
		}
		start = n
	}
	ls := c.book.listings(now, private)
	start = min(start, len(ls))
	end := min(start+limit, len(ls))
	out := wireListings{Listings: make([]wireListing, 0, end-start)}
	for _, l := range ls[start:end] {
		out.Listings = append(out.Listings, s.wireListing(c, l))
	}
	if end < len(ls) {
		out.Next = encodeOffset(end)
	}
	return http.StatusOK, out
}

func encodeOffset(n int) string {
	return base64.StdEncoding.EncodeToString([]byte("-o=" + strconv.Itoa(n)))
}

func decodeOffset(s string) (int, bool) {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return 0, false
	}
	v, ok := strings.CutPrefix(string(b), "-o=")
	if !ok {
		return 0, false
	}
	n, err := strconv.Atoi(v)
	return n, err == nil && n >= 0
}

// wireListing renders an active listing as the best-listings endpoint does.
func (s *Server) wireListing(c *collection, l *listing) wireListing {
	symbol, token, decimals := c.currencyOf(l)
	itemType := 0 // native
	if l.usdc {
		itemType = 1 // ERC-20
	}
	proceeds, fee := l.rawSplit()
	id := strconv.Itoa(firstTokenID + l.token)
	sig := hex256(hash(l.key, 0x519)) + hex256(hash(l.key, 0x51a))[2:] + "1b" // r, s, v
	return wireListing{
		OrderHash: orderHash(l.key),
		Chain:     c.info.Chain,
		Type:      "basic",
		Price:     wireListingPrice{Current: wirePrice{Currency: symbol, Decimals: decimals, Value: l.rawPrice()}},
		ProtocolData: wireProtocolData{
			Parameters: wireParameters{
				Offerer: l.maker(),
				Offer: []wireOfferItem{{ItemType: 2, Token: c.info.Contract, IdentifierOrCriteria: id,
					StartAmount: "1", EndAmount: "1"}},
				Consideration: []wireOfferItem{
					{ItemType: itemType, Token: token, IdentifierOrCriteria: "0", StartAmount: proceeds, EndAmount: proceeds, Recipient: l.maker()},
					{ItemType: itemType, Token: token, IdentifierOrCriteria: "0", StartAmount: fee, EndAmount: fee, Recipient: feeRecipient},
				},
				StartTime:                       strconv.FormatInt(l.created/1000, 10),
				EndTime:                         strconv.FormatInt(l.expires/1000+1, 10),
				Zone:                            ethAddress,
				ZoneHash:                        zeroHash,
				Salt:                            "0x" + strconv.FormatUint(hash(l.key, 0x5a1), 16),
				ConduitKey:                      conduitKey,
				TotalOriginalConsiderationItems: 2,
			},
			Signature: &sig,
		},
		ProtocolAddress:   seaportAddress,
		Asset:             wireOrderAsset{Identifier: id, Contract: c.info.Contract},
		RemainingQuantity: 1,
		OrderCreatedAt:    l.created / 1000,
		Status:            "ACTIVE",
	}
}

// saleRef is one scheduled sale: its time (ms) and place in its hour.
type saleRef struct {
	at   int64
	hour int64
	k    int
}

// serveEvents answers GET /api/v2/events/collection/{slug} for
// event_type=sale: the collection's sales with after < event_timestamp <
// before (Unix seconds; both optional, and nothing after the request's
// time), newest first, limit per page (default 50, at most 200), next
// pointing at the following (older) page. These are the sales /stats sums
// and the Stream API pushes as item_sold. Other event types are not
// simulated and get 400, as does a request without event_type.
func (s *Server) serveEvents(r *http.Request, now time.Time) (int, any) {
	c, q, fail := s.collectionQuery(r)
	if fail != nil {
		return fail.status, fail.body
	}
	types := q["event_type"]
	if len(types) == 0 {
		return badRequest("the simulator serves sale events only: pass event_type=sale")
	}
	for _, t := range types {
		for _, t := range strings.Split(t, ",") {
			if t != "sale" {
				return badRequest(fmt.Sprintf("event_type %q: the simulator serves sale events only", t))
			}
		}
	}
	limit, ok := parseLimit(q, DefaultEventsLimit)
	if !ok {
		return badRequest("limit must be an integer between 1 and 200")
	}
	secs := func(name string) (int64, bool, bool) {
		v := q.Get(name)
		if v == "" {
			return 0, false, true
		}
		n, err := strconv.ParseInt(v, 10, 64)
		return n, true, err == nil
	}
	after, hasAfter, ok1 := secs("after")
	before, hasBefore, ok2 := secs("before")
	if !ok1 || !ok2 {
		return badRequest("after and before must be Unix timestamps in seconds")
	}
	// Sales at or before hi (ms) and after lo (ms), newest first.
	hi := now.UnixMilli()
	if hasBefore {
		hi = min(hi, before*1000-1)
	}
	lo := int64(simEpochHour*3_600_000 - 1)
	if hasAfter {
		lo = max(lo, after*1000+999)
	}
	cursorAt, cursorK := int64(-1), 0
	if v := q.Get("next"); v != "" {
		at, k, ok := decodeSaleCursor(v)
		if !ok {
			return badRequest("invalid cursor")
		}
		cursorAt, cursorK = at, k
		hi = min(hi, at)
	}
	out := wireEvents{AssetEvents: []wireSaleEvent{}}
	var hour []saleRef
	var last saleRef
	for h := floorDiv(hi, 3_600_000); h*3_600_000+3_599_999 > lo && h >= simEpochHour; h-- {
		hour = c.hourSaleRefs(h, hour[:0])
		for _, sr := range hour {
			if sr.at > hi || sr.at <= lo || (sr.at == cursorAt && sr.k >= cursorK) {
				continue
			}
			if len(out.AssetEvents) == limit {
				out.Next = encodeSaleCursor(last)
				return http.StatusOK, out
			}
			out.AssetEvents = append(out.AssetEvents, s.wireSale(r, c, sr))
			last = sr
		}
	}
	return http.StatusOK, out
}

// hourSaleRefs appends hour h's sales, newest first (by time, then index).
func (c *collection) hourSaleRefs(h int64, dst []saleRef) []saleRef {
	n := c.market.hourSales(h)
	for k := range n {
		minute, _ := c.market.sale(h, k, 0)
		dst = append(dst, saleRef{at: saleMillis(h, minute), hour: h, k: k})
	}
	slices.SortFunc(dst, func(a, b saleRef) int {
		if a.at != b.at {
			return int(b.at - a.at)
		}
		return b.k - a.k
	})
	return dst
}

func encodeSaleCursor(sr saleRef) string {
	return base64.StdEncoding.EncodeToString([]byte("-s=" + strconv.FormatInt(sr.at, 10) + ":" + strconv.Itoa(sr.k)))
}

func decodeSaleCursor(s string) (int64, int, bool) {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return 0, 0, false
	}
	v, ok := strings.CutPrefix(string(b), "-s=")
	if !ok {
		return 0, 0, false
	}
	a, k, ok := strings.Cut(v, ":")
	if !ok {
		return 0, 0, false
	}
	at, err1 := strconv.ParseInt(a, 10, 64)
	n, err2 := strconv.Atoi(k)
	return at, n, err1 == nil && err2 == nil && n >= 0
}

// wireSale renders a scheduled sale as a SaleEvent.
func (s *Server) wireSale(r *http.Request, c *collection, sr saleRef) wireSaleEvent {
	l := c.saleListing(sr.hour, sr.k, c.market.floorAt(sr.hour*60))
	nft := s.wireNFT(r, c, l.token)
	nft.Traits = nil
	return wireSaleEvent{
		EventType:       "sale",
		EventTimestamp:  sr.at / 1000,
		Transaction:     l.saleTx(),
		OrderHash:       orderHash(l.key),
		ProtocolAddress: seaportAddress,
		Chain:           c.info.Chain,
		Payment:         wirePayment{Quantity: l.rawPrice(), TokenAddress: c.cur.address, Decimals: c.cur.decimals, Symbol: c.cur.symbol},
		ClosingDate:     sr.at / 1000,
		Seller:          l.maker(),
		Buyer:           l.taker(),
		Quantity:        1,
		NFT:             nft,
	}
}

// servePaymentToken answers GET /api/v2/chain/{chain}/payment_token/{address}
// (operation get_payment_token, schema PaymentToken) for the currencies the
// simulated listings use: ETH, WETH and USDC, with eth_price, the rate a
// client needs to compare a USDC listing of the best-listings answer
// (which carries no rate) with ETH ones; on Polygon POL (native, the zero
// address), WETH and USDC.
func (s *Server) servePaymentToken(r *http.Request, _ time.Time) (int, any) {
	chain, addr := r.PathValue("chain"), strings.ToLower(r.PathValue("address"))
	if chain == chainPolygon {
		return s.polygonPaymentToken(addr)
	}
	if chain != "ethereum" {
		return http.StatusNotFound, wireErrors{Errors: []string{"payment token not found"}}
	}
	tok := wireCurrency{Chain: chain, Decimals: 18, EthPrice: "1.0", UsdPrice: s.usdPrice}
	switch addr {
	case ethAddress:
		tok.Symbol, tok.Address, tok.Name = "ETH", ethAddress, "Ether"
	case wethAddress:
		tok.Symbol, tok.Address, tok.Name = "WETH", wethAddress, "Wrapped Ether"
	case usdcAddress:
		tok.Symbol, tok.Address, tok.Name, tok.Decimals = "USDC", usdcAddress, "USD Coin", usdcDecimals
		tok.EthPrice, tok.UsdPrice = s.usdcEth, "1.00"
	default:
		return http.StatusNotFound, wireErrors{Errors: []string{"payment token not found"}}
	}
	tok.Image = "https://i.seadn.io/s/raw/files/" + strings.ToLower(tok.Symbol) + ".png"
	return http.StatusOK, tok
}
