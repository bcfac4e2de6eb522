package rarity

import (
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestStrTable(t *testing.T) {
	t.Parallel()
	tab := newStrTable()
	for i := range 5000 {
		s := strconv.Itoa(i)
		_, ok := tab.get(s)
		require.False(t, ok)
		tab.put(s, int32(i*3))
	}
	tab.put("", -1)
	for i := range 5000 {
		v, ok := tab.get(strconv.Itoa(i))
		require.True(t, ok)
		require.Equal(t, int32(i*3), v)
	}
	v, ok := tab.get("")
	require.True(t, ok)
	require.Equal(t, int32(-1), v)
	_, ok = tab.get("5000")
	require.False(t, ok)
}
