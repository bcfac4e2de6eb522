package indexersim

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/stretchr/testify/require"
)

// wsClient is a raw Phoenix V2 client for tests. A goroutine reads frames
// into frames (a read whose context ends closes a coder/websocket
// connection, so reads are not timed out directly).
type wsClient struct {
	t      *testing.T
	conn   *websocket.Conn
	frames chan []byte
	err    error // why reading stopped, once frames is closed
}

// frame is one decoded server frame.
type frame struct {
	joinRef, ref *string
	topic, event string
	payload      json.RawMessage
	raw          string
}

// streamMsg is BaseStreamMessage.
type streamMsg struct {
	EventType string          `json:"event_type"`
	Version   int64           `json:"version"`
	SentAt    string          `json:"sent_at"`
	Payload   json.RawMessage `json:"payload"`
}

// orderFields are the payload fields the tests read.
type orderFields struct {
	OrderHash      string `json:"order_hash"`
	EventTimestamp string `json:"event_timestamp"`
	BasePrice      string `json:"base_price"`
	SalePrice      string `json:"sale_price"`
	IsPrivate      bool   `json:"is_private"`
	Collection     struct {
		Slug string `json:"slug"`
	} `json:"collection"`
	Item struct {
		NFTID string `json:"nft_id"`
	} `json:"item"`
	PaymentToken struct {
		Symbol   string `json:"symbol"`
		Decimals int    `json:"decimals"`
		EthPrice string `json:"eth_price"`
	} `json:"payment_token"`
	Transaction struct {
		Hash string `json:"hash"`
	} `json:"transaction"`
}

func (b *testBundle) wsURL(token string) string {
	return "ws" + strings.TrimPrefix(b.ts.URL, "http") + "/socket/websocket?token=" + token + "&vsn=2.0.0"
}

func (b *testBundle) dial(t *testing.T, token string) *wsClient {
	t.Helper()
	conn, res, err := websocket.Dial(t.Context(), b.wsURL(token), nil)
	require.NoError(t, err)
	if res.Body != nil {
		res.Body.Close()
	}
	conn.SetReadLimit(1 << 22)
	t.Cleanup(func() { _ = conn.CloseNow() })
	c := &wsClient{t: t, conn: conn, frames: make(chan []byte, 1<<16)}
	go func() {
		defer close(c.frames)
		for {
			_, data, err := conn.Read(context.Background())
			if err != nil {
				c.err = err
				return
			}
			c.frames <- data
		}
	}()
	return c
}

func (c *wsClient) send(v ...any) {
	c.t.Helper()
	data, err := json.Marshal(v)
	require.NoError(c.t, err)
	require.NoError(c.t, c.conn.Write(c.t.Context(), websocket.MessageText, data))
}

// read returns the next frame, or an error when none comes within wait.
func (c *wsClient) read(wait time.Duration) (frame, error) {
	var data []byte
	select {
	case d, ok := <-c.frames:
		if !ok {
			return frame{}, c.err
		}
		data = d
	case <-time.After(wait):
		return frame{}, context.DeadlineExceeded
	}
	var parts []json.RawMessage
	require.NoError(c.t, json.Unmarshal(data, &parts), string(data))
	require.Len(c.t, parts, 5, string(data))
	f := frame{raw: string(data), payload: parts[4]}
	require.NoError(c.t, json.Unmarshal(parts[0], &f.joinRef))
	require.NoError(c.t, json.Unmarshal(parts[1], &f.ref))
	require.NoError(c.t, json.Unmarshal(parts[2], &f.topic))
	require.NoError(c.t, json.Unmarshal(parts[3], &f.event))
	return f, nil
}

func (c *wsClient) mustRead() frame {
	c.t.Helper()
	f, err := c.read(5 * time.Second)
	require.NoError(c.t, err)
	return f
}

