-- name: RateLimitBucketUpsert :execrows
-- Creates a bucket full (tokens = burst) or changes an existing one's
-- configuration. A change first refills at the old rate up to now and then
-- clamps the level to the new burst; held slots and a pause are kept.
-- An adaptive bucket (@adaptive) that already adopted a budget from its
-- key's headers keeps it, under the new caps (@rate_cap, @burst_cap; NULL
-- means none); one that has not yet runs at @rate and @burst (the caller's
-- conservative start). Returns 0 rows when the configuration is unchanged
-- (nothing written).
-- Like every rate-limit statement it runs on its own (autocommit) and reads
-- time from clock_timestamp(), the database clock, so all replicas agree on
-- refills, pauses and lease expiry.
INSERT INTO rate_limit_buckets AS k (key, source, rate, burst, max_in_flight, bulk_reserve, tokens, refilled_at,
                                     adaptive, rate_cap, burst_cap)
VALUES (@key::text, @source::text, @rate::float8, @burst::float8, @max_in_flight::integer, @bulk_reserve::float8,
        @burst::float8, clock_timestamp(), @adaptive::boolean, sqlc.narg('rate_cap')::float8, sqlc.narg('burst_cap')::float8)
ON CONFLICT (key) DO UPDATE SET
    source        = EXCLUDED.source,
    rate          = CASE WHEN EXCLUDED.adaptive AND k.paced_rate IS NOT NULL
                         THEN least(coalesce(EXCLUDED.rate_cap, 'Infinity'), k.paced_rate)
                         ELSE EXCLUDED.rate END,
    burst         = CASE WHEN EXCLUDED.adaptive AND k.paced_burst IS NOT NULL
                         THEN least(coalesce(EXCLUDED.burst_cap, 'Infinity'), k.paced_burst)
                         ELSE EXCLUDED.burst END,
    max_in_flight = EXCLUDED.max_in_flight,
    bulk_reserve  = EXCLUDED.bulk_reserve,
    adaptive      = EXCLUDED.adaptive,
    rate_cap      = EXCLUDED.rate_cap,
    burst_cap     = EXCLUDED.burst_cap,
    tokens        = least(CASE WHEN EXCLUDED.adaptive AND k.paced_burst IS NOT NULL
                               THEN least(coalesce(EXCLUDED.burst_cap, 'Infinity'), k.paced_burst)
                               ELSE EXCLUDED.burst END,
                          k.burst,
                          k.tokens + greatest(0, extract(epoch FROM clock_timestamp() - k.refilled_at)::float8) * k.rate),
    refilled_at   = greatest(k.refilled_at, clock_timestamp()),
    updated_at    = clock_timestamp()
WHERE (k.source, k.max_in_flight, k.bulk_reserve, k.adaptive, k.rate_cap, k.burst_cap)
      IS DISTINCT FROM (EXCLUDED.source, EXCLUDED.max_in_flight, EXCLUDED.bulk_reserve, EXCLUDED.adaptive,
                        EXCLUDED.rate_cap, EXCLUDED.burst_cap)
   OR (NOT EXCLUDED.adaptive AND (k.rate, k.burst) IS DISTINCT FROM (EXCLUDED.rate, EXCLUDED.burst))
   OR (EXCLUDED.adaptive AND k.paced_rate IS NULL AND (k.rate, k.burst) IS DISTINCT FROM (EXCLUDED.rate, EXCLUDED.burst));

