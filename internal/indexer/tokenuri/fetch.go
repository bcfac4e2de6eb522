package tokenuri

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/nftsync/nftsync/internal/clip"
	"github.com/nftsync/nftsync/internal/indexer"
)

// ErrTooManyRedirects is returned (wrapped) when an attempt would follow
// more than Options.MaxRedirects redirects, a redirect loop included.
var ErrTooManyRedirects = errors.New("too many redirects")

// errRedirectScheme refuses a redirect to anything but https, or http
// when allowed.
var errRedirectScheme = errors.New("redirect to a refused scheme")

// maxRetryAfter caps a wait a host asks for.
const maxRetryAfter = 5 * time.Minute

// fetch GETs one URL within Options.Timeout and returns its body, which
// must be a 2xx answer with a content type that can be JSON and no more
// than MaxBodyBytes.
func (s *Source) fetch(ctx context.Context, op, target string) ([]byte, error) {
	actx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(actx, http.MethodGet, target, nil)
	if err != nil {
		return nil, classify(op, 0, fmt.Errorf("%w: %w", ErrBadURL, err))
	}
	req.Header.Set("Accept", "application/json, */*;q=0.5")
	req.Header.Set("User-Agent", s.userAgent)
	start := time.Now()
	resp, err := s.http.Do(req)
	if err != nil {
		return nil, s.transportError(ctx, op, 0, target, err)
	}
	defer resp.Body.Close()
	s.logger.DebugContext(ctx, "token_uri: response", slog.String("op", op), slog.String("url", redact(target)),
		slog.Int("status", resp.StatusCode), slog.Duration("elapsed", time.Since(start)))

	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, statusError(op, target, resp)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "" && !maybeJSON(ct) {
		return nil, classify(op, resp.StatusCode, &contentError{fmt.Sprintf("%s: content type %q is not JSON", redact(target), clip.Text(ct, 60))})
	}
	if resp.ContentLength > s.maxBody {
		return nil, classify(op, resp.StatusCode, &contentError{fmt.Sprintf("%s: body of %d bytes exceeds %d", redact(target), resp.ContentLength, s.maxBody)})
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, s.maxBody+1))
	if err != nil {
		return nil, s.transportError(ctx, op, resp.StatusCode, target, fmt.Errorf("read body: %w", err))
	}
	if int64(len(body)) > s.maxBody {
		return nil, classify(op, resp.StatusCode, &contentError{fmt.Sprintf("%s: body exceeds %d bytes", redact(target), s.maxBody)})
	}
	return body, nil
}

// maybeJSON reports whether a Content-Type can carry a JSON document: a
// JSON media type, or one that says nothing about the content
// (text/plain, application/octet-stream, binary/octet-stream), as IPFS
// gateways and object stores commonly send for .json files. The body is
// checked anyway.
func maybeJSON(contentType string) bool {
	mt, params, err := mime.ParseMediaType(contentType)
	if err != nil {
		return false
	}
	if cs, ok := params["charset"]; ok {
		switch strings.ToLower(cs) {
		case "utf-8", "utf8", "us-ascii":
		default:
			return false
		}
	}
	switch mt {
	case "text/plain", "application/octet-stream", "binary/octet-stream":
		return true
	}
	return jsonMediaType(mt)
}

// statusError maps a non-2xx answer to its class.
func statusError(op, target string, resp *http.Response) error {
	e := &indexer.Error{Op: op, Status: resp.StatusCode}
	var what string
	switch code := resp.StatusCode; {
	case code == http.StatusTooManyRequests:
		e.Class, what = indexer.ClassRateLimited, "rate limited"
		e.RetryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), time.Now())
	case code == http.StatusNotFound || code == http.StatusGone:
		e.Class, what = indexer.ClassPermanent, "metadata not found"
	case code == http.StatusRequestTimeout || code == http.StatusTooEarly || code >= 500:
		e.Class, what = indexer.ClassTransient, "server error"
	case code >= 300 && code <= 399:
		e.Class, what = indexer.ClassPermanent, "redirect without a usable Location"
	default:
		e.Class, what = indexer.ClassPermanent, "refused"
	}
	e.Err = fmt.Errorf("%s: %s", redact(target), what)
	return e
}

