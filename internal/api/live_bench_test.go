package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"
	"github.com/stretchr/testify/require"

	"github.com/nftsync/nftsync/db"
	"github.com/nftsync/nftsync/internal/api"
	"github.com/nftsync/nftsync/internal/benchsize"
)

// BenchmarkSubscriptionDelivery measures how long a committed change takes
// to reach subscribed clients: subscribers (one websocket connection each)
// spread over the collections subscribe to collectionUpdated with the
// floor; a writer commits a new floor of one collection after another, and
// every subscriber of that collection records when the event with that
// floor arrived. Reported: delivery latency from the commit returning to
// the client holding the event (p50, p99, max) and events delivered.
func BenchmarkSubscriptionDelivery(b *testing.B) {
	subscribers := benchsize.Pick(b, 100, 1000)
	collections := benchsize.Pick(b, 10, 50)
	writes := benchsize.Pick(b, 20, 100)
	bundle := setup(b, setupOpts{opts: api.Options{MaxConnectionsPerToken: subscribers + 10}})
	ids := make([]int64, collections)
	for c := range collections {
		ids[c] = bundle.seedCollection(b, benchSlug(c), "1", "1", nil)
	}
	url := strings.Replace(bundle.url, "http://", "ws://", 1) + "/graphql"

	type arrival struct {
		amount string
		at     time.Time
	}
	arrivals := make([][]arrival, subscribers)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var ready, done sync.WaitGroup
	for i := range subscribers {
		ready.Add(1)
		done.Add(1)
		go func() {
			defer done.Done()
			conn, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{Subprotocols: []string{"graphql-transport-ws"}}) //nolint:bodyclose // the handshake response has no body left to close (the library closes it)
			if err != nil {
				b.Error(err)
				ready.Done()
				return
			}
			defer func() { _ = conn.CloseNow() }()
			conn.SetReadLimit(1 << 20)
			sub, _ := json.Marshal(map[string]any{"query": fmt.Sprintf(`subscription { collectionUpdated(slug: %q) { collection { floor { amount } } } }`, benchSlug(i%collections))})
			if err := wsjson.Write(ctx, conn, wsMsg{Type: "connection_init"}); err != nil {
				b.Error(err)
				ready.Done()
				return
			}
			first := true
			for {
				var m wsMsg
				if err := wsjson.Read(ctx, conn, &m); err != nil {
					if first {
						ready.Done()
					}
					return
				}
				switch m.Type {
				case "connection_ack":
					_ = wsjson.Write(ctx, conn, wsMsg{ID: "1", Type: "subscribe", Payload: sub})
				case "ping":
					_ = wsjson.Write(ctx, conn, wsMsg{Type: "pong"})
				case "next":
					at := time.Now()
					if first {
						first = false
						ready.Done()
						continue
					}
					var p struct {
						Data collectionUpdated `json:"data"`
					}
					_ = json.Unmarshal(m.Payload, &p)
					if f := p.Data.CollectionUpdated.Collection.Floor; f != nil {
						arrivals[i] = append(arrivals[i], arrival{f.Amount, at})
					}
				}
			}
		}()
	}
	ready.Wait()
	b.Logf("%d subscribers on %d collections", subscribers, collections)

	q := db.New(bundle.pool)
	committed := map[string]time.Time{}
	for b.Loop() {
		for w := range writes {
			amount := fmt.Sprintf("2.%04d", w+1)
			require.NoError(b, q.FloorPriceObserve(context.Background(), db.FloorPriceObserveParams{CollectionID: ids[w%collections], Source: "opensea",
				Amount: numeric(b, amount), Currency: "ETH", Decimals: 18, SeenAt: time.Now()}))
			committed[amount+"00000000000000"] = time.Now()
			time.Sleep(50 * time.Millisecond)
		}
	}
	time.Sleep(2 * time.Second) // the last events arrive
	cancel()
	done.Wait()

	var lat []time.Duration
	for _, as := range arrivals {
		for _, a := range as {
			if c, ok := committed[a.amount]; ok {
				lat = append(lat, a.at.Sub(c))
			}
		}
	}
	expected := writes * subscribers / collections
	require.NotEmpty(b, lat)
	slices.Sort(lat)
	p := func(q float64) float64 { return float64(lat[int(q*float64(len(lat)-1))].Microseconds()) / 1000 }
	b.ReportMetric(p(0.50), "p50_ms")
	b.ReportMetric(p(0.99), "p99_ms")
	b.ReportMetric(float64(lat[len(lat)-1].Microseconds())/1000, "max_ms")
	b.ReportMetric(float64(len(lat))/float64(expected), "delivered")
	b.ReportMetric(float64(subscribers), "subscribers")
}
