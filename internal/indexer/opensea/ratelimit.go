package opensea

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/nftsync/nftsync/internal/clip"
)

// MaxRetryAfter caps every wait the client derives from Retry-After or
// X-RateLimit-Reset, as the official SDK does. A server asking for an hour
// is more likely confused than serious, and a worker must not sleep on it.
const MaxRetryAfter = 5 * time.Minute

// resetDeltaThreshold separates the two spellings of X-RateLimit-Reset seen
// across APIs: OpenSea documents a Unix epoch, but values this small cannot
// be a current epoch (they predate 2001), so they are read as seconds from
// now instead.
const resetDeltaThreshold = 1_000_000_000

// ResponseInfo is what Options.Observe learns about each HTTP response,
// successful or not. It is meant for a shared rate limiter.
type ResponseInfo struct {
	// Op is the operation, e.g. "stats example-apes".
	Op string
	// Status is the HTTP status code.
	Status int
	// RetryAfter is the parsed Retry-After header (integer seconds or an
	// HTTP-date relative to Options.Now), capped at MaxRetryAfter; 0 when
	// the header is absent, unparseable or in the past.
	RetryAfter time.Duration
	// Limit and Remaining are X-RateLimit-Limit and X-RateLimit-Remaining;
	// -1 when the header is absent or not a non-negative integer.
	Limit     int64
	Remaining int64
	// Reset is X-RateLimit-Reset as an absolute time; zero when absent or
	// unparseable.
	Reset time.Time
	// Elapsed is the time from sending the request to receiving headers.
	Elapsed time.Duration
	// Malformed quotes each rate-limit header that was present but not
	// understood, as `Name: "value"` (value clipped); its field above is
	// then -1 or zero, as if absent.
	Malformed []string
}

// parseResponseInfo reads the rate-limit headers of resp relative to now.
func parseResponseInfo(op string, resp *http.Response, now time.Time, elapsed time.Duration) ResponseInfo {
	h := resp.Header
	info := ResponseInfo{
		Op:        op,
		Status:    resp.StatusCode,
		Limit:     parseCount(h.Get("X-RateLimit-Limit")),
		Remaining: parseCount(h.Get("X-RateLimit-Remaining")),
		Elapsed:   elapsed,
	}
	if d, ok := ParseRetryAfter(h.Get("Retry-After"), now); ok {
		info.RetryAfter = d
	}
	reset := strings.TrimSpace(h.Get("X-RateLimit-Reset"))
	if v, err := strconv.ParseInt(reset, 10, 64); err == nil && v >= 0 {
		if v < resetDeltaThreshold {
			info.Reset = now.Add(time.Duration(v) * time.Second)
		} else {
			info.Reset = time.Unix(v, 0).UTC()
		}
	} else if reset != "" {
		info.Malformed = append(info.Malformed, quoteHeader("X-RateLimit-Reset", reset))
	}
	for _, c := range []struct {
		name string
		got  int64
	}{{"X-RateLimit-Limit", info.Limit}, {"X-RateLimit-Remaining", info.Remaining}} {
		if v := h.Get(c.name); c.got < 0 && strings.TrimSpace(v) != "" {
			info.Malformed = append(info.Malformed, quoteHeader(c.name, v))
		}
	}
	if v := h.Get("Retry-After"); info.RetryAfter == 0 && strings.TrimSpace(v) != "" {
		if _, ok := ParseRetryAfter(v, now); !ok {
			info.Malformed = append(info.Malformed, quoteHeader("Retry-After", v))
		}
	}
	return info
}

// quoteHeader renders a header for a log line, its value clipped.
func quoteHeader(name, value string) string {
	return name + ": " + strconv.Quote(clip.Text(value, 64))
}

// rateLimitWait is the wait a rate-limited response asks for: Retry-After
// when present, else the time until X-RateLimit-Reset when
// X-RateLimit-Remaining is 0, else 0 (unknown). Capped at MaxRetryAfter.
func rateLimitWait(info ResponseInfo, retryAfter string, now time.Time) time.Duration {
	if d, ok := ParseRetryAfter(retryAfter, now); ok {
		return d
	}
	if info.Remaining == 0 && !info.Reset.IsZero() {
		return capWait(info.Reset.Sub(now))
	}
	return 0
}

// ParseRetryAfter parses a Retry-After value: non-negative integer seconds
// or an HTTP-date (RFC 9110 §10.2.3), the latter relative to now; the wait
// is capped at MaxRetryAfter, and a date in the past is 0. ok is false when
// the value is empty or unparseable.
func ParseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs < 0 {
			return 0, false
		}
		if secs > int64(MaxRetryAfter/time.Second) {
			return MaxRetryAfter, true
		}
		return time.Duration(secs) * time.Second, true
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	return capWait(t.Sub(now)), true
}

// capWait clamps d into [0, MaxRetryAfter].
func capWait(d time.Duration) time.Duration {
	return min(max(d, 0), MaxRetryAfter)
}

// parseCount parses a non-negative integer header, -1 when absent or bad.
func parseCount(v string) int64 {
	n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	if err != nil || n < 0 {
		return -1
	}
	return n
}
