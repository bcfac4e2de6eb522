package subgraph

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/shurcooL/graphql"

	"github.com/nftsync/nftsync/internal/clip"
	"github.com/nftsync/nftsync/internal/indexer"
)

const (
	// MaxPageSize is the largest `first` graph-node accepts.
	MaxPageSize = 1000
	// DefaultMaxBodyBytes caps a response body when Options.MaxBodyBytes is
	// 0. Thirty-one daily snapshots are a few kilobytes.
	DefaultMaxBodyBytes = 4 << 20
	// DefaultTimeout is the timeout of the http.Client NewClient creates when
	// it is given none.
	DefaultTimeout = 30 * time.Second
	// SourcePrefix starts the provenance name of every subgraph source:
	// "subgraph:" + endpoint name, e.g. "subgraph:seaport".
	SourcePrefix = "subgraph:"
	// windowDays is the longest volume window; that many days before the
	// current one are read.
	windowDays = 30
	// upstreamMessageLimit bounds the upstream text quoted in errors.
	upstreamMessageLimit = 300
)

// Options configure a Client.
type Options struct {
	// APIKey is sent as "Authorization: Bearer <key>" to the endpoint's host
	// only. Never logged. Empty sends none (self-hosted graph-node).
	APIKey string
	// PageSize is `first` for paged queries, 1..MaxPageSize; 0 means
	// MaxPageSize.
	PageSize int
	// MaxBodyBytes caps a response body; 0 means DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// Now is the clock for FetchedAt and HTTP-date Retry-After values; nil
	// means time.Now.
	Now func() time.Time
	// Logger receives a debug line per query; nil discards.
	Logger *slog.Logger
	// Chain is the chain the subgraph indexes, as stored with contracts;
	// empty means "ethereum".
	Chain string
}

// Client queries one marketplace subgraph. It implements indexer.Indexer
// (slug arguments are contract addresses) and indexer.Capabilities, and is
// safe for concurrent use.
type Client struct {
	name     string
	chain    string
	gql      *graphql.Client
	pageSize int
	now      func() time.Time
	logger   *slog.Logger
}

var (
	_ indexer.Indexer      = (*Client)(nil)
	_ indexer.Capabilities = (*Client)(nil)
)

