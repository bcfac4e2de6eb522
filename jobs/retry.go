package jobs

import (
	"math/rand/v2"
	"time"

	"github.com/riverqueue/river/rivertype"
)

// RetryPolicy is the client retry policy: exponential backoff from Base
// after the first failure, doubling with every further one, capped at Max, with ±25%
// jitter so that jobs failing together (an upstream outage) do not come back
// together. Snoozes are not errors and do not grow the backoff.
type RetryPolicy struct {
	Base time.Duration // first retry delay; 0 means 1s
	Max  time.Duration // longest delay; 0 means 5m
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// NextRetry implements river.ClientRetryPolicy.
func (p *RetryPolicy) NextRetry(job *rivertype.JobRow) time.Time {
	base, maxDelay := p.Base, p.Max
	if base <= 0 {
		base = time.Second
	}
	if maxDelay <= 0 {
		maxDelay = 5 * time.Minute
	}
	// River hands over the row before the current error is appended, so
	// len(job.Errors) is the number of earlier failures.
	d := base
	for i := 0; i < len(job.Errors) && d < maxDelay; i++ {
		d *= 2
	}
	d = min(d, maxDelay)
	jitter := time.Duration((rand.Float64() - 0.5) * 0.5 * float64(d))
	now := time.Now
	if p.Now != nil {
		now = p.Now
	}
	return now().Add(d + jitter)
}
