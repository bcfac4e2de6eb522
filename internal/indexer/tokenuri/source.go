package tokenuri

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/nftsync/nftsync/internal/clip"
	"github.com/nftsync/nftsync/internal/indexer"
)

// Defaults of Options.
const (
	DefaultMaxBodyBytes = 2 << 20
	DefaultTimeout      = 10 * time.Second
	DefaultMaxRedirects = 5
	DefaultUserAgent    = "nftsync-tokenuri/1"

	// source is the provenance identifier returned by Source.
	source = indexer.TraitSourceTokenURI
)

// DefaultIPFSGateways and DefaultArweaveGateways are the public gateways
// used when Options names none.
//
//nolint:gochecknoglobals // read-only defaults (Options copies them)
var (
	DefaultIPFSGateways    = []string{"https://ipfs.io/ipfs/", "https://dweb.link/ipfs/"}
	DefaultArweaveGateways = []string{"https://arweave.net/", "https://ar-io.net/"}
)

// Budget hands out per-host request budget; a shared PostgreSQL limiter
// implements it (ratelimit.HostBudget). Acquire waits for a request to host
// to be allowed and returns a function that ends it; its error is an
// *indexer.Error of ClassRateLimited when no budget came in time (other
// errors are transient). Throttled tells the budget that host answered 429,
// asking for wait (0 when it did not say).
type Budget interface {
	Acquire(ctx context.Context, host string) (release func(), err error)
	Throttled(ctx context.Context, host string, wait time.Duration)
}

// Options configure a Source. The zero value works for public https URLs.
type Options struct {
	// IPFSGateways and ArweaveGateways are URL prefixes an ipfs://<cid>/path
	// or ar://<id>/path URL is appended to ("https://ipfs.io/ipfs/"), tried
	// in order: the next one is asked when one fails. nil means the
	// defaults; an empty non-nil slice refuses such URLs.
	IPFSGateways    []string
	ArweaveGateways []string
	// AllowHTTP allows plain http:// metadata URLs and redirects to http.
	// Configured gateways may be http regardless.
	AllowHTTP bool
	// AllowNets are networks the address guard lets through although they
	// are not public (e.g. 127.0.0.0/8 for a local simulator). Empty means
	// only public addresses are dialled.
	AllowNets []netip.Prefix
	// MaxBodyBytes caps a document (after decompression, and for data:
	// URLs after decoding). 0 means DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// Timeout bounds one attempt (connect, redirects, headers and body) at
	// one URL. 0 means DefaultTimeout.
	Timeout time.Duration
	// MaxRedirects is how many redirects one attempt follows. 0 means
	// DefaultMaxRedirects; negative means none.
	MaxRedirects int
	// Budget, when set, is asked before every request (redirects
	// included) for the request's host. Nil means no limit.
	Budget Budget
	// UserAgent is the User-Agent header. Empty means DefaultUserAgent.
	UserAgent string
	// RootCAs are the certificate authorities https servers are checked
	// against. Nil means the system's.
	RootCAs *x509.CertPool
	// Logger receives a debug line per attempt and a warning per skipped
	// trait. Nil discards.
	Logger *slog.Logger
	// ObserveSkip, when set, is called for each trait dropped from a
	// document instead of failing it. It must be safe for concurrent use.
	ObserveSkip func(Skip)
}

// Source fetches tokens' metadata documents from their metadata_url. It
// implements indexer.TraitSource and is safe for concurrent use.
type Source struct {
	ipfsGateways []string
	arGateways   []string
	allowHTTP    bool
	maxBody      int64
	timeout      time.Duration
	maxRedirects int
	userAgent    string
	budget       Budget
	logger       *slog.Logger
	observeSkip  func(Skip)
	http         *http.Client
	transport    *http.Transport
}

var _ indexer.TraitSource = (*Source)(nil)

// New returns a Source. It fails on a gateway that is not an absolute
// http(s) URL without query or fragment, and on negative limits.
func New(opts Options) (*Source, error) {
	if opts.MaxBodyBytes < 0 {
		return nil, fmt.Errorf("tokenuri: MaxBodyBytes must not be negative, got %d", opts.MaxBodyBytes)
	}
	if opts.Timeout < 0 {
		return nil, fmt.Errorf("tokenuri: Timeout must not be negative, got %s", opts.Timeout)
	}
	s := &Source{
		allowHTTP:    opts.AllowHTTP,
		maxBody:      opts.MaxBodyBytes,
		timeout:      opts.Timeout,
		maxRedirects: opts.MaxRedirects,
		userAgent:    opts.UserAgent,
		budget:       opts.Budget,
		logger:       opts.Logger,
		observeSkip:  opts.ObserveSkip,
	}
	var err error
	if s.ipfsGateways, err = gatewayPrefixes("IPFS", opts.IPFSGateways, DefaultIPFSGateways); err != nil {
		return nil, err
	}
	if s.arGateways, err = gatewayPrefixes("Arweave", opts.ArweaveGateways, DefaultArweaveGateways); err != nil {
		return nil, err
	}
	if s.maxBody == 0 {
		s.maxBody = DefaultMaxBodyBytes
	}
	if s.timeout == 0 {
		s.timeout = DefaultTimeout
	}
	switch {
	case s.maxRedirects == 0:
		s.maxRedirects = DefaultMaxRedirects
	case s.maxRedirects < 0:
		s.maxRedirects = 0
	}
	if s.userAgent == "" {
		s.userAgent = DefaultUserAgent
	}
	if s.logger == nil {
		s.logger = slog.New(slog.DiscardHandler)
	}

	g := guard{allow: append([]netip.Prefix(nil), opts.AllowNets...)}
	dialer := &net.Dialer{Timeout: s.timeout, KeepAlive: 30 * time.Second, Control: g.control}
	s.transport = &http.Transport{
		Proxy:                  nil, // a proxy would dial for us, past the guard
		DialContext:            dialer.DialContext,
		ForceAttemptHTTP2:      true,
		MaxIdleConns:           64,
		MaxIdleConnsPerHost:    8,
		IdleConnTimeout:        90 * time.Second,
		TLSHandshakeTimeout:    s.timeout,
		ResponseHeaderTimeout:  s.timeout,
		ExpectContinueTimeout:  time.Second,
		MaxResponseHeaderBytes: 64 << 10,
		TLSClientConfig:        &tls.Config{RootCAs: opts.RootCAs, MinVersion: tls.VersionTLS12},
	}
	s.http = &http.Client{
		Transport:     &budgetTransport{next: s.transport, budget: s.budget},
		CheckRedirect: s.checkRedirect,
	}
	return s, nil
}

