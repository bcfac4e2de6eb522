package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"math/rand/v2"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/nftsync/nftsync/db"
	"github.com/nftsync/nftsync/internal/api"
	"github.com/nftsync/nftsync/internal/benchsize"
)

// typicalQuery is what the client app asks most: one collection with its
// current floor and volumes, and its 50 rarest tokens with traits.
const typicalQuery = `query($slug: String!) {
	collection(slug: $slug) { slug metadata { name imageUrl } floor { amount currency decimals fetchedAt }
		volumes { window amount sales } rarity { method computedAt } }
	tokens(collection: $slug, first: 50) { edges { node { tokenId name imageUrl
		rarity { rank score } traits { type value frequency } } } pageInfo { hasNextPage endCursor } } }`

// BenchmarkTypicalQuery measures p50/p99 latency and throughput of the
// typical client query over real HTTP at 1, 16 and 64 concurrent clients
// (each client sends its next request when the previous answer is read).
// Full size: 50 collections of 4,000 tokens (200k tokens, six traits each,
// all ranked), and each measurement lasts at least 5 s and 1,000 requests;
// quick size (NFTSYNC_BENCH_SIZE=quick): 5 collections of 1,000 tokens, at
// least 1 s and 300 requests. A measurement spans several of the writer's
// cycles (each collection is written every second), so a fast server is
// not measured between two writes only. One iteration is one whole
// measurement (-benchtime 1x).
//
// Workers run meanwhile: a background writer sends the statements the
// refresh workers send, much faster than their default schedule does, for
// the whole run: every collection's floor and its 1d and 7d volumes once a
// second (FloorPriceObserve, VolumeObserve; the default schedule observes a
// floor once a minute), and four token pages a second (200 tokens upserted
// with their traits deleted and re-inserted in one transaction, as a token
// sync page followed by its trait fetch writes). It does not recompute
// rarity. Its achieved rate is reported as writes/s (statements per second).
//
// The baseline is PostGraphile 5 serving the same query (written for its
// schema: testdata/postgraphile/typical.graphql) on the same database under
// the same writes, at 1 and 16 clients (postgraphile/clients=N, with
// node-cpu-ms/req, its process's CPU per request); before the writer starts
// the benchmark checks that both answers hold the same floor, volumes,
// tokens, traits and frequencies. Our rows at the same client count report
// x-postgraphile, our req/s over PostGraphile's (the issue asks for 2 at 16
// clients). The benchmark installs the pinned PostGraphile and Node 22 with
// npm (once, into bin/tools/); without npm it fails at full size and skips
// the baseline, saying so, at quick size. Every server gets a few warm-up
// requests before it is measured.
//
//	.ci/with-postgres.sh go test -run '^$' -bench BenchmarkTypicalQuery -benchtime 1x ./internal/api
func BenchmarkTypicalQuery(b *testing.B) {
	collections := benchsize.Pick(b, 5, 50)
	perCollection := benchsize.Pick(b, 1000, 4000)
	requests := benchsize.Pick(b, 300, 1000)
	dur := benchsize.Pick(b, time.Second, 5*time.Second)
	// Auth on: reads need a token, as a deployment with NFTSYNC_API_READ_TOKENS
	// set; the default limits and metrics are on too.
	opts := api.Options{ReadTokens: []string{readToken}, RequestTimeout: time.Minute, WriteTimeout: 2 * time.Minute}
	bundle := setup(b, setupOpts{opts: opts})
	start := time.Now()
	ids := make([]int64, collections)
	for c := range collections {
		ids[c] = bundle.seedCollection(b, benchSlug(c), "1.25", fmt.Sprint(100+c), benchTokens(perCollection, 0, perCollection))
	}
	// Autovacuum vacuums and analyzes freshly loaded tables within a minute
	// or so; the run does not wait for it. Without statistics the planner
	// takes the tables for empty and plans for that.
	_, err := bundle.pool.Exec(context.Background(), "VACUUM ANALYZE")
	require.NoError(b, err)
	b.Logf("seeded %d collections x %d tokens in %s", collections, perCollection, time.Since(start).Round(time.Second))

	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 128}}
	// The baseline: PostGraphile 5 on the same database, checked to answer
	// what we answer before the writer starts (it reorders traits).
	var pg *postgraphileServer
	pgQuery := postgraphileQuery(b)
	if pg = startPostGraphile(b, bundle.pool); pg != nil {
		requireSameAnswer(b, client, bundle.url, pg.url, pgQuery, benchSlug(0))
	}

	ctx, stopWriter := context.WithCancel(context.Background())
	// The writer has a pool of its own, as workers are processes of their
	// own: the API's pool serves only the API.
	wcfg := bundle.pool.Config().Copy()
	wcfg.MaxConns = 4
	wpool, err := pgxpool.NewWithConfig(context.Background(), wcfg)
	require.NoError(b, err)
	defer wpool.Close()
	writer := &workerLoad{pool: wpool, collections: ids, perCollection: perCollection}
	writerDone := make(chan error, 1)
	go func() { writerDone <- writer.run(ctx) }()
	defer func() {
		stopWriter()
		if err := <-writerDone; err != nil {
			b.Errorf("background writer: %v", err)
		}
	}()

	// The same server without its response cache, on the same database and
	// under the same writes: what the cache is worth.
	opts.AdminTokens, opts.CacheEntries = []string{adminToken}, -1
	uncached := bundle.serve(b, opts)
	// Each server answers warm: a few requests first (PostGraphile's V8
	// compiles its hot paths; our connections and caches fill).
	warm := benchsize.Pick(b, 50, 300)
	ours := benchTarget{url: bundle.url, query: typicalQuery, token: readToken}
	baseline := map[int]float64{} // PostGraphile's req/s by clients
	if pg != nil {
		t := benchTarget{url: pg.url, query: pgQuery, cpu: pg.cpu}
		runClients(b, client, t, 4, warm, 0, collections)
		for _, clients := range []int{1, 16} {
			baseline[clients] = typicalQueryRun(b, fmt.Sprintf("postgraphile/clients=%d", clients), client, t, clients, requests, dur, collections, writer, nil, 0)
		}
	}
	for _, run := range []struct{ name, url string }{{"", bundle.url}, {"cache=off/", uncached}} {
		t := ours
		t.url = run.url
		runClients(b, client, t, 4, warm, 0, collections)
		for _, clients := range []int{1, 16, 64} {
			typicalQueryRun(b, run.name+fmt.Sprintf("clients=%d", clients), client, t, clients, requests, dur, collections, writer, bundle, baseline[clients])
		}
	}
}

