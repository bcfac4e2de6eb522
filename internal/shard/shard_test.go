package shard_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/nftsync/nftsync/db"
	"github.com/nftsync/nftsync/db/dbtest"
	"github.com/nftsync/nftsync/internal/shard"
)

// Short leases keep the tests quick; waits are on conditions, bounded only
// loosely (the machine may be busy).
const (
	ttl   = 1500 * time.Millisecond
	renew = 250 * time.Millisecond
	wait  = 20 * time.Second
	poll  = 20 * time.Millisecond
)

type replica struct {
	m      *shard.Manager
	pool   *pgxpool.Pool
	cancel context.CancelFunc
	done   chan struct{}
}

// stop ends the replica gracefully and waits for Run to return.
func (r *replica) stop(t *testing.T) {
	t.Helper()
	r.cancel()
	select {
	case <-r.done:
	case <-time.After(wait):
		t.Fatal("Run did not return after cancel")
	}
}

// start runs a manager named name with its own pool on the database at url.
func start(t *testing.T, url, name string, shards, maxShards int) *replica {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), url)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	m, err := shard.New(pool, shard.Options{Replica: name, Shards: shards, TTL: ttl, Renew: renew, MaxShards: maxShards,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	r := &replica{m: m, pool: pool, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		if err := m.Run(ctx); err != nil {
			t.Errorf("Run of %s: %v", name, err)
		}
	}()
	t.Cleanup(func() { cancel(); <-r.done })
	return r
}

// leases reads the table: shard -> owner of a lease that has not lapsed.
func leases(t *testing.T, pool *pgxpool.Pool) map[int]string {
	t.Helper()
	rows, err := db.New(pool).ShardList(context.Background())
	require.NoError(t, err)
	out := map[int]string{}
	now := time.Now()
	for _, r := range rows {
		if r.Owner.Valid && r.LeaseUntil.Valid && r.LeaseUntil.Time.After(now) {
			out[int(r.Shard)] = r.Owner.String
		}
	}
	return out
}

// watchDisjoint samples every replica's owned set until the test ends and
// fails when two replicas hold one shard at once.
func watchDisjoint(t *testing.T, rs func() []*replica) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for ctx.Err() == nil {
			seen := map[int]int{}
			for i, r := range rs() {
				for _, s := range r.m.Owned() {
					if j, dup := seen[s]; dup {
						t.Errorf("shard %d held by replicas %d and %d at once", s, j, i)
						return
					}
					seen[s] = i
				}
			}
			time.Sleep(2 * time.Millisecond)
		}
	}()
	t.Cleanup(func() { cancel(); wg.Wait() })
}

// balanced waits until the replicas hold all shards, disjointly, with the
// given counts, and the table agrees with each replica's own view.
func balanced(t *testing.T, pool *pgxpool.Pool, shards int, want map[*replica]int, names map[*replica]string) {
	t.Helper()
	var last string
	ok := func() bool {
		table := leases(t, pool)
		if len(table) != shards {
			last = fmt.Sprintf("table holds %d of %d shards: %v", len(table), shards, table)
			return false
		}
		for r, n := range want {
			owned := r.m.Owned()
			if len(owned) != n {
				last = fmt.Sprintf("%s holds %v, want %d shards", names[r], owned, n)
				return false
			}
			for _, s := range owned {
				if table[s] != names[r] {
					last = fmt.Sprintf("%s believes it holds %d, the table says %q", names[r], s, table[s])
					return false
				}
			}
		}
		return true
	}
	require.Eventually(t, ok, wait, poll, "not balanced: %s", func() string { return last }())
	if !ok() {
		t.Fatalf("not balanced: %s", last)
	}
}

func TestReplicasShareShardsFairly(t *testing.T) {
	t.Parallel()
	url := dbtest.NewDatabase(t)
	a := start(t, url, "a", 8, 0)
	b := start(t, url, "b", 8, 0)
	var mu sync.Mutex
	all := []*replica{a, b}
	watchDisjoint(t, func() []*replica { mu.Lock(); defer mu.Unlock(); return slices.Clone(all) })
	names := map[*replica]string{a: "a", b: "b"}
	balanced(t, a.pool, 8, map[*replica]int{a: 4, b: 4}, names)

	// A third replica: shares rebalance to 3, 3, 2 (name order gives the
	// extra shards to a and b).
	c := start(t, url, "c", 8, 0)
	mu.Lock()
	all = append(all, c)
	mu.Unlock()
	names[c] = "c"
	balanced(t, a.pool, 8, map[*replica]int{a: 3, b: 3, c: 2}, names)
}

func TestKilledReplicaLosesShardsAfterTTL(t *testing.T) {
	t.Parallel()
	url := dbtest.NewDatabase(t)
	a := start(t, url, "a", 6, 0)
	b := start(t, url, "b", 6, 0)
	watchDisjoint(t, func() []*replica { return []*replica{a, b} })
	names := map[*replica]string{a: "a", b: "b"}
	balanced(t, a.pool, 6, map[*replica]int{a: 3, b: 3}, names)
	held := a.m.Owned()

	// Cut a off the database (as kill -9 or a partition would): it can
	// neither renew nor release.
	killed := time.Now()
	a.pool.Close()
	table := leases(t, b.pool)
	for _, s := range held {
		require.Equal(t, "a", table[s], "a's leases stay in the table until they lapse")
	}
	a.stop(t) // its release fails: the pool is closed

	// a gives its shards up itself before its leases lapse, and b takes
	// them once they have.
	require.Eventually(t, func() bool { return len(a.m.Owned()) == 0 }, wait, poll, "a still believes it holds shards")
	balanced(t, b.pool, 6, map[*replica]int{b: 6}, names)
	took := time.Since(killed)
	require.GreaterOrEqual(t, took, ttl-renew, "b took a's shards before a's leases could lapse")
	t.Logf("takeover after %s (ttl %s, renew %s)", took.Round(time.Millisecond), ttl, renew)
}

