package dbtest

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"
)

// childEnv marks the copy of this test binary that TestThrowawayServer runs.
const childEnv = "NFTSYNC_DBTEST_CHILD"

// TestThrowawayServer runs this test binary again with TEST_DATABASE_URL
// unset: the child gets a migrated database from a cluster it starts
// itself, and once the child has exited the cluster is stopped and its
// folder removed.
func TestThrowawayServer(t *testing.T) {
	t.Parallel()
	if os.Getenv(childEnv) != "" {
		t.Skip("the child runs TestChildUsesDatabase only")
	}
	ctx := context.Background()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestChildUsesDatabase$", "-test.count=1", "-test.v")
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, ServerEnv+"=") {
			env = append(env, kv)
		}
	}
	cmd.Env = append(env, childEnv+"=1")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "child:\n%s", out)

	var dir, url string
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "CLUSTER "); ok {
			dir, url, _ = strings.Cut(v, " ")
		}
	}
	require.NotEmpty(t, dir, "child:\n%s", out)
	require.True(t, strings.HasPrefix(url, "postgres://"), url)

	// The reaper stops the server and removes the folder after the exit.
	deadline := time.Now().Add(time.Minute)
	for {
		_, statErr := os.Stat(dir)
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		conn, connErr := pgx.Connect(cctx, url)
		cancel()
		if connErr == nil {
			_ = conn.Close(ctx)
		}
		if os.IsNotExist(statErr) && connErr != nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("a minute after the child exited: folder %s stat: %v; server answers: %v", dir, statErr, connErr == nil)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestChildUsesDatabase is the child's test: it only runs under
// TestThrowawayServer.
func TestChildUsesDatabase(t *testing.T) { //nolint:paralleltest // the child process runs this one test only
	if os.Getenv(childEnv) == "" {
		t.Skip("run by TestThrowawayServer")
	}
	pool := DB(t)
	var n int
	require.NoError(t, pool.QueryRow(context.Background(), "SELECT count(*) FROM nftsync_migration").Scan(&n))
	require.Positive(t, n, "migrated")
	tx := Tx(t)
	require.NoError(t, tx.QueryRow(context.Background(), "SELECT 1").Scan(&n))
	t.Logf("\nCLUSTER %s %s\n", serverDir, ServerURL(t))
}
