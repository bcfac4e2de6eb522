package ratelimit

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestWindowSeconds: the time to a reset in whole seconds, rounded up, and a
// reset the server rounded up past a round window counts as that window.
func TestWindowSeconds(t *testing.T) {
	t.Parallel()
	for in, want := range map[time.Duration]float64{
		2 * time.Second:            2,
		2500 * time.Millisecond:    3,
		59400 * time.Millisecond:   60,
		60 * time.Second:           60,
		60600 * time.Millisecond:   60, // 60 s window, reset rounded up
		61 * time.Second:           60,
		61100 * time.Millisecond:   62,
		10400 * time.Millisecond:   10,
		3600*time.Second + 300*1e6: 3600,
		6 * time.Second:            6, // too short to call it rounding
		11 * time.Second:           10,
		6100 * time.Millisecond:    7,
	} {
		require.Equal(t, want, windowSeconds(in), "%s", in)
	}
}
