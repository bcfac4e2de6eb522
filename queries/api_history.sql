-- Market history of the client API: open/low/high/close per bucket of step
-- (1 minute, 1 hour or 1 day) for buckets starting in [date_bin(from), to).
-- Buckets before the rollup target's done_until (hourly for HOUR, daily
-- for DAY; none for MINUTE) come from the final rollup rows; later ones
-- from the raw change-based runs, where a run counts for every bucket it
-- overlaps. Buckets without an observation give no row; a bucket with a
-- currency switch gives one row per currency. Amounts are decimal strings,
-- '' when unknown (no floor); sales is -1 when unknown.

-- name: APIFloorHistory :many
WITH done AS (
    SELECT COALESCE((SELECT s.done_until FROM history_rollup_state s WHERE s.target = sqlc.arg(rollup)::text),
                    '-infinity'::timestamptz) AS until
), buckets AS (
    SELECT b.bucket_start
    FROM done, generate_series(date_bin(sqlc.arg(step)::interval, sqlc.arg(from_ts)::timestamptz, '2000-01-01 00:00:00+00'),
                               sqlc.arg(to_ts)::timestamptz, sqlc.arg(step)::interval) AS b(bucket_start)
    WHERE b.bucket_start < sqlc.arg(to_ts)::timestamptz AND b.bucket_start >= done.until
)
SELECT b.bucket_start::timestamptz AS bucket_start, h.currency, h.decimals,
       COALESCE((array_agg(h.amount ORDER BY h.first_seen_at))[1]::text, '')::text AS open,
       COALESCE(min(h.amount)::text, '')::text AS low, COALESCE(max(h.amount)::text, '')::text AS high,
       COALESCE((array_agg(h.amount ORDER BY h.first_seen_at DESC))[1]::text, '')::text AS close
FROM buckets b
JOIN floor_price_history h
  ON h.collection_id = @collection_id AND h.source = @source
 AND h.first_seen_at < b.bucket_start + sqlc.arg(step)::interval AND h.last_seen_at >= b.bucket_start
 -- rows never span two UTC days: this prunes the daily partitions
 AND h.first_seen_at >= date_trunc('day', sqlc.arg(from_ts)::timestamptz, 'UTC')
 AND h.first_seen_at < sqlc.arg(to_ts)::timestamptz + sqlc.arg(step)::interval
GROUP BY b.bucket_start, h.currency, h.decimals
UNION ALL
SELECT r.bucket_start, r.currency, r.decimals, COALESCE(r.open::text, ''), COALESCE(r.low::text, ''), COALESCE(r.high::text, ''), COALESCE(r.close::text, '')
FROM floor_price_hourly r, done
WHERE sqlc.arg(rollup)::text = 'floor_price_hourly' AND r.collection_id = @collection_id AND r.source = @source
  AND r.bucket_start >= date_bin(sqlc.arg(step)::interval, sqlc.arg(from_ts)::timestamptz, '2000-01-01 00:00:00+00')
  AND r.bucket_start < sqlc.arg(to_ts)::timestamptz AND r.bucket_start < done.until
UNION ALL
SELECT r.bucket_start, r.currency, r.decimals, COALESCE(r.open::text, ''), COALESCE(r.low::text, ''), COALESCE(r.high::text, ''), COALESCE(r.close::text, '')
FROM floor_price_daily r, done
WHERE sqlc.arg(rollup)::text = 'floor_price_daily' AND r.collection_id = @collection_id AND r.source = @source
  AND r.bucket_start >= date_bin(sqlc.arg(step)::interval, sqlc.arg(from_ts)::timestamptz, '2000-01-01 00:00:00+00')
  AND r.bucket_start < sqlc.arg(to_ts)::timestamptz AND r.bucket_start < done.until
ORDER BY 1, 2;

-- name: APIVolumeHistory :many
WITH done AS (
    SELECT COALESCE((SELECT s.done_until FROM history_rollup_state s WHERE s.target = sqlc.arg(rollup)::text),
                    '-infinity'::timestamptz) AS until
), buckets AS (
    SELECT b.bucket_start
    FROM done, generate_series(date_bin(sqlc.arg(step)::interval, sqlc.arg(from_ts)::timestamptz, '2000-01-01 00:00:00+00'),
                               sqlc.arg(to_ts)::timestamptz, sqlc.arg(step)::interval) AS b(bucket_start)
    WHERE b.bucket_start < sqlc.arg(to_ts)::timestamptz AND b.bucket_start >= done.until
)
SELECT b.bucket_start::timestamptz AS bucket_start, h.currency, h.decimals,
       COALESCE((array_agg(h.amount ORDER BY h.first_seen_at))[1]::text, '')::text AS open,
       COALESCE(min(h.amount)::text, '')::text AS low, COALESCE(max(h.amount)::text, '')::text AS high,
       COALESCE((array_agg(h.amount ORDER BY h.first_seen_at DESC))[1]::text, '')::text AS close,
       COALESCE((array_agg(h.sales ORDER BY h.first_seen_at DESC))[1], -1)::bigint AS sales
FROM buckets b
JOIN volume_history h
  ON h.collection_id = @collection_id AND h.source = @source AND h.time_window = @time_window
 AND h.first_seen_at < b.bucket_start + sqlc.arg(step)::interval AND h.last_seen_at >= b.bucket_start
 AND h.first_seen_at >= date_trunc('day', sqlc.arg(from_ts)::timestamptz, 'UTC')
 AND h.first_seen_at < sqlc.arg(to_ts)::timestamptz + sqlc.arg(step)::interval
GROUP BY b.bucket_start, h.currency, h.decimals
UNION ALL
SELECT r.bucket_start, r.currency, r.decimals, COALESCE(r.open::text, ''), COALESCE(r.low::text, ''), COALESCE(r.high::text, ''), COALESCE(r.close::text, ''), COALESCE(r.sales, -1)
FROM volume_hourly r, done
WHERE sqlc.arg(rollup)::text = 'volume_hourly' AND r.collection_id = @collection_id AND r.source = @source
  AND r.time_window = @time_window
  AND r.bucket_start >= date_bin(sqlc.arg(step)::interval, sqlc.arg(from_ts)::timestamptz, '2000-01-01 00:00:00+00')
  AND r.bucket_start < sqlc.arg(to_ts)::timestamptz AND r.bucket_start < done.until
UNION ALL
SELECT r.bucket_start, r.currency, r.decimals, COALESCE(r.open::text, ''), COALESCE(r.low::text, ''), COALESCE(r.high::text, ''), COALESCE(r.close::text, ''), COALESCE(r.sales, -1)
FROM volume_daily r, done
WHERE sqlc.arg(rollup)::text = 'volume_daily' AND r.collection_id = @collection_id AND r.source = @source
  AND r.time_window = @time_window
  AND r.bucket_start >= date_bin(sqlc.arg(step)::interval, sqlc.arg(from_ts)::timestamptz, '2000-01-01 00:00:00+00')
  AND r.bucket_start < sqlc.arg(to_ts)::timestamptz AND r.bucket_start < done.until
ORDER BY 1, 2;
