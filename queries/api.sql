-- Reads and operator writes of the client GraphQL API and the admin CLI.
-- Per-collection lookups take arrays of ids so that a page of collections or
-- tokens costs one statement per field, whatever the page size.

-- name: APICollectionList :many
-- A page of collections matching the filter (empty strings match all), in
-- the given order: VOLUME_1D and FLOOR highest first, NAME A-Z, UPDATED
-- newest first; id breaks ties. The floor is the one shown
-- (APIFloorByCollections: the newer of polled and streamed).
SELECT c.*
FROM collections c
LEFT JOIN collection_metadata m ON m.collection_id = c.id
LEFT JOIN LATERAL (
    SELECT fc.amount FROM floor_price_current fc
    WHERE fc.collection_id = c.id AND fc.source IN (c.source, c.source || ':stream')
    ORDER BY fc.fetched_at DESC, fc.source
    LIMIT 1
) f ON true
LEFT JOIN volume_current v ON v.collection_id = c.id AND v.source = c.source AND v.time_window = '1d'
WHERE (@chain::text = '' OR c.chain = @chain::text)
  AND (@source::text = '' OR c.source = @source::text)
  AND (@status::text = '' OR c.status = @status::text)
  AND (@name_contains::text = '' OR strpos(lower(COALESCE(m.name, '') || ' ' || c.slug), lower(@name_contains::text)) > 0)
ORDER BY
  CASE WHEN @order_by::text = 'VOLUME_1D' THEN v.amount END DESC NULLS LAST,
  CASE WHEN @order_by::text = 'FLOOR' THEN f.amount END DESC NULLS LAST,
  CASE WHEN @order_by::text = 'NAME' THEN lower(COALESCE(NULLIF(m.name, ''), c.slug)) END ASC,
  CASE WHEN @order_by::text = 'UPDATED' THEN c.updated_at END DESC,
  c.id
LIMIT @max_rows OFFSET @skip_rows;

-- name: APICollectionCount :one
SELECT count(*)
FROM collections c
LEFT JOIN collection_metadata m ON m.collection_id = c.id
WHERE (@chain::text = '' OR c.chain = @chain::text)
  AND (@source::text = '' OR c.source = @source::text)
  AND (@status::text = '' OR c.status = @status::text)
  AND (@name_contains::text = '' OR strpos(lower(COALESCE(m.name, '') || ' ' || c.slug), lower(@name_contains::text)) > 0);

-- name: APICollectionByContract :one
SELECT c.* FROM collections c
JOIN collection_contracts cc ON cc.collection_id = c.id
WHERE cc.chain = @chain AND cc.address = lower(@address::text)
ORDER BY c.id
LIMIT 1;

-- name: APICollectionBySlug :one
-- A collection by slug, whatever its source (the lowest id when two sources
-- share a slug).
SELECT * FROM collections WHERE slug = @slug ORDER BY id LIMIT 1;

-- name: APIMetadataByCollections :many
SELECT * FROM collection_metadata WHERE collection_id = ANY(@collection_ids::bigint[]);

-- name: APIContractsByCollections :many
SELECT * FROM collection_contracts WHERE collection_id = ANY(@collection_ids::bigint[]) ORDER BY collection_id, chain, address;

-- name: APIFloorByCollections :many
-- The current floor of each collection: the newest observation of the
-- collection's own source (polled) and of its stream (source
-- '<source>:stream', kept by the Stream API). amount is '' when the source
-- reported no floor.
SELECT DISTINCT ON (f.collection_id)
       f.collection_id, f.source, COALESCE(f.amount::text, '')::text AS amount, f.currency, f.decimals, f.owners, f.fetched_at, f.source_as_of
FROM floor_price_current f
JOIN collections c ON c.id = f.collection_id AND f.source IN (c.source, c.source || ':stream')
WHERE f.collection_id = ANY(@collection_ids::bigint[])
ORDER BY f.collection_id, f.fetched_at DESC, f.source;

