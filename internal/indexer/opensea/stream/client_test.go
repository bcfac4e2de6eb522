package stream

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/stretchr/testify/require"
)

const slug = "example-apes"

// fixtureNames lists the recorded-shape frames in the order they are pushed.
var fixtureNames = []string{
	"item_listed.json", "item_received_bid.json", "collection_offer.json", "trait_offer.json",
	"order_invalidate.json", "order_revalidate.json", "item_sold.json", "item_transferred.json",
	"item_metadata_updated.json", "item_cancelled.json", "unknown_event.json",
}

func TestClientJoinsAndDeliversEventsInOrder(t *testing.T) {
	t.Parallel()

	srv := newPhxServer(t)
	rec := newRecorder()
	startClient(t, srv, Options{}, rec, slug)
	sc := srv.conn(t)
	requireJoinFrame(t, sc.next(t, phxJoin), topicPrefix+slug)
	rec.waitCount(t, "joined:"+slug, 1)

	for _, name := range fixtureNames {
		sc.raw(fixtureFrame(t, name))
	}
	rec.waitCount(t, "event:"+slug+":item_received_hug", 1)
	rec.mu.Lock()
	var got []string
	for _, e := range rec.events {
		got = append(got, e.Type+".json")
	}
	rec.mu.Unlock()
	want := append([]string(nil), fixtureNames...)
	want[len(want)-1] = "item_received_hug.json" // the unknown type passes through
	require.Equal(t, want, got)
	require.Equal(t, []string{"joined:" + slug}, rec.snapshot()[:1])
	require.Equal(t, int32(1), srv.upgrades.Load())
}

func TestClientHeartbeatTimeoutReconnectsAndRejoins(t *testing.T) {
	t.Parallel()

	srv := newPhxServer(t)
	srv.silentHB.Store(true)
	rec := newRecorder()
	startClient(t, srv, Options{Heartbeat: 150 * time.Millisecond}, rec, slug, "other")
	first := srv.conn(t)
	first.next(t, heartbeatEvent) // sent, never answered
	rec.waitCount(t, "joined:"+slug, 1)
	srv.silentHB.Store(false)

	rec.waitCount(t, "down", 1)
	rec.mu.Lock()
	require.ErrorIs(t, rec.downs[0], ErrHeartbeatTimeout)
	rec.mu.Unlock()
	second := srv.conn(t)
	rec.waitCount(t, "joined:"+slug, 2)
	rec.waitCount(t, "joined:other", 2)
	joins := map[string]bool{}
	for len(joins) < 2 {
		f := second.next(t, phxJoin)
		requireJoinFrame(t, f, f.Topic)
		joins[f.Topic] = true
	}
	require.Equal(t, map[string]bool{topicPrefix + slug: true, topicPrefix + "other": true}, joins)

	// Answered heartbeats keep the connection: several intervals pass
	// without another reconnect.
	for range 4 {
		hb := second.next(t, heartbeatEvent)
		require.Empty(t, hb.JoinRef)
		require.NotEmpty(t, hb.Ref)
	}
	require.Equal(t, 1, rec.count("down"))
	require.Equal(t, int32(2), srv.upgrades.Load())

	// Events on the new connection are delivered after the rejoin.
	second.raw(fixtureFrame(t, "item_listed.json"))
	rec.waitCount(t, "event:"+slug+":item_listed", 1)
}

func TestClientAbruptCloseBacksOffAndReconnects(t *testing.T) {
	t.Parallel()

	srv := newPhxServer(t)
	rec := newRecorder()
	startClient(t, srv, Options{BackoffMin: 40 * time.Millisecond, BackoffMax: 80 * time.Millisecond}, rec, slug)
	first := srv.conn(t)
	rec.waitCount(t, "joined:"+slug, 1)

	closedAt := time.Now()
	require.NoError(t, first.c.CloseNow())
	rec.waitCount(t, "down", 1)
	second := srv.conn(t)
	gap := time.Since(closedAt)
	requireJoinFrame(t, second.next(t, phxJoin), topicPrefix+slug)
	rec.waitCount(t, "joined:"+slug, 2)
	// The connection had been proven, so this is the first failure: a
	// jittered wait of 20..40 ms.
	require.GreaterOrEqual(t, gap, 20*time.Millisecond)

	log := rec.snapshot()
	require.Equal(t, []string{"joined:" + slug, "down", "joined:" + slug}, log)
}

