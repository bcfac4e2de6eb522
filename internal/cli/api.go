package cli

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"

	"github.com/nftsync/nftsync/internal/admin"
	"github.com/nftsync/nftsync/internal/api"
	"github.com/nftsync/nftsync/internal/metrics"
	"github.com/nftsync/nftsync/migrations"
)

// API serves the client GraphQL API until SIGINT/SIGTERM.
func API(ctx context.Context, cfg *Config, logger *slog.Logger, stdout io.Writer) error {
	pool, err := openDB(ctx, cfg, cfg.DatabaseURL, logger, int32(cfg.API.PoolSize))
	if err != nil {
		return err
	}
	defer pool.Close()
	if len(cfg.API.Options.AdminTokens) == 0 {
		logger.Warn("NFTSYNC_API_ADMIN_TOKENS is not set: mutations, admin queries and River UI refuse every request")
	}
	// The API's own registry: process and Go runtime series and its
	// request series, on NFTSYNC_METRICS_ADDR as a worker serves its own.
	m := metrics.New()
	stopHealth, err := serveHealth(ctx, cfg, m.Registry, logger, func(rctx context.Context) error { return schemaCurrent(rctx, pool) })
	if err != nil {
		return err
	}
	defer stopHealth()
	return serveAPI(ctx, cfg, cfg.API.Options, pool, logger, m, func(url string) {
		_, _ = fmt.Fprintf(stdout, "nftsync api: console at %s/console/  GraphiQL at %s/  GraphQL at %s/graphql  River UI at %s/riverui/\n", url, url, url, url)
	})
}

// newAdmin is the operator service both the API and the CLI use. Its River
// client only inserts and reads jobs (no workers); it logs through logger.
func newAdmin(cfg *Config, pool *pgxpool.Pool, logger *slog.Logger) (*admin.Service, error) {
	client, err := river.NewClient(riverpgxv5.New(pool), &river.Config{Logger: logger})
	if err != nil {
		return nil, fmt.Errorf("create river client: %w", err)
	}
	return &admin.Service{DB: pool, River: client, RefreshCooldown: cfg.API.RefreshCooldown, DefaultIntervals: cfg.Intervals}, nil
}

// openAdmin opens a small pool for one operator command (checking, not
// applying, migrations) and the admin service over it; the caller closes the
// pool.
func openAdmin(ctx context.Context, cfg *Config, logger *slog.Logger) (*admin.Service, *pgxpool.Pool, error) {
	pool, err := openDB(ctx, cfg, cfg.DatabaseURL, logger, 4)
	if err != nil {
		return nil, nil, err
	}
	svc, err := newAdmin(cfg, pool, logger)
	if err != nil {
		pool.Close()
		return nil, nil, err
	}
	return svc, pool, nil
}

// serveAPI runs the API server on pool until ctx is done, recording its
// requests in m.
func serveAPI(ctx context.Context, cfg *Config, opts api.Options, pool *pgxpool.Pool, logger *slog.Logger, m *metrics.Metrics, ready func(url string)) error {
	svc, err := newAdmin(cfg, pool, logger)
	if err != nil {
		return err
	}
	srv, err := api.New(opts, api.Deps{
		DB: pool, River: svc.River, Admin: svc, Logger: logger.With(slog.String("component", "api")),
		Ready:   func(ctx context.Context) error { return schemaCurrent(ctx, pool) },
		Metrics: m,
	})
	if err != nil {
		return err
	}
	return srv.Run(ctx, ready)
}

// randomToken is a fresh admin token for `nftsync dev` when none is set.
func randomToken() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return "dev-" + hex.EncodeToString(b)
}

// schemaCurrent is nil when no migration is pending (the API's /readyz).
func schemaCurrent(ctx context.Context, pool *pgxpool.Pool) error {
	pending, err := migrations.Check(ctx, pool)
	if err != nil {
		return fmt.Errorf("check migrations: %w", err)
	}
	if pending.Behind() {
		return fmt.Errorf("migrations not applied: %s", pending)
	}
	return nil
}
