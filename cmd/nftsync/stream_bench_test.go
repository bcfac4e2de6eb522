package main

import (
	"context"
	"fmt"
	"math/big"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/nftsync/nftsync/db/dbtest"
	"github.com/nftsync/nftsync/internal/benchsize"
	"github.com/nftsync/nftsync/internal/indexer"
	"github.com/nftsync/nftsync/internal/indexer/opensea"
	"github.com/nftsync/nftsync/internal/indexer/opensea/stream"
	"github.com/nftsync/nftsync/internal/indexersim"
	"github.com/nftsync/nftsync/internal/ratelimit"
	"github.com/nftsync/nftsync/internal/streamer"
)

// holdAll is a replica holding every shard (the benchmarks run one consumer).
type holdAll struct{ n int }

func (h holdAll) Owned() []int {
	out := make([]int, h.n)
	for i := range out {
		out[i] = i
	}
	return out
}
func (holdAll) Changes() <-chan []int { return nil }

// streamBench is a stream consumer in this process against a simulator in
// its own process (so that this process's CPU time is the consumer's, plus
// the benchmark's own bookkeeping), with a local copy of the simulator's
// market (same configuration and seed: the same floors at the same times)
// as the truth to compare with.
type streamBench struct {
	pool   *pgxpool.Pool
	truth  *indexersim.Server
	slugs  []string
	lim    *ratelimit.Limiter
	bucket string
	market *ratelimit.Indexer
	svc    *streamer.Service
	cancel context.CancelFunc
	done   chan error
}

// startStreamBench starts the simulator process with env (NFTSYNC_SIM_*),
// tracks its collections and starts a consumer whose REST calls go through
// the shared limiter at warmRate requests per second.
func startStreamBench(b *testing.B, env []string, warmRate float64) *streamBench {
	b.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	dbURL := dbtest.NewDatabase(b)
	r := newReplicas(b, "DATABASE_URL="+dbURL, "NFTSYNC_LOG_LEVEL=error")
	simURL := r.startSim(env...)
	vars := map[string]string{}
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		vars[k] = v
	}
	cfg, err := loadConfig(func(k string) string { return vars[k] })
	require.NoError(b, err)
	truth, err := indexersim.New(cfg.SimConfig(), quietLogger())
	require.NoError(b, err)
	slugs := truth.Slugs()
	byChain := map[string][]string{} // each on its chain: a Polygon collection's floors are in POL
	for _, slug := range slugs {
		info, _ := truth.Collection(slug)
		byChain[info.Chain] = append(byChain[info.Chain], slug)
	}
	for chain, cs := range byChain {
		for i := 0; i < len(cs); i += 500 {
			r.cli(append([]string{"collections", "add", "-chain", chain}, cs[i:min(i+500, len(cs))]...)...)
		}
	}
	pool, err := pgxpool.New(ctx, dbURL)
	require.NoError(b, err)
	b.Cleanup(pool.Close)

	lim, err := ratelimit.New(pool, ratelimit.Options{Logger: quietLogger(), MaxWait: 2 * time.Second, Holder: "bench"})
	require.NoError(b, err)
	bucket := ratelimit.KeyFor("opensea", "")
	require.NoError(b, lim.Ensure(ctx, []ratelimit.BucketConfig{{Key: bucket, Source: "opensea", Rate: warmRate, Burst: max(1, int(warmRate)), MaxInFlight: 8}}))
	client, err := opensea.NewClient(simURL, indexer.NewHTTPClient(10*time.Second, 8), opensea.Options{})
	require.NoError(b, err)
	market := ratelimit.NewIndexer(lim, "opensea", map[string]indexer.Indexer{bucket: client})
	wsURL := "ws" + strings.TrimPrefix(simURL, "http") + "/socket/websocket"
	svc, err := streamer.New(pool, streamer.Options{
		Replica: "bench", Shards: holdAll{n: 8}, ShardCount: 8, ConnectionsPerKey: 2, Market: market,
		Dial: func(key string) (streamer.Conn, error) {
			return stream.New(stream.Options{URL: wsURL, APIKey: key, HTTPClient: &http.Client{}})
		},
		Keyguard: lim, Logger: quietLogger(),
	})
	require.NoError(b, err)
	sb := &streamBench{pool: pool, truth: truth, slugs: slugs, lim: lim, bucket: bucket, market: market, svc: svc, cancel: cancel, done: make(chan error, 1)}
	go func() { sb.done <- svc.Run(ctx) }()
	b.Cleanup(sb.stop)
	return sb
}

func (sb *streamBench) stop() {
	sb.cancel()
	select {
	case <-sb.done:
	case <-time.After(20 * time.Second):
	}
}

