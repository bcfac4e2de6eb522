package main

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nftsync/nftsync/jobs"
)

func envOf(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestLoadConfig(t *testing.T) {
	t.Parallel()

	t.Run("Defaults", func(t *testing.T) {
		t.Parallel()
		cfg, err := loadConfig(envOf(nil))
		require.NoError(t, err)
		require.Equal(t, 5*time.Second, cfg.PlanInterval)
		require.Equal(t, 4, cfg.MaxWorkers["floor_price"])
		require.Equal(t, time.Minute, cfg.Intervals["floor_price"])
		require.Equal(t, "https://api.opensea.io", cfg.OpenSeaURL)
		require.Greater(t, cfg.RescueAfter, cfg.JobTimeout)
	})

	t.Run("OverridesPerQueueWorkers", func(t *testing.T) {
		t.Parallel()
		cfg, err := loadConfig(envOf(map[string]string{"NFTSYNC_WORKERS_TOKENS": "7", "NFTSYNC_WORKERS_RARITY": "0"}))
		require.NoError(t, err)
		require.Equal(t, 7, cfg.MaxWorkers["tokens"])
		require.Equal(t, 0, cfg.MaxWorkers["rarity"])
	})

	t.Run("ReportsEveryBadValueByName", func(t *testing.T) {
		t.Parallel()
		_, err := loadConfig(envOf(map[string]string{
			"NFTSYNC_PLAN_INTERVAL":   "soon",
			"NFTSYNC_WORKERS_TOKENS":  "-1",
			"NFTSYNC_LOG_LEVEL":       "loud",
			"NFTSYNC_OPENSEA_URL":     "ftp://x",
			"NFTSYNC_SIM_RATE":        "fast",
			"NFTSYNC_OPENSEA_API_KEY": "secret-key-value",
		}))
		require.Error(t, err)
		for _, name := range []string{"NFTSYNC_PLAN_INTERVAL", "NFTSYNC_WORKERS_TOKENS", "NFTSYNC_LOG_LEVEL", "NFTSYNC_OPENSEA_URL", "NFTSYNC_SIM_RATE"} {
			require.Contains(t, err.Error(), name)
		}
		require.NotContains(t, err.Error(), "secret-key-value")
	})

	t.Run("SalesRetention", func(t *testing.T) {
		t.Parallel()
		cfg, err := loadConfig(envOf(nil))
		require.NoError(t, err)
		require.Equal(t, jobs.DefaultSalesRetention, cfg.History.Sales)
		require.Equal(t, 35*24*time.Hour, cfg.History.Sales)

		cfg, err = loadConfig(envOf(map[string]string{"NFTSYNC_HISTORY_SALES_RETENTION": "72h"}))
		require.NoError(t, err)
		require.Equal(t, 72*time.Hour, cfg.History.Sales)

		// Shorter than the two days the live 1-day volume needs (the
		// policy's own rule), zero, negative or not a duration: refused by name.
		for _, bad := range []string{"24h", "47h59m", "0", "-48h", "a month"} {
			_, err := loadConfig(envOf(map[string]string{"NFTSYNC_HISTORY_SALES_RETENTION": bad}))
			require.ErrorContains(t, err, "NFTSYNC_HISTORY_SALES_RETENTION", bad)
		}
		_, err = loadConfig(envOf(map[string]string{"NFTSYNC_HISTORY_SALES_RETENTION": "24h"}))
		require.ErrorContains(t, err, "shorter than the minimum 48h")
	})

	t.Run("RescueMustExceedTimeouts", func(t *testing.T) {
		t.Parallel()
		_, err := loadConfig(envOf(map[string]string{"NFTSYNC_RESCUE_AFTER": "30s", "NFTSYNC_JOB_TIMEOUT": "1m"}))
		require.ErrorContains(t, err, "NFTSYNC_RESCUE_AFTER")
	})
}

// TestOpenSeaRateAuto: by default (and with auto) each key's budget comes
// from its headers: no rate cap, no burst cap, and the planner bounds
// OpenSea by its batch only; an explicit rate is the cap and the planner's
// budget. The simulator's tier is read by name.
func TestOpenSeaRateAuto(t *testing.T) {
	t.Parallel()

	for _, env := range []map[string]string{nil, {"NFTSYNC_OPENSEA_RATE": "auto"}} {
		cfg, err := loadConfig(envOf(env))
		require.NoError(t, err)
		require.False(t, cfg.RateSet)
		require.Zero(t, cfg.Limit.Rate)
		require.Zero(t, cfg.Limit.EffectiveBurst(), "no burst cap")
		require.NotContains(t, cfg.PlanRates(), "opensea")
		require.Contains(t, cfg.Limit.Describe(), "auto")
	}
	cfg, err := loadConfig(envOf(map[string]string{"NFTSYNC_OPENSEA_RATE": "240/m", "NFTSYNC_OPENSEA_API_KEYS": "a,b"}))
	require.NoError(t, err)
	require.Equal(t, 4.0, cfg.Limit.Rate)
	require.Equal(t, 4, cfg.Limit.EffectiveBurst())
	require.Equal(t, 8.0, cfg.PlanRates()["opensea"])
	require.Contains(t, cfg.Limit.Describe(), "at most 4/s")

	cfg, err = loadConfig(envOf(map[string]string{"NFTSYNC_SIM_TIER": "600/h"}))
	require.NoError(t, err)
	require.True(t, cfg.SimFaults.TierSet)
	require.Equal(t, 600, cfg.SimConfig().Tier.Limit)
	require.Equal(t, time.Hour, cfg.SimConfig().Tier.Window)
	_, err = loadConfig(envOf(map[string]string{"NFTSYNC_SIM_TIER": "lots"}))
	require.ErrorContains(t, err, "NFTSYNC_SIM_TIER")
}

// TestStreamConfig: the stream is on in dev and with a key by default,
// and every bad stream setting is reported by name.
func TestStreamConfig(t *testing.T) {
	t.Parallel()
	cfg, err := loadConfig(envOf(nil))
	require.NoError(t, err)
	require.Equal(t, 20, cfg.Stream.BookSize)
	require.Equal(t, 15*time.Minute, cfg.Stream.ReconcileInterval)
	require.True(t, cfg.Stream.Enabled(true, false), "dev streams by default")
	require.False(t, cfg.Stream.Enabled(false, false), "a keyless worker does not")
	require.True(t, cfg.Stream.Enabled(false, true), "a worker with a key does")
	off, err := loadConfig(envOf(map[string]string{"NFTSYNC_STREAM": "off"}))
	require.NoError(t, err)
	require.False(t, off.Stream.Enabled(true, true))

	_, err = loadConfig(envOf(map[string]string{
		"NFTSYNC_STREAM": "sometimes", "NFTSYNC_STREAM_URL": "ftp://x", "NFTSYNC_STREAM_BOOK_SIZE": "0",
		"NFTSYNC_STREAM_LEASE_TTL": "4s", "NFTSYNC_STREAM_LEASE_RENEW": "3s", "NFTSYNC_SIM_STREAM_DROP_RATE": "2",
		"NFTSYNC_STREAM_AUDIT_RATE": "-1", "NFTSYNC_STREAM_AUDIT_MIN_INTERVAL": "1ms",
	}))
	require.Error(t, err)
	for _, name := range []string{"NFTSYNC_STREAM=", "NFTSYNC_STREAM_URL", "NFTSYNC_STREAM_BOOK_SIZE", "NFTSYNC_STREAM_LEASE_RENEW", "NFTSYNC_SIM_STREAM_DROP_RATE",
		"NFTSYNC_STREAM_AUDIT_RATE", "NFTSYNC_STREAM_AUDIT_MIN_INTERVAL"} {
		require.Contains(t, err.Error(), name)
	}
}
