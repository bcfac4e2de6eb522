-- Maintenance of the bounded market history (see migration 0004): partitions,
-- hourly and daily rollups, retention.

-- name: HistoryEnsurePartitions :one
-- Creates the missing partitions of a history table covering [from, to);
-- unit is day, week or month. Returns how many it created.
SELECT nftsync_ensure_partitions(sqlc.arg(parent)::text::regclass, sqlc.arg(unit)::text,
    sqlc.arg(from_ts)::timestamptz, sqlc.arg(to_ts)::timestamptz)::integer;

-- name: HistoryDropPartitions :one
-- Drops the partitions of a history table that end at or before before_ts.
SELECT nftsync_drop_partitions(sqlc.arg(parent)::text::regclass, sqlc.arg(before_ts)::timestamptz)::integer;

-- name: HistoryPartitions :many
-- The partitions of a history table, oldest first.
SELECT c.relname::text AS name
FROM pg_catalog.pg_inherits i JOIN pg_catalog.pg_class c ON c.oid = i.inhrelid
WHERE i.inhparent = sqlc.arg(parent)::text::regclass
ORDER BY c.relname;

-- name: RollupStateInit :exec
-- Starts a rollup target at start unless it has state already.
INSERT INTO history_rollup_state (target, done_until) VALUES (@target, @start)
ON CONFLICT (target) DO NOTHING;

-- name: RollupStateGet :one
SELECT * FROM history_rollup_state WHERE target = @target FOR UPDATE;

-- name: RollupStateSet :exec
UPDATE history_rollup_state SET done_until = @done_until, after_collection = @after_collection
WHERE target = @target;

-- name: HistoryOldest :one
-- The first raw observation kept, or fallback when there is none.
SELECT least((SELECT min(first_seen_at) FROM floor_price_history),
              (SELECT min(first_seen_at) FROM volume_history),
              sqlc.arg(fallback)::timestamptz)::timestamptz;

-- name: FloorPriceRollupHour :one
-- Rolls the hour starting at bucket up for the next batch of collections
-- after after_collection; returns the last collection id of the batch, how
-- many collections it held (fewer than batch: the hour is done) and the
-- rows written. Rows never span two UTC days,
-- so only the bucket's day is read.
WITH ids AS (
    SELECT id FROM collections WHERE id > @after_collection ORDER BY id LIMIT @batch
), written AS (
    INSERT INTO floor_price_hourly (collection_id, source, bucket_start, currency, decimals, open, low, high, close)
    SELECT h.collection_id, h.source, sqlc.arg(bucket)::timestamptz, h.currency, h.decimals,
           (array_agg(h.amount ORDER BY h.first_seen_at))[1], min(h.amount), max(h.amount),
           (array_agg(h.amount ORDER BY h.first_seen_at DESC))[1]
    FROM floor_price_history h
    JOIN ids ON ids.id = h.collection_id
    WHERE h.first_seen_at >= date_trunc('day', sqlc.arg(bucket)::timestamptz, 'UTC')
      AND h.first_seen_at < sqlc.arg(bucket)::timestamptz + interval '1 hour'
      AND h.last_seen_at >= sqlc.arg(bucket)::timestamptz
    GROUP BY h.collection_id, h.source, h.currency, h.decimals
    ON CONFLICT (collection_id, source, bucket_start, currency) DO UPDATE
    SET decimals = EXCLUDED.decimals, open = EXCLUDED.open, low = EXCLUDED.low, high = EXCLUDED.high, close = EXCLUDED.close
    RETURNING 1
)
SELECT COALESCE((SELECT max(id) FROM ids), 0)::bigint AS last_collection,
       (SELECT count(*) FROM ids)::integer AS collections,
       (SELECT count(*) FROM written)::bigint AS rows_written;

-- name: VolumeRollupHour :one
WITH ids AS (
    SELECT id FROM collections WHERE id > @after_collection ORDER BY id LIMIT @batch
), written AS (
    INSERT INTO volume_hourly (collection_id, source, time_window, bucket_start, currency, decimals, open, low, high, close, sales)
    SELECT h.collection_id, h.source, h.time_window, sqlc.arg(bucket)::timestamptz, h.currency, h.decimals,
           (array_agg(h.amount ORDER BY h.first_seen_at))[1], min(h.amount), max(h.amount),
           (array_agg(h.amount ORDER BY h.first_seen_at DESC))[1],
           (array_agg(h.sales ORDER BY h.first_seen_at DESC))[1]
    FROM volume_history h
    JOIN ids ON ids.id = h.collection_id
    WHERE h.first_seen_at >= date_trunc('day', sqlc.arg(bucket)::timestamptz, 'UTC')
      AND h.first_seen_at < sqlc.arg(bucket)::timestamptz + interval '1 hour'
      AND h.last_seen_at >= sqlc.arg(bucket)::timestamptz
    GROUP BY h.collection_id, h.source, h.time_window, h.currency, h.decimals
    ON CONFLICT (collection_id, source, time_window, bucket_start, currency) DO UPDATE
    SET decimals = EXCLUDED.decimals, open = EXCLUDED.open, low = EXCLUDED.low, high = EXCLUDED.high,
        close = EXCLUDED.close, sales = EXCLUDED.sales
    RETURNING 1
)
SELECT COALESCE((SELECT max(id) FROM ids), 0)::bigint AS last_collection,
       (SELECT count(*) FROM ids)::integer AS collections,
       (SELECT count(*) FROM written)::bigint AS rows_written;

