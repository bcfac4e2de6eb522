package main

import (
	"context"
	"errors"
	"log/slog"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/riverqueue/river"

	"github.com/nftsync/nftsync/internal/metrics"
)

// serveWorkerHealth serves /metrics, /healthz and /readyz on
// cfg.MetricsAddr (nothing when unset) until the returned stop is called.
// Ready means: not shutting down, the River client not stopped, and the
// database answering.
func serveWorkerHealth(ctx context.Context, cfg *config, pool *pgxpool.Pool, client *river.Client[pgx.Tx], reg *prometheus.Registry, logger *slog.Logger) (stop func(), err error) {
	if cfg.MetricsAddr == "" {
		return func() {}, nil
	}
	ready := func(rctx context.Context) error {
		if ctx.Err() != nil {
			return errors.New("shutting down")
		}
		select {
		case <-client.Stopped():
			return errors.New("workers stopped")
		default:
		}
		return pool.Ping(rctx)
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
