package streamer_test

import (
	"context"
	"encoding/json"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgtype"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nftsync/nftsync/db"
	"github.com/nftsync/nftsync/db/dbtest"
	"github.com/nftsync/nftsync/internal/admin"
	"github.com/nftsync/nftsync/internal/indexer/opensea"
	"github.com/nftsync/nftsync/internal/indexer/opensea/stream"
	"github.com/nftsync/nftsync/internal/indexersim"
	"github.com/nftsync/nftsync/internal/streamer"
)

// streamFloor is a collection's stored stream floor.
type streamFloor struct {
	amount, currency string
	decimals         int16
}

func readStreamFloor(t testing.TB, e *env, slug string) (streamFloor, bool) {
	t.Helper()
	var f streamFloor
	err := e.pool.QueryRow(context.Background(), `
		SELECT COALESCE(f.amount::text, ''), f.currency, f.decimals
		FROM floor_price_latest f JOIN collections c ON c.id = f.collection_id
		WHERE c.slug = $1 AND f.source = $2`, slug, streamer.Source).Scan(&f.amount, &f.currency, &f.decimals)
	if err != nil {
		return streamFloor{}, false
	}
	return f, true
}

// polygonAndEthereum returns a Polygon and an Ethereum collection of the
// simulator.
func polygonAndEthereum(t testing.TB, sim *indexersim.Server) (pol, eth string) {
	t.Helper()
	for _, slug := range sim.Slugs() {
		info, _ := sim.Collection(slug)
		switch {
		case info.Chain == "polygon" && pol == "":
			pol = slug
		case info.Chain == "ethereum" && eth == "":
			eth = slug
		}
	}
	require.NotEmpty(t, pol, "the simulator has a Polygon collection")
	require.NotEmpty(t, eth, "the simulator has an Ethereum collection")
	return pol, eth
}

// TestStreamFloorKeepsTheCollectionsCurrency: a Polygon collection's
// stream floor is stored in POL, the currency of its /stats floor, and is
// the simulator's true floor in POL; an Ethereum collection's stays in ETH.
func TestStreamFloorKeepsTheCollectionsCurrency(t *testing.T) {
	t.Parallel()
	cfg := indexersim.Config{Seed: 181, Collections: 6, MinTokens: 100, MaxTokens: 100, PolygonFraction: 0.5}
	cfg.Market.ListingsPerMinute = 120
	e := setup(t, cfg, nil)
	waitLive(t, e, 6, 30*time.Second)
	polSlug, ethSlug := polygonAndEthereum(t, e.sim.Server)

	market, err := opensea.NewClient(e.sim.URL, &http.Client{Timeout: 10 * time.Second}, opensea.Options{})
	require.NoError(t, err)
	for slug, want := range map[string]string{polSlug: "POL", ethSlug: "ETH"} {
		st, err := market.Stats(context.Background(), slug)
		require.NoError(t, err)
		require.NotNil(t, st.Floor)
		require.Equal(t, want, st.Floor.Currency, "%s: /stats quotes the floor in the chain's currency", slug)
		// The stored stream floor is in that currency, and it is the
		// true floor (in that currency) within a second.
		require.EventuallyWithT(t, func(c *assert.CollectT) {
			f, ok := readStreamFloor(t, e, slug)
			if !assert.True(c, ok, "a stream floor") {
				return
			}
			assert.Equal(c, want, f.currency)
			assert.Equal(c, int16(18), f.decimals)
			now := time.Now()
			truth, err := e.sim.Server.FloorChanges(slug, now.Add(-time.Second), now)
			if !assert.NoError(c, err) {
				return
			}
			assert.Equal(c, want, truth[0].Currency)
			ok = false
			for _, p := range truth {
				ok = ok || sameAmount(f.amount, p.Price)
			}
			assert.True(c, ok, "%s: stored %s %s, true %v", slug, f.amount, f.currency, truth)
		}, 20*time.Second, 100*time.Millisecond)
	}
	from := time.Now()
	time.Sleep(5 * time.Second)
	share, wrong := accuracy(t, e, polSlug, from, time.Now().Add(-time.Second), 50*time.Millisecond, time.Second)
	require.GreaterOrEqual(t, share, 0.99, "%s (POL): wrong at %v", polSlug, wrong)
}

