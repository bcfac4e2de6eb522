package cli

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"
)

// TestOneLineKeepsCharactersWhole: a job's args or error cut for the table
// stay valid UTF-8 on one line, however the bound falls.
func TestOneLineKeepsCharactersWhole(t *testing.T) {
	t.Parallel()
	s := "line one\n" + strings.Repeat("é", 40)
	for n := 1; n <= 60; n++ {
		got := oneLine(s, n)
		require.True(t, utf8.ValidString(got), "n=%d: %q", n, got)
		require.LessOrEqual(t, len(got), n)
		require.NotContains(t, got, "\n")
	}
	require.Equal(t, "short", oneLine("short", 60))
}