func TestClientKeyRefusedAtUpgrade(t *testing.T) {
	t.Parallel()

	for _, code := range []int{http.StatusUnauthorized, http.StatusForbidden} {
		srv := newPhxServer(t)
		srv.refuse.Store(int32(code))
		rec := newRecorder()
		_, done, _ := startClient(t, srv, Options{}, rec, slug)
		select {
		case err := <-done:
			require.ErrorIs(t, err, ErrKeyRefused)
			require.Contains(t, err.Error(), "HTTP "+strconv.Itoa(code))
			require.NotContains(t, err.Error(), srv.key)
		case <-time.After(5 * time.Second):
			t.Fatalf("Run kept going after HTTP %d", code)
		}
		require.Equal(t, int32(1), srv.upgrades.Load(), "no retry loop")
	}

	// A wrong key is refused the same way.
	srv := newPhxServer(t)
	_, done, _ := startClient(t, srv, Options{APIKey: "sk-wrong"}, newRecorder(), slug)
	require.ErrorIs(t, <-done, ErrKeyRefused)
}

func TestClientJoinRefusedIsRetried(t *testing.T) {
	t.Parallel()

	srv := newPhxServer(t)
	srv.setJoinPolicy(func(topic string, n int) string {
		if topic == topicPrefix+"gone" && n <= 2 {
			return "error"
		}
		return "ok"
	})
	rec := newRecorder()
	startClient(t, srv, Options{}, rec, slug, "gone")
	srv.conn(t)
	rec.waitCount(t, "joined:"+slug, 1)
	rec.waitCount(t, "joined:gone", 1)
	require.Equal(t, 1, rec.count("left:gone"), "two refusals are reported once")
	require.Equal(t, 0, rec.count("down"))
	require.Equal(t, int32(1), srv.upgrades.Load())
}

func TestClientJoinTimeoutIsLeftAndRetried(t *testing.T) {
	t.Parallel()

	srv := newPhxServer(t)
	srv.setJoinPolicy(func(_ string, n int) string {
		if n == 1 {
			return "none"
		}
		return "ok"
	})
	rec := newRecorder()
	startClient(t, srv, Options{JoinTimeout: 80 * time.Millisecond}, rec, slug)
	sc := srv.conn(t)
	first := sc.next(t, phxJoin)
	leave := sc.next(t, phxLeave)
	require.Equal(t, first.JoinRef, leave.JoinRef, "the unanswered join is left")
	second := sc.next(t, phxJoin)
	require.NotEqual(t, first.JoinRef, second.JoinRef)
	rec.waitCount(t, "joined:"+slug, 1)
	require.Equal(t, 0, rec.count("left:"+slug), "a timeout is not a refusal")
	require.Equal(t, int32(1), srv.upgrades.Load())
}

