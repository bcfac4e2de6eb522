package indexer

import (
	"errors"
	"fmt"
	"strings"
)

// MaxDecimalDigits bounds the digits on each side of the decimal point of a
// canonical decimal. It keeps "1e999999" from turning into a megabyte of
// zeros and comfortably covers every float64 an upstream could have meant
// as a price (≈17 significant digits).
const MaxDecimalDigits = 100

// Errors of CanonicalDecimal, wrapped with the offending literal.
var (
	ErrNotNumber  = errors.New("not a JSON number")
	ErrNegative   = errors.New("negative")
	ErrOutOfRange = errors.New("out of range")
)

// CanonicalDecimal rewrites a JSON number literal as a plain decimal string:
// no exponent, no leading zeros in the integer part, no trailing zeros in
// the fraction, no trailing point, "0" for any zero (including "-0"). The
// result is exact; no binary floating point is involved.
//
// lit must match the JSON number grammar exactly (no spaces, no "+", no
// leading zeros, no "NaN"/"Infinity"), else ErrNotNumber. A negative
// non-zero value is ErrNegative unless allowNegative. A value with more than
// MaxDecimalDigits digits before or after the point is ErrOutOfRange.
func CanonicalDecimal(lit string, allowNegative bool) (string, error) {
	neg, intPart, fracPart, exp, ok := splitJSONNumber(lit)
	if !ok {
		return "", fmt.Errorf("%q: %w", lit, ErrNotNumber)
	}
	digits := intPart + fracPart
	// point is the position of the decimal point counted from the left of
	// digits; it may lie outside digits on either side.
	point := len(intPart) + exp
	trimmed := strings.TrimLeft(digits, "0")
	point -= len(digits) - len(trimmed)
	digits = strings.TrimRight(trimmed, "0")
	if digits == "" {
		return "0", nil
	}
	if neg && !allowNegative {
		return "", fmt.Errorf("%q: %w", lit, ErrNegative)
	}
	if point > MaxDecimalDigits || len(digits)-point > MaxDecimalDigits {
		return "", fmt.Errorf("%q: %w", lit, ErrOutOfRange)
	}
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	switch {
	case point <= 0:
		b.WriteString("0.")
		b.WriteString(strings.Repeat("0", -point))
		b.WriteString(digits)
	case point >= len(digits):
		b.WriteString(digits)
		b.WriteString(strings.Repeat("0", point-len(digits)))
	default:
		b.WriteString(digits[:point])
		b.WriteByte('.')
		b.WriteString(digits[point:])
	}
	return b.String(), nil
}

// splitJSONNumber parses -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?.
// Exponents whose magnitude exceeds 1e6 are rejected as not ok; they could
// never pass the MaxDecimalDigits bound anyway, and refusing them here keeps
// the arithmetic in range.
func splitJSONNumber(s string) (neg bool, intPart, fracPart string, exp int, ok bool) {
	i := 0
	if i < len(s) && s[i] == '-' {
		neg = true
		i++
	}
	start := i
	for i < len(s) && isDigit(s[i]) {
		i++
	}
	intPart = s[start:i]
	if intPart == "" || (len(intPart) > 1 && intPart[0] == '0') {
		return false, "", "", 0, false
	}
	if i < len(s) && s[i] == '.' {
		i++
		start = i
		for i < len(s) && isDigit(s[i]) {
			i++
		}
		fracPart = s[start:i]
		if fracPart == "" {
			return false, "", "", 0, false
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		expNeg := false
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			expNeg = s[i] == '-'
			i++
		}
		start = i
		for i < len(s) && isDigit(s[i]) {
			i++
		}
		expDigits := strings.TrimLeft(s[start:i], "0")
		if start == i || len(expDigits) > 6 {
			return false, "", "", 0, false
		}
		for _, c := range []byte(expDigits) {
			exp = exp*10 + int(c-'0')
		}
		if expNeg {
			exp = -exp
		}
	}
	if i != len(s) {
		return false, "", "", 0, false
	}
	return neg, intPart, fracPart, exp, true
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }
