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
-- refresh is (max and mean, seconds) and how many never succeeded.
SELECT s.kind,
       count(*)::bigint AS collections,
       count(*) FILTER (WHERE s.last_success_at IS NULL)::bigint AS never,
       COALESCE(max(EXTRACT(EPOCH FROM (now() - s.last_success_at))), 0)::float8 AS max_seconds,
       COALESCE(avg(EXTRACT(EPOCH FROM (now() - s.last_success_at))), 0)::float8 AS avg_seconds
FROM collection_schedules s
JOIN collections c ON c.id = s.collection_id AND c.status = 'active'
GROUP BY s.kind;
