package main

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
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

	t.Run("RescueMustExceedTimeouts", func(t *testing.T) {
		t.Parallel()
		_, err := loadConfig(envOf(map[string]string{"NFTSYNC_RESCUE_AFTER": "30s", "NFTSYNC_JOB_TIMEOUT": "1m"}))
		require.ErrorContains(t, err, "NFTSYNC_RESCUE_AFTER")
	})
}

// TestREADMEDocumentsEveryVariable keeps the README's configuration table in
// step with the variables the program reads.
func TestREADMEDocumentsEveryVariable(t *testing.T) {
	t.Parallel()
	readme, err := os.ReadFile("../../README.md")
	require.NoError(t, err)
	all := append(append(append([]envVar(nil), envVars...), catalogEnvVars()...), subgraphEnvVars...)
	for _, v := range all {
		require.Contains(t, string(readme), "`"+v.Name+"`", "README lacks %s", v.Name)
	}
	src, err := os.ReadFile("config.go")
	require.NoError(t, err)
	src2, err := os.ReadFile("config_subgraph.go")
	require.NoError(t, err)
	src = append(src, src2...)
	// Every NFTSYNC_ variable read in config.go is in the table.
	for _, field := range strings.FieldsFunc(string(src), func(r rune) bool { return r == '"' }) {
		if strings.HasPrefix(field, "NFTSYNC_") && !strings.HasSuffix(field, "_") && !strings.Contains(field, " ") {
			found := false
			for _, v := range all {
				found = found || v.Name == field
			}
			require.True(t, found, "%s is read but not documented", field)
		}
	}
}