-- name: RateLimitAdopt :one
-- Adopts the budget an adaptive bucket's key reported: @limit requests per
-- window, where @window_seconds is the time to the reset this answer gave.
-- The window is the longest such time seen for the same limit (an answer in
-- the middle of a window sees less than the whole; a changed limit starts
-- over). From it:
--   burst = 2 .. limit/20, at most 2 s of the rate and limit-1 (at least 1)
--   rate  = (limit - burst) / window (at least limit/2 per window)
-- so burst + rate × window <= limit: no stretch of one window's length,
-- aligned with the key's windows or not, gets more than the key allows, and
-- requests are spread evenly instead of spent at the start of the window.
-- The bucket's rate and burst are these under the caps; its level is
-- refilled at the old rate and clamped to the new burst. Returns no row when
-- the bucket is not adaptive or nothing changed.
WITH p AS (
    SELECT @reported_limit::bigint AS lim, @window_seconds::float8 AS win_seen, @key::text AS key
), cur AS (
    SELECT k.key, p.lim,
           CASE WHEN k.reported_limit = p.lim THEN greatest(k.reported_window, p.win_seen) ELSE p.win_seen END AS win
    FROM rate_limit_buckets k, p
    WHERE k.key = p.key AND k.adaptive
    FOR NO KEY UPDATE OF k
), pb AS (
    SELECT cur.key, cur.lim, cur.win,
           greatest(1, least(cur.lim - 1, greatest(2, least(ceil(cur.lim / 20.0), ceil(2 * cur.lim / cur.win)))))::float8 AS burst
    FROM cur
), np AS (
    SELECT pb.key, pb.lim, pb.win, pb.burst,
           (greatest(pb.lim - pb.burst, 0.5 * pb.lim) / pb.win)::float8 AS rate,
           clock_timestamp() AS now
    FROM pb
)
UPDATE rate_limit_buckets k
SET rate            = least(coalesce(k.rate_cap, 'Infinity'), np.rate),
    burst           = least(coalesce(k.burst_cap, 'Infinity'), np.burst),
    tokens          = least(coalesce(k.burst_cap, 'Infinity'), np.burst,
                            k.tokens + greatest(0, extract(epoch FROM np.now - k.refilled_at)::float8) * k.rate),
    refilled_at     = greatest(k.refilled_at, np.now),
    reported_limit  = np.lim,
    reported_window = np.win,
    reported_at     = np.now,
    paced_rate      = np.rate,
    paced_burst     = np.burst,
    updated_at      = np.now
FROM np
WHERE k.key = np.key
  AND (k.reported_limit, k.reported_window) IS DISTINCT FROM (np.lim, np.win)
RETURNING k.rate, k.burst, k.reported_window::float8 AS reported_window;

-- name: RateLimitSlotsSync :exec
-- Makes the bucket's slot rows exactly 0 .. max_in_flight-1: creates missing
-- ones (free) and drops those at or beyond a lowered cap, even held ones.
-- Their leases' releases then do nothing, and the requests in flight over
-- the new cap finish normally.
WITH dropped AS (
    DELETE FROM rate_limit_slots sl
    USING rate_limit_buckets k
    WHERE k.key = @bucket_key::text AND sl.bucket_key = k.key AND sl.slot >= k.max_in_flight
)
INSERT INTO rate_limit_slots (bucket_key, slot)
SELECT k.key, g.n
FROM rate_limit_buckets k
CROSS JOIN LATERAL generate_series(0, k.max_in_flight - 1) AS g (n)
WHERE k.key = @bucket_key::text
ON CONFLICT (bucket_key, slot) DO NOTHING;