func TestGracefulStopReleasesAtOnce(t *testing.T) {
	t.Parallel()
	url := dbtest.NewDatabase(t)
	a := start(t, url, "a", 4, 0)
	b := start(t, url, "b", 4, 0)
	watchDisjoint(t, func() []*replica { return []*replica{a, b} })
	names := map[*replica]string{a: "a", b: "b"}
	balanced(t, a.pool, 4, map[*replica]int{a: 2, b: 2}, names)

	a.stop(t)
	for s, owner := range leases(t, b.pool) {
		require.NotEqual(t, "a", owner, "shard %d still leased to a after its Run returned", s)
	}
	var replicas int
	require.NoError(t, b.pool.QueryRow(context.Background(), "SELECT count(*) FROM stream_replicas WHERE replica = 'a'").Scan(&replicas))
	require.Zero(t, replicas, "a's replica row is gone")
	require.Empty(t, a.m.Owned())
	balanced(t, b.pool, 4, map[*replica]int{b: 4}, names)
}

func TestShardCountChanges(t *testing.T) {
	t.Parallel()
	url := dbtest.NewDatabase(t)
	a := start(t, url, "a", 4, 0)
	b := start(t, url, "b", 4, 0)
	names := map[*replica]string{a: "a", b: "b"}
	balanced(t, a.pool, 4, map[*replica]int{a: 2, b: 2}, names)
	a.stop(t)
	b.stop(t)

	// Restarted with more shards.
	a = start(t, url, "a", 8, 0)
	b = start(t, url, "b", 8, 0)
	names = map[*replica]string{a: "a", b: "b"}
	balanced(t, a.pool, 8, map[*replica]int{a: 4, b: 4}, names)
	a.stop(t)
	b.stop(t)

	// And with fewer: rows beyond the count go once no lease holds them.
	a = start(t, url, "a", 3, 0)
	names = map[*replica]string{a: "a"}
	balanced(t, a.pool, 3, map[*replica]int{a: 3}, names)
	require.Equal(t, []int{0, 1, 2}, a.m.Owned())
	var rows int
	require.NoError(t, a.pool.QueryRow(context.Background(), "SELECT count(*) FROM stream_shards").Scan(&rows))
	require.Equal(t, 3, rows)
}

func TestMaxShardsCapsAReplica(t *testing.T) {
	t.Parallel()
	url := dbtest.NewDatabase(t)
	a := start(t, url, "a", 6, 1)
	b := start(t, url, "b", 6, 0)
	names := map[*replica]string{a: "a", b: "b"}
	balanced(t, a.pool, 6, map[*replica]int{a: 1, b: 5}, names)
}

func TestChangesDeliversTheOwnedSet(t *testing.T) {
	t.Parallel()
	url := dbtest.NewDatabase(t)
	a := start(t, url, "a", 3, 0)
	deadline := time.After(wait)
	for {
		select {
		case got := <-a.m.Changes():
			if len(got) == 3 {
				require.Equal(t, []int{0, 1, 2}, got)
				a.stop(t)
				// The release on stop is announced too.
				select {
				case got := <-a.m.Changes():
					require.Empty(t, got)
				case <-time.After(wait):
					t.Fatal("no change after stop")
				}
				return
			}
		case <-deadline:
			t.Fatal("never saw all three shards")
		}
	}
}

func TestFairShare(t *testing.T) {
	t.Parallel()
	live := func(caps ...int) []db.ShardReplicasLiveRow {
		var rs []db.ShardReplicasLiveRow
		for i, c := range caps {
			r := db.ShardReplicasLiveRow{Replica: string(rune('a' + i))}
			if c >= 0 {
				r.MaxShards = pgtype.Int4{Int32: int32(c), Valid: true}
			}
			rs = append(rs, r)
		}
		return rs
	}
	shares := func(shards int, rs []db.ShardReplicasLiveRow) []int {
		var out []int
		for _, r := range rs {
			out = append(out, shard.FairShare(shards, r.Replica, rs))
		}
		return out
	}
	require.Equal(t, []int{3, 3, 2}, shares(8, live(-1, -1, -1)))
	require.Equal(t, []int{1, 1, 1, 0}, shares(3, live(-1, -1, -1, -1)))
	require.Equal(t, []int{1, 4, 3}, shares(8, live(1, -1, -1)), "a capped replica's rest goes to the others")
	require.Equal(t, []int{1, 2}, shares(8, live(1, 2)), "shards beyond every cap stay free (polled)")
	require.Equal(t, 0, shard.FairShare(8, "z", live(-1)), "a replica not live gets nothing")
}

func TestNewRefusesBadOptions(t *testing.T) {
	t.Parallel()
	pool := dbtest.DB(t)
	for _, o := range []shard.Options{
		{Shards: 4},
		{Replica: "a"},
		{Replica: "a", Shards: 4, TTL: time.Second, Renew: time.Second},
		{Replica: "a", Shards: 4, MaxShards: -1},
	} {
		_, err := shard.New(pool, o)
		require.Error(t, err, "%+v", o)
	}
}
