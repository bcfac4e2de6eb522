package rarityfile_test

import (
	"encoding/csv"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/nftsync/nftsync/internal/rarity"
	"github.com/nftsync/nftsync/internal/rarity/rarityfile"
)

// vectorDir holds copies of the reference vectors (see ../testdata).
const vectorDir = "../testdata"

type stats struct {
	Tokens         int            `json:"tokens"`
	Entropy        float64        `json:"entropy_bits"`
	MeanScore      float64        `json:"mean_score"`
	TraitNames     []string       `json:"trait_names"`
	ValuesPerTrait map[string]int `json:"values_per_trait"`
	NullCounts     map[string]int `json:"null_counts"`
}

func readCSV(t *testing.T, path string) [][]string {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	require.NoError(t, err)
	require.NotEmpty(t, rows)
	return rows[1:]
}

func TestVectors(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile(filepath.Join(vectorDir, "stats.json"))
	require.NoError(t, err)
	var all map[string]stats
	require.NoError(t, json.Unmarshal(raw, &all))
	inputs := map[string]string{
		"tiny_ties":    "tiny_ties.jsonl",
		"edge_cases":   "edge_cases.jsonl",
		"uniform_10k":  "uniform_10k.jsonl.gz",
		"one_rare_10k": "one_rare_10k.jsonl.gz",
	}
	require.Len(t, all, len(inputs))
	for name, file := range inputs {
		st := all[name]
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			toks, err := rarityfile.ReadFile(filepath.Join(vectorDir, "inputs", file))
			require.NoError(t, err)
			require.Len(t, toks, st.Tokens)
			res, err := rarity.Compute(toks, rarity.Options{})
			require.NoError(t, err)
			require.Equal(t, rarity.OpenRarity, res.Method)
			require.Equal(t, rarity.OpenRarityVersion, res.Version)
			require.InEpsilon(t, st.Entropy, res.Entropy, 1e-12)

			want := readCSV(t, filepath.Join(vectorDir, name+".csv"))
			feat := readCSV(t, filepath.Join(vectorDir, name+".features.csv"))
			require.Len(t, res.Tokens, len(want))
			require.Len(t, feat, len(want))
			sum := 0.0
			for i, got := range res.Tokens {
				w, f := want[i], feat[i]
				require.Equal(t, w[0], got.ID, "row %d", i)
				require.Equal(t, f[0], got.ID, "row %d", i)
				ref, err := strconv.ParseFloat(w[1], 64)
				require.NoError(t, err)
				require.LessOrEqual(t, math.Abs(got.Score-ref), 1e-12*math.Max(1, math.Abs(ref)),
					"token %s: score %v, want %v", got.ID, got.Score, ref)
				require.Equal(t, w[2], strconv.Itoa(got.Rank), "token %s rank", got.ID)
				require.Equal(t, f[1], strconv.Itoa(got.Unique), "token %s unique count", got.ID)
				require.Equal(t, f[2], strconv.Itoa(got.TraitCount), "token %s trait count", got.ID)
				sum += got.Score
			}
			require.InDelta(t, 1, sum/float64(len(res.Tokens)), 1e-12)

			// Trait names, distinct values and null buckets as in stats.json.
			values := map[string]int{}
			nulls := map[string]int{}
			var names []string
			for _, vc := range res.Traits {
				if len(names) == 0 || names[len(names)-1] != vc.Name {
					names = append(names, vc.Name)
				}
				if vc.Null {
					nulls[vc.Name] = vc.Count
				} else {
					values[vc.Name]++
				}
			}
			require.Equal(t, st.TraitNames, names)
			require.Equal(t, st.ValuesPerTrait, values)
			require.Equal(t, st.NullCounts, nulls)
			require.Empty(t, res.Excluded)
			require.Empty(t, res.Duplicates)
		})
	}
}

// TestCollisionVectors checks trait names that collide after normalisation
// (case, whitespace and Unicode case variants, repeated raw keys) against
// the reference library's output; see ../testdata/gen_collisions.py.
func TestCollisionVectors(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"collisions", "collisions_2k"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			raw, err := os.ReadFile(filepath.Join(vectorDir, name+".stats.json"))
			require.NoError(t, err)
			var st stats
			require.NoError(t, json.Unmarshal(raw, &st))
			toks, err := rarityfile.ReadFile(filepath.Join(vectorDir, "inputs", name+".jsonl"))
			require.NoError(t, err)
			require.Len(t, toks, st.Tokens)
			res, err := rarity.Compute(toks, rarity.Options{Method: rarity.OpenRarity})
			require.NoError(t, err)
			require.InEpsilon(t, st.Entropy, res.Entropy, 1e-12)
			require.NotEmpty(t, res.Duplicates)
			want := readCSV(t, filepath.Join(vectorDir, name+".csv"))
			feat := readCSV(t, filepath.Join(vectorDir, name+".features.csv"))
			require.Len(t, res.Tokens, len(want))
			for i, got := range res.Tokens {
				w, f := want[i], feat[i]
				require.Equal(t, w[0], got.ID, "row %d", i)
				ref, err := strconv.ParseFloat(w[1], 64)
				require.NoError(t, err)
				require.LessOrEqual(t, math.Abs(got.Score-ref), 1e-12*math.Max(1, math.Abs(ref)),
					"token %s: score %v, want %v", got.ID, got.Score, ref)
				require.Equal(t, w[2], strconv.Itoa(got.Rank), "token %s rank", got.ID)
				require.Equal(t, f[1], strconv.Itoa(got.Unique), "token %s unique count", got.ID)
				require.Equal(t, f[2], strconv.Itoa(got.TraitCount), "token %s trait count", got.ID)
			}
		})
	}
}
