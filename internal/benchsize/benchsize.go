// Package benchsize tells a report benchmark how big to make its run.
//
// `make bench` sets NFTSYNC_BENCH_SIZE=full and `make bench-quick` sets it to
// quick (toy sizes, to prove the harness works in CI without asserting any
// timing). A plain `go test -bench` with the variable unset runs full size.
// Only benchmarks read it: it is test-harness configuration, not the
// application's.
package benchsize

import (
	"os"
	"testing"
)

// Env is the variable that chooses the size.
const Env = "NFTSYNC_BENCH_SIZE"

// Quick reports whether the run asks for toy sizes. Any value other than
// "quick", "full" or empty fails the benchmark, so a typo never silently
// runs the wrong size.
func Quick(tb testing.TB) bool {
	tb.Helper()
	switch v := os.Getenv(Env); v {
	case "quick":
		return true
	case "", "full":
		return false
	default:
		tb.Fatalf("%s=%q: want quick or full", Env, v)
		return false
	}
}

// Pick returns quick under a quick run and full otherwise.
func Pick[T any](tb testing.TB, quick, full T) T {
	tb.Helper()
	if Quick(tb) {
		return quick
	}
	return full
}
