package db_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/nftsync/nftsync/db"
	"github.com/nftsync/nftsync/db/dbtest"
)

// track tracks collections of source by slug and returns their ids.
func track(t *testing.T, q *db.Queries, source string, slugs ...string) []int64 {
	t.Helper()
	ids := make([]int64, 0, len(slugs))
	for _, s := range slugs {
		c, err := q.CollectionUpsert(context.Background(), db.CollectionUpsertParams{Source: source, Slug: s, Chain: "ethereum", Priority: 2})
		require.NoError(t, err)
		ids = append(ids, c.ID)
	}
	return ids
}

// dataVersion reads a collection's API data version (0 before any bump).
func dataVersion(t *testing.T, pool *pgxpool.Pool, id int64) int64 {
	t.Helper()
	var v int64
	err := pool.QueryRow(context.Background(), "SELECT COALESCE((SELECT version FROM collection_data_versions WHERE collection_id = $1), 0)", id).Scan(&v)
	require.NoError(t, err)
	return v
}

func TestStreamStatesMark(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := dbtest.DB(t)
	q := db.New(pool)
	ids := track(t, q, "opensea", "a", "b")
	t0 := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)

	mark := func(state string, at time.Time, ids ...int64) {
		t.Helper()
		require.NoError(t, q.StreamStatesMark(ctx, db.StreamStatesMarkParams{CollectionIds: ids, State: state, Owner: "r1", At: at}))
	}
	// Duplicates in one call and an id that is not tracked are harmless.
	mark("joining", t0, ids[0], ids[0], ids[1], 999999)
	v0 := dataVersion(t, pool, ids[0])
	require.Positive(t, v0, "a new state bumps the data version")

	mark("live", t0.Add(time.Second), ids[0])
	v1 := dataVersion(t, pool, ids[0])
	require.Greater(t, v1, v0, "a change of state bumps the data version")
	mark("live", t0.Add(16*time.Second), ids[0])
	require.Equal(t, v1, dataVersion(t, pool, ids[0]), "re-marking the same state does not bump")

	s, err := q.StreamStateGet(ctx, ids[0])
	require.NoError(t, err)
	require.Equal(t, "live", s.State)
	require.Equal(t, "r1", s.Owner)
	require.True(t, s.Since.Equal(t0.Add(time.Second)), "since stays at the state change: %v", s.Since)
	require.True(t, s.UpdatedAt.Equal(t0.Add(16*time.Second)), "updated_at is the latest mark: %v", s.UpdatedAt)

	s, err = q.StreamStateGet(ctx, ids[1])
	require.NoError(t, err)
	require.Equal(t, "joining", s.State)
	_, err = q.StreamStateGet(ctx, 999999)
	require.ErrorIs(t, db.Interpret(err), db.ErrNotFound)

	// The shard moved: r2 marks b live; r1, leaving the topic late, marks
	// it down, which changes nothing; r2's own down mark does.
	require.NoError(t, q.StreamStatesMark(ctx, db.StreamStatesMarkParams{CollectionIds: ids[1:], State: "live", Owner: "r2", At: t0.Add(20 * time.Second)}))
	mark("down", t0.Add(21*time.Second), ids[1])
	s, err = q.StreamStateGet(ctx, ids[1])
	require.NoError(t, err)
	require.Equal(t, "live", s.State)
	require.Equal(t, "r2", s.Owner)
	require.NoError(t, q.StreamStatesMark(ctx, db.StreamStatesMarkParams{CollectionIds: ids[1:], State: "down", Owner: "r2", At: t0.Add(22 * time.Second)}))
	s, err = q.StreamStateGet(ctx, ids[1])
	require.NoError(t, err)
	require.Equal(t, "down", s.State)

	// live is true only while the last mark is younger than the TTL.
	rows, err := q.StreamStatesList(ctx, db.StreamStatesListParams{CollectionIds: ids, LiveAfter: t0.Add(10 * time.Second)})
	require.NoError(t, err)
	require.Len(t, rows, 2)
	require.True(t, rows[0].Live)
	require.False(t, rows[1].Live, "down is not live")
	rows, err = q.StreamStatesList(ctx, db.StreamStatesListParams{CollectionIds: ids[:1], LiveAfter: t0.Add(20 * time.Second)})
	require.NoError(t, err)
	require.False(t, rows[0].Live, "a live mark older than the TTL is not live")
}

