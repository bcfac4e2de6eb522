package indexer

import (
	"net/http"
	"time"
)

// NewHTTPClient returns the HTTP client for one upstream API key: requests
// time out after timeout, and it keeps as many idle connections to the host
// as the key may have requests in flight (inFlight; 64 when 0, uncapped), so
// concurrent calls reuse their connections. Go's default transport keeps
// two per host: every call beyond them would open a new connection (a TLS
// handshake against a real API) and close it afterwards.
func NewHTTPClient(timeout time.Duration, inFlight int) *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	if inFlight <= 0 {
		inFlight = 64
	}
	t.MaxIdleConnsPerHost = max(inFlight, 2)
	t.MaxIdleConns = max(t.MaxIdleConns, t.MaxIdleConnsPerHost)
	return &http.Client{Timeout: timeout, Transport: t}
}
