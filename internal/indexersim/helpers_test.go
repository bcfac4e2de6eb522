package indexersim

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// fakeClock is a settable clock for Config.Clock.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2026, 8, 1, 12, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// testBundle is a simulator served by httptest.
type testBundle struct {
	sim   *Server
	ts    *httptest.Server
	clock *fakeClock
}

// setup starts a simulator with cfg; a nil cfg.Clock gets a fake clock.
func setup(t *testing.T, cfg Config) *testBundle {
	t.Helper()
	b := &testBundle{}
	if cfg.Clock == nil {
		b.clock = newFakeClock()
		cfg.Clock = b.clock.Now
	}
	sim, err := New(cfg, nil)
	require.NoError(t, err)
	b.sim = sim
	b.ts = httptest.NewServer(sim.Handler())
	t.Cleanup(func() {
		sim.Close()
		b.ts.Close()
	})
	return b
}

// response is a fully read HTTP response.
type response struct {
	status int
	header http.Header
	body   []byte
}

// get fetches path with optional header pairs (name, value, …).
func (b *testBundle) get(t *testing.T, path string, header ...string) response {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, b.ts.URL+path, nil)
	require.NoError(t, err)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	res, err := b.ts.Client().Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	return response{status: res.StatusCode, header: res.Header, body: body}
}

// getJSON fetches path, requires status 200 and decodes the body into v.
func (b *testBundle) getJSON(t *testing.T, path string, v any) {
	t.Helper()
	res := b.get(t, path)
	require.Equal(t, http.StatusOK, res.status, string(res.body))
	require.NoError(t, json.Unmarshal(res.body, v))
}

// serve runs one request through the handler without a network.
func serve(sim *Server, path string) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	sim.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	return rec
}