func TestClientJoinAndLeaveWhileConnected(t *testing.T) {
	t.Parallel()

	srv := newPhxServer(t)
	rec := newRecorder()
	c, _, _ := startClient(t, srv, Options{}, rec)
	sc := srv.conn(t)

	c.Join("a")
	c.Join("a") // idempotent
	c.Join("b")
	rec.waitCount(t, "joined:a", 1)
	rec.waitCount(t, "joined:b", 1)
	sc.mu.Lock()
	refA := sc.joinRefs[topicPrefix+"a"]
	sc.mu.Unlock()

	c.Leave("a")
	rec.waitCount(t, "left:a", 1)
	leave := sc.next(t, phxLeave)
	require.Equal(t, topicPrefix+"a", leave.Topic)
	require.Equal(t, refA, leave.JoinRef)

	// A late event of the left topic is dropped; b still flows.
	listed := string(fixtureFrame(t, "item_listed.json"))
	sc.raw([]byte(strings.ReplaceAll(listed, topicPrefix+slug, topicPrefix+"a")))
	sc.raw([]byte(strings.ReplaceAll(listed, topicPrefix+slug, topicPrefix+"b")))
	rec.waitCount(t, "event:b:item_listed", 1)
	require.Equal(t, 0, rec.count("event:a:item_listed"))

	c.Join("a")
	rec.waitCount(t, "joined:a", 2)
	require.ElementsMatch(t, []string{"a", "b"}, c.Topics())
	c.Leave("nope") // unknown: nothing

	// Left and joined again at once: the old join's leave goes out before
	// the new join.
	sc.mu.Lock()
	refB := sc.joinRefs[topicPrefix+"b"]
	sc.mu.Unlock()
	c.Leave("b")
	c.Join("b")
	var got []frame
	for len(got) < 2 {
		select {
		case f := <-sc.in:
			if f.Topic == topicPrefix+"b" {
				got = append(got, f)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("no leave and join of b")
		}
	}
	require.Equal(t, []string{phxLeave, phxJoin}, []string{got[0].Event, got[1].Event})
	require.Equal(t, refB, got[0].JoinRef)
	rec.waitCount(t, "joined:b", 2)
	require.Equal(t, 2, rec.count("left:a")+rec.count("left:b"))
	require.Equal(t, int32(1), srv.upgrades.Load())
}

func TestClientMalformedFramesKeepTheConnection(t *testing.T) {
	t.Parallel()

	srv := newPhxServer(t)
	rec := newRecorder()
	startClient(t, srv, Options{}, rec, slug)
	sc := srv.conn(t)
	rec.waitCount(t, "joined:"+slug, 1)

	sc.raw([]byte(`not json`))
	sc.raw([]byte(`[null,null,"collection:example-apes","item_listed"]`))
	sc.raw([]byte(`[null,null,"collection:example-apes","item_listed",{"event_type":"item_listed","version":"x","payload":{}}]`))
	sc.raw([]byte(`[null,null,"wallet:0xabc","item_listed",{}]`))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	require.NoError(t, sc.c.Write(ctx, websocket.MessageBinary, []byte{1, 2, 3}))
	cancel()
	sc.raw(fixtureFrame(t, "item_listed.json"))

	rec.waitCount(t, "event:"+slug+":item_listed", 1)
	require.Equal(t, 4, rec.count("malformed:"))
	require.Equal(t, 1, rec.count("malformed:"+slug), "an event that fails to decode names its slug")
	require.Equal(t, 0, rec.count("down"))
	require.Equal(t, int32(1), srv.upgrades.Load())
}

func TestClientOversizedFrames(t *testing.T) {
	t.Parallel()

	srv := newPhxServer(t)
	rec := newRecorder()
	startClient(t, srv, Options{MaxFrameBytes: 4096}, rec, slug)
	sc := srv.conn(t)
	rec.waitCount(t, "joined:"+slug, 1)

	big := bytes.Repeat([]byte("x"), 10_000)
	sc.raw(append(append([]byte(`[null,null,"collection:example-apes","item_listed","`), big...), `"]`...))
	sc.raw(fixtureFrame(t, "item_listed.json"))
	rec.waitCount(t, "event:"+slug+":item_listed", 1)
	rec.mu.Lock()
	require.Len(t, rec.bad, 1)
	require.ErrorIs(t, rec.bad[0], ErrFrameTooLarge)
	rec.mu.Unlock()
	require.Equal(t, 0, rec.count("down"), "a frame over the bound is discarded, the connection lives")

	// Beyond 16× the bound the connection is closed and re-made.
	sc.raw(bytes.Repeat([]byte("y"), 16*4096+10))
	rec.waitCount(t, "down", 1)
	rec.waitCount(t, "joined:"+slug, 2)
}

func TestClientChannelErrorRejoins(t *testing.T) {
	t.Parallel()

	srv := newPhxServer(t)
	rec := newRecorder()
	startClient(t, srv, Options{}, rec, slug)
	sc := srv.conn(t)
	rec.waitCount(t, "joined:"+slug, 1)
	sc.mu.Lock()
	ref := sc.joinRefs[topicPrefix+slug]
	sc.mu.Unlock()

	sc.send(ref, ref, topicPrefix+slug, phxError, map[string]any{})
	rec.waitCount(t, "left:"+slug, 1)
	rec.waitCount(t, "joined:"+slug, 2)
	require.Equal(t, 0, rec.count("down"))
	require.Equal(t, int32(1), srv.upgrades.Load())
}

func TestClientRunEndsWithContext(t *testing.T) {
	t.Parallel()

	srv := newPhxServer(t)
	rec := newRecorder()
	_, done, cancel := startClient(t, srv, Options{}, rec, slug)
	srv.conn(t)
	rec.waitCount(t, "joined:"+slug, 1)
	cancel()
	select {
	case err := <-done:
		require.ErrorIs(t, err, context.Canceled)
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return")
	}
}

func TestBackoffIsCappedExponentialWithJitter(t *testing.T) {
	t.Parallel()

	for _, r := range []float64{0, 0.999999} {
		c, err := New(Options{BackoffMin: 10 * time.Millisecond, BackoffMax: 5 * time.Second, Rand: func() float64 { return r }})
		require.NoError(t, err)
		for n, full := range map[int]time.Duration{1: 10 * time.Millisecond, 2: 20 * time.Millisecond, 5: 160 * time.Millisecond, 10: 5 * time.Second, 60: 5 * time.Second} {
			d := c.backoff(n)
			require.GreaterOrEqual(t, d, full/2, "attempt %d", n)
			require.LessOrEqual(t, d, full, "attempt %d", n)
		}
	}
}

func TestNewBuildsTheSocketURL(t *testing.T) {
	t.Parallel()

	c, err := New(Options{APIKey: "k 1"})
	require.NoError(t, err)
	require.Equal(t, "wss://stream-api.opensea.io/socket/websocket?token=k+1&vsn=2.0.0", c.url)
	require.NotContains(t, c.safeURL, "k+1")

	c, err = New(Options{URL: "wss://stream-api.opensea.io/socket", APIKey: "k"})
	require.NoError(t, err)
	require.Equal(t, "wss://stream-api.opensea.io/socket/websocket?token=k&vsn=2.0.0", c.url)

	for _, bad := range []Options{{URL: "ftp://x/socket"}, {URL: "wss:///socket"}, {Heartbeat: -1}, {BackoffMin: time.Second, BackoffMax: time.Millisecond}, {MaxFrameBytes: -1}} {
		_, err := New(bad)
		require.Error(t, err, "%+v", bad)
	}

	// A connection error does not leak the key.
	c, err = New(Options{URL: "ws://127.0.0.1:1/socket", APIKey: "sk-secret-key", JoinTimeout: time.Second})
	require.NoError(t, err)
	_, err = c.connect(context.Background(), newRecorder())
	require.Error(t, err)
	require.False(t, errors.Is(err, ErrKeyRefused))
	require.NotContains(t, err.Error(), "sk-secret-key")
}

func TestClientBacksOffExponentiallyWhileTheServerFails(t *testing.T) {
	t.Parallel()

	srv := newPhxServer(t)
	srv.refuse.Store(http.StatusServiceUnavailable)
	var mu sync.Mutex
	var at []time.Time
	inner := srv.srv.Config.Handler
	srv.srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		at = append(at, time.Now())
		mu.Unlock()
		inner.ServeHTTP(w, r)
	})
	rec := newRecorder()
	startClient(t, srv, Options{BackoffMin: 20 * time.Millisecond, BackoffMax: 80 * time.Millisecond}, rec, slug)
	rec.waitCount(t, "down", 6)
	srv.refuse.Store(0)
	rec.waitCount(t, "joined:"+slug, 1)

	mu.Lock()
	defer mu.Unlock()
	require.GreaterOrEqual(t, len(at), 7)
	// Waits of attempt n are in [d/2, d] with d = min(80 ms, 20 ms×2^(n-1));
	// a gap also includes the failed attempt itself, so only lower bounds hold.
	for i, full := range []time.Duration{20, 40, 80, 80, 80} {
		gap := at[i+1].Sub(at[i])
		require.GreaterOrEqual(t, gap, full*time.Millisecond/2, "gap %d", i)
	}
	require.Equal(t, 0, rec.count("left:"+slug))
}

