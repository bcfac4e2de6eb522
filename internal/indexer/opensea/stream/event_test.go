package stream

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nftsync/nftsync/internal/indexer"
)

// fixtureFrame returns testdata/name, a Phoenix frame.
func fixtureFrame(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	require.NoError(t, err)
	return b
}

// fixtureEvent decodes testdata/name into an Event as the client would.
func fixtureEvent(t testing.TB, name string) Event {
	t.Helper()
	f, err := decodeFrame(fixtureFrame(t, name))
	require.NoError(t, err)
	slug, ok := slugOf(f.Topic)
	require.True(t, ok)
	ev, err := decodeEvent(slug, f)
	require.NoError(t, err)
	return ev
}

// withPayload returns e with its payload's field set to value (nil deletes it).
func withPayload(t *testing.T, e Event, field string, value any) Event {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal(e.Payload, &m))
	if value == nil {
		delete(m, field)
	} else {
		m[field] = value
	}
	b, err := json.Marshal(m)
	require.NoError(t, err)
	e.Payload = b
	return e
}

const (
	fixtureContract = "0x495f947276749ce646f68ac8c248420045cb7b5e"
	fixtureOrder    = "0xccbf2c8bc22d06fc16e118e5a865377d8b2fe4ea485cd0cb713899cca17d8964"
)

func TestEventFixtures(t *testing.T) {
	t.Parallel()

	want := map[string]int64{
		"item_listed.json": 1, "item_cancelled.json": 2, "item_sold.json": 1796634300000,
		"item_transferred.json": 1796634300000, "item_metadata_updated.json": 1796634400000,
		"item_received_bid.json": 1, "collection_offer.json": 1, "trait_offer.json": 1,
		"order_invalidate.json": 3, "order_revalidate.json": 4,
	}
	types := map[string]bool{}
	for name, version := range want {
		ev := fixtureEvent(t, name)
		require.Equal(t, name, ev.Type+".json")
		require.Equal(t, "example-apes", ev.Slug)
		require.Equal(t, version, ev.Version, name)
		require.False(t, ev.SentAt.IsZero(), name)
		types[ev.Type] = true
	}
	for _, typ := range EventTypes() {
		require.True(t, types[typ], "no fixture for %s", typ)
	}
}

func TestEventListing(t *testing.T) {
	t.Parallel()

	l, err := fixtureEvent(t, "item_listed.json").Listing()
	require.NoError(t, err)
	require.Equal(t, indexer.Listing{
		OrderHash: fixtureOrder,
		Version:   1,
		Token:     indexer.TokenRef{Chain: "ethereum", Contract: fixtureContract, TokenID: "77", MetadataURL: "ipfs://QmExample/77"},
		Price:     indexer.Money{Amount: "0.005", Currency: "ETH", Decimals: 18},
		EthPrice:  "1",
		Quantity:  1,
		ListedAt:  time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC),
		ExpiresAt: time.Date(2026, 12, 8, 9, 0, 0, 0, time.UTC),
		Maker:     "0xa4ff2b59d72f76ee51051196d25e3998cdc579c6",
	}, l)

	ev := fixtureEvent(t, "item_listed_usdc_private.json")
	require.Equal(t, time.UnixMilli(1796634000000).UTC(), ev.SentAt, "epoch-ms sent_at")
	l, err = ev.Listing()
	require.NoError(t, err)
	require.Equal(t, indexer.Money{Amount: "135", Currency: "USDC", Decimals: 6}, l.Price)
	require.Equal(t, "0.000331955716281", l.EthPrice)
	require.Equal(t, int64(3), l.Quantity)
	require.True(t, l.Private)
	require.Equal(t, int64(7), l.Version)

	base := fixtureEvent(t, "item_listed.json")
	for _, tc := range []struct {
		field string
		value any
		msg   string
	}{
		{"base_price", nil, "item_listed payload: field base_price: required"},
		{"base_price", "0.005", `field base_price: raw amount "0.005": not a non-negative integer`},
		{"base_price", 5000000000000000, "field base_price: got JSON number"},
		{"order_hash", nil, "field order_hash: required"},
		{"payment_token", nil, "field payment_token: required"},
		{"payment_token", map[string]any{"symbol": "ETH", "decimals": "18"}, "field payment_token.decimals: want integer, got string"},
		{"payment_token", map[string]any{"symbol": "ETH", "decimals": 90}, "field payment_token.decimals: want 0..77, got 90"},
		{"payment_token", map[string]any{"symbol": "ETH", "decimals": 18, "eth_price": "NaN"}, "field payment_token.eth_price"},
		{"quantity", 0, "field quantity: want a positive integer, got 0"},
		{"quantity", "1", "field quantity: want integer, got JSON string"},
		{"listing_date", "yesterday", `field listing_date: not a time: "yesterday"`},
		{"item", map[string]any{"nft_id": "ethereum/0xabc"}, "field item.nft_id: \"ethereum/0xabc\": want <chain>/<contract>/<identifier>"},
		{"item", map[string]any{"nft_id": "ethereum/0xabc/12x"}, "identifier is not decimal"},
		{"item", map[string]any{"nft_id": "ethereum/0xabc/1", "chain": map[string]any{"name": "polygon"}}, "field item.chain.name"},
		{"item", nil, "field item.nft_id: required"},
	} {
		_, err := withPayload(t, base, tc.field, tc.value).Listing()
		require.ErrorContains(t, err, tc.msg, "%s = %v", tc.field, tc.value)
	}
}

