package rarity_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nftsync/nftsync/internal/rarity"
	"github.com/nftsync/nftsync/internal/rarity/rarityfile"
)

// BenchmarkCLI measures `nftsync rarity` end to end on the synthetic
// 100k-token collection (a 16 MB JSON Lines file, 8 trait types):
// reading and parsing the file, scoring, ranking and rendering the CSV.
// ns/op is the command run in process (rarityfile.Run). Besides, once per
// benchmark, it times processes on the same file: the built nftsync binary
// (cli-process-ms) and the plain-Python implementation of the same
// algorithm in testdata/independent_openrarity.py (python-ms, standard
// library only), best of a few runs each, and reports their ratio
// (python/cli, the issue asks for at least 20); the same for the CPU time
// of the processes (cli-cpu-ms, python-cpu-ms, python/cli-cpu), which
// other load on the machine disturbs less:
//
//	go test -run '^$' -bench BenchmarkCLI -benchtime 10x ./internal/rarity
func BenchmarkCLI(b *testing.B) {
	dir := b.TempDir()
	in := filepath.Join(dir, "synthetic_100k.jsonl")
	var file bytes.Buffer
	require.NoError(b, rarity.WriteSyntheticJSONL(&file, 100_000))
	require.NoError(b, os.WriteFile(in, file.Bytes(), 0o600))

	// best runs a process a few times and returns its shortest wall-clock
	// time and its smallest CPU time (user + system: what the process
	// itself spent, which a busy machine disturbs less).
	best := func(runs int, name string, args ...string) (wall, cpu time.Duration) {
		for range runs {
			cmd := exec.Command(name, args...)
			var stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = nil, &stderr // stdout to /dev/null
			start := time.Now()
			require.NoError(b, cmd.Run(), stderr.String())
			d := time.Since(start)
			c := cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
			if wall == 0 || d < wall {
				wall = d
			}
			if cpu == 0 || c < cpu {
				cpu = c
			}
		}
		return wall, cpu
	}
	bin := filepath.Join(dir, "nftsync")
	build := exec.Command("go", "build", "-o", bin, "github.com/nftsync/nftsync/cmd/nftsync")
	build.Stderr = os.Stderr
	require.NoError(b, build.Run())
	cli, cliCPU := best(5, bin, "rarity", "--input", in)
	var pyt, pyCPU time.Duration
	py, pyErr := exec.LookPath("python3")
	if pyErr == nil {
		pyt, pyCPU = best(3, py, filepath.Join("testdata", "independent_openrarity.py"), in)
	}

	var out bytes.Buffer
	b.ResetTimer()
	for b.Loop() {
		out.Reset()
		if err := rarityfile.Run([]string{"--input", in}, &out); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(file.Len())/1e6, "file-MB")
	b.ReportMetric(float64(cli.Microseconds())/1e3, "cli-process-ms")
	b.ReportMetric(float64(cliCPU.Microseconds())/1e3, "cli-cpu-ms")
	if pyErr == nil {
		b.ReportMetric(float64(pyt.Microseconds())/1e3, "python-ms")
		b.ReportMetric(float64(pyCPU.Microseconds())/1e3, "python-cpu-ms")
		b.ReportMetric(pyt.Seconds()/cli.Seconds(), "python/cli")
		b.ReportMetric(pyCPU.Seconds()/cliCPU.Seconds(), "python/cli-cpu")
	}
}
