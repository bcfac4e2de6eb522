package main

import (
	"bufio"
	"io"
	"regexp"
	"strconv"
	"strings"
)

// result is one benchmark line: its full name without the GOMAXPROCS suffix
// (e.g. "BenchmarkReplicas/replicas=3") and its metrics by unit.
type result struct {
	Name    string
	Metrics map[string]float64
}

// benchLine matches the standard output of `go test -bench`:
//
//	BenchmarkReplicas/replicas=3-2   1   25012345678 ns/op   0.97 achieved/R   0 over-limit
var benchLine = regexp.MustCompile(`^(Benchmark\S+?)(?:-\d+)?\s+(\d+)\s+(.+)$`)

// parse reads `go test -bench` output and returns its results in order.
// Lines that are not benchmark results (logs, PASS, ok) are ignored; a
// malformed value/unit pair ends that line's metrics.
func parse(r io.Reader) []result {
	var out []result
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		m := benchLine.FindStringSubmatch(strings.TrimSpace(sc.Text()))
		if m == nil {
			continue
		}
		res := result{Name: m[1], Metrics: map[string]float64{}}
		f := strings.Fields(m[3])
		for i := 0; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				break
			}
			res.Metrics[f[i+1]] = v
		}
		out = append(out, res)
	}
	return out
}
