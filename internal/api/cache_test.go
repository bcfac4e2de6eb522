package api_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgtype"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nftsync/nftsync/db"
	"github.com/nftsync/nftsync/internal/api"
)

// rawAnswer is an answer with its headers.
type rawAnswer struct {
	status       int
	cache        string // X-Cache: hit, miss or "" (not cacheable)
	etag         string
	cacheControl string
	body         []byte
}

func (b *testBundle) raw(t *testing.T, token, query string, vars map[string]any, ifNoneMatch string) rawAnswer {
	t.Helper()
	body, err := json.Marshal(map[string]any{"query": query, "variables": vars})
	require.NoError(t, err)
	req, err := http.NewRequest(http.MethodPost, b.url+"/graphql", bytes.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if ifNoneMatch != "" {
		req.Header.Set("If-None-Match", ifNoneMatch)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return rawAnswer{status: resp.StatusCode, cache: resp.Header.Get("X-Cache"), etag: resp.Header.Get("ETag"), cacheControl: resp.Header.Get("Cache-Control"), body: out}
}

const cacheQuery = `query($slug: String!) {
  collection(slug: $slug) { slug floor { amount currency } volumes { window amount } metadata { name } }
  tokens(collection: $slug, first: 3) { edges { node { tokenId rarity { rank } traits { type value } } } }
}`

// TestResponseCache: a cacheable answer is served from the cache while the
// data it read is unchanged, and never after a commit that changed it; an
// uncommitted write does not invalidate it.
func TestResponseCache(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	ctx := context.Background()
	id := b.seedCollection(t, "alpha", "1.5", "10", benchTokens(5, 0, 5))
	b.seedCollection(t, "beta", "2", "20", nil)
	vars := map[string]any{"slug": "alpha"}

	first := b.raw(t, "", cacheQuery, vars, "")
	require.Equal(t, http.StatusOK, first.status)
	require.Equal(t, "miss", first.cache)
	require.NotEmpty(t, first.etag)
	require.Contains(t, string(first.body), `"amount":"1.500000000000000000"`)

	second := b.raw(t, "", cacheQuery, vars, "")
	require.Equal(t, "hit", second.cache)
	require.Equal(t, first.body, second.body)
	require.Equal(t, first.etag, second.etag)

	notModified := b.raw(t, "", cacheQuery, vars, first.etag)
	require.Equal(t, http.StatusNotModified, notModified.status)
	require.Empty(t, notModified.body)

	// A write to another collection leaves alpha's answer cached.
	q := db.New(b.pool)
	observe := func(q *db.Queries, collectionID int64, amount string) {
		require.NoError(t, q.FloorPriceObserve(ctx, db.FloorPriceObserveParams{CollectionID: collectionID, Source: "opensea",
			Amount: numeric(t, amount), Currency: "ETH", Decimals: 18, SeenAt: time.Now()}))
	}
	var betaID int64
	require.NoError(t, b.pool.QueryRow(ctx, "SELECT id FROM collections WHERE slug = 'beta'").Scan(&betaID))
	observe(q, betaID, "3")
	require.Equal(t, "hit", b.raw(t, "", cacheQuery, vars, "").cache)

	// An uncommitted write is invisible: still the cached answer.
	tx, err := b.pool.Begin(ctx)
	require.NoError(t, err)
	observe(db.New(tx), id, "1.25")
	during := b.raw(t, "", cacheQuery, vars, "")
	require.Equal(t, "hit", during.cache)
	require.Equal(t, first.body, during.body)

	// Committed: the next answer is rebuilt and shows it.
	require.NoError(t, tx.Commit(ctx))
	after := b.raw(t, "", cacheQuery, vars, first.etag)
	require.Equal(t, http.StatusOK, after.status, "the old ETag no longer matches")
	require.Equal(t, "miss", after.cache)
	require.Contains(t, string(after.body), `"amount":"1.250000000000000000"`)
	require.NotEqual(t, first.etag, after.etag)

	// Token data invalidates too: a trait rewrite by a worker.
	require.Equal(t, "hit", b.raw(t, "", cacheQuery, vars, "").cache)
	_, err = b.pool.Exec(ctx, "UPDATE token_traits SET value_text = 'changed' WHERE collection_id = $1", id)
	require.NoError(t, err)
	changed := b.raw(t, "", cacheQuery, vars, "")
	require.Equal(t, "miss", changed.cache)
	require.Contains(t, string(changed.body), `"changed"`)

	// A rarity run replaces ranks: invalidates.
	require.Equal(t, "hit", b.raw(t, "", cacheQuery, vars, "").cache)
	_, err = b.pool.Exec(ctx, "UPDATE token_rarity SET rank = rank + 100 WHERE token_pk IN (SELECT id FROM tokens WHERE collection_id = $1)", id)
	require.NoError(t, err)
	require.Equal(t, "miss", b.raw(t, "", cacheQuery, vars, "").cache)
}

// TestResponseCacheBypass: answers that depend on more than versioned data
// are never cached.
func TestResponseCacheBypass(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	b.seedCollection(t, "alpha", "1.5", "10", nil)
	//nolint:paralleltest // in order: the step after the loop tracks the collection one of them asks for
	for name, c := range map[string]struct {
		token, query string
	}{
		"List":      {"", `{ collections { totalCount edges { node { slug } } } }`},
		"Freshness": {"", `{ collection(slug: "alpha") { freshness { kind ageSeconds stale } } }`},
		"History":   {"", `{ collection(slug: "alpha") { floorHistory(from: "2026-01-01T00:00:00Z", to: "2026-01-02T00:00:00Z", interval: HOUR) { close } } }`},
		"Unknown":   {"", `{ collection(slug: "not-yet") { slug } }`},
		"Errors":    {"", `{ tokens(collection: "nope") { totalCount } }`},
		"Admin":     {adminToken, `{ jobStats { total } }`},
	} {
		t.Run(name, func(t *testing.T) {
			for range 2 {
				r := b.raw(t, c.token, c.query, nil, "")
				require.Empty(t, r.cache, "body: %s", r.body)
			}
		})
	}

	// The unknown collection, once tracked, is there at once.
	b.seedCollection(t, "not-yet", "1", "1", nil)
	r := b.raw(t, "", `{ collection(slug: "not-yet") { slug } }`, nil, "")
	require.Contains(t, string(r.body), `"slug":"not-yet"`)
}

// TestResponseCacheDisabled: a negative size turns the cache off.
func TestResponseCacheDisabled(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{opts: api.Options{CacheEntries: -1}})
	b.seedCollection(t, "alpha", "1.5", "10", nil)
	for range 2 {
		r := b.raw(t, "", cacheQuery, map[string]any{"slug": "alpha"}, "")
		require.Equal(t, http.StatusOK, r.status)
		require.Empty(t, r.cache)
	}
}

// TestDataVersionTriggers: every table with a collection id either bumps
// the collection's data version on writes (all three of insert, update and
// delete) or is listed as unversioned with a reason, so a new table cannot
// be forgotten.
func TestDataVersionTriggers(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	ctx := context.Background()
	rows, err := b.pool.Query(ctx, `
SELECT c.relname::text
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'collection_id' AND NOT a.attisdropped
WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') AND NOT c.relispartition
  AND c.relname::text NOT IN (SELECT table_name FROM nftsync_api_data_tables())
  AND c.relname::text NOT IN (SELECT table_name FROM nftsync_api_unversioned_tables())`)
	require.NoError(t, err)
	var missing []string
	for rows.Next() {
		var name string
		require.NoError(t, rows.Scan(&name))
		missing = append(missing, name)
	}
	require.NoError(t, rows.Err())
	require.Empty(t, missing, "tables with a collection id that neither bump data versions nor say why not (migrations: nftsync_api_data_tables / nftsync_api_unversioned_tables)")

	var withoutTriggers []string
	require.NoError(t, b.pool.QueryRow(ctx, `
SELECT coalesce(array_agg(d.table_name), '{}') FROM nftsync_api_data_tables() d
WHERE (SELECT count(*) FROM pg_trigger tg WHERE tg.tgrelid = d.table_name::regclass AND tg.tgname LIKE 'nftsync_data_version_%') <> 3`).Scan(&withoutTriggers))
	require.Empty(t, withoutTriggers)

	// Each write bumps once per transaction.
	id := b.seedCollection(t, "alpha", "1", "1", nil)
	version := func() int64 {
		var v pgtype.Int8
		require.NoError(t, b.pool.QueryRow(ctx, "SELECT version FROM collection_data_versions WHERE collection_id = $1", id).Scan(&v))
		return v.Int64
	}
	v0 := version()
	tx, err := b.pool.Begin(ctx)
	require.NoError(t, err)
	_, err = tx.Exec(ctx, "UPDATE collection_metadata SET name = 'x' WHERE collection_id = $1", id)
	require.NoError(t, err)
	_, err = tx.Exec(ctx, "UPDATE collection_metadata SET name = 'y' WHERE collection_id = $1", id)
	require.NoError(t, err)
	require.NoError(t, tx.Commit(ctx))
	require.Equal(t, v0+1, version())
	_, err = b.pool.Exec(ctx, "DELETE FROM volume_latest WHERE collection_id = $1", id)
	require.NoError(t, err)
	require.Equal(t, v0+2, version())

	// The token data version moves with writes token answers can see
	// (metadata, tokens, traits, rarity), not with floors and volumes; once
	// per transaction, also when a floor was written first.
	tokensVersion := func() int64 {
		var v int64
		require.NoError(t, b.pool.QueryRow(ctx, "SELECT tokens_version FROM collection_data_versions WHERE collection_id = $1", id).Scan(&v))
		return v
	}
	t0 := tokensVersion()
	b.observeFloor(t, db.New(b.pool), id, "7")
	require.Equal(t, t0, tokensVersion(), "a floor write")
	require.Equal(t, v0+3, version())
	tx, err = b.pool.Begin(ctx)
	require.NoError(t, err)
	b.observeFloor(t, db.New(tx), id, "8")
	_, err = tx.Exec(ctx, "UPDATE collection_metadata SET name = 'z' WHERE collection_id = $1", id)
	require.NoError(t, err)
	_, err = tx.Exec(ctx, "UPDATE collections SET priority = 1 WHERE id = $1", id)
	require.NoError(t, err)
	require.NoError(t, tx.Commit(ctx))
	require.Equal(t, t0+1, tokensVersion(), "a floor, then metadata, in one transaction")
	require.Equal(t, v0+4, version())
}

// TestResponseCacheTokensAfterFloorWrite: a floor write invalidates the
// whole cached answer of the typical query, but not its tokens part, which
// the next answer takes from the root field cache (fewer statements than a
// whole resolution) while showing the new floor; a token write invalidates
// that part too.
func TestResponseCacheTokensAfterFloorWrite(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	ctx := context.Background()
	id := b.seedCollection(t, "alpha", "1.5", "10", benchTokens(20, 0, 20))
	vars := map[string]any{"slug": "alpha"}
	tokensPart := func(body []byte) string {
		var v struct {
			Data struct{ Tokens json.RawMessage }
		}
		require.NoError(t, json.Unmarshal(body, &v), "%s", body)
		return string(v.Data.Tokens)
	}

	before := b.statements.n.Load()
	first := b.raw(t, "", cacheQuery, vars, "")
	require.Equal(t, "miss", first.cache)
	whole := b.statements.n.Load() - before

	b.observeFloor(t, db.New(b.pool), id, "1.4")
	before = b.statements.n.Load()
	after := b.raw(t, "", cacheQuery, vars, "")
	partial := b.statements.n.Load() - before
	require.Equal(t, "miss", after.cache)
	require.Contains(t, string(after.body), `"amount":"1.400000000000000000"`)
	require.Equal(t, tokensPart(first.body), tokensPart(after.body))
	t.Logf("whole resolution: %d statements; after a floor write: %d", whole, partial)
	require.Less(t, partial, whole, "the tokens part was resolved again")
	require.Equal(t, "hit", b.raw(t, "", cacheQuery, vars, "").cache)

	// A token write: the tokens part is resolved again and shows it.
	_, err := b.pool.Exec(ctx, "UPDATE tokens SET name = 'renamed' WHERE collection_id = $1", id)
	require.NoError(t, err)
	renamed := b.raw(t, "", `query($slug: String!) {
  collection(slug: $slug) { slug floor { amount currency } volumes { window amount } metadata { name } }
  tokens(collection: $slug, first: 3) { edges { node { tokenId name rarity { rank } traits { type value } } } }
}`, vars, "")
	require.Contains(t, string(renamed.body), `"name":"renamed"`)
	again := b.raw(t, "", cacheQuery, vars, "")
	require.Equal(t, "miss", again.cache)
	require.NotEqual(t, tokensPart(first.body), "")
	_, err = b.pool.Exec(ctx, "UPDATE token_traits SET value_text = 'changed' WHERE collection_id = $1", id)
	require.NoError(t, err)
	require.Contains(t, tokensPart(b.raw(t, "", cacheQuery, vars, "").body), `"changed"`)

	// Same query under an alias: its own entry, the same data.
	aliased := b.raw(t, "", `query($slug: String!) { t: tokens(collection: $slug, first: 3) { edges { node { tokenId } } } }`, vars, "")
	require.Contains(t, string(aliased.body), `{"data":{"t":{"edges":[{"node":{"tokenId":"1"}}`)
}

// TestResponseCacheSingleResolution: concurrent misses of the same request
// (every client asking right after a write) wait for one resolution instead
// of each resolving it.
func TestResponseCacheSingleResolution(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	b.seedCollection(t, "alpha", "1.5", "10", benchTokens(20, 0, 20))
	vars := map[string]any{"slug": "alpha"}
	before := b.statements.n.Load()
	require.Equal(t, "miss", b.raw(t, "", cacheQuery, vars, "").cache)
	one := b.statements.n.Load() - before // one resolution, with its version reads

	b.observeFloor(t, db.New(b.pool), mustID(t, b, "alpha"), "1.4")
	const clients = 16
	before = b.statements.n.Load()
	var wg sync.WaitGroup
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := b.raw(t, "", cacheQuery, vars, "")
			assert.Equal(t, http.StatusOK, r.status)
			assert.Contains(t, string(r.body), `"amount":"1.400000000000000000"`)
		}()
	}
	wg.Wait()
	all := b.statements.n.Load() - before
	t.Logf("one resolution: %d statements; %d concurrent requests after a write: %d", one, clients, all)
	// Each request reads the versions (twice when it waited); one resolves.
	require.Less(t, all, one+3*clients, "concurrent misses resolved more than once")
}

