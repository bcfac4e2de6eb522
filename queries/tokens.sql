-- name: TokenUpsertBatch :exec
-- Upserts one page of tokens in a single statement. A zero source_updated_at
-- (0001-01-01, Go's zero time) is stored as NULL. traits_source names the
-- list answer's source, recorded on tokens whose traits it carried.
INSERT INTO tokens (collection_id, contract, token_id, token_standard, name, image_url, metadata_url,
    traits_known, source_updated_at, fetched_at, sync_run, raw, traits_checked_at, traits_as_of, traits_source)
SELECT @collection_id::bigint, u.contract, u.token_id, u.token_standard, u.name, u.image_url, u.metadata_url,
    u.traits_known, NULLIF(u.source_updated_at, '0001-01-01 00:00:00+00'::timestamptz), @fetched_at::timestamptz, @sync_run::bigint, u.raw,
    CASE WHEN u.traits_known THEN @fetched_at::timestamptz END,
    CASE WHEN u.traits_known THEN NULLIF(u.source_updated_at, '0001-01-01 00:00:00+00'::timestamptz) END,
    CASE WHEN u.traits_known THEN @traits_source::text ELSE '' END
FROM (SELECT unnest(@contracts::text[]) AS contract, unnest(@token_ids::text[]) AS token_id,
    unnest(@token_standards::text[]) AS token_standard, unnest(@names::text[]) AS name,
    unnest(@image_urls::text[]) AS image_url, unnest(@metadata_urls::text[]) AS metadata_url,
    unnest(@traits_known::boolean[]) AS traits_known,
    unnest(@source_updated_ats::timestamptz[]) AS source_updated_at, unnest(@raws::jsonb[]) AS raw) AS u
ON CONFLICT (collection_id, contract, token_id) DO UPDATE
SET token_standard = EXCLUDED.token_standard, name = EXCLUDED.name, image_url = EXCLUDED.image_url,
    -- Traits once known stay known: a later answer without traits (null) keeps
    -- the stored ones rather than erasing them.
    metadata_url = EXCLUDED.metadata_url, traits_known = tokens.traits_known OR EXCLUDED.traits_known,
    -- A list answer that carries traits counts as a fetch: no extra call.
    traits_checked_at = CASE WHEN EXCLUDED.traits_known THEN EXCLUDED.fetched_at ELSE tokens.traits_checked_at END,
    traits_as_of = CASE WHEN EXCLUDED.traits_known THEN EXCLUDED.source_updated_at ELSE tokens.traits_as_of END,
    traits_source = CASE WHEN EXCLUDED.traits_known THEN EXCLUDED.traits_source ELSE tokens.traits_source END,
    traits_error = CASE WHEN EXCLUDED.traits_known THEN '' ELSE tokens.traits_error END,
    traits_unknown = tokens.traits_unknown AND NOT EXCLUDED.traits_known,
    source_updated_at = EXCLUDED.source_updated_at, fetched_at = EXCLUDED.fetched_at,
    sync_run = EXCLUDED.sync_run, raw = EXCLUDED.raw;

-- name: TokenTraitsDeleteBatch :exec
-- Removes the stored traits of the given tokens (before re-inserting them).
DELETE FROM token_traits t
USING (SELECT unnest(@contracts::text[]) AS contract, unnest(@token_ids::text[]) AS token_id) AS u
WHERE t.collection_id = @collection_id::bigint AND t.contract = u.contract AND t.token_id = u.token_id;

-- name: TokenTraitsInsertBatch :exec
INSERT INTO token_traits (collection_id, contract, token_id, ordinal, trait_type, value_text, value_kind, value_numeric,
    display_type, max_value, raw)
SELECT @collection_id::bigint, u.contract, u.token_id, u.ordinal, u.trait_type, u.value_text, u.value_kind, u.value_numeric,
    u.display_type, u.max_value, u.raw
FROM (SELECT unnest(@contracts::text[]) AS contract, unnest(@token_ids::text[]) AS token_id,
    unnest(@ordinals::smallint[]) AS ordinal, unnest(@trait_types::text[]) AS trait_type,
    unnest(@value_texts::text[]) AS value_text, unnest(@value_kinds::text[]) AS value_kind,
    unnest(@value_numerics::numeric[]) AS value_numeric,
    unnest(@display_types::text[]) AS display_type, unnest(@max_values::text[]) AS max_value,
    unnest(@raws::jsonb[]) AS raw) AS u;

-- name: TokenSyncStateRestart :exec
-- Abandons the current run's cursor (upstream refused it) so the next
-- attempt pages from the start under a new run number.
UPDATE token_sync_state
SET run = run + 1, cursor = '', pages = 0, tokens_seen = 0, started_at = @now::timestamptz,
    updated_at = @now::timestamptz, completed_at = NULL
WHERE collection_id = @collection_id;

-- name: TokenDeleteNotInRun :execrows
-- Deletes tokens a completed sync run did not see (burned or moved upstream).
DELETE FROM tokens WHERE collection_id = @collection_id AND sync_run <> @sync_run;

-- name: TokenCount :one
SELECT count(*) FROM tokens WHERE collection_id = @collection_id;

-- name: TokenTraitCount :one
SELECT count(*) FROM token_traits WHERE collection_id = @collection_id;

-- name: TokenListForRarity :many
-- Every token of a collection whose traits are known (what the rarity job
-- scores); tokens the source returned without traits are left out.
SELECT id, contract, token_id, token_standard FROM tokens WHERE collection_id = @collection_id AND traits_known;

-- name: RarityTokens :many
-- Every token of a collection in primary key order, which is also the
-- order of RarityTraits: the rarity job reads both in one snapshot and
-- merges them, streaming (see db.Queries.RarityTokensEach). Both are plain
-- index scans; a join would have to sort or hash the whole collection.
SELECT id, contract, token_id, token_standard, traits_known
FROM tokens
WHERE collection_id = @collection_id
ORDER BY collection_id, contract, token_id;

-- name: RarityTraits :many
-- Every trait of a collection in primary key order (tokens as RarityTokens,
-- each token's traits by ordinal).
SELECT contract, token_id, trait_type, value_text, display_type,
    -- Numeric in OpenRarity's sense: the source sent a JSON number or boolean.
    (value_kind <> 'string')::boolean AS is_numeric
FROM token_traits
WHERE collection_id = @collection_id
ORDER BY collection_id, contract, token_id, ordinal;

-- name: TokenSyncStateGet :one
SELECT * FROM token_sync_state WHERE collection_id = @collection_id;

-- name: TokenSyncStateStart :one
-- Starts a new sync run (or keeps the unfinished one, to resume it).
INSERT INTO token_sync_state (collection_id, run, cursor, pages, tokens_seen, started_at, updated_at)
VALUES (@collection_id, 1, '', 0, 0, @now::timestamptz, @now::timestamptz)
ON CONFLICT (collection_id) DO UPDATE
SET run = CASE WHEN token_sync_state.completed_at IS NULL THEN token_sync_state.run ELSE token_sync_state.run + 1 END,
    cursor = CASE WHEN token_sync_state.completed_at IS NULL THEN token_sync_state.cursor ELSE '' END,
    pages = CASE WHEN token_sync_state.completed_at IS NULL THEN token_sync_state.pages ELSE 0 END,
    tokens_seen = CASE WHEN token_sync_state.completed_at IS NULL THEN token_sync_state.tokens_seen ELSE 0 END,
    started_at = CASE WHEN token_sync_state.completed_at IS NULL THEN token_sync_state.started_at ELSE @now::timestamptz END,
    updated_at = @now::timestamptz,
    completed_at = NULL
RETURNING *;

-- name: TokenSyncStateAdvance :execrows
-- Records a stored page; guarded by run and the cursor the page was fetched
-- with, so a stale concurrent attempt cannot move the cursor.
UPDATE token_sync_state
SET cursor = @next_cursor, pages = pages + 1, tokens_seen = tokens_seen + @page_tokens::bigint, updated_at = @now::timestamptz,
    completed_at = CASE WHEN @done::boolean THEN @now::timestamptz ELSE NULL END
WHERE collection_id = @collection_id AND run = @run AND cursor = @cursor;