func TestStreamStatesTouchNeverMovesBack(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tx := dbtest.Tx(t)
	q := db.New(tx)
	ids := track(t, q, "opensea", "touch-a", "touch-b")
	t0 := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	require.NoError(t, q.StreamStatesMark(ctx, db.StreamStatesMarkParams{CollectionIds: ids, State: "live", Owner: "r1", At: t0}))

	touch := func(id int64, at, sent time.Time) {
		t.Helper()
		require.NoError(t, q.StreamStatesTouch(ctx, db.StreamStatesTouchParams{
			CollectionIds: []int64{id, id}, LastEventAt: []time.Time{at, at.Add(-time.Second)}, LastEventSentAt: []time.Time{sent, sent.Add(-time.Second)}}))
	}
	touch(ids[0], t0.Add(5*time.Second), t0.Add(4*time.Second))
	touch(ids[0], t0.Add(3*time.Second), t0.Add(2*time.Second)) // older: ignored
	s, err := q.StreamStateGet(ctx, ids[0])
	require.NoError(t, err)
	require.True(t, s.LastEventAt.Time.Equal(t0.Add(5*time.Second)), "last_event_at %v", s.LastEventAt.Time)
	require.True(t, s.LastEventSentAt.Time.Equal(t0.Add(4*time.Second)), "last_event_sent_at %v", s.LastEventSentAt.Time)
	require.True(t, s.UpdatedAt.Equal(t0), "a touch is not a liveness mark")
	s, err = q.StreamStateGet(ctx, ids[1])
	require.NoError(t, err)
	require.False(t, s.LastEventAt.Valid, "other collections untouched")
}

func TestStreamBootstrapAndSalesCoverage(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tx := dbtest.Tx(t)
	q := db.New(tx)
	ids := track(t, q, "opensea", "boot-a", "boot-b")
	t0 := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	require.NoError(t, q.StreamStatesMark(ctx, db.StreamStatesMarkParams{CollectionIds: ids[:1], State: "live", Owner: "r1", At: t0}))
	require.NoError(t, q.StreamStatesMark(ctx, db.StreamStatesMarkParams{CollectionIds: ids[1:], State: "live", Owner: "r2", At: t0}))

	require.NoError(t, q.StreamRequestBootstrap(ctx, ids[0]))
	require.NoError(t, q.StreamRequestBootstrap(ctx, ids[1]))
	got, err := q.StreamNeedsBootstrap(ctx, "r1")
	require.NoError(t, err)
	require.Equal(t, ids[:1], got, "only the owner's flagged collections")

	require.NoError(t, q.StreamBootstrapped(ctx, db.StreamBootstrappedParams{CollectionID: ids[0], At: t0.Add(time.Minute)}))
	got, err = q.StreamNeedsBootstrap(ctx, "r1")
	require.NoError(t, err)
	require.Empty(t, got)
	s, err := q.StreamStateGet(ctx, ids[0])
	require.NoError(t, err)
	require.True(t, s.BootstrappedAt.Time.Equal(t0.Add(time.Minute)))

	require.NoError(t, q.StreamSalesCovered(ctx, db.StreamSalesCoveredParams{CollectionID: ids[0], Since: pgtype.Timestamptz{Time: t0, Valid: true}}))
	s, err = q.StreamStateGet(ctx, ids[0])
	require.NoError(t, err)
	require.True(t, s.SalesCoveredSince.Valid && s.SalesCoveredSince.Time.Equal(t0))
	require.NoError(t, q.StreamSalesCovered(ctx, db.StreamSalesCoveredParams{CollectionID: ids[0]}))
	s, err = q.StreamStateGet(ctx, ids[0])
	require.NoError(t, err)
	require.False(t, s.SalesCoveredSince.Valid, "NULL: no gap-free window")
}

