package rarityfile

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"

	"github.com/nftsync/nftsync/internal/rarity"
)

// FormatFloat formats x as Python's repr(float) does: the shortest decimal
// that round-trips, in positional notation with at least one fractional
// digit ("1.0", "0.0001") when the decimal exponent is in [-4, 16), and
// otherwise in exponent notation with a signed, at least two-digit
// exponent ("1e-05", "1.5e+16"). NaN and infinities give "nan", "inf" and
// "-inf"; negative zero gives "-0.0".
func FormatFloat(x float64) string {
	switch {
	case math.IsNaN(x):
		return "nan"
	case math.IsInf(x, 1):
		return "inf"
	case math.IsInf(x, -1):
		return "-inf"
	case x == 0:
		if math.Signbit(x) {
			return "-0.0"
		}
		return "0.0"
	}
	e := strconv.FormatFloat(x, 'e', -1, 64) // [-]d[.ddd]e±XX
	sign := ""
	if e[0] == '-' {
		sign, e = "-", e[1:]
	}
	ei := strings.IndexByte(e, 'e')
	digits := strings.Replace(e[:ei], ".", "", 1)
	exp, _ := strconv.Atoi(e[ei+1:])
	decpt := exp + 1 // x = 0.digits * 10^decpt
	var b strings.Builder
	b.WriteString(sign)
	switch {
	case decpt <= -4 || decpt > 16:
		b.WriteByte(digits[0])
		if len(digits) > 1 {
			b.WriteByte('.')
			b.WriteString(digits[1:])
		}
		b.WriteByte('e')
		if exp < 0 {
			b.WriteByte('-')
			exp = -exp
		} else {
			b.WriteByte('+')
		}
		if exp < 10 {
			b.WriteByte('0')
		}
		b.WriteString(strconv.Itoa(exp))
	case decpt <= 0:
		b.WriteString("0.")
		b.WriteString(strings.Repeat("0", -decpt))
		b.WriteString(digits)
	case decpt >= len(digits):
		b.WriteString(digits)
		b.WriteString(strings.Repeat("0", decpt-len(digits)))
		b.WriteString(".0")
	default:
		b.WriteString(digits[:decpt])
		b.WriteByte('.')
		b.WriteString(digits[decpt:])
	}
	return b.String()
}

// WriteCSV writes "token_id,score,rank" and one row per token in ascending
// token id order (the order of res.Tokens), scores formatted by
// FormatFloat: the format of the reference vectors' <name>.csv files.
func WriteCSV(w io.Writer, res *rarity.Result) error {
	bw := bufio.NewWriter(w)
	cw := csv.NewWriter(bw)
	if err := cw.Write([]string{"token_id", "score", "rank"}); err != nil {
		return fmt.Errorf("write csv: %w", err)
	}
	for _, t := range res.Tokens {
		if err := cw.Write([]string{t.ID, FormatFloat(t.Score), strconv.Itoa(t.Rank)}); err != nil {
			return fmt.Errorf("write csv: %w", err)
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("write csv: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write csv: %w", err)
	}
	return nil
}

// jsonResult is the JSON document WriteJSON produces.
type jsonResult struct {
	Method     string                  `json:"method"`
	Version    string                  `json:"version"`
	Entropy    float64                 `json:"entropy"`
	InputHash  string                  `json:"input_hash"`
	Tokens     []jsonToken             `json:"tokens"`
	Excluded   []rarity.ExcludedTrait  `json:"excluded_traits"`
	Duplicates []rarity.DuplicateTrait `json:"duplicate_traits"`
}

type jsonToken struct {
	ID         string  `json:"token_id"`
	Score      float64 `json:"score"`
	Rank       int     `json:"rank"`
	Unique     int     `json:"unique_attribute_count"`
	TraitCount int     `json:"trait_count"`
}

// WriteJSON writes res as one indented JSON object: method, version,
// entropy, input_hash, tokens (in token id order, each with token_id as a
// string, score, rank, unique_attribute_count and trait_count),
// excluded_traits and duplicate_traits.
func WriteJSON(w io.Writer, res *rarity.Result) error {
	doc := jsonResult{
		Method: string(res.Method), Version: res.Version, Entropy: res.Entropy,
		InputHash: res.InputHash, Tokens: make([]jsonToken, len(res.Tokens)),
		Excluded: res.Excluded, Duplicates: res.Duplicates,
	}
	for i, t := range res.Tokens {
		doc.Tokens[i] = jsonToken{t.ID, t.Score, t.Rank, t.Unique, t.TraitCount}
	}
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	enc.SetIndent("", " ")
	if err := enc.Encode(doc); err != nil {
		return fmt.Errorf("write json: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write json: %w", err)
	}
	return nil
}
