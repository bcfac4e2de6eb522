-- Stream API state: shard leases (internal/shard), the stream state of each
-- collection (the stream consumer) and what the planner, the reconcile and
-- the API read of it.

-- name: ShardEnsure :exec
-- Creates the rows of shards 0 .. shard_count-1.
INSERT INTO stream_shards (shard, updated_at)
SELECT g, sqlc.arg(now)::timestamptz FROM generate_series(0, sqlc.arg(shard_count)::int - 1) AS g
ON CONFLICT (shard) DO NOTHING;

-- name: ShardPrune :exec
-- Drops the rows of shards at or beyond shard_count that no live lease
-- holds (the shard count was lowered; a replica still running with the
-- larger count keeps its leases until it stops).
DELETE FROM stream_shards
WHERE shard >= @shard_count::int AND (owner IS NULL OR lease_until <= @now::timestamptz);

-- name: ShardReplicaHeartbeat :exec
-- Registers or renews a replica: it counts as live until lease_until.
INSERT INTO stream_replicas (replica, started_at, heartbeat_at, lease_until, max_shards)
VALUES (@replica, @now::timestamptz, @now::timestamptz, @lease_until::timestamptz, sqlc.narg(max_shards)::int)
ON CONFLICT (replica) DO UPDATE
SET heartbeat_at = EXCLUDED.heartbeat_at, lease_until = EXCLUDED.lease_until, max_shards = EXCLUDED.max_shards;

-- name: ShardReplicasLive :many
-- The live replicas in name order (the order fair shares are assigned in),
-- after deleting the rows of replicas gone since before gone_before.
WITH gone AS (
    DELETE FROM stream_replicas d WHERE d.lease_until < @gone_before::timestamptz
)
SELECT r.replica, r.max_shards FROM stream_replicas r
WHERE r.lease_until > @now::timestamptz
ORDER BY r.replica;

-- name: ShardReplicaRemove :exec
-- A replica stopping: its leases are released and its row deleted, so the
-- others take its shards at their next renewal.
WITH released AS (
    UPDATE stream_shards SET owner = NULL, lease_until = NULL, acquired_at = NULL, updated_at = @now::timestamptz
    WHERE owner = @replica::text
)
DELETE FROM stream_replicas WHERE replica = @replica;

-- name: ShardRenew :many
-- Extends the replica's leases on shards below shard_count and returns
-- them. A lease another replica took after it lapsed is not the caller's
-- any more and is not returned.
UPDATE stream_shards SET lease_until = @lease_until::timestamptz, updated_at = @now::timestamptz
WHERE owner = @replica::text AND shard < @shard_count::int
RETURNING shard;

-- name: ShardClaim :many
-- Takes up to n free shards (never leased, released, or lease lapsed) below
-- shard_count, lowest first, and returns them. Rows another replica is
-- taking at the same moment are skipped, and a row's lease is re-checked
-- once it is locked, so two replicas never take one shard.
WITH free AS (
    SELECT shard FROM stream_shards
    WHERE shard < @shard_count::int AND (owner IS NULL OR lease_until <= @now::timestamptz)
    ORDER BY shard
    LIMIT @n::int
    FOR UPDATE SKIP LOCKED
)
UPDATE stream_shards s
SET owner = @replica::text, lease_until = @lease_until::timestamptz, acquired_at = @now::timestamptz, updated_at = @now::timestamptz
FROM free
WHERE s.shard = free.shard
RETURNING s.shard;

-- name: ShardRelease :exec
-- Gives up the replica's leases on shards (those beyond its fair share).
UPDATE stream_shards SET owner = NULL, lease_until = NULL, acquired_at = NULL, updated_at = @now::timestamptz
WHERE owner = @replica::text AND shard = ANY (@shards::int[]);

-- name: ShardList :many
-- Every shard with its holder (owner NULL or lease_until past: free).
SELECT shard, owner, lease_until, acquired_at FROM stream_shards ORDER BY shard;

-- name: StreamCollectionsForShards :many
-- The active collections served by OpenSea whose shard (id modulo
-- shard_count) is one of shards: the topics the holder of those shards
-- joins. With each its chain and the currency of its newest polled floor
-- (NULL before the first poll): the currency its stream floor is kept in.
SELECT c.id, c.slug, c.chain,
       f.currency AS floor_currency, f.decimals AS floor_decimals