// TestPolledCurrencyRebuildsTheBook: a Polygon collection tracked without
// its chain starts with an ETH book (the chain it was given); once a polled
// floor in POL is stored, the book is rebuilt in POL at a bootstrap and the
// stream floor follows in POL, the polled floor's currency.
func TestPolledCurrencyRebuildsTheBook(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cfg := indexersim.Config{Seed: 181, Collections: 1, MinTokens: 100, MaxTokens: 100, PolygonFraction: 1}
	cfg.Market.ListingsPerMinute = 60
	pool := dbtest.DB(t)
	slug := "sim-collection-000"
	e := setupOn(t, pool, cfg, func(o *streamer.Options) {
		o.ReloadInterval = 200 * time.Millisecond
		// Before the consumer starts, the operator tracks it again on
		// the default chain, Ethereum.
		_, err := (&admin.Service{DB: pool}).Track(ctx, "test", admin.TrackParams{Slug: slug, Source: "opensea", Chain: "ethereum", Priority: 2})
		require.NoError(t, err)
	})
	// An ETH book: the POL listings of the bootstrap carry no rate to
	// ETH (the best-listings answer has no eth_price), the stream's do.
	require.Eventually(t, func() bool {
		f, ok := readStreamFloor(t, e, slug)
		return ok && f.currency == "ETH"
	}, 30*time.Second, 50*time.Millisecond, "a stream floor in the chain's currency")

	// The poller stores /stats' floor, in POL.
	market, err := opensea.NewClient(e.sim.URL, &http.Client{Timeout: 10 * time.Second}, opensea.Options{})
	require.NoError(t, err)
	st, err := market.Stats(ctx, slug)
	require.NoError(t, err)
	require.Equal(t, "POL", st.Floor.Currency)
	var amount pgtype.Numeric
	require.NoError(t, amount.Scan(st.Floor.Amount))
	coll, err := db.New(pool).CollectionGetBySlug(ctx, db.CollectionGetBySlugParams{Source: "opensea", Slug: slug})
	require.NoError(t, err)
	require.NoError(t, db.New(pool).FloorPriceObserve(ctx, db.FloorPriceObserveParams{
		CollectionID: coll.ID, Source: "opensea", Amount: amount, Currency: st.Floor.Currency,
		Decimals: int16(st.Floor.Decimals), SeenAt: time.Now().UTC().Truncate(time.Microsecond),
	}))

	require.EventuallyWithT(t, func(c *assert.CollectT) {
		f, ok := readStreamFloor(t, e, slug)
		if !assert.True(c, ok) {
			return
		}
		assert.Equal(c, "POL", f.currency, "the stream floor is in the polled floor's currency")
		now := time.Now()
		truth, err := e.sim.Server.FloorChanges(slug, now.Add(-time.Second), now)
		if !assert.NoError(c, err) {
			return
		}
		ok = false
		for _, p := range truth {
			ok = ok || sameAmount(f.amount, p.Price)
		}
		assert.True(c, ok, "stored %s %s, true %v", f.amount, f.currency, truth)
	}, 30*time.Second, 100*time.Millisecond)
}

// scripted is a stream connection that joins at once and delivers the
// events a test hands it; the book is bootstrapped from the simulator.
type scripted struct {
	joined chan string
	events chan stream.Event
	mu     sync.Mutex
	slugs  []string
}

func (s *scripted) Join(slug string) {
	s.mu.Lock()
	s.slugs = append(s.slugs, slug)
	s.mu.Unlock()
	s.joined <- slug
}
func (s *scripted) Leave(string) {}
func (s *scripted) Run(ctx context.Context, h stream.Handler) error {
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case slug := <-s.joined:
			h.Joined(slug)
		case e := <-s.events:
			h.Event(e)
		}
	}
}

