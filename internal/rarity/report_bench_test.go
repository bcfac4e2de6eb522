package rarity_test

import (
	"bufio"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nftsync/nftsync/internal/benchsize"
	"github.com/nftsync/nftsync/internal/rarity"
	"github.com/nftsync/nftsync/internal/rarity/rarityfile"
)

// BenchmarkRarityReport is the rarity row of the benchmark report: for the
// synthetic collection (8 trait types) at 10k, 100k and 1M tokens (1k, 5k
// and 10k under NFTSYNC_BENCH_SIZE=quick; the sub-benchmark is named by the
// real size and the tokens metric repeats it), on the same generated JSON
// Lines file:
//   - engine-s: rarity.Compute (OpenRarity) in this process on the tokens
//     read from the file, and engine-peak-MB the most heap it held above
//     its input (garbage included), sampled on a second run;
//   - cli-s, cli-rss-MB, cli-cpu-s: `nftsync rarity --input FILE` as a
//     process (read, score, rank, write the CSV to a file): wall clock,
//     peak resident set (the child's ru_maxrss, see launch) and CPU time,
//     best of up to five runs while they take under 2 s in all;
//   - python-s, python-rss-MB, python-cpu-s: the same for the plain-Python
//     implementation of the same algorithm (testdata/independent_openrarity.py,
//     standard library only, dicts and floats);
//   - python/cli (target at least 20) and python/cli-cpu, the same ratio of
//     CPU times, which other load on the machine disturbs less.
//
// The three outputs must agree: the engine's and the CLI's ranks and
// scores exactly, Python's ranks exactly and its scores within 1e-9, or
// the benchmark fails. Python gets what is left of the row's budget (140 s
// after building nftsync, 20 s quick; at least a tenth of it); when it runs
// out the process is killed, python-killed is 1, python-s and python/cli are
// lower bounds and its output is not compared.
//
//	go test -run '^$' -bench '^BenchmarkRarityReport$' -benchtime 1x ./internal/rarity
func BenchmarkRarityReport(b *testing.B) {
	sizes := benchsize.Pick(b, []int{1_000, 5_000, 10_000}, []int{10_000, 100_000, 1_000_000})
	budget := benchsize.Pick(b, 20*time.Second, 140*time.Second) // after building nftsync
	env := newReportEnv(b)
	deadline := time.Now().Add(budget - budget/15) // the rest: comparing the last outputs
	for _, n := range sizes {
		b.Run("tokens="+countName(n), func(b *testing.B) {
			in := filepath.Join(b.TempDir(), "collection.jsonl")
			f, err := os.Create(in)
			require.NoError(b, err)
			w := bufio.NewWriterSize(f, 1<<20)
			require.NoError(b, rarity.WriteSyntheticJSONL(w, n))
			require.NoError(b, w.Flush())
			require.NoError(b, f.Close())
			st, err := os.Stat(in)
			require.NoError(b, err)

			var m reportSize
			for b.Loop() {
				m = env.measure(b, in, n, max(time.Until(deadline), budget/10))
			}
			b.ReportMetric(float64(n), "tokens")
			b.ReportMetric(float64(st.Size())/1e6, "file-MB")
			b.ReportMetric(m.engine.Seconds(), "engine-s")
			b.ReportMetric(float64(m.enginePeak)/1e6, "engine-peak-MB")
			b.ReportMetric(m.cli.Wall.Seconds(), "cli-s")
			b.ReportMetric(float64(m.cli.MaxRSS)/1e6, "cli-rss-MB")
			b.ReportMetric(m.cli.CPU.Seconds(), "cli-cpu-s")
			b.ReportMetric(m.python.Wall.Seconds(), "python-s")
			b.ReportMetric(float64(m.python.MaxRSS)/1e6, "python-rss-MB")
			b.ReportMetric(m.python.CPU.Seconds(), "python-cpu-s")
			b.ReportMetric(m.python.Wall.Seconds()/m.cli.Wall.Seconds(), "python/cli")
			b.ReportMetric(m.python.CPU.Seconds()/m.cli.CPU.Seconds(), "python/cli-cpu")
			b.ReportMetric(float64(env.floor)/1e6, "launcher-rss-MB")
			killed := 0.0
			if m.python.Killed {
				killed = 1
				b.Logf("%s tokens: Python killed after %.1f s (the row's budget): python-s and python/cli are lower bounds, its output unchecked",
					countName(n), m.python.Wall.Seconds())
			}
			b.ReportMetric(killed, "python-killed")
		})
	}
}

// reportEnv is what every size of BenchmarkRarityReport shares: the built
// nftsync binary, the Python interpreter and the launcher's own peak RSS.
type reportEnv struct {
	bin, python, script string
	floor               int64
}

func newReportEnv(b *testing.B) *reportEnv {
	dir := b.TempDir()
	env := &reportEnv{bin: filepath.Join(dir, "nftsync")}
	build := exec.Command("go", "build", "-o", env.bin, "github.com/nftsync/nftsync/cmd/nftsync")
	build.Stderr = os.Stderr
	require.NoError(b, build.Run(), "build nftsync")
	// The interpreter itself, not a wrapper script in front of it (pyenv's
	// shims are shell scripts that cost more than Python's own start-up).
	py, err := exec.Command("python3", "-c", "import sys; print(sys.executable)").Output()
	require.NoError(b, err, "python3 runs the plain-Python baseline")
	env.python = strings.TrimSpace(string(py))
	env.script, err = filepath.Abs(filepath.Join("testdata", "independent_openrarity.py"))
	require.NoError(b, err)
	truePath, err := exec.LookPath("true")
	require.NoError(b, err)
	res := runLaunched(b, os.DevNull, time.Minute, truePath)
	require.Empty(b, res.Err)
	env.floor = res.MaxRSS
	return env
}

