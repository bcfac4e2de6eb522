package rarity

import (
	"bufio"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"fmt"
	"io"
	"math"
	"math/bits"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"
)

// splitMix64 is the generator of shared/data/rarity/gen_collections.py.
type splitMix64 struct{ state uint64 }

func (r *splitMix64) next() uint64 {
	r.state += 0x9E3779B97F4A7C15
	z := r.state
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9
	z = (z ^ (z >> 27)) * 0x94D049BB133111EB
	return z ^ (z >> 31)
}

// below returns (next() * n) >> 64, an integer in [0, n).
func (r *splitMix64) below(n uint64) uint64 {
	hi, _ := bits.Mul64(r.next(), n)
	return hi
}

// synthTrait is one trait of the synthetic collection: name, number of
// values, Zipf exponent (value k weighs floor(1e9 / (k+1)^s)) and the
// per-mille rate at which tokens lack it.
type synthTrait struct {
	name           string
	values, s      int
	missingPerMill uint64
}

func synthTraits() []synthTrait {
	return []synthTrait{
		{"background", 10, 1, 0},
		{"body", 6, 1, 0},
		{"eyes", 25, 1, 0},
		{"mouth", 40, 2, 0},
		{"hat", 60, 1, 250},
		{"clothes", 80, 2, 100},
		{"accessory", 150, 2, 600},
		{"legendary", 5, 1, 990},
	}
}

// synthetic ports gen_collections.py's synthetic(n, seed=42): token ids
// 1..n, values "<name>_%03d". Value strings are shared between tokens and
// attributes live in one backing array, so the input itself stays small.
func synthetic(n int) []Token {
	type table struct {
		name    string
		missing uint64
		cum     []uint64
		total   uint64
		vals    []string
	}
	var tabs []table
	for _, t := range synthTraits() {
		tb := table{name: t.name, missing: t.missingPerMill}
		for k := 0; k < t.values; k++ {
			d := uint64(1)
			for i := 0; i < t.s; i++ {
				d *= uint64(k + 1)
			}
			tb.total += 1_000_000_000 / d
			tb.cum = append(tb.cum, tb.total)
			tb.vals = append(tb.vals, fmt.Sprintf("%s_%03d", t.name, k))
		}
		tabs = append(tabs, tb)
	}
	// Two identical passes over the stream: the first sizes the attribute
	// array exactly, the second fills it.
	var backing []Attribute
	toks := make([]Token, n)
	for pass := 0; pass < 2; pass++ {
		rng := splitMix64{state: 42}
		count := 0
		for i := range toks {
			start := len(backing)
			for _, tb := range tabs {
				u := rng.below(1000)
				r := rng.below(tb.total)
				if u < tb.missing {
					continue
				}
				count++
				if pass == 0 {
					continue
				}
				k := 0
				for tb.cum[k] <= r {
					k++
				}
				backing = append(backing, Attribute{Name: tb.name, Value: tb.vals[k]})
			}
			if pass == 1 {
				toks[i] = Token{ID: strconv.Itoa(i + 1), Attributes: backing[start:len(backing):len(backing)]}
			}
		}
		if pass == 0 {
			backing = make([]Attribute, 0, count)
		}
	}
	return toks
}

// writeJSONL writes tokens as gen_collections.py does (json.dumps with
// separators (",", ":")); names and values must be plain ASCII.
func writeJSONL(w io.Writer, toks []Token) error {
	bw := bufio.NewWriter(w)
	for _, t := range toks {
		fmt.Fprintf(bw, `{"token_id":%s,"attributes":{`, t.ID)
		for i, a := range t.Attributes {
			if i > 0 {
				bw.WriteByte(',')
			}
			fmt.Fprintf(bw, "%q:%q", a.Name, a.Value)
		}
		bw.WriteString("}}\n")
	}
	return bw.Flush()
}

