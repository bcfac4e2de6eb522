-- name: BackfillProgress :many
-- What is stored so far for the given collections (backfill progress and
-- resume: kinds with nothing stored are enqueued again).
SELECT c.id, c.slug, c.status,
       EXISTS (SELECT 1 FROM floor_price_latest f WHERE f.collection_id = c.id) AS has_floor,
       EXISTS (SELECT 1 FROM volume_latest v WHERE v.collection_id = c.id) AS has_volume,
       EXISTS (SELECT 1 FROM collection_metadata m WHERE m.collection_id = c.id) AS has_metadata,
       (SELECT count(*) FROM tokens t WHERE t.collection_id = c.id)::bigint AS tokens,
       COALESCE((SELECT s.completed_at IS NOT NULL FROM token_sync_state s WHERE s.collection_id = c.id), false)::boolean AS tokens_complete
FROM collections c
WHERE c.source = @source AND c.slug = ANY(@slugs::text[])
ORDER BY c.id;

-- name: RateLimitPausedSeconds :one
-- The longest pause any upstream key is in (its bucket refills only from a
-- future time), in seconds; 0 when none is paused.
SELECT COALESCE(max(EXTRACT(EPOCH FROM (refilled_at - now()))), 0)::float8 AS seconds
FROM rate_limit_buckets
WHERE refilled_at > now();
