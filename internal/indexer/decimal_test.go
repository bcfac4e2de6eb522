package indexer

import (
	"math/big"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestCanonicalDecimal(t *testing.T) {
	t.Parallel()

	for _, tc := range []struct {
		lit      string
		negative bool
		want     string
		wantErr  error
	}{
		{lit: "0", want: "0"},
		{lit: "-0", want: "0"},
		{lit: "0.000", want: "0"},
		{lit: "0e10", want: "0"},
		{lit: "11.25", want: "11.25"},
		{lit: "11.250", want: "11.25"},
		{lit: "1523456.78", want: "1523456.78"},
		{lit: "100", want: "100"},
		{lit: "1.0", want: "1"},
		{lit: "1e-05", want: "0.00001"},
		{lit: "1E-5", want: "0.00001"},
		{lit: "1.5e3", want: "1500"},
		{lit: "1.5E+3", want: "1500"},
		{lit: "12.345e1", want: "123.45"},
		{lit: "12.345e-1", want: "1.2345"},
		{lit: "0.1e1", want: "1"},
		{lit: "0.30000000000000004", want: "0.30000000000000004"},
		{lit: "1e99", want: "1" + strings.Repeat("0", 99)},
		{lit: "1e100", wantErr: ErrOutOfRange}, // 101 integer digits
		{lit: "1e-100", want: "0." + strings.Repeat("0", 99) + "1"},
		{lit: "1e0000000000000000000002", want: "100"}, // leading zeros in the exponent are bounded after trimming
		{lit: "-3", negative: true, want: "-3"},
		{lit: "-1e-2", negative: true, want: "-0.01"},
		{lit: "-3", wantErr: ErrNegative},
		{lit: "-0.5", wantErr: ErrNegative},
		{lit: "1e101", wantErr: ErrOutOfRange},
		{lit: "1e-101", wantErr: ErrOutOfRange},
		{lit: "1e400", wantErr: ErrOutOfRange},
		{lit: "1e9999999", wantErr: ErrNotNumber}, // exponent too long to even parse
		{lit: "", wantErr: ErrNotNumber},
		{lit: "NaN", wantErr: ErrNotNumber},
		{lit: "Infinity", wantErr: ErrNotNumber},
		{lit: "-Infinity", wantErr: ErrNotNumber},
		{lit: "+1", wantErr: ErrNotNumber},
		{lit: "01", wantErr: ErrNotNumber},
		{lit: "012", wantErr: ErrNotNumber},
		{lit: ".5", wantErr: ErrNotNumber},
		{lit: "5.", wantErr: ErrNotNumber},
		{lit: "1e", wantErr: ErrNotNumber},
		{lit: "1e+", wantErr: ErrNotNumber},
		{lit: " 1", wantErr: ErrNotNumber},
		{lit: "1 ", wantErr: ErrNotNumber},
		{lit: "0x10", wantErr: ErrNotNumber},
		{lit: "1_000", wantErr: ErrNotNumber},
		{lit: "-", wantErr: ErrNotNumber},
	} {
		got, err := CanonicalDecimal(tc.lit, tc.negative)
		if tc.wantErr != nil {
			require.ErrorIs(t, err, tc.wantErr, "lit %q", tc.lit)
			continue
		}
		require.NoError(t, err, "lit %q", tc.lit)
		require.Equal(t, tc.want, got, "lit %q", tc.lit)
	}
}

// FuzzCanonicalDecimal checks that accepted literals keep their exact value,
// come out in canonical form, and that canonicalisation is idempotent.
func FuzzCanonicalDecimal(f *testing.F) {
	for _, s := range []string{"0", "-0", "11.25", "1e-05", "1.5E+3", "-3.000", "1e100", "01", "NaN", "1e999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, lit string) {
		got, err := CanonicalDecimal(lit, true)
		if err != nil {
			return
		}
		want, ok := new(big.Rat).SetString(lit)
		require.True(t, ok, "accepted %q that big.Rat rejects", lit)
		have, ok := new(big.Rat).SetString(got)
		require.True(t, ok, "produced unparseable %q from %q", got, lit)
		require.Zero(t, want.Cmp(have), "%q → %q changes the value", lit, got)

		require.NotContains(t, got, "e")
		require.NotContains(t, got, "E")
		require.False(t, strings.HasSuffix(got, "."), got)
		if strings.Contains(got, ".") {
			require.False(t, strings.HasSuffix(got, "0"), got)
		}
		again, err := CanonicalDecimal(got, true)
		require.NoError(t, err)
		require.Equal(t, got, again)
	})
}