func TestEventSale(t *testing.T) {
	t.Parallel()

	s, err := fixtureEvent(t, "item_sold.json").Sale()
	require.NoError(t, err)
	require.Equal(t, indexer.Sale{
		TxHash:    "0x20cd873b465edb4f6dcf08263e0f1fb3af54f0cab2fd318fdc73e3c1fea216a3",
		OrderHash: fixtureOrder,
		Token:     indexer.TokenRef{Chain: "ethereum", Contract: fixtureContract, TokenID: "77", MetadataURL: "ipfs://QmExample/77"},
		Price:     indexer.Money{Amount: "0.005", Currency: "WETH", Decimals: 18},
		EthPrice:  "1",
		Quantity:  1,
		At:        time.Date(2026, 12, 7, 9, 5, 0, 0, time.UTC),
		Buyer:     "0x05576aae1c7eeca6c674e8f74d3b50ef38fa08b6",
		Seller:    "0xa4ff2b59d72f76ee51051196d25e3998cdc579c6",
	}, s)

	base := fixtureEvent(t, "item_sold.json")
	// Without closing_date the transaction's timestamp is the time.
	s, err = withPayload(t, base, "closing_date", nil).Sale()
	require.NoError(t, err)
	require.Equal(t, time.Date(2026, 12, 7, 9, 5, 0, 0, time.UTC), s.At)
	s, err = withPayload(t, base, "closing_date", 1765000000).Sale()
	require.NoError(t, err)
	require.Equal(t, time.Unix(1765000000, 0).UTC(), s.At, "unix seconds")

	for _, tc := range []struct {
		field string
		value any
		msg   string
	}{
		{"sale_price", nil, "item_sold payload: field sale_price: required"},
		{"sale_price", "-5", "field sale_price: raw amount \"-5\": not a non-negative integer"},
		{"transaction", nil, "field transaction.hash: required"},
		{"closing_date", []int{1}, "field closing_date: want a time, got JSON array"},
	} {
		_, err := withPayload(t, base, tc.field, tc.value).Sale()
		require.ErrorContains(t, err, tc.msg, "%s = %v", tc.field, tc.value)
	}
	noTimes := withPayload(t, withPayload(t, withPayload(t, base, "closing_date", nil), "event_timestamp", nil),
		"transaction", map[string]any{"hash": "0xab"})
	_, err = noTimes.Sale()
	require.ErrorContains(t, err, "field closing_date: required")
}

