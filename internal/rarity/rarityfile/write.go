package rarityfile

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strconv"

	"github.com/nftsync/nftsync/internal/rarity"
)

// FormatFloat formats x as Python's repr(float) does: the shortest decimal
// that round-trips, in positional notation with at least one fractional
// digit ("1.0", "0.0001") when the decimal exponent is in [-4, 16), and
// otherwise in exponent notation with a signed, at least two-digit
// exponent ("1e-05", "1.5e+16"). NaN and infinities give "nan", "inf" and
// "-inf"; negative zero gives "-0.0".
func FormatFloat(x float64) string { return string(appendRepr(nil, x)) }

// appendRepr appends FormatFloat(x) to dst.
func appendRepr(dst []byte, x float64) []byte {
	switch {
	case math.IsNaN(x):
		return append(dst, "nan"...)
	case math.IsInf(x, 1):
		return append(dst, "inf"...)
	case math.IsInf(x, -1):
		return append(dst, "-inf"...)
	case x == 0:
		if math.Signbit(x) {
			return append(dst, "-0.0"...)
		}
		return append(dst, "0.0"...)
	}
	var scratch [32]byte
	e := strconv.AppendFloat(scratch[:0], x, 'e', -1, 64) // [-]d[.ddd]e±XX
	if e[0] == '-' {
		dst = append(dst, '-')
		e = e[1:]
	}
	ei := bytes.IndexByte(e, 'e')
	var dbuf [24]byte
	digits := append(dbuf[:0], e[0])
	if ei > 1 {
		digits = append(digits, e[2:ei]...) // skip the '.'
	}
	exp, _ := strconv.Atoi(string(e[ei+1:]))
	decpt := exp + 1 // x = 0.digits * 10^decpt
	switch {
	case decpt <= -4 || decpt > 16:
		dst = append(dst, digits[0])
		if len(digits) > 1 {
			dst = append(dst, '.')
			dst = append(dst, digits[1:]...)
		}
		dst = append(dst, 'e')
		if exp < 0 {
			dst = append(dst, '-')
			exp = -exp
		} else {
			dst = append(dst, '+')
		}
		if exp < 10 {
			dst = append(dst, '0')
		}
		dst = strconv.AppendInt(dst, int64(exp), 10)
	case decpt <= 0:
		dst = append(dst, "0."...)
		for range -decpt {
			dst = append(dst, '0')
		}
		dst = append(dst, digits...)
	case decpt >= len(digits):
		dst = append(dst, digits...)
		for range decpt - len(digits) {
			dst = append(dst, '0')
		}
		dst = append(dst, ".0"...)
	default:
		dst = append(dst, digits[:decpt]...)
		dst = append(dst, '.')
		dst = append(dst, digits[decpt:]...)
	}
	return dst
}

// WriteCSV writes "token_id,score,rank" and one row per token in ascending
// token id order (the order of res.Tokens), scores formatted by
// FormatFloat: the format of the reference vectors' <name>.csv files. Ids
// are quoted as encoding/csv does.
func WriteCSV(w io.Writer, res *rarity.Result) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	line := make([]byte, 0, 128)
	var quoted bytes.Buffer
	qw := csv.NewWriter(&quoted)
	_, _ = bw.WriteString("token_id,score,rank\n") // sticky: Flush reports it
	for _, t := range res.Tokens {
		line = line[:0]
		if isDecimalID(t.ID) {
			line = append(line, t.ID...)
		} else { // let encoding/csv decide on quoting
			quoted.Reset()
			if err := qw.Write([]string{t.ID}); err != nil {
				return fmt.Errorf("write csv: %w", err)
			}
			qw.Flush()
			line = append(line, bytes.TrimSuffix(quoted.Bytes(), []byte("\n"))...)
		}
		line = append(line, ',')
		line = appendRepr(line, t.Score)
		line = append(line, ',')
		line = strconv.AppendInt(line, int64(t.Rank), 10)
		line = append(line, '\n')
		if _, err := bw.Write(line); err != nil {
			return fmt.Errorf("write csv: %w", err)
		}
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write csv: %w", err)
	}
	return nil
}

// isDecimalID reports whether id is made of ASCII digits (never quoted).
func isDecimalID(id string) bool {
	for i := 0; i < len(id); i++ {
		if id[i] < '0' || id[i] > '9' {
			return false
		}
	}
	return id != ""
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
