package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"
	"github.com/stretchr/testify/require"

	"github.com/nftsync/nftsync/db"
	"github.com/nftsync/nftsync/internal/api"
)

// wsMsg is a graphql-transport-ws message.
type wsMsg struct {
	ID      string          `json:"id,omitempty"`
	Type    string          `json:"type"`
	Payload json.RawMessage `json:"payload,omitempty"`
}

type wsClient struct {
	t    testing.TB
	conn *websocket.Conn
	msgs chan wsMsg
	err  chan error
}

// dialWS opens a graphql-transport-ws connection and sends connection_init
// with payload; it returns the client and the server's first answer type
// (connection_ack, or connection_error / a close).
func (b *testBundle) dialWS(t testing.TB, url string, payload map[string]any) (*wsClient, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, _, err := websocket.Dial(ctx, strings.Replace(url, "http://", "ws://", 1)+"/graphql", //nolint:bodyclose // the handshake response has no body left to close (the library closes it)
		&websocket.DialOptions{Subprotocols: []string{"graphql-transport-ws"}})
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.CloseNow() })
	c := &wsClient{t: t, conn: conn, msgs: make(chan wsMsg, 100), err: make(chan error, 1)}
	go func() {
		for {
			var m wsMsg
			if err := wsjson.Read(context.Background(), conn, &m); err != nil {
				c.err <- err
				close(c.msgs)
				return
			}
			if m.Type == "ping" {
				_ = wsjson.Write(context.Background(), conn, wsMsg{Type: "pong"})
				continue
			}
			c.msgs <- m
		}
	}()
	p, _ := json.Marshal(payload)
	require.NoError(t, wsjson.Write(ctx, conn, wsMsg{Type: "connection_init", Payload: p}))
	m, ok := c.next(10 * time.Second)
	if !ok {
		return c, "closed: " + (<-c.err).Error()
	}
	return c, m.Type
}

func (c *wsClient) next(wait time.Duration) (wsMsg, bool) {
	c.t.Helper()
	select {
	case m, ok := <-c.msgs:
		return m, ok
	case <-time.After(wait):
		c.t.Fatalf("no message within %s", wait)
		return wsMsg{}, false
	}
}

// quiet fails when a message arrives within d.
func (c *wsClient) quiet(d time.Duration) {
	c.t.Helper()
	select {
	case m := <-c.msgs:
		c.t.Fatalf("unexpected message: %s %s", m.Type, m.Payload)
	case <-time.After(d):
	}
}

// refused waits for a subscription's refusal: an error message, or an
// event carrying only errors, whose payload contains msg.
func (c *wsClient) refused(msg string) {
	c.t.Helper()
	m, ok := c.next(10 * time.Second)
	require.True(c.t, ok, "connection closed")
	require.Contains(c.t, []string{"error", "next"}, m.Type)
	require.Contains(c.t, string(m.Payload), msg)
	require.NotContains(c.t, string(m.Payload), `"data":{`)
}

func (c *wsClient) subscribe(id, query string) {
	p, _ := json.Marshal(map[string]any{"query": query})
	require.NoError(c.t, wsjson.Write(context.Background(), c.conn, wsMsg{ID: id, Type: "subscribe", Payload: p}))
}

// event waits for the next "next" message and decodes its data into v.
func (c *wsClient) event(v any) {
	c.t.Helper()
	m, ok := c.next(10 * time.Second)
	require.True(c.t, ok, "connection closed")
	require.Equal(c.t, "next", m.Type, "payload: %s", m.Payload)
	var p struct {
		Data   json.RawMessage `json:"data"`
		Errors []gqlError      `json:"errors"`
	}
	require.NoError(c.t, json.Unmarshal(m.Payload, &p))
	require.Empty(c.t, p.Errors)
	require.NoError(c.t, json.Unmarshal(p.Data, v))
}

type collectionUpdated struct {
	CollectionUpdated struct {
		Changed    []string `json:"changed"`
		Collection struct {
			Slug  string `json:"slug"`
			Floor *struct {
				Amount string `json:"amount"`
			} `json:"floor"`
		} `json:"collection"`
	} `json:"collectionUpdated"`
}