// reply reads a frame and requires it to be the phx_reply to ref.
func (c *wsClient) reply(ref, status string) map[string]any {
	c.t.Helper()
	f := c.mustRead()
	require.Equal(c.t, "phx_reply", f.event, f.raw)
	require.NotNil(c.t, f.ref)
	require.Equal(c.t, ref, *f.ref)
	var p struct {
		Status   string         `json:"status"`
		Response map[string]any `json:"response"`
	}
	require.NoError(c.t, json.Unmarshal(f.payload, &p))
	require.Equal(c.t, status, p.Status, f.raw)
	return p.Response
}

func (c *wsClient) join(slug string, types ...string) {
	c.t.Helper()
	payload := map[string]any{}
	if len(types) > 0 {
		payload["event_types"] = types
	}
	c.send("j-"+slug, "r-"+slug, "collection:"+slug, "phx_join", payload)
	c.reply("r-"+slug, "ok")
}

// drain reads event frames until none comes for quiet.
func (c *wsClient) drain(quiet time.Duration) []frame {
	c.t.Helper()
	var out []frame
	for {
		f, err := c.read(quiet)
		if err != nil {
			require.ErrorIs(c.t, err, context.DeadlineExceeded)
			return out
		}
		out = append(out, f)
	}
}

func decodeEvent(t *testing.T, f frame) (streamMsg, orderFields) {
	t.Helper()
	var m streamMsg
	require.NoError(t, json.Unmarshal(f.payload, &m), f.raw)
	var o orderFields
	require.NoError(t, json.Unmarshal(m.Payload, &o), f.raw)
	return m, o
}

var allEventTypes = []string{EventItemListed, EventItemSold, EventItemTransferred, EventItemMetadataUpdated,
	EventItemCancelled, EventItemReceivedBid, EventCollectionOffer, EventTraitOffer, EventOrderInvalidate, EventOrderRevalidate}

func streamSetup(t *testing.T, cfg Config) *testBundle {
	t.Helper()
	cfg.Stream.Tick = 5 * time.Millisecond
	return setup(t, cfg)
}

func TestStreamJoinEventsHeartbeat(t *testing.T) {
	t.Parallel()
	b := streamSetup(t, Config{Collections: 3, Seed: 4})
	ws := b.dial(t, "any")
	ws.join("sim-collection-000", allEventTypes...)

	ws.send(nil, "7", "phoenix", "heartbeat", map[string]any{})
	f := ws.mustRead()
	require.Nil(t, f.joinRef)
	require.Equal(t, "phoenix", f.topic)
	require.JSONEq(t, `[null,"7","phoenix","phx_reply",{"status":"ok","response":{}}]`, f.raw)

	// Nothing happened since the join: no event is pushed.
	require.Empty(t, ws.drain(100*time.Millisecond))

	start := b.clock.Now()
	b.clock.Advance(20 * time.Minute)
	frames := ws.drain(300 * time.Millisecond)
	require.NotEmpty(t, frames)
	types := map[string]int{}
	versions := map[string]int64{}
	var lastTS string
	for _, f := range frames {
		require.Nil(t, f.joinRef, f.raw)
		require.Nil(t, f.ref, f.raw)
		require.Equal(t, "collection:sim-collection-000", f.topic)
		m, o := decodeEvent(t, f)
		require.Equal(t, f.event, m.EventType)
		types[m.EventType]++
		require.Equal(t, "sim-collection-000", o.Collection.Slug)
		require.True(t, strings.HasPrefix(o.Item.NFTID, "ethereum/0x"), o.Item.NFTID)
		ts, err := time.Parse(streamTimeLayout, o.EventTimestamp)
		if m.EventType != EventItemMetadataUpdated {
			require.NoError(t, err, f.raw)
			require.True(t, ts.After(start), "only events after the join")
			require.GreaterOrEqual(t, o.EventTimestamp, lastTS, "in time order without faults")
			lastTS = o.EventTimestamp
		}
		_, err = time.Parse(streamTimeLayout, m.SentAt)
		require.NoError(t, err)
		switch m.EventType {
		case EventItemListed:
			require.Equal(t, int64(1), m.Version, "a new order's first revision")
			require.NotEmpty(t, o.BasePrice)
			require.NotEmpty(t, o.PaymentToken.EthPrice)
			versions[o.OrderHash] = 1
		case EventItemCancelled, EventOrderInvalidate, EventOrderRevalidate:
			if v, ok := versions[o.OrderHash]; ok {
				require.Greater(t, m.Version, v, "order revisions increase")
			}
			versions[o.OrderHash] = m.Version
		case EventItemSold, EventItemTransferred:
			require.Equal(t, ts.UnixMilli(), m.Version, "item events carry epoch milliseconds")
		}
	}
	require.Positive(t, types[EventItemListed])
	require.Positive(t, types[EventItemCancelled])
	st := b.sim.StreamStats()
	require.Equal(t, int64(1), st.Connections)
	require.Equal(t, int64(1), st.Joins)
	require.Equal(t, int64(1), st.Heartbeats)
	require.Equal(t, int64(len(frames)), st.Sent)
	require.Zero(t, b.sim.Stats().Requests, "streamed events are not REST requests")

	// Errors: an unknown topic pattern, a message on a topic not joined.
	ws.send("9", "10", "room:lobby", "phx_join", map[string]any{})
	require.Equal(t, map[string]any{"reason": "unmatched topic"}, ws.reply("10", "error"))
	ws.send("9", "11", "collection:sim-collection-001", "ping", map[string]any{})
	require.Equal(t, map[string]any{"reason": "unmatched topic"}, ws.reply("11", "error"))

	// Leave: ok, then phx_close, then nothing more from that topic.
	ws.send("j-sim-collection-000", "12", "collection:sim-collection-000", "phx_leave", map[string]any{})
	ws.reply("12", "ok")
	f = ws.mustRead()
	require.JSONEq(t, `["j-sim-collection-000","j-sim-collection-000","collection:sim-collection-000","phx_close",{}]`, f.raw)
	b.clock.Advance(20 * time.Minute)
	require.Empty(t, ws.drain(100*time.Millisecond))
}