// reportSize is one size's measurements.
type reportSize struct {
	engine      time.Duration
	enginePeak  uint64
	cli, python launchResult
}

// measure runs the engine, the CLI and Python on the file in and checks
// that their results agree; Python may run for pyBudget at most.
func (env *reportEnv) measure(b *testing.B, in string, n int, pyBudget time.Duration) reportSize {
	var m reportSize
	toks, err := rarityfile.ReadFile(in)
	require.NoError(b, err)
	require.Len(b, toks, n)
	opts := rarity.Options{Method: rarity.OpenRarity}
	start := time.Now()
	_, err = rarity.Compute(toks, opts)
	m.engine = time.Since(start)
	require.NoError(b, err)
	var res *rarity.Result
	m.enginePeak = rarity.PeakHeap(func() { res, err = rarity.Compute(toks, opts) })
	require.NoError(b, err)
	toks = nil

	dir := filepath.Dir(in)
	cliOut, pyOut := filepath.Join(dir, "cli.csv"), filepath.Join(dir, "python.csv")
	m.cli = bestLaunched(b, cliOut, 10*time.Minute, env.bin, "rarity", "--input", in)
	require.Empty(b, m.cli.Err, "nftsync rarity")
	rows := 0
	eachCSVRow(b, cliOut, func(i int, id, rank string, score float64) {
		rows++
		if i >= len(res.Tokens) {
			b.Fatalf("cli row %d: the engine has %d tokens", i, len(res.Tokens))
		}
		if w := res.Tokens[i]; w.ID != id || strconv.Itoa(w.Rank) != rank || w.Score != score {
			b.Fatalf("cli row %d: token %s score %v rank %s, the engine: token %s score %v rank %d", i, id, score, rank, w.ID, w.Score, w.Rank)
		}
	})
	require.Equal(b, n, rows, "cli rows")
	res = nil

	m.python = bestLaunched(b, pyOut, pyBudget, env.python, env.script, in)
	if m.python.Killed {
		return m
	}
	require.Empty(b, m.python.Err, "python")
	compareCSV(b, cliOut, pyOut, n)
	return m
}

// bestLaunched runs a process once through the launcher and, while its
// runs add up to less than two seconds, up to four more times (start-up
// noise on a busy machine dwarfs small runs). It returns the shortest wall
// clock and CPU time seen and the largest peak RSS; a killed or failed run
// is returned as it is.
func bestLaunched(b *testing.B, out string, timeout time.Duration, args ...string) launchResult {
	best := runLaunched(b, out, timeout, args...)
	total := best.Wall
	for runs := 1; runs < 5 && total < 2*time.Second && !best.Killed && best.Err == ""; runs++ {
		r := runLaunched(b, out, timeout, args...)
		if r.Killed || r.Err != "" {
			return r
		}
		total += r.Wall
		best.Wall, best.CPU, best.MaxRSS = min(best.Wall, r.Wall), min(best.CPU, r.CPU), max(best.MaxRSS, r.MaxRSS)
	}
	return best
}

// compareCSV checks that two outputs list the same n tokens in the same
// order with the same ranks and scores within 1e-9 (the Python sums its
// logarithms in another order).
func compareCSV(b *testing.B, cliOut, pyOut string, n int) {
	f, err := os.Open(pyOut)
	require.NoError(b, err)
	defer f.Close()
	py := bufio.NewScanner(f)
	py.Buffer(make([]byte, 1<<16), 1<<20)
	require.True(b, py.Scan(), "python header")
	rows := 0
	eachCSVRow(b, cliOut, func(i int, id, rank string, score float64) {
		rows++
		if !py.Scan() {
			b.Fatalf("python output ends before row %d", i)
		}
		f := strings.SplitN(py.Text(), ",", 4)
		if len(f) < 3 {
			b.Fatalf("python row %d: %q", i, py.Text())
		}
		ps, err := strconv.ParseFloat(f[1], 64)
		if err != nil || f[0] != id || f[2] != rank || math.Abs(ps-score) > 1e-9*math.Max(1, math.Abs(score)) {
			b.Fatalf("python row %d: %q (%v), the cli: token %s score %v rank %s", i, py.Text(), err, id, score, rank)
		}
	})
	require.NoError(b, py.Err())
	require.False(b, py.Scan(), "python output has more rows than the CLI's")
	require.Equal(b, n, rows)
}

// eachCSVRow calls fn for each row of a token_id,score,rank[,...] CSV
// (header skipped; rows counted from 0).
func eachCSVRow(b *testing.B, path string, fn func(i int, id, rank string, score float64)) {
	f, err := os.Open(path)
	require.NoError(b, err)
	defer f.Close()
	s := bufio.NewScanner(f)
	s.Buffer(make([]byte, 1<<16), 1<<20)
	require.True(b, s.Scan(), "%s: no header", path)
	for i := 0; s.Scan(); i++ {
		id, rest, _ := strings.Cut(s.Text(), ",")
		score, rest, _ := strings.Cut(rest, ",")
		rank, _, _ := strings.Cut(rest, ",")
		v, err := strconv.ParseFloat(score, 64)
		if err != nil {
			b.Fatalf("%s row %d: %v", path, i, err)
		}
		fn(i, id, rank, v)
	}
	require.NoError(b, s.Err())
}

// countName writes a token count as the report names it: 1k, 100k, 1M.
func countName(n int) string {
	switch {
	case n >= 1_000_000 && n%1_000_000 == 0:
		return fmt.Sprintf("%dM", n/1_000_000)
	case n >= 1_000 && n%1_000 == 0:
		return fmt.Sprintf("%dk", n/1_000)
	}
	return strconv.Itoa(n)
}