// TestSyntheticMatchesPython checks the Go port against the SHA-256 of the
// files `python3 gen_collections.py OUT --big` writes.
func TestSyntheticMatchesPython(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		n    int
		want string
	}{
		{10_000, "8ce2dc2de63a535c12825bb82efd2a7b22c65fe85ce98c9634399496f8d5e330"},
		{100_000, "1184dd6211cf4784687fa2444f647f242d06df22d4a4f219a1c87de5a66d50c6"},
	} {
		h := sha256.New()
		require.NoError(t, writeJSONL(h, synthetic(tc.n)))
		require.Equal(t, tc.want, hex.EncodeToString(h.Sum(nil)), "synthetic %d", tc.n)
	}
	h := sha256.New()
	require.NoError(t, writeJSONL(h, mixed(10_000)))
	require.Equal(t, "418bf29bdf0f1c2c9526034472f2af7c2a62ca82d6d308b9494a178652cf14e0", hex.EncodeToString(h.Sum(nil)), "mixed")
}

// mixed ports gen_collections.py's mixed(10_000): correlated hat, shirt
// and special traits with fixed shares ("null" is an ordinary value).
func mixed(n int) []Token {
	type share struct {
		value string
		pct   int
	}
	spread := []struct {
		name   string
		values []share
	}{
		{"hat", []share{{"cap", 20}, {"beanie", 30}, {"hood", 45}, {"visor", 5}}},
		{"shirt", []share{{"white-t", 80}, {"vest", 20}}},
		{"special", []share{{"true", 10}, {"null", 90}}},
	}
	toks := make([]Token, n)
	for i := range toks {
		var attrs []Attribute
		for _, s := range spread {
			edge := 0
			for _, v := range s.values {
				edge += n * v.pct / 100
				if i < edge {
					attrs = append(attrs, Attribute{Name: s.name, Value: v.value})
					break
				}
			}
		}
		toks[i] = Token{ID: strconv.Itoa(i), Attributes: attrs}
	}
	return toks
}

// TestIndependentVectors compares with testdata/independent/*.csv, written
// by testdata/independent_openrarity.py (a separate plain-Python
// implementation, which agrees with the reference on every reference
// vector) for the generated synthetic_10k and mixed_10k collections, which
// have no reference output.
func TestIndependentVectors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		toks    []Token
		entropy float64
	}{
		{"synthetic_10k", synthetic(10_000), 21.619850158528354},
		{"mixed_10k", mixed(10_000), 2.9108967824986185},
	} {
		res, err := Compute(tc.toks, Options{})
		require.NoError(t, err)
		require.InEpsilon(t, tc.entropy, res.Entropy, 1e-12, tc.name)
		f, err := os.Open(filepath.Join("testdata", "independent", tc.name+".csv"))
		require.NoError(t, err)
		rows, err := csv.NewReader(f).ReadAll()
		f.Close()
		require.NoError(t, err)
		rows = rows[1:]
		require.Len(t, rows, len(res.Tokens))
		sum := 0.0
		for i, got := range res.Tokens {
			w := rows[i]
			ref, err := strconv.ParseFloat(w[1], 64)
			require.NoError(t, err)
			require.Equal(t, w[0], got.ID)
			require.LessOrEqual(t, math.Abs(got.Score-ref), 1e-12*math.Max(1, math.Abs(ref)), "%s token %s", tc.name, got.ID)
			require.Equal(t, w[2], strconv.Itoa(got.Rank), "%s token %s rank", tc.name, got.ID)
			require.Equal(t, w[3], strconv.Itoa(got.Unique), "%s token %s unique", tc.name, got.ID)
			require.Equal(t, w[4], strconv.Itoa(got.TraitCount), "%s token %s trait count", tc.name, got.ID)
			sum += got.Score
		}
		require.InDelta(t, 1, sum/float64(len(res.Tokens)), 1e-12)
	}
}

// TestSyntheticFigures pins the figures rarity.md §2.7 reports for the
// u-first sort: on synthetic_10k, 46 tokens have u=1 and 2,883 tokens with
// u=0 score higher than the lowest of them; at 100k, 23 and 7,180.
func TestSyntheticFigures(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ n, u1, above int }{{10_000, 46, 2883}, {100_000, 23, 7180}} {
		res, err := Compute(synthetic(tc.n), Options{})
		require.NoError(t, err)
		low, u1 := math.Inf(1), 0
		for _, x := range res.Tokens {
			if x.Unique == 1 {
				u1++
				low = math.Min(low, x.Score)
			}
		}
		above := 0
		for _, x := range res.Tokens {
			if x.Unique == 0 && x.Score > low {
				above++
			}
		}
		require.Equal(t, tc.u1, u1)
		require.Equal(t, tc.above, above)
	}
}
