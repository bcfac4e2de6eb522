package jobs_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/stretchr/testify/require"

	"github.com/nftsync/nftsync/db"
	"github.com/nftsync/nftsync/internal/benchsize"
	"github.com/nftsync/nftsync/internal/indexersim"
	"github.com/nftsync/nftsync/jobs"
)

// BenchmarkUpstreamEfficiency counts the upstream calls of a full refresh
// (floor, volume, metadata, and every token with its traits) of simulated
// collections (full: 3 of 400..1,200 tokens) as the simulator counts them,
// against the API's minimum for the same refresh: one stats call for floor
// and volume, one metadata call, ceil(N/200) list pages, and ceil(k/B)
// batch trait calls (POST /api/v2/nfts/batch, B the default batch size 50)
// for the k tokens whose traits the list answer lacks and that changed (the
// live API sends no traits in the list, so every token on the first
// refresh and none on an unchanged one):
//   - first: the first refresh of freshly tracked collections;
//   - unchanged: a second full refresh with nothing changed upstream.
//
// ratio is calls/minimum (target 1.0). Calls beyond the minimum are broken
// down: cross-check-calls (the per-collection trait counts fetched once
// after a full trait fetch to check ours against the source's) and
// other-extra-calls (anything else, e.g. a second stats call of a round).
// The jobs run on one River client with the production queues and every
// call goes through the PostgreSQL limiter. One iteration is the whole
// measurement; use -benchtime 1x.
func BenchmarkUpstreamEfficiency(b *testing.B) {
	const traitBatch = 50 // NFTSYNC_TRAITS_BATCH_SIZE's default
	cfg := indexersim.Config{
		Seed: 17, Collections: benchsize.Pick(b, 2, 3),
		MinTokens: benchsize.Pick(b, 100, 400), MaxTokens: benchsize.Pick(b, 300, 1200),
	}
	for _, name := range []string{"first", "unchanged"} {
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				r := newRefreshBench(b, cfg)
				if name == "unchanged" {
					r.refresh(b)
				}
				before := r.up.sim.Stats()
				r.refresh(b)
				after := r.up.sim.Stats()
				calls := after.Requests - before.Requests
				minimum, cross := int64(0), after.ByEndpoint[indexersim.EndpointTraits]-before.ByEndpoint[indexersim.EndpointTraits]
				for _, slug := range r.up.sim.Slugs() {
					info, ok := r.up.sim.Collection(slug)
					require.True(b, ok)
					minimum += 2 + int64((info.TokenCount+199)/200)
					if name == "first" {
						minimum += int64((info.TokenCount + traitBatch - 1) / traitBatch)
					}
				}
				b.ReportMetric(float64(calls), "calls")
				b.ReportMetric(float64(after.ByEndpoint[indexersim.EndpointNFTsBatch]-before.ByEndpoint[indexersim.EndpointNFTsBatch]), "batch-calls")
				b.ReportMetric(float64(after.ByEndpoint[indexersim.EndpointNFT]-before.ByEndpoint[indexersim.EndpointNFT]), "single-nft-calls")
				b.ReportMetric(float64(minimum), "minimum")
				b.ReportMetric(float64(calls)/float64(minimum), "ratio")
				b.ReportMetric(float64(cross), "cross-check-calls")
				b.ReportMetric(float64(calls-minimum-cross), "other-extra-calls")
			}
		})
	}
}

// refreshBench is a database with the simulator's collections tracked, and
// the worker configuration that refreshes them.
type refreshBench struct {
	pool *pgxpool.Pool
	up   *benchUpstream
	ids  []int64
	cfg  jobs.Config
}

func newRefreshBench(b *testing.B, simCfg indexersim.Config) *refreshBench {
	b.Helper()
	ctx := context.Background()
	cfg := jobs.Config{MaxWorkers: jobs.DefaultMaxWorkers()}
	// The benchmark plans the rounds; rarity and maintenance call no upstream.
	for _, q := range []string{jobs.QueuePlanner, jobs.QueueRarity, jobs.QueueMaintenance} {
		delete(cfg.MaxWorkers, q)
	}
	pool := benchDB(b, int32(10+workerTotal(cfg)))
	r := &refreshBench{pool: pool, up: newBenchUpstream(b, pool, simCfg), cfg: cfg}
	q := db.New(pool)
	for _, slug := range r.up.sim.Slugs() {
		c, err := q.CollectionUpsert(ctx, db.CollectionUpsertParams{Source: "opensea", Slug: slug, Chain: "ethereum", Priority: 2})
		require.NoError(b, err)
		for _, kind := range jobs.ScheduleKinds {
			require.NoError(b, q.ScheduleEnsure(ctx, db.ScheduleEnsureParams{CollectionID: c.ID, Kind: kind, EverySeconds: 3600}))
		}
		r.ids = append(r.ids, c.ID)
	}
	return r
}

// refresh runs one full refresh round of every collection, as the planner
// inserts it (every kind due, one bucket), and waits until the floor,
// volume, metadata, token sync and trait fetch of every collection completed,
// on a River client of its own (as after a restart).
func (r *refreshBench) refresh(b *testing.B) {
	b.Helper()
	ctx := context.Background()
	client := newBenchClient(b, r.pool, r.up.deps, r.cfg)
	round := time.Now().UTC()
	var params []river.InsertManyParams
	for _, id := range r.ids {
		args := jobs.CollectionArgs{CollectionID: id, PlannedAt: round}
		params = append(params,
			river.InsertManyParams{Args: jobs.FetchFloorPriceArgs{CollectionArgs: args}},
			river.InsertManyParams{Args: jobs.FetchVolumeArgs{CollectionArgs: args}},
			river.InsertManyParams{Args: jobs.FetchCollectionMetadataArgs{CollectionArgs: args}},
			river.InsertManyParams{Args: jobs.SyncTokensArgs{CollectionArgs: args}})
	}
	_, err := client.InsertManyFast(ctx, params)
	require.NoError(b, err)
	kinds := []string{"fetch_floor_price", "fetch_volume", "fetch_collection_metadata", "sync_tokens", "fetch_traits"}
	_, _ = timeUntilCompleted(b, client, r.pool, len(kinds)*len(r.ids), kinds)
}
