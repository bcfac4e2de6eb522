package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/nftsync/nftsync/db"
	"github.com/nftsync/nftsync/db/dbtest"
	"github.com/nftsync/nftsync/internal/indexersim"
)

// tokenURIRun is a worker (in this process) whose collections all take
// their traits from their tokens' metadata URLs, against a simulator
// started here.
type tokenURIRun struct {
	sim  *indexersim.Running
	pool *pgxpool.Pool
	env  map[string]string
	logs *bytes.Buffer
}

// startTokenURIRun starts the simulator with cfg, tracks every collection
// with -traits-source token_uri and runs a worker until the test ends.
func startTokenURIRun(t *testing.T, cfg indexersim.Config, extraEnv map[string]string) *tokenURIRun {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	sim, err := indexersim.Start(ctx, "127.0.0.1:0", cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	require.NoError(t, err)
	dbURL := dbtest.NewDatabase(t)
	r := &tokenURIRun{sim: sim, logs: &bytes.Buffer{}, env: map[string]string{
		"DATABASE_URL":                   dbURL,
		"NFTSYNC_OPENSEA_URL":            sim.URL,
		"NFTSYNC_OPENSEA_RATE":           "300/s",
		"NFTSYNC_OPENSEA_BURST":          "50",
		"NFTSYNC_PLAN_INTERVAL":          "1s",
		"NFTSYNC_LOG_LEVEL":              "warn",
		"NFTSYNC_TOKENURI_IPFS_GATEWAYS": sim.URL + "/ipfs/",
		"NFTSYNC_TOKENURI_ALLOW_HTTP":    "true",
		"NFTSYNC_TOKENURI_ALLOW_NETS":    "127.0.0.0/8",
		"NFTSYNC_TOKENURI_RATE":          "300/s",
		"NFTSYNC_TOKENURI_BURST":         "50",
		"NFTSYNC_TOKENURI_TIMEOUT":       "5s",
	}}
	for k, v := range extraEnv {
		r.env[k] = v
	}
	var out bytes.Buffer
	require.NoError(t, run(ctx, append([]string{"collections", "add", "-traits-source", "token_uri"}, sim.Server.Slugs()...), envOf(r.env), &out, io.Discard), out.String())
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"worker"}, envOf(r.env), io.Discard, r.logs) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			require.NoError(t, err)
		case <-time.After(time.Minute):
			t.Error("worker did not stop within a minute")
		}
		_ = sim.Close()
		if t.Failed() {
			t.Logf("--- worker logs ---\n%s", tail(r.logs.String(), 6000))
		}
	})
	r.pool, err = pgxpool.New(context.Background(), dbURL)
	require.NoError(t, err)
	t.Cleanup(r.pool.Close)
	return r
}

// TestTokenURIEndToEnd: collections whose traits come from metadata URLs
// (http, ipfs through the simulator's gateway, data:) end with every token's
// traits and ranks equal to the simulator's ground truth, without a single
// single-NFT call: a first sync costs the list pages plus one metadata
// request per token (none for data: URLs), and a re-sync after k tokens
// changed costs the list pages plus k.
func TestTokenURIEndToEnd(t *testing.T) {
	t.Parallel()
	r := startTokenURIRun(t, indexersim.Config{Seed: 17, Collections: 4, MinTokens: 150, MaxTokens: 450, Rate: 400}, nil)
	truth := r.sim.Server
	waitComplete(t, r.pool, truth, 4, 5*time.Minute)
	for _, slug := range truth.Slugs() {
		requireTraitsAndRanksMatchTruth(t, r.pool, truth, slug)
	}

	fetched, pages := int64(0), int64(0)
	for _, slug := range truth.Slugs() {
		info, _ := truth.Collection(slug)
		pages += int64((info.TokenCount + 199) / 200)
		if truth.MetadataScheme(slug) != indexersim.MetadataData {
			fetched += int64(info.TokenCount)
		}
	}
	st := truth.Stats()
	require.Zero(t, st.ByEndpoint[indexersim.EndpointNFT], "no single-NFT calls for token_uri collections")
	require.Equal(t, fetched, st.Metadata.Requests, "one metadata request per token")
	t.Logf("first sync: %d list pages (minimum %d), %d metadata requests for %d tokens outside data: URLs",
		st.ByEndpoint[indexersim.EndpointNFTs], pages, st.Metadata.Requests, fetched)

	// Incremental: three tokens change in an http and an ipfs collection.
	changed := map[string][]string{"sim-collection-000": {"3", "40", "77"}, "sim-collection-001": {"5", "6", "120"}}
	for slug, ids := range changed {
		require.NoError(t, truth.Touch(slug, ids...))
	}
	var out bytes.Buffer
	require.NoError(t, run(context.Background(), []string{"collections", "refresh", "sim-collection-000", "sim-collection-001"}, envOf(r.env), &out, io.Discard), out.String())
	require.Eventually(t, func() bool {
		for slug, ids := range changed {
			for _, id := range ids {
				if !traitsMatch(t, r.pool, truth, slug, id) {
					return false
				}
			}
		}
		return true
	}, 3*time.Minute, time.Second, "changed tokens' new traits land")
	after := truth.Stats()
	require.Equal(t, int64(6), after.Metadata.Requests-st.Metadata.Requests, "only the changed tokens are fetched again")
	require.Zero(t, after.ByEndpoint[indexersim.EndpointNFT])
	t.Logf("re-sync with 6 changed tokens: %d list pages, %d metadata requests",
		after.ByEndpoint[indexersim.EndpointNFTs]-st.ByEndpoint[indexersim.EndpointNFTs], after.Metadata.Requests-st.Metadata.Requests)
}

