package streamer_test

import (
	"encoding/json"
	"math/big"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nftsync/nftsync/internal/indexer/opensea/stream"
	"github.com/nftsync/nftsync/internal/indexersim"
	"github.com/nftsync/nftsync/internal/streamer"
)

// transferEvent is an item_transferred event (stream-js
// ItemTransferredEventPayload, as internal/indexer/opensea/stream's
// testdata/item_transferred.json) of nftID from one account to another.
func transferEvent(t *testing.T, slug, nftID, from, to string) stream.Event {
	t.Helper()
	now := time.Now().UTC()
	payload, err := json.Marshal(map[string]any{
		"collection":      map[string]any{"slug": slug},
		"chain":           "polygon",
		"item":            map[string]any{"nft_id": nftID, "chain": map[string]any{"name": "polygon"}},
		"event_timestamp": now.Format(time.RFC3339Nano),
		"from_account":    map[string]any{"address": from},
		"to_account":      map[string]any{"address": to},
		"quantity":        1,
		"transaction":     map[string]any{"hash": "0x" + "ab12" + "00000000000000000000000000000000000000000000000000000000000a", "timestamp": now.Format(time.RFC3339Nano)},
	})
	require.NoError(t, err)
	return stream.Event{Type: stream.EventItemTransferred, Slug: slug, Version: now.UnixMilli(), SentAt: now, Payload: payload}
}

// TestTransferRepairsALostSale: the floor listing's item_sold is lost but
// the sale's item_transferred arrives: the listing can no longer be filled
// (its maker sent the token away), so it leaves the book and the floor
// goes back to the next listing, without a REST call.
func TestTransferRepairsALostSale(t *testing.T) {
	t.Parallel()
	cfg := indexersim.Config{Seed: 183, Collections: 1, MinTokens: 100, MaxTokens: 100, PolygonFraction: 1}
	conn := &scripted{joined: make(chan string, 4), events: make(chan stream.Event)}
	e := setup(t, cfg, func(o *streamer.Options) {
		o.Dial = func(string) (streamer.Conn, error) { return conn, nil }
		o.AuditRate = -1 // no re-reads: the scripted listing is not in the simulator's book
	})
	waitLive(t, e, 1, 30*time.Second)
	slug := e.sim.Server.Slugs()[0]
	before, ok := readStreamFloor(t, e, slug)
	require.True(t, ok)
	floor, ok := new(big.Rat).SetString(before.amount)
	require.True(t, ok, before.amount)
	waitFloor := func(want, msg string) {
		t.Helper()
		require.EventuallyWithT(t, func(c *assert.CollectT) {
			f, ok := readStreamFloor(t, e, slug)
			assert.True(c, ok && sameAmount(f.amount, want), "%s: stored %s, want %s", msg, f.amount, want)
		}, 10*time.Second, 50*time.Millisecond)
	}

	// A listing at half the floor (the fixture's token 12 of maker
	// 0xa4ff…) becomes the floor.
	half := new(big.Rat).Mul(floor, big.NewRat(1e18, 2))
	conn.events <- fixtureEvent(t, "polygon_item_listed_pol.json", slug,
		"0x7777777777777777777777777777777777777777777777777777777777777777", half.FloatString(0), 1)
	waitFloor(new(big.Rat).Mul(floor, big.NewRat(1, 2)).FloatString(18), "the cheaper listing")

	// Someone else's transfer of the token changes nothing.
	const nftID = "polygon/0x2953399124F0cBB46d2CbACD8A89cF0599974963/12"
	conn.events <- transferEvent(t, slug, nftID, "0x1111111111111111111111111111111111111111", "0x2222222222222222222222222222222222222222")
	// The maker's transfer (its item_sold was lost) takes the listing out.
	conn.events <- transferEvent(t, slug, nftID, "0xA4fF2b59D72f76eE51051196D25e3998CDC579c6", "0x2222222222222222222222222222222222222222")
	waitFloor(before.amount, "the floor before the listing")
}
