package opensea

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestParseRetryAfter(t *testing.T) {
	t.Parallel()

	now := testNow()
	for _, tc := range []struct {
		value  string
		want   time.Duration
		wantOK bool
	}{
		{"", 0, false},
		{"0", 0, true},
		{" 12 ", 12 * time.Second, true},
		{"300", MaxRetryAfter, true},
		{"301", MaxRetryAfter, true},
		{"99999999999999999999", 0, false}, // overflows int64, not a date either
		{"-1", 0, false},
		{"1.5", 0, false},
		{"soon", 0, false},
		{now.Add(30 * time.Second).Format(http.TimeFormat), 30 * time.Second, true},
		{now.Add(30 * time.Second).Format(time.RFC850), 30 * time.Second, true},
		{now.Add(30 * time.Second).Format(time.ANSIC), 30 * time.Second, true},
		{now.Add(-30 * time.Second).Format(http.TimeFormat), 0, true},
		{now.Add(24 * time.Hour).Format(http.TimeFormat), MaxRetryAfter, true},
	} {
		got, ok := ParseRetryAfter(tc.value, now)
		require.Equal(t, tc.wantOK, ok, "value %q", tc.value)
		require.Equal(t, tc.want, got, "value %q", tc.value)
	}
}

func TestParseCount(t *testing.T) {
	t.Parallel()

	require.Equal(t, int64(60), parseCount("60"))
	require.Equal(t, int64(0), parseCount(" 0 "))
	require.Equal(t, int64(-1), parseCount(""))
	require.Equal(t, int64(-1), parseCount("-5"))
	require.Equal(t, int64(-1), parseCount("many"))
}

// TestParseResponseInfoMalformed: rate-limit headers that are present but
// not understood read as absent and are named in Malformed, so the limiter
// can ignore them loudly instead of silently.
func TestParseResponseInfoMalformed(t *testing.T) {
	t.Parallel()

	now := testNow()
	resp := &http.Response{StatusCode: 200, Header: http.Header{}}
	resp.Header.Set("X-RateLimit-Limit", "sixty")
	resp.Header.Set("X-RateLimit-Remaining", "-3")
	resp.Header.Set("X-RateLimit-Reset", "soon")
	resp.Header.Set("Retry-After", "later")
	info := parseResponseInfo("stats x", resp, now, 0)
	require.Equal(t, int64(-1), info.Limit)
	require.Equal(t, int64(-1), info.Remaining)
	require.True(t, info.Reset.IsZero())
	require.Zero(t, info.RetryAfter)
	require.ElementsMatch(t, []string{
		`X-RateLimit-Limit: "sixty"`, `X-RateLimit-Remaining: "-3"`, `X-RateLimit-Reset: "soon"`, `Retry-After: "later"`,
	}, info.Malformed)

	resp.Header = http.Header{}
	resp.Header.Set("X-RateLimit-Limit", "60")
	resp.Header.Set("X-RateLimit-Remaining", "0")
	resp.Header.Set("X-RateLimit-Reset", "1765000060")
	resp.Header.Set("Retry-After", "0")
	info = parseResponseInfo("stats x", resp, now, 0)
	require.Empty(t, info.Malformed, "well-formed headers, and none at all, are not reported")
	require.Equal(t, int64(60), info.Limit)
	require.Equal(t, time.Unix(1765000060, 0).UTC(), info.Reset)
	require.Empty(t, parseResponseInfo("stats x", &http.Response{StatusCode: 200, Header: http.Header{}}, now, 0).Malformed)
}
