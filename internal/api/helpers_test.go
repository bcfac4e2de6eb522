package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/stretchr/testify/require"

	"github.com/nftsync/nftsync/db"
	"github.com/nftsync/nftsync/db/dbtest"
	"github.com/nftsync/nftsync/internal/admin"
	"github.com/nftsync/nftsync/internal/api"
	"github.com/nftsync/nftsync/migrations"
)

const (
	adminToken = "admin-token-0123456789abcdef"
	readToken  = "read-token-0123456789abcdef"
	// maxUint256 is the largest token id a contract can mint.
	maxUint256 = "115792089237316195423570985008687907853269984665640564039457584007913129639935"
)

// statementCounter counts the SQL statements sent on a pool.
type statementCounter struct{ n atomic.Int64 }

func (c *statementCounter) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	c.n.Add(1)
	return ctx
}

func (c *statementCounter) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

// testBundle is a running API server on a fresh database of the test's own.
type testBundle struct {
	url        string
	pool       *pgxpool.Pool
	admin      *admin.Service
	statements *statementCounter
	now        time.Time
	// serve starts another API server with opts on the same database and
	// returns its URL.
	serve func(t testing.TB, opts api.Options) string
}

type setupOpts struct {
	opts     api.Options
	cooldown time.Duration
	// afterRefreshInsert is the admin service's test hook.
	afterRefreshInsert func(ctx context.Context, tx pgx.Tx) error
}

// setup starts the API over real HTTP on a fresh migrated database.
func setup(t testing.TB, so setupOpts) *testBundle {
	t.Helper()
	ctx := context.Background()
	counter := &statementCounter{}
	cfg, err := pgxpool.ParseConfig(dbtest.NewDatabase(t))
	require.NoError(t, err)
	cfg.ConnConfig.Tracer = counter
	cfg.MaxConns = 20
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	client, err := river.NewClient(riverpgxv5.New(pool), &river.Config{})
	require.NoError(t, err)
	svc := &admin.Service{DB: pool, River: client, RefreshCooldown: so.cooldown, AfterRefreshInsert: so.afterRefreshInsert,
		DefaultIntervals: map[string]time.Duration{"floor_price": time.Minute, "volume": 5 * time.Minute, "metadata": time.Hour, "tokens": 6 * time.Hour}}
	opts := so.opts
	if opts.AdminTokens == nil {
		opts.AdminTokens = []string{adminToken}
	}
	serve := func(t testing.TB, opts api.Options) string {
		t.Helper()
		srv, err := api.New(opts, api.Deps{DB: pool, River: client, Admin: svc,
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
			Ready: func(ctx context.Context) error {
				pending, err := migrations.Check(ctx, pool)
				if err == nil && pending.Behind() {
					err = fmt.Errorf("migrations not applied: %s", pending)
				}
				return err
			}})
		require.NoError(t, err)
		uiCtx, cancel := context.WithCancel(ctx)
		t.Cleanup(cancel)
		require.NoError(t, srv.Start(uiCtx))
		hs := httptest.NewServer(srv.Handler())
		t.Cleanup(hs.Close)
		return hs.URL
	}
	return &testBundle{url: serve(t, opts), pool: pool, admin: svc, statements: counter, now: time.Now().UTC(), serve: serve}
}

type gqlError struct {
	Message    string         `json:"message"`
	Path       []any          `json:"path"`
	Extensions map[string]any `json:"extensions"`
}

type gqlResponse struct {
	status int
	Data   json.RawMessage `json:"data"`
	Errors []gqlError      `json:"errors"`
}

// code is the first error's extensions.code ("" without errors).
func (r gqlResponse) code() string {
	if len(r.Errors) == 0 {
		return ""
	}
	c, _ := r.Errors[0].Extensions["code"].(string)
	return c
}

// query posts a GraphQL request with token (none when "") and decodes the
// answer.
func (b *testBundle) query(t *testing.T, token, query string, vars map[string]any) gqlResponse {
	t.Helper()
	body, err := json.Marshal(map[string]any{"query": query, "variables": vars})
	require.NoError(t, err)
	return b.post(t, token, body)
}

func (b *testBundle) post(t *testing.T, token string, body []byte) gqlResponse {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, b.url+"/graphql", bytes.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	var out gqlResponse
	require.NoError(t, json.Unmarshal(raw, &out), "body: %s", raw)
	out.status = resp.StatusCode
	return out
}

// data decodes a successful answer's data into v.
func (b *testBundle) data(t *testing.T, token, query string, vars map[string]any, v any) {
	t.Helper()
	r := b.query(t, token, query, vars)
	require.Empty(t, r.Errors, "query %s", query)
	require.Equal(t, http.StatusOK, r.status)
	require.NoError(t, json.Unmarshal(r.Data, v))
}

// seedToken is one token of a seeded collection.
type seedToken struct {
	id     string
	traits [][2]string // type, value
	rank   int32       // 0 = no rank
	score  float64
}

