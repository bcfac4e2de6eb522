package ratelimit_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nftsync/nftsync/db/dbtest"
	"github.com/nftsync/nftsync/internal/indexer"
	"github.com/nftsync/nftsync/internal/ratelimit"
)

// syncBuffer is a log sink safe for concurrent writes.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// A key upstream rejects (401/403) leaves the pool for the documented 10
// minutes (not the 5-minute cap on upstream-requested pauses), and a source
// left without a usable key says so loudly: one ERROR per pause, KeyHealth,
// and the OnNoUsableKeyFunc hook metrics count.
func TestRejectedKey(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	key := ratelimit.KeyFor("os", "revoked")

	type bundle struct {
		lim    *ratelimit.Limiter
		client *fakeClient
		ix     *ratelimit.Indexer
		logs   *syncBuffer
		hooks  []time.Time
	}
	setup := func(t *testing.T) *bundle {
		t.Helper()
		b := &bundle{logs: &syncBuffer{}, client: &fakeClient{name: "a"}}
		b.lim = newLimiter(t, dbtest.DB(t), ratelimit.Options{
			MaxWait: -1, Logger: slog.New(slog.NewTextHandler(b.logs, nil)),
			OnNoUsableKeyFunc: func(source string, until time.Time) {
				require.Equal(t, "os", source)
				b.hooks = append(b.hooks, until)
			},
		})
		require.NoError(t, b.lim.Ensure(ctx, []ratelimit.BucketConfig{{Key: key, Source: "os", Rate: 100, Burst: 10}}))
		b.ix = ratelimit.NewIndexer(b.lim, "os", map[string]indexer.Indexer{key: b.client})
		return b
	}

	t.Run("PausedTenMinutesAndLoudOnce", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		h, err := b.lim.KeyHealth(ctx, "os")
		require.NoError(t, err)
		require.False(t, h.NoUsableKey())
		require.Equal(t, "ok", h.String())

		b.client.setErr(&indexer.Error{Class: indexer.ClassPermanent, Op: "stats apes", Status: 401})
		_, err = b.ix.Stats(ctx, "apes")
		require.Error(t, err)
		want := time.Now().Add(ratelimit.DefaultKeyRejectedPause)
		require.Equal(t, 10*time.Minute, ratelimit.DefaultKeyRejectedPause)
		require.WithinDuration(t, want, bucket(t, b.lim, key).PausedUntil, 5*time.Second, "paused 10 minutes, not capped at MaxPause")

		h, err = b.lim.KeyHealth(ctx, "os")
		require.NoError(t, err)
		require.True(t, h.NoUsableKey())
		require.WithinDuration(t, want, h.BackAt, 5*time.Second)
		require.Contains(t, h.String(), "no usable key until")

		// Jobs keep trying during the pause; a call that raced the pause
		// and is rejected again only extends it, quietly.
		for range 3 {
			_, err = b.ix.Stats(ctx, "apes")
			require.Error(t, err)
			require.NoError(t, b.lim.RejectKey(ctx, "os", key, 401))
		}
		require.Equal(t, 1, b.client.ncalls(), "no call reaches upstream with the key out of the pool")
		require.Equal(t, 1, strings.Count(b.logs.String(), `level=ERROR msg="upstream rejected an API key`), b.logs.String())
		require.Equal(t, 1, strings.Count(b.logs.String(), `level=ERROR msg="no usable API key`), b.logs.String())
		require.Len(t, b.hooks, 1)
		require.WithinDuration(t, want, b.hooks[0], 5*time.Second)
	})
}