func TestStreamFilterAndSalesMatchEvents(t *testing.T) {
	t.Parallel()
	b := streamSetup(t, Config{Collections: 2, Seed: 8})
	slug := "sim-collection-001"
	ws := b.dial(t, "k")
	ws.join(slug, EventItemSold)
	from := b.clock.Now()
	sold := map[string]orderFields{}
	for range 12 {
		b.clock.Advance(10 * time.Minute)
		for _, f := range ws.drain(150 * time.Millisecond) {
			m, o := decodeEvent(t, f)
			require.Equal(t, EventItemSold, m.EventType, "the join filter")
			sold[o.Transaction.Hash] = o
		}
	}
	require.NotEmpty(t, sold)
	var page apiSales
	b.getJSON(t, "/api/v2/events/collection/"+slug+"?event_type=sale&limit=200&after="+
		jsonNum(from.Unix()), &page)
	require.Len(t, page.AssetEvents, len(sold), "the stream's sales are the events endpoint's")
	for _, e := range page.AssetEvents {
		o, ok := sold[e.Transaction]
		require.True(t, ok, e.Transaction)
		require.Equal(t, e.OrderHash, o.OrderHash)
		require.Equal(t, e.Payment.Quantity, o.SalePrice)
		require.Equal(t, "ethereum/"+e.NFT.Contract+"/"+e.NFT.Identifier, o.Item.NFTID)
	}
}

func jsonNum(n int64) string { b, _ := json.Marshal(n); return string(b) }

func TestStreamRefusedKey(t *testing.T) {
	t.Parallel()
	b := streamSetup(t, Config{Collections: 1, APIKeys: []string{"good", "revoked"},
		Stream: StreamConfig{RefusedKeys: []string{"revoked"}}})
	for _, tc := range []struct {
		url    string
		status int
	}{
		{b.wsURL("bad"), http.StatusForbidden},
		{b.wsURL("revoked"), http.StatusForbidden},
		{strings.Replace(b.wsURL("good"), "vsn=2.0.0", "vsn=1.0.0", 1), http.StatusBadRequest},
	} {
		_, res, err := websocket.Dial(t.Context(), tc.url, nil)
		require.Error(t, err, tc.url)
		require.NotNil(t, res, tc.url)
		require.NoError(t, res.Body.Close())
		require.Equal(t, tc.status, res.StatusCode, tc.url)
	}
	ws := b.dial(t, "good")
	ws.join("sim-collection-000")
	st := b.sim.StreamStats()
	require.Equal(t, int64(3), st.Refused)
	require.Equal(t, int64(1), st.Connections)
}