FROM collections c
LEFT JOIN floor_price_latest f ON f.collection_id = c.id AND f.source = c.source
WHERE c.source = 'opensea' AND c.status = 'active'
  AND (c.id % @shard_count::int)::int = ANY (@shards::int[])
ORDER BY c.id;

-- name: StreamStatesMark :exec
-- Sets the stream state of collections (joining, live, down) as owner at
-- at: since moves only when the state changes, updated_at always. The
-- consumer marks live collections again every 15 s, which keeps them live
-- for the planner. A change of state changes what the API shows (a live or
-- a polled floor), so it bumps those collections' data versions; a
-- re-mark does not. Collections no longer tracked are skipped, and so is a
-- down mark of a collection another replica owns now.
WITH marked AS (
    INSERT INTO collection_streams AS s (collection_id, shard, state, owner, since, updated_at)
    SELECT u.id, (u.id % NULLIF((SELECT count(*) FROM stream_shards), 0))::int, @state::text, @owner::text,
           @at::timestamptz, @at::timestamptz
    FROM (SELECT DISTINCT id FROM unnest(@collection_ids::bigint[]) AS x (id)) u
    WHERE EXISTS (SELECT 1 FROM collections c WHERE c.id = u.id)
    ORDER BY u.id
    ON CONFLICT (collection_id) DO UPDATE
    SET state = EXCLUDED.state, owner = EXCLUDED.owner, shard = EXCLUDED.shard,
        since = CASE WHEN s.state = EXCLUDED.state THEN s.since ELSE EXCLUDED.since END,
        updated_at = EXCLUDED.updated_at
    -- A replica that lost the collection's shard marks it down when it
    -- leaves the topic; that must not hide the new owner's live stream.
    WHERE EXCLUDED.state <> 'down' OR s.owner = EXCLUDED.owner
    RETURNING s.collection_id, s.since
)
SELECT nftsync_data_changed(ARRAY(SELECT collection_id FROM marked WHERE since = @at::timestamptz ORDER BY collection_id), 'FLOOR');

-- name: StreamStatesTouch :exec
-- Records the latest event stored per collection (when stored, and the
-- upstream's sent_at); times never move back.
UPDATE collection_streams s
SET last_event_at = GREATEST(s.last_event_at, u.at), last_event_sent_at = GREATEST(s.last_event_sent_at, u.sent_at)
FROM (SELECT x.id, max(x.at) AS at, max(x.sent_at) AS sent_at
      FROM (SELECT unnest(@collection_ids::bigint[]) AS id, unnest(@last_event_at::timestamptz[]) AS at,
                   unnest(@last_event_sent_at::timestamptz[]) AS sent_at) AS x
      GROUP BY x.id) u
WHERE s.collection_id = u.id;

-- name: StreamBootstrapped :exec
-- The collection's book was refilled over REST at at: a reconcile's
-- request for it is served.
UPDATE collection_streams SET bootstrapped_at = @at::timestamptz, needs_bootstrap = false
WHERE collection_id = @collection_id;

-- name: StreamNeedsBootstrap :many
-- The owner's collections a reconcile found off: re-bootstrap their books.
SELECT collection_id FROM collection_streams
WHERE owner = @owner AND needs_bootstrap
ORDER BY collection_id;

-- name: StreamRequestBootstrap :exec
-- A reconcile found the stream's floor different from /stats: the owner
-- re-bootstraps the collection's book.
UPDATE collection_streams SET needs_bootstrap = true WHERE collection_id = @collection_id;

-- name: StreamSalesCovered :exec
-- Sets the start of the collection's gap-free sales ledger (NULL: none).
UPDATE collection_streams SET sales_covered_since = sqlc.narg(since)::timestamptz
WHERE collection_id = @collection_id;

-- name: StreamStateGet :one
SELECT * FROM collection_streams WHERE collection_id = @collection_id;

-- name: StreamStatesList :many
-- The stream state of collections, for the API and the CLI; live is true
-- when the state is live and was marked after live_after (now minus the
-- liveness TTL).
SELECT s.*, (s.state = 'live' AND s.updated_at > @live_after::timestamptz)::boolean AS live
FROM collection_streams s
WHERE s.collection_id = ANY (@collection_ids::bigint[])
ORDER BY s.collection_id;
