package metrics_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/nftsync/nftsync/internal/metrics"
)

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b)
}

func TestServer(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "nftsync_test_total", Help: "test"})
	reg.MustRegister(c)
	c.Add(3)
	var up atomic.Bool
	ready := func(context.Context) error {
		if !up.Load() {
			return errors.New("database down")
		}
		return nil
	}
	srv, err := metrics.Serve("127.0.0.1:0", metrics.Mux(reg, ready), slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	base := "http://" + srv.Addr

	code, body := get(t, base+"/healthz")
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, "ok\n", body)
	code, body = get(t, base+"/readyz")
	require.Equal(t, http.StatusServiceUnavailable, code)
	require.Contains(t, body, "not ready: database down")
	up.Store(true)
	code, _ = get(t, base+"/readyz")
	require.Equal(t, http.StatusOK, code)
	code, body = get(t, base+"/metrics")
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, body, "nftsync_test_total 3")

	require.NoError(t, srv.Close())
	resp, err := http.Get(base + "/healthz")
	if err == nil {
		_ = resp.Body.Close()
	}
	require.Error(t, err, "the server is closed")
}