// fixtureEvent reads a stream frame of testdata and sets its slug, order
// hash, raw price and version.
func fixtureEvent(t *testing.T, name, slug, order, rawPrice string, version int64) stream.Event {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", name))
	require.NoError(t, err)
	var frame []json.RawMessage
	require.NoError(t, json.Unmarshal(raw, &frame))
	require.Len(t, frame, 5)
	var msg struct {
		EventType string         `json:"event_type"`
		Payload   map[string]any `json:"payload"`
	}
	require.NoError(t, json.Unmarshal(frame[4], &msg))
	now := time.Now().UTC()
	p := msg.Payload
	p["collection"] = map[string]any{"slug": slug}
	p["order_hash"], p["base_price"] = order, rawPrice
	p["listing_date"] = now.Format(time.RFC3339Nano)
	p["event_timestamp"] = now.Format(time.RFC3339Nano)
	p["expiration_date"] = now.Add(24 * time.Hour).Format(time.RFC3339Nano)
	payload, err := json.Marshal(p)
	require.NoError(t, err)
	return stream.Event{Type: msg.EventType, Slug: slug, Version: version, SentAt: now, Payload: payload}
}

// TestThirdCurrencyListingComparedThroughEthPrice: in a POL book, a listing
// in USDC is converted through its eth_price and POL's (learnt from a POL
// listing), becomes the floor when cheaper, and the floor is stored in POL.
func TestThirdCurrencyListingComparedThroughEthPrice(t *testing.T) {
	t.Parallel()
	cfg := indexersim.Config{Seed: 181, Collections: 1, MinTokens: 100, MaxTokens: 100, PolygonFraction: 1}
	conn := &scripted{joined: make(chan string, 4), events: make(chan stream.Event)}
	e := setup(t, cfg, func(o *streamer.Options) {
		o.Dial = func(string) (streamer.Conn, error) { return conn, nil }
		o.AuditRate = -1 // no re-reads: the scripted listings are not in the simulator's book
	})
	waitLive(t, e, 1, 30*time.Second)
	slug := e.sim.Server.Slugs()[0]
	before, ok := readStreamFloor(t, e, slug)
	require.True(t, ok)
	require.Equal(t, "POL", before.currency)
	floor, ok := new(big.Rat).SetString(before.amount)
	require.True(t, ok, before.amount)

	// A POL listing at twice the floor teaches the book POL's rate
	// (0.000125 ETH) and changes nothing.
	twice := new(big.Rat).Mul(floor, big.NewRat(2e18, 1))
	conn.events <- fixtureEvent(t, "polygon_item_listed_pol.json", slug,
		"0x5555555555555555555555555555555555555555555555555555555555555555", twice.FloatString(0), 1)
	// A USDC listing (0.00025 ETH: 2 POL a USDC) worth a quarter of the
	// floor: usdc = floor/8, in micro-USDC rounded down.
	micro := new(big.Int).Quo(new(big.Int).Mul(floor.Num(), big.NewInt(1_000_000)), new(big.Int).Mul(floor.Denom(), big.NewInt(8)))
	require.Positive(t, micro.Sign(), "a floor large enough for a USDC listing")
	conn.events <- fixtureEvent(t, "polygon_item_listed_usdc.json", slug,
		"0x6666666666666666666666666666666666666666666666666666666666666666", micro.String(), 1)
	want := new(big.Rat).SetFrac(new(big.Int).Mul(micro, big.NewInt(2)), big.NewInt(1_000_000))

	require.EventuallyWithT(t, func(c *assert.CollectT) {
		f, ok := readStreamFloor(t, e, slug)
		if !assert.True(c, ok) {
			return
		}
		assert.Equal(c, "POL", f.currency, "the floor keeps the collection's currency")
		assert.True(c, sameAmount(f.amount, want.FloatString(18)), "stored %s, want %s POL (the USDC listing through eth_price)", f.amount, want.FloatString(18))
	}, 10*time.Second, 50*time.Millisecond)
}