-- name: APIFloorKeysAll :many
-- Every tracked collection's current floor (as APIFloorByCollections picks
-- it) as amount and currency: where a floorChanged subscription to all
-- collections starts from.
SELECT DISTINCT ON (f.collection_id) f.collection_id, COALESCE(f.amount::text, '')::text AS amount, f.currency
FROM floor_price_current f
JOIN collections c ON c.id = f.collection_id AND f.source IN (c.source, c.source || ':stream')
ORDER BY f.collection_id, f.fetched_at DESC, f.source;

-- name: APIVolumesByCollections :many
-- sales_covered_since: the start of the collection's gap-free sales ledger
-- (collection_streams; NULL: none), which may serve the 1-day figure.
SELECT v.collection_id, v.source, v.time_window, v.amount::text AS amount, v.currency, v.decimals, v.sales, v.owners, v.fetched_at,
       cs.sales_covered_since
FROM volume_current v
JOIN collections c ON c.id = v.collection_id AND c.source = v.source
LEFT JOIN collection_streams cs ON cs.collection_id = v.collection_id
WHERE v.collection_id = ANY(@collection_ids::bigint[])
ORDER BY v.collection_id, CASE v.time_window WHEN '1d' THEN 1 WHEN '7d' THEN 2 WHEN '30d' THEN 3 ELSE 4 END;

-- name: APIFreshnessByCollections :many
-- Every schedule of the collections with its achieved freshness from the
-- collection_freshness view (age, target, stale), as the CLI and metrics
-- show it; age_seconds is 0 when it never succeeded (last_success_at NULL).
-- mode is live for a floor a stream keeps current (live_marked_at: its
-- last live mark, which counts as a success), else polled.
SELECT s.collection_id, s.kind, s.interval_seconds, s.next_due_at, s.last_success_at, f.live_marked_at,
       f.target_age_seconds::integer AS target_age_seconds,
       COALESCE(f.age_seconds, 0)::float8 AS age_seconds, f.stale::boolean AS stale, f.mode::text AS mode
FROM collection_schedules s
JOIN collection_freshness f ON f.collection_id = s.collection_id AND f.kind = s.kind
WHERE s.collection_id = ANY(@collection_ids::bigint[])
ORDER BY s.collection_id, s.kind;

-- name: APIRarityRunsByCollections :many
SELECT collection_id, method, version, token_count, excluded_traits, computed_at, entropy, unknown_count, missing_count
FROM rarity_runs
WHERE collection_id = ANY(@collection_ids::bigint[]) AND method = @method;

-- name: APITraitDistribution :many
-- Trait values of a collection's current rarity run with their counts and
-- frequencies, by trait type then most common first.
SELECT trait_type, value, is_null, count, frequency
FROM trait_value_stats
WHERE collection_id = @collection_id AND method = @method
ORDER BY trait_type, count DESC, value;

-- name: APIQualityEvents :many
SELECT * FROM data_quality_events
WHERE collection_id = @collection_id
ORDER BY created_at DESC, id DESC
LIMIT @max_rows;

-- name: APITokensByRank :many
-- A page of a collection's ranked tokens, rarest first, after the keyset
-- (rank, token pk). Trait filter: the token has, for every requested type,
-- one of the requested values (filter_types/filter_values are parallel
-- arrays; filter_type_count is the number of distinct types, 0 = no filter).
-- The run id is a scalar subquery so that the (run_id, rank, token_pk)
-- index yields the page in order: the scan stops after max_rows matches
-- instead of reading and sorting the whole run.
SELECT t.id, t.collection_id, t.contract, t.token_id, t.token_standard, t.name, t.image_url, t.metadata_url,
       t.traits_known, t.fetched_at,
       (CASE WHEN t.traits_known THEN 'known' WHEN t.traits_unknown THEN 'unknown'
             WHEN t.traits_error <> '' THEN 'failed' ELSE 'pending' END)::text AS traits_state,
       r.score, r.rank, r.unique_count, r.trait_count
FROM token_rarity r
JOIN tokens t ON t.id = r.token_pk
WHERE r.run_id = (SELECT rr.run_id FROM rarity_runs rr WHERE rr.collection_id = @collection_id AND rr.method = @method)
  AND (r.rank, r.token_pk) > (@after_rank::integer, @after_id::bigint)
  AND (@filter_type_count::integer = 0 OR (
    SELECT count(DISTINCT tt.trait_type) FROM token_traits tt
    JOIN (SELECT unnest(@filter_types::text[]) AS trait_type, unnest(@filter_values::text[]) AS value) AS f
      ON tt.trait_type = f.trait_type AND tt.value_text = f.value
    WHERE tt.collection_id = t.collection_id AND tt.contract = t.contract AND tt.token_id = t.token_id
  ) = @filter_type_count::integer)