func TestStreamCollectionsForShards(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tx := dbtest.Tx(t)
	q := db.New(tx)
	ids := track(t, q, "opensea", "sh-a", "sh-b", "sh-c", "sh-d", "sh-e", "sh-f")
	other := track(t, q, "tensor", "sh-g")
	require.NoError(t, q.CollectionSetStatus(ctx, db.CollectionSetStatusParams{ID: ids[5], Status: "paused"}))

	const shards = 3
	var want []int64
	for _, id := range ids[:5] {
		if id%shards == 0 || id%shards == 2 {
			want = append(want, id)
		}
	}
	rows, err := q.StreamCollectionsForShards(ctx, db.StreamCollectionsForShardsParams{Shards: []int32{0, 2}, ShardCount: shards})
	require.NoError(t, err)
	var got []int64
	for _, r := range rows {
		got = append(got, r.ID)
		require.NotEqual(t, other[0], r.ID, "another source is not streamed")
		require.NotEqual(t, ids[5], r.ID, "a paused collection is not streamed")
	}
	require.Equal(t, want, got)
}

func TestSalesLedger(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := dbtest.DB(t)
	q := db.New(pool)
	ids := track(t, q, "opensea", "sales-a", "sales-b")
	t0 := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)

	type sale struct {
		coll             int64
		tx, order, token string
		amount, currency string
		decimals         int32
		ethPrice         string
		at               time.Time
	}
	insert := func(ss ...sale) int64 {
		t.Helper()
		var p db.SalesInsertBatchParams
		for _, s := range ss {
			p.CollectionIds = append(p.CollectionIds, s.coll)
			p.TxHashes = append(p.TxHashes, s.tx)
			p.OrderHashes = append(p.OrderHashes, s.order)
			p.Chains = append(p.Chains, "ethereum")
			p.Contracts = append(p.Contracts, "0xc0")
			p.TokenIds = append(p.TokenIds, s.token)
			p.Amounts = append(p.Amounts, s.amount)
			p.Currencies = append(p.Currencies, s.currency)
			p.Decimals = append(p.Decimals, s.decimals)
			p.EthPrices = append(p.EthPrices, s.ethPrice)
			p.Quantities = append(p.Quantities, 1)
			p.SoldAts = append(p.SoldAts, s.at)
			p.Buyers = append(p.Buyers, "0xb")
			p.Sellers = append(p.Sellers, "0x5")
			p.Sources = append(p.Sources, "opensea:stream")
		}
		n, err := q.SalesInsertBatch(ctx, p)
		require.NoError(t, err)
		return n
	}
	a, b := ids[0], ids[1]
	v0 := dataVersion(t, pool, a)
	n := insert(
		sale{a, "0xt1", "0xo1", "1", "1.5", "ETH", 18, "1", t0.Add(-2 * time.Hour)},
		sale{a, "0xt1", "0xo2", "2", "2", "WETH", 18, "", t0.Add(-2 * time.Hour)},   // same tx, another order
		sale{a, "0xt1", "0xo1", "1", "1.5", "ETH", 18, "1", t0.Add(-2 * time.Hour)}, // duplicate in the batch
		sale{a, "0xt2", "0xo3", "1", "3000", "USDC", 6, "0.0003", t0.Add(-time.Hour)},
		sale{a, "0xt0", "0xo0", "3", "9", "ETH", 18, "1", t0.Add(-48 * time.Hour)},
		sale{b, "0xt1", "0xo1", "1", "4", "ETH", 18, "1", t0.Add(-time.Minute)}, // same hashes, other collection
		sale{999999, "0xt9", "0xo9", "1", "1", "ETH", 18, "1", t0},              // not tracked: skipped
	)
	require.EqualValues(t, 5, n)
	require.Greater(t, dataVersion(t, pool, a), v0, "a sale bumps the data version")
	require.Zero(t, insert(sale{a, "0xt2", "0xo3", "1", "3000", "USDC", 6, "0.0003", t0.Add(-time.Hour)}), "a replay is skipped")

	// Bad input is refused with the database's error, not stored half.
	_, err := q.SalesInsertBatch(ctx, db.SalesInsertBatchParams{
		CollectionIds: []int64{a}, TxHashes: []string{"0xbad"}, OrderHashes: []string{""}, Chains: []string{"ethereum"},
		Contracts: []string{"0xc0"}, TokenIds: []string{"x1"}, Amounts: []string{"1"}, Currencies: []string{"ETH"},
		Decimals: []int32{18}, EthPrices: []string{""}, Quantities: []int64{1}, SoldAts: []time.Time{t0},
		Buyers: []string{""}, Sellers: []string{""}, Sources: []string{"opensea"}})
	require.Error(t, err)
	require.True(t, db.Deterministic(err), "a bad token id is a check violation: %v", err)

	last, err := q.SalesLastForTokens(ctx, db.SalesLastForTokensParams{CollectionID: a, Contracts: []string{"0xc0", "0xc0", "0xc0"}, TokenIds: []string{"1", "3", "7"}})
	require.NoError(t, err)
	require.Len(t, last, 2, "token 7 never sold")
	require.Equal(t, "1", last[0].TokenID)
	require.Equal(t, "0xt2", last[0].TxHash, "the newest sale of token 1")
	require.Equal(t, "3000.000000000000000000", last[0].Amount)
	require.Equal(t, "USDC", last[0].Currency)
	require.Equal(t, "3", last[1].TokenID)

	recent, err := q.SalesRecent(ctx, db.SalesRecentParams{CollectionID: a, Lim: 3})
	require.NoError(t, err)
	require.Len(t, recent, 3)
	require.Equal(t, "0xt2", recent[0].TxHash)
	require.Equal(t, "", recent[1].EthPrice, "unknown eth price reads as empty")

	lastID, err := q.SalesLastID(ctx, a)
	require.NoError(t, err)
	after, err := q.SalesAfterID(ctx, db.SalesAfterIDParams{CollectionID: a, AfterID: recent[2].ID, Lim: 10})
	require.NoError(t, err)
	require.NotEmpty(t, after)
	require.Equal(t, lastID, after[len(after)-1].ID)

	tot, err := q.SalesWindowTotals(ctx, db.SalesWindowTotalsParams{CollectionID: a, Since: t0.Add(-24 * time.Hour)})
	require.NoError(t, err)
	require.EqualValues(t, 3, tot.Sales)
	require.EqualValues(t, 0, tot.Unpriced, "WETH counts one to one")
	// 1.5 ETH + 2 WETH + 3000 USDC x 0.0003 = 4.4 ETH.
	requireDecimal(t, pool, "4.4", tot.VolumeEth)

	insert(sale{a, "0xt3", "0xo4", "2", "5", "APE", 18, "", t0})
	tot, err = q.SalesWindowTotals(ctx, db.SalesWindowTotalsParams{CollectionID: a, Since: t0.Add(-24 * time.Hour)})
	require.NoError(t, err)
	require.EqualValues(t, 1, tot.Unpriced, "a sale without a known ETH price makes the volume incomplete")
}

// requireDecimal compares two decimal strings numerically in PostgreSQL.
func requireDecimal(t *testing.T, pool *pgxpool.Pool, want, got string) {
	t.Helper()
	var eq bool
	require.NoError(t, pool.QueryRow(context.Background(), "SELECT $1::numeric = $2::numeric", want, got).Scan(&eq))
	require.True(t, eq, "want %s, got %s", want, got)
}
