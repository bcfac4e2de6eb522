package api

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/99designs/gqlgen/graphql"
	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/nftsync/nftsync/db"
	"github.com/nftsync/nftsync/jobs"
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
	// tokens: versions are token data versions (a root field's answer in
	// the field cache).
	tokens bool
	// maxAge: how long HTTP caches may reuse it (httpMaxAge).
	maxAge time.Duration
}

// respCache is the process's response cache (nil when disabled).
type respCache struct {
	entries *lru.Cache[string, *cachedResponse]
	// fields holds the answers of token root fields on their own (see
	// rootFieldCache).
	fields   *lru.Cache[string, *cachedResponse]
	q        *db.Queries
	versions *versionReader

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
	fields, err := lru.New[string, *cachedResponse](size)
	if err != nil {
		return nil, fmt.Errorf("response cache: %w", err)
	}
	return &respCache{entries: entries, fields: fields, q: q, versions: &versionReader{q: q}, inflight: map[string]chan struct{}{}}, nil
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
// on is still current, with the versions read.
func (c *respCache) current(ctx context.Context, key string) (*cachedResponse, []db.APICollectionDataVersionsRow, error) {
	return c.currentIn(ctx, c.entries, key)
}

func (c *respCache) currentIn(ctx context.Context, entries *lru.Cache[string, *cachedResponse], key string) (*cachedResponse, []db.APICollectionDataVersionsRow, error) {
	e, ok := entries.Get(key)
	if !ok {
		return nil, nil, nil
	}
	if len(e.ids) == 0 {
		return e, nil, nil
	}
	now, err := c.versions.read(ctx, e.ids)
	if err != nil {
		return nil, nil, fmt.Errorf("read data versions: %w", err)
	}
	rows := make([]db.APICollectionDataVersionsRow, 0, len(e.ids))
	for _, id := range e.ids {
		if r, ok := now[id]; ok {
			rows = append(rows, r)
		}
	}
	for i, id := range e.ids {
		v := now[id].Version // 0: no row (never written, or untracked)
		if e.tokens {
			v = now[id].TokensVersion
		}
		if v != e.versions[i] {
			// Not removed: a concurrent resolution may have stored a
			// current answer under key since Get (removing by key would
			// throw that one away); the next resolution replaces it.
			return nil, nil, nil
		}
	}
	return e, rows, nil
}

// cacheRecorder collects, while one request resolves, the versions of the
// collections it reads and whether its answer may be cached. A root field
// whose answer is cached on its own (see fieldCache) resolves with a
// recorder of its own whose parent is the request's: what it notes, the
// request notes too.
type cacheRecorder struct {
	mu       sync.Mutex
	versions map[int64]db.APICollectionDataVersionRow
	off      bool
	q        *db.Queries
	parent   *cacheRecorder
	// tokens: this recorder keeps a token answer, valid while the
	// collections' token data versions are (else while their versions are).
	tokens bool
	// key is the request's cache key (set on the request's recorder).
	key string
	// tokensOnly: every root field is a token root field (httpMaxAge).
	tokensOnly bool
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
	if rec.seen(id) {
		return nil
	}
	v, err := rec.q.APICollectionDataVersion(ctx, id)
	if err != nil {
		return fmt.Errorf("read data version of collection %d: %w", id, err)
	}
	rec.note(id, v)
	return nil
}

// noteVersions records versions v of collection id, read by the statement
// that looked the collection up (before any other read of its data).
func noteVersions(ctx context.Context, id int64, v db.APICollectionDataVersionRow) {
	if rec := recorderFrom(ctx); rec != nil {
		rec.note(id, v)
	}
}

// seen reports whether rec and every recorder above it already hold id's
// versions, or are off.
func (rec *cacheRecorder) seen(id int64) bool {
	for r := rec; r != nil; r = r.parent {
		r.mu.Lock()
		_, ok := r.versions[id]
		off := r.off
		r.mu.Unlock()
		if !ok && !off {
			return false
		}
	}
	return true
}

// note records versions v of collection id in rec and the recorders above
// it. A collection read at two versions (two root fields across a write)
// turns a recorder off: its answer mixes two versions.
func (rec *cacheRecorder) note(id int64, v db.APICollectionDataVersionRow) {
	for r := rec; r != nil; r = r.parent {
		r.mu.Lock()
		if prev, ok := r.versions[id]; ok && prev != v {
			r.off = true
		}
		r.versions[id] = v
		r.mu.Unlock()
	}
}

// uncacheable marks the request's answer as not to be cached (it depends on
// more than the versioned data), and the root field's.
func uncacheable(ctx context.Context) {
	for r := recorderFrom(ctx); r != nil; r = r.parent {
		r.mu.Lock()
		r.off = true
		r.mu.Unlock()
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
	e := &cachedResponse{body: body, etag: etag, contentType: contentType, operation: operation, tokens: rec.tokens, maxAge: httpMaxAge(rec.tokensOnly)}
	for id := range rec.versions {
		e.ids = append(e.ids, id)
	}
	slices.Sort(e.ids)
	for _, id := range e.ids {
		v := rec.versions[id]
		if rec.tokens {
			e.versions = append(e.versions, v.TokensVersion)
		} else {
			e.versions = append(e.versions, v.Version)
		}
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
		return nil
	}
	if rec := recorderFrom(ctx); rec != nil {
		rec.mu.Lock()
		rec.tokensOnly = onlyRoots(oc.Operation.SelectionSet, tokenOnlyRoots, 0)
		rec.mu.Unlock()
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
// ETag makes asking again cheap. A cacheable answer to a GET (maxAge > 0)
// may instead be reused for maxAge without asking (see httpMaxAge):
// "private" when reads need a token or one was sent, so that only the
// client's own cache keeps it.
func serveCached(w http.ResponseWriter, r *http.Request, status int, etag, contentType string, body []byte, maxAge time.Duration, private bool) {
	h := w.Header()
	h.Set("ETag", etag)
	switch {
	case r.Method == http.MethodGet && status == http.StatusOK && maxAge > 0 && private:
		h.Set("Cache-Control", fmt.Sprintf("private, max-age=%d", int(maxAge.Seconds())))
	case r.Method == http.MethodGet && status == http.StatusOK && maxAge > 0:
		h.Set("Cache-Control", fmt.Sprintf("public, max-age=%d", int(maxAge.Seconds())))
	default:
		h.Set("Cache-Control", "no-cache")
	}
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

// httpMaxAge is how long HTTP caches may reuse a cacheable answer without
// asking: a tenth of the shortest default freshness target (jobs'
// catalogue) of the data it can read, so that HTTP caching adds at most 10%
// to the age the data may have anyway: 6 s for answers with a collection's
// floor (floor_price's target is a minute), 2.4 h for answers of token
// root fields only (tokens' target is a day). Per-collection target
// overrides are not consulted.
func httpMaxAge(tokensOnly bool) time.Duration {
	var shortest time.Duration
	for _, k := range jobs.RefreshKinds() {
		if tokensOnly && k.Name != "tokens" {
			continue
		}
		if shortest == 0 || k.Target < shortest {
			shortest = k.Target
		}
	}
	return shortest / 10
}

// tokenRoots are the root fields whose answers read only token data: the
// collection looked up by slug, its tokens, their traits, rarity and trait
// statistics, never floors, volumes, freshness or quality events (a Token
// has no field that leads back to its collection).
var tokenRoots = map[string]bool{"tokens": true, "token": true} //nolint:gochecknoglobals // read-only

// tokenOnlyRoots: an answer of these root fields only reads token data.
var tokenOnlyRoots = map[string]bool{"tokens": true, "token": true, "__typename": true} //nolint:gochecknoglobals // read-only

// rootFieldCache keeps the JSON of each token root field's answer on its
// own, valid while the token data versions of the collections it read are
// current. When a floor or volume write invalidates a whole cached answer
// of the typical query, the request resolves again, but its tokens(...)
// part, which is most of the work (50 tokens with their traits), comes
// from here after one version read instead of being resolved and
// marshalled again. It keys a field by the request's cache key and the
// field's alias, so only the same request reuses it.
type rootFieldCache struct{ c *respCache }

var _ interface {
	graphql.HandlerExtension
	graphql.RootFieldInterceptor
} = rootFieldCache{}

func (rootFieldCache) ExtensionName() string                   { return "RootFieldCache" }
func (rootFieldCache) Validate(graphql.ExecutableSchema) error { return nil }

func (f rootFieldCache) InterceptRootField(ctx context.Context, next graphql.RootResolver) graphql.Marshaler {
	rec := recorderFrom(ctx)
	rfc := graphql.GetRootFieldContext(ctx)
	// (RootFieldContext.Object holds the field's name, not its type's.)
	if rec == nil || rec.key == "" || rfc == nil || !tokenRoots[rfc.Field.Name] || rec.isOff() ||
		!graphql.HasOperationContext(ctx) || graphql.GetOperationContext(ctx).Operation.Operation != ast.Query {
		return next(ctx)
	}
	alias := rfc.Field.Alias
	key := rec.key + "\x00" + alias
	e, rows, err := f.c.currentIn(ctx, f.c.fields, key)
	if err == nil && e != nil {
		now := make(map[int64]db.APICollectionDataVersionRow, len(rows))
		for _, r := range rows {
			now[r.CollectionID] = db.APICollectionDataVersionRow{Version: r.Version, TokensVersion: r.TokensVersion}
		}
		for _, id := range e.ids {
			rec.note(id, now[id])
		}
		return rawJSON(e.body)
	}
	sub := &cacheRecorder{versions: map[int64]db.APICollectionDataVersionRow{}, q: rec.q, parent: rec, tokens: true}
	m := next(context.WithValue(ctx, cacheRecorderKey{}, sub))
	for _, gerr := range graphql.GetErrors(ctx) {
		if len(gerr.Path) > 0 && gerr.Path[0] == ast.PathName(alias) {
			return m
		}
	}
	var buf bytes.Buffer
	m.MarshalGQL(&buf)
	if ent := sub.entry(buf.Bytes(), "", "", ""); ent != nil {
		f.c.fields.Add(key, ent)
	}
	return rawJSON(buf.Bytes())
}

// rawJSON is an already marshalled answer.
func rawJSON(b []byte) graphql.Marshaler {
	return graphql.WriterFunc(func(w io.Writer) { _, _ = w.Write(b) })
}

// isOff reports whether the recorder's answer may not be cached.
func (rec *cacheRecorder) isOff() bool {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return rec.off
}

// versionReader reads the data versions that cache hits check, one
// statement for all the requests waiting at the time: a request's read
// starts after the request asked (a statement in flight when it asks does
// not count for it), so it sees every commit before the request, as its own
// statement would; under load, hundreds of hits a second cost a few
// statements instead of one each, and wait less for the pool.
type versionReader struct {
	q       *db.Queries
	mu      sync.Mutex
	pending []*versionWait
	running bool
}

type versionWait struct {
	ids  []int64
	done chan struct{}
	rows map[int64]db.APICollectionDataVersionsRow
	err  error
}

// versionReadTimeout bounds one shared read (no single request's context
// governs it).
const versionReadTimeout = 10 * time.Second

// read returns the current versions of ids (a collection without a row is
// missing from the map).
func (r *versionReader) read(ctx context.Context, ids []int64) (map[int64]db.APICollectionDataVersionsRow, error) {
	w := &versionWait{ids: ids, done: make(chan struct{})}
	r.mu.Lock()
	r.pending = append(r.pending, w)
	if !r.running {
		r.running = true
		go r.loop() //nolint:gosec // the loop serves every waiting request, not this one: it must outlive this request's context
	}
	r.mu.Unlock()
	select {
	case <-w.done:
		return w.rows, w.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// loop reads for the waiting requests until none is left.
func (r *versionReader) loop() {
	for {
		r.mu.Lock()
		batch := r.pending
		r.pending = nil
		if len(batch) == 0 {
			r.running = false
			r.mu.Unlock()
			return
		}
		r.mu.Unlock()
		var ids []int64
		for _, w := range batch {
			ids = append(ids, w.ids...)
		}
		slices.Sort(ids)
		ids = slices.Compact(ids)
		ctx, cancel := context.WithTimeout(context.Background(), versionReadTimeout)
		rows, err := r.q.APICollectionDataVersions(ctx, ids)
		cancel()
		m := make(map[int64]db.APICollectionDataVersionsRow, len(rows))
		for _, row := range rows {
			m[row.CollectionID] = row
		}
		for _, w := range batch {
			w.rows, w.err = m, err
			close(w.done)
		}
	}
}