// waitLive waits until every collection is live with a stream floor and
// returns how long that took.
func (sb *streamBench) waitLive(b *testing.B, within time.Duration) time.Duration {
	b.Helper()
	start := time.Now()
	for time.Since(start) < within {
		var n int
		err := sb.pool.QueryRow(context.Background(), `SELECT count(*) FROM collection_streams s
			JOIN floor_price_latest f ON f.collection_id = s.collection_id AND f.source = 'opensea:stream'
			WHERE s.state = 'live'`).Scan(&n)
		require.NoError(b, err)
		if n == len(sb.slugs) {
			return time.Since(start)
		}
		time.Sleep(500 * time.Millisecond)
	}
	b.Fatalf("not every collection was live within %s", within)
	return 0
}

// cpu is this process's user+system CPU time.
func cpu(b *testing.B) time.Duration {
	var ru syscall.Rusage
	require.NoError(b, syscall.Getrusage(syscall.RUSAGE_SELF, &ru))
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

type storedFloor struct {
	from   time.Time
	amount string
}

// storedFloors reads every collection's stream floor history, oldest first.
func (sb *streamBench) storedFloors(b *testing.B) map[string][]storedFloor {
	b.Helper()
	rows, err := sb.pool.Query(context.Background(), `
		SELECT c.slug, h.first_seen_at, COALESCE(h.amount::text, '')
		FROM floor_price_history h JOIN collections c ON c.id = h.collection_id
		WHERE h.source = 'opensea:stream' ORDER BY h.first_seen_at`)
	require.NoError(b, err)
	defer rows.Close()
	out := map[string][]storedFloor{}
	for rows.Next() {
		var slug string
		var f storedFloor
		require.NoError(b, rows.Scan(&slug, &f.from, &f.amount))
		out[slug] = append(out[slug], f)
	}
	require.NoError(b, rows.Err())
	return out
}

func sameDecimal(a, c string) bool {
	if a == "" || c == "" {
		return a == c
	}
	x, ok1 := new(big.Rat).SetString(a)
	y, ok2 := new(big.Rat).SetString(c)
	return ok1 && ok2 && x.Cmp(y) == 0
}

// staleness returns, for every change of a true floor in [from, to), the
// time until a stored stream floor had the new value (a change overtaken by
// the next one within a second is skipped: its value may never have been
// current at a flush); a value never stored counts as stale until `to`.
func (sb *streamBench) staleness(b *testing.B, from, to time.Time) []time.Duration {
	b.Helper()
	stored := sb.storedFloors(b)
	var out []time.Duration
	for _, slug := range sb.slugs {
		changes, err := sb.truth.FloorChanges(slug, from, to)
		require.NoError(b, err)
		rows := stored[slug]
		for i := 1; i < len(changes); i++ {
			ch := changes[i]
			if i+1 < len(changes) && changes[i+1].At.Sub(ch.At) < time.Second {
				continue
			}
			j := sort.Search(len(rows), func(k int) bool { return !rows[k].from.Before(ch.At) })
			got := to.Sub(ch.At)
			// The value may have been stored just before the change's
			// millisecond was reached on this clock; look from the previous row.
			for k := max(0, j-1); k < len(rows); k++ {
				if i+1 < len(changes) && rows[k].from.After(changes[i+1].At.Add(5*time.Second)) {
					break
				}
				if sameDecimal(rows[k].amount, ch.Price) {
					got = max(0, rows[k].from.Sub(ch.At))
					break
				}
			}
			out = append(out, got)
		}
	}
	return out
}

// accuracy is, per collection, the share of instants in [from, to) every
// step at which the stored floor equals the true floor at that instant or
// within the second before it.
func (sb *streamBench) accuracy(b *testing.B, from, to time.Time, step time.Duration) map[string]float64 {
	b.Helper()
	stored := sb.storedFloors(b)
	out := map[string]float64{}
	for _, slug := range sb.slugs {
		truth, err := sb.truth.FloorChanges(slug, from.Add(-time.Second), to)
		require.NoError(b, err)
		rows := stored[slug]
		right, total := 0, 0
		var wrongFrom time.Time // start of the current wrong stretch
		var wrongGot string
		for ts := from; ts.Before(to); ts = ts.Add(step) {
			total++
			k := sort.Search(len(rows), func(k int) bool { return rows[k].from.After(ts) })
			if k == 0 {
				continue
			}
			got := rows[k-1].amount
			ok := false
			for i, p := range truth {
				next := to.Add(time.Hour)
				if i+1 < len(truth) {
					next = truth[i+1].At
				}
				if p.At.After(ts) || !next.After(ts.Add(-time.Second)) {
					continue
				}
				if sameDecimal(got, p.Price) {
					ok = true
					break
				}
			}
			switch {
			case ok:
				right++
				if !wrongFrom.IsZero() && ts.Sub(wrongFrom) >= 200*time.Millisecond {
					b.Logf("%s wrong from +%.1fs for %.1fs (stored %s, true %s)", slug, wrongFrom.Sub(from).Seconds(), ts.Sub(wrongFrom).Seconds(),
						wrongGot, trueAt(truth, wrongFrom))
				}
				wrongFrom = time.Time{}
			case wrongFrom.IsZero():
				wrongFrom, wrongGot = ts, got
			}
		}
		out[slug] = float64(right) / float64(total)
	}
	return out
}

// trueAt is the true floor at ts.
func trueAt(truth []indexersim.FloorPoint, ts time.Time) string {
	v := "?"
	for _, p := range truth {
		if p.At.After(ts) {
			break
		}
		v = p.Price
	}
	return v
}

func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[min(len(s)-1, int(p*float64(len(s))))]
}

