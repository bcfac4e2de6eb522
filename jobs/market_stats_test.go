package jobs_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgtype"
	"github.com/riverqueue/river"
	"github.com/stretchr/testify/require"

	"github.com/nftsync/nftsync/db"
	"github.com/nftsync/nftsync/internal/indexer"
	"github.com/nftsync/nftsync/internal/indexer/opensea"
	"github.com/nftsync/nftsync/jobs"
)

// marketStatsUpstream is an OpenSea stats endpoint whose answer a test sets: the
// floor and the one-day volume, in the wire format of testdata/stats.json;
// noFloor answers like a collection without listings (floor 0, empty
// symbol: testdata/stats_no_floor.json).
type marketStatsUpstream struct {
	mu      sync.Mutex
	floor   string
	vol1d   string
	noFloor bool
	calls   atomic.Int64
	now     time.Time
}

func (u *marketStatsUpstream) set(floor, vol1d string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.floor, u.vol1d = floor, vol1d
}

func (u *marketStatsUpstream) at(t time.Time) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.now = t
}

func (u *marketStatsUpstream) clock() time.Time {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.now
}

func (u *marketStatsUpstream) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	u.calls.Add(1)
	u.mu.Lock()
	defer u.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	if u.noFloor {
		body, _ := os.ReadFile("testdata/stats_no_floor.json")
		_, _ = w.Write(body)
		return
	}
	_, _ = fmt.Fprintf(w, `{"total": {"volume": 1523456.78, "sales": 48210, "num_owners": 5632, "floor_price": %s, "floor_price_symbol": "ETH"},
 "intervals": [{"interval": "one_day", "volume": %s, "sales": 17}, {"interval": "seven_day", "volume": 1432.9, "sales": 118},
  {"interval": "thirty_day", "volume": 6021.7, "sales": 503}]}`, u.floor, u.vol1d)
}

type marketStatsBundle struct {
	*workerBundle
	up *marketStatsUpstream
}

// setupMarketStats tracks collection "stats-test" on chain with 1-minute
// schedules and points the production client at a marketStatsUpstream whose
// clock is also the workers' clock.
func setupMarketStats(t *testing.T, chain string) *marketStatsBundle {
	t.Helper()
	up := &marketStatsUpstream{floor: "1.5", vol1d: "10", now: time.Now().UTC()}
	srv := httptest.NewServer(up)
	t.Cleanup(srv.Close)
	client, err := opensea.NewClient(srv.URL, &http.Client{Timeout: 5 * time.Second}, opensea.Options{Now: up.clock})
	require.NoError(t, err)
	tx := sharedTx(t)
	c := trackTx(t, tx, "stats-test", time.Minute)
	if chain != "ethereum" {
		_, err := db.New(tx).CollectionUpsert(context.Background(), db.CollectionUpsertParams{Source: "opensea", Slug: c.Slug, Chain: chain, Priority: 2})
		require.NoError(t, err)
		c.Chain = chain
	}
	return &marketStatsBundle{up: up, workerBundle: &workerBundle{
		tx:   tx,
		coll: c,
		deps: &jobs.Deps{DB: tx, Logger: discardLogger(), Now: up.clock, Indexers: map[string]indexer.Indexer{"opensea": client}},
	}}
}

// round runs the floor job of a round planned at the upstream clock's now.
func (b *marketStatsBundle) floorRound(t *testing.T) river.EventKind {
	t.Helper()
	args := jobs.CollectionArgs{CollectionID: b.coll.ID, PlannedAt: b.up.clock()}
	return work(t, b.workerBundle, &jobs.FetchFloorPriceWorker{Deps: b.deps}, jobs.FetchFloorPriceArgs{CollectionArgs: args}).EventKind
}

func (b *marketStatsBundle) volumeRound(t *testing.T) river.EventKind {
	t.Helper()
	args := jobs.CollectionArgs{CollectionID: b.coll.ID, PlannedAt: b.up.clock()}
	return work(t, b.workerBundle, &jobs.FetchVolumeWorker{Deps: b.deps}, jobs.FetchVolumeArgs{CollectionArgs: args}).EventKind
}

func num(t *testing.T, n pgtype.Numeric) string {
	t.Helper()
	if !n.Valid {
		return "NULL"
	}
	v, err := n.Value()
	require.NoError(t, err)
	return normDecimal(v.(string))
}