ORDER BY r.rank, r.token_pk
LIMIT @max_rows;

-- name: APITokensUnranked :many
-- A page of the collection's tokens without a rank in the current run (they
-- follow the ranked ones), by token pk after after_id. Same trait filter.
SELECT t.id, t.collection_id, t.contract, t.token_id, t.token_standard, t.name, t.image_url, t.metadata_url,
       t.traits_known, t.fetched_at,
       (CASE WHEN t.traits_known THEN 'known' WHEN t.traits_unknown THEN 'unknown'
             WHEN t.traits_error <> '' THEN 'failed' ELSE 'pending' END)::text AS traits_state
FROM tokens t
WHERE t.collection_id = @collection_id AND t.id > @after_id::bigint
  AND NOT EXISTS (
    SELECT 1 FROM rarity_runs rr JOIN token_rarity r ON r.run_id = rr.run_id AND r.token_pk = t.id
    WHERE rr.collection_id = t.collection_id AND rr.method = @method)
  AND (@filter_type_count::integer = 0 OR (
    SELECT count(DISTINCT tt.trait_type) FROM token_traits tt
    JOIN (SELECT unnest(@filter_types::text[]) AS trait_type, unnest(@filter_values::text[]) AS value) AS f
      ON tt.trait_type = f.trait_type AND tt.value_text = f.value
    WHERE tt.collection_id = t.collection_id AND tt.contract = t.contract AND tt.token_id = t.token_id
  ) = @filter_type_count::integer)
ORDER BY t.id
LIMIT @max_rows;

-- name: APITokensByTokenID :many
-- A page of a collection's tokens in numeric token id order after the keyset
-- (token id, token pk), with their rarity in the current run if any.
SELECT t.id, t.collection_id, t.contract, t.token_id, t.token_standard, t.name, t.image_url, t.metadata_url,
       t.traits_known, t.fetched_at,
       (CASE WHEN t.traits_known THEN 'known' WHEN t.traits_unknown THEN 'unknown'
             WHEN t.traits_error <> '' THEN 'failed' ELSE 'pending' END)::text AS traits_state,
       r.score, r.rank, r.unique_count, r.trait_count
FROM tokens t
LEFT JOIN rarity_runs rr ON rr.collection_id = t.collection_id AND rr.method = @method
LEFT JOIN token_rarity r ON r.run_id = rr.run_id AND r.token_pk = t.id
WHERE t.collection_id = @collection_id
  AND (t.token_id::numeric, t.id) > (@after_token_id::numeric, @after_id::bigint)
  AND (@filter_type_count::integer = 0 OR (
    SELECT count(DISTINCT tt.trait_type) FROM token_traits tt
    JOIN (SELECT unnest(@filter_types::text[]) AS trait_type, unnest(@filter_values::text[]) AS value) AS f
      ON tt.trait_type = f.trait_type AND tt.value_text = f.value
    WHERE tt.collection_id = t.collection_id AND tt.contract = t.contract AND tt.token_id = t.token_id
  ) = @filter_type_count::integer)
ORDER BY t.token_id::numeric, t.id
LIMIT @max_rows;

-- name: APITokenCount :one
-- How many tokens of the collection match the trait filter.
SELECT count(*) FROM tokens t
WHERE t.collection_id = @collection_id
  AND (@filter_type_count::integer = 0 OR (
    SELECT count(DISTINCT tt.trait_type) FROM token_traits tt
    JOIN (SELECT unnest(@filter_types::text[]) AS trait_type, unnest(@filter_values::text[]) AS value) AS f
      ON tt.trait_type = f.trait_type AND tt.value_text = f.value
    WHERE tt.collection_id = t.collection_id AND tt.contract = t.contract AND tt.token_id = t.token_id
  ) = @filter_type_count::integer);