// collect joins one collection, lets an hour pass and returns the frames.
func collect(t *testing.T, b *testBundle) []frame {
	t.Helper()
	ws := b.dial(t, "k")
	ws.join("sim-collection-000")
	var frames []frame
	for range 6 {
		b.clock.Advance(10 * time.Minute)
		frames = append(frames, ws.drain(150*time.Millisecond)...)
	}
	return frames
}

// eventKey identifies an event for comparisons.
func eventKey(t *testing.T, f frame) string {
	m, o := decodeEvent(t, f)
	return m.EventType + "/" + o.OrderHash + "/" + o.Item.NFTID + "/" + jsonNum(m.Version) + "/" + o.EventTimestamp
}

func TestStreamDeterminism(t *testing.T) {
	t.Parallel()
	a := collect(t, streamSetup(t, Config{Collections: 1, Seed: 21}))
	b := collect(t, streamSetup(t, Config{Collections: 1, Seed: 21}))
	require.Greater(t, len(a), 100)
	require.Len(t, b, len(a))
	for i := range a {
		require.Equal(t, eventKey(t, a[i]), eventKey(t, b[i]))
	}
}

func TestStreamFaults(t *testing.T) {
	t.Parallel()
	clean := collect(t, streamSetup(t, Config{Collections: 1, Seed: 2}))
	keys := make([]string, len(clean))
	for i, f := range clean {
		keys[i] = eventKey(t, f)
	}
	t.Run("Drop", func(t *testing.T) {
		t.Parallel()
		b := streamSetup(t, Config{Collections: 1, Seed: 2, Stream: StreamConfig{DropRate: 0.3}})
		got := collect(t, b)
		st := b.sim.StreamStats()
		require.Positive(t, st.Dropped)
		require.Equal(t, int64(len(clean)), st.Events[EventItemListed]+st.Events[EventItemCancelled]+st.Events[EventItemSold]+
			st.Events[EventItemTransferred]+st.Events[EventItemMetadataUpdated]+st.Events[EventOrderInvalidate]+st.Events[EventOrderRevalidate])
		require.Len(t, got, len(clean)-int(st.Dropped))
		require.Equal(t, st.Sent, int64(len(got)))
	})
	t.Run("Duplicate", func(t *testing.T) {
		t.Parallel()
		b := streamSetup(t, Config{Collections: 1, Seed: 2, Stream: StreamConfig{DuplicateRate: 0.2}})
		got := collect(t, b)
		st := b.sim.StreamStats()
		require.Positive(t, st.Duplicated)
		require.Len(t, got, len(clean)+int(st.Duplicated))
		seen, dups := map[string]bool{}, 0
		for _, f := range got {
			if seen[f.raw] {
				dups++
			}
			seen[f.raw] = true
		}
		require.Equal(t, int(st.Duplicated), dups, "a duplicate is the same frame again")
	})
	t.Run("Reorder", func(t *testing.T) {
		t.Parallel()
		b := streamSetup(t, Config{Collections: 1, Seed: 2, Stream: StreamConfig{ReorderRate: 0.2}})
		got := collect(t, b)
		st := b.sim.StreamStats()
		require.Positive(t, st.Reordered)
		require.Len(t, got, len(clean), "nothing lost")
		swapped := 0
		gk := make([]string, len(got))
		for i, f := range got {
			gk[i] = eventKey(t, f)
		}
		require.ElementsMatch(t, keys, gk)
		for i := range gk {
			if gk[i] != keys[i] {
				swapped++
			}
		}
		require.Positive(t, swapped)
	})
	t.Run("StaleReplay", func(t *testing.T) {
		t.Parallel()
		b := streamSetup(t, Config{Collections: 1, Seed: 2, Stream: StreamConfig{StaleReplayRate: 0.1}})
		got := collect(t, b)
		st := b.sim.StreamStats()
		require.Positive(t, st.Replayed)
		require.Len(t, got, len(clean)+int(st.Replayed))
		latest, stale := map[string]int64{}, 0
		for _, f := range got {
			m, o := decodeEvent(t, f)
			if m.EventType == EventItemSold || m.EventType == EventItemTransferred || m.EventType == EventItemMetadataUpdated {
				continue
			}
			if m.Version < latest[o.OrderHash] {
				stale++ // an older state of an order after a newer one
			}
			latest[o.OrderHash] = max(latest[o.OrderHash], m.Version)
		}
		require.Positive(t, stale)
	})
	t.Run("Disconnect", func(t *testing.T) {
		t.Parallel()
		b := streamSetup(t, Config{Collections: 1, Seed: 2, Stream: StreamConfig{DisconnectEvery: 2 * time.Minute}})
		ws := b.dial(t, "k")
		ws.join("sim-collection-000")
		b.clock.Advance(90 * time.Second)
		ws.drain(100 * time.Millisecond)
		b.clock.Advance(time.Minute)
		var err error
		for err == nil {
			_, err = ws.read(5 * time.Second)
		}
		require.False(t, errors.Is(err, context.DeadlineExceeded), "the server hung up: %v", err)
		require.Equal(t, websocket.StatusCode(-1), websocket.CloseStatus(err), "abrupt: no close frame")
		require.Equal(t, int64(1), b.sim.StreamStats().Disconnects)
		ws2 := b.dial(t, "k") // a new connection lives its own period
		ws2.join("sim-collection-000")
	})
}

