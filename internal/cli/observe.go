package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
	"github.com/riverqueue/rivercontrib/otelriver"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	noopmetric "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/nftsync/nftsync/internal/metrics"
)

// serveWorkerHealth serves /metrics, /healthz and /readyz on
// cfg.MetricsAddr (nothing when unset) until the returned stop is called.
// Ready means: not shutting down, the River client started (started is
// closed once Start returned: asking a client that is starting whether it
// stopped is a data race) and not stopped, and the database answering.
func serveWorkerHealth(ctx context.Context, cfg *Config, pool *pgxpool.Pool, client *river.Client[pgx.Tx], started <-chan struct{}, reg *prometheus.Registry, logger *slog.Logger) (stop func(), err error) {
	return serveHealth(ctx, cfg, reg, logger, func(rctx context.Context) error {
		select {
		case <-started:
		default:
			return errors.New("workers starting")
		}
		select {
		case <-client.Stopped():
			return errors.New("workers stopped")
		default:
		}
		return pool.Ping(rctx)
	})
}

// serveHealth serves /metrics (reg), /healthz and /readyz on
// cfg.MetricsAddr (nothing when unset) until the returned stop is called.
// Ready means not shutting down (ctx not done) and check passing.
func serveHealth(ctx context.Context, cfg *Config, reg *prometheus.Registry, logger *slog.Logger, check func(context.Context) error) (stop func(), err error) {
	if cfg.MetricsAddr == "" {
		return func() {}, nil
	}
	ready := func(rctx context.Context) error {
		if ctx.Err() != nil {
			return errors.New("shutting down")
		}
		return check(rctx)
	}
	srv, err := metrics.Serve(cfg.MetricsAddr, metrics.Mux(reg, ready), logger)
	if err != nil {
		return nil, err
	}
	logger.Info("serving metrics and health", slog.String("addr", srv.Addr))
	return func() {
		if err := srv.Close(); err != nil {
			logger.Warn("stop metrics server", slog.Any("error", err))
		}
	}, nil
}

// observers are what a worker reports through: Prometheus metrics always,
// OpenTelemetry traces (otelriver) when OTEL_EXPORTER_OTLP_ENDPOINT is set.
type observers struct {
	metrics *metrics.Metrics
	tracer  *sdktrace.TracerProvider // nil without an endpoint
}

// newObservers builds the metrics registry (with the database series) and,
// with an OTLP endpoint, a tracer provider exporting over OTLP/HTTP.
func newObservers(ctx context.Context, cfg *Config, pool *pgxpool.Pool, logger *slog.Logger) (*observers, error) {
	o := &observers{metrics: metrics.New()}
	o.metrics.RegisterDatabase(pool, logger)
	if cfg.OTLPEndpoint == "" {
		return o, nil
	}
	// OTEL_EXPORTER_OTLP_ENDPOINT is the collector's base URL; traces go
	// to its /v1/traces (OpenTelemetry's exporter specification).
	tracesURL, err := url.JoinPath(cfg.OTLPEndpoint, "v1/traces")
	if err != nil {
		return nil, fmt.Errorf("OTEL_EXPORTER_OTLP_ENDPOINT: %w", err)
	}
	exp, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL(tracesURL))
	if err != nil {
		return nil, fmt.Errorf("OTEL_EXPORTER_OTLP_ENDPOINT: %w", err)
	}
	o.tracer = sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp),
		sdktrace.WithResource(resource.NewSchemaless(attribute.String("service.name", "nftsync"))))
	logger.Info("exporting traces", slog.String("endpoint", redactURL(cfg.OTLPEndpoint)))
	return o, nil
}

// middleware is the River middleware list: job metrics, then a span per
// job (with the inserting span linked through job metadata) when tracing.
func (o *observers) middleware() []rivertype.Middleware {
	mw := []rivertype.Middleware{o.metrics.Middleware()}
	if o.tracer != nil {
		mw = append(mw, otelriver.NewMiddleware(&otelriver.MiddlewareConfig{
			TracerProvider: o.tracer, MeterProvider: noopmetric.NewMeterProvider(),
			EnableWorkSpanJobKindSuffix: true, EnableTracePropagation: true,
		}))
	}
	return mw
}

// shutdown flushes spans still buffered (up to 5 s).
func (o *observers) shutdown(logger *slog.Logger) {
	if o.tracer == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := o.tracer.Shutdown(ctx); err != nil {
		logger.Warn("flush traces", slog.Any("error", err))
	}
}