// seedCollection tracks slug with metadata, a floor, volumes and tokens;
// tokens with a rank get a rarity run, and trait_value_stats count their
// (normalised) traits.
func (b *testBundle) seedCollection(t testing.TB, slug string, floor string, vol1d string, toks []seedToken) int64 {
	t.Helper()
	ctx := context.Background()
	c, err := b.admin.Track(ctx, "test", admin.TrackParams{Slug: slug})
	require.NoError(t, err)
	q := db.New(b.pool)
	require.NoError(t, q.CollectionContractUpsert(ctx, db.CollectionContractUpsertParams{CollectionID: c.ID, Chain: "ethereum", Address: "0x" + fmt.Sprintf("%040x", c.ID)}))
	fetched := b.now.Add(-30 * time.Second).Truncate(time.Microsecond)
	require.NoError(t, q.MetadataUpsert(ctx, db.MetadataUpsertParams{CollectionID: c.ID, Source: "opensea", Name: "The " + slug,
		Description: "about " + slug, TotalSupply: pgtype.Int8{Int64: int64(len(toks)), Valid: true}, Raw: []byte(`{}`), FetchedAt: fetched}))
	if floor != "" {
		require.NoError(t, q.FloorPriceObserve(ctx, db.FloorPriceObserveParams{CollectionID: c.ID, Source: "opensea",
			Amount: numeric(t, floor), Currency: "ETH", Decimals: 18, SeenAt: fetched}))
	}
	for _, w := range []string{"1d", "7d"} {
		require.NoError(t, q.VolumeObserve(ctx, db.VolumeObserveParams{CollectionID: c.ID, Source: "opensea", TimeWindow: w,
			Amount: numeric(t, vol1d), Currency: "ETH", Decimals: 18, Sales: pgtype.Int8{Int64: 7, Valid: true}, SeenAt: fetched}))
	}
	if len(toks) == 0 {
		return c.ID
	}
	contract := "0x" + fmt.Sprintf("%040x", c.ID)
	up, tr := tokenBatches(c.ID, contract, slug, fetched, toks)
	require.NoError(t, q.TokenUpsertBatch(ctx, up))
	require.NoError(t, q.TokenTraitsInsertBatch(ctx, tr))

	runID, err := q.RarityRunNextID(ctx)
	require.NoError(t, err)
	_, err = q.RarityRunUpsert(ctx, db.RarityRunUpsertParams{CollectionID: c.ID, Method: "openrarity", RunID: runID, Version: "0.7.5",
		InputHash: "h", TokenCount: int32(len(toks)), ExcludedTraits: []byte(`["generation"]`), Notes: []byte(`{}`), ComputedAt: fetched})
	require.NoError(t, err)
	pks := map[string]int64{}
	rows, err := q.TokenListForRarity(ctx, c.ID)
	require.NoError(t, err)
	for _, r := range rows {
		pks[r.TokenID] = r.ID
	}
	var ranks []db.TokenRarityInsertParams
	counts := map[[2]string]int32{}
	for _, tk := range toks {
		if tk.rank > 0 {
			ranks = append(ranks, db.TokenRarityInsertParams{RunID: runID, TokenPk: pks[tk.id], Score: tk.score, Rank: tk.rank,
				UniqueCount: 1, TraitCount: int32(len(tk.traits))})
		}
		for _, kv := range tk.traits {
			counts[[2]string{lower(kv[0]), lower(kv[1])}]++
		}
	}
	_, err = q.TokenRarityInsert(ctx, ranks)
	require.NoError(t, err)
	var stats []db.TraitValueStatsInsertParams
	for k, n := range counts {
		stats = append(stats, db.TraitValueStatsInsertParams{CollectionID: c.ID, Method: "openrarity", TraitType: k[0], Value: k[1],
			Count: n, Frequency: float64(n) / float64(len(toks))})
	}
	_, err = q.TraitValueStatsInsert(ctx, stats)
	require.NoError(t, err)
	return c.ID
}

// tokenBatches are the statements' parameters that store toks (with their
// traits) as one page of a token sync and trait fetch would.
func tokenBatches(collectionID int64, contract, slug string, fetched time.Time, toks []seedToken) (db.TokenUpsertBatchParams, db.TokenTraitsInsertBatchParams) {
	up := db.TokenUpsertBatchParams{CollectionID: collectionID, FetchedAt: fetched, SyncRun: 1}
	tr := db.TokenTraitsInsertBatchParams{CollectionID: collectionID}
	for _, tk := range toks {
		up.Contracts = append(up.Contracts, contract)
		up.TokenIds = append(up.TokenIds, tk.id)
		up.TokenStandards = append(up.TokenStandards, "erc721")
		up.Names = append(up.Names, slug+" #"+tk.id)
		up.ImageUrls = append(up.ImageUrls, "https://img.example/"+tk.id)
		up.MetadataUrls = append(up.MetadataUrls, "")
		up.TraitsKnown = append(up.TraitsKnown, true)
		up.SourceUpdatedAts = append(up.SourceUpdatedAts, time.Time{})
		up.Raws = append(up.Raws, []byte(`{}`))
		for i, kv := range tk.traits {
			tr.Contracts = append(tr.Contracts, contract)
			tr.TokenIds = append(tr.TokenIds, tk.id)
			tr.Ordinals = append(tr.Ordinals, int16(i))
			tr.TraitTypes = append(tr.TraitTypes, kv[0])
			tr.ValueTexts = append(tr.ValueTexts, kv[1])
			tr.ValueKinds = append(tr.ValueKinds, "string")
			tr.ValueNumerics = append(tr.ValueNumerics, pgtype.Numeric{})
			tr.DisplayTypes = append(tr.DisplayTypes, "")
			tr.MaxValues = append(tr.MaxValues, "")
			tr.Raws = append(tr.Raws, []byte(`{}`))
		}
	}
	return up, tr
}

func lower(s string) string { return string(bytes.ToLower([]byte(s))) }

func numeric(t testing.TB, s string) pgtype.Numeric {
	t.Helper()
	var n pgtype.Numeric
	require.NoError(t, n.Scan(s))
	return n
}

// bigID returns n as a decimal string.
func bigID(n int64) string { return new(big.Int).SetInt64(n).String() }

var _ = strconv.Itoa