func mustID(t *testing.T, b *testBundle, slug string) int64 {
	t.Helper()
	var id int64
	require.NoError(t, b.pool.QueryRow(context.Background(), "SELECT id FROM collections WHERE slug = $1", slug).Scan(&id))
	return id
}

// TestPersistedQueries: automatic persisted queries, by POST and by GET:
// an unknown hash is refused with PERSISTED_QUERY_NOT_FOUND, the query sent
// with its hash registers it, and then the hash alone is answered, from the
// response cache on repeat.
func TestPersistedQueries(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	b.seedCollection(t, "alpha", "1.5", "10", benchTokens(5, 0, 5))
	sum := sha256.Sum256([]byte(cacheQuery))
	ext := map[string]any{"persistedQuery": map[string]any{"version": 1, "sha256Hash": hex.EncodeToString(sum[:])}}
	vars := map[string]any{"slug": "alpha"}
	post := func(body map[string]any) gqlResponse {
		raw, err := json.Marshal(body)
		require.NoError(t, err)
		return b.post(t, "", raw)
	}

	r := post(map[string]any{"extensions": ext, "variables": vars})
	require.Equal(t, "PERSISTED_QUERY_NOT_FOUND", r.code(), "%+v", r.Errors)
	r = post(map[string]any{"query": cacheQuery, "extensions": ext, "variables": vars})
	require.Empty(t, r.Errors)
	want := string(r.Data)
	r = post(map[string]any{"extensions": ext, "variables": vars})
	require.Empty(t, r.Errors)
	require.JSONEq(t, want, string(r.Data))

	extJSON, err := json.Marshal(ext)
	require.NoError(t, err)
	varsJSON, err := json.Marshal(vars)
	require.NoError(t, err)
	get := func() rawAnswer {
		u := b.url + "/graphql?" + url.Values{"extensions": {string(extJSON)}, "variables": {string(varsJSON)}}.Encode()
		resp, err := http.Get(u)
		require.NoError(t, err)
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return rawAnswer{status: resp.StatusCode, cache: resp.Header.Get("X-Cache"), etag: resp.Header.Get("ETag"), body: body}
	}
	first := get()
	require.Equal(t, http.StatusOK, first.status, "%s", first.body)
	require.Equal(t, "miss", first.cache)
	require.Contains(t, string(first.body), want)
	second := get()
	require.Equal(t, "hit", second.cache)
	require.Equal(t, first.body, second.body)
}

