-- Shared rate limiter (internal/ratelimit): one token bucket per upstream
-- source and API key, kept here so every replica draws from the same budget,
-- plus the in-flight slots that bound concurrency. All time arithmetic uses
-- the database clock (clock_timestamp()), so replicas with skewed clocks agree.

-- One row per bucket. key is e.g. 'opensea' or 'opensea/key-<12 hex of
-- sha256(api key)>'; the API key itself is never stored. tokens is the level
-- at refilled_at; the current level is least(burst, tokens + elapsed * rate),
-- computed by the acquire statement under the row lock. Only non-indexed
-- columns change on acquire, and fillfactor leaves room on the page, so the
-- hot updates stay HOT.
CREATE TABLE rate_limit_buckets (
    key                 text             PRIMARY KEY CHECK (key <> ''),
    source              text             NOT NULL CHECK (source <> ''),
    -- requests per second, refill speed.
    rate                double precision NOT NULL CHECK (rate > 0 AND rate < 'Infinity'),
    -- bucket capacity: the most requests that may start back to back.
    burst               double precision NOT NULL CHECK (burst >= 1 AND burst < 'Infinity'),
    -- most leases held at once (one rate_limit_slots row each); 0 = no cap.
    max_in_flight       integer          NOT NULL DEFAULT 0 CHECK (max_in_flight >= 0),
    -- fraction of burst (and of max_in_flight) that bulk requests leave for
    -- live and priority ones.
    bulk_reserve        double precision NOT NULL DEFAULT 0 CHECK (bulk_reserve >= 0 AND bulk_reserve < 1),
    tokens              double precision NOT NULL CHECK (tokens >= 0),
    -- may lie in the future while the bucket is paused (no refill before it).
    refilled_at         timestamptz      NOT NULL,
    -- set from 429/599 Retry-After or X-RateLimit-Reset: nothing is granted
    -- before it.
    paused_until        timestamptz,
    -- a waiting priority request holds the bucket: live and bulk requests
    -- are refused until it is served or the hold lapses.
    priority_hold_until timestamptz,
    created_at          timestamptz      NOT NULL DEFAULT clock_timestamp(),
    updated_at          timestamptz      NOT NULL DEFAULT clock_timestamp()
) WITH (fillfactor = 50);

CREATE INDEX rate_limit_buckets_source_idx ON rate_limit_buckets (source, key);

-- The in-flight slots of a bucket with a cap: rows 0 .. max_in_flight-1. A
-- slot is held by a lease while expires_at lies in the future; release clears
-- it, and a slot whose holder crashed becomes free by itself at expires_at.
-- Acquirers lock a free slot with SKIP LOCKED; a release touches only its
-- slot row, never the bucket row, so it does not queue behind acquirers.
CREATE TABLE rate_limit_slots (
    bucket_key  text        NOT NULL REFERENCES rate_limit_buckets (key) ON DELETE CASCADE,
    slot        integer     NOT NULL CHECK (slot >= 0),
    lease_id    bigint,
    class       text        CHECK (class IN ('priority', 'live', 'bulk')),
    holder      text,
    acquired_at timestamptz,
    expires_at  timestamptz,
    PRIMARY KEY (bucket_key, slot)
) WITH (fillfactor = 50);

-- Lease identifiers, so a late release never frees a slot re-leased after
-- its lease expired.
CREATE SEQUENCE rate_limit_lease_id_seq;
