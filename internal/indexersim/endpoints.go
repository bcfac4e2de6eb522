package indexersim

import (
	"encoding/base64"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Page sizes of GET /api/v2/collection/{slug}/nfts. MaxPageLimit bounds
// the limit of every paged endpoint (nfts, best listings, events): the spec
// gives 1..200 for each.
const (
	DefaultPageLimit = 50
	MaxPageLimit     = 200
)

const (
	cursorPrefix = "-pk="
	timeLayout   = "2006-01-02T15:04:05.000000"
	ethAddress   = "0x0000000000000000000000000000000000000000"
	wethAddress  = "0xc02aaa39b223fe8d0a0e5c4f27ead9083c756cc2"
)

func notFound() wireErrors { return wireErrors{Errors: []string{"collection not found"}} }

func badRequest(msg string) (int, any) {
	return http.StatusBadRequest, wireErrors{Errors: []string{msg}}
}

// answer is a handler's status and body.
type answer struct {
	status int
	body   any
}

// collectionQuery reads what the collection endpoints with a query string
// share: the collection named by the {slug} path value and the parsed
// query. A failure is the answer to send: 404 for an unknown slug, 400 for
// a query string that does not parse.
func (s *Server) collectionQuery(r *http.Request) (*collection, url.Values, *answer) {
	c, ok := s.bySlug[r.PathValue("slug")]
	if !ok {
		return nil, nil, &answer{http.StatusNotFound, notFound()}
	}
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		status, body := badRequest("invalid query string")
		return nil, nil, &answer{status, body}
	}
	return c, q, nil
}

// parseLimit reads the limit parameter: def when absent, else 1..MaxPageLimit.
func parseLimit(q url.Values, def int) (int, bool) {
	v := q.Get("limit")
	if v == "" {
		return def, true
	}
	n, err := strconv.Atoi(v)
	return n, err == nil && n >= 1 && n <= MaxPageLimit
}

// serveCollection answers GET /api/v2/collections/{slug} with a
// CollectionDetailedResponse. It does not change over time.
func (s *Server) serveCollection(r *http.Request, _ time.Time) (int, any) {
	c, ok := s.bySlug[r.PathValue("slug")]
	if !ok {
		return http.StatusNotFound, notFound()
	}
	slug, n := c.info.Slug, c.info.TokenCount
	fees := []wireFee{}
	if c.feeBps > 0 {
		fees = append(fees, wireFee{Fee: float64(c.feeBps) / 100, Recipient: c.royaltyAddr})
	}
	currency := func(symbol, addr, name, ethPrice, usdPrice string) wireCurrency {
		return wireCurrency{
			Symbol: symbol, Address: addr, Chain: c.info.Chain, Name: name, Decimals: 18,
			Image:    "https://i.seadn.io/s/raw/files/" + strings.ToLower(symbol) + ".png",
			EthPrice: ethPrice, UsdPrice: usdPrice,
		}
	}
	// A collection lists in its chain's currency; offers are in WETH (on
	// Polygon, the bridged WETH token).
	listingCur := currency("ETH", ethAddress, "Ether", "1.0", s.usdPrice)
	if c.cur.symbol != "ETH" {
		listingCur = currency(c.cur.symbol, c.cur.address, c.cur.name, c.cur.ethPrice, c.cur.usdPrice)
	}
	return http.StatusOK, wireCollection{
		Collection:              slug,
		Name:                    c.info.Name,
		Description:             c.description,
		ImageURL:                "https://i.seadn.io/s/raw/files/sim/" + slug + "/image.png",
		BannerImageURL:          "https://i.seadn.io/s/raw/files/sim/" + slug + "/banner.png",
		Owner:                   c.owner,
		SafelistStatus:          c.safelist,
		Category:                c.category,
		TraitOffersEnabled:      true,
		CollectionOffersEnabled: true,
		OpenseaURL:              "https://opensea.io/collection/" + slug,
		ProjectURL:              "https://example.org/" + slug,
		DiscordURL:              "https://discord.gg/" + slug,
		TwitterUsername:         strings.ReplaceAll(slug, "-", ""),
		Contracts:               []wireContract{{Address: c.info.Contract, Chain: c.info.Chain}},
		Editors:                 []string{c.owner},
		Fees:                    fees,
		Rarity: &wireRarity{
			StrategyID: "openrarity", StrategyVersion: "1.0", CalculatedAt: "2026-05-01T00:00:00",
			MaxRank: n, TotalSupply: n,
		},
		TotalSupply:     n,
		UniqueItemCount: n,
		CreatedDate:     c.createdAt.Format(time.DateOnly),
		PricingCurrencies: wirePricingCurrencies{
			ListingCurrency: listingCur,
			OfferCurrency:   currency("WETH", c.cur.wrappedETH, "Wrapped Ether", "1.0", s.usdPrice),
		},
	}
}

