package subgraph

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// errBodyTooLarge is returned by a response body that passed its limit.
var errBodyTooLarge = errors.New("response body too large")

// Transport is an http.RoundTripper for subgraph endpoints. It adds the API
// key as "Authorization: Bearer <key>" (The Graph gateway's scheme; the key
// is never logged and is dropped when a redirect leaves the endpoint's
// host), caps every response body at MaxBody bytes, and records the status
// and rate-limit headers of each exchange made with a context from
// withExchange, because shurcooL/graphql reports a non-200 answer only as
// a string.
type Transport struct {
	// Base performs the requests; nil means http.DefaultTransport.
	Base http.RoundTripper
	// APIKey is sent as a bearer token; empty sends none.
	APIKey string
	// Host is the endpoint's host; the key is sent only to it.
	Host string
	// MaxBody caps response bodies; reading past it fails with
	// errBodyTooLarge. 0 means no cap.
	MaxBody int64
}

// exchange is what Transport learned about one request.
type exchange struct {
	mu       sync.Mutex
	status   int
	header   http.Header
	tooLarge bool
}

type exchangeKey struct{}

// withExchange returns a context whose requests record into a new exchange.
func withExchange(ctx context.Context) (context.Context, *exchange) {
	ex := &exchange{}
	return context.WithValue(ctx, exchangeKey{}, ex), ex
}

func (ex *exchange) get() (int, http.Header, bool) {
	ex.mu.Lock()
	defer ex.mu.Unlock()
	return ex.status, ex.header, ex.tooLarge
}

// RoundTrip implements http.RoundTripper. It never modifies req.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	base := t.Base
	if base == nil {
		base = http.DefaultTransport
	}
	if t.APIKey != "" && strings.EqualFold(req.URL.Host, t.Host) {
		req = req.Clone(req.Context())
		req.Header.Set("Authorization", "Bearer "+t.APIKey)
	}
	resp, err := base.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	ex, _ := req.Context().Value(exchangeKey{}).(*exchange)
	if ex != nil {
		ex.mu.Lock()
		ex.status, ex.header = resp.StatusCode, resp.Header.Clone()
		ex.mu.Unlock()
	}
	if t.MaxBody > 0 {
		resp.Body = &limitedBody{rc: resp.Body, left: t.MaxBody, ex: ex}
	}
	return resp, nil
}

// limitedBody fails once more than its limit has been read.
type limitedBody struct {
	rc   io.ReadCloser
	left int64
	ex   *exchange
}

func (b *limitedBody) Read(p []byte) (int, error) {
	if b.left < 0 {
		return 0, errBodyTooLarge
	}
	if int64(len(p)) > b.left+1 {
		p = p[:b.left+1]
	}
	n, err := b.rc.Read(p)
	b.left -= int64(n)
	if b.left < 0 {
		if b.ex != nil {
			b.ex.mu.Lock()
			b.ex.tooLarge = true
			b.ex.mu.Unlock()
		}
		return n, errBodyTooLarge
	}
	return n, err
}

func (b *limitedBody) Close() error { return b.rc.Close() }

// retryAfter parses Retry-After (delay seconds or an HTTP date) relative to
// now; 0 when absent or unparseable. Waits are capped at five minutes, as
// the OpenSea SDK caps them, so a bogus header cannot park a key for days.
func retryAfter(h http.Header, now time.Time) time.Duration {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0
	}
	var d time.Duration
	if secs, err := strconv.ParseFloat(v, 64); err == nil {
		if secs < 0 || secs != secs {
			return 0
		}
		d = time.Duration(secs * float64(time.Second))
	} else if t, err := http.ParseTime(v); err == nil {
		d = t.Sub(now)
	}
	return min(max(d, 0), 5*time.Minute)
}

// guardRedirect keeps the bearer token on the endpoint's host: net/http
// already drops Authorization on a cross-host redirect; this also refuses
// https→http downgrades.
func guardRedirect(req *http.Request, via []*http.Request) error {
	if len(via) >= 5 {
		return fmt.Errorf("stopped after %d redirects", len(via))
	}
	if via[0].URL.Scheme == "https" && req.URL.Scheme != "https" {
		return errors.New("refusing redirect from https to http")
	}
	return nil
}
