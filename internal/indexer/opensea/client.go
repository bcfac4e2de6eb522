package opensea

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/nftsync/nftsync/internal/clip"
	"github.com/nftsync/nftsync/internal/indexer"
)

const (
	// DefaultMaxBodyBytes is the response body limit when
	// Options.MaxBodyBytes is 0. A full 200-item NFT page is well under 1 MiB.
	DefaultMaxBodyBytes = 8 << 20
	// MaxPageSize is the largest limit /collection/{slug}/nfts accepts, and
	// the default page size.
	MaxPageSize = 200
	// DefaultTimeout is the timeout of the http.Client NewClient creates when
	// it is given none.
	DefaultTimeout = 30 * time.Second
	// DefaultUserAgent is sent when Options.UserAgent is empty.
	DefaultUserAgent = "nftsync-opensea/1"

	// source is the provenance identifier returned by Source.
	source = "opensea"
	// apiKeyHeader carries the API key (spec security scheme ApiKeyAuth).
	apiKeyHeader = "X-API-KEY"
	// errorBodyLimit bounds how much of a non-2xx body is read for its message.
	errorBodyLimit = 64 << 10
	// upstreamMessageLimit bounds the upstream message quoted in errors.
	upstreamMessageLimit = 200
	// statusRateLimitedOpenSea is OpenSea's custom rate-limit status, which
	// the official SDK treats like 429.
	statusRateLimitedOpenSea = 599
)

// Options configure a Client. The zero value is usable apart from APIKey,
// which OpenSea requires in practice.
type Options struct {
	// APIKey is sent as X-API-KEY on every request. It is never logged, never
	// included in an error, and dropped on redirects that leave the base host
	// or downgrade to http. Empty sends no key.
	APIKey string
	// Logger receives a debug line per response and a warning per skipped
	// value. Nil discards.
	Logger *slog.Logger
	// MaxBodyBytes caps a success body; a larger body is ClassMalformed
	// ("body exceeds N bytes"). 0 means DefaultMaxBodyBytes; negative is an
	// error.
	MaxBodyBytes int64
	// Now is the clock for HTTP-date Retry-After values, X-RateLimit-Reset
	// deltas and FetchedAt. Nil means time.Now.
	Now func() time.Time
	// Observe, when set, is called synchronously after every HTTP response
	// (any status, before the body is read) with the parsed rate-limit
	// headers. It must be quick and safe for concurrent use. It is not called
	// when no response arrived (connection errors, timeouts before headers).
	Observe func(ResponseInfo)
	// ObserveSkip, when set, is called synchronously for each value the
	// client dropped instead of failing the call (see the package doc), so
	// the caller can count data-quality events. It must be safe for
	// concurrent use.
	ObserveSkip func(Skip)
	// PageSize is the limit sent to the NFT list endpoint, 1..MaxPageSize.
	// 0 means MaxPageSize; anything else out of range is an error.
	PageSize int
	// UserAgent is the User-Agent header. Empty means DefaultUserAgent.
	UserAgent string
}

// Client talks to the OpenSea API v2. It implements indexer.Indexer and is
// safe for concurrent use; it holds no mutable state.
type Client struct {
	apiKey      string
	baseURL     string
	http        *http.Client
	logger      *slog.Logger
	maxBody     int64
	now         func() time.Time
	observe     func(ResponseInfo)
	observeSkip func(Skip)
	pageSize    int
	userAgent   string
}