func TestStreamMetadataUpdateOnTouch(t *testing.T) {
	t.Parallel()
	b := streamSetup(t, Config{Collections: 1, Seed: 6})
	ws := b.dial(t, "k")
	ws.join("sim-collection-000", EventItemMetadataUpdated)
	require.NoError(t, b.sim.Touch("sim-collection-000", "5"))
	f := ws.mustRead()
	m, _ := decodeEvent(t, f)
	require.Equal(t, EventItemMetadataUpdated, m.EventType)
	require.Equal(t, b.clock.Now().UnixMilli(), m.Version)
	var p struct {
		Item struct {
			NFTID    string `json:"nft_id"`
			Metadata struct {
				MetadataURL string `json:"metadata_url"`
				Traits      []struct {
					TraitType string  `json:"trait_type"`
					Value     *string `json:"value"`
				} `json:"traits"`
			} `json:"metadata"`
		} `json:"item"`
	}
	require.NoError(t, json.Unmarshal(m.Payload, &p))
	info, _ := b.sim.Collection("sim-collection-000")
	require.Equal(t, "ethereum/"+info.Contract+"/5", p.Item.NFTID)
	require.NotEmpty(t, p.Item.Metadata.MetadataURL)
	traits, ok := b.sim.Token("sim-collection-000", "5")
	require.True(t, ok)
	require.Len(t, p.Item.Metadata.Traits, len(traits), "the new traits")
	for i, tr := range traits {
		require.Equal(t, tr.Type, p.Item.Metadata.Traits[i].TraitType)
		require.Equal(t, tr.Value, *p.Item.Metadata.Traits[i].Value)
	}
}

