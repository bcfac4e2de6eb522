package cli

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/nftsync/nftsync/internal/indexer/opensea/stream"
	"github.com/nftsync/nftsync/internal/metrics"
	"github.com/nftsync/nftsync/internal/ratelimit"
	"github.com/nftsync/nftsync/internal/shard"
	"github.com/nftsync/nftsync/internal/streamer"
)

// replicaName is this process's name in shard leases and stream states: the
// worker ID when set, else the host name and a random suffix (unique per
// process, so a restarted replica never mistakes another's leases for its
// own).
func replicaName(cfg *Config) string {
	if cfg.WorkerID != "" {
		return cfg.WorkerID
	}
	host, _ := os.Hostname()
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	if host == "" {
		host = "nftsync"
	}
	return host + "-" + hex.EncodeToString(b)
}

// startStream starts the stream consumer and its shard lease manager on
// ctx when the stream is enabled (nil, no-op wait otherwise). wait blocks
// until both stopped (on ctx's end: the consumer marks its collections
// down, the manager releases its leases).
func startStream(ctx context.Context, cfg *Config, pool *pgxpool.Pool, w *workerParts, url string, logger *slog.Logger, m *metrics.Metrics) (*streamer.Service, func() error, error) {
	sc := cfg.Stream
	replica := replicaName(cfg)
	mgr, err := shard.New(pool, shard.Options{Replica: replica, Shards: sc.Shards, TTL: sc.LeaseTTL, Renew: sc.LeaseRenew,
		Logger: logger.With(slog.String("component", "shard"))})
	if err != nil {
		return nil, nil, fmt.Errorf("stream shards: %w", err)
	}
	keys := cfg.OpenSeaAPIKeys
	svc, err := streamer.New(pool, streamer.Options{
		Replica: replica, Keys: keys, ConnectionsPerKey: sc.ConnectionsPerKey,
		KeyBucket: func(k string) string { return ratelimit.KeyFor("opensea", k) },
		Dial: func(key string) (streamer.Conn, error) {
			return stream.New(stream.Options{URL: url, APIKey: key, Logger: logger.With(slog.String("component", "stream"))})
		},
		Market: w.market, Shards: mgr, ShardCount: sc.Shards, BookSize: sc.BookSize,
		FlushInterval: sc.FlushInterval, TraitsSettle: sc.TraitsSettle,
		AuditRate: auditRate(sc.AuditRate), AuditMinInterval: sc.AuditMinInterval,
		Keyguard: w.lim, Enqueue: w.client, Observer: m.Stream(), Logger: logger,
	})
	if err != nil {
		return nil, nil, err
	}
	var wg sync.WaitGroup
	errs := make([]error, 2)
	wg.Add(2)
	go func() {
		defer wg.Done()
		if err := mgr.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
			errs[0] = fmt.Errorf("stream shards: %w", err)
		}
	}()
	go func() {
		defer wg.Done()
		if err := svc.Run(ctx); err != nil {
			errs[1] = fmt.Errorf("stream: %w", err)
		}
	}()
	logger.Info("stream consumer enabled", slog.String("replica", replica), slog.Int("shards", sc.Shards),
		slog.Int("keys", max(1, len(keys))), slog.Int("connections_per_key", sc.ConnectionsPerKey), slog.Int("book_size", sc.BookSize))
	return svc, func() error { wg.Wait(); return errors.Join(errs...) }, nil
}

// auditRate maps the configured audit rate (0: none) to the streamer's
// option (0: its default, negative: none).
func auditRate(perSecond float64) float64 {
	if perSecond <= 0 {
		return -1
	}
	return perSecond
}
