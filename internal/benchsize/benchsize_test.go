package benchsize_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/nftsync/nftsync/internal/benchsize"
)

func TestPick(t *testing.T) {
	t.Setenv(benchsize.Env, "quick")
	require.Equal(t, 10, benchsize.Pick(t, 10, 1000))
	t.Setenv(benchsize.Env, "full")
	require.Equal(t, 1000, benchsize.Pick(t, 10, 1000))
	t.Setenv(benchsize.Env, "")
	require.Equal(t, "big", benchsize.Pick(t, "toy", "big"))
}