// transportError classifies a failure to get or read a response: the
// caller's ctx ending, the address guard, a redirect policy refusal, a
// budget refusal, or anything else (timeouts, resets: transient).
func (s *Source) transportError(ctx context.Context, op string, status int, target string, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		return &indexer.Error{Class: indexer.ClassTransient, Op: op, Status: status,
			Err: fmt.Errorf("caller context done: %w", ctxErr)}
	}
	var ie *indexer.Error
	if errors.As(err, &ie) { // from the budget
		out := *ie
		out.Op = op
		return &out
	}
	var ge *GuardError
	switch {
	case errors.As(err, &ge), errors.Is(err, ErrTooManyRedirects), errors.Is(err, errRedirectScheme):
		return &indexer.Error{Class: indexer.ClassPermanent, Op: op, Status: status, Err: fmt.Errorf("%s: %w", redact(target), unwrapURLError(err))}
	case errors.Is(err, context.DeadlineExceeded):
		return &indexer.Error{Class: indexer.ClassTransient, Op: op, Status: status,
			Err: fmt.Errorf("%s: no complete answer within %s", redact(target), s.timeout)}
	}
	return &indexer.Error{Class: indexer.ClassTransient, Op: op, Status: status, Err: fmt.Errorf("%s: %w", redact(target), unwrapURLError(err))}
}

// unwrapURLError drops net/http's "Get \"<url>\": " prefix, which would
// repeat the (unredacted) URL.
func unwrapURLError(err error) error {
	if ue, ok := errors.AsType[*url.Error](err); ok {
		return ue.Err
	}
	return err
}

// classify turns an error found before or after the transfer into an
// *indexer.Error: a contentError is malformed, everything else (a bad URL,
// an unsupported scheme) permanent.
func classify(op string, status int, err error) error {
	var ce *contentError
	if errors.As(err, &ce) {
		return &indexer.Error{Class: indexer.ClassMalformed, Op: op, Status: status, Err: err}
	}
	return &indexer.Error{Class: indexer.ClassPermanent, Op: op, Status: status, Err: err}
}

// checkRedirect is the http.Client redirect policy: at most MaxRedirects
// hops, only to https (or to http when allowed, or from an http URL that
// was allowed: a configured gateway). Every hop dials through the address
// guard and asks the budget for its host.
func (s *Source) checkRedirect(req *http.Request, via []*http.Request) error {
	if len(via) > s.maxRedirects {
		return fmt.Errorf("%w: more than %d", ErrTooManyRedirects, s.maxRedirects)
	}
	switch req.URL.Scheme {
	case "https":
	case "http":
		if !s.allowHTTP && via[len(via)-1].URL.Scheme != "http" {
			return fmt.Errorf("%w: https to http (%s)", errRedirectScheme, redact(req.URL.String()))
		}
	default:
		return fmt.Errorf("%w: %q", errRedirectScheme, req.URL.Scheme)
	}
	return nil
}

// parseRetryAfter reads Retry-After (seconds or an HTTP-date), capped at
// maxRetryAfter; 0 when absent or unparseable.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		return min(max(time.Duration(secs)*time.Second, 0), maxRetryAfter)
	}
	if t, err := http.ParseTime(v); err == nil {
		return min(max(t.Sub(now), 0), maxRetryAfter)
	}
	return 0
}

// budgetTransport asks the budget for every request's host (so redirects
// to another host are budgeted too), holds the lease until the body is
// closed, and reports 429 answers back to the budget.
type budgetTransport struct {
	next   http.RoundTripper
	budget Budget
}

func (t *budgetTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if t.budget == nil {
		return t.next.RoundTrip(req)
	}
	host := strings.ToLower(req.URL.Hostname())
	release, err := t.budget.Acquire(req.Context(), host)
	if err != nil {
		return nil, err
	}
	resp, err := t.next.RoundTrip(req)
	if err != nil {
		release()
		return nil, err
	}
	if resp.StatusCode == http.StatusTooManyRequests {
		t.budget.Throttled(req.Context(), host, parseRetryAfter(resp.Header.Get("Retry-After"), time.Now()))
	}
	resp.Body = &releaseBody{ReadCloser: resp.Body, release: release}
	return resp, nil
}

// releaseBody ends a budget lease when the body is closed.
type releaseBody struct {
	io.ReadCloser
	release func()
	done    bool
}

func (b *releaseBody) Close() error {
	err := b.ReadCloser.Close()
	if !b.done {
		b.done = true
		b.release()
	}
	return err
}
