package api

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"slices"
	"sync"

	"github.com/99designs/gqlgen/graphql"
	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/nftsync/nftsync/db"
)

// The response cache.
//
// A client app sends the same few queries over and over, and the data they
// read changes only when a worker writes it. The cache keeps whole answers
// (the JSON bytes) of cacheable queries by request (role, Accept header,
// query, operation name and variables, as sent) together with the data
// version of every collection the answer read. Writers bump a collection's
// version in their own transaction (database triggers, see
// nftsync_api_data_tables), and the API reads each version before the data
// it resolves, so an answer is served from the cache only while every
// version it was built on is still current: one small query instead of the
// whole resolution, and never an answer that is stale past a commit.
//
// Cacheable: queries whose root fields are all collection, tokens, token or
// introspection, answered without errors. Not cached: mutations, the
// collections list, admin fields (jobs), and answers that depend on the
// clock as well as on data (freshness, history ranges).
//
// Every answer carries an ETag (a hash of its bytes); a request whose
// If-None-Match names the current one gets 304 Not Modified.

// cacheableRoots are the root fields whose answers depend only on the data
// of the collections they name.
var cacheableRoots = map[string]bool{ //nolint:gochecknoglobals // read-only
	"collection": true, "tokens": true, "token": true, "__typename": true, "__schema": true, "__type": true,
}

// cachedResponse is one stored answer.
type cachedResponse struct {
	body        []byte
	etag        string
	contentType string
	operation   string // the metrics label of the operation
	ids         []int64
	versions    []int64 // versions[i] is ids[i]'s version the answer was built on
}

// respCache is the process's response cache (nil when disabled).
type respCache struct {
	entries *lru.Cache[string, *cachedResponse]
	q       *db.Queries

	// inflight has a channel per request being resolved after a miss,
	// closed when it is done: concurrent misses of the same request (every
	// client asking right after a write) wait for one resolution instead of
	// each resolving it.
	mu       sync.Mutex
	inflight map[string]chan struct{}
}

func newRespCache(q *db.Queries, size int) (*respCache, error) {
	if size <= 0 {
		return nil, nil //nolint:nilnil // a nil cache is the disabled cache
	}
	entries, err := lru.New[string, *cachedResponse](size)
	if err != nil {
		return nil, fmt.Errorf("response cache: %w", err)
	}
	return &respCache{entries: entries, q: q, inflight: map[string]chan struct{}{}}, nil
}

// resolving registers the caller as the one resolving key after a miss and
// returns the function that ends that; when another request already does,
// it returns that request's channel instead (and a nil function).
func (c *respCache) resolving(key string) (done func(), wait <-chan struct{}) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if ch, ok := c.inflight[key]; ok {
		return nil, ch
	}
	ch := make(chan struct{})
	c.inflight[key] = ch
	return func() {
		c.mu.Lock()
		delete(c.inflight, key)
		c.mu.Unlock()
		close(ch)
	}, nil
}

// key identifies a request's answer: the role (answers differ by what a
// token may see), the response media type the client accepts, and the
// request as sent (the POST body, or the GET query string).
func cacheKey(role role, accept, method string, request []byte) string {
	h := sha256.New()
	fmt.Fprintf(h, "%d\x00%s\x00%s\x00", role, accept, method)
	h.Write(request)
	return string(h.Sum(nil))
}

// current returns the stored answer of key when every version it was built
// on is still current.
func (c *respCache) current(ctx context.Context, key string) (*cachedResponse, error) {
	e, ok := c.entries.Get(key)
	if !ok {
		return nil, nil
	}
	if len(e.ids) > 0 {
		rows, err := c.q.APICollectionDataVersions(ctx, e.ids)
		if err != nil {
			return nil, fmt.Errorf("read data versions: %w", err)
		}
		now := make(map[int64]int64, len(rows))
		for _, r := range rows {
			now[r.CollectionID] = r.Version
		}
		for i, id := range e.ids {
			if now[id] != e.versions[i] {
				c.entries.Remove(key)
				return nil, nil
			}
		}
	}
	return e, nil
}

// cacheRecorder collects, while one request resolves, the versions of the
// collections it reads and whether its answer may be cached.
type cacheRecorder struct {
	mu       sync.Mutex
	versions map[int64]int64
	off      bool
	q        *db.Queries
}

type cacheRecorderKey struct{}

func recorderFrom(ctx context.Context) *cacheRecorder {
	rec, _ := ctx.Value(cacheRecorderKey{}).(*cacheRecorder)
	return rec
}

