package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Stream holds the stream consumer's series (internal/streamer): it
// implements streamer.Observer. Build it with (*Metrics).Stream.
type Stream struct {
	connections prometheus.Gauge
	topics      prometheus.Gauge
	events      *prometheus.CounterVec
	dropped     *prometheus.CounterVec
	lag         prometheus.Histogram
	reconnects  prometheus.Counter
	gaps        prometheus.Counter
	gapSales    prometheus.Counter
	refills     prometheus.Counter
	differences prometheus.Counter
}

// streamEventTypes are the event types counted by name (the Stream API's
// ten); any other is counted as "other", so the label set stays bounded
// whatever upstream sends.
var streamEventTypes = map[string]bool{ //nolint:gochecknoglobals // read-only set
	"item_listed": true, "item_cancelled": true, "item_sold": true, "item_transferred": true,
	"item_metadata_updated": true, "item_received_bid": true, "collection_offer": true,
	"trait_offer": true, "order_invalidate": true, "order_revalidate": true,
}

// Stream registers the stream consumer's series on m's registry once and
// returns them (later calls return the same).
func (m *Metrics) Stream() *Stream {
	m.streamOnce.Do(func() {
		s := &Stream{
			events: prometheus.NewCounterVec(prometheus.CounterOpts{
				Name: "nftsync_stream_events_total",
				Help: "Stream events received, by event type (other: a type the consumer does not know).",
			}, []string{"type"}),
			dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
				Name: "nftsync_stream_events_dropped_total",
				Help: "Stream events that changed nothing, by reason: duplicate (same order version seen), stale (an older version), malformed (undecodable; also a data-quality event), unjoined (a collection this process does not serve).",
			}, []string{"reason"}),
			lag: prometheus.NewHistogram(prometheus.HistogramOpts{
				Name: "nftsync_stream_lag_seconds",
				Help: "Time from an event's sent_at to its floor change or sale being committed to PostgreSQL.",
				// 10 ms .. ~100 s
				Buckets: prometheus.ExponentialBuckets(0.01, 2.5, 11),
			}),
		}
		all := []prometheus.Collector{s.events, s.dropped, s.lag}
		for _, g := range []struct {
			dst        *prometheus.Gauge
			name, help string
		}{
			{&s.connections, "nftsync_stream_connections", "Stream API websocket connections this process holds open (joined or reconnecting)."},
			{&s.topics, "nftsync_stream_joined_topics", "Collection topics joined on this process's stream connections."},
		} {
			*g.dst = prometheus.NewGauge(prometheus.GaugeOpts{Name: g.name, Help: g.help})
			all = append(all, *g.dst)
		}
		for _, c := range []struct {
			dst        *prometheus.Counter
			name, help string
		}{
			{&s.reconnects, "nftsync_stream_reconnects_total", "Stream connections lost (each is reconnected with capped exponential backoff)."},
			{&s.gaps, "nftsync_stream_gaps_backfilled_total", "Collection topics joined again after a gap whose missed sales were read back from the events endpoint."},
			{&s.gapSales, "nftsync_stream_backfilled_sales_total", "Sales read from the events endpoint to fill stream gaps (duplicates of stored sales included)."},
			{&s.refills, "nftsync_stream_book_refills_total", "Best-listings calls to bootstrap or refill a collection's book (after a join, when it ran dry, or after a reconcile difference)."},
			{&s.differences, "nftsync_stream_reconcile_differences_total", "Books bootstrapped again because a reconcile found the stream's floor different from /stats."},
		} {
			*c.dst = prometheus.NewCounter(prometheus.CounterOpts{Name: c.name, Help: c.help})
			all = append(all, *c.dst)
		}
		m.Registry.MustRegister(all...)
		m.stream = s
	})
	return m.stream
}

// Connections sets the number of open stream connections.
func (s *Stream) Connections(n int) { s.connections.Set(float64(n)) }

// Topics sets the number of joined collection topics.
func (s *Stream) Topics(n int) { s.topics.Set(float64(n)) }

// Event counts one received event of type typ.
func (s *Stream) Event(typ string) {
	if !streamEventTypes[typ] {
		typ = "other"
	}
	s.events.WithLabelValues(typ).Inc()
}

// Dropped counts one event that changed nothing, for reason.
func (s *Stream) Dropped(reason string) { s.dropped.WithLabelValues(reason).Inc() }

// Lag records the time from an event's sent_at to its commit.
func (s *Stream) Lag(d time.Duration) { s.lag.Observe(max(0, d.Seconds())) }

// Reconnect counts a lost connection.
func (s *Stream) Reconnect() { s.reconnects.Inc() }

// GapBackfilled counts a gap filled from the events endpoint with sales
// sales read.
func (s *Stream) GapBackfilled(sales int) {
	s.gaps.Inc()
	s.gapSales.Add(float64(sales))
}

// BookRefill counts a best-listings call.
func (s *Stream) BookRefill() { s.refills.Inc() }

// ReconcileDifference counts a book bootstrapped again after a reconcile
// difference.
func (s *Stream) ReconcileDifference() { s.differences.Inc() }
