package shard_test

import (
	"context"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/nftsync/nftsync/db/dbtest"
	"github.com/nftsync/nftsync/internal/shard"
)

// childURLEnv carries the database of TestKill9ChildReplica's replica.
const childURLEnv = "NFTSYNC_SHARD_TEST_CHILD_URL"

// TestKill9 runs a replica in a child process, kills it with SIGKILL while
// it holds shards (no release, no goodbye) and checks that the surviving
// replica takes them over once their leases lapse, and not before.
func TestKill9(t *testing.T) {
	t.Parallel()
	url := dbtest.NewDatabase(t)
	child := exec.Command(os.Args[0], "-test.run=^TestKill9ChildReplica$", "-test.count=1")
	child.Env = append(os.Environ(), childURLEnv+"="+url)
	child.Stdout, child.Stderr = io.Discard, io.Discard
	require.NoError(t, child.Start())
	t.Cleanup(func() { _ = child.Process.Kill(); _ = child.Wait() })

	pool, err := pgxpool.New(context.Background(), url)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	// The child starts first and holds everything; then b joins and they
	// split the shards.
	require.Eventually(t, func() bool { return len(leases(t, pool)) == 6 }, wait, poll, "the child never took the shards")
	b := start(t, url, "b", 6, 0)
	require.Eventually(t, func() bool {
		n := 0
		for _, owner := range leases(t, pool) {
			if owner == "child" {
				n++
			}
		}
		return n == 3 && len(b.m.Owned()) == 3
	}, wait, poll, "the child and b never split the shards")

	require.NoError(t, child.Process.Kill())
	killed := time.Now()
	_ = child.Wait()
	held := 0
	for _, owner := range leases(t, pool) {
		if owner == "child" {
			held++
		}
	}
	require.Equal(t, 3, held, "a killed replica releases nothing: its leases stay until they lapse")

	balanced(t, pool, 6, map[*replica]int{b: 6}, map[*replica]string{b: "b"})
	took := time.Since(killed)
	require.GreaterOrEqual(t, took, ttl-renew, "b took the child's shards before their leases could lapse")
	t.Logf("takeover %s after SIGKILL (ttl %s, renew %s)", took.Round(time.Millisecond), ttl, renew)
}

// TestKill9ChildReplica is the child process of TestKill9: a replica that
// runs until it is killed.
func TestKill9ChildReplica(t *testing.T) { //nolint:paralleltest // runs alone in the child process
	url := os.Getenv(childURLEnv)
	if url == "" {
		t.Skip("run by TestKill9")
	}
	pool, err := pgxpool.New(context.Background(), url)
	require.NoError(t, err)
	m, err := shard.New(pool, shard.Options{Replica: "child", Shards: 6, TTL: ttl, Renew: renew,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	require.NoError(t, err)
	_ = m.Run(context.Background()) // until SIGKILL
}
