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

	"github.com/jackc/pgx/v5/pgtype"
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
	// Adaptive makes the bucket take its rate and burst from the budget its
	// key reports in rate-limit headers (Observe): X-RateLimit-Limit requests
	// per window, the window read from X-RateLimit-Reset. Rate and Burst are
	// then upper caps (0: none). Until the key's first answer the bucket
	// runs at its caps, or at StartRate with a burst of 1 when none is given.
	// The adopted budget lives in the bucket row, so every replica uses it at
	// once and a restarted one keeps it.
	Adaptive bool
}

// StartRate is an adaptive bucket's rate, in requests per second, before its
// key reported a budget: conservative enough for any documented tier.
const StartRate = 1.0

// start returns the rate and burst a bucket runs at before any answer and
// the caps stored with it (not valid: none). A fixed bucket runs at its own. An
// adaptive one runs at its caps when given (the operator vouched for them)
// and otherwise at StartRate with a burst of 1.
func (c BucketConfig) start() (rate, burst float64, rateCap, burstCap pgtype.Float8) {
	if !c.Adaptive {
		return c.Rate, float64(c.Burst), rateCap, burstCap
	}
	rate, burst = StartRate, 1
	if c.Rate > 0 {
		rate = c.Rate
		rateCap = pgtype.Float8{Float64: rate, Valid: true}
	}
	if c.Burst > 0 {
		burst = float64(c.Burst)
		burstCap = pgtype.Float8{Float64: burst, Valid: true}
	}
	return rate, burst, rateCap, burstCap
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
	switch {
	case c.Adaptive:
		if !(c.Rate >= 0) || math.IsInf(c.Rate, 0) {
			errs = append(errs, fmt.Errorf("rate cap must be 0 (none) or a positive number of requests per second, got %v", c.Rate))
		}
		if c.Burst < 0 {
			errs = append(errs, fmt.Errorf("burst cap must be 0 (none) or at least 1, got %d", c.Burst))
		}
	default:
		if !(c.Rate > 0) || math.IsInf(c.Rate, 0) {
			errs = append(errs, fmt.Errorf("rate must be a positive number of requests per second, got %v", c.Rate))
		}
		if c.Burst < 1 {
			errs = append(errs, fmt.Errorf("burst must be at least 1, got %d", c.Burst))
		}
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
