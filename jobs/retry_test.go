package jobs_test

import (
	"testing"
	"time"

	"github.com/riverqueue/river/rivertype"
	"github.com/stretchr/testify/require"

	"github.com/nftsync/nftsync/jobs"
)

func TestRetryPolicy(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	p := &jobs.RetryPolicy{Base: time.Second, Max: 20 * time.Second, Now: func() time.Time { return now }}
	for errs, want := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second, 20 * time.Second, 20 * time.Second} {
		job := &rivertype.JobRow{Errors: make([]rivertype.AttemptError, errs)}
		for range 50 {
			d := p.NextRetry(job).Sub(now)
			require.GreaterOrEqual(t, d, want*3/4, "errors=%d", errs)
			require.LessOrEqual(t, d, want*5/4, "errors=%d", errs)
		}
	}
}
