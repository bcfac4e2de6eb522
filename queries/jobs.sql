-- name: JobCountsByKindState :many
-- Counts of River jobs per kind and state, for progress reports.
SELECT kind, state::text AS state, count(*)::bigint AS jobs
FROM river_job
GROUP BY kind, state
ORDER BY kind, state;
