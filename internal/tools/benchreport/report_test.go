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
	out, err := mergeRows(buf.Bytes(), part, "BENCHMARKS.md")
	require.NoError(t, err)
	s := string(out)
	require.Contains(t, s, "old 1")
	require.Contains(t, s, "new 2")
	require.NotContains(t, s, "old 2")
	require.Contains(t, s, "old 10")
	require.Contains(t, s, "new 11")
	require.Less(t, strings.Index(s, "old 10"), strings.Index(s, "new 11"), "rows in the list's order")
	require.Contains(t, s, "\n\nRows measured again on 2026-12-07 by `benchreport -size full -rows … -out BENCHMARKS.md`, the others as generated above: "+
		"row 2 (in a 1m0s run of rows 2 and 11) and row 11 (in a 1m0s run of rows 2 and 11).\n\n- Machine: m\n")
}

// mergeFixture is a report as committed: its note records rows 7, 10, 11
// and 12, row 7's with a person's remark.
func mergeFixture(t *testing.T) (string, []string) {
	t.Helper()
	b, err := os.ReadFile("testdata/merge-before.md")
	require.NoError(t, err)
	return string(b), strings.Split(string(b), "\n")
}

func partReport(date time.Time, took time.Duration, size string, ids ...string) report {
	part := report{Size: size, Date: date, Took: took}
	for _, id := range ids {
		i := slices.IndexFunc(rows, func(r row) bool { return r.ID == id })
		part.Lines = append(part.Lines, tableLine{Row: rows[i], line: line{Ours: "new " + id}})
	}
	return part
}

// withoutRow is a report's lines without its notes and the table lines of
// row id.
func withoutRow(lines []string, id string) []string {
	var out []string
	cur := ""
	for _, l := range lines {
		if strings.HasPrefix(l, "| ") {
			if c := strings.TrimSpace(strings.SplitN(strings.TrimPrefix(l, "|"), "|", 2)[0]); c != "" {
				cur = c
			}
			if cur == id {
				continue
			}
		}
		if !strings.Contains(l, "measured again") {
			out = append(out, l)
		}
	}
	return out
}

// noteLines are the lines of a report that are notes on re-measured rows.
func noteLines(s string) []string {
	return slices.DeleteFunc(strings.Split(s, "\n"), func(l string) bool { return !strings.Contains(l, "measured again") })
}

// TestMergeRowsKeepsProvenance: a merge rewrites only the records of the
// rows it measured; the others keep theirs, a person's remarks included.
func TestMergeRowsKeepsProvenance(t *testing.T) {
	t.Parallel()
	old, oldLines := mergeFixture(t)

	// Same day: the note keeps its form, only row 7's record changes.
	out, err := mergeRows([]byte(old), partReport(time.Date(2026, 12, 7, 11, 0, 0, 0, time.UTC), 160*time.Second, "full", "7"), "BENCHMARKS.md")
	require.NoError(t, err)
	require.Equal(t, []string{"Rows measured again on 2026-12-07 by `benchreport -size full -rows … -out BENCHMARKS.md`, the others as generated above: " +
		"row 7 (2m40s), row 10 (5m19s), row 11 (6m28s) and row 12 (in a 12m14s run of rows 10, 11 and 12)."}, noteLines(string(out)))
	require.Equal(t, withoutRow(oldLines, "7"), withoutRow(strings.Split(string(out), "\n"), "7"), "all else as it was")

	// A later day: the records of that day's run are plain, the others say
	// their day; a quick run says its size.
	out, err = mergeRows([]byte(old), partReport(time.Date(2026, 12, 8, 9, 0, 0, 0, time.UTC), 545*time.Second, "full", "10", "11"), "BENCHMARKS.md")
	require.NoError(t, err)
	require.Equal(t, []string{"Rows measured again on 2026-12-08 by `benchreport -size full -rows … -out BENCHMARKS.md`, the others as generated above: " +
		"row 7 (2m33s, load average 2 to 7, on 2026-12-07), row 10 (in a 9m5s run of rows 10 and 11), row 11 (in a 9m5s run of rows 10 and 11) " +
		"and row 12 (in a 12m14s run of rows 10, 11 and 12, on 2026-12-07)."}, noteLines(string(out)))
	out, err = mergeRows(out, partReport(time.Date(2026, 12, 8, 10, 0, 0, 0, time.UTC), 30*time.Second, "quick", "3b"), "BENCHMARKS.md")
	require.NoError(t, err)
	require.Equal(t, []string{"Rows measured again on 2026-12-08 by `benchreport -size quick -rows … -out BENCHMARKS.md`, the others as generated above: " +
		"row 3b (30s), row 7 (2m33s, load average 2 to 7, size full, on 2026-12-07), row 10 (in a 9m5s run of rows 10 and 11, size full), " +
		"row 11 (in a 9m5s run of rows 10 and 11, size full) and row 12 (in a 12m14s run of rows 10, 11 and 12, size full, on 2026-12-07)."}, noteLines(string(out)))
	require.Contains(t, string(out), "| 3b |", "the new row's line")

	// Records read back as written: merging nothing changes nothing.
	again, err := mergeRows(out, report{}, "BENCHMARKS.md")
	require.NoError(t, err)
	require.Equal(t, string(out), string(again))
}

