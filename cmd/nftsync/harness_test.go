package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgtype"
	"github.com/stretchr/testify/require"
)

// replicas runs real `nftsync` processes for a test and stops them at
// cleanup. Each worker's output is kept and printed when the test fails.
type replicas struct {
	t    testing.TB
	bin  string
	env  []string
	mu   sync.Mutex
	cmds map[string]*exec.Cmd
	logs map[string]*bytes.Buffer
	done map[string]chan error
}

func newReplicas(t testing.TB, env ...string) *replicas {
	t.Helper()
	r := &replicas{
		t: t, bin: buildBinary(t), env: append(os.Environ(), env...),
		cmds: map[string]*exec.Cmd{}, logs: map[string]*bytes.Buffer{}, done: map[string]chan error{},
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
	buf := &bytes.Buffer{}
	cmd.Stdout, cmd.Stderr = buf, buf
	require.NoError(r.t, cmd.Start())
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	r.mu.Lock()
	r.cmds[id], r.logs[id], r.done[id] = cmd, buf, done
	r.mu.Unlock()
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
	for _, cmd := range r.cmds {
		_ = cmd.Process.Signal(syscall.SIGTERM)
	}
	for id := range r.cmds {
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

func envList(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k, v := range m {
		out = append(out, fmt.Sprintf("%s=%s", k, v))
	}
	return out
}

func pgInt8(v int64) pgtype.Int8 { return pgtype.Int8{Int64: v, Valid: true} }