func TestEventOrderHashAndToken(t *testing.T) {
	t.Parallel()

	for _, name := range []string{"item_listed.json", "item_cancelled.json", "item_sold.json", "order_invalidate.json", "order_revalidate.json"} {
		h, err := fixtureEvent(t, name).OrderHash()
		require.NoError(t, err, name)
		require.Equal(t, fixtureOrder, h, name)
	}
	_, err := fixtureEvent(t, "item_metadata_updated.json").OrderHash()
	require.ErrorContains(t, err, "item_metadata_updated payload: field order_hash: required")

	for _, name := range []string{"item_metadata_updated.json", "item_transferred.json", "item_listed.json", "order_invalidate.json"} {
		ref, err := fixtureEvent(t, name).Token()
		require.NoError(t, err, name)
		require.Equal(t, indexer.TokenRef{Chain: "ethereum", Contract: fixtureContract, TokenID: "77", MetadataURL: "ipfs://QmExample/77"}, ref, name)
	}
	_, err = fixtureEvent(t, "collection_offer.json").Token()
	require.ErrorContains(t, err, "collection_offer payload: field item.nft_id: required")

	// Solana mints are base58 and keep their case.
	ref, err := ParseNFTID("solana/TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA/AbCdEf")
	require.NoError(t, err)
	require.Equal(t, indexer.TokenRef{Chain: "solana", Contract: "TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA", TokenID: "AbCdEf"}, ref)
}

func TestEventTransfer(t *testing.T) {
	t.Parallel()

	ev := fixtureEvent(t, "item_transferred.json")
	tr, err := ev.Transfer()
	require.NoError(t, err)
	require.Equal(t, Transfer{
		Token: indexer.TokenRef{Chain: "ethereum", Contract: fixtureContract, TokenID: "77", MetadataURL: "ipfs://QmExample/77"},
		From:  "0xa4ff2b59d72f76ee51051196d25e3998cdc579c6", To: "0x05576aae1c7eeca6c674e8f74d3b50ef38fa08b6",
		At: time.Date(2026, 12, 7, 9, 5, 0, 0, time.UTC),
	}, tr)

	noTime, err := withPayload(t, withPayload(t, ev, "event_timestamp", nil), "transaction", nil).Transfer()
	require.NoError(t, err, "the time is optional")
	require.True(t, noTime.At.IsZero())
	_, err = withPayload(t, ev, "from_account", nil).Transfer()
	require.ErrorContains(t, err, "item_transferred payload: field from_account.address: required")
	_, err = withPayload(t, ev, "event_timestamp", "yesterday").Transfer()
	require.ErrorContains(t, err, "event_timestamp")
}

func TestDecodeEventRejects(t *testing.T) {
	t.Parallel()

	for _, tc := range []struct {
		frame string
		msg   string
	}{
		{`[null,null,"collection:a","item_listed",[]]`, "item_listed message: want object, got JSON array"},
		{`[null,null,"collection:a","item_listed",{"event_type":"item_listed","version":-1,"payload":{}}]`, "field version: want a non-negative integer"},
		{`[null,null,"collection:a","item_listed",{"event_type":"item_listed","version":"1","payload":{}}]`, "field version: want integer, got JSON string"},
		{`[null,null,"collection:a","item_listed",{"event_type":"item_listed","version":1,"sent_at":"soon","payload":{}}]`, `field sent_at: not a time: "soon"`},
		{`[null,null,"collection:a","item_listed",{"event_type":"item_listed","version":1,"payload":"x"}]`, "field payload: want object, got JSON string"},
	} {
		f, err := decodeFrame([]byte(tc.frame))
		require.NoError(t, err)
		_, err = decodeEvent("a", f)
		require.ErrorContains(t, err, tc.msg, tc.frame)
	}
	for _, tc := range []struct {
		frame string
		msg   string
	}{
		{`{"topic":"collection:a"}`, "frame is not a JSON array"},
		{`[null,null,"collection:a","item_listed"]`, "frame has 4 elements"},
		{`[null,null,7,"item_listed",{}]`, "frame topic: want string, got JSON number"},
		{`[null,{},"collection:a","item_listed",{}]`, "frame ref: want string or null"},
		{`not json`, "frame is not a JSON array"},
	} {
		_, err := decodeFrame([]byte(tc.frame))
		require.ErrorContains(t, err, tc.msg, tc.frame)
	}

	// Unknown types and fields pass through.
	ev := fixtureEvent(t, "unknown_event.json")
	require.Equal(t, "item_received_hug", ev.Type)
	require.JSONEq(t, `{"collection":{"slug":"example-apes"},"hugs":3}`, string(ev.Payload))
}