func TestMarketStatsHistoryIsChangeBased(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setupMarketStats(t, "ethereum")
	q := db.New(b.tx)
	day := time.Now().UTC().Truncate(24 * time.Hour)
	t0 := day.Add(time.Hour)
	steps := []struct {
		at    time.Duration
		floor string
	}{
		{0, "1.5"}, {time.Minute, "1.50"}, {2 * time.Minute, "1.6"}, {3 * time.Minute, "1.6"},
		{4 * time.Minute, "1.5"}, {5 * time.Minute, "1.5"},
		{24 * time.Hour, "1.5"}, // a new UTC day starts a row even when unchanged
		{24*time.Hour + time.Minute, "1.5"},
	}
	for _, s := range steps {
		b.up.at(t0.Add(s.at))
		b.up.set(s.floor, "10")
		require.Equal(t, river.EventKindJobCompleted, b.floorRound(t))
	}
	rows, err := q.FloorPriceHistory(ctx, db.FloorPriceHistoryParams{CollectionID: b.coll.ID, MaxRows: 100})
	require.NoError(t, err)
	type run struct {
		from, to time.Duration
		amount   string
	}
	var got []run
	for i := len(rows) - 1; i >= 0; i-- {
		r := rows[i]
		got = append(got, run{r.FirstSeenAt.Sub(t0), r.LastSeenAt.Sub(t0), num(t, r.Amount)})
	}
	require.Equal(t, []run{
		{0, time.Minute, "1.5"},
		{2 * time.Minute, 3 * time.Minute, "1.6"},
		{4 * time.Minute, 5 * time.Minute, "1.5"},
		{24 * time.Hour, 24*time.Hour + time.Minute, "1.5"},
	}, got, "one row per run of an unchanged value, split at UTC days")

	cur, err := q.FloorPriceLatest(ctx, db.FloorPriceLatestParams{CollectionID: b.coll.ID, Source: "opensea"})
	require.NoError(t, err)
	require.Equal(t, t0.Add(24*time.Hour+time.Minute), cur.FetchedAt.UTC(), "current row's last_seen_at moves on")
	require.Equal(t, t0.Add(4*time.Minute), cur.ChangedAt.UTC(), "value unchanged since")

	// A fetch older than the stored one (a late commit) changes nothing.
	require.NoError(t, q.FloorPriceObserve(ctx, db.FloorPriceObserveParams{
		CollectionID: b.coll.ID, Source: "opensea", Amount: cur.Amount, Currency: "ETH", Decimals: 18, SeenAt: t0.Add(6 * time.Minute),
	}))
	after, err := q.FloorPriceHistory(ctx, db.FloorPriceHistoryParams{CollectionID: b.coll.ID, MaxRows: 100})
	require.NoError(t, err)
	require.Equal(t, rows, after)
}

func TestMarketStatsKindsKeepTheirIntervals(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	t.Run("FloorJobStoresNoVolume", func(t *testing.T) {
		t.Parallel()
		b := setupMarketStats(t, "ethereum")
		require.Equal(t, river.EventKindJobCompleted, b.floorRound(t))
		counts, err := db.New(b.tx).SnapshotCounts(ctx, b.coll.ID)
		require.NoError(t, err)
		require.Equal(t, int64(1), counts.Floors)
		require.Zero(t, counts.Volumes, "volume is refreshed at NFTSYNC_REFRESH_VOLUME, not at every floor tick")
		s, err := db.New(b.tx).ScheduleGet(ctx, db.ScheduleGetParams{CollectionID: b.coll.ID, Kind: jobs.RefreshVolume})
		require.NoError(t, err)
		require.False(t, s.LastSuccessAt.Valid, "a floor job does not count as a volume refresh")
	})

	t.Run("FloorIntervalShorterThanOldReuseWindowIsKept", func(t *testing.T) {
		t.Parallel()
		b := setupMarketStats(t, "ethereum")
		require.NoError(t, db.New(b.tx).ScheduleSetInterval(ctx, db.ScheduleSetIntervalParams{CollectionID: b.coll.ID, Kind: jobs.RefreshFloorPrice, EverySeconds: 20}))
		start := b.up.clock()
		for i := range 30 {
			b.up.at(start.Add(time.Duration(i) * 20 * time.Second))
			require.Equal(t, river.EventKindJobCompleted, b.floorRound(t))
		}
		require.Equal(t, int64(30), b.up.calls.Load(), "20 s floor refreshes: one call per round, none reused from an earlier round")
	})

	t.Run("SameRoundReusesButNeverStalerThanInterval", func(t *testing.T) {
		t.Parallel()
		b := setupMarketStats(t, "ethereum")
		start := b.up.clock()
		require.Equal(t, river.EventKindJobCompleted, b.floorRound(t))
		require.Equal(t, river.EventKindJobCompleted, b.volumeRound(t))
		require.Equal(t, int64(1), b.up.calls.Load(), "floor and volume of one round: one call")

		// A volume job of that round that runs late (it was snoozed for
		// longer than its interval) calls again rather than store a stale
		// answer.
		args := jobs.CollectionArgs{CollectionID: b.coll.ID, PlannedAt: start}
		b.up.at(start.Add(90 * time.Second))
		work(t, b.workerBundle, &jobs.FetchVolumeWorker{Deps: b.deps}, jobs.FetchVolumeArgs{CollectionArgs: args})
		require.Equal(t, int64(2), b.up.calls.Load())
	})

	t.Run("WaitsForTheCallInFlight", func(t *testing.T) {
		t.Parallel()
		b := setupMarketStats(t, "ethereum")
		q := db.New(b.tx)
		// Another job holds the lease: this one snoozes, spending nothing.
		_, err := q.StatsFetchClaim(ctx, db.StatsFetchClaimParams{CollectionID: b.coll.ID, Source: "opensea"})
		require.NoError(t, err)
		require.NoError(t, q.StatsFetchLease(ctx, db.StatsFetchLeaseParams{
			JobID: pgtypeInt8(-1), LeaseUntil: pgtype.Timestamptz{Time: b.up.clock().Add(10 * time.Second), Valid: true},
			CollectionID: b.coll.ID, Source: "opensea",
		}))
		require.Equal(t, river.EventKindJobSnoozed, b.volumeRound(t))
		require.Zero(t, b.up.calls.Load())
		// An expired lease (its holder crashed) no longer blocks.
		b.up.at(b.up.clock().Add(11 * time.Second))
		require.Equal(t, river.EventKindJobCompleted, b.volumeRound(t))
		require.Equal(t, int64(1), b.up.calls.Load())
	})
}