// TestCacheControl: a cacheable answer to a GET may be reused for a tenth
// of the shortest freshness target of what it reads (6 s with a floor,
// 8640 s for tokens only), privately when a token was sent; POST answers
// and uncacheable ones must be revalidated.
func TestCacheControl(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	b.seedCollection(t, "alpha", "1.5", "10", benchTokens(5, 0, 5))
	get := func(token, query string) string {
		req, err := http.NewRequest(http.MethodGet, b.url+"/graphql?"+url.Values{"query": {query}}.Encode(), nil)
		require.NoError(t, err)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, resp.StatusCode, "%s", body)
		return resp.Header.Get("Cache-Control")
	}
	withFloor := `{ collection(slug: "alpha") { floor { amount } } tokens(collection: "alpha", first: 2) { edges { node { tokenId } } } }`
	tokensOnly := `{ tokens(collection: "alpha", first: 2) { edges { node { tokenId traits { value } } } } }`
	require.Equal(t, "public, max-age=6", get("", withFloor))
	require.Equal(t, "public, max-age=6", get("", withFloor), "from the cache as well")
	require.Equal(t, "public, max-age=8640", get("", tokensOnly))
	require.Equal(t, "private, max-age=6", get(adminToken, withFloor))
	require.Equal(t, "no-cache", get("", `{ collection(slug: "alpha") { freshness { kind } } }`), "not cacheable")
	require.Equal(t, "no-cache", b.raw(t, "", withFloor, nil, "").cacheControl)
}