-- name: FloorPriceRollupDay :one
-- Rolls the UTC day starting at bucket up from the hourly rows, for the
-- next batch of collections after after_collection.
WITH ids AS (
    SELECT id FROM collections WHERE id > @after_collection ORDER BY id LIMIT @batch
), written AS (
    INSERT INTO floor_price_daily (collection_id, source, bucket_start, currency, decimals, open, low, high, close)
    SELECT h.collection_id, h.source, sqlc.arg(bucket)::timestamptz, h.currency, max(h.decimals),
           (array_agg(h.open ORDER BY h.bucket_start))[1], min(h.low), max(h.high),
           (array_agg(h.close ORDER BY h.bucket_start DESC))[1]
    FROM floor_price_hourly h
    JOIN ids ON ids.id = h.collection_id
    WHERE h.bucket_start >= sqlc.arg(bucket)::timestamptz AND h.bucket_start < sqlc.arg(bucket)::timestamptz + interval '1 day'
    GROUP BY h.collection_id, h.source, h.currency
    ON CONFLICT (collection_id, source, bucket_start, currency) DO UPDATE
    SET decimals = EXCLUDED.decimals, open = EXCLUDED.open, low = EXCLUDED.low, high = EXCLUDED.high, close = EXCLUDED.close
    RETURNING 1
)
SELECT COALESCE((SELECT max(id) FROM ids), 0)::bigint AS last_collection,
       (SELECT count(*) FROM ids)::integer AS collections,
       (SELECT count(*) FROM written)::bigint AS rows_written;

-- name: VolumeRollupDay :one
WITH ids AS (
    SELECT id FROM collections WHERE id > @after_collection ORDER BY id LIMIT @batch
), written AS (
    INSERT INTO volume_daily (collection_id, source, time_window, bucket_start, currency, decimals, open, low, high, close, sales)
    SELECT h.collection_id, h.source, h.time_window, sqlc.arg(bucket)::timestamptz, h.currency, max(h.decimals),
           (array_agg(h.open ORDER BY h.bucket_start))[1], min(h.low), max(h.high),
           (array_agg(h.close ORDER BY h.bucket_start DESC))[1],
           (array_agg(h.sales ORDER BY h.bucket_start DESC))[1]
    FROM volume_hourly h
    JOIN ids ON ids.id = h.collection_id
    WHERE h.bucket_start >= sqlc.arg(bucket)::timestamptz AND h.bucket_start < sqlc.arg(bucket)::timestamptz + interval '1 day'
    GROUP BY h.collection_id, h.source, h.time_window, h.currency
    ON CONFLICT (collection_id, source, time_window, bucket_start, currency) DO UPDATE
    SET decimals = EXCLUDED.decimals, open = EXCLUDED.open, low = EXCLUDED.low, high = EXCLUDED.high,
        close = EXCLUDED.close, sales = EXCLUDED.sales
    RETURNING 1
)
SELECT COALESCE((SELECT max(id) FROM ids), 0)::bigint AS last_collection,
       (SELECT count(*) FROM ids)::integer AS collections,
       (SELECT count(*) FROM written)::bigint AS rows_written;

-- name: FloorPriceDailyDeleteBefore :execrows
-- Deletes up to max_rows daily floor rows older than before_ts.
DELETE FROM floor_price_daily d
USING (SELECT collection_id, source, bucket_start, currency FROM floor_price_daily
       WHERE bucket_start < sqlc.arg(before_ts)::timestamptz LIMIT @max_rows) old
WHERE d.collection_id = old.collection_id AND d.source = old.source
  AND d.bucket_start = old.bucket_start AND d.currency = old.currency;

-- name: VolumeDailyDeleteBefore :execrows
DELETE FROM volume_daily d
USING (SELECT collection_id, source, time_window, bucket_start, currency FROM volume_daily
       WHERE bucket_start < sqlc.arg(before_ts)::timestamptz LIMIT @max_rows) old
WHERE d.collection_id = old.collection_id AND d.source = old.source AND d.time_window = old.time_window
  AND d.bucket_start = old.bucket_start AND d.currency = old.currency;

-- name: HistoryRowCounts :one
-- Rows per history table for one collection (raw, hourly, daily).
SELECT (SELECT count(*) FROM floor_price_history f WHERE f.collection_id = @collection_id)::bigint AS floor_raw,
       (SELECT count(*) FROM volume_history v WHERE v.collection_id = @collection_id)::bigint AS volume_raw,
       (SELECT count(*) FROM floor_price_hourly f WHERE f.collection_id = @collection_id)::bigint AS floor_hourly,
       (SELECT count(*) FROM volume_hourly v WHERE v.collection_id = @collection_id)::bigint AS volume_hourly,
       (SELECT count(*) FROM floor_price_daily f WHERE f.collection_id = @collection_id)::bigint AS floor_daily,
       (SELECT count(*) FROM volume_daily v WHERE v.collection_id = @collection_id)::bigint AS volume_daily;

-- name: FloorPriceHourlyRange :many
SELECT * FROM floor_price_hourly
WHERE collection_id = @collection_id AND bucket_start >= sqlc.arg(from_ts)::timestamptz AND bucket_start < sqlc.arg(to_ts)::timestamptz
ORDER BY bucket_start, source, currency;

-- name: FloorPriceDailyRange :many
SELECT * FROM floor_price_daily
WHERE collection_id = @collection_id AND bucket_start >= sqlc.arg(from_ts)::timestamptz AND bucket_start < sqlc.arg(to_ts)::timestamptz
ORDER BY bucket_start, source, currency;
