package opensea

import (
	"fmt"
	"strings"

	"github.com/nftsync/nftsync/internal/clip"
	"github.com/nftsync/nftsync/internal/indexer"
)

// MaxCurrencyDecimals bounds the decimals a payment token may declare. The
// largest amount a uint256 can hold has 78 digits, and the stored amounts
// are NUMERIC(78,18); a decimals value beyond this is a broken payload.
const MaxCurrencyDecimals = 77

// ScaleRaw turns a raw on-chain integer amount (a base-10 digit string such
// as a listing's base_price, a sale's sale_price or a REST price's value)
// into the canonical decimal of the token amount it means: raw / 10^decimals,
// exactly ("5000000000000000", 18 → "0.005"; "1500000", 6 → "1.5"; "0", 18
// → "0"). No floating point is involved: the result is
// indexer.CanonicalDecimal of raw with its decimal point moved.
//
// raw must be a non-empty string of ASCII digits (leading zeros are
// allowed, signs, points, exponents and spaces are not) of at most
// indexer.MaxDecimalDigits digits; decimals must be 0..MaxCurrencyDecimals.
// The error says which rule failed and quotes (a clipped) raw.
func ScaleRaw(raw string, decimals int32) (string, error) {
	if raw == "" {
		return "", fmt.Errorf("raw amount: empty")
	}
	for i := 0; i < len(raw); i++ {
		if raw[i] < '0' || raw[i] > '9' {
			return "", fmt.Errorf("raw amount %q: not a non-negative integer", clip.Text(raw, 40))
		}
	}
	if decimals < 0 || decimals > MaxCurrencyDecimals {
		return "", fmt.Errorf("decimals %d: out of range 0..%d", decimals, MaxCurrencyDecimals)
	}
	digits := strings.TrimLeft(raw, "0")
	if digits == "" {
		return "0", nil
	}
	if len(digits) > indexer.MaxDecimalDigits {
		return "", fmt.Errorf("raw amount %q: more than %d digits", clip.Text(raw, 40), indexer.MaxDecimalDigits)
	}
	s, err := indexer.CanonicalDecimal(fmt.Sprintf("%se-%d", digits, decimals), false)
	if err != nil {
		return "", fmt.Errorf("raw amount %q: %w", clip.Text(raw, 40), err)
	}
	return s, nil
}

// CanonicalPrice rewrites a price quote such as the stream's
// payment_token.eth_price ("1.000000000000000") as a canonical decimal
// ("1"). It accepts the JSON number grammar (the quote arrives as a JSON
// string whose content is a number); negative values are an error.
func CanonicalPrice(s string) (string, error) {
	v, err := indexer.CanonicalDecimal(s, false)
	if err != nil {
		return "", fmt.Errorf("price %w", err)
	}
	return v, nil
}

// EthPriceOf is the ETH price of one unit of a currency when it is known
// without a quote: "1" for ETH and WETH (any case), "" otherwise. REST
// listings and sale events carry no eth_price, so this is all a REST answer
// can say; the stream's payment_token.eth_price is used when present.
func EthPriceOf(symbol string) string {
	switch strings.ToUpper(symbol) {
	case "ETH", "WETH":
		return "1"
	}
	return ""
}
