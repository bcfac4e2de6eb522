package rarityfile_test

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/csv"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/nftsync/nftsync/internal/rarity"
	"github.com/nftsync/nftsync/internal/rarity/rarityfile"
)

// TestFormatFloatGolden compares with ../testdata/repr.txt, Python's
// repr() of ~6,500 float64 values (gen_repr.py).
func TestFormatFloatGolden(t *testing.T) {
	t.Parallel()
	f, err := os.Open(filepath.Join(vectorDir, "repr.txt"))
	require.NoError(t, err)
	defer f.Close()
	sc := bufio.NewScanner(f)
	n := 0
	for sc.Scan() {
		hexBits, want, ok := strings.Cut(sc.Text(), " ")
		require.True(t, ok)
		bits, err := strconv.ParseUint(hexBits, 16, 64)
		require.NoError(t, err)
		require.Equal(t, want, rarityfile.FormatFloat(math.Float64frombits(bits)), "bits %s", hexBits)
		n++
	}
	require.NoError(t, sc.Err())
	require.Greater(t, n, 6000)
	require.Equal(t, "nan", rarityfile.FormatFloat(math.NaN()))
}

func TestRead(t *testing.T) {
	t.Parallel()
	in := strings.Join([]string{
		`{"token_id": 1, "attributes": {"Hat": "Cap", "Level": 5, "Shiny": true, "hat": "x"}}`,
		``,
		`{"token_id": "0xabc", "standard": "erc721", "attributes": [{"trait_type": "Level", "value": 3, "display_type": "number"}, {"trait_type": "Eyes", "value": "Blue", "display_type": null}]}`,
		`{"attributes": {}, "token_id": 123456789012345678901234567890}`,
	}, "\n")
	toks, err := rarityfile.Read(strings.NewReader(in))
	require.NoError(t, err)
	require.Equal(t, []rarity.Token{
		{ID: "1", Attributes: []rarity.Attribute{
			{Name: "Hat", Value: "Cap"}, {Name: "Level", Value: "5", Numeric: true},
			{Name: "Shiny", Value: "true", Numeric: true}, {Name: "hat", Value: "x"},
		}},
		{ID: "0xabc", Standard: "erc721", Attributes: []rarity.Attribute{
			{Name: "Level", Value: "3", DisplayType: "number", Numeric: true},
			{Name: "Eyes", Value: "Blue"},
		}},
		{ID: "123456789012345678901234567890", Attributes: []rarity.Attribute{}},
	}, toks)
}

func TestReadErrors(t *testing.T) {
	t.Parallel()
	good := `{"token_id": 1, "attributes": {"a": "b"}}`
	for _, tc := range []struct{ line, msg string }{
		{`{"token_id": 2, "attributes": {"a": null}}`, `attribute "a": want a string, number or boolean, got null`},
		{`{"token_id": 2, "attributes": {"a": ["x"]}}`, `got an array`},
		{`{"token_id": -2, "attributes": {}}`, `token_id: want a non-negative integer, got -2`},
		{`{"token_id": 2.5, "attributes": {}}`, `non-negative integer`},
		{`{"token_id": "", "attributes": {}}`, `token_id: empty string`},
		{`{"attributes": {}}`, `missing token_id`},
		{`{"token_id": 2}`, `missing attributes`},
		{`{"token_id": 2, "attributes": {}, "x": 1}`, `unknown field "x"`},
		{`{"token_id": 2, "attributes": {}} {}`, `unexpected data after the JSON object`},
		{`{"token_id": 2, "attributes": {"a": "b"}`, `EOF`},
		{`[1]`, `want a JSON object, got an array`},
		{`{"token_id": 1, "attributes": {}}`, `duplicate token_id "1" (first on line 1)`},
		{`{"token_id": "01", "attributes": {}}`, `duplicate token_id "01"`},
		{`{"token_id": 2, "attributes": [{"value": "x"}]}`, `attributes[0]: missing trait_type`},
		{`{"token_id": 2, "attributes": [{"trait_type": "x"}]}`, `missing value`},
		{`not json`, `parse line 3`},
	} {
		_, err := rarityfile.Read(strings.NewReader(good + "\n\n" + tc.line + "\n"))
		require.ErrorContains(t, err, "parse line 3: ", tc.line)
		require.ErrorContains(t, err, tc.msg, tc.line)
	}
}

func gz(t *testing.T, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	_, err := w.Write(b)
	require.NoError(t, err)
	require.NoError(t, w.Close())
	return buf.Bytes()
}

func TestRunCSVMatchesVectors(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"tiny_ties", "edge_cases"} {
		var out bytes.Buffer
		require.NoError(t, rarityfile.Run([]string{"--input", filepath.Join(vectorDir, "inputs", name+".jsonl")}, &out))
		want, err := os.ReadFile(filepath.Join(vectorDir, name+".csv"))
		require.NoError(t, err)
		got, err := csv.NewReader(&out).ReadAll()
		require.NoError(t, err)
		ref, err := csv.NewReader(bytes.NewReader(want)).ReadAll()
		require.NoError(t, err)
		require.Len(t, got, len(ref))
		require.Equal(t, ref[0], got[0])
		for i := 1; i < len(ref); i++ {
			require.Equal(t, ref[i][0], got[i][0])
			require.Equal(t, ref[i][2], got[i][2])
			a, _ := strconv.ParseFloat(ref[i][1], 64)
			b, _ := strconv.ParseFloat(got[i][1], 64)
			require.InDelta(t, a, b, 1e-12*math.Max(1, a))
			if a == b { // same float: same text
				require.Equal(t, ref[i][1], got[i][1])
			}
		}
	}
}

