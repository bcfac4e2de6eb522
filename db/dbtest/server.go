package dbtest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nftsync/nftsync/internal/pgcluster"
)

// ServerEnv names the variable that points the tests at an existing server.
const ServerEnv = "TEST_DATABASE_URL"

var (
	serverOnce sync.Once
	serverURL  string
	serverErr  error
	serverDir  string // the throwaway cluster's folder, for the reaper test
	// reaperPipe is the write end of the pipe the reaper reads: it stays
	// open for the life of the test process and closes with it, whatever
	// way the process ends. Kept here so that it is never collected (an
	// *os.File closes itself when collected).
	reaperPipe *os.File //nolint:unused // only held, so that the pipe stays open while the process lives
)

// ServerURL returns the URL of the test server's postgres database:
// TEST_DATABASE_URL when set, else a throwaway cluster this test process
// starts on first use (see the package doc). It fails the test when neither
// is possible, saying how to fix it.
func ServerURL(tb testing.TB) string {
	tb.Helper()
	if u := os.Getenv(ServerEnv); u != "" {
		return u
	}
	serverOnce.Do(func() { serverURL, serverErr = startServer() })
	if serverErr != nil {
		tb.Fatalf("no test database: %s is not set, and starting a throwaway PostgreSQL failed: %v\n"+
			"Install the PostgreSQL server binaries, or point %s at a server where this user may create databases",
			ServerEnv, serverErr, ServerEnv)
	}
	return serverURL
}

// startServer starts a throwaway cluster (loopback, trust, no durability)
// in a temporary folder and a reaper that stops it and removes the folder
// when this process exits.
func startServer() (string, error) {
	tmp, err := os.MkdirTemp("", "nftsync-test-pg-")
	if err != nil {
		return "", fmt.Errorf("create cluster folder: %w", err)
	}
	// As root the server runs as the postgres user (pgcluster), which must
	// be able to reach its data folder inside tmp.
	if err := os.Chmod(tmp, 0o711); err != nil {
		return "", errors.Join(fmt.Errorf("open cluster folder: %w", err), os.RemoveAll(tmp))
	}
	data := filepath.Join(tmp, "data")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := pgcluster.Start(ctx, pgcluster.Options{Dir: data, Fast: true, MaxConnections: 400})
	if err != nil {
		return "", errors.Join(err, os.RemoveAll(tmp))
	}
	if err := startReaper(data, tmp); err != nil {
		return "", errors.Join(err, c.Stop(context.Background()), os.RemoveAll(tmp))
	}
	serverDir = tmp
	return c.DSN("postgres"), nil
}

// reaperScript waits for its stdin to close (the test process exited),
// then stops the server immediately and removes the cluster's folder. It
// signals the postmaster instead of running pg_ctl, which refuses to run as
// root.
const reaperScript = `read -r _
pid=$(head -n 1 "$1/postmaster.pid" 2>/dev/null)
if [ -n "$pid" ]; then
	kill -QUIT "$pid" 2>/dev/null
	i=0
	while kill -0 "$pid" 2>/dev/null && [ "$i" -lt 300 ]; do sleep 0.1; i=$((i+1)); done
fi
rm -rf "$2"
`

// startReaper starts the reaper of the cluster in data (folder tmp) in a
// process group of its own, so a Ctrl-C that interrupts the tests does not
// kill it before it cleans up. It inherits no output: `go test` would wait
// for it otherwise.
func startReaper(data, tmp string) error {
	r, w, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("reaper pipe: %w", err)
	}
	cmd := exec.Command("sh", "-c", reaperScript, "nftsync-test-pg-reaper", data, tmp)
	cmd.Stdin = r
	cmd.Dir = "/"
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	err = cmd.Start()
	_ = r.Close()
	if err != nil {
		_ = w.Close()
		return fmt.Errorf("start reaper: %w", err)
	}
	go func() { _ = cmd.Wait() }() // reap it if it ever exits before us
	reaperPipe = w
	return nil
}
