-- name: MetricsQueueBacklog :many
-- Jobs available now per queue, and how long the oldest has waited.
SELECT queue, count(*)::bigint AS available,
       COALESCE(EXTRACT(EPOCH FROM (now() - min(scheduled_at))), 0)::float8 AS oldest_seconds
FROM river_job
WHERE state = 'available'
GROUP BY queue;

-- name: MetricsPausedKeys :many
-- Upstream keys paused (their bucket refills only from a future time), per
-- source.
SELECT source, count(*) FILTER (WHERE refilled_at > now())::bigint AS paused
FROM rate_limit_buckets
GROUP BY source;

-- name: MetricsDataAge :many
-- Per refresh kind, over active collections: how old the newest successful
-- refresh is (max and mean, seconds), how many never succeeded and how many
-- are past their freshness target (collection_freshness: a floor a live
-- stream keeps current, and the volume of such a collection whose sales
-- ledger has covered the last day, count the stream's last mark as their
-- success).
SELECT s.kind,
       count(*)::bigint AS collections,
       count(*) FILTER (WHERE f.last_success_at IS NULL)::bigint AS never,
       COALESCE(max(EXTRACT(EPOCH FROM (now() - f.last_success_at))), 0)::float8 AS max_seconds,
       COALESCE(avg(EXTRACT(EPOCH FROM (now() - f.last_success_at))), 0)::float8 AS avg_seconds,
       count(*) FILTER (WHERE f.stale)::bigint AS stale
FROM collection_schedules s
JOIN collections c ON c.id = s.collection_id AND c.status = 'active'
JOIN collection_freshness f ON f.collection_id = s.collection_id AND f.kind = s.kind
GROUP BY s.kind;