// noteCollection records the data version of collection id before the
// caller reads its data. Call it right after looking the collection up, and
// before any other read of its data.
func noteCollection(ctx context.Context, id int64) error {
	rec := recorderFrom(ctx)
	if rec == nil {
		return nil
	}
	rec.mu.Lock()
	_, seen := rec.versions[id]
	off := rec.off
	rec.mu.Unlock()
	if seen || off {
		return nil
	}
	v, err := rec.q.APICollectionDataVersion(ctx, id)
	if err != nil {
		return fmt.Errorf("read data version of collection %d: %w", id, err)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if prev, ok := rec.versions[id]; ok && prev != v {
		// Two root fields read the collection across a write: the answer
		// mixes two versions.
		rec.off = true
	}
	rec.versions[id] = v
	return nil
}

// uncacheable marks the request's answer as not to be cached (it depends on
// more than the versioned data).
func uncacheable(ctx context.Context) {
	if rec := recorderFrom(ctx); rec != nil {
		rec.mu.Lock()
		rec.off = true
		rec.mu.Unlock()
	}
}

// entry builds the cache entry of a finished answer, or nil when it may not
// be cached.
func (rec *cacheRecorder) entry(body []byte, etag, contentType, operation string) *cachedResponse {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if rec.off {
		return nil
	}
	e := &cachedResponse{body: body, etag: etag, contentType: contentType, operation: operation}
	for id := range rec.versions {
		e.ids = append(e.ids, id)
	}
	slices.Sort(e.ids)
	for _, id := range e.ids {
		e.versions = append(e.versions, rec.versions[id])
	}
	return e
}

func etagOf(body []byte) string {
	sum := sha256.Sum256(body)
	return `"` + hex.EncodeToString(sum[:16]) + `"`
}

// etagMatches reports whether an If-None-Match header names etag.
func etagMatches(header, etag string) bool {
	for _, part := range bytes.Split([]byte(header), []byte(",")) {
		p := string(bytes.TrimSpace(part))
		if p == etag || p == "W/"+etag || p == "*" {
			return true
		}
	}
	return false
}

// cachePolicy marks operations that may not be cached: anything but a query,
// or a query with a root field outside cacheableRoots; and answers with
// errors.
type cachePolicy struct{}

var _ interface {
	graphql.HandlerExtension
	graphql.OperationContextMutator
	graphql.ResponseInterceptor
} = cachePolicy{}

func (cachePolicy) ExtensionName() string                   { return "ResponseCachePolicy" }
func (cachePolicy) Validate(graphql.ExecutableSchema) error { return nil }

func (cachePolicy) MutateOperationContext(ctx context.Context, oc *graphql.OperationContext) *gqlerror.Error {
	if oc.Operation == nil || oc.Operation.Operation != ast.Query || !onlyRoots(oc.Operation.SelectionSet, cacheableRoots, 0) {
		uncacheable(ctx)
	}
	return nil
}

func (cachePolicy) InterceptResponse(ctx context.Context, next graphql.ResponseHandler) *graphql.Response {
	resp := next(ctx)
	if resp == nil || len(resp.Errors) > 0 {
		uncacheable(ctx)
	}
	return resp
}

// onlyRoots reports whether every field of set (through fragments) is in
// allowed; a selection nested deeper than validation allows is not.
func onlyRoots(set ast.SelectionSet, allowed map[string]bool, depth int) bool {
	if depth > 10 {
		return false
	}
	for _, s := range set {
		switch s := s.(type) {
		case *ast.Field:
			if !allowed[s.Name] {
				return false
			}
		case *ast.InlineFragment:
			if !onlyRoots(s.SelectionSet, allowed, depth+1) {
				return false
			}
		case *ast.FragmentSpread:
			if s.Definition == nil || !onlyRoots(s.Definition.SelectionSet, allowed, depth+1) {
				return false
			}
		}
	}
	return true
}

// captureWriter holds the answer back (status and body) so that the
// handler can add its ETag, answer 304, and keep a copy for the cache.
// Headers go to the real writer's header map.
type captureWriter struct {
	http.ResponseWriter
	status int
	buf    bytes.Buffer
}

func (w *captureWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
}

func (w *captureWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.buf.Write(b)
}

// serveCached answers from a stored or just captured answer: 304 when the
// client already has it, else the body. Cache-Control: no-cache lets
// clients and proxies keep the answer but makes them ask again, and the
// ETag makes asking again cheap.
func serveCached(w http.ResponseWriter, r *http.Request, status int, etag, contentType string, body []byte) {
	h := w.Header()
	h.Set("ETag", etag)
	h.Set("Cache-Control", "no-cache")
	if contentType != "" {
		h.Set("Content-Type", contentType)
	}
	if status == http.StatusOK && etagMatches(r.Header.Get("If-None-Match"), etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	w.WriteHeader(status)
	_, _ = w.Write(body)
}