// BenchmarkStream1000 measures the Stream endpoint serving one connection
// joined to 1,000 collections: each iteration lets a simulated minute pass
// and reads every frame it brings (server pump, rendering and the test
// client's reads together).
func BenchmarkStream1000(b *testing.B) {
	clock := newFakeClock()
	sim, err := New(Config{Collections: 1000, Clock: clock.Now, Stream: StreamConfig{Tick: 10 * time.Millisecond}}, nil)
	require.NoError(b, err)
	ts := httptest.NewServer(sim.Handler())
	defer ts.Close()
	defer sim.Close()
	conn, res, err := websocket.Dial(context.Background(), "ws"+strings.TrimPrefix(ts.URL, "http")+"/socket/websocket?token=k&vsn=2.0.0", nil)
	require.NoError(b, err)
	if res.Body != nil {
		require.NoError(b, res.Body.Close())
	}
	defer func() { _ = conn.CloseNow() }()
	conn.SetReadLimit(1 << 22)
	for i, slug := range sim.Slugs() {
		data, _ := json.Marshal([]any{strconv.Itoa(i), strconv.Itoa(i), "collection:" + slug, "phx_join", map[string]any{}})
		require.NoError(b, conn.Write(context.Background(), websocket.MessageText, data))
		_, _, err := conn.Read(context.Background())
		require.NoError(b, err)
	}
	read := int64(0)
	cpu0 := processCPU(b)
	b.ResetTimer()
	for range b.N {
		clock.Advance(time.Minute)
		for {
			if sent := sim.StreamStats().Sent; read == sent && sim.StreamStats().Sent == sent {
				time.Sleep(30 * time.Millisecond) // let the next ticks find nothing more
				if sim.StreamStats().Sent == sent {
					break
				}
			}
			for read < sim.StreamStats().Sent {
				_, _, err := conn.Read(context.Background())
				require.NoError(b, err)
				read++
			}
		}
	}
	b.ReportMetric(float64(read)/float64(b.N), "frames/sim-min")
	b.ReportMetric(float64(processCPU(b)-cpu0)/float64(b.N)/1e6, "cpu-ms/sim-min")
}

// processCPU is the process's user and system CPU time so far.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	require.NoError(b, syscall.Getrusage(syscall.RUSAGE_SELF, &ru))
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func TestStreamProtocolErrors(t *testing.T) {
	t.Parallel()
	b := streamSetup(t, Config{Collections: 2, Stream: StreamConfig{IdleTimeout: 300 * time.Millisecond}})

	t.Run("BadJoinPayload", func(t *testing.T) {
		t.Parallel()
		ws := b.dial(t, "k")
		ws.send("1", "2", "collection:sim-collection-000", "phx_join", map[string]any{"event_types": "item_sold"})
		require.Contains(t, ws.reply("2", "error")["reason"], "event_types")
		ws.send("1", "3", "collection:*", "phx_join", map[string]any{})
		require.Contains(t, ws.reply("3", "error")["reason"], "collection:*")
	})
	t.Run("RejoinReplacesFilter", func(t *testing.T) {
		t.Parallel()
		ws := b.dial(t, "k")
		ws.join("sim-collection-001", EventItemMetadataUpdated)
		ws.join("sim-collection-001", EventItemListed)
		require.NoError(t, b.sim.Touch("sim-collection-001", "3"))
		f, err := ws.read(200 * time.Millisecond)
		if err == nil { // a listing may happen meanwhile; never the touched metadata
			require.Equal(t, EventItemListed, f.event, f.raw)
		}
	})
	t.Run("Malformed", func(t *testing.T) {
		t.Parallel()
		ws := b.dial(t, "k")
		require.NoError(t, ws.conn.Write(t.Context(), websocket.MessageText, []byte(`{"topic":"phoenix"}`)))
		_, err := ws.read(5 * time.Second)
		require.Equal(t, websocket.StatusUnsupportedData, websocket.CloseStatus(err), "%v", err)
	})
	t.Run("HeartbeatTimeout", func(t *testing.T) {
		t.Parallel()
		ws := b.dial(t, "k")
		ws.join("sim-collection-000")
		var err error
		for err == nil {
			_, err = ws.read(5 * time.Second)
		}
		require.Equal(t, websocket.StatusPolicyViolation, websocket.CloseStatus(err), "%v", err)
	})
}

// readFor returns the next frame, failing the test when none comes within
// wait (a join at the highest listing rate replays six hours of a book).
func (c *wsClient) readFor(wait time.Duration) frame {
	c.t.Helper()
	f, err := c.read(wait)
	require.NoError(c.t, err)
	return f
}

// replyRef returns the ref of a phx_reply frame, "" for any other frame.
func replyRef(f frame) string {
	if f.event != "phx_reply" || f.ref == nil {
		return ""
	}
	return *f.ref
}

