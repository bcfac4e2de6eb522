package streamer_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nftsync/nftsync/internal/benchsize"
	"github.com/nftsync/nftsync/internal/indexer/opensea/stream"
	"github.com/nftsync/nftsync/internal/indexersim"
	"github.com/nftsync/nftsync/internal/streamer"
)

// firehose is a stream connection that delivers generated events as fast
// as the consumer takes them: listings around 1 ETH, cancellations and
// sales of earlier listings, in the payload shapes of the Stream API
// (internal/indexer/opensea/stream/testdata). It measures the consumer
// and PostgreSQL, not the websocket (the client's decoding has its own
// benchmark).
type firehose struct {
	mu     sync.Mutex
	slugs  []string
	joined chan string
	sent   atomic.Int64
	sold   atomic.Int64
	limit  atomic.Int64
}

func (f *firehose) Join(slug string) {
	f.mu.Lock()
	f.slugs = append(f.slugs, slug)
	f.mu.Unlock()
	f.joined <- slug
}
func (f *firehose) Leave(string) {}

func payload(typ, slug string, n int, order string, price int64, at time.Time) json.RawMessage {
	p := map[string]any{
		"collection": map[string]any{"slug": slug}, "chain": "ethereum",
		"item":       map[string]any{"nft_id": fmt.Sprintf("ethereum/0x495f947276749ce646f68ac8c248420045cb7b5e/%d", n%10000)},
		"order_hash": order, "quantity": 1, "is_private": false,
		"payment_token": map[string]any{"address": "0x0000000000000000000000000000000000000000", "decimals": 18, "eth_price": "1.000000000000000", "symbol": "ETH"},
		"listing_date":  at.Format(time.RFC3339Nano), "expiration_date": at.Add(24 * time.Hour).Format(time.RFC3339Nano),
		"maker": map[string]any{"address": "0xa4ff2b59d72f76ee51051196d25e3998cdc579c6"},
	}
	switch typ {
	case stream.EventItemListed, stream.EventItemCancelled:
		p["base_price"] = fmt.Sprint(price)
	case stream.EventItemSold:
		p["sale_price"] = fmt.Sprint(price)
		p["closing_date"] = at.Format(time.RFC3339Nano)
		p["taker"] = map[string]any{"address": "0x05576aae1c7eeca6c674e8f74d3b50ef38fa08b6"}
		p["transaction"] = map[string]any{"hash": fmt.Sprintf("0x%064x", n), "timestamp": at.Format(time.RFC3339Nano)}
	}
	b, _ := json.Marshal(p)
	return b
}

// Run sends limit events round-robin over the joined collections: per
// collection a listing, then alternately a cancellation or a sale of the
// listing before it.
func (f *firehose) Run(ctx context.Context, h stream.Handler) error {
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case slug := <-f.joined:
			h.Joined(slug)
			continue
		default:
		}
		f.mu.Lock()
		slugs := append([]string(nil), f.slugs...)
		f.mu.Unlock()
		if len(slugs) == 0 || f.sent.Load() >= f.limit.Load() {
			time.Sleep(10 * time.Millisecond)
			continue
		}
		for i := 0; f.sent.Load() < f.limit.Load() && ctx.Err() == nil; i++ {
			n := int(f.sent.Load())
			slug := slugs[n%len(slugs)]
			round := n / len(slugs)
			now := time.Now()
			order := fmt.Sprintf("0x%032x%032x", n%len(slugs), round)
			var e stream.Event
			switch round % 3 {
			case 0:
				e = stream.Event{Type: stream.EventItemListed, Version: 1, Payload: payload(stream.EventItemListed, slug, n, order, 9e17+int64(n%1000)*1e14, now)}
			case 1:
				prev := fmt.Sprintf("0x%032x%032x", n%len(slugs), round-1)
				e = stream.Event{Type: stream.EventItemCancelled, Version: 2, Payload: payload(stream.EventItemCancelled, slug, n, prev, 1e18, now)}
			default:
				prev := fmt.Sprintf("0x%032x%032x", n%len(slugs), round-2)
				e = stream.Event{Type: stream.EventItemSold, Version: now.UnixMilli(), Payload: payload(stream.EventItemSold, slug, n, prev, 1e18, now)}
				f.sold.Add(1)
			}
			e.Slug, e.SentAt = slug, now
			h.Event(e)
			f.sent.Add(1)
		}
	}
}

// BenchmarkStreamIngest (BENCHMARKS.md row 12): how many events a second
// the consumer takes into PostgreSQL: N collections (full 1,000, quick
// 50) bootstrapped from the simulator, then M generated events (full
// 300,000, quick 20,000; a third listings, a third cancellations, a third
// sales) handed to it as fast as it takes them. The clock stops when the
// last sale is committed: every event applied to its book, the floor
// changes (one row per collection and flush) and one sales-ledger row per
// sale stored, in batched transactions every 150 ms.
//
// Metrics: events/s, sales-rows/s, floor-rows/s, lag-p99-s, events.
func BenchmarkStreamIngest(b *testing.B) {
	n := benchsize.Pick(b, 50, 1000)
	m := benchsize.Pick(b, int64(20000), int64(300000))
	for range b.N {
		cfg := indexersim.Config{Seed: 1812, Collections: n, MinTokens: 20, MaxTokens: 50}
		f := &firehose{joined: make(chan string, n)}
		e := setup(b, cfg, func(o *streamer.Options) {
			o.Dial = func(string) (streamer.Conn, error) { return f, nil }
			o.FlushInterval = 150 * time.Millisecond
		})
		waitLive(b, e, n, 5*time.Minute)
		st0, t0 := e.svc.Stats(), time.Now()
		f.limit.Store(m)
		for {
			st := e.svc.Stats()
			if st.Sales-st0.Sales >= f.sold.Load() && f.sent.Load() >= m {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		st1, took := e.svc.Stats(), time.Since(t0)
		require.Equal(b, f.sold.Load(), st1.Sales-st0.Sales, "every sale stored once")
		b.ReportMetric(float64(m), "events")
		b.ReportMetric(float64(m)/took.Seconds(), "events/s")
		b.ReportMetric(float64(st1.Sales-st0.Sales)/took.Seconds(), "sales-rows/s")
		b.ReportMetric(float64(st1.FloorWrites-st0.FloorWrites)/took.Seconds(), "floor-rows/s")
		b.ReportMetric(st1.LagP99.Seconds(), "lag-p99-s")
	}
}