// reconcile makes the planner's reconcile load until ctx ends: /stats calls
// for every collection in turn under the limiter's bulk class, from
// `workers` goroutines (a queue's concurrency), each giving up after the
// limiter's MaxWait and trying again after the wait it was told, as a
// snoozed job does. At 1,000 collections and one 60/min key a reconcile
// every 15 minutes is always due (66.7 calls a minute), so it wants every
// token. It returns the calls made.
func (sb *streamBench) reconcile(ctx context.Context, workers int) func() int64 {
	var calls atomic.Int64
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cctx := ratelimit.WithClass(ctx, ratelimit.ClassBulk)
			for ctx.Err() == nil {
				slug := sb.slugs[int(next.Add(1))%len(sb.slugs)]
				_, err := sb.market.Stats(cctx, slug)
				if wait, limited := indexer.RetryAfter(err); limited {
					select {
					case <-ctx.Done():
					case <-time.After(wait):
					}
					continue
				}
				if err == nil {
					calls.Add(1)
				}
			}
		}()
	}
	return func() int64 { wg.Wait(); return calls.Load() }
}

// BenchmarkStreamFreeTier (BENCHMARKS.md row 10): N tracked collections
// (full 1,000, quick 30) on ONE key at OpenSea's free tier, 60 reads a
// minute, at the simulator's default market. The books are warmed at a
// documented larger budget (20 requests/s, the warm-up of 1,000 books at
// 60/min would take about 17 minutes; warmup-s reports how long it took);
// then the key's bucket drops to 60/min and the steady state is measured
// for the window (full 4 min, quick 30 s) while the reconcile's load runs
// beside the stream (see reconcile: it wants the whole budget): the floor
// staleness (time from the simulator's floor change to the stored floor)
// p50 and p99; REST calls per collection-hour, split into the stream's own
// (bootstraps after reconnects, refills of dry books, gap backfills), its
// audits (spare class: only tokens nobody else wanted, so about none
// here), the reconcile's, and all of them at the key; events per second,
// and the consumer's CPU per core (this process: the consumer, the
// reconcile's calls and the benchmark; the simulator and PostgreSQL run in
// their own processes).
//
// Metrics: collections, warmup-s, staleness-p50-s, staleness-p99-s,
// floor-changes, rest-calls/coll-h (the stream's own), audit-calls/coll-h,
// reconcile-calls/coll-h, all-calls/coll-h, events/s, cpu-%core.
func BenchmarkStreamFreeTier(b *testing.B) {
	n := benchsize.Pick(b, 30, 1000)
	window := benchsize.Pick(b, 30*time.Second, 4*time.Minute)
	for range b.N {
		env := []string{"NFTSYNC_SIM_COLLECTIONS=" + strconv.Itoa(n), "NFTSYNC_SIM_SEED=1810",
			"NFTSYNC_SIM_MIN_TOKENS=20", "NFTSYNC_SIM_MAX_TOKENS=200", "NFTSYNC_SIM_RATE=0"}
		sb := startStreamBench(b, env, 20)
		warm := sb.waitLive(b, 10*time.Minute)
		// The free tier from here on: 60 reads a minute on the one key.
		require.NoError(b, sb.lim.Ensure(context.Background(), []ratelimit.BucketConfig{{Key: sb.bucket, Source: "opensea", Rate: 1, Burst: 1, MaxInFlight: 8}}))
		rctx, stopReconcile := context.WithCancel(context.Background())
		reconciled := sb.reconcile(rctx, 4)
		st0, cpu0, t0 := sb.svc.Stats(), cpu(b), time.Now()
		time.Sleep(window)
		st1, cpu1, t1 := sb.svc.Stats(), cpu(b), time.Now()
		stopReconcile()
		recCalls := reconciled()
		sb.stop()
		stale := sb.staleness(b, t0, t1.Add(-2*time.Second))
		perCollHour := func(calls int64) float64 { return float64(calls) / float64(n) / t1.Sub(t0).Hours() }
		audits := st1.Audits - st0.Audits
		own := st1.RESTCalls - st0.RESTCalls - audits
		b.ReportMetric(float64(n), "collections")
		b.ReportMetric(warm.Seconds(), "warmup-s")
		b.ReportMetric(percentile(stale, 0.5).Seconds(), "staleness-p50-s")
		b.ReportMetric(percentile(stale, 0.99).Seconds(), "staleness-p99-s")
		b.ReportMetric(float64(len(stale)), "floor-changes")
		b.ReportMetric(perCollHour(own), "rest-calls/coll-h")
		b.ReportMetric(perCollHour(audits), "audit-calls/coll-h")
		b.ReportMetric(perCollHour(recCalls), "reconcile-calls/coll-h")
		b.ReportMetric(perCollHour(own+audits+recCalls), "all-calls/coll-h")
		b.ReportMetric(float64(st1.Events-st0.Events)/t1.Sub(t0).Seconds(), "events/s")
		b.ReportMetric(100*float64(cpu1-cpu0)/float64(t1.Sub(t0)), "cpu-%core")
	}
}