// benchTarget is a server, its typical query and the bearer token to send
// (none when ""); cpu, when set, is the CPU time of the server's own
// process (PostGraphile's).
type benchTarget struct {
	url, query, token string
	cpu               func() time.Duration
}

// typicalQueryRun is one sub-benchmark of BenchmarkTypicalQuery; it returns
// the req/s measured. bundle is nil for PostGraphile (no pool of ours to
// watch); baseline, when not 0, is PostGraphile's req/s at the same
// number of clients, reported as the ratio x-postgraphile.
func typicalQueryRun(b *testing.B, name string, client *http.Client, target benchTarget, clients, requests int, dur time.Duration, collections int, writer *workerLoad, bundle *testBundle, baseline float64) float64 {
	var rps float64
	b.Run(name, func(b *testing.B) {
		for b.Loop() {
			var pool0 *pgxpool.Stat
			if bundle != nil {
				pool0 = bundle.pool.Stat()
			}
			var srv0 time.Duration
			if target.cpu != nil {
				srv0 = target.cpu()
			}
			writes0, w0, cpu0 := writer.statements.Load(), time.Now(), processCPU()
			lat, elapsed, hit := runClients(b, client, target, clients, requests, dur, collections)
			var hits int
			var hitLat, missLat []time.Duration
			for i, h := range hit {
				if h {
					hits++
					hitLat = append(hitLat, lat[i])
				} else {
					missLat = append(missLat, lat[i])
				}
			}
			cpu := processCPU() - cpu0
			slices.Sort(lat)
			p := func(q float64) float64 { return float64(lat[int(q*float64(len(lat)-1))].Microseconds()) / 1000 }
			rps = float64(len(lat)) / elapsed.Seconds()
			b.ReportMetric(p(0.50), "p50_ms")
			b.ReportMetric(p(0.99), "p99_ms")
			b.ReportMetric(rps, "req/s")
			if baseline > 0 {
				// Our throughput over PostGraphile's at the same clients.
				b.ReportMetric(rps/baseline, "x-postgraphile")
			}
			b.ReportMetric(float64(writer.statements.Load()-writes0)/time.Since(w0).Seconds(), "writes/s")
			// CPU time of this process (server, clients and writer) per
			// request: where the time goes besides the database.
			b.ReportMetric(float64(cpu.Microseconds())/1000/float64(len(lat)), "go-cpu-ms/req")
			if target.cpu != nil {
				// CPU time of PostGraphile's Node process per request.
				b.ReportMetric(float64((target.cpu()-srv0).Microseconds())/1000/float64(len(lat)), "node-cpu-ms/req")
			}
			if bundle != nil {
				pool := bundle.pool.Stat()
				// Share of answers served from the response cache.
				b.ReportMetric(float64(hits)/float64(len(lat)), "cache-hits")
				// The tail by kind: answers from the cache, and answers
				// resolved (misses, and requests waiting for another's
				// resolution of the same request count as hits).
				if len(hitLat) > 0 && len(missLat) > 0 {
					b.ReportMetric(quantileMs(hitLat, 0.99), "hit-p99_ms")
					b.ReportMetric(quantileMs(missLat, 0.99), "miss-p99_ms")
				}
				// Time spent waiting for a free connection of the API's
				// pool (20 connections, as NFTSYNC_API_POOL_SIZE's
				// default), per request.
				b.ReportMetric(float64((pool.AcquireDuration()-pool0.AcquireDuration()).Microseconds())/1000/float64(len(lat)), "pool-wait-ms/req")
			}
		}
	})
	return rps
}

