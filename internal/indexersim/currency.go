package indexersim

import (
	"fmt"
	"math"
	"math/big"
	"net/http"
	"strconv"
	"strings"
)

// Chains and currencies. Most simulated collections live on Ethereum and
// are quoted in ETH. A share of them (Config.PolygonFraction) live on
// Polygon, whose native currency is POL (renamed from MATIC in 2024; the
// chain identifier is "polygon" in the spec's ChainIdentifier enum,
// indexers.md). Such a collection's whole market is quoted in POL, as
// OpenSea is taken to quote a collection in its chain's currency
// [unverified: no recorded /stats answer of a Polygon collection, and the
// spec leaves floor_price_symbol a free string]: /stats names POL in
// floor_price_symbol and reports the floor and volumes in POL, its listings
// and sales are priced in POL (a few depth listings in USDC), and stream
// events carry POL's eth_price in payment_token, as they carry USDC's.
// The market model (market.go, book.go) works in the collection's currency
// throughout; only the rendering differs.

// chainPolygon is the Polygon chain identifier.
const chainPolygon = "polygon"

// tagChain draws a collection's chain (its own hash stream, so a
// collection is otherwise what it is on Ethereum).
const tagChain uint64 = 0x200

// Polygon's token addresses: POL is the chain's native currency (item
// type 0, the zero address, as ETH on Ethereum); USDC is Circle's native
// USDC on Polygon PoS.
const (
	usdcPolygonAddress = "0x3c499c542cef5e3811e1192ce70d8cc03d5c3359"
	wethPolygonAddress = "0x7ceb23fd6bc0add59e62ac25578270cff1b9f619"
)

// simCurrency is a collection's currency: its chain's native one.
type simCurrency struct {
	chain    string
	symbol   string
	name     string
	address  string // token address on the chain; the zero address for a native currency
	decimals int
	// ethPrice is ETH per unit as the API writes it (payment_token.eth_price);
	// eth the same as a float.
	ethPrice string
	eth      float64
	usdPrice string
	// scale multiplies the market's prices drawn for an Ethereum
	// collection (market.go): Polygon collections trade at 1 to 2,500 POL,
	// a hundredth of an Ethereum collection's value.
	scale float64
	// usdc is USDC's address on the chain, wrapped the chain's WETH.
	usdc, wrappedETH string
}

// currencies builds the simulated chains' currencies for one seed: ETH, and
// POL at a USD price drawn from the seed (0.15 to 0.60 USD) against the
// seed's ETH price.
func currencies(seed int64, usdPrice string) (eth, pol *simCurrency) {
	usd, _ := strconv.ParseFloat(usdPrice, 64) // formatted by New
	eth = &simCurrency{chain: "ethereum", symbol: "ETH", name: "Ether", address: ethAddress, decimals: 18,
		ethPrice: "1.000000000000000", eth: 1, scale: 1, usdPrice: usdPrice, usdc: usdcAddress, wrappedETH: wethAddress}
	polUSD := math.Round((0.15+0.45*unit(hash(uint64(seed), 0x9ce)))*1e4) / 1e4
	// eth_price as the stream writes it: 15 decimals.
	polEth := strconv.FormatFloat(math.Round(polUSD/usd*1e12)/1e12, 'f', 15, 64)
	polEthF, _ := strconv.ParseFloat(polEth, 64)
	pol = &simCurrency{chain: chainPolygon, symbol: "POL", name: "POL", address: ethAddress, decimals: 18,
		ethPrice: polEth, eth: polEthF, scale: 100, usdPrice: strconv.FormatFloat(polUSD, 'f', -1, 64),
		usdc: usdcPolygonAddress, wrappedETH: wethPolygonAddress}
	return eth, pol
}

// onPolygon reports whether the collection with seed cs lives on Polygon
// when a share frac of collections does.
func onPolygon(cs uint64, frac float64) bool {
	return frac > 0 && unit(hash(cs, tagChain)) < frac
}

// currencyOf returns a listing's currency symbol, token address and
// decimals on c's chain.
func (c *collection) currencyOf(l *listing) (string, string, int) {
	if l.usdc {
		return "USDC", c.cur.usdc, usdcDecimals
	}
	return c.cur.symbol, c.cur.address, c.cur.decimals
}

// usdcRate is the price of one USDC in the collection's currency (a float
// for the model's ordering): USDC's eth_price over the currency's.
func (c *collection) usdcRate(usdcEth float64) float64 { return usdcEth / c.cur.eth }

// unitPrice is the exact price of one unit in the collection's currency as
// a canonical decimal: a USDC listing is converted through USDC's eth_price
// and the currency's (ETH: 1) and rounded down to 18 decimals, as a
// consumer's book computes it.
func (l *listing) unitPrice(cur *simCurrency, usdcEth string) string {
	if !l.usdc {
		return decimalString(big.NewRat(l.micro, 1_000_000))
	}
	r, ok := new(big.Rat).SetString(usdcEth) // a decimal we formatted
	rate, ok2 := new(big.Rat).SetString(cur.ethPrice)
	if !ok || !ok2 || rate.Sign() == 0 {
		panic(fmt.Sprintf("indexersim: bad eth prices %q, %q", usdcEth, cur.ethPrice))
	}
	r.Mul(r, big.NewRat(l.micro, 100))
	r.Quo(r, rate)
	return decimalString(r)
}

// streamToken describes a currency as the stream's payment_token does.
func (cur *simCurrency) streamToken() streamPaymentToken {
	return streamPaymentToken{Address: cur.address, Decimals: cur.decimals, EthPrice: cur.ethPrice,
		Name: cur.name, Symbol: cur.symbol, UsdPrice: cur.usdPrice}
}

// polygonPaymentToken answers GET /api/v2/chain/polygon/payment_token/{address}
// for the currencies of the simulated Polygon listings.
func (s *Server) polygonPaymentToken(addr string) (int, any) {
	pol := s.pol
	tok := wireCurrency{Chain: chainPolygon, Decimals: 18}
	switch addr {
	case pol.address:
		tok.Symbol, tok.Address, tok.Name, tok.EthPrice, tok.UsdPrice = pol.symbol, pol.address, pol.name, pol.ethPrice, pol.usdPrice
	case pol.wrappedETH:
		tok.Symbol, tok.Address, tok.Name, tok.EthPrice, tok.UsdPrice = "WETH", pol.wrappedETH, "Wrapped Ether", "1.0", s.usdPrice
	case pol.usdc:
		tok.Symbol, tok.Address, tok.Name, tok.Decimals = "USDC", pol.usdc, "USD Coin", usdcDecimals
		tok.EthPrice, tok.UsdPrice = s.usdcEth, "1.00"
	default:
		return http.StatusNotFound, wireErrors{Errors: []string{"payment token not found"}}
	}
	tok.Image = "https://i.seadn.io/s/raw/files/" + strings.ToLower(tok.Symbol) + ".png"
	return http.StatusOK, tok
}