func (b *testBundle) observeFloor(t testing.TB, q *db.Queries, id int64, amount string) {
	t.Helper()
	require.NoError(t, q.FloorPriceObserve(context.Background(), db.FloorPriceObserveParams{CollectionID: id, Source: "opensea",
		Amount: numeric(t, amount), Currency: "ETH", Decimals: 18, SeenAt: time.Now()}))
}

// TestSubscriptionCollectionUpdated: the first event is the current state;
// a committed write is pushed with what changed; an uncommitted one is not.
func TestSubscriptionCollectionUpdated(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	id := b.seedCollection(t, "alpha", "1.5", "10", nil)
	c, ack := b.dialWS(t, b.url, nil)
	require.Equal(t, "connection_ack", ack)
	c.subscribe("1", `subscription { collectionUpdated(slug: "alpha") { changed collection { slug floor { amount } } } }`)
	var ev collectionUpdated
	c.event(&ev)
	require.Empty(t, ev.CollectionUpdated.Changed)
	require.Equal(t, "1.500000000000000000", ev.CollectionUpdated.Collection.Floor.Amount)

	ctx := context.Background()
	tx, err := b.pool.Begin(ctx)
	require.NoError(t, err)
	b.observeFloor(t, db.New(tx), id, "1.25")
	c.quiet(300 * time.Millisecond) // not committed: nothing to tell
	require.NoError(t, tx.Commit(ctx))
	c.event(&ev)
	require.Equal(t, []string{"FLOOR"}, ev.CollectionUpdated.Changed)
	require.Equal(t, "1.250000000000000000", ev.CollectionUpdated.Collection.Floor.Amount, "each event reads the data anew")

	_, err = b.pool.Exec(ctx, "UPDATE collection_metadata SET name = 'renamed' WHERE collection_id = $1", id)
	require.NoError(t, err)
	c.event(&ev)
	require.Equal(t, []string{"METADATA"}, ev.CollectionUpdated.Changed)

	// Unknown collection: an error, the connection stays.
	c.subscribe("2", `subscription { collectionUpdated(slug: "nope") { changed } }`)
	c.refused("not tracked")
}

// TestSubscriptionFloorChanged: floors are pushed when they change, not
// when the same floor is observed again; slugs filter.
func TestSubscriptionFloorChanged(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	alpha := b.seedCollection(t, "alpha", "1.5", "10", nil)
	beta := b.seedCollection(t, "beta", "2", "10", nil)
	q := db.New(b.pool)
	type floorChanged struct {
		FloorChanged struct {
			Slug  string `json:"slug"`
			Floor *struct {
				Amount string `json:"amount"`
			} `json:"floor"`
		} `json:"floorChanged"`
	}
	one, _ := b.dialWS(t, b.url, nil)
	one.subscribe("1", `subscription { floorChanged(slugs: ["alpha"]) { slug floor { amount } } }`)
	all, _ := b.dialWS(t, b.url, nil)
	all.subscribe("1", `subscription { floorChanged { slug floor { amount } } }`)
	var ev floorChanged
	one.event(&ev)
	require.Equal(t, "alpha", ev.FloorChanged.Slug)
	require.Equal(t, "1.500000000000000000", ev.FloorChanged.Floor.Amount)

	// The subscription to every collection sends nothing first: change
	// beta until it reports, which shows it is in place.
	for i := 1; ; i++ {
		require.Less(t, i, 100, "the subscription to every collection never reported")
		b.observeFloor(t, q, beta, fmt.Sprintf("2.%02d", i))
		select {
		case m := <-all.msgs:
			require.Equal(t, "next", m.Type)
			require.Contains(t, string(m.Payload), `"slug":"beta"`)
			require.Contains(t, string(m.Payload), fmt.Sprintf(`"amount":"2.%02d0000000000000000"`, i))
		case <-time.After(100 * time.Millisecond):
			continue
		}
		break
	}
	b.observeFloor(t, q, alpha, "1.5") // seen again, unchanged
	one.quiet(300 * time.Millisecond)
	all.quiet(300 * time.Millisecond)

	b.observeFloor(t, q, alpha, "1.4")
	one.event(&ev)
	require.Equal(t, "1.400000000000000000", ev.FloorChanged.Floor.Amount)
	all.event(&ev)
	require.Equal(t, "alpha", ev.FloorChanged.Slug)
}