// quantileMs is the q quantile of lat in milliseconds (it sorts lat).
func quantileMs(lat []time.Duration, q float64) float64 {
	slices.Sort(lat)
	return float64(lat[int(q*float64(len(lat)-1))].Microseconds()) / 1000
}

// processCPU is the user and system CPU time this process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func benchSlug(c int) string { return fmt.Sprintf("bench-%02d", c) }

// benchTokens are tokens from+1..to of a collection of n, six traits each,
// ranked by id.
func benchTokens(n, from, to int) []seedToken {
	toks := make([]seedToken, 0, to-from)
	for i := from; i < to; i++ {
		toks = append(toks, seedToken{id: fmt.Sprint(i + 1), rank: int32(i + 1), score: float64(n - i),
			traits: [][2]string{{"Background", fmt.Sprint("bg", i%7)}, {"Body", fmt.Sprint("body", i%11)}, {"Eyes", fmt.Sprint("eyes", i%13)},
				{"Hat", fmt.Sprint("hat", i%17)}, {"Mouth", fmt.Sprint("mouth", i%19)}, {"Clothes", fmt.Sprint("clothes", i%23)}}})
	}
	return toks
}

// runClients sends typical queries from clients concurrent clients,
// round-robin over the bench collections, until at least requests have
// been sent and at least dur has passed (so that a fast run still spans
// several of the writer's cycles), and returns every request's latency,
// the wall time of the whole run, and whether each answer came from the
// response cache (X-Cache: hit).
func runClients(b *testing.B, client *http.Client, target benchTarget, clients, requests int, dur time.Duration, collections int) ([]time.Duration, time.Duration, []bool) {
	type sample struct {
		lat time.Duration
		hit bool
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	perClient := make([][]sample, clients)
	t0 := time.Now()
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= requests && time.Since(t0) >= dur {
					return
				}
				body, _ := json.Marshal(map[string]any{"query": target.query, "variables": map[string]any{"slug": benchSlug(i % collections)}})
				s := time.Now()
				req, err := http.NewRequest(http.MethodPost, target.url+"/graphql", bytes.NewReader(body))
				if err != nil {
					b.Error(err)
					return
				}
				req.Header.Set("Content-Type", "application/json")
				if target.token != "" {
					req.Header.Set("Authorization", "Bearer "+target.token)
				}
				resp, err := client.Do(req)
				if err != nil {
					b.Error(err)
					return
				}
				raw, _ := io.ReadAll(resp.Body)
				_ = resp.Body.Close()
				perClient[c] = append(perClient[c], sample{time.Since(s), resp.Header.Get("X-Cache") == "hit"})
				if resp.StatusCode != http.StatusOK || bytes.Contains(raw, []byte(`"errors"`)) || !bytes.Contains(raw, []byte(`"rank":50,`)) {
					b.Errorf("status %d: %.300s", resp.StatusCode, raw)
					return
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(t0)
	var lat []time.Duration
	var hit []bool
	for _, samples := range perClient {
		for _, s := range samples {
			lat = append(lat, s.lat)
			hit = append(hit, s.hit)
		}
	}
	return lat, elapsed, hit
}

// workerLoad writes what the refresh workers write (see
// BenchmarkTypicalQuery) until its context ends.
type workerLoad struct {
	pool          *pgxpool.Pool
	collections   []int64
	perCollection int
	statements    atomic.Int64
}

func (w *workerLoad) run(ctx context.Context) error {
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, loop := range []func(context.Context) error{w.prices, w.tokenPages} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := loop(ctx); err != nil && !errors.Is(err, context.Canceled) {
				errs[i] = err
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// prices observes every collection's floor and volumes once a second, the
// observations spread over the second.
func (w *workerLoad) prices(ctx context.Context) error {
	q := db.New(w.pool)
	tick := time.NewTicker(time.Second / time.Duration(len(w.collections)))
	defer tick.Stop()
	for i := 0; ; i++ {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
		id, now := w.collections[i%len(w.collections)], time.Now()
		amount := pgtype.Numeric{Int: big.NewInt(1000 + int64(i%500)), Exp: -3, Valid: true}
		if err := q.FloorPriceObserve(ctx, db.FloorPriceObserveParams{CollectionID: id, Source: "opensea",
			Amount: amount, Currency: "ETH", Decimals: 18, SeenAt: now}); err != nil {
			return fmt.Errorf("observe floor: %w", err)
		}
		for _, window := range []string{"1d", "7d"} {
			if err := q.VolumeObserve(ctx, db.VolumeObserveParams{CollectionID: id, Source: "opensea", TimeWindow: window,
				Amount: amount, Currency: "ETH", Decimals: 18, Sales: pgtype.Int8{Int64: int64(i), Valid: true}, SeenAt: now}); err != nil {
				return fmt.Errorf("observe volume: %w", err)
			}
		}
		w.statements.Add(3)
	}
}

// tokenPages rewrites four pages of 200 tokens a second, walking the
// collections page by page: tokens upserted, their traits replaced, in one
// transaction.
func (w *workerLoad) tokenPages(ctx context.Context) error {
	const pageSize = 200
	tick := time.NewTicker(time.Second / 4)
	defer tick.Stop()
	pages := max(1, w.perCollection/pageSize)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 0; ; i++ {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
		c := (i / pages) % len(w.collections)
		id := w.collections[c]
		from := (i % pages) * pageSize
		page := benchTokens(w.perCollection, from, min(from+pageSize, w.perCollection))
		for j := range page {
			// Same values, another order: the rows change, the trait
			// statistics of the run stay true.
			rng.Shuffle(len(page[j].traits), func(a, b int) { page[j].traits[a], page[j].traits[b] = page[j].traits[b], page[j].traits[a] })
		}
		up, tr := tokenBatches(id, "0x"+fmt.Sprintf("%040x", id), benchSlug(c), time.Now(), page)
		err := db.WithTx(ctx, w.pool, func(tx pgx.Tx) error {
			q := db.New(tx)
			if err := q.TokenUpsertBatch(ctx, up); err != nil {
				return fmt.Errorf("upsert tokens: %w", err)
			}
			if err := q.TokenTraitsDeleteBatch(ctx, db.TokenTraitsDeleteBatchParams{CollectionID: id, Contracts: up.Contracts, TokenIds: up.TokenIds}); err != nil {
				return fmt.Errorf("delete traits: %w", err)
			}
			if err := q.TokenTraitsInsertBatch(ctx, tr); err != nil {
				return fmt.Errorf("insert traits: %w", err)
			}
			return nil
		})
		if err != nil {
			return err
		}
		w.statements.Add(3)
	}
}
