package ratelimit_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/nftsync/nftsync/internal/ratelimit"
)

func TestParseRate(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		want float64
	}{
		{"4/s", 4},
		{"4", 4},
		{" 4 / s ", 4},
		{"240/m", 4},
		{"240/min", 4},
		{"600/h", 600.0 / 3600},
		{"60/minute", 1},
		{"0.5/sec", 0.5},
		{"1/2s", 0.5},
		{"10/500ms", 20},
		{"3/S", 3},
	} {
		got, err := ratelimit.ParseRate(tc.in)
		require.NoError(t, err, tc.in)
		require.InDelta(t, tc.want, got, 1e-12, tc.in)
	}
	for _, tc := range []struct{ in, msg string }{
		{"", "missing count"},
		{"/s", "missing count"},
		{"four/s", "not a number"},
		{"0/s", "positive"},
		{"-1/s", "positive"},
		{"NaN/s", "positive"},
		{"Inf/s", "positive"},
		{"4/", "missing unit"},
		{"4/fortnight", `unknown unit "fortnight"`},
		{"4/0s", "duration must be positive"},
		{"4/-1s", "duration must be positive"},
	} {
		_, err := ratelimit.ParseRate(tc.in)
		require.Error(t, err, tc.in)
		require.ErrorContains(t, err, tc.msg, tc.in)
		require.ErrorContains(t, err, "4/s or 240/m", "errors show the expected form")
	}
}

func TestKeyFor(t *testing.T) {
	t.Parallel()
	require.Equal(t, "opensea", ratelimit.KeyFor("opensea", ""))
	k1 := ratelimit.KeyFor("opensea", "secret-key-1")
	k2 := ratelimit.KeyFor("opensea", "secret-key-2")
	require.Regexp(t, `^opensea/key-[0-9a-f]{12}$`, k1)
	require.NotEqual(t, k1, k2)
	require.Equal(t, k1, ratelimit.KeyFor("opensea", "secret-key-1"), "stable across replicas")
	require.NotContains(t, k1, "secret")
}

func TestClassContext(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	require.Equal(t, ratelimit.ClassLive, ratelimit.ClassFrom(ctx), "default")
	require.Equal(t, ratelimit.ClassBulk, ratelimit.ClassFrom(ratelimit.WithClass(ctx, ratelimit.ClassBulk)))
	require.Equal(t, ratelimit.ClassPriority, ratelimit.ClassFrom(ratelimit.WithClass(ctx, ratelimit.ClassPriority)))
	require.Equal(t, "live", ratelimit.ClassLive.String())
	require.Equal(t, "priority", ratelimit.ClassPriority.String())
	require.Equal(t, "bulk", ratelimit.ClassBulk.String())
	require.Equal(t, "class(9)", ratelimit.Class(9).String())
}

func TestBucketConfigValidate(t *testing.T) {
	t.Parallel()
	ok := ratelimit.BucketConfig{Key: "opensea", Source: "opensea", Rate: 4, Burst: 4, MaxInFlight: 8, BulkReserve: 0.3}
	require.NoError(t, ok.Validate())

	bad := ratelimit.BucketConfig{Key: "x", Rate: 0, Burst: 0, MaxInFlight: -1, BulkReserve: 1}
	err := bad.Validate()
	require.Error(t, err)
	for _, want := range []string{`bucket "x"`, "source is empty", "rate must be", "burst must be", "max in flight", "bulk reserve"} {
		require.ErrorContains(t, err, want)
	}
	require.ErrorContains(t, ratelimit.BucketConfig{Source: "s", Rate: 1, Burst: 1}.Validate(), "key is empty")
}
