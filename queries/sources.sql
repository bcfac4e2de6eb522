-- name: IndexerSourceUpsert :exec
-- Records what a configured source serves.
INSERT INTO indexer_sources (source, kinds, default_kinds, updated_at)
VALUES (@source, @kinds::text[], @default_kinds::text[], now())
ON CONFLICT (source) DO UPDATE
SET kinds = EXCLUDED.kinds, default_kinds = EXCLUDED.default_kinds, updated_at = now();

-- name: IndexerSourceDeleteMissing :exec
-- Forgets sources with the given prefix that are not configured any more.
DELETE FROM indexer_sources
WHERE source LIKE @prefix::text || '%' AND NOT (source = ANY (@keep::text[]));

-- name: IndexerSourceList :many
SELECT * FROM indexer_sources ORDER BY source;

-- name: CollectionRouteSet :exec
INSERT INTO collection_routes (collection_id, kind, sources, updated_at)
VALUES (@collection_id, @kind, @sources::text[], now())
ON CONFLICT (collection_id, kind) DO UPDATE SET sources = EXCLUDED.sources, updated_at = now();

-- name: CollectionRouteDelete :execrows
DELETE FROM collection_routes WHERE collection_id = @collection_id AND kind = @kind;

-- name: CollectionRoutesResolve :many
-- The effective sources of each (collection, kind) pair (nftsync_routes):
-- the collection's own route, else its own source plus the sources serving
-- the kind by default, without sources that cannot serve the kind.
SELECT r.collection_id::bigint AS collection_id, r.kind::text AS kind, r.sources::text[] AS sources,
       r.routed::boolean AS routed
FROM nftsync_routes(@collection_ids::bigint[], @kinds::text[]) AS r
ORDER BY r.pair::bigint;

-- name: CollectionContractFirst :one
-- The collection's contract address on its chain (the first known one).
SELECT cc.address FROM collection_contracts cc
JOIN collections c ON c.id = cc.collection_id
WHERE cc.collection_id = @collection_id
ORDER BY (cc.chain = c.chain) DESC, cc.address
LIMIT 1;

-- name: CrossCheckInsert :one
-- Records a round's check once; a retried job of the same round inserts
-- nothing and gets no row.
INSERT INTO source_cross_checks (collection_id, metric, round, source_a, value_a, fetched_at_a,
    source_b, value_b, low_b, high_b, fetched_at_b, source_as_of_b, tolerance, agree)
VALUES (@collection_id, @metric, @round, @source_a, @value_a, @fetched_at_a,
    @source_b, @value_b, @low_b, @high_b, @fetched_at_b, @source_as_of_b, @tolerance, @agree)
ON CONFLICT (collection_id, metric, source_a, source_b, round) DO NOTHING
RETURNING id;

-- name: CrossCheckList :many
SELECT * FROM source_cross_checks WHERE collection_id = @collection_id ORDER BY id;

-- name: CrossCheckSummary :many
-- Checks per pair of sources: how many, how many disagreed.
SELECT metric, source_a, source_b, count(*)::bigint AS checks,
       count(*) FILTER (WHERE NOT agree)::bigint AS disagreements
FROM source_cross_checks GROUP BY metric, source_a, source_b ORDER BY metric, source_a, source_b;

-- name: VolumeRowsBySource :many
-- Current volume rows per source, for progress reports.
SELECT source, count(*)::bigint AS rows, count(DISTINCT collection_id)::bigint AS collections
FROM volume_current GROUP BY source ORDER BY source;

-- name: VolumeCurrentWindow :one
-- One source's current figure for a collection's window.
SELECT amount::text AS amount, fetched_at FROM volume_current
WHERE collection_id = @collection_id AND source = @source AND time_window = @time_window;

-- name: VolumeAllMarketplaces :many
-- A collection's volume over all marketplace subgraphs, per window.
SELECT collection_id, time_window, currency, decimals::smallint AS decimals, amount::text AS amount,
       sales::bigint AS sales, sources::text[] AS sources, fetched_at::timestamptz AS fetched_at
FROM volume_all_marketplaces WHERE collection_id = @collection_id ORDER BY time_window;

-- name: RefreshJobKinds :many
-- Which job asks a source for a refresh kind (refresh_kind_jobs, the rows
-- catalog.sql writes from jobs/catalog.go).
SELECT k.refresh_kind AS kind, k.own_source, k.job_kind, k.job_queue, k.max_attempts, k.unique_by_source
FROM refresh_kind_jobs AS k
ORDER BY k.refresh_kind, k.own_source DESC;
