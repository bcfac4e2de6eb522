package metrics

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/nftsync/nftsync/db"
	"github.com/nftsync/nftsync/internal/ratelimit"
)

// Metrics holds nftsync's series and the registry they are exposed from.
// Workers and the API each build one (New) and serve Registry.
type Metrics struct {
	Registry *prometheus.Registry

	jobs        *prometheus.CounterVec
	jobDuration *prometheus.HistogramVec
	upstream    *prometheus.CounterVec
	noKey       *prometheus.CounterVec
	apiRequests *prometheus.CounterVec
	apiDuration *prometheus.HistogramVec
	limitWait   *prometheus.HistogramVec
	limitGiveUp *prometheus.CounterVec

	streamOnce sync.Once
	stream     *Stream
}

// New returns a registry with the Go runtime and process collectors and
// nftsync's own series.
func New() *Metrics {
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		jobs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "nftsync_jobs_total",
			Help: "Jobs worked by this process, by kind, queue and outcome (completed, error, cancelled, snoozed).",
		}, []string{"kind", "queue", "outcome"}),
		jobDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "nftsync_job_duration_seconds",
			Help: "Time spent working a job, by kind and outcome (compute_rarity is the rarity run duration).",
			// 5 ms .. ~5.5 min
			Buckets: prometheus.ExponentialBuckets(0.005, 2.5, 13),
		}, []string{"kind", "outcome"}),
		upstream: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "nftsync_upstream_requests_total",
			Help: "Upstream HTTP responses by source, endpoint and status code.",
		}, []string{"source", "endpoint", "status"}),
		noKey: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "nftsync_upstream_no_usable_key_total",
			Help: "Times a rejected API key left a source without a usable key (once per pause).",
		}, []string{"source"}),
		apiRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "nftsync_api_requests_total",
			Help: "GraphQL requests answered by this process, by operation (type and root fields, e.g. \"query collection,tokens\") and status (ok, or the first error's code).",
		}, []string{"operation", "status"}),
		apiDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "nftsync_api_request_duration_seconds",
			Help: "Time to answer a GraphQL request, by operation and status.",
			// 1 ms .. ~10 s
			Buckets: prometheus.ExponentialBuckets(0.001, 2.5, 11),
		}, []string{"operation", "status"}),
	}
	m.limitWait = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "nftsync_limiter_wait_seconds",
		Help: "Time a granted upstream request waited for the shared limiter, by source, bucket (key digest, never the key) and class.",
		// 0 (no wait) .. ~41 s
		Buckets: append([]float64{0}, prometheus.ExponentialBuckets(0.005, 2.5, 11)...),
	}, []string{"source", "key", "class"})
	m.limitGiveUp = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "nftsync_limiter_snoozes_total",
		Help: "Requests that got no budget within the limiter's max wait, so their job snoozed, by source, class and reason (tokens, paused, priority_hold, in_flight).",
	}, []string{"source", "class", "reason"})
	m.Registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.jobs, m.jobDuration, m.upstream, m.noKey, m.apiRequests, m.apiDuration, m.limitWait, m.limitGiveUp)
	return m
}

// Outcome names what a job's Work result means for River.
func Outcome(err error) string {
	var cancel *rivertype.JobCancelError
	var snooze *rivertype.JobSnoozeError
	switch {
	case err == nil:
		return "completed"
	case errors.As(err, &snooze):
		return "snoozed"
	case errors.As(err, &cancel):
		return "cancelled"
	default:
		return "error"
	}
}

// jobMiddleware counts and times every job a River client works.
type jobMiddleware struct {
	river.MiddlewareDefaults
	m *Metrics
}

// Work times doInner (argument decoding and the worker) and records the
// outcome.
func (j *jobMiddleware) Work(ctx context.Context, job *rivertype.JobRow, doInner func(context.Context) error) error {
	start := time.Now()
	err := doInner(ctx)
	outcome := Outcome(err)
	j.m.jobs.WithLabelValues(job.Kind, job.Queue, outcome).Inc()
	j.m.jobDuration.WithLabelValues(job.Kind, outcome).Observe(time.Since(start).Seconds())
	return err
}

// Middleware returns the River worker middleware that records jobs; add it
// to river.Config.Middleware.
func (m *Metrics) Middleware() rivertype.Middleware { return &jobMiddleware{m: m} }

// ObserveUpstream counts one upstream response. op is the client's
// operation ("stats some-slug"): its first word is the endpoint.
func (m *Metrics) ObserveUpstream(source, op string, status int) {
	endpoint, _, _ := strings.Cut(op, " ")
	m.upstream.WithLabelValues(source, endpoint, strconv.Itoa(status)).Inc()
}

