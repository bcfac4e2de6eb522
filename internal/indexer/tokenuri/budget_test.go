package tokenuri_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/nftsync/nftsync/db/dbtest"
	"github.com/nftsync/nftsync/internal/indexer"
	"github.com/nftsync/nftsync/internal/indexer/tokenuri"
	"github.com/nftsync/nftsync/internal/ratelimit"
)

// hostBudget is a per-host budget on a fresh database: burst 1 and almost
// no refill, so each host serves exactly one request.
func hostBudget(t *testing.T) (*ratelimit.Limiter, *ratelimit.HostBudget) {
	t.Helper()
	pool, err := pgxpool.New(t.Context(), dbtest.NewDatabase(t))
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	lim, err := ratelimit.New(pool, ratelimit.Options{MaxWait: -1})
	require.NoError(t, err)
	b, err := ratelimit.NewHostBudget(lim, "token_uri", ratelimit.HostLimit{Rate: 0.001, Burst: 1, MaxInFlight: 2}, nil)
	require.NoError(t, err)
	return lim, b
}

func TestBudgetPerHostWithGatewayFallback(t *testing.T) {
	t.Parallel()
	const cid = "QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG"
	gw := newServer(t, serveFixture(t, "standard.json", "application/json"))
	port := gw.URL[strings.LastIndexByte(gw.URL, ':'):]
	_, budget := hostBudget(t)
	// The same server under two host names: two budgets.
	src := setup(t, tokenuri.Options{Budget: budget,
		IPFSGateways: []string{"http://127.0.0.1" + port + "/ipfs/", "http://localhost" + port + "/ipfs/"}})
	ctx := ratelimit.WithClass(t.Context(), ratelimit.ClassBulk)
	ref := indexer.TokenRef{Contract: "0xabc", TokenID: "1", MetadataURL: "ipfs://" + cid + "/1"}

	_, err := src.TokenTraits(ctx, ref)
	require.NoError(t, err, "first gateway")
	_, err = src.TokenTraits(ctx, ref)
	require.NoError(t, err, "first gateway has no budget left: the second one answers")
	_, err = src.TokenTraits(ctx, ref)
	ie := requireClass(t, err, indexer.ClassRateLimited, "no budget")
	require.Positive(t, ie.RetryAfter)
	require.Equal(t, 2, gw.total(), "no request went out without budget")
}

func TestBudgetPausedByTooManyRequests(t *testing.T) {
	t.Parallel()
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "60")
		w.WriteHeader(http.StatusTooManyRequests)
	})
	lim, budget := hostBudget(t)
	src := setup(t, tokenuri.Options{AllowHTTP: true, Budget: budget})
	_, err := fetch(t, src, srv.URL+"/1")
	requireClass(t, err, indexer.ClassRateLimited, "rate limited")

	st, err := lim.Buckets(t.Context(), budget.Key("127.0.0.1"))
	require.NoError(t, err)
	require.Len(t, st, 1)
	require.WithinDuration(t, time.Now().Add(time.Minute), st[0].PausedUntil, 20*time.Second)
	require.Zero(t, st[0].InFlight, "the lease was released with the body")
}
