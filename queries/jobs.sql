-- name: JobCountsByKindState :many
-- Counts of River jobs per kind and state, for progress reports.
SELECT kind, state::text AS state, count(*)::bigint AS jobs
FROM river_job
GROUP BY kind, state
ORDER BY kind, state;

-- name: JobListByKinds :many
-- River jobs of the given kinds with the collection and planned time they carry
-- (the args field "bucket", CollectionArgs.PlannedAt).
SELECT id, kind, state::text AS state, attempt, attempted_by,
       COALESCE(args->>'collection_id', '')::text AS collection_id,
       COALESCE(args->>'bucket', '')::text AS planned_at
FROM river_job
WHERE kind = ANY(@kinds::text[])
ORDER BY id;

-- name: JobErrorSummary :one
-- How many jobs recorded errors, and how many of those errors carry no text.
SELECT count(*) FILTER (WHERE cardinality(errors) > 0)::bigint AS with_errors,
       COALESCE(sum((SELECT count(*) FROM unnest(errors) e WHERE COALESCE(e->>'error', '') = '')), 0)::bigint AS errors_without_text
FROM river_job;
