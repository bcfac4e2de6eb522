package opensea

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nftsync/nftsync/internal/indexer"
)

// The client must satisfy the interface the workers depend on.
var _ indexer.Indexer = (*Client)(nil)

const testAPIKey = "sk-test-0123456789abcdef"

// testNow is the fixed clock of test clients.
func testNow() time.Time { return time.Date(2026, 7, 1, 12, 0, 0, 0, time.UTC) }

// fixture returns the bytes of testdata/name.
func fixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	require.NoError(t, err)
	return b
}

// newServer starts an httptest.Server closed at test cleanup.
func newServer(t *testing.T, h http.HandlerFunc) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

// serveFixture answers every request with status, the fixture's bytes and
// the given headers. An empty name sends no body.
func serveFixture(t *testing.T, status int, name string, header map[string]string) http.HandlerFunc {
	t.Helper()
	var body []byte
	if name != "" {
		body = fixture(t, name)
	}
	return func(w http.ResponseWriter, _ *http.Request) {
		for k, v := range header {
			w.Header().Set(k, v)
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = w.Write(body)
	}
}

// newTestClient returns a client for baseURL with the test key and clock
// unless opts sets its own.
func newTestClient(t *testing.T, baseURL string, opts Options) *Client {
	t.Helper()
	if opts.APIKey == "" {
		opts.APIKey = testAPIKey
	}
	if opts.Now == nil {
		opts.Now = testNow
	}
	c, err := NewClient(baseURL, &http.Client{Timeout: 10 * time.Second}, opts)
	require.NoError(t, err)
	return c
}

// requireClass asserts err is an *indexer.Error of class and returns it.
func requireClass(t *testing.T, err error, class indexer.Class) *indexer.Error {
	t.Helper()
	require.Error(t, err)
	var ie *indexer.Error
	require.ErrorAs(t, err, &ie, "error %q is not an *indexer.Error", err)
	require.Equal(t, class, ie.Class, "error: %s", err)
	require.NotContains(t, err.Error(), testAPIKey)
	return ie
}

func ptr[T any](v T) *T { return &v }