// NewClient returns a Client for the subgraph at endpoint (the full query
// URL, e.g. https://gateway.thegraph.com/api/subgraphs/id/<ID>) whose
// provenance name is SourcePrefix+name. httpClient nil means a new client
// with DefaultTimeout; a given client is copied and its transport wrapped
// in a Transport.
func NewClient(name, endpoint string, httpClient *http.Client, opts Options) (*Client, error) {
	if name == "" || strings.ContainsAny(name, " :/") {
		return nil, fmt.Errorf("subgraph: endpoint name must be non-empty without spaces, ':' or '/', got %q", name)
	}
	u, err := url.Parse(endpoint)
	if err != nil {
		return nil, fmt.Errorf("subgraph %s: parse URL: %w", name, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Fragment != "" {
		return nil, fmt.Errorf("subgraph %s: URL must be an absolute http(s) URL without fragment, got %q", name, u.Redacted())
	}
	if opts.PageSize < 0 || opts.PageSize > MaxPageSize {
		return nil, fmt.Errorf("subgraph %s: page size must be 0..%d, got %d", name, MaxPageSize, opts.PageSize)
	}
	if opts.MaxBodyBytes < 0 {
		return nil, fmt.Errorf("subgraph %s: max body bytes must not be negative", name)
	}
	var hc http.Client
	if httpClient != nil {
		hc = *httpClient
	} else {
		hc.Timeout = DefaultTimeout
	}
	maxBody := opts.MaxBodyBytes
	if maxBody == 0 {
		maxBody = DefaultMaxBodyBytes
	}
	hc.Transport = &Transport{Base: hc.Transport, APIKey: opts.APIKey, Host: u.Host, MaxBody: maxBody}
	if hc.CheckRedirect == nil {
		hc.CheckRedirect = guardRedirect
	}
	c := &Client{
		name:     name,
		chain:    opts.Chain,
		gql:      graphql.NewClient(u.String(), &hc),
		pageSize: opts.PageSize,
		now:      opts.Now,
		logger:   opts.Logger,
	}
	if c.pageSize == 0 {
		c.pageSize = MaxPageSize
	}
	if c.now == nil {
		c.now = time.Now
	}
	if c.chain == "" {
		c.chain = "ethereum"
	}
	if c.logger == nil {
		c.logger = slog.New(slog.DiscardHandler)
	}
	return c, nil
}

// Source returns "subgraph:<name>".
func (c *Client) Source() string { return SourcePrefix + c.name }

// Supported says what a marketplace subgraph has: volume and collection
// metadata; no floor price (listings are off-chain) and no tokens.
func (c *Client) Supported() []indexer.DataKind {
	return []indexer.DataKind{indexer.DataVolume, indexer.DataMetadata}
}

// Tokens is not supported: the schema has no token or trait entities.
func (c *Client) Tokens(_ context.Context, address, _ string) (*indexer.TokenPage, error) {
	return nil, indexer.NotSupported("tokens " + address)
}

// query runs one GraphQL query and classifies its failure.
func (c *Client) query(ctx context.Context, op string, q any, vars map[string]any) error {
	if err := ctx.Err(); err != nil {
		return &indexer.Error{Class: indexer.ClassTransient, Op: op, Err: err}
	}
	qctx, ex := withExchange(ctx)
	start := c.now()
	err := c.gql.Query(qctx, q, vars)
	status, header, tooLarge := ex.get()
	c.logger.DebugContext(ctx, "subgraph query", slog.String("source", c.Source()), slog.String("op", op),
		slog.Int("status", status), slog.Duration("took", c.now().Sub(start)), slog.Bool("ok", err == nil))
	if err == nil {
		return nil
	}
	return c.classify(ctx, op, status, header, tooLarge, err)
}

// classify maps a failed query to an *indexer.Error (see the package doc).
func (c *Client) classify(ctx context.Context, op string, status int, header http.Header, tooLarge bool, err error) error {
	e := &indexer.Error{Op: op, Status: status, Err: err}
	switch {
	case tooLarge:
		e.Class, e.Err = indexer.ClassMalformed, errBodyTooLarge
	case status == 0 || ctx.Err() != nil:
		// No answer: connection refused or reset, timeout, cancellation.
		e.Class = indexer.ClassTransient
	case status == http.StatusTooManyRequests:
		e.Class, e.RetryAfter = indexer.ClassRateLimited, retryAfter(header, c.now())
		e.Err = errors.New(quote(err.Error()))
	case status >= 500:
		e.Class, e.Err = indexer.ClassTransient, errors.New(quote(err.Error()))
	case status != http.StatusOK:
		e.Class, e.Err = indexer.ClassPermanent, errors.New(quote(err.Error()))
	default:
		e.Status = 0 // the failure is in the payload, not the exchange
		e.Class = classifyPayload(err)
	}
	return e
}

// classifyPayload classifies the failure of a 200 answer: a GraphQL error
// message, or a body that did not decode.
func classifyPayload(err error) indexer.Class {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	if errors.As(err, &syn) || errors.As(err, &typ) || errors.Is(err, io.ErrUnexpectedEOF) {
		return indexer.ClassMalformed
	}
	msg := strings.ToLower(err.Error())
	for _, s := range []string{"indexed up to block", "bad indexers", "no indexers", "timeout", "temporarily unavailable"} {
		if strings.Contains(msg, s) {
			return indexer.ClassTransient
		}
	}
	if strings.Contains(msg, "not found") && (strings.Contains(msg, "subgraph") || strings.Contains(msg, "deployment")) {
		return indexer.ClassPermanent
	}
	for _, s := range []string{
		"indexing error", "indexing_error", "has indexing errors",
		"auth error", "api key", "authorization",
		"has no field", "unknown argument", "unknown type", "must be between", "cannot query field",
		"is never used", "is not defined", "used in position expecting",
	} {
		if strings.Contains(msg, s) {
			return indexer.ClassPermanent
		}
	}
	return indexer.ClassMalformed
}

// quote bounds upstream text quoted in an error, never cutting a character
// in half.
func quote(s string) string {
	return clip.Text(s, upstreamMessageLimit)
}

// malformed returns a ClassMalformed error for a decoded but invalid answer.
func malformed(op string, format string, args ...any) error {
	return &indexer.Error{Class: indexer.ClassMalformed, Op: op, Err: fmt.Errorf(format, args...)}
}

// unknownCollection returns the error for a collection the subgraph lacks.
func unknownCollection(op, address string) error {
	return &indexer.Error{Class: indexer.ClassPermanent, Op: op, Status: http.StatusNotFound,
		Err: fmt.Errorf("%w: %s has no collection %s", indexer.ErrUnknownCollection, op, address)}
}

// checkAddress validates a contract address argument.
func checkAddress(op, address string) error {
	ok := len(address) == 42 && strings.HasPrefix(address, "0x")
	for _, r := range address[min(2, len(address)):] {
		if !strings.ContainsRune("0123456789abcdef", r) {
			ok = false
		}
	}
	if !ok {
		return &indexer.Error{Class: indexer.ClassPermanent, Op: op,
			Err: fmt.Errorf("subgraph collections are keyed by lower-case 0x contract address, got %q", address)}
	}
	return nil
}
