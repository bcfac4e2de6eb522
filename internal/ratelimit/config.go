package ratelimit

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// DefaultBulkReserve is a sensible BucketConfig.BulkReserve: bulk requests
// leave 30% of the burst (and of the in-flight slots) to live ones.
const DefaultBulkReserve = 0.3

// BucketConfig configures one bucket.
type BucketConfig struct {
	// Key identifies the bucket, e.g. "opensea" or KeyFor("opensea", apiKey).
	// Never put an API key itself here: keys are stored and logged.
	Key string
	// Source is the upstream the bucket belongs to ("opensea"); Acquire
	// pools every bucket of a source.
	Source string
	// Rate is the sustained rate in requests per second (see ParseRate).
	Rate float64
	// Burst is the bucket capacity, at least 1: how many requests may start
	// back to back after a quiet period. In any window of length T at most
	// Burst + Rate×T requests start.
	Burst int
	// MaxInFlight caps the requests in flight at once across all replicas;
	// 0 means no cap.
	MaxInFlight int
	// BulkReserve, in [0, 1), is the fraction of Burst (and of MaxInFlight)
	// that ClassBulk requests leave for live and priority ones. With Burst 1
	// there is nothing to reserve; use Burst ≥ 2 for the reserve to matter.
	BulkReserve float64
}

// Validate reports what is wrong with c, naming the bucket.
func (c BucketConfig) Validate() error {
	var errs []error
	if c.Key == "" {
		errs = append(errs, errors.New("key is empty"))
	}
	if c.Source == "" {
		errs = append(errs, errors.New("source is empty"))
	}
	if !(c.Rate > 0) || math.IsInf(c.Rate, 0) {
		errs = append(errs, fmt.Errorf("rate must be a positive number of requests per second, got %v", c.Rate))
	}
	if c.Burst < 1 {
		errs = append(errs, fmt.Errorf("burst must be at least 1, got %d", c.Burst))
	}
	if c.MaxInFlight < 0 || c.MaxInFlight > math.MaxInt32 {
		errs = append(errs, fmt.Errorf("max in flight must be 0 (no cap) or positive, got %d", c.MaxInFlight))
	}
	if !(c.BulkReserve >= 0 && c.BulkReserve < 1) {
		errs = append(errs, fmt.Errorf("bulk reserve must be in [0, 1), got %v", c.BulkReserve))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("ratelimit: bucket %q: %w", c.Key, err)
	}
	return nil
}

// KeyFor returns the bucket key for a source and API key: the source alone
// when apiKey is empty, else "source/key-" and the first 12 hex digits of the
// key's SHA-256. Only this digest is ever stored or logged.
func KeyFor(source, apiKey string) string {
	if apiKey == "" {
		return source
	}
	sum := sha256.Sum256([]byte(apiKey))
	return source + "/key-" + hex.EncodeToString(sum[:6])
}

// ParseRate parses a rate such as "4/s", "240/m", "600/h" or "1/2s" and
// returns it in requests per second. The unit after the slash is s, sec,
// second, m, min, minute, h, hr, hour or any positive Go duration ("500ms",
// "10s"); a bare number ("4") is per second. The count must be a positive
// finite number. Errors quote the input and show the expected form.
func ParseRate(s string) (float64, error) {
	bad := func(why string) error {
		return fmt.Errorf("ratelimit: rate %q: %s (want N/s, N/m, N/h or N/<duration>, e.g. 4/s or 240/m)", s, why)
	}
	num, unit, hasUnit := strings.Cut(strings.TrimSpace(s), "/")
	num = strings.TrimSpace(num)
	if num == "" {
		return 0, bad("missing count")
	}
	n, err := strconv.ParseFloat(num, 64)
	if err != nil {
		return 0, bad("count is not a number")
	}
	if !(n > 0) || math.IsInf(n, 0) {
		return 0, bad("count must be positive and finite")
	}
	per := time.Second
	if hasUnit {
		unit = strings.ToLower(strings.TrimSpace(unit))
		switch unit {
		case "s", "sec", "second":
			per = time.Second
		case "m", "min", "minute":
			per = time.Minute
		case "h", "hr", "hour":
			per = time.Hour
		case "":
			return 0, bad("missing unit after /")
		default:
			d, err := time.ParseDuration(unit)
			if err != nil {
				return 0, bad("unknown unit " + strconv.Quote(unit))
			}
			if d <= 0 {
				return 0, bad("duration must be positive")
			}
			per = d
		}
	}
	return n / per.Seconds(), nil
}