// gatewayPrefixes validates gateway URL prefixes and makes each end in "/".
func gatewayPrefixes(kind string, given, defaults []string) ([]string, error) {
	if given == nil {
		given = defaults
	}
	out := make([]string, 0, len(given))
	for _, g := range given {
		u, err := url.Parse(strings.TrimSpace(g))
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
			return nil, fmt.Errorf("tokenuri: %s gateway must be an absolute http(s) URL prefix without query or fragment, got %q", kind, g)
		}
		p := u.String()
		if !strings.HasSuffix(p, "/") {
			p += "/"
		}
		out = append(out, p)
	}
	return out, nil
}

// Source returns "token_uri", the provenance identifier stored with the
// data.
func (s *Source) Source() string { return source }

// CloseIdleConnections closes the connections kept for reuse.
func (s *Source) CloseIdleConnections() { s.transport.CloseIdleConnections() }

// TokenTraits fetches and parses ref.MetadataURL (see the package doc for
// schemes, limits and error classes). Every error concerns this token
// only.
func (s *Source) TokenTraits(ctx context.Context, ref indexer.TokenRef) (*indexer.TokenMetadata, error) {
	op := "token_uri " + ref.Contract + "/" + ref.TokenID
	p, err := s.resolve(ref.MetadataURL)
	if err != nil {
		return nil, classify(op, 0, err)
	}
	var body []byte
	if p.inline != nil {
		body = p.inline
	} else {
		body, err = s.fetchAny(ctx, op, p.candidates)
		if err != nil {
			return nil, err
		}
	}
	md, skips, err := parseDocument(body)
	if err != nil {
		return nil, &indexer.Error{Class: indexer.ClassMalformed, Op: op, Err: fmt.Errorf("metadata document: %w", err)}
	}
	for _, sk := range skips {
		sk.Ref = ref
		s.logger.WarnContext(ctx, "token_uri: skipped trait", slog.String("op", op),
			slog.String("field", sk.Field), slog.String("reason", sk.Reason))
		if s.observeSkip != nil {
			s.observeSkip(sk)
		}
	}
	return md, nil
}

// fetchAny tries each candidate URL in order and returns the first
// document that arrives as JSON. When all fail, the error's class is the
// most hopeful of theirs (rate limited, then transient, then malformed,
// then permanent): one gateway's 404 does not condemn a token another
// gateway could not be asked for.
func (s *Source) fetchAny(ctx context.Context, op string, candidates []string) ([]byte, error) {
	var errs []error
	best := -1
	for _, c := range candidates {
		body, err := s.fetch(ctx, op, c)
		if err == nil {
			if len(errs) > 0 {
				s.logger.DebugContext(ctx, "token_uri: fell back to the next URL", slog.String("op", op),
					slog.String("url", redact(c)), slog.Int("failed_before", len(errs)))
			}
			return body, nil
		}
		if ctx.Err() != nil {
			return nil, err
		}
		errs = append(errs, err)
		if best < 0 || better(err, errs[best]) {
			best = len(errs) - 1
		}
	}
	if len(errs) == 1 {
		return nil, errs[0]
	}
	var be *indexer.Error
	errors.As(errs[best], &be)
	out := &indexer.Error{Class: be.Class, Op: op, Status: be.Status, RetryAfter: be.RetryAfter,
		Err: fmt.Errorf("all %d URLs failed: %w", len(errs), errors.Join(unwrapOps(errs)...))}
	return nil, out
}

// better reports whether a is a more hopeful outcome than b: a class a
// retry helps more, or between two rate limits the shorter wait.
func better(a, b error) bool {
	ca, cb := indexer.ClassOf(a), indexer.ClassOf(b)
	if ca != cb {
		return hope(ca) > hope(cb)
	}
	wa, _ := indexer.RetryAfter(a)
	wb, _ := indexer.RetryAfter(b)
	return ca == indexer.ClassRateLimited && wa > 0 && (wb == 0 || wa < wb)
}

// hope orders classes by how much a later retry could help.
func hope(c indexer.Class) int {
	switch c {
	case indexer.ClassRateLimited:
		return 3
	case indexer.ClassTransient:
		return 2
	case indexer.ClassMalformed:
		return 1
	}
	return 0
}

// unwrapOps drops the repeated op prefix of per-URL errors for a joined
// message.
func unwrapOps(errs []error) []error {
	out := make([]error, len(errs))
	for i, err := range errs {
		var ie *indexer.Error
		if errors.As(err, &ie) && ie.Err != nil {
			out[i] = fmt.Errorf("%s: %w", ie.Class, ie.Err)
			continue
		}
		out[i] = err
	}
	return out
}

// redact hides userinfo and the query of a URL for logs.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return clip.Text(raw, 80)
	}
	u.User = nil
	if u.RawQuery != "" {
		u.RawQuery = "…"
	}
	return clip.Text(u.String(), 200)
}