-- name: APITokenGet :one
-- One token by id (normalised digits) with its rarity in the current run.
SELECT t.id, t.collection_id, t.contract, t.token_id, t.token_standard, t.name, t.image_url, t.metadata_url,
       t.traits_known, t.fetched_at,
       (CASE WHEN t.traits_known THEN 'known' WHEN t.traits_unknown THEN 'unknown'
             WHEN t.traits_error <> '' THEN 'failed' ELSE 'pending' END)::text AS traits_state,
       r.score, r.rank, r.unique_count, r.trait_count
FROM tokens t
LEFT JOIN rarity_runs rr ON rr.collection_id = t.collection_id AND rr.method = @method
LEFT JOIN token_rarity r ON r.run_id = rr.run_id AND r.token_pk = t.id
WHERE t.collection_id = @collection_id AND t.token_id = @token_id
ORDER BY t.contract
LIMIT 1;

-- name: APITraitsByTokens :many
-- The traits of the given tokens (by token pk), in the source's order, with
-- the id of their collection's current rarity run (0 without one).
SELECT t.id AS token_pk, t.collection_id, COALESCE(rr.run_id, 0)::bigint AS run_id,
       tt.trait_type, tt.value_text, tt.value_kind, tt.display_type, tt.max_value
FROM tokens t
JOIN token_traits tt ON tt.collection_id = t.collection_id AND tt.contract = t.contract AND tt.token_id = t.token_id
LEFT JOIN rarity_runs rr ON rr.collection_id = t.collection_id AND rr.method = @method
WHERE t.id = ANY(@token_pks::bigint[])
ORDER BY t.id, tt.ordinal;

-- name: APITraitStatsByCollections :many
-- Counts and frequencies of every (normalised) trait value in the current
-- rarity run of each collection, with the run's id. One statement, so the
-- statistics are those of the run id it returns: the run id and its
-- statistics change together, in the transaction that stores a run.
SELECT rr.run_id, s.collection_id, s.trait_type, s.value, s.count, s.frequency
FROM rarity_runs rr
JOIN trait_value_stats s ON s.collection_id = rr.collection_id AND s.method = rr.method
WHERE rr.collection_id = ANY(@collection_ids::bigint[]) AND rr.method = @method AND NOT s.is_null;

-- name: AdminCollectionLock :one
-- Locks a collection row for an operator action (serialises concurrent
-- refreshes of one collection across API replicas).
SELECT * FROM collections WHERE source = @source AND slug = @slug FOR UPDATE;

-- name: AdminCollectionDelete :exec
DELETE FROM collections WHERE id = @id;

-- name: AdminScheduleSetInterval :execrows
UPDATE collection_schedules SET interval_seconds = sqlc.arg(every_seconds)::integer,
    next_due_at = LEAST(next_due_at, now() + sqlc.arg(every_seconds)::integer * interval '1 second')
WHERE collection_id = @collection_id AND kind = @kind;

-- name: AdminAuditInsert :one
INSERT INTO admin_audit (actor, action, collection_id, slug, detail, job_ids, created_at)
VALUES (@actor, @action, @collection_id, @slug, @detail, @job_ids::bigint[], @created_at)
RETURNING *;

-- name: AdminAuditLastRefresh :one
-- The latest refresh of a collection (for the cooldown).
SELECT * FROM admin_audit
WHERE collection_id = @collection_id AND action = 'refresh'
ORDER BY created_at DESC
LIMIT 1;

-- name: AdminAuditList :many
SELECT * FROM admin_audit
WHERE (sqlc.narg(collection_id)::bigint IS NULL OR collection_id = sqlc.narg(collection_id)::bigint)
ORDER BY id DESC
LIMIT @max_rows;

-- name: APICollectionDataVersion :one
-- The version of a collection's served data (0 before its first write): the
-- response cache reads it before the data it caches.
SELECT coalesce((SELECT version FROM collection_data_versions WHERE collection_id = @collection_id), 0)::bigint AS version;

-- name: APICollectionDataVersions :many
-- Current versions of the collections a cached response read.
SELECT collection_id, version FROM collection_data_versions WHERE collection_id = ANY(@collection_ids::bigint[]);
