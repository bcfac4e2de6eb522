-- name: TokenTraitsDue :many
-- The next tokens of a collection whose traits must be fetched: never
-- checked, or listed with an updated_at other than the one their traits
-- belong to. Ordered by id, so a resumed fetch goes on where it stopped.
SELECT id, contract, token_id, metadata_url, source_updated_at
FROM tokens
WHERE collection_id = @collection_id
  AND (traits_checked_at IS NULL OR traits_as_of IS DISTINCT FROM source_updated_at)
ORDER BY id
LIMIT @max_tokens;

-- name: TokenTraitsDueCount :one
SELECT count(*) FROM tokens
WHERE collection_id = @collection_id
  AND (traits_checked_at IS NULL OR traits_as_of IS DISTINCT FROM source_updated_at);

-- name: TokenTraitsMarkFetched :exec
-- Marks fetched tokens: their traits are known as of the listed updated_at
-- they were fetched for (zero time = NULL), from traits_source.
UPDATE tokens t
SET traits_known = true, traits_unknown = false, traits_source = @traits_source::text, traits_checked_at = @now::timestamptz, traits_as_of = NULLIF(u.as_of, '0001-01-01 00:00:00+00'::timestamptz), traits_error = ''
FROM (SELECT unnest(@ids::bigint[]) AS id, unnest(@as_ofs::timestamptz[]) AS as_of) AS u
WHERE t.id = u.id AND t.collection_id = @collection_id;

-- name: TokenTraitsMarkFailed :exec
-- Marks tokens whose fetch failed for good (unknown token, bad document):
-- stored traits stay; the token is due again when its updated_at moves.
UPDATE tokens t
SET traits_checked_at = @now::timestamptz, traits_as_of = NULLIF(u.as_of, '0001-01-01 00:00:00+00'::timestamptz), traits_error = u.error
FROM (SELECT unnest(@ids::bigint[]) AS id, unnest(@as_ofs::timestamptz[]) AS as_of, unnest(@errors::text[]) AS error) AS u
WHERE t.id = u.id AND t.collection_id = @collection_id;

-- name: TokenTraitsMarkUnknown :exec
-- Marks tokens whose fetch succeeded but whose traits the source does not
-- know (traits null, a document without attributes): they are checked as
-- of the listed updated_at and not due again until it moves. A token whose
-- traits were known keeps them (traits once known stay known, as with list
-- answers); any other becomes unknown, left out of rarity.
UPDATE tokens t
SET traits_unknown = NOT t.traits_known, traits_checked_at = @now::timestamptz,
    traits_as_of = NULLIF(u.as_of, '0001-01-01 00:00:00+00'::timestamptz), traits_error = ''
FROM (SELECT unnest(@ids::bigint[]) AS id, unnest(@as_ofs::timestamptz[]) AS as_of) AS u
WHERE t.id = u.id AND t.collection_id = @collection_id;

-- name: TokenTraitsCoverage :one
-- A collection's tokens, those with known traits and those whose traits the
-- source does not know.
SELECT count(*)::bigint AS tokens, (count(*) FILTER (WHERE traits_known))::bigint AS with_traits,
    (count(*) FILTER (WHERE traits_unknown))::bigint AS unknown
FROM tokens WHERE collection_id = @collection_id;

-- name: TokenTraitCountsForCheck :many
-- Per (trait type, value) token counts of a collection's string traits, for
-- the cross-check with the source's own counts.
SELECT trait_type, value_text, count(DISTINCT (contract, token_id))::bigint AS tokens
FROM token_traits
WHERE collection_id = @collection_id AND value_kind = 'string'
GROUP BY trait_type, value_text;

-- name: SyncRunListedPage :exec
-- Counts one stored list page of a run (and its tokens); the last page marks
-- the listing done.
INSERT INTO token_sync_runs (collection_id, run, started_at, list_pages, tokens_listed, listed_at, updated_at)
VALUES (@collection_id, @run, @now::timestamptz, 1, @tokens::bigint,
    CASE WHEN @done::boolean THEN @now::timestamptz END, @now::timestamptz)
ON CONFLICT (collection_id, run) DO UPDATE
SET list_pages = token_sync_runs.list_pages + 1, tokens_listed = token_sync_runs.tokens_listed + EXCLUDED.tokens_listed,
    listed_at = COALESCE(EXCLUDED.listed_at, token_sync_runs.listed_at), updated_at = EXCLUDED.updated_at;

-- name: SyncRunTraitsStart :one
-- Starts (or resumes) the trait fetch of a run; traits_due is fixed by the
-- first start.
INSERT INTO token_sync_runs (collection_id, run, started_at, traits_source, traits_started_at, traits_due, updated_at)
VALUES (@collection_id, @run, @now::timestamptz, @traits_source, @now::timestamptz, @due::bigint, @now::timestamptz)
ON CONFLICT (collection_id, run) DO UPDATE
SET traits_source = EXCLUDED.traits_source,
    traits_started_at = COALESCE(token_sync_runs.traits_started_at, EXCLUDED.traits_started_at),
    traits_due = CASE WHEN token_sync_runs.traits_started_at IS NULL THEN EXCLUDED.traits_due ELSE token_sync_runs.traits_due END,
    updated_at = EXCLUDED.updated_at
RETURNING *;

-- name: SyncRunTraitsProgress :exec
UPDATE token_sync_runs
SET traits_fetched = traits_fetched + @fetched::bigint, traits_failed = traits_failed + @failed::bigint,
    trait_calls = trait_calls + @calls::bigint, updated_at = @now::timestamptz
WHERE collection_id = @collection_id AND run = @run;

-- name: SyncRunTraitsComplete :one
UPDATE token_sync_runs
SET traits_completed_at = @now::timestamptz, rarity_coverage = sqlc.narg(rarity_coverage)::double precision,
    traits_unknown = @traits_unknown::bigint, updated_at = @now::timestamptz
WHERE collection_id = @collection_id AND run = @run
RETURNING *;

-- name: SyncRunGet :one
SELECT * FROM token_sync_runs WHERE collection_id = @collection_id AND run = @run;

-- name: SyncRunLatest :one
SELECT * FROM token_sync_runs WHERE collection_id = @collection_id ORDER BY run DESC LIMIT 1;

-- name: CollectionSetTraitsSource :exec
UPDATE collections SET traits_source = @traits_source, updated_at = now() WHERE id = @id;

-- name: TraitBatchSizeGet :one
-- The batch size a source's batch lookup was last refused above, when
-- learned since @since.
SELECT size, refused, learned_at FROM trait_batch_sizes
WHERE source = @source AND learned_at >= @since::timestamptz;

-- name: TraitBatchSizeLearn :one
-- Records that the source refused a batch of @refused tokens as too large
-- and that fetch_traits goes on with @size. Concurrent learners (replicas)
-- keep the smallest size; a record older than @since is replaced.
INSERT INTO trait_batch_sizes (source, size, refused, learned_at)
VALUES (@source, @size::integer, @refused::integer, @now::timestamptz)
ON CONFLICT (source) DO UPDATE
SET size = CASE WHEN trait_batch_sizes.learned_at < @since::timestamptz THEN EXCLUDED.size
                ELSE LEAST(trait_batch_sizes.size, EXCLUDED.size) END,
    refused = CASE WHEN trait_batch_sizes.learned_at < @since::timestamptz THEN EXCLUDED.refused
                   ELSE LEAST(trait_batch_sizes.refused, EXCLUDED.refused) END,
    learned_at = EXCLUDED.learned_at
RETURNING size;
