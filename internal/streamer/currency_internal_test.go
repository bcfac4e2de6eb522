package streamer

import (
	"testing"

	"github.com/jackc/pgx/v5/pgtype"
	"github.com/stretchr/testify/require"
)

func TestFloorCurrency(t *testing.T) {
	t.Parallel()
	text := func(s string) pgtype.Text { return pgtype.Text{String: s, Valid: true} }
	dec := func(n int16) pgtype.Int2 { return pgtype.Int2{Int16: n, Valid: true} }
	for _, tc := range []struct {
		name     string
		chain    string
		polled   pgtype.Text
		decimals pgtype.Int2
		want     string
		wantDec  int32
	}{
		{"polled floor wins over the chain", "ethereum", text("POL"), dec(18), "POL", 18},
		{"polled decimals kept", "polygon", text("USDC"), dec(6), "USDC", 6},
		{"never polled: the chain's native currency", "polygon", pgtype.Text{}, pgtype.Int2{}, "POL", 18},
		{"never polled on Solana", "solana", pgtype.Text{}, pgtype.Int2{}, "SOL", 9},
		{"never polled on Ethereum", "ethereum", pgtype.Text{}, pgtype.Int2{}, "ETH", 18},
		{"unknown chain: the fallback", "some-new-chain", pgtype.Text{}, pgtype.Int2{}, "ETH", 18},
		{"a polled row without decimals is not trusted", "polygon", text("WETH"), pgtype.Int2{}, "POL", 18},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cur, d := floorCurrency(tc.chain, tc.polled, tc.decimals, "ETH")
			require.Equal(t, tc.want, cur)
			require.Equal(t, tc.wantDec, d)
		})
	}
}
