package rarity_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"
)

// launchEnv turns the test binary into a launcher (see TestMain): the
// variable holds a JSON launchSpec.
const launchEnv = "NFTSYNC_RARITY_BENCH_LAUNCH"

func TestMain(m *testing.M) {
	if spec, ok := os.LookupEnv(launchEnv); ok {
		os.Exit(launch(spec))
	}
	os.Exit(m.Run())
}

// launchSpec is one process for the launcher to run: its arguments, the
// file its standard output goes to and how long it may run before it is
// killed.
type launchSpec struct {
	Args    []string
	Stdout  string
	Timeout time.Duration
}

// launchResult is what the launcher measured of the process.
type launchResult struct {
	Wall, CPU time.Duration
	MaxRSS    int64 // bytes: the peak resident set size (ru_maxrss)
	Killed    bool  // the timeout killed it
	Err       string
}

// launch runs the process of a launchSpec and writes a launchResult as JSON
// to stdout; the process's stderr goes to the launcher's stderr.
//
// Why a launcher: Go starts a child with vfork, so until the child execs it
// runs in its parent's address space, and the kernel carries that address
// space's high-water mark into the child's ru_maxrss. A child of the
// benchmark process, which holds up to a million parsed tokens, would
// report the benchmark's own peak. The launcher is a freshly started
// process that resets its own high-water mark first (clear_refs), so a
// child's ru_maxrss is its own peak, or the launcher's few megabytes when
// that is larger (the benchmark reports that floor as launcher-rss-MB).
func launch(specJSON string) int {
	var spec launchSpec
	if err := json.Unmarshal([]byte(specJSON), &spec); err != nil || len(spec.Args) == 0 {
		fmt.Fprintf(os.Stderr, "launcher: bad %s %q: %v\n", launchEnv, specJSON, err)
		return 2
	}
	out, err := os.Create(spec.Stdout)
	if err != nil {
		fmt.Fprintln(os.Stderr, "launcher:", err)
		return 2
	}
	defer out.Close()
	_ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) // Linux; elsewhere the floor is the launcher's peak
	ctx, cancel := context.WithTimeout(context.Background(), spec.Timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, spec.Args[0], spec.Args[1:]...)
	cmd.Stdout, cmd.Stderr = out, os.Stderr
	start := time.Now()
	err = cmd.Run()
	res := launchResult{Wall: time.Since(start), Killed: ctx.Err() != nil}
	if err != nil {
		res.Err = err.Error()
	}
	if ps := cmd.ProcessState; ps != nil {
		res.CPU = ps.UserTime() + ps.SystemTime()
		if ru, ok := ps.SysUsage().(*syscall.Rusage); ok {
			res.MaxRSS = int64(ru.Maxrss) << 10 // kilobytes on Linux
		}
	}
	if err := json.NewEncoder(os.Stdout).Encode(res); err != nil {
		fmt.Fprintln(os.Stderr, "launcher:", err)
		return 2
	}
	return 0
}

// runLaunched runs args through a launcher process (a copy of this test
// binary) with stdout to the file out, and returns what it measured.
// Failing to launch fails tb; the process's own failure is in Err.
func runLaunched(tb testing.TB, out string, timeout time.Duration, args ...string) launchResult {
	tb.Helper()
	self, err := os.Executable()
	if err != nil {
		tb.Fatalf("launcher: %v", err)
	}
	spec, err := json.Marshal(launchSpec{Args: args, Stdout: out, Timeout: timeout})
	if err != nil {
		tb.Fatal(err)
	}
	cmd := exec.Command(self)
	cmd.Env = append(os.Environ(), launchEnv+"="+string(spec))
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		tb.Fatalf("launcher for %q: %v\n%s", args, err, stderr.String())
	}
	var res launchResult
	if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
		tb.Fatalf("launcher for %q: %v\n%s", args, err, stdout.String())
	}
	if res.Err != "" {
		res.Err += "\n" + stderr.String()
	}
	return res
}
