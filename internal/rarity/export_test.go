package rarity

import "io"

// WriteSyntheticJSONL writes the synthetic collection of n tokens
// (gen_collections.py's synthetic(n, seed=42)) as JSON Lines, for the
// external benchmarks.
func WriteSyntheticJSONL(w io.Writer, n int) error { return writeJSONL(w, synthetic(n)) }

// PeakHeap runs f after a GC and returns the largest heap growth seen while
// it ran (see BenchmarkCompute), for the external benchmarks.
func PeakHeap(f func()) uint64 { return peakHeap(f) }