// ObserveAPIRequest counts and times one answered GraphQL request.
// operation and status must come from a bounded set (the API derives them
// from the schema's root fields and its error codes, never from client
// text such as operation names).
func (m *Metrics) ObserveAPIRequest(operation, status string, d time.Duration) {
	m.apiRequests.WithLabelValues(operation, status).Inc()
	m.apiDuration.WithLabelValues(operation, status).Observe(d.Seconds())
}

// NoUsableKey counts a source left without a usable API key (the rate
// limiter calls it once per pause, see ratelimit.Options.OnNoUsableKeyFunc).
func (m *Metrics) NoUsableKey(source string) { m.noKey.WithLabelValues(source).Inc() }

// ObserveAcquire records one limiter outcome (ratelimit.Options.OnAcquireFunc):
// a grant's wait by source, bucket and class, or a give-up (the job snoozes)
// by source, class and reason.
func (m *Metrics) ObserveAcquire(e ratelimit.AcquireEvent) {
	if e.GaveUp {
		m.limitGiveUp.WithLabelValues(e.Source, e.Class.String(), e.Reason).Inc()
		return
	}
	m.limitWait.WithLabelValues(e.Source, e.Key, e.Class.String()).Observe(e.Waited.Seconds())
}

// RegisterDatabase adds series read from PostgreSQL at scrape time: queue
// backlog and oldest available age per queue, paused upstream keys, and data
// age per refresh kind. Each scrape runs three small aggregate queries
// (bounded by a 3 s timeout); a failed query logs and skips its series.
func (m *Metrics) RegisterDatabase(pool db.DBTX, logger *slog.Logger) {
	m.Registry.MustRegister(&dbCollector{q: db.New(pool), logger: logger})
}

//nolint:gochecknoglobals // read-only metric descriptors, shared by every collector
var (
	descBacklog = prometheus.NewDesc("nftsync_queue_available_jobs",
		"River jobs available to work now, per queue.", []string{"queue"}, nil)
	descOldest = prometheus.NewDesc("nftsync_queue_oldest_available_seconds",
		"Age of the oldest available job per queue (0 when none waits).", []string{"queue"}, nil)
	descPaused = prometheus.NewDesc("nftsync_upstream_paused_keys",
		"Upstream API keys paused by a rate limit, per source.", []string{"source"}, nil)
	descAgeMax = prometheus.NewDesc("nftsync_data_age_max_seconds",
		"Oldest last successful refresh among active collections, per kind.", []string{"kind"}, nil)
	descAgeAvg = prometheus.NewDesc("nftsync_data_age_avg_seconds",
		"Mean age of the last successful refresh over active collections, per kind.", []string{"kind"}, nil)
	descNever = prometheus.NewDesc("nftsync_data_never_refreshed_collections",
		"Active collections with no successful refresh yet, per kind.", []string{"kind"}, nil)
	descStale = prometheus.NewDesc("nftsync_data_stale_collections",
		"Active collections past their freshness target (or never refreshed), per kind.", []string{"kind"}, nil)
)

type dbCollector struct {
	q      *db.Queries
	logger *slog.Logger
}

func (c *dbCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descBacklog, descOldest, descPaused, descAgeMax, descAgeAvg, descNever, descStale} {
		ch <- d
	}
}

func (c *dbCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if rows, err := c.q.MetricsQueueBacklog(ctx); err != nil {
		c.logger.Warn("metrics: queue backlog", slog.Any("error", err))
	} else {
		for _, r := range rows {
			ch <- prometheus.MustNewConstMetric(descBacklog, prometheus.GaugeValue, float64(r.Available), r.Queue)
			ch <- prometheus.MustNewConstMetric(descOldest, prometheus.GaugeValue, r.OldestSeconds, r.Queue)
		}
	}
	if rows, err := c.q.MetricsPausedKeys(ctx); err != nil {
		c.logger.Warn("metrics: paused keys", slog.Any("error", err))
	} else {
		for _, r := range rows {
			ch <- prometheus.MustNewConstMetric(descPaused, prometheus.GaugeValue, float64(r.Paused), r.Source)
		}
	}
	if rows, err := c.q.MetricsDataAge(ctx); err != nil {
		c.logger.Warn("metrics: data age", slog.Any("error", err))
	} else {
		for _, r := range rows {
			ch <- prometheus.MustNewConstMetric(descAgeMax, prometheus.GaugeValue, r.MaxSeconds, r.Kind)
			ch <- prometheus.MustNewConstMetric(descAgeAvg, prometheus.GaugeValue, r.AvgSeconds, r.Kind)
			ch <- prometheus.MustNewConstMetric(descNever, prometheus.GaugeValue, float64(r.Never), r.Kind)
			ch <- prometheus.MustNewConstMetric(descStale, prometheus.GaugeValue, float64(r.Stale), r.Kind)
		}
	}
}