// BenchmarkStreamFaults (BENCHMARKS.md row 11): the faults, 5%
// dropped, 2% duplicated, 2% reordered events, 2% stale replays and a
// disconnect of every connection every 2 minutes, over N collections (full
// 20, quick 4) for the window (full 6 min, quick 40 s), budget 20
// requests/s. Reports the share of sampled instants (every 100 ms) at
// which the stored floor equals the simulator's true floor, the worst
// collection's and the mean, and how many stored floors were below the
// true floor (a removed order come back would be).
//
// Metrics: collections, accuracy-min-%, accuracy-mean-%, below-true,
// rest-calls/coll-h.
func BenchmarkStreamFaults(b *testing.B) {
	n := benchsize.Pick(b, 4, 20)
	window := benchsize.Pick(b, 40*time.Second, 6*time.Minute)
	for range b.N {
		env := []string{"NFTSYNC_SIM_COLLECTIONS=" + strconv.Itoa(n), "NFTSYNC_SIM_SEED=1811",
			"NFTSYNC_SIM_MIN_TOKENS=20", "NFTSYNC_SIM_MAX_TOKENS=200", "NFTSYNC_SIM_RATE=0",
			"NFTSYNC_SIM_STREAM_DROP_RATE=0.05", "NFTSYNC_SIM_STREAM_DUPLICATE_RATE=0.02",
			"NFTSYNC_SIM_STREAM_REORDER_RATE=0.02", "NFTSYNC_SIM_STREAM_STALE_RATE=0.02",
			"NFTSYNC_SIM_STREAM_DISCONNECT_EVERY=2m"}
		sb := startStreamBench(b, env, 20)
		sb.waitLive(b, 5*time.Minute)
		st0, t0 := sb.svc.Stats(), time.Now()
		time.Sleep(window)
		st1, t1 := sb.svc.Stats(), time.Now()
		sb.stop()
		acc := sb.accuracy(b, t0, t1.Add(-time.Second), 100*time.Millisecond)
		worst, sum := 1.0, 0.0
		for _, a := range acc {
			worst = min(worst, a)
			sum += a
		}
		below := sb.belowTrue(b, t0, t1)
		b.ReportMetric(float64(n), "collections")
		b.ReportMetric(100*worst, "accuracy-min-%")
		b.ReportMetric(100*sum/float64(len(acc)), "accuracy-mean-%")
		b.ReportMetric(float64(below), "below-true")
		b.ReportMetric(float64(st1.RESTCalls-st0.RESTCalls)/float64(n)/t1.Sub(t0).Hours(), "rest-calls/coll-h")
	}
}

// belowTrue counts stored stream floors cheaper than every value the true
// floor had in the two seconds before they were stored: what a removed
// order brought back as the floor would look like.
func (sb *streamBench) belowTrue(b *testing.B, from, to time.Time) int {
	b.Helper()
	n := 0
	for slug, rows := range sb.storedFloors(b) {
		for _, r := range rows {
			if r.from.Before(from) || r.from.After(to) || r.amount == "" {
				continue
			}
			changes, err := sb.truth.FloorChanges(slug, r.from.Add(-2*time.Second), r.from)
			require.NoError(b, err)
			x, _ := new(big.Rat).SetString(r.amount)
			below := true
			for _, p := range changes {
				y, ok := new(big.Rat).SetString(p.Price)
				if !ok || x.Cmp(y) >= 0 {
					below = false
				}
			}
			if below {
				n++
				b.Logf("%s: stored %s at %s below the true floor %s", slug, r.amount, r.from.Format(time.RFC3339Nano), fmt.Sprint(changes))
			}
		}
	}
	return n
}
