-- name: FloorPriceObserveBatch :exec
-- Records observations of collections' floors of one source (change-based),
-- one element per collection; the poller passes one, the stream consumer a
-- flush interval's worth (each collection once, its newest observation: ON
-- CONFLICT cannot touch a row twice). Per collection, the latest row takes
-- the value; the open history row's last_seen_at moves on when the value is
-- unchanged and the UTC day the same, otherwise a new history row starts at
-- seen_at. An observation older than the latest one changes nothing. A NULL
-- amount is a known empty book (no floor); owners count only where
-- owners_known; a zero source_as_of (0001-01-01, Go's zero time) is NULL.
-- Collections no longer tracked are skipped.
WITH u AS (
    SELECT u.* FROM (
        SELECT unnest(@collection_ids::bigint[]) AS collection_id, unnest(@amounts::numeric[]) AS amount,
            unnest(@currencies::text[]) AS currency, unnest(@decimals::smallint[]) AS decimals,
            unnest(@owners::bigint[]) AS owners, unnest(@owners_known::boolean[]) AS owners_known,
            unnest(@seen_ats::timestamptz[]) AS seen_at, unnest(@source_as_ofs::timestamptz[]) AS source_as_of) AS u
    WHERE EXISTS (SELECT 1 FROM collections c WHERE c.id = u.collection_id)
), latest AS (
    INSERT INTO floor_price_latest AS l (collection_id, source, amount, currency, decimals, owners,
        changed_at, row_from, last_seen_at, source_as_of)
    SELECT u.collection_id, @source::text, u.amount, u.currency, u.decimals, CASE WHEN u.owners_known THEN u.owners END,
        u.seen_at, u.seen_at, u.seen_at, NULLIF(u.source_as_of, '0001-01-01 00:00:00+00'::timestamptz)
    FROM u
    ON CONFLICT (collection_id, source) DO UPDATE
    SET changed_at = CASE WHEN (l.amount, l.currency, l.decimals) IS NOT DISTINCT FROM (EXCLUDED.amount, EXCLUDED.currency, EXCLUDED.decimals)
                          THEN l.changed_at ELSE EXCLUDED.changed_at END,
        row_from = CASE WHEN (l.amount, l.currency, l.decimals) IS NOT DISTINCT FROM (EXCLUDED.amount, EXCLUDED.currency, EXCLUDED.decimals)
                             AND l.row_from >= date_trunc('day', EXCLUDED.last_seen_at, 'UTC')
                        THEN l.row_from ELSE EXCLUDED.row_from END,
        amount = EXCLUDED.amount, currency = EXCLUDED.currency, decimals = EXCLUDED.decimals,
        owners = EXCLUDED.owners, last_seen_at = EXCLUDED.last_seen_at, source_as_of = EXCLUDED.source_as_of
    WHERE l.last_seen_at < EXCLUDED.last_seen_at
    RETURNING l.collection_id, l.source, l.row_from, l.last_seen_at, l.amount, l.currency, l.decimals
)
INSERT INTO floor_price_history (collection_id, source, first_seen_at, last_seen_at, amount, currency, decimals)
SELECT collection_id, source, row_from, last_seen_at, amount, currency, decimals FROM latest
ON CONFLICT (collection_id, source, first_seen_at) DO UPDATE
SET last_seen_at = greatest(floor_price_history.last_seen_at, EXCLUDED.last_seen_at);

-- name: VolumeObserve :exec
-- Records one observation of a volume window, as FloorPriceObserveBatch.
WITH latest AS (
    INSERT INTO volume_latest AS l (collection_id, source, time_window, amount, currency, decimals, sales, owners,
        changed_at, row_from, last_seen_at, source_as_of)
    VALUES (@collection_id, @source, @time_window, @amount, @currency, @decimals, @sales, @owners,
        @seen_at, @seen_at, @seen_at, @source_as_of)
    ON CONFLICT (collection_id, source, time_window) DO UPDATE
    SET changed_at = CASE WHEN (l.amount, l.currency, l.decimals, l.sales) IS NOT DISTINCT FROM (EXCLUDED.amount, EXCLUDED.currency, EXCLUDED.decimals, EXCLUDED.sales)
                          THEN l.changed_at ELSE EXCLUDED.changed_at END,
        row_from = CASE WHEN (l.amount, l.currency, l.decimals, l.sales) IS NOT DISTINCT FROM (EXCLUDED.amount, EXCLUDED.currency, EXCLUDED.decimals, EXCLUDED.sales)
                             AND l.row_from >= date_trunc('day', EXCLUDED.last_seen_at, 'UTC')
                        THEN l.row_from ELSE EXCLUDED.row_from END,
        amount = EXCLUDED.amount, currency = EXCLUDED.currency, decimals = EXCLUDED.decimals, sales = EXCLUDED.sales,
        owners = EXCLUDED.owners, last_seen_at = EXCLUDED.last_seen_at, source_as_of = EXCLUDED.source_as_of
    WHERE l.last_seen_at < EXCLUDED.last_seen_at
    RETURNING l.collection_id, l.source, l.time_window, l.row_from, l.last_seen_at, l.amount, l.currency, l.decimals, l.sales
)
INSERT INTO volume_history (collection_id, source, time_window, first_seen_at, last_seen_at, amount, currency, decimals, sales)
SELECT collection_id, source, time_window, row_from, last_seen_at, amount, currency, decimals, sales FROM latest
ON CONFLICT (collection_id, source, time_window, first_seen_at) DO UPDATE
SET last_seen_at = greatest(volume_history.last_seen_at, EXCLUDED.last_seen_at);

-- name: FloorPriceLatest :one
SELECT * FROM floor_price_current WHERE collection_id = @collection_id AND source = @source;

-- name: FloorPriceHistory :many
-- Raw history rows (runs of unchanged values), newest first.
SELECT * FROM floor_price_history
WHERE collection_id = @collection_id
ORDER BY first_seen_at DESC
LIMIT @max_rows;

-- name: VolumeHistory :many
SELECT * FROM volume_history
WHERE collection_id = @collection_id
ORDER BY first_seen_at DESC, time_window
LIMIT @max_rows;

-- name: VolumeLatest :many
SELECT * FROM volume_current WHERE collection_id = @collection_id AND source = @source ORDER BY time_window;

-- name: SnapshotCounts :one
-- Raw history rows per collection.
SELECT (SELECT count(*) FROM floor_price_history WHERE floor_price_history.collection_id = @collection_id)::bigint AS floors,
       (SELECT count(*) FROM volume_history WHERE volume_history.collection_id = @collection_id)::bigint AS volumes;

-- name: StatsFetchClaim :one
-- Creates and locks the collection's single-flight row; must run in the
-- transaction that decides whether to reuse, wait or take the lease.
INSERT INTO stats_fetches AS f (collection_id, source) VALUES (@collection_id, @source)
ON CONFLICT (collection_id, source) DO UPDATE SET source = f.source
RETURNING fetched_at, response, lease_job, lease_until;

-- name: StatsFetchPeek :one
-- Reads the collection's single-flight lease without locking the row: a job
-- waiting for another job's call looks at it until the call has ended.
SELECT lease_job, lease_until FROM stats_fetches
WHERE collection_id = @collection_id AND source = @source;

-- name: StatsFetchLease :exec
UPDATE stats_fetches SET lease_job = @job_id, lease_until = @lease_until
WHERE collection_id = @collection_id AND source = @source;

-- name: StatsFetchStore :exec
-- Stores a fetched response (unless a newer one is stored) and releases the
-- job's lease.
UPDATE stats_fetches
SET fetched_at = CASE WHEN fetched_at IS NULL OR fetched_at <= @fetched_at::timestamptz THEN @fetched_at::timestamptz ELSE fetched_at END,
    response = CASE WHEN fetched_at IS NULL OR fetched_at <= @fetched_at::timestamptz THEN @response::jsonb ELSE response END,
    lease_job = CASE WHEN lease_job = @job_id THEN NULL ELSE lease_job END,
    lease_until = CASE WHEN lease_job = @job_id THEN NULL ELSE lease_until END
WHERE collection_id = @collection_id AND source = @source;

-- name: StatsFetchRelease :exec
UPDATE stats_fetches SET lease_job = NULL, lease_until = NULL
WHERE collection_id = @collection_id AND source = @source AND lease_job = @job_id;
