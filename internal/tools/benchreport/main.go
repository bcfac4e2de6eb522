// Command benchreport runs the benchmarks behind BENCHMARKS.md and writes the
// report: one table, the target beside every figure, every headline figure a
// ratio against a baseline measured in the same run on the same database.
//
// It runs under a throwaway PostgreSQL (`make bench` and `make bench-quick`
// wrap it in .ci/with-postgres.sh, which sets TEST_DATABASE_URL) and runs,
// one package at a time,
//
//	go test -run '^$' -bench '^(BenchmarkA|BenchmarkB)$' -benchtime 1x -count 1 <pkg>
//
// with NFTSYNC_BENCH_SIZE=full or quick. Each benchmark's package is found by
// looking for its function in the module's _test.go files. The run fails
// (exit 1) when a benchmark fails, is missing, or lacks a metric the report
// needs; a missed target is not a failure: the table says so.
//
//	go run ./internal/tools/benchreport -size quick            # table to stdout
//	go run ./internal/tools/benchreport -size full -out BENCHMARKS.md
//	go run ./internal/tools/benchreport -size full -rows 10,11 -out BENCHMARKS.md   # those rows again, the others kept
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "benchreport:", err)
		os.Exit(1)
	}
}

type config struct {
	size    string
	out     string
	only    map[string]bool
	timeout time.Duration
}

func parseArgs(args []string) (config, error) {
	fset := flag.NewFlagSet("benchreport", flag.ContinueOnError)
	size := fset.String("size", "full", "run size: quick (toy sizes, proves the harness) or full")
	out := fset.String("out", "", "write the report to this file (default: stdout)")
	only := fset.String("rows", "", "comma-separated row ids to run (default: all)")
	timeout := fset.Duration("timeout", 15*time.Minute, "timeout of each package's go test")
	if err := fset.Parse(args); err != nil {
		return config{}, err
	}
	if *size != "quick" && *size != "full" {
		return config{}, fmt.Errorf("-size %q: want quick or full", *size)
	}
	c := config{size: *size, out: *out, timeout: *timeout}
	if *only != "" {
		c.only = map[string]bool{}
		for _, id := range strings.Split(*only, ",") {
			if !slices.ContainsFunc(rows, func(r row) bool { return r.ID == id }) {
				return config{}, fmt.Errorf("-rows: no row %q", id)
			}
			c.only[id] = true
		}
	}
	return c, nil
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg, err := parseArgs(args)
	if err != nil {
		return err
	}
	if getenv("TEST_DATABASE_URL") == "" {
		return errors.New("TEST_DATABASE_URL is not set: run through .ci/with-postgres.sh (make bench does)")
	}
	selected := slices.DeleteFunc(slices.Clone(rows), func(r row) bool { return cfg.only != nil && !cfg.only[r.ID] })

	// Some rows into an existing report: those rows are replaced, the
	// others kept. Its notes are read before anything runs, so a note the
	// merge cannot read fails now, not after the benchmarks.
	var old []byte
	if cfg.out != "" && cfg.only != nil {
		b, rerr := os.ReadFile(cfg.out)
		switch {
		case rerr == nil:
			old = b
			if _, err := mergeRows(old, report{}, cfg.out); err != nil {
				return fmt.Errorf("%s: %w", cfg.out, err)
			}
		case !errors.Is(rerr, fs.ErrNotExist):
			return fmt.Errorf("read %s: %w", cfg.out, rerr)
		}
	}

	pkgs, err := findPackages(".", selected)
	if err != nil {
		return err
	}
	started := time.Now()
	results := map[string][]result{} // by benchmark function
	var failures []string
	for _, p := range pkgs {
		fmt.Fprintf(stderr, "benchreport: %s %s (size %s)\n", p.dir, strings.Join(p.benches, " "), cfg.size)
		t0 := time.Now()
		out, err := goTest(ctx, p, cfg, stderr)
		for _, res := range parse(bytes.NewReader(out)) {
			fn, _, _ := strings.Cut(res.Name, "/")
			results[fn] = append(results[fn], res)
		}
		if err != nil {
			failures = append(failures, fmt.Sprintf("%s: go test: %v", p.dir, err))
		}
		fmt.Fprintf(stderr, "benchreport: %s done in %s\n", p.dir, time.Since(t0).Round(time.Second))
	}
	rep := report{
		Size: cfg.size, Date: time.Now().UTC(), Took: time.Since(started),
		Machine: machine(), GoVersion: runtime.Version(), PGVersion: getenv("TEST_POSTGRES_VERSION"),
	}
	for _, r := range selected {
		lines, errs := render(r, results[r.Bench])
		rep.Lines = append(rep.Lines, lines...)
		failures = append(failures, errs...)
	}
	var buf bytes.Buffer
	rep.write(&buf)
	if old != nil {
		merged, merr := mergeRows(old, rep, cfg.out)
		if merr != nil {
			return fmt.Errorf("%s: %w", cfg.out, merr)
		}
		buf.Reset()
		buf.Write(merged)
	}
	if cfg.out == "" {
		_, err = stdout.Write(buf.Bytes())
	} else {
		err = os.WriteFile(cfg.out, buf.Bytes(), 0o644)
		fmt.Fprintf(stderr, "benchreport: wrote %s\n", cfg.out)
	}
	if err != nil {
		return err
	}
	if len(failures) > 0 {
		return fmt.Errorf("%d problem(s):\n  %s", len(failures), strings.Join(failures, "\n  "))
	}
	return nil
}

