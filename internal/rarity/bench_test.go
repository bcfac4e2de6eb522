package rarity

import (
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// BenchmarkCompute scores the synthetic collection of gen_collections.py
// (seed 42, 8 trait types) at three sizes with OpenRarity. Besides ns/op
// and allocs it reports:
//   - input-MB: live heap of the []Token input itself;
//   - peak-MB: the most heap one Compute held above that (sampled every
//     100µs, garbage not yet collected included), measured on a first,
//     untimed run in a fresh heap;
//   - rss-MB: the process's resident set before that run (input and test
//     binary) and rss-peak-MB its peak during the run (Linux only:
//     /proc/self/status VmHWM, reset through clear_refs). Run one size
//     alone (-bench 'Compute/1M$') so earlier sizes do not inflate them.
func BenchmarkCompute(b *testing.B) {
	for _, tc := range []struct {
		name string
		n    int
	}{{"10k", 10_000}, {"100k", 100_000}, {"1M", 1_000_000}} {
		b.Run(tc.name, func(b *testing.B) {
			runtime.GC()
			before := heapBytes()
			toks := synthetic(tc.n)
			runtime.GC()
			input := heapBytes() - before
			debug.FreeOSMemory()
			rss, rssOK := procStatus("VmRSS")
			rssOK = rssOK && os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) == nil
			peak := peakHeap(func() {
				if _, err := Compute(toks, Options{}); err != nil {
					b.Fatal(err)
				}
			})
			hwm, hwmOK := procStatus("VmHWM")
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if _, err := Compute(toks, Options{}); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(input)/1e6, "input-MB")
			b.ReportMetric(float64(peak)/1e6, "peak-MB")
			if rssOK && hwmOK {
				b.ReportMetric(float64(rss)/1e6, "rss-MB")
				b.ReportMetric(float64(hwm)/1e6, "rss-peak-MB")
			}
		})
	}
}

// procStatus returns a "kB" field of /proc/self/status, in bytes.
func procStatus(field string) (uint64, bool) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			n, err := strconv.ParseUint(strings.TrimSpace(strings.TrimSuffix(v, "kB")), 10, 64)
			return n << 10, err == nil
		}
	}
	return 0, false
}

func heapBytes() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// peakHeap runs f after a GC and returns the largest heap growth seen.
func peakHeap(f func()) uint64 {
	runtime.GC()
	base := heapBytes()
	var peak uint64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(100 * time.Microsecond)
		defer t.Stop()
		for {
			if h := heapBytes(); h > base && h-base > peak {
				peak = h - base
			}
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	}()
	f()
	if h := heapBytes(); h > base && h-base > peak {
		peak = h - base
	}
	close(stop)
	wg.Wait()
	return peak
}
