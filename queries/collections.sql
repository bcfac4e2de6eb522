-- name: CollectionUpsert :one
-- Tracks a collection (or updates its chain and priority) and returns it.
INSERT INTO collections (source, slug, chain, priority)
VALUES (@source, @slug, @chain, @priority)
ON CONFLICT (source, slug) DO UPDATE
SET chain = EXCLUDED.chain, priority = EXCLUDED.priority, updated_at = now()
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
SELECT c.id, c.slug, c.status,
       EXISTS (SELECT 1 FROM floor_price_latest f WHERE f.collection_id = c.id) AS has_floor,
       EXISTS (SELECT 1 FROM volume_latest v WHERE v.collection_id = c.id) AS has_volume,
       EXISTS (SELECT 1 FROM collection_metadata m WHERE m.collection_id = c.id) AS has_metadata,
       (SELECT count(*) FROM tokens t WHERE t.collection_id = c.id)::bigint AS tokens,
       COALESCE((SELECT s.completed_at IS NOT NULL FROM token_sync_state s WHERE s.collection_id = c.id), false)::boolean AS tokens_complete
FROM collections c
ORDER BY c.id;