// pkgRun is one `go test` invocation: a package and its report benchmarks.
type pkgRun struct {
	dir     string
	benches []string
}

// findPackages finds, for each row's benchmark, the package whose _test.go
// files declare it, and groups the benchmarks by package (one build each).
func findPackages(root string, selected []row) ([]pkgRun, error) {
	want := map[string]bool{}
	for _, r := range selected {
		want[r.Bench] = true
	}
	found := map[string]string{}
	decl := regexp.MustCompile(`(?m)^func (Benchmark\w+)\(b \*testing\.B\)`)
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && path != root && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, "_test.go") {
			return nil
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, m := range decl.FindAllSubmatch(src, -1) {
			if name := string(m[1]); want[name] {
				found[name] = "./" + filepath.ToSlash(filepath.Dir(path))
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("find benchmarks: %w", err)
	}
	var out []pkgRun
	var missing []string
	for _, r := range selected {
		dir, ok := found[r.Bench]
		if !ok {
			missing = append(missing, r.Bench)
			continue
		}
		i := slices.IndexFunc(out, func(p pkgRun) bool { return p.dir == dir })
		if i < 0 {
			out = append(out, pkgRun{dir: dir})
			i = len(out) - 1
		}
		if !slices.Contains(out[i].benches, r.Bench) {
			out[i].benches = append(out[i].benches, r.Bench)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("benchmarks not found in any _test.go: %s", strings.Join(missing, ", "))
	}
	return out, nil
}

// goTest runs one package's benchmarks, streaming the output to stderr
// while keeping it for parsing.
func goTest(ctx context.Context, p pkgRun, cfg config, stderr io.Writer) ([]byte, error) {
	pattern := "^(" + strings.Join(p.benches, "|") + ")$"
	cmd := exec.CommandContext(ctx, "go", "test", "-run", "^$", "-bench", pattern, "-benchtime", "1x",
		"-count", "1", "-timeout", cfg.timeout.String(), p.dir)
	cmd.Env = append(os.Environ(), "NFTSYNC_BENCH_SIZE="+cfg.size)
	var out bytes.Buffer
	cmd.Stdout = io.MultiWriter(&out, stderr)
	cmd.Stderr = stderr
	err := cmd.Run()
	return out.Bytes(), err
}

// render turns a row's results into table lines; a row with no result or a
// missing metric yields a line saying so and an error.
func render(r row, results []result) ([]tableLine, []string) {
	if len(results) == 0 {
		return []tableLine{{Row: r, line: line{Ours: "no result (benchmark failed or was skipped)"}}},
			[]string{r.Bench + ": no result"}
	}
	var out []tableLine
	var errs []string
	for _, res := range results {
		_, size, _ := strings.Cut(res.Name, "/")
		m := &metrics{values: res.Metrics}
		l := r.Line(size, m)
		if len(m.missing) > 0 {
			errs = append(errs, fmt.Sprintf("%s: missing metric(s) %s", res.Name, strings.Join(m.missing, ", ")))
		}
		out = append(out, tableLine{Row: r, line: l})
	}
	return out, errs
}

// machine describes the CPU and memory from /proc (Linux), or the OS and
// architecture elsewhere.
func machine() string {
	desc := fmt.Sprintf("%s/%s, %d CPUs", runtime.GOOS, runtime.GOARCH, runtime.NumCPU())
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		if m := regexp.MustCompile(`(?m)^model name\s*:\s*(.+)$`).FindSubmatch(b); m != nil {
			desc += " (" + strings.TrimSpace(string(m[1])) + ")"
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		var kb int64
		if _, err := fmt.Sscanf(string(b), "MemTotal: %d kB", &kb); err == nil {
			desc += fmt.Sprintf(", %.0f GB RAM", float64(kb)/1024/1024)
		}
	}
	return desc
}
