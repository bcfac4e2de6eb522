package opensea

import (
	"context"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/nftsync/nftsync/internal/indexer"
)

func TestStats(t *testing.T) {
	t.Parallel()

	ctx := context.Background()

	t.Run("DecodesFixtureExactly", func(t *testing.T) {
		t.Parallel()

		var gotPath, gotKey string
		serve := serveFixture(t, http.StatusOK, "stats.json", nil)
		srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
			gotPath, gotKey = r.URL.RequestURI(), r.Header.Get("X-API-KEY")
			serve(w, r)
		})
		st, err := newTestClient(t, srv.URL, Options{}).Stats(ctx, "example-apes")
		require.NoError(t, err)
		require.Equal(t, "/api/v2/collections/example-apes/stats", gotPath)
		require.Equal(t, testAPIKey, gotKey)

		eth := func(amount string) indexer.Money {
			return indexer.Money{Amount: amount, Currency: "ETH", Decimals: 18}
		}
		require.Equal(t, &indexer.Stats{
			Floor: ptr(eth("11.25")),
			Volumes: []indexer.Volume{ // fixed order; one_hour ignored
				{Window: indexer.Window1d, Amount: eth("210.4"), Sales: 17},
				{Window: indexer.Window7d, Amount: eth("1432.9"), Sales: 118},
				{Window: indexer.Window30d, Amount: eth("6021.7"), Sales: 503},
				{Window: indexer.WindowAll, Amount: eth("1523456.78"), Sales: 48210},
			},
			Owners:    5632,
			Sales:     48210,
			FetchedAt: testNow(),
		}, st)
	})

	t.Run("ZeroFloorIsNoFloorEvenWithSales", func(t *testing.T) {
		t.Parallel()

		srv := newServer(t, serveFixture(t, http.StatusOK, "stats_zero_floor.json", nil))
		st, err := newTestClient(t, srv.URL, Options{}).Stats(ctx, "example-apes")
		require.NoError(t, err)
		require.Nil(t, st.Floor)
		require.Equal(t, int64(40), st.Sales)
		// No symbol: the volume currency is unknown.
		require.Equal(t, []indexer.Volume{
			{Window: indexer.WindowAll, Amount: indexer.Money{Amount: "12.5"}, Sales: 40},
		}, st.Volumes)
	})

	t.Run("ExponentsBecomePlainDecimals", func(t *testing.T) {
		t.Parallel()

		srv := newServer(t, serveFixture(t, http.StatusOK, "stats_exponent.json", nil))
		st, err := newTestClient(t, srv.URL, Options{}).Stats(ctx, "example-apes")
		require.NoError(t, err)
		sol := func(amount string) indexer.Money {
			return indexer.Money{Amount: amount, Currency: "SOL", Decimals: 9}
		}
		require.Equal(t, ptr(sol("0.00001")), st.Floor)
		require.Equal(t, []indexer.Volume{
			{Window: indexer.Window1d, Amount: sol("0"), Sales: 0},
			{Window: indexer.WindowAll, Amount: sol("1500"), Sales: 3},
		}, st.Volumes)
	})

	t.Run("MalformedFixtures", func(t *testing.T) {
		t.Parallel()

		for _, tc := range []struct {
			fixture string
			wantMsg string
		}{
			{"truncated.json", "truncated JSON"},
			{"wrong_types.json", "field total.sales: want integer, got JSON string"},
			{"negative_floor.json", `field total.floor_price: invalid amount "-1.5": negative`},
			{"nan_floor_string.json", `field total.floor_price: want number, got JSON string "NaN"`},
			{"nan_floor_bare.json", "invalid JSON at byte"},
			{"infinity_volume.json", "invalid JSON at byte"},
			{"huge_floor.json", `field total.floor_price: invalid amount "1e400": out of range`},
			{"negative_interval_volume.json", `field intervals[0] (seven_day).volume: invalid amount "-0.01": negative`},
			{"floor_without_symbol.json", "field total.floor_price_symbol: required for non-zero floor 11.25"},
			{"duplicate_interval.json", "field intervals[1] (one_day): duplicate interval"},
			{"missing_total.json", "field total: required"},
			{"trailing_garbage.json", "trailing data after JSON value"},
			{"collection_is_array.json", "field body: want object, got JSON array"},
		} {
			t.Run(tc.fixture, func(t *testing.T) {
				t.Parallel()

				srv := newServer(t, serveFixture(t, http.StatusOK, tc.fixture, nil))
				st, err := newTestClient(t, srv.URL, Options{}).Stats(ctx, "example-apes")
				require.Nil(t, st)
				ie := requireClass(t, err, indexer.ClassMalformed)
				require.Equal(t, "stats example-apes", ie.Op)
				require.Equal(t, http.StatusOK, ie.Status)
				require.Contains(t, err.Error(), "decode stats example-apes: ")
				require.Contains(t, err.Error(), tc.wantMsg)
			})
		}
	})

	t.Run("EscapesSlug", func(t *testing.T) {
		t.Parallel()

		var gotURI string
		serve := serveFixture(t, http.StatusOK, "stats.json", nil)
		srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
			gotURI = r.RequestURI
			serve(w, r)
		})
		_, err := newTestClient(t, srv.URL, Options{}).Stats(ctx, "a/b c?d#e%")
		require.NoError(t, err)
		require.Equal(t, "/api/v2/collections/a%2Fb%20c%3Fd%23e%25/stats", gotURI)
	})
}

func TestMoneyAmount(t *testing.T) {
	t.Parallel()

	for _, tc := range []struct {
		raw      string
		required bool
		want     string
		wantErr  string
	}{
		{raw: "11.25", want: "11.25"},
		{raw: "1523456.78", want: "1523456.78"},
		{raw: "1e-05", want: "0.00001"},
		{raw: "0", want: "0"},
		{raw: "-0.0", want: "0"},
		{raw: "", want: ""},
		{raw: "null", want: ""},
		{raw: "", required: true, wantErr: "field f: required"},
		{raw: "null", required: true, wantErr: "field f: required"},
		{raw: `"11.25"`, wantErr: `field f: want number, got JSON string "11.25"`},
		{raw: "true", wantErr: "want number, got JSON bool"},
		{raw: "{}", wantErr: "want number, got JSON object"},
		{raw: "-2", wantErr: `invalid amount "-2": negative`},
		{raw: "1e101", wantErr: "out of range"},
	} {
		got, err := moneyAmount([]byte(tc.raw), "f", tc.required)
		if tc.wantErr != "" {
			require.ErrorContains(t, err, tc.wantErr, "raw %q", tc.raw)
			continue
		}
		require.NoError(t, err, "raw %q", tc.raw)
		require.Equal(t, tc.want, got, "raw %q", tc.raw)
	}
}