-- name: RateLimitAcquire :one
-- One attempt to take a token and an in-flight slot from one of a source's
-- buckets (restricted to @keys unless empty), in one statement:
--   b    locks the candidate bucket rows in key order (acquirers never
--        deadlock) and reads their latest committed version;
--   t    refills in SQL (least(burst, tokens + elapsed * rate)) and applies
--        the class rules (bulk needs 1 + bulk_reserve * burst tokens, capped
--        at burst, and so does spare; a priority hold refuses live, bulk
--        and spare; spare is also refused while demand_until lies ahead:
--        a live or bulk request refused lately said it would be back for a
--        token by then);
--   s    for buckets with a cap and a token for @class, locks one free slot
--        each (SKIP LOCKED; a slot is free when never taken, released, or
--        expired): live and priority requests take the highest free slot,
--        bulk and spare ones the lowest below max_in_flight -
--        ceil(bulk_reserve * max_in_flight), so they never hold the
--        reserved slots;
--   w    says how long until each bucket could serve @class (pause,
--        priority hold, missing tokens; a missing slot has no computable
--        wait and is reported in slots_full);
--   pick the eligible bucket with the most tokens;
--   granted, taken take the token and the slot (a grant to a priority
--        request ends the bucket's priority hold);
--   hold when a priority request gets nothing but could be served within
--        @hold_max_seconds, it holds the bucket it will get first until that
--        time plus @hold_slack_seconds;
--   want when a live or bulk request gets nothing, the demand_until of the
--        bucket it will get first moves to its wait plus
--        @spare_slack_seconds (spare requests take only tokens nobody is
--        coming back for).
-- The statement commits asynchronously (synchronous_commit off for this
-- transaction only): the row lock is not held across a WAL flush, and a
-- database crash can at most forget the last fraction of a second of grants,
-- which the buckets absorb.
-- The result is always one row; buckets = 0 means no bucket matched.
-- wait_seconds is the shortest wait over buckets with a free slot, -1 when
-- no bucket has one.
WITH b AS (
    SELECT k.key, k.rate, k.burst, k.max_in_flight, k.bulk_reserve, k.tokens, k.refilled_at,
           k.paused_until, k.priority_hold_until, k.demand_until, clock_timestamp() AS now
    FROM rate_limit_buckets k
    WHERE k.source = @source::text
      AND (cardinality(@keys::text[]) = 0 OR k.key = ANY (@keys::text[]))
      AND set_config('synchronous_commit', 'off', true) = 'off'
    ORDER BY k.key
    FOR NO KEY UPDATE
), t AS (
    SELECT b.*,
           least(b.burst, b.tokens + greatest(0, extract(epoch FROM b.now - b.refilled_at)::float8) * b.rate) AS avail,
           (CASE WHEN @class::text IN ('bulk', 'spare') THEN least(b.burst, 1 + b.bulk_reserve * b.burst) ELSE 1 END)::float8 AS need,
           coalesce(b.paused_until > b.now, false) AS paused,
           coalesce(@class::text <> 'priority' AND b.priority_hold_until > b.now, false) AS held,
           coalesce(@class::text = 'spare' AND b.demand_until > b.now, false) AS wanted
    FROM b
), s AS (
    SELECT t.*,
           (NOT t.paused AND NOT t.held AND NOT t.wanted AND t.avail >= t.need) AS token_ok,
           coalesce(fl.slot, fb.slot) AS slot
    FROM t
    -- A slot is looked for only where a token is available. Two
    -- single-purpose lookups instead of one with a computed ORDER BY, so each
    -- walks the primary key and stops at the first free slot; the other
    -- class's lookup is skipped by a one-time filter.
    LEFT JOIN LATERAL (
        SELECT sl.slot
        FROM rate_limit_slots sl
        WHERE @class::text NOT IN ('bulk', 'spare') AND t.max_in_flight > 0
          AND NOT t.paused AND NOT t.held AND NOT t.wanted AND t.avail >= t.need
          AND sl.bucket_key = t.key
          AND (sl.expires_at IS NULL OR sl.expires_at <= t.now)
        ORDER BY sl.slot DESC
        LIMIT 1
        FOR UPDATE SKIP LOCKED
    ) fl ON true
    LEFT JOIN LATERAL (
        SELECT sl.slot
        FROM rate_limit_slots sl
        WHERE @class::text IN ('bulk', 'spare') AND t.max_in_flight > 0
          AND NOT t.paused AND NOT t.held AND NOT t.wanted AND t.avail >= t.need
          AND sl.bucket_key = t.key
          AND sl.slot < greatest(1, t.max_in_flight - ceil(t.bulk_reserve * t.max_in_flight)::integer)
          AND (sl.expires_at IS NULL OR sl.expires_at <= t.now)
        ORDER BY sl.slot
        LIMIT 1
        FOR UPDATE SKIP LOCKED
    ) fb ON true
), w AS (
    SELECT s.*,
           -- false only when a token is there but no slot; a bucket short of
           -- tokens is judged by its token wait and checked for slots later.
           (s.max_in_flight = 0 OR s.slot IS NOT NULL OR NOT s.token_ok) AS has_slot,
           greatest(
               greatest(0, extract(epoch FROM s.refilled_at - s.now)::float8) + greatest(0, s.need - s.avail) / s.rate,
               CASE WHEN s.paused THEN extract(epoch FROM s.paused_until - s.now)::float8 ELSE 0 END,
               CASE WHEN s.held THEN extract(epoch FROM s.priority_hold_until - s.now)::float8 ELSE 0 END,
               CASE WHEN s.wanted THEN extract(epoch FROM s.demand_until - s.now)::float8 ELSE 0 END
           )::float8 AS wait
    FROM s
), pick AS (
    SELECT w.key, w.slot, w.avail, w.now
    FROM w
    WHERE w.token_ok AND (w.max_in_flight = 0 OR w.slot IS NOT NULL)
    ORDER BY w.avail DESC, w.key
    LIMIT 1
), granted AS (
    UPDATE rate_limit_buckets u
    SET tokens              = greatest(0, p.avail - 1),
        refilled_at         = greatest(u.refilled_at, p.now),
        priority_hold_until = CASE WHEN @class::text = 'priority' THEN NULL ELSE u.priority_hold_until END,
        updated_at          = p.now
    FROM pick p
    WHERE u.key = p.key
    RETURNING u.key, u.tokens, p.now AS granted_at
), taken AS (
    UPDATE rate_limit_slots sl
    SET lease_id    = nextval('rate_limit_lease_id_seq'),
        class       = @class::text,
        holder      = @holder::text,
        acquired_at = p.now,
        expires_at  = p.now + make_interval(secs => @ttl_seconds::float8)
    FROM pick p
    WHERE sl.bucket_key = p.key AND sl.slot = p.slot
    RETURNING sl.slot, sl.lease_id
), hold AS (
    SELECT w.key, w.now, w.wait
    FROM w
    WHERE @class::text = 'priority' AND NOT EXISTS (SELECT 1 FROM pick) AND w.wait <= @hold_max_seconds::float8
    ORDER BY w.wait, w.key
    LIMIT 1
), hold_set AS ( -- runs although nothing reads it, like every data-modifying CTE
    UPDATE rate_limit_buckets u
    SET priority_hold_until = greatest(u.priority_hold_until,
                                       h.now + make_interval(secs => h.wait + @hold_slack_seconds::float8)),
        updated_at          = h.now
    FROM hold h
    WHERE u.key = h.key
    RETURNING u.key
), want AS (
    -- A live or bulk request that got nothing will be back for a token
    -- after its wait (a waiter wakes then; a job that gave up snoozes that
    -- long), from the bucket it can get one from first: spare requests
    -- keep off that bucket until then, plus @spare_slack_seconds for the
    -- wake-up and the round trip.
    SELECT w.key, w.now, w.wait
    FROM w
    WHERE @class::text IN ('live', 'bulk') AND NOT EXISTS (SELECT 1 FROM pick) AND w.has_slot
    ORDER BY w.wait, w.key
    LIMIT 1
), want_set AS ( -- likewise
    UPDATE rate_limit_buckets u
    SET demand_until = h.until
    FROM (SELECT want.key, want.now + make_interval(secs => want.wait + @spare_slack_seconds::float8) AS until FROM want) h
    -- A bucket already wanted as long writes nothing (most refusals: the
    -- waiters of a drained bucket).
    WHERE u.key = h.key AND (u.demand_until IS NULL OR u.demand_until < h.until)
    RETURNING u.key
)
SELECT
    (SELECT count(*) FROM w)::integer                                             AS buckets,
    coalesce((SELECT g.key FROM granted g), '')::text                             AS bucket_key,
    coalesce((SELECT t.slot FROM taken t), -1)::integer                           AS slot,
    coalesce((SELECT t.lease_id FROM taken t), 0)::bigint                         AS lease_id,
    coalesce((SELECT g.granted_at FROM granted g), clock_timestamp())::timestamptz AS granted_at,
    coalesce((SELECT g.tokens FROM granted g), 0)::float8                         AS tokens_left,
    coalesce((SELECT min(w.wait) FROM w WHERE w.has_slot), -1)::float8            AS wait_seconds,
    coalesce((SELECT CASE WHEN w.paused THEN 'paused' WHEN w.held THEN 'priority_hold' WHEN w.wanted THEN 'wanted' ELSE 'tokens' END
              FROM w WHERE w.has_slot ORDER BY w.wait, w.key LIMIT 1), 'in_flight')::text AS wait_reason,
    coalesce((SELECT bool_or(NOT w.has_slot) FROM w), false)::boolean             AS slots_full;

-- name: RateLimitRelease :execrows
-- Frees a lease's slot. Matching the lease id makes a double release, or a
-- release after the lease expired and the slot went to someone else, change
-- nothing (0 rows). Touches only the slot row. Commits asynchronously like
-- RateLimitAcquire (a lost release is a slot that frees itself at expiry).
UPDATE rate_limit_slots
SET lease_id = NULL, class = NULL, holder = NULL, acquired_at = NULL, expires_at = NULL
WHERE bucket_key = @bucket_key::text AND slot = @slot::integer AND lease_id = @lease_id::bigint
  AND set_config('synchronous_commit', 'off', true) = 'off';

-- name: RateLimitPause :one
-- Pauses a bucket for @seconds from now on the database clock: nothing is
-- granted before then, and the bucket restarts empty and refills from then
-- on, so the budget resumes at the configured rate instead of a burst. A
-- pause only ever extends an existing one.
UPDATE rate_limit_buckets k
SET paused_until = greatest(k.paused_until, p.until),
    tokens       = 0,
    refilled_at  = greatest(k.refilled_at, p.until),
    updated_at   = p.now
FROM (SELECT clock_timestamp() AS now, clock_timestamp() + make_interval(secs => @seconds::float8) AS until) AS p
WHERE k.key = @key::text
RETURNING k.paused_until::timestamptz AS paused_until;

-- name: RateLimitBucketList :many
-- Buckets of a source with their current (refilled) token level and slot
-- use, for operators and tests. in_flight counts held, unexpired slots;
-- expired counts slots whose holder never released them (freed already).
SELECT k.key, k.source, k.rate, k.burst, k.max_in_flight, k.bulk_reserve,
       k.adaptive, k.rate_cap, k.burst_cap, k.reported_limit, k.reported_window, k.reported_at,
       least(k.burst, k.tokens + greatest(0, extract(epoch FROM clock_timestamp() - k.refilled_at)::float8) * k.rate)::float8 AS tokens,
       k.paused_until, k.priority_hold_until,
       (SELECT count(*) FROM rate_limit_slots sl
        WHERE sl.bucket_key = k.key AND sl.expires_at > clock_timestamp())::integer AS in_flight,
       (SELECT count(*) FROM rate_limit_slots sl
        WHERE sl.bucket_key = k.key AND sl.expires_at <= clock_timestamp())::integer AS expired,
       (SELECT count(*) FROM rate_limit_slots sl WHERE sl.bucket_key = k.key)::integer AS slots
FROM rate_limit_buckets k
WHERE k.source = @source::text
ORDER BY k.key;

-- name: RateLimitRejectKey :one
-- Takes a key upstream rejected (401/403) out of the pool for @seconds from
-- now (database clock): its bucket is paused at least that long and restarts
-- empty, and key_rejected_until records why. first is true when the key was
-- usable until now, i.e. this call started the pause (callers log it once).
UPDATE rate_limit_buckets k
SET paused_until       = greatest(k.paused_until, p.until),
    key_rejected_until = greatest(k.key_rejected_until, p.until),
    tokens             = 0,
    refilled_at        = greatest(k.refilled_at, p.until),
    updated_at         = p.now
FROM (SELECT clock_timestamp() AS now, clock_timestamp() + make_interval(secs => @seconds::float8) AS until) AS p,
     (SELECT key_rejected_until AS before FROM rate_limit_buckets WHERE key = @key::text FOR UPDATE) AS prev
WHERE k.key = @key::text
RETURNING k.key_rejected_until::timestamptz AS until,
          (prev.before IS NULL OR prev.before <= p.now)::boolean AS first;

-- name: RateLimitKeyHealth :one
-- How many keys a source has, how many upstream rejected (still out of the
-- pool), and in how many seconds the first rejected key comes back (0 when
-- none is rejected).
SELECT count(*)::integer AS keys,
       count(*) FILTER (WHERE key_rejected_until > clock_timestamp())::integer AS rejected,
       coalesce(extract(epoch FROM min(key_rejected_until) FILTER (WHERE key_rejected_until > clock_timestamp()) - clock_timestamp()), 0)::float8 AS back_in_seconds
FROM rate_limit_buckets
WHERE source = @source::text;
