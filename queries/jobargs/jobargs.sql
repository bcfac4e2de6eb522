-- Queries of package jobs/jobargs, generated into its own package
-- (jobs/jobargs/internal/jobargsdb) so that the job contract imports nothing
-- else of nftsync.

-- name: CollectionBySlug :one
SELECT id, status, status_reason, priority FROM collections WHERE source = @source AND slug = @slug;

-- name: RefreshKindNames :many
-- The refresh kinds (catalog.sql's rows), in planning order.
SELECT refresh_kind FROM refresh_kinds ORDER BY position;

-- name: RefreshJobs :many
-- The jobs a refresh of kinds[i] for collection_ids[i] means
-- (nftsync_refresh_jobs): one per routed source that serves the kind, pair
-- by pair in input order, then in route order.
SELECT r.collection_id::bigint AS collection_id, r.kind::text AS kind, r.source::text AS source,
       r.own_source::boolean AS own_source, r.job_kind::text AS job_kind, r.job_queue::text AS job_queue,
       r.max_attempts::smallint AS max_attempts, r.job_args::jsonb AS job_args, r.unique_args::text AS unique_args
FROM nftsync_refresh_jobs(@collection_ids::bigint[], @kinds::text[]) AS r;