// TestTokenURIFaultsAreTokenEvents: tokens whose metadata is missing, not
// JSON or oversize get a data-quality event each and no traits; their
// collection stays active, every other token gets its traits, and rarity
// runs at the configured coverage.
func TestTokenURIFaultsAreTokenEvents(t *testing.T) {
	t.Parallel()
	cfg := indexersim.Config{Seed: 5, Collections: 2, MinTokens: 120, MaxTokens: 120, Rate: 400, OversizeBytes: 3 << 20,
		Metadata: indexersim.MetadataConfig{NotFoundRate: 0.05, NotJSONRate: 0.05, OversizeRate: 0.02}}
	r := startTokenURIRun(t, cfg, map[string]string{"NFTSYNC_RARITY_MIN_COVERAGE": "0.5"})
	truth := r.sim.Server

	var rows []db.CollectionProgressRow
	require.Eventually(t, func() bool {
		var err error
		rows, err = db.New(r.pool).CollectionProgress(context.Background())
		require.NoError(t, err)
		settled := 0
		for _, row := range rows {
			if row.TokensComplete && row.TraitsDue == 0 && row.TraitsComplete {
				settled++
			}
		}
		return settled == 2
	}, 5*time.Minute, time.Second, "trait fetch settles")

	for _, row := range rows {
		require.Equal(t, "active", row.Status, "a token's bad metadata never fails its collection")
		faulted := map[string]string{}
		for i := 1; i <= 120; i++ {
			id := strconv.Itoa(i)
			if f, _ := truth.MetadataFault(row.Slug, id); f != "" {
				faulted[id] = f
				continue
			}
			require.True(t, traitsMatch(t, r.pool, truth, row.Slug, id), "%s #%s", row.Slug, id)
		}
		require.NotEmpty(t, faulted, row.Slug)
		require.Equal(t, int64(120-len(faulted)), row.TokensWithTraits, row.Slug)

		events := map[string]string{}
		evRows, err := r.pool.Query(context.Background(),
			"SELECT operation, message FROM data_quality_events WHERE collection_id = $1 AND kind = 'token_traits_failed'", row.ID)
		require.NoError(t, err)
		for evRows.Next() {
			var op, msg string
			require.NoError(t, evRows.Scan(&op, &msg))
			id := op[strings.LastIndex(op, " ")+1:]
			events[id] = msg
		}
		require.NoError(t, evRows.Err())
		require.Len(t, events, len(faulted), "one event per faulted token in %s: %v", row.Slug, events)
		for id, fault := range faulted {
			msg, ok := events[id]
			require.True(t, ok, "%s #%s (%s) has no event", row.Slug, id, fault)
			want := map[string]string{
				indexersim.FaultMetadataNotFound: "metadata not found",
				indexersim.FaultMetadataNotJSON:  "JSON", // "not JSON" (an HTML page) or "invalid JSON" (truncated)
				indexersim.FaultMetadataOversize: "exceeds",
			}[fault]
			require.Contains(t, msg, want, "%s #%s (%s)", row.Slug, id, fault)
		}
	}
}

// traitsMatch reports whether a token's stored traits are the simulator's.
func traitsMatch(t *testing.T, pool *pgxpool.Pool, truth *indexersim.Server, slug, id string) bool {
	t.Helper()
	traits, ok := truth.Token(slug, id)
	require.True(t, ok)
	want := make([]string, 0, len(traits))
	for _, tr := range traits {
		want = append(want, tr.Type+"="+tr.Value)
	}
	rows, err := pool.Query(context.Background(),
		"SELECT trait_type, value_text FROM token_traits WHERE collection_id = $1 AND token_id = $2 ORDER BY ordinal",
		mustCollectionID(t, pool, slug), id)
	require.NoError(t, err)
	got := []string{}
	for rows.Next() {
		var name, value string
		require.NoError(t, rows.Scan(&name, &value))
		got = append(got, name+"="+value)
	}
	require.NoError(t, rows.Err())
	return fmt.Sprint(want) == fmt.Sprint(got)
}