// NewClient returns a Client for the API at baseURL, e.g.
// "https://api.opensea.io" (a trailing slash and a path prefix are allowed;
// "/api/v2/…" is appended). httpClient nil means a new client with
// DefaultTimeout; never pass one without a timeout unless every ctx has a
// deadline. The given client is copied, not modified: the copy's
// CheckRedirect strips the API key on cross-host or https→http redirects
// before delegating to the original policy.
//
// NewClient fails on a baseURL that is not an absolute http(s) URL without
// query or fragment, and on out-of-range Options.
func NewClient(baseURL string, httpClient *http.Client, opts Options) (*Client, error) {
	u, err := url.Parse(baseURL)
	if err != nil {
		return nil, fmt.Errorf("opensea: parse base URL: %w", err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("opensea: base URL must be an absolute http(s) URL without query or fragment, got %q", u.Redacted())
	}
	if opts.MaxBodyBytes < 0 {
		return nil, fmt.Errorf("opensea: MaxBodyBytes must not be negative, got %d", opts.MaxBodyBytes)
	}
	if opts.PageSize < 0 || opts.PageSize > MaxPageSize {
		return nil, fmt.Errorf("opensea: PageSize must be 0..%d, got %d", MaxPageSize, opts.PageSize)
	}
	var hc http.Client
	if httpClient != nil {
		hc = *httpClient
	} else {
		hc.Timeout = DefaultTimeout
	}
	hc.CheckRedirect = guardKeyOnRedirect(hc.CheckRedirect)

	c := &Client{
		apiKey:      opts.APIKey,
		baseURL:     strings.TrimRight(u.String(), "/"),
		http:        &hc,
		logger:      opts.Logger,
		maxBody:     opts.MaxBodyBytes,
		now:         opts.Now,
		observe:     opts.Observe,
		observeSkip: opts.ObserveSkip,
		pageSize:    opts.PageSize,
		userAgent:   opts.UserAgent,
	}
	if c.logger == nil {
		c.logger = slog.New(slog.DiscardHandler)
	}
	if c.maxBody == 0 {
		c.maxBody = DefaultMaxBodyBytes
	}
	if c.now == nil {
		c.now = time.Now
	}
	if c.pageSize == 0 {
		c.pageSize = MaxPageSize
	}
	if c.userAgent == "" {
		c.userAgent = DefaultUserAgent
	}
	return c, nil
}

// Source returns "opensea", the provenance identifier stored with the data.
func (c *Client) Source() string { return source }

// guardKeyOnRedirect wraps a CheckRedirect policy so that the API key never
// follows a redirect to another host or from https to http. net/http strips
// only Authorization and cookies on such hops, not custom headers. A nil
// next means net/http's default of at most 10 redirects.
func guardKeyOnRedirect(next func(*http.Request, []*http.Request) error) func(*http.Request, []*http.Request) error {
	return func(req *http.Request, via []*http.Request) error {
		first := via[0].URL
		if !strings.EqualFold(req.URL.Host, first.Host) || (first.Scheme == "https" && req.URL.Scheme != "https") {
			req.Header.Del(apiKeyHeader)
		}
		if next != nil {
			return next(req, via)
		}
		if len(via) >= 10 {
			return errors.New("stopped after 10 redirects")
		}
		return nil
	}
}

// response is a successful, fully read response.
type response struct {
	body      []byte
	status    int
	fetchedAt time.Time
}

// get performs GET baseURL+path?query and returns the complete body of a 2xx
// response. path must already be escaped. Every failure is an
// *indexer.Error classified as described in the package doc.
func (c *Client) get(ctx context.Context, op, path string, query url.Values) (*response, error) {
	target := c.baseURL + path
	if len(query) > 0 {
		target += "?" + query.Encode()
	}
	return c.do(ctx, op, http.MethodGet, target, nil)
}

// post performs POST baseURL+path with a JSON body, like get.
func (c *Client) post(ctx context.Context, op, path string, body []byte) (*response, error) {
	return c.do(ctx, op, http.MethodPost, c.baseURL+path, body)
}

func (c *Client) do(ctx context.Context, op, method, target string, body []byte) (*response, error) {
	if err := ctx.Err(); err != nil {
		return nil, contextError(op, 0, err)
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, target, rd)
	if err != nil {
		// Only a slug that breaks URL syntax gets here; retrying won't help.
		return nil, &indexer.Error{Class: indexer.ClassPermanent, Op: op, Err: fmt.Errorf("build request: %w", err)}
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.userAgent)
	if c.apiKey != "" {
		req.Header.Set(apiKeyHeader, c.apiKey)
	}

	start := time.Now()
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, c.transportError(ctx, op, 0, err)
	}
	defer resp.Body.Close()

	now := c.now()
	info := parseResponseInfo(op, resp, now, time.Since(start))
	c.logger.DebugContext(ctx, "opensea: response",
		slog.String("op", op),
		slog.Int("status", resp.StatusCode),
		slog.Duration("elapsed", info.Elapsed),
		slog.Int64("ratelimit_remaining", info.Remaining),
	)
	if c.observe != nil {
		c.observe(info)
	}

	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, c.statusError(op, resp, info, now)
	}

	data, err := io.ReadAll(io.LimitReader(resp.Body, c.maxBody+1))
	if err != nil {
		return nil, c.transportError(ctx, op, resp.StatusCode, fmt.Errorf("read body: %w", err))
	}
	if int64(len(data)) > c.maxBody {
		return nil, &indexer.Error{
			Class:  indexer.ClassMalformed,
			Op:     op,
			Status: resp.StatusCode,
			Err:    fmt.Errorf("body exceeds %d bytes", c.maxBody),
		}
	}
	return &response{body: data, status: resp.StatusCode, fetchedAt: now}, nil
}