// serveStats answers GET /api/v2/collections/{slug}/stats with the market at
// the request's clock time: floor and volumes in the collection's currency
// (floor_price_symbol: ETH, or POL on Polygon), rounded to four decimal
// places.
func (s *Server) serveStats(r *http.Request, now time.Time) (int, any) {
	c, ok := s.bySlug[r.PathValue("slug")]
	if !ok {
		return http.StatusNotFound, notFound()
	}
	m := c.market.snapshot(now)
	// The floor is the cheapest active public listing now (book.go), per
	// unit and in the collection's currency (a USDC listing converted);
	// 0 when nothing is listed.
	floor := 0.0
	if l := c.book.floorAt(now); l != nil {
		floor = max(round4(l.unit), 0.0001)
	}
	return http.StatusOK, wireStats{
		Total: wireStatsTotal{
			Volume:           round4(m.vol[3]),
			Sales:            m.sales[3],
			NumOwners:        m.owners,
			FloorPrice:       floor,
			FloorPriceSymbol: c.cur.symbol,
		},
		Intervals: []wireInterval{
			{Interval: "one_day", Volume: round4(m.vol[0]), Sales: m.sales[0]},
			{Interval: "seven_day", Volume: round4(m.vol[1]), Sales: m.sales[1]},
			{Interval: "thirty_day", Volume: round4(m.vol[2]), Sales: m.sales[2]},
		},
	}
}

// serveNFTs answers GET /api/v2/collection/{slug}/nfts?limit=&next= with
// tokens in ascending identifier order. limit defaults to 50 and must be in
// 1..200; next is the cursor of the previous page, absent on the last page.
// A bad limit or cursor, or the unsupported traits filter, gets 400.
func (s *Server) serveNFTs(r *http.Request, _ time.Time) (int, any) {
	c, q, fail := s.collectionQuery(r)
	if fail != nil {
		return fail.status, fail.body
	}
	limit, ok := parseLimit(q, DefaultPageLimit)
	if !ok {
		return badRequest("limit must be an integer between 1 and 200")
	}
	if q.Has("traits") {
		return badRequest("the simulator does not support the traits filter")
	}
	start := 0
	if v := q.Get("next"); v != "" {
		last, ok := decodeCursor(v)
		if !ok || last < firstTokenID || last >= firstTokenID+c.info.TokenCount {
			return badRequest("invalid cursor")
		}
		start = last - firstTokenID + 1
	}
	end := min(start+limit, c.info.TokenCount)
	page := wireNFTList{NFTs: make([]wireNFT, 0, end-start)}
	for i := start; i < end; i++ {
		nft := s.wireNFT(r, c, i)
		if !s.cfg.ListTraits {
			nft.Traits = nil // as the live API: no traits key in list answers
		}
		page.NFTs = append(page.NFTs, nft)
	}
	if end < c.info.TokenCount {
		page.Next = encodeCursor(firstTokenID + end - 1)
	}
	return http.StatusOK, page
}

// encodeCursor makes the opaque cursor for "tokens after identifier last",
// in the real API's style (base64 of "-pk=<last>").
func encodeCursor(last int) string {
	return base64.StdEncoding.EncodeToString([]byte(cursorPrefix + strconv.Itoa(last)))
}

func decodeCursor(s string) (int, bool) {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return 0, false
	}
	v, ok := strings.CutPrefix(string(b), cursorPrefix)
	if !ok {
		return 0, false
	}
	n, err := strconv.Atoi(v)
	return n, err == nil
}

// wireNFT renders token index i with its traits (the list endpoint drops
// them unless Config.ListTraits is set).
func (s *Server) wireNFT(r *http.Request, c *collection, i int) wireNFT {
	id := strconv.Itoa(firstTokenID + i)
	traits := c.tokenTraits(i)
	wt := make([]wireTrait, len(traits))
	for k, t := range traits {
		wt[k] = wireTrait{TraitType: t.Type, Value: t.Value}
		if t.DisplayType != "" {
			wt[k].DisplayType = &t.DisplayType
		}
		if t.MaxValue != "" {
			wt[k].MaxValue = &t.MaxValue
		}
		if t.Numeric {
			n, _ := strconv.ParseInt(t.Value, 10, 64) // generated from an int64
			wt[k].Value = n
		}
	}
	image := "https://i.seadn.io/s/raw/files/sim/" + c.info.Slug + "/" + id + ".png"
	return wireNFT{
		Identifier:       id,
		Collection:       c.info.Slug,
		Contract:         c.info.Contract,
		TokenStandard:    "erc721",
		Name:             c.info.Name + " #" + id,
		ImageURL:         image,
		DisplayImageURL:  image,
		MetadataURL:      s.metadataURL(r, c, i),
		OriginalImageURL: "ipfs://" + c.cid + "/images/" + id + ".png",
		OpenseaURL:       "https://opensea.io/assets/" + c.info.Chain + "/" + c.info.Contract + "/" + id,
		UpdatedAt:        c.updatedAt(i).Format(timeLayout),
		Traits:           traitsOrNull(traits, &wt),
	}
}

// traitsOrNull is wt, or nil (sent as null or left out) for a token whose
// traits are unknown (traits nil).
func traitsOrNull(traits []Trait, wt *[]wireTrait) *[]wireTrait {
	if traits == nil {
		return nil
	}
	return wt
}
