package main

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestParse(t *testing.T) {
	t.Parallel()
	f, err := os.Open("testdata/replicas.txt")
	require.NoError(t, err)
	defer f.Close()
	res := parse(f)
	require.Len(t, res, 3)
	require.Equal(t, "BenchmarkReplicas/replicas=1", res[0].Name)
	require.InDelta(t, 0.9712, res[0].Metrics["achieved/R"], 1e-9)
	require.InDelta(t, 2, res[2].Metrics["over-limit"], 1e-9)
	require.InDelta(t, 26001234567, res[2].Metrics["ns/op"], 1)
}

func rowByID(t *testing.T, id string) row {
	t.Helper()
	for _, r := range rows {
		if r.ID == id {
			return r
		}
	}
	t.Fatalf("no row %s", id)
	return row{}
}

func TestRenderVerdictsAndMissingMetrics(t *testing.T) {
	t.Parallel()
	f, err := os.Open("testdata/replicas.txt")
	require.NoError(t, err)
	defer f.Close()
	lines, errs := render(rowByID(t, "5"), parse(f))
	require.Empty(t, errs)
	require.Len(t, lines, 3)
	require.Equal(t, met, lines[0].Met)
	require.Equal(t, "replicas=1: 0.97·R", lines[0].Ours)
	require.Equal(t, missed, lines[2].Met, "0.91·R with 2 over-limit misses the target")

	// A result lacking a unit the row needs is an error, not a zero.
	lines, errs = render(rowByID(t, "1"), []result{{Name: "BenchmarkQueueOverhead", Metrics: map[string]float64{"ratio": 0.7}}})
	require.Len(t, lines, 1)
	require.Len(t, errs, 1)
	require.Contains(t, errs[0], "pipeline-jobs/s")
	require.Contains(t, lines[0].Ours, "?")

	// No result at all is an error too.
	_, errs = render(rowByID(t, "2"), nil)
	require.Equal(t, []string{"BenchmarkIngest: no result"}, errs)
}

func TestReportMarkdown(t *testing.T) {
	t.Parallel()
	f, err := os.Open("testdata/replicas.txt")
	require.NoError(t, err)
	defer f.Close()
	lines, _ := render(rowByID(t, "5"), parse(f))
	var buf bytes.Buffer
	report{Size: "full", Date: time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC), Took: 95 * time.Second,
		Machine: "linux/amd64, 2 CPUs", GoVersion: "go1.26.8", PGVersion: "15.14", Lines: lines}.write(&buf)
	out := buf.String()
	require.Contains(t, out, "Go 1.26.8, PostgreSQL 15.14")
	require.Contains(t, out, "| 5 | Rate-limit adherence")
	require.Contains(t, out, "|  |  | replicas=3: 0.96·R | R | 0 over-limit |  | met | `BenchmarkReplicas` |")
	require.Contains(t, out, "**missed**")
}

func TestFindPackages(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	write := func(path, src string) {
		require.NoError(t, os.MkdirAll(filepath.Dir(filepath.Join(root, path)), 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(root, path), []byte(src), 0o644))
	}
	write("jobs/a_test.go", "package jobs\n\nfunc BenchmarkIngest(b *testing.B) {}\nfunc BenchmarkQueueOverhead(b *testing.B) {}\n")
	write("cmd/x/b_test.go", "package main\n\nfunc BenchmarkReplicas(b *testing.B) {}\n")
	write("jobs/testdata/c_test.go", "func BenchmarkRarityReport(b *testing.B) {}\n")

	sel := []row{rowByID(t, "1"), rowByID(t, "2"), rowByID(t, "5")}
	pkgs, err := findPackages(root, sel)
	require.NoError(t, err)
	require.Len(t, pkgs, 2)
	require.Equal(t, []string{"BenchmarkQueueOverhead", "BenchmarkIngest"}, pkgs[0].benches)
	require.Equal(t, []string{"BenchmarkReplicas"}, pkgs[1].benches)

	_, err = findPackages(root, []row{rowByID(t, "3")})
	require.ErrorContains(t, err, "BenchmarkRarityReport", "a benchmark only under testdata does not count")
}

func TestParseArgs(t *testing.T) {
	t.Parallel()
	_, err := parseArgs([]string{"-size", "huge"})
	require.ErrorContains(t, err, "want quick or full")
	_, err = parseArgs([]string{"-rows", "1,99"})
	require.ErrorContains(t, err, `no row "99"`)
	c, err := parseArgs([]string{"-size", "quick", "-rows", "3,3b"})
	require.NoError(t, err)
	require.True(t, c.only["3b"])
}

func TestRenderTypicalQueryAgainstPostGraphile(t *testing.T) {
	t.Parallel()
	res := []result{
		{Name: "BenchmarkTypicalQuery/postgraphile/clients=16", Metrics: map[string]float64{"p50_ms": 40, "p99_ms": 96.5, "req/s": 355}},
		{Name: "BenchmarkTypicalQuery/clients=16", Metrics: map[string]float64{"p50_ms": 5, "p99_ms": 30, "req/s": 800, "x-postgraphile": 800.0 / 355}},
		{Name: "BenchmarkTypicalQuery/clients=16", Metrics: map[string]float64{"p50_ms": 5, "p99_ms": 30, "req/s": 600, "x-postgraphile": 600.0 / 355}},
		{Name: "BenchmarkTypicalQuery/clients=16", Metrics: map[string]float64{"p50_ms": 5, "p99_ms": 30, "req/s": 600}},
	}
	lines, errs := render(rowByID(t, "7"), res)
	require.Empty(t, errs)
	require.Equal(t, "PostGraphile 5, clients=16: p50 40.0 ms, p99 96.5 ms, 355 req/s", lines[0].Baseline)
	require.Equal(t, reported, lines[0].Met)
	require.Equal(t, "800 req/s (2.25× PostGraphile)", lines[1].Result)
	require.Equal(t, met, lines[1].Met)
	require.Equal(t, missed, lines[2].Met, "1.69× PostGraphile misses the 2× target")
	require.Equal(t, met, lines[3].Met, "without the baseline only p99 is judged")
	require.Contains(t, lines[3].Result, "no PostGraphile baseline")
}

// TestMergeRows: a report of some rows replaces those rows' lines in an
// existing report, keeps the others and says which rows were measured
// again.
func TestMergeRows(t *testing.T) {
	t.Parallel()
	full := report{Size: "full", Date: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC), Machine: "m", GoVersion: "go1.26"}
	for _, id := range []string{"1", "2", "10"} {
		i := slices.IndexFunc(rows, func(r row) bool { return r.ID == id })
		full.Lines = append(full.Lines, tableLine{Row: rows[i], line: line{Ours: "old " + id}})
	}
	var buf bytes.Buffer
	full.write(&buf)
	part := report{Size: "full", Date: time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC), Took: time.Minute}
	for _, id := range []string{"2", "11"} {
		i := slices.IndexFunc(rows, func(r row) bool { return r.ID == id })
		part.Lines = append(part.Lines, tableLine{Row: rows[i], line: line{Ours: "new " + id}})
	}
	out, err := mergeRows(buf.Bytes(), part)
	require.NoError(t, err)
	s := string(out)
	require.Contains(t, s, "old 1")
	require.Contains(t, s, "new 2")
	require.NotContains(t, s, "old 2")
	require.Contains(t, s, "old 10")
	require.Contains(t, s, "new 11")
	require.Less(t, strings.Index(s, "old 10"), strings.Index(s, "new 11"), "rows in the list's order")
	require.Contains(t, s, "Rows 2, 11 measured again (size full, 1m0s)")
}