// TestStreamHighRateAnswersControlFirst: at the highest listing rate a
// join's book replays six hours of listings (seconds of work) and a clock
// jump brings thousands of events at once. Neither delays a heartbeat's
// answer: joins are answered, in order, once their books are ready, and
// replies are written ahead of queued events.
func TestStreamHighRateAnswersControlFirst(t *testing.T) {
	t.Parallel()
	b := streamSetup(t, Config{Collections: 4, Seed: 5, Market: MarketConfig{ListingsPerMinute: 600}})
	ws := b.dial(t, "k")
	slugs := []string{"sim-collection-000", "sim-collection-001", "sim-collection-002", "sim-collection-003"}
	for _, slug := range slugs {
		ws.send("j-"+slug, "r-"+slug, "collection:"+slug, "phx_join", map[string]any{"event_types": allEventTypes})
	}
	ws.send(nil, "hb-1", "phoenix", "heartbeat", map[string]any{})
	require.Equal(t, "hb-1", replyRef(ws.readFor(time.Minute)), "the heartbeat is answered while the books warm up")
	for _, slug := range slugs {
		f := ws.readFor(2 * time.Minute)
		require.Equal(t, "r-"+slug, replyRef(f), "joins are answered in order: %s", f.raw)
		require.Contains(t, f.raw, `"status":"ok"`)
	}

	// Five minutes at once: about 20,000 events for the four topics.
	b.clock.Advance(5 * time.Minute)
	f := ws.readFor(time.Minute)
	require.Equal(t, "collection:sim-collection-000", f.topic, "events flow: %s", f.raw)
	ws.send(nil, "hb-2", "phoenix", "heartbeat", map[string]any{})
	before := 1
	for {
		f := ws.readFor(time.Minute)
		if replyRef(f) == "hb-2" {
			break
		}
		require.Nil(t, f.ref, "only events besides the reply: %s", f.raw)
		before++
	}
	after := len(ws.drain(time.Second))
	t.Logf("events before the heartbeat's reply: %d, after: %d", before, after)
	require.Positive(t, after, "the reply did not wait behind the queued events")
	st := b.sim.StreamStats()
	require.Equal(t, int64(len(slugs)), st.Joins)
	require.Equal(t, int64(2), st.Heartbeats)
	require.Equal(t, int64(before+after), st.Sent, "every event written was read")
}

// TestStreamLeaveBeforeJoinAnswered: a client whose join timed out leaves
// it (as Phoenix clients do); the leave is answered at once and the
// abandoned join never is, while later joins are answered in order.
func TestStreamLeaveBeforeJoinAnswered(t *testing.T) {
	t.Parallel()
	b := streamSetup(t, Config{Collections: 2, Seed: 6, Market: MarketConfig{ListingsPerMinute: 600}})
	ws := b.dial(t, "k")
	ws.send("j-0", "r-0", "collection:sim-collection-000", "phx_join", map[string]any{})
	ws.send("j-0", "l-0", "collection:sim-collection-000", "phx_leave", map[string]any{})
	ws.send("j-1", "r-1", "collection:sim-collection-001", "phx_join", map[string]any{})
	f := ws.readFor(time.Minute)
	require.Equal(t, "l-0", replyRef(f), f.raw)
	require.Contains(t, f.raw, `"status":"ok"`)
	f = ws.readFor(time.Minute)
	require.JSONEq(t, `["j-0","j-0","collection:sim-collection-000","phx_close",{}]`, f.raw)
	f = ws.readFor(2 * time.Minute)
	require.Equal(t, "r-1", replyRef(f), "the left join is never answered: %s", f.raw)

	// Only the joined topic gets events.
	b.clock.Advance(time.Minute)
	frames := ws.drain(500 * time.Millisecond)
	require.NotEmpty(t, frames)
	for _, f := range frames {
		require.Equal(t, "collection:sim-collection-001", f.topic, f.raw)
	}
	st := b.sim.StreamStats()
	require.Equal(t, int64(1), st.Joins)
	require.Equal(t, int64(1), st.Leaves)
}
