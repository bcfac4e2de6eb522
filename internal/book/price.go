package book

import (
	"errors"
	"fmt"
	"math/big"
	"strings"

	"github.com/nftsync/nftsync/internal/indexer"
)

// maxDecimalLen bounds a price or rate literal. indexer.MaxDecimalDigits
// digits on each side of the point is already far beyond any real price;
// the bound keeps a hostile literal from costing a big multiplication.
const maxDecimalLen = 2*indexer.MaxDecimalDigits + 1

var errNotDecimal = errors.New("not a plain non-negative decimal")

// parseDecimal reads a plain decimal ("12", "0.015"; no sign, no exponent)
// exactly. The canonical decimals of indexer.Money are accepted, and so is
// anything with extra zeros.
func parseDecimal(s string) (*big.Rat, error) {
	if s == "" || len(s) > maxDecimalLen {
		return nil, fmt.Errorf("%q: %w", s, errNotDecimal)
	}
	intPart, frac, hasPoint := strings.Cut(s, ".")
	if intPart == "" || (hasPoint && frac == "") || !allDigits(intPart) || !allDigits(frac) {
		return nil, fmt.Errorf("%q: %w", s, errNotDecimal)
	}
	if len(intPart)+len(frac) <= 18 {
		// Fast path, the common case: the digits fit an int64.
		var n int64
		for i := range len(intPart) {
			n = n*10 + int64(intPart[i]-'0')
		}
		d := int64(1)
		for i := range len(frac) {
			n = n*10 + int64(frac[i]-'0')
			d *= 10
		}
		return new(big.Rat).SetFrac64(n, d), nil
	}
	num, ok := new(big.Int).SetString(intPart+frac, 10)
	if !ok {
		return nil, fmt.Errorf("%q: %w", s, errNotDecimal)
	}
	return new(big.Rat).SetFrac(num, pow10(len(frac))), nil
}

func allDigits(s string) bool {
	for i := range len(s) {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func pow10(n int) *big.Int {
	return new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(n)), nil)
}

// formatDown writes a non-negative rational as a canonical decimal (no
// exponent, no trailing zeros in the fraction, "0" for zero) rounded down
// to decimals digits after the point. Rounding down keeps a floor from ever
// being shown cheaper than a listing anyone could buy.
func formatDown(r *big.Rat, decimals int32) string {
	n := new(big.Int).Mul(r.Num(), pow10(int(decimals)))
	n.Quo(n, r.Denom()) // truncates towards zero; r is never negative
	digits := n.String()
	if decimals <= 0 {
		return digits
	}
	d := int(decimals)
	if len(digits) <= d {
		digits = strings.Repeat("0", d-len(digits)+1) + digits
	}
	intPart, frac := digits[:len(digits)-d], strings.TrimRight(digits[len(digits)-d:], "0")
	if frac == "" {
		return intPart
	}
	return intPart + "." + frac
}

// ethLike reports whether a currency is worth exactly one ETH: a listing
// in it needs no eth_price to be compared with ETH.
func ethLike(currency string) bool {
	return strings.EqualFold(currency, "ETH") || strings.EqualFold(currency, "WETH")
}
