-- name: FloorPriceUpsert :exec
INSERT INTO floor_price_snapshots (collection_id, source, as_of_bucket, amount, currency, decimals, owners, fetched_at, source_as_of)
VALUES (@collection_id, @source, @as_of_bucket, @amount, @currency, @decimals, @owners, @fetched_at, @source_as_of)
ON CONFLICT (collection_id, source, as_of_bucket) DO UPDATE
SET amount = EXCLUDED.amount, currency = EXCLUDED.currency, decimals = EXCLUDED.decimals,
    owners = EXCLUDED.owners, fetched_at = EXCLUDED.fetched_at, source_as_of = EXCLUDED.source_as_of
-- An older fetch that commits late never overwrites a newer one.
WHERE floor_price_snapshots.fetched_at <= EXCLUDED.fetched_at;

-- name: VolumeUpsert :exec
INSERT INTO volume_snapshots (collection_id, source, time_window, as_of_bucket, amount, currency, decimals, sales, owners, fetched_at, source_as_of)
VALUES (@collection_id, @source, @time_window, @as_of_bucket, @amount, @currency, @decimals, @sales, @owners, @fetched_at, @source_as_of)
ON CONFLICT (collection_id, source, time_window, as_of_bucket) DO UPDATE
SET amount = EXCLUDED.amount, currency = EXCLUDED.currency, decimals = EXCLUDED.decimals,
    sales = EXCLUDED.sales, owners = EXCLUDED.owners, fetched_at = EXCLUDED.fetched_at,
    source_as_of = EXCLUDED.source_as_of
WHERE volume_snapshots.fetched_at <= EXCLUDED.fetched_at;

-- name: FloorPriceLatest :one
SELECT * FROM floor_price_current WHERE collection_id = @collection_id AND source = @source;

-- name: FloorPriceHistory :many
SELECT * FROM floor_price_snapshots
WHERE collection_id = @collection_id
ORDER BY fetched_at DESC
LIMIT @max_rows;

-- name: VolumeLatest :many
SELECT * FROM volume_current WHERE collection_id = @collection_id AND source = @source ORDER BY time_window;

-- name: StatsFetchedSince :one
-- Whether a stats response (floor and volume arrive together) for the
-- collection was stored at or after since; lets a job reuse it.
SELECT EXISTS (
    SELECT 1 FROM volume_snapshots
    WHERE collection_id = @collection_id AND source = @source AND fetched_at >= @since::timestamptz
)::boolean;

-- name: SnapshotCounts :one
SELECT (SELECT count(*) FROM floor_price_snapshots WHERE floor_price_snapshots.collection_id = @collection_id)::bigint AS floors,
       (SELECT count(*) FROM volume_snapshots WHERE volume_snapshots.collection_id = @collection_id)::bigint AS volumes;