func TestMarketStatsCurrencyIsNeverEmpty(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	// roundCurrencies runs a floor and a volume round and returns the
	// stored currencies (symbol/decimals) of the floor and volume rows.
	roundCurrencies := func(t *testing.T, b *marketStatsBundle) (string, []string) {
		t.Helper()
		require.Equal(t, river.EventKindJobCompleted, b.floorRound(t))
		require.Equal(t, river.EventKindJobCompleted, b.volumeRound(t))
		q := db.New(b.tx)
		f, err := q.FloorPriceLatest(ctx, db.FloorPriceLatestParams{CollectionID: b.coll.ID, Source: "opensea"})
		require.NoError(t, err)
		require.False(t, f.Amount.Valid, "no floor")
		vols, err := q.VolumeLatest(ctx, db.VolumeLatestParams{CollectionID: b.coll.ID, Source: "opensea"})
		require.NoError(t, err)
		require.NotEmpty(t, vols)
		var vc []string
		for _, v := range vols {
			vc = append(vc, fmt.Sprintf("%s/%d", v.Currency, v.Decimals))
		}
		return fmt.Sprintf("%s/%d", f.Currency, f.Decimals), vc
	}

	t.Run("ChainNativeCurrency", func(t *testing.T) {
		t.Parallel()
		b := setupMarketStats(t, "polygon")
		b.up.noFloor = true
		floor, vols := roundCurrencies(t, b)
		require.Equal(t, "POL/18", floor, "not a hard-coded ETH")
		require.Equal(t, []string{"POL/18"}, vols)
	})

	t.Run("CollectionPricingCurrency", func(t *testing.T) {
		t.Parallel()
		b := setupMarketStats(t, "ethereum")
		b.up.noFloor = true
		require.NoError(t, db.New(b.tx).MetadataUpsert(ctx, db.MetadataUpsertParams{
			CollectionID: b.coll.ID, Source: "opensea", Name: "x", Currency: "USDC",
			CurrencyDecimals: pgtype.Int2{Int16: 6, Valid: true}, Raw: []byte(`{}`), FetchedAt: time.Now(),
		}))
		floor, vols := roundCurrencies(t, b)
		require.Equal(t, "USDC/6", floor)
		require.Equal(t, []string{"USDC/6"}, vols)
	})

	t.Run("UnknownCurrencyIsRefusedNotStoredEmpty", func(t *testing.T) {
		t.Parallel()
		b := setupMarketStats(t, "some-new-chain")
		b.up.noFloor = true
		require.Equal(t, river.EventKindJobCancelled, b.volumeRound(t))
		q := db.New(b.tx)
		counts, err := q.SnapshotCounts(ctx, b.coll.ID)
		require.NoError(t, err)
		require.Zero(t, counts.Volumes)
		events, err := q.DataQualityEventList(ctx, pgtypeInt8(b.coll.ID))
		require.NoError(t, err)
		require.Len(t, events, 1)
		require.Equal(t, "unknown_currency", events[0].Kind)
		require.Contains(t, events[0].Message, "some-new-chain")
	})
}