// TestSubscriptionAuth: tokens come in connection_init and are checked as
// for queries.
func TestSubscriptionAuth(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{opts: api.Options{ReadTokens: []string{"reader"}}})
	b.seedCollection(t, "alpha", "1", "1", nil)
	_, ack := b.dialWS(t, b.url, nil)
	require.NotEqual(t, "connection_ack", ack)
	_, ack = b.dialWS(t, b.url, map[string]any{"Authorization": "Bearer wrong"})
	require.NotEqual(t, "connection_ack", ack)
	c, ack := b.dialWS(t, b.url, map[string]any{"Authorization": "Bearer reader"})
	require.Equal(t, "connection_ack", ack)
	c.subscribe("1", `subscription { collectionUpdated(slug: "alpha") { changed } }`)
	var ev collectionUpdated
	c.event(&ev)
	_, ack = b.dialWS(t, b.url, map[string]any{"token": adminToken})
	require.Equal(t, "connection_ack", ack)
}

// TestSubscriptionLimits: subscriptions per connection and connections per
// token are bounded, with a message that says so.
func TestSubscriptionLimits(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{opts: api.Options{MaxSubscriptionsPerConnection: 2, MaxConnectionsPerToken: 1}})
	b.seedCollection(t, "alpha", "1", "1", nil)
	c, ack := b.dialWS(t, b.url, map[string]any{"Authorization": "Bearer " + adminToken})
	require.Equal(t, "connection_ack", ack)
	var ev collectionUpdated
	for i := range 2 {
		c.subscribe(fmt.Sprint(i), `subscription { collectionUpdated(slug: "alpha") { changed } }`)
		c.event(&ev)
	}
	c.subscribe("3", `subscription { collectionUpdated(slug: "alpha") { changed } }`)
	c.refused("too many subscriptions on this connection (the limit is 2)")

	_, ack = b.dialWS(t, b.url, map[string]any{"Authorization": "Bearer " + adminToken})
	require.NotEqual(t, "connection_ack", ack, "a second connection of the token")
	// Closing the first frees the slot.
	require.NoError(t, c.conn.Close(websocket.StatusNormalClosure, ""))
	require.Eventually(t, func() bool {
		d, ack := b.dialWS(t, b.url, map[string]any{"Authorization": "Bearer " + adminToken})
		_ = d.conn.CloseNow()
		return ack == "connection_ack"
	}, 10*time.Second, 50*time.Millisecond)
}

// TestSubscriptionDatabaseRestart: when the server loses the database's
// notifications, every subscription completes (the client is told); a new
// subscription works once the server listens again.
func TestSubscriptionDatabaseRestart(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	id := b.seedCollection(t, "alpha", "1.5", "10", nil)
	c, _ := b.dialWS(t, b.url, nil)
	c.subscribe("1", `subscription { collectionUpdated(slug: "alpha") { changed collection { floor { amount } } } }`)
	var ev collectionUpdated
	c.event(&ev)

	ctx := context.Background()
	var killed int
	require.NoError(t, b.pool.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE datname = current_database() AND query LIKE 'LISTEN nftsync_data_changed%'`).Scan(&killed))
	require.Equal(t, 1, killed)
	m, ok := c.next(10 * time.Second)
	require.True(t, ok)
	require.Equal(t, "complete", m.Type)

	c.subscribe("2", `subscription { collectionUpdated(slug: "alpha") { changed collection { floor { amount } } } }`)
	c.event(&ev) // waits until the server listens again
	require.Empty(t, ev.CollectionUpdated.Changed)
	b.observeFloor(t, db.New(b.pool), id, "1.1")
	c.event(&ev)
	require.Equal(t, "1.100000000000000000", ev.CollectionUpdated.Collection.Floor.Amount)
}
