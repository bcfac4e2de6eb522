package opensea

import (
	"context"
	"encoding/json"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nftsync/nftsync/internal/indexer"
)

func TestTokens(t *testing.T) {
	t.Parallel()

	ctx := context.Background()

	// pagedServer serves nfts_page1.json for no cursor and nfts_page2.json
	// for page 1's cursor, recording each request's query.
	pagedServer := func(t *testing.T) (srv string, queries func() []string) {
		t.Helper()
		var (
			mu   sync.Mutex
			seen []string
		)
		page1 := serveFixture(t, http.StatusOK, "nfts_page1.json", nil)
		page2 := serveFixture(t, http.StatusOK, "nfts_page2.json", nil)
		s := newServer(t, func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			seen = append(seen, r.URL.RawQuery)
			mu.Unlock()
			if r.URL.Path != "/api/v2/collection/example-apes/nfts" {
				t.Errorf("unexpected path %q", r.URL.Path)
			}
			switch r.URL.Query().Get("next") {
			case "":
				page1(w, r)
			case "LXBrPTEyMzQ=":
				page2(w, r)
			default:
				w.WriteHeader(http.StatusBadRequest)
			}
		})
		return s.URL, func() []string {
			mu.Lock()
			defer mu.Unlock()
			return append([]string(nil), seen...)
		}
	}

	t.Run("FirstPageExactly", func(t *testing.T) {
		t.Parallel()

		url, queries := pagedServer(t)
		page, err := newTestClient(t, url, Options{}).Tokens(ctx, "example-apes", "")
		require.NoError(t, err)
		require.Equal(t, []string{"limit=200"}, queries())
		require.Equal(t, "LXBrPTEyMzQ=", page.Next)
		require.Len(t, page.Tokens, 2)

		raw := fixture(t, "nfts_page1.json")
		var wire struct {
			NFTs []struct {
				Traits []json.RawMessage `json:"traits"`
			} `json:"nfts"`
		}
		require.NoError(t, json.Unmarshal(raw, &wire))

		first := page.Tokens[0]
		require.True(t, json.Valid(first.Raw))
		require.Contains(t, string(first.Raw), `"identifier": "1234"`)
		first.Raw = nil
		require.Equal(t, indexer.Token{
			TokenID:       "1234",
			Contract:      "0xabcabcabcabcabcabcabcabcabcabcabcabcabca",
			TokenStandard: "erc721",
			Name:          "Example Ape #1234",
			ImageURL:      "https://i.seadn.io/s/raw/files/1234.png",
			MetadataURL:   "ipfs://bafybeiexample/1234",
			UpdatedAt:     time.Date(2026, 6, 30, 12, 0, 0, 0, time.UTC),
			Traits: []indexer.Trait{
				{Type: "Background", ValueText: "Blue", ValueKind: indexer.ValueString, Raw: wire.NFTs[0].Traits[0]},
				{Type: "Level", ValueText: "42", ValueKind: indexer.ValueNumber, ValueNumeric: ptr("42"), DisplayType: "number", MaxValue: "100",
					Raw: wire.NFTs[0].Traits[1]},
			},
		}, first)

		second := page.Tokens[1]
		require.Equal(t, "1235", second.TokenID)
		require.Empty(t, second.Name) // null
		require.Nil(t, second.Traits) // "traits": null is unknown, not none
		require.Equal(t, time.Date(2026, 7, 1, 8, 30, 15, 250_000_000, time.UTC), second.UpdatedAt)
	})

	t.Run("PagesUntilNextIsEmpty", func(t *testing.T) {
		t.Parallel()

		url, queries := pagedServer(t)
		c := newTestClient(t, url, Options{})
		var (
			ids    []string
			cursor string
		)
		for range 10 {
			page, err := c.Tokens(ctx, "example-apes", cursor)
			require.NoError(t, err)
			for _, tok := range page.Tokens {
				ids = append(ids, tok.TokenID)
			}
			if page.Next == "" {
				break
			}
			cursor = page.Next
		}
		require.Equal(t, []string{"1234", "1235", "1236", "1237"}, ids)
		// The opaque cursor is sent back exactly, query-escaped.
		require.Equal(t, []string{"limit=200", "limit=200&next=LXBrPTEyMzQ%3D"}, queries())

		last, err := c.Tokens(ctx, "example-apes", "LXBrPTEyMzQ=")
		require.NoError(t, err)
		require.NotNil(t, last.Tokens[0].Traits) // "traits": [] is none, not unknown
		require.Empty(t, last.Tokens[0].Traits)
		require.Equal(t, time.Date(2026, 7, 2, 0, 0, 0, 0, time.UTC), last.Tokens[0].UpdatedAt)
		require.Nil(t, last.Tokens[1].Traits) // field absent
		require.True(t, last.Tokens[1].UpdatedAt.IsZero())
	})

	t.Run("PageSizeOption", func(t *testing.T) {
		t.Parallel()

		url, queries := pagedServer(t)
		_, err := newTestClient(t, url, Options{PageSize: 50}).Tokens(ctx, "example-apes", "")
		require.NoError(t, err)
		require.Equal(t, []string{"limit=50"}, queries())
	})

	t.Run("NumericTraits", func(t *testing.T) {
		t.Parallel()

		srv := newServer(t, serveFixture(t, http.StatusOK, "nfts_numeric_traits.json", nil))
		var skips []Skip
		page, err := newTestClient(t, srv.URL, Options{
			ObserveSkip: func(s Skip) { skips = append(skips, s) },
		}).Tokens(ctx, "example-apes", "")
		require.NoError(t, err)
		require.Empty(t, skips)
		require.Empty(t, page.Next)
		tok := page.Tokens[0]
		require.Equal(t, "erc1155", tok.TokenStandard)
		require.Equal(t, time.Date(2026, 6, 30, 12, 0, 0, 0, time.UTC), tok.UpdatedAt)

		type row struct {
			Type, Text  string
			Numeric     *string
			Display     string
			Max         string
			RawIsObject bool
		}
		var got []row
		for _, tr := range tok.Traits {
			got = append(got, row{tr.Type, tr.ValueText, tr.ValueNumeric, tr.DisplayType, tr.MaxValue,
				rawKind(tr.Raw) == "object"})
		}
		require.Equal(t, []row{
			{"Power", "7", ptr("7"), "boost_number", "10", true},
			{"Speed", "7.50", ptr("7.5"), "boost_percentage", "100", true},
			{"Birthday", "1546360800", ptr("1546360800"), "date", "", true},
			{"Mass", "1.5e3", ptr("1500"), "number", "", true},
			{"Depth", "-3", ptr("-3"), "number", "", true},
			{"Tiny", "1E-7", ptr("0.0000001"), "number", "", true},
			{"Edition", "012", nil, "", "", true}, // "None" → ""; "012" is not a JSON number
			{"Rank", "12.50", ptr("12.5"), "", "", true},
			{"Legendary", "true", nil, "", "", true},
			{"Cursed", "false", nil, "", "", true},
			{"Fur", "Golden Brown", nil, "", "", true},
			{"Empty", "", nil, "", "", true},
		}, got)
	})

	t.Run("OddValuesAreSkippedAndReported", func(t *testing.T) {
		t.Parallel()

		srv := newServer(t, serveFixture(t, http.StatusOK, "nfts_odd_traits.json", nil))
		var (
			mu    sync.Mutex
			skips []Skip
		)
		page, err := newTestClient(t, srv.URL, Options{
			ObserveSkip: func(s Skip) { mu.Lock(); skips = append(skips, s); mu.Unlock() },
		}).Tokens(ctx, "example-apes", "")
		require.NoError(t, err)
		require.Empty(t, page.Next) // "next": null

		require.Len(t, page.Tokens, 2)
		require.Len(t, page.Tokens[0].Traits, 1)
		require.Equal(t, "Hat", page.Tokens[0].Traits[0].Type)
		require.True(t, page.Tokens[0].UpdatedAt.IsZero())
		require.NotNil(t, page.Tokens[1].Traits) // all skipped: known, none usable
		require.Empty(t, page.Tokens[1].Traits)

		op := "tokens example-apes"
		require.Equal(t, []Skip{
			{Op: op, TokenID: "88", Field: "updated_at", Reason: `unparseable timestamp "last tuesday"`},
			{Op: op, TokenID: "88", Field: "traits[0].value", Reason: "value is null"},
			{Op: op, TokenID: "88", Field: "traits[1].value", Reason: "value is object"},
			{Op: op, TokenID: "88", Field: "traits[2].value", Reason: "value is array"},
			{Op: op, TokenID: "88", Field: "traits[3].value", Reason: "value is absent"},
			{Op: op, TokenID: "89", Field: "traits[0].value", Reason: "value is null"},
		}, skips)
	})

	t.Run("MalformedFixtures", func(t *testing.T) {
		t.Parallel()

		for _, tc := range []struct {
			fixture string
			cursor  string
			wantMsg string
		}{
			{"nfts_identifier_number.json", "", `nfts[0] (identifier "1234"): field identifier: want string, got JSON number`},
			{"nfts_missing_contract.json", "", `nfts[1] (identifier "2"): field contract: required`},
			{"nfts_trait_type_number.json", "", `nfts[0] (identifier "5150"): field traits[0]: field trait_type: want string, got JSON number`},
			{"nfts_traits_object.json", "", `nfts[0] (identifier "42"): field traits: want array, got JSON object`},
			{"nfts_trait_not_object.json", "", `nfts[0] (identifier "43"): field traits[0]: want object, got JSON string`},
			{"nfts_missing_nfts.json", "", "field nfts: required"},
			{"nfts_next_repeats.json", "LXBrPTEyMzQ=", `field next: repeats the request cursor "LXBrPTEyMzQ="`},
			{"truncated.json", "", "truncated JSON"},
			{"trailing_garbage.json", "", "trailing data after JSON value"},
		} {
			t.Run(tc.fixture, func(t *testing.T) {
				t.Parallel()

				srv := newServer(t, serveFixture(t, http.StatusOK, tc.fixture, nil))
				page, err := newTestClient(t, srv.URL, Options{}).Tokens(ctx, "example-apes", tc.cursor)
				require.Nil(t, page)
				ie := requireClass(t, err, indexer.ClassMalformed)
				require.Equal(t, "tokens example-apes", ie.Op)
				require.Contains(t, err.Error(), "decode tokens example-apes: "+tc.wantMsg)
			})
		}
	})
}