// contextError reports that the caller's ctx ended. It is transient and
// wraps ctx.Err() so errors.Is(err, context.Canceled) holds.
func contextError(op string, status int, ctxErr error) error {
	return &indexer.Error{
		Class:  indexer.ClassTransient,
		Op:     op,
		Status: status,
		Err:    fmt.Errorf("caller context done: %w", ctxErr),
	}
}

// transportError classifies a failure to get or read a response. If the
// caller's ctx is done that is what is reported; everything else (timeouts of
// the http.Client, resets, bodies cut short) is transient.
func (c *Client) transportError(ctx context.Context, op string, status int, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		return contextError(op, status, ctxErr)
	}
	return &indexer.Error{Class: indexer.ClassTransient, Op: op, Status: status, Err: err}
}

// statusError maps a non-2xx response to its error class, quoting the
// upstream message when the body has one.
func (c *Client) statusError(op string, resp *http.Response, info ResponseInfo, now time.Time) error {
	body, _ := io.ReadAll(io.LimitReader(resp.Body, min(errorBodyLimit, c.maxBody)))
	e := &indexer.Error{Op: op, Status: resp.StatusCode}
	var what string
	switch code := resp.StatusCode; {
	case code == http.StatusTooManyRequests || code == statusRateLimitedOpenSea:
		e.Class = indexer.ClassRateLimited
		e.RetryAfter = rateLimitWait(info, resp.Header.Get("Retry-After"), now)
		what = "rate limited"
	case code == http.StatusNotFound:
		e.Class = indexer.ClassPermanent
		what = "collection not found"
	case code == http.StatusUnauthorized || code == http.StatusForbidden:
		e.Class = indexer.ClassPermanent
		what = "api key rejected"
	case code == http.StatusRequestEntityTooLarge:
		e.Class = indexer.ClassPermanent
		what = "request too large"
	case code == http.StatusBadRequest:
		e.Class = indexer.ClassPermanent
		what = "bad request"
	case code == http.StatusRequestTimeout:
		e.Class = indexer.ClassTransient
		what = "request timeout"
	case code >= 400 && code <= 499:
		e.Class = indexer.ClassPermanent
		what = "client error"
	case code >= 500:
		e.Class = indexer.ClassTransient
		what = "server error"
	default:
		e.Class = indexer.ClassTransient
		what = "unexpected status"
	}
	if msg := upstreamMessage(body, c.apiKey); msg != "" {
		what += ": upstream says " + strconv.Quote(msg)
	}
	e.Err = errors.New(what)
	return e
}

// upstreamMessage extracts the message of an OpenSea error body:
// {"errors": ["msg", {"code": "...", "message": "..."}]} or
// {"detail": "msg"}. The API key is redacted if echoed, and the result is
// truncated to about upstreamMessageLimit bytes on a rune boundary. It
// returns "" when the body carries no recognisable message.
func upstreamMessage(body []byte, apiKey string) string {
	var w struct {
		Errors []json.RawMessage `json:"errors"`
		Detail json.RawMessage   `json:"detail"`
	}
	if json.Unmarshal(body, &w) != nil {
		return ""
	}
	var parts []string
	for _, raw := range w.Errors {
		switch rawKind(raw) {
		case "string":
			if s, err := rawString(raw); err == nil && s != "" {
				parts = append(parts, s)
			}
		case "object":
			var item struct {
				Code    string `json:"code"`
				Message string `json:"message"`
			}
			if json.Unmarshal(raw, &item) == nil {
				switch {
				case item.Code != "" && item.Message != "":
					parts = append(parts, item.Code+": "+item.Message)
				case item.Message != "":
					parts = append(parts, item.Message)
				case item.Code != "":
					parts = append(parts, item.Code)
				}
			}
		}
	}
	if rawKind(w.Detail) == "string" {
		if s, err := rawString(w.Detail); err == nil && s != "" {
			parts = append(parts, s)
		}
	}
	msg := strings.Join(parts, "; ")
	if apiKey != "" {
		msg = strings.ReplaceAll(msg, apiKey, "[redacted]")
	}
	return clip.Text(msg, upstreamMessageLimit)
}

// checkSlug rejects slugs that cannot name a collection. An empty slug
// would address the collection list, and "." or ".." could be resolved
// away by a proxy.
func checkSlug(op, slug string) error {
	if slug == "" || slug == "." || slug == ".." {
		return &indexer.Error{Class: indexer.ClassPermanent, Op: op, Err: fmt.Errorf("invalid slug %q", slug)}
	}
	return nil
}

// malformed wraps a decode failure of a complete response body.
func malformed(op string, status int, err error) error {
	return &indexer.Error{Class: indexer.ClassMalformed, Op: op, Status: status, Err: err}
}
