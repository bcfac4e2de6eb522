package main

import (
	"bufio"
	"bytes"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgtype"
	"github.com/stretchr/testify/require"
)

// replicas runs real `nftsync` processes for a test and stops them at
// cleanup. Each worker's output is kept and printed when the test fails;
// the buffers are locked because a process killed on a timeout may still be
// writing while the failure is reported.
type replicas struct {
	t    testing.TB
	bin  string
	env  []string
	mu   sync.Mutex
	cmds map[string]*exec.Cmd
	logs map[string]*syncBuffer
	done map[string]chan error
}

func newReplicas(t testing.TB, env ...string) *replicas {
	t.Helper()
	r := &replicas{
		t: t, bin: buildBinary(t), env: append(os.Environ(), env...),
		cmds: map[string]*exec.Cmd{}, logs: map[string]*syncBuffer{}, done: map[string]chan error{},
	}
	t.Cleanup(func() {
		r.stopAll()
		if t.Failed() {
			for id, l := range r.logs {
				t.Logf("--- %s output ---\n%s", id, tail(l.String(), 4000))
			}
		}
	})
	return r
}

// syncBuffer is a bytes.Buffer safe for a writer and a reader goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}

// cli runs a one-off command and returns its output.
func (r *replicas) cli(args ...string) string {
	r.t.Helper()
	cmd := exec.Command(r.bin, args...)
	cmd.Env = r.env
	out, err := cmd.CombinedOutput()
	require.NoError(r.t, err, string(out))
	return string(out)
}

// start launches `nftsync worker` with NFTSYNC_WORKER_ID=id.
func (r *replicas) start(id string, env ...string) {
	r.t.Helper()
	cmd := exec.Command(r.bin, "worker")
	cmd.Env = append(append(append([]string{}, r.env...), "NFTSYNC_WORKER_ID="+id), env...)
	buf := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = buf, buf
	require.NoError(r.t, cmd.Start())
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	r.mu.Lock()
	r.cmds[id], r.logs[id], r.done[id] = cmd, buf, done
	r.mu.Unlock()
}

// startSim runs `nftsync sim` as its own process and returns its URL.
func (r *replicas) startSim(env ...string) string {
	r.t.Helper()
	cmd := exec.Command(r.bin, "sim")
	cmd.Env = append(append(append([]string{}, r.env...), "NFTSYNC_SIM_ADDR=127.0.0.1:0"), env...)
	out, err := cmd.StdoutPipe()
	require.NoError(r.t, err)
	logs := &syncBuffer{}
	cmd.Stderr = logs
	require.NoError(r.t, cmd.Start())
	done := make(chan error, 1)
	r.mu.Lock()
	r.cmds["sim"], r.logs["sim"], r.done["sim"] = cmd, logs, done
	r.mu.Unlock()
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		_ = cmd.Process.Kill()
		r.t.Fatalf("simulator did not start: %v", err)
	}
	go func() { _, _ = io.Copy(io.Discard, out); done <- cmd.Wait() }()
	// "simulator listening on http://127.0.0.1:PORT (statistics at …)"
	fields := strings.Fields(line)
	require.GreaterOrEqual(r.t, len(fields), 4, line)
	return fields[3]
}

// output is how many bytes worker id has written so far.
func (r *replicas) output(id string) int {
	r.mu.Lock()
	l := r.logs[id]
	r.mu.Unlock()
	return len(l.String())
}

// kill sends SIGKILL: the process dies mid-job, leaving its jobs running.
func (r *replicas) kill(id string) {
	r.t.Helper()
	r.mu.Lock()
	cmd, done := r.cmds[id], r.done[id]
	delete(r.cmds, id)
	r.mu.Unlock()
	require.NoError(r.t, cmd.Process.Signal(syscall.SIGKILL))
	<-done
}

// stopAll sends SIGTERM to every running worker and expects a clean exit
// within the soft-stop timeout.
func (r *replicas) stopAll() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for id, cmd := range r.cmds {
		if id != "sim" {
			_ = cmd.Process.Signal(syscall.SIGTERM)
		}
	}
	if sim, ok := r.cmds["sim"]; ok { // after the workers: they may still be calling it
		defer func() { _ = sim.Process.Signal(syscall.SIGTERM) }()
	}
	for id := range r.cmds {
		if id == "sim" {
			continue
		}
		select {
		case err := <-r.done[id]:
			if err != nil {
				r.t.Errorf("worker %s exited with %v", id, err)
			}
		case <-time.After(45 * time.Second):
			_ = r.cmds[id].Process.Kill()
			r.t.Errorf("worker %s did not stop within 45s of SIGTERM", id)
		}
	}
	r.cmds = map[string]*exec.Cmd{}
}

func pgInt8(v int64) pgtype.Int8 { return pgtype.Int8{Int64: v, Valid: true} }
