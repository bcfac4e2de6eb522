package tokenuri_test

import (
	"context"
	"crypto/x509"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nftsync/nftsync/internal/indexer"
	"github.com/nftsync/nftsync/internal/indexer/tokenuri"
)

// loopback allows the test servers, which listen on 127.0.0.1.
var loopback = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}

// fixture reads testdata/name.
func fixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	require.NoError(t, err)
	return b
}

// server is an httptest server that counts requests per path.
type server struct {
	*httptest.Server
	mu   sync.Mutex
	hits map[string]int
}

// newServer serves handler and counts requests.
func newServer(t *testing.T, handler http.HandlerFunc) *server {
	t.Helper()
	return startServer(t, handler, httptest.NewServer)
}

// newTLSServer is newServer over https.
func newTLSServer(t *testing.T, handler http.HandlerFunc) *server {
	t.Helper()
	return startServer(t, handler, httptest.NewTLSServer)
}

func startServer(t *testing.T, handler http.HandlerFunc, start func(http.Handler) *httptest.Server) *server {
	t.Helper()
	s := &server{hits: map[string]int{}}
	s.Server = start(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.hits[r.URL.Path]++
		s.mu.Unlock()
		handler(w, r)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *server) count(path string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hits[path]
}

func (s *server) total() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, v := range s.hits {
		n += v
	}
	return n
}

// setupTLS is setup trusting srv's certificate.
func setupTLS(t *testing.T, srv *server, opts tokenuri.Options) *tokenuri.Source {
	t.Helper()
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	opts.RootCAs = pool
	return setup(t, opts)
}

// serveFixture answers with a testdata file and a content type.
func serveFixture(t *testing.T, name, contentType string) http.HandlerFunc {
	body := fixture(t, name)
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", contentType)
		_, _ = w.Write(body)
	}
}

// setup returns a Source allowed to reach loopback and plain http, with
// opts applied on top.
func setup(t *testing.T, opts tokenuri.Options) *tokenuri.Source {
	t.Helper()
	if opts.AllowNets == nil {
		opts.AllowNets = loopback
	}
	if opts.Timeout == 0 {
		opts.Timeout = 5 * time.Second
	}
	src, err := tokenuri.New(opts)
	require.NoError(t, err)
	t.Cleanup(src.CloseIdleConnections)
	return src
}

// fetch asks src for a token whose metadata_url is u.
func fetch(t *testing.T, src *tokenuri.Source, u string) (*indexer.TokenMetadata, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	return src.TokenTraits(ctx, indexer.TokenRef{Chain: "ethereum", Contract: "0xabc", TokenID: "1", MetadataURL: strings.TrimSpace(u)})
}

// requireClass requires err to be an *indexer.Error of class c whose
// message contains part.
func requireClass(t *testing.T, err error, c indexer.Class, part string) *indexer.Error {
	t.Helper()
	require.Error(t, err)
	ie, ok := errors.AsType[*indexer.Error](err)
	require.True(t, ok, "not an *indexer.Error: %v", err)
	require.Equal(t, c, ie.Class, "%v", err)
	require.Contains(t, err.Error(), part)
	return ie
}