func TestRunGzipByMagicAndJSON(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile(filepath.Join(vectorDir, "inputs", "tiny_ties.jsonl"))
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), "tiny.data") // no .gz suffix
	require.NoError(t, os.WriteFile(path, gz(t, raw), 0o600))
	var out bytes.Buffer
	require.NoError(t, rarityfile.Run([]string{"-input", path, "-method", "statistical", "-output", "json"}, &out))
	var doc struct {
		Method    string  `json:"method"`
		Version   string  `json:"version"`
		Entropy   float64 `json:"entropy"`
		InputHash string  `json:"input_hash"`
		Tokens    []struct {
			ID         string  `json:"token_id"`
			Score      float64 `json:"score"`
			Rank       int     `json:"rank"`
			Unique     int     `json:"unique_attribute_count"`
			TraitCount int     `json:"trait_count"`
		} `json:"tokens"`
	}
	require.NoError(t, json.Unmarshal(out.Bytes(), &doc))
	require.Equal(t, "statistical", doc.Method)
	require.Equal(t, rarity.StatisticalVersion, doc.Version)
	require.Len(t, doc.InputHash, 64)
	require.Len(t, doc.Tokens, 5)
	require.Equal(t, "4", doc.Tokens[4].ID)
	require.Equal(t, 1, doc.Tokens[4].Rank)
	require.Equal(t, 3, doc.Tokens[4].TraitCount)
}

func TestRunErrorsWriteNothing(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.jsonl.gz")
	require.NoError(t, os.WriteFile(bad, gz(t, []byte("{\"token_id\":1,\"attributes\":{}}\n{\"token_id\":2,\"attributes\":{\"a\":null}}\n")), 0o600))
	erc := filepath.Join(dir, "erc.jsonl")
	require.NoError(t, os.WriteFile(erc, []byte(`{"token_id":1,"standard":"erc1155","attributes":{}}`), 0o600))
	notgz := filepath.Join(dir, "plain.jsonl.gz")
	require.NoError(t, os.WriteFile(notgz, []byte(`{"token_id":1,"attributes":{}}`), 0o600))
	dup := filepath.Join(dir, "dup.jsonl")
	require.NoError(t, os.WriteFile(dup, []byte("{\"token_id\":7,\"attributes\":{}}\n{\"token_id\":8,\"attributes\":{}}\n{\"token_id\":\"007\",\"attributes\":{}}\n"), 0o600))
	tiny := filepath.Join(vectorDir, "inputs", "tiny_ties.jsonl")
	for _, tc := range []struct {
		args []string
		msg  string
	}{
		{[]string{"--input", bad}, "parse line 2: attribute \"a\""},
		{[]string{"--input", erc}, "erc1155"},
		{[]string{"--input", dup}, `parse line 3: duplicate token_id "007" (first on line 1)`},
		{[]string{"--input", notgz}, "gzip"},
		{[]string{"--input", filepath.Join(dir, "missing.jsonl")}, "no such file"},
		{[]string{}, "--input is required"},
		{[]string{"--input", tiny, "--method", "harmonic"}, "unknown rarity method"},
		{[]string{"--input", tiny, "--output", "xml"}, "unknown output format"},
		{[]string{"--input", tiny, "--trait-count"}, "TraitCount"},
		{[]string{"--bogus"}, "flag provided but not defined"},
		{[]string{"--input", tiny, "extra"}, "unexpected argument"},
	} {
		var out bytes.Buffer
		err := rarityfile.Run(tc.args, &out)
		require.ErrorContains(t, err, tc.msg, tc.args)
		require.Zero(t, out.Len(), "nothing written on error: %v", tc.args)
	}
	var out bytes.Buffer
	require.NoError(t, rarityfile.Run([]string{"-h"}, &out))
	require.Contains(t, out.String(), "usage: nftsync rarity")
	out.Reset()
	require.NoError(t, rarityfile.Run([]string{"--input", tiny, "--method", "rarity_tools", "--trait-count"}, &out))
	require.True(t, strings.HasPrefix(out.String(), "token_id,score,rank\n0,"))
}

// The default output of a collection with colliding trait names is the
// reference's; --all-values keeps every value and so differs.
func TestRunAllValues(t *testing.T) {
	t.Parallel()
	in := filepath.Join(vectorDir, "inputs", "collisions.jsonl")
	var exact, all bytes.Buffer
	require.NoError(t, rarityfile.Run([]string{"--input", in}, &exact))
	require.NoError(t, rarityfile.Run([]string{"--input", in, "--all-values"}, &all))
	want, err := os.ReadFile(filepath.Join(vectorDir, "collisions.csv"))
	require.NoError(t, err)
	require.Equal(t, strings.Count(string(want), "\n"), strings.Count(exact.String(), "\n"))
	require.NotEqual(t, exact.String(), all.String())
}
