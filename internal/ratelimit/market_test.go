package ratelimit_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nftsync/nftsync/db/dbtest"
	"github.com/nftsync/nftsync/internal/indexer"
	"github.com/nftsync/nftsync/internal/indexer/opensea"
	"github.com/nftsync/nftsync/internal/ratelimit"
)

// TestIndexerMarketCalls runs the market calls of a real OpenSea client
// against an HTTP server through the limiter: they spend the same budget as
// every other call, and a source that cannot answer them says so without
// spending any.
func TestIndexerMarketCalls(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	ka := ratelimit.KeyFor("os", "key-a")
	lim := newLimiter(t, dbtest.DB(t), ratelimit.Options{MaxWait: -1, DefaultPause: time.Second})
	require.NoError(t, lim.Ensure(ctx, []ratelimit.BucketConfig{{Key: ka, Source: "os", Rate: 0.01, Burst: 2, MaxInFlight: 4}}))

	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/api/v2/listings/collection/apes/best":
			_, _ = w.Write([]byte(`{"listings":[{"order_hash":"0xAB","chain":"ethereum","type":"basic","status":"ACTIVE",
				"price":{"current":{"currency":"ETH","decimals":18,"value":"1250000000000000000"}},
				"asset":{"identifier":"7","contract":"0xC0"},"remaining_quantity":1}]}`))
		case "/api/v2/events/collection/apes":
			_, _ = w.Write([]byte(`{"asset_events":[{"event_type":"sale","event_timestamp":1765000000,"transaction":"0xT",
				"order_hash":"0xAB","chain":"ethereum","payment":{"quantity":"2000000000000000000","token_address":"0x0",
				"decimals":18,"symbol":"ETH"},"closing_date":1765000000,"seller":"0xS","buyer":"0xB","quantity":1,
				"nft":{"identifier":"7","contract":"0xC0"}}],"next":"n2"}`))
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	oc, err := opensea.NewClient(srv.URL, &http.Client{Timeout: 10 * time.Second}, opensea.Options{APIKey: "key-a"})
	require.NoError(t, err)

	ix := ratelimit.NewIndexer(lim, "os", map[string]indexer.Indexer{ka: oc})
	ls, err := ix.BestListings(ctx, "apes", 20)
	require.NoError(t, err)
	require.Len(t, ls, 1)
	require.Equal(t, indexer.Money{Amount: "1.25", Currency: "ETH", Decimals: 18}, ls[0].Price)
	page, err := ix.Sales(ctx, "apes", time.Unix(1764000000, 0), "")
	require.NoError(t, err)
	require.Equal(t, "n2", page.Next)
	require.Equal(t, "2", page.Sales[0].Price.Amount)

	// The burst of 2 is spent: the third call is refused by the limiter.
	_, err = ix.BestListings(ctx, "apes", 20)
	_, limited := indexer.RetryAfter(err)
	require.True(t, limited, "market calls spend the same budget: %v", err)
	require.Equal(t, int32(2), calls.Load())
	require.Zero(t, bucket(t, lim, ka).InFlight)

	// A source whose clients cannot read the market says so without spending budget.
	plain := ratelimit.NewIndexer(lim, "os", map[string]indexer.Indexer{ka: &fakeClient{}})
	_, err = plain.BestListings(ctx, "apes", 20)
	require.Equal(t, indexer.ClassPermanent, indexer.ClassOf(err))
	_, err = plain.Sales(ctx, "apes", time.Time{}, "")
	require.Equal(t, indexer.ClassPermanent, indexer.ClassOf(err))
}