// TestMergeRowsNotes: the note one merge used to write is read; a note in a
// form the merge cannot read is an error naming its line, never dropped.
func TestMergeRowsNotes(t *testing.T) {
	t.Parallel()
	old, _ := mergeFixture(t)
	legacy := strings.Replace(old, "Rows measured again on 2026-12-07 by `benchreport -size full -rows … -out BENCHMARKS.md`, the others as generated above: "+
		"row 7 (2m33s, load average 2 to 7), row 10 (5m19s), row 11 (6m28s) and row 12 (in a 12m14s run of rows 10, 11 and 12).",
		"Rows 10, 11, 12 measured again (size full, 12m14s) by `benchreport -rows 10,11,12` on 2026-12-07; the others as generated above.", 1)
	require.NotEqual(t, old, legacy)
	out, err := mergeRows([]byte(legacy), partReport(time.Date(2026, 12, 7, 11, 0, 0, 0, time.UTC), 319*time.Second, "full", "10"), "BENCHMARKS.md")
	require.NoError(t, err)
	require.Equal(t, []string{"Rows measured again on 2026-12-07 by `benchreport -size full -rows … -out BENCHMARKS.md`, the others as generated above: " +
		"row 10 (5m19s), row 11 (in a 12m14s run of rows 10, 11 and 12) and row 12 (in a 12m14s run of rows 10, 11 and 12)."}, noteLines(string(out)))

	for name, c := range map[string]struct{ note, line string }{
		"free form":   {"Row 11 measured again (size full, 6m28s) by `benchreport -rows 11`, and rows 10 and 12 by hand, on 2026-12-07.", "line 5"},
		"unclosed":    {"Rows measured again on 2026-12-07 by `benchreport -size full -rows … -out BENCHMARKS.md`, the others as generated above: row 7 (2m33s.", "line 5"},
		"separator":   {"Rows measured again on 2026-12-07 by `benchreport -size full -rows … -out BENCHMARKS.md`, the others as generated above: row 7 (2m33s); row 10 (5m19s).", "line 5"},
		"twice":       {"Rows measured again on 2026-12-07 by `benchreport -size full -rows … -out BENCHMARKS.md`, the others as generated above: row 7 (2m33s) and row 7 (1m).", "line 5"},
		"second note": {"Rows 7 measured again (size full, 1m0s) by `benchreport -rows 7` on 2026-12-06; the others as generated above.", "line 7"},
	} {
		bad := strings.Replace(old, "- Machine:", c.note+"\n\n- Machine:", 1)
		if name != "second note" {
			bad = strings.Replace(old, "\nRows measured again on", "\n"+c.note+"\nRows measured again on", 1)
		}
		_, err := mergeRows([]byte(bad), partReport(time.Now(), time.Minute, "full", "10"), "BENCHMARKS.md")
		require.ErrorContains(t, err, "merge: "+c.line+":", name)
	}
}

// TestMergeReadsTheCommittedReport: the notes of the committed report are
// in a form the merge reads, so `-rows N -out BENCHMARKS.md` keeps them
// (the tool checks this before it runs anything, too).
func TestMergeReadsTheCommittedReport(t *testing.T) {
	t.Parallel()
	old, err := os.ReadFile("../../../BENCHMARKS.md")
	require.NoError(t, err)
	out, err := mergeRows(old, report{}, "BENCHMARKS.md")
	require.NoError(t, err)
	require.Equal(t, string(old), string(out), "merging no rows changes nothing")
}
