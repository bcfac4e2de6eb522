-- name: CollectionUpsert :one
-- Tracks a collection (or updates its chain and priority) and returns it.
-- An empty traits_source means opensea for a new collection and "keep" for
-- a tracked one.
INSERT INTO collections (source, slug, chain, priority, traits_source)
VALUES (@source, @slug, @chain, @priority, COALESCE(NULLIF(@traits_source::text, ''), 'opensea'))
ON CONFLICT (source, slug) DO UPDATE
SET chain = EXCLUDED.chain, priority = EXCLUDED.priority,
    traits_source = CASE WHEN @traits_source::text = '' THEN collections.traits_source ELSE EXCLUDED.traits_source END,
    updated_at = now()
RETURNING *;

-- name: CollectionGetByID :one
SELECT * FROM collections WHERE id = @id;

-- name: CollectionGetBySlug :one
SELECT * FROM collections WHERE source = @source AND slug = @slug;

-- name: CollectionList :many
SELECT * FROM collections ORDER BY id;

-- name: CollectionSetStatus :exec
UPDATE collections SET status = @status, status_reason = @status_reason, updated_at = now()
WHERE id = @id;

-- name: CollectionContractUpsert :exec
INSERT INTO collection_contracts (collection_id, chain, address)
VALUES (@collection_id, @chain, @address)
ON CONFLICT DO NOTHING;

-- name: CollectionProgress :many
-- Per collection: what has been stored so far. Used by dev progress logs and
-- tests.
SELECT c.id, c.slug, c.status, c.source,
       EXISTS (SELECT 1 FROM floor_price_latest f WHERE f.collection_id = c.id) AS has_floor,
       EXISTS (SELECT 1 FROM volume_latest v WHERE v.collection_id = c.id) AS has_volume,
       EXISTS (SELECT 1 FROM collection_metadata m WHERE m.collection_id = c.id) AS has_metadata,
       (SELECT count(*) FROM tokens t WHERE t.collection_id = c.id)::bigint AS tokens,
       COALESCE((SELECT s.completed_at IS NOT NULL FROM token_sync_state s WHERE s.collection_id = c.id), false)::boolean AS tokens_complete,
       c.traits_source,
       (SELECT count(*) FROM tokens t WHERE t.collection_id = c.id AND t.traits_known)::bigint AS tokens_with_traits,
       (SELECT count(*) FROM tokens t WHERE t.collection_id = c.id AND t.traits_unknown)::bigint AS tokens_unknown_traits,
       (SELECT count(*) FROM tokens t WHERE t.collection_id = c.id
            AND (t.traits_checked_at IS NULL OR t.traits_as_of IS DISTINCT FROM t.source_updated_at))::bigint AS traits_due,
       COALESCE((SELECT r.traits_completed_at IS NOT NULL FROM token_sync_runs r WHERE r.collection_id = c.id
            ORDER BY r.run DESC LIMIT 1), false)::boolean AS traits_complete,
       COALESCE((SELECT r.token_count FROM rarity_runs r WHERE r.collection_id = c.id AND r.method = 'openrarity'), 0)::bigint AS rarity_tokens
FROM collections c
ORDER BY c.id;

-- name: CollectionInsertMany :many
-- Tracks many collections of one source, chain and priority at once (slugs
-- already tracked are left as they are) and returns the new ids.
INSERT INTO collections (source, slug, chain, priority)
SELECT @source, s, @chain, @priority FROM unnest(@slugs::text[]) AS s
ON CONFLICT (source, slug) DO NOTHING
RETURNING id;

-- name: CollectionFreshnessList :many
-- Achieved freshness of every collection and kind (collection_freshness):
-- age in seconds (0 with never = true), target, the stale flag and mode
-- (live: a floor a stream keeps current; polled).
SELECT collection_id, kind, target_age_seconds::integer AS target_age_seconds,
       COALESCE(age_seconds, 0)::float8 AS age_seconds, (last_success_at IS NULL)::boolean AS never,
       stale::boolean AS stale, mode::text AS mode
FROM collection_freshness
ORDER BY collection_id, kind;
