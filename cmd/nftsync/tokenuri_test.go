package main

import (
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nftsync/nftsync/internal/indexer/tokenuri"
	"github.com/nftsync/nftsync/internal/indexersim"
	"github.com/nftsync/nftsync/internal/ratelimit"
)

func TestTokenURIConfig(t *testing.T) {
	t.Parallel()

	t.Run("Defaults", func(t *testing.T) {
		t.Parallel()
		cfg, err := loadConfig(envOf(nil))
		require.NoError(t, err)
		tc := cfg.TokenURI
		require.Equal(t, tokenuri.DefaultIPFSGateways, tc.IPFSGateways)
		require.Equal(t, tokenuri.DefaultArweaveGateways, tc.ArweaveGateways)
		require.False(t, tc.AllowHTTP)
		require.Empty(t, tc.AllowNets, "nothing private is allowed by default")
		require.Equal(t, ratelimit.HostLimit{Rate: 5, Burst: 5, MaxInFlight: 8}, tc.Host)
		require.Equal(t, int64(tokenuri.DefaultMaxBodyBytes), tc.MaxBodyBytes)
		require.Equal(t, 10*time.Second, tc.Timeout)
		require.Equal(t, 5, tc.MaxRedirects)
	})

	t.Run("Overrides", func(t *testing.T) {
		t.Parallel()
		cfg, err := loadConfig(envOf(map[string]string{
			"NFTSYNC_TOKENURI_IPFS_GATEWAYS": "https://gw.example/ipfs/, https://other.example/ipfs",
			"NFTSYNC_TOKENURI_AR_GATEWAYS":   "https://ar.example/",
			"NFTSYNC_TOKENURI_ALLOW_HTTP":    "true",
			"NFTSYNC_TOKENURI_ALLOW_NETS":    "10.1.0.0/16,fd00::1",
			"NFTSYNC_TOKENURI_RATE":          "120/m",
			"NFTSYNC_TOKENURI_BURST":         "3",
			"NFTSYNC_TOKENURI_CONCURRENCY":   "2",
			"NFTSYNC_TOKENURI_HOST_RATES":    "IPFS.io=1/s:4, arweave.net=10/s",
			"NFTSYNC_TOKENURI_MAX_BODY":      "65536",
			"NFTSYNC_TOKENURI_TIMEOUT":       "3s",
			"NFTSYNC_TOKENURI_MAX_REDIRECTS": "0",
		}))
		require.NoError(t, err)
		tc := cfg.TokenURI
		require.Equal(t, []string{"https://gw.example/ipfs/", "https://other.example/ipfs"}, tc.IPFSGateways)
		require.True(t, tc.IPFSGatewaysSet)
		require.Equal(t, []string{"https://ar.example/"}, tc.ArweaveGateways)
		require.True(t, tc.AllowHTTP)
		require.Equal(t, []netip.Prefix{netip.MustParsePrefix("10.1.0.0/16"), netip.MustParsePrefix("fd00::1/128")}, tc.AllowNets)
		require.Equal(t, ratelimit.HostLimit{Rate: 2, Burst: 3, MaxInFlight: 2}, tc.Host)
		require.Equal(t, map[string]ratelimit.HostLimit{
			"ipfs.io":     {Rate: 1, Burst: 4, MaxInFlight: 2},
			"arweave.net": {Rate: 10, Burst: 10, MaxInFlight: 2},
		}, tc.Hosts)
		require.Equal(t, int64(65536), tc.MaxBodyBytes)
		require.Equal(t, 3*time.Second, tc.Timeout)
		require.Equal(t, -1, tc.Options().MaxRedirects, "0 configured means no redirects")
	})

	t.Run("ReportsBadValuesByName", func(t *testing.T) {
		t.Parallel()
		_, err := loadConfig(envOf(map[string]string{
			"NFTSYNC_TOKENURI_IPFS_GATEWAYS": "ipfs.io",
			"NFTSYNC_TOKENURI_ALLOW_HTTP":    "maybe",
			"NFTSYNC_TOKENURI_ALLOW_NETS":    "localhost",
			"NFTSYNC_TOKENURI_RATE":          "fast",
			"NFTSYNC_TOKENURI_HOST_RATES":    "ipfs.io",
			"NFTSYNC_TOKENURI_MAX_BODY":      "12",
			"NFTSYNC_TOKENURI_TIMEOUT":       "1ms",
			"NFTSYNC_TOKENURI_MAX_REDIRECTS": "99",
		}))
		require.Error(t, err)
		for _, name := range []string{"NFTSYNC_TOKENURI_IPFS_GATEWAYS", "NFTSYNC_TOKENURI_ALLOW_HTTP", "NFTSYNC_TOKENURI_ALLOW_NETS",
			"NFTSYNC_TOKENURI_RATE", "NFTSYNC_TOKENURI_HOST_RATES", "NFTSYNC_TOKENURI_MAX_BODY", "NFTSYNC_TOKENURI_TIMEOUT",
			"NFTSYNC_TOKENURI_MAX_REDIRECTS"} {
			require.Contains(t, err.Error(), name)
		}
	})

	t.Run("DevUsesTheSimulatorAndLoopbackOnly", func(t *testing.T) {
		t.Parallel()
		cfg, err := loadConfig(envOf(nil))
		require.NoError(t, err)
		cfg.TokenURI.UseSimulator("http://127.0.0.1:4321")
		require.Equal(t, []string{"http://127.0.0.1:4321/ipfs/"}, cfg.TokenURI.IPFSGateways)
		require.True(t, cfg.TokenURI.AllowHTTP)
		require.Equal(t, []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}, cfg.TokenURI.AllowNets)
	})

	t.Run("SimulatorMetadataSettings", func(t *testing.T) {
		t.Parallel()
		cfg, err := loadConfig(envOf(map[string]string{
			"NFTSYNC_SIM_METADATA_GATEWAY_PATH":   "/gw/",
			"NFTSYNC_SIM_METADATA_RATE":           "20",
			"NFTSYNC_SIM_METADATA_NOT_FOUND_RATE": "0.1",
			"NFTSYNC_SIM_METADATA_SLOW_RATE":      "0.02",
			"NFTSYNC_SIM_METADATA_SLOW_DELAY":     "5s",
			"NFTSYNC_SIM_METADATA_OVERSIZE_RATE":  "0.01",
			"NFTSYNC_SIM_METADATA_NOT_JSON_RATE":  "0.03",
		}))
		require.NoError(t, err)
		require.Equal(t, indexersim.MetadataConfig{GatewayPath: "/gw/", Rate: 20, NotFoundRate: 0.1, SlowRate: 0.02,
			SlowDelay: 5 * time.Second, OversizeRate: 0.01, NotJSONRate: 0.03}, cfg.SimConfig().Metadata)

		_, err = loadConfig(envOf(map[string]string{"NFTSYNC_SIM_METADATA_GATEWAY_PATH": "ipfs", "NFTSYNC_SIM_METADATA_NOT_JSON_RATE": "2"}))
		require.ErrorContains(t, err, "NFTSYNC_SIM_METADATA_NOT_JSON_RATE")
		require.ErrorContains(t, err, "metadata gateway path")
	})
}