func TestClientNeverLogsTheKey(t *testing.T) {
	t.Parallel()

	srv := newPhxServer(t)
	srv.setJoinPolicy(func(_ string, n int) string {
		if n == 1 {
			return "error"
		}
		return "ok"
	})
	var buf safeBuffer
	rec := newRecorder()
	startClient(t, srv, Options{Logger: slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))}, rec, slug)
	first := srv.conn(t)
	rec.waitCount(t, "joined:"+slug, 1)
	require.NoError(t, first.c.CloseNow())
	rec.waitCount(t, "joined:"+slug, 2)

	logged := buf.String()
	require.Contains(t, logged, "stream: connected")
	require.Contains(t, logged, "join refused")
	require.Contains(t, logged, "token=REDACTED")
	require.NotContains(t, logged, srv.key)
}

// safeBuffer is a bytes.Buffer safe for concurrent writes.
type safeBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *safeBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *safeBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestClientWaitsRetryAfterOnAThrottledUpgrade: an upgrade answered 429 or
// 503 with Retry-After (seconds or an HTTP date) is retried no sooner than
// the server asked, though the client's own backoff is 50 ms at most.
func TestClientWaitsRetryAfterOnAThrottledUpgrade(t *testing.T) {
	t.Parallel()
	for name, c := range map[string]struct {
		status     int
		retryAfter func() string
	}{
		"429 seconds":   {http.StatusTooManyRequests, func() string { return "1" }},
		"503 HTTP date": {http.StatusServiceUnavailable, func() string { return time.Now().Add(2 * time.Second).UTC().Format(http.TimeFormat) }},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			srv := newPhxServer(t)
			var mu sync.Mutex
			var at []time.Time
			inner := srv.srv.Config.Handler
			srv.srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				at = append(at, time.Now())
				first := len(at) == 1
				mu.Unlock()
				if first {
					w.Header().Set("Retry-After", c.retryAfter())
					http.Error(w, `{"detail":"Request was throttled."}`, c.status)
					return
				}
				inner.ServeHTTP(w, r)
			})
			rec := newRecorder()
			startClient(t, srv, Options{}, rec, slug)
			rec.waitCount(t, "joined:"+slug, 1)

			mu.Lock()
			defer mu.Unlock()
			require.Len(t, at, 2, "one refused upgrade, then the accepted one")
			require.GreaterOrEqual(t, at[1].Sub(at[0]), time.Second, "waited for Retry-After")
			rec.mu.Lock()
			defer rec.mu.Unlock()
			require.Len(t, rec.downs, 1)
			require.ErrorIs(t, rec.downs[0], ErrThrottled)
			require.Contains(t, rec.downs[0].Error(), "HTTP "+strconv.Itoa(c.status)+", Retry-After")
		})
	}
}

// TestClientRetryAfterIsCapped: a Retry-After beyond opensea.MaxRetryAfter
// is read as the cap, not as hours of silence.
func TestClientRetryAfterIsCapped(t *testing.T) {
	t.Parallel()
	srv := newPhxServer(t)
	srv.srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "86400")
		http.Error(w, "throttled", http.StatusTooManyRequests)
	})
	rec := newRecorder()
	startClient(t, srv, Options{}, rec, slug)
	rec.waitCount(t, "down", 1)
	rec.mu.Lock()
	defer rec.mu.Unlock()
	require.ErrorIs(t, rec.downs[0], ErrThrottled)
	require.Contains(t, rec.downs[0].Error(), "Retry-After 5m0s")
}
