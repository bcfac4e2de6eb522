-- Bounded market history.
--
-- Floor price and volume history is change-based: a history row is one run
-- of an unchanged value, from first_seen_at (the observation that brought
-- the value) to last_seen_at (the latest observation that still saw it). An
-- observation of the same value only moves last_seen_at on; a different
-- value, or the first observation of a new UTC day, starts a new row. So no
-- row spans two UTC days, and every daily partition is complete by itself.
--
-- The raw history tables are partitioned by day on first_seen_at. The
-- maintain_history job rolls complete hours up into *_hourly (open, low,
-- high, close per hour; partitioned by week) and complete days into *_daily
-- (kept forever by default), creates partitions ahead and drops partitions
-- past their retention once they are rolled up. The current value of every
-- series is one row of *_latest (views floor_price_current, volume_current).

-- Partitions are named <parent>_p<YYYYMMDD> after their lower bound (UTC)
-- and cover one day, week (starting Monday) or month.
CREATE FUNCTION nftsync_ensure_partitions(parent regclass, unit text, from_ts timestamptz, to_ts timestamptz)
RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    lo      timestamp;
    hi      timestamp;
    step    interval;
    name    text;
    created integer := 0;
BEGIN
    IF unit NOT IN ('day', 'week', 'month') THEN
        RAISE EXCEPTION 'nftsync_ensure_partitions: unit must be day, week or month, not %', unit;
    END IF;
    step := ('1 ' || unit)::interval;
    lo := date_trunc(unit, from_ts AT TIME ZONE 'UTC');
    WHILE lo < (to_ts AT TIME ZONE 'UTC') LOOP
        hi := lo + step;
        name := parent::text || '_p' || to_char(lo, 'YYYYMMDD');
        IF to_regclass(name) IS NULL THEN
            EXECUTE format('CREATE TABLE %I PARTITION OF %s FOR VALUES FROM (%L) TO (%L)',
                name, parent, lo AT TIME ZONE 'UTC', hi AT TIME ZONE 'UTC');
            created := created + 1;
        END IF;
        lo := hi;
    END LOOP;
    RETURN created;
END
$$;

-- Drops the partitions of parent whose upper bound is at or before
-- before_ts, and returns how many it dropped.
CREATE FUNCTION nftsync_drop_partitions(parent regclass, before_ts timestamptz)
RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    part    record;
    dropped integer := 0;
BEGIN
    FOR part IN
        SELECT c.oid::regclass AS rel,
               (regexp_match(pg_get_expr(c.relpartbound, c.oid), 'TO \(''([^'']+)''\)'))[1]::timestamptz AS upper_bound
        FROM pg_inherits i
        JOIN pg_class c ON c.oid = i.inhrelid
        WHERE i.inhparent = parent
    LOOP
        IF part.upper_bound IS NOT NULL AND part.upper_bound <= before_ts THEN
            EXECUTE format('DROP TABLE %s', part.rel);
            dropped := dropped + 1;
        END IF;
    END LOOP;
    RETURN dropped;
END
$$;

-- Raw history: one row per run of an unchanged value. amount NULL means the
-- source reported no floor.
CREATE TABLE floor_price_history (
    collection_id bigint          NOT NULL REFERENCES collections (id) ON DELETE CASCADE,
    source        text            NOT NULL,
    first_seen_at timestamptz     NOT NULL,
    last_seen_at  timestamptz     NOT NULL,
    amount        numeric(78, 18) CHECK (amount >= 0),
    currency      text            NOT NULL CHECK (currency <> ''),
    decimals      smallint        NOT NULL CHECK (decimals BETWEEN 0 AND 36),
    CHECK (last_seen_at >= first_seen_at),
    PRIMARY KEY (collection_id, source, first_seen_at)
) PARTITION BY RANGE (first_seen_at);

CREATE TABLE volume_history (
    collection_id bigint          NOT NULL REFERENCES collections (id) ON DELETE CASCADE,
    source        text            NOT NULL,
    time_window   text            NOT NULL CHECK (time_window IN ('1d', '7d', '30d', 'all')),
    first_seen_at timestamptz     NOT NULL,
    last_seen_at  timestamptz     NOT NULL,
    amount        numeric(78, 18) NOT NULL CHECK (amount >= 0),
    currency      text            NOT NULL CHECK (currency <> ''),
    decimals      smallint        NOT NULL CHECK (decimals BETWEEN 0 AND 36),
    sales         bigint          CHECK (sales >= 0),
    CHECK (last_seen_at >= first_seen_at),
    PRIMARY KEY (collection_id, source, time_window, first_seen_at)
) PARTITION BY RANGE (first_seen_at);

-- The current value of every series. changed_at: since when the value is
-- unchanged; row_from: first_seen_at of the open history row (the value's
-- first observation that UTC day); last_seen_at: the latest observation
-- (the fetch time). Observations older than last_seen_at are ignored, so a
-- late commit never replaces newer data.
CREATE TABLE floor_price_latest (
    collection_id bigint          NOT NULL REFERENCES collections (id) ON DELETE CASCADE,
    source        text            NOT NULL,
    amount        numeric(78, 18) CHECK (amount >= 0),
    currency      text            NOT NULL CHECK (currency <> ''),
    decimals      smallint        NOT NULL CHECK (decimals BETWEEN 0 AND 36),
    owners        bigint          CHECK (owners >= 0),
    changed_at    timestamptz     NOT NULL,
    row_from      timestamptz     NOT NULL,
    last_seen_at  timestamptz     NOT NULL,
    source_as_of  timestamptz,
    PRIMARY KEY (collection_id, source)
);

CREATE TABLE volume_latest (
    collection_id bigint          NOT NULL REFERENCES collections (id) ON DELETE CASCADE,
    source        text            NOT NULL,
    time_window   text            NOT NULL CHECK (time_window IN ('1d', '7d', '30d', 'all')),
    amount        numeric(78, 18) NOT NULL CHECK (amount >= 0),
    currency      text            NOT NULL CHECK (currency <> ''),
    decimals      smallint        NOT NULL CHECK (decimals BETWEEN 0 AND 36),
    sales         bigint          CHECK (sales >= 0),
    owners        bigint          CHECK (owners >= 0),
    changed_at    timestamptz     NOT NULL,
    row_from      timestamptz     NOT NULL,
    last_seen_at  timestamptz     NOT NULL,
    source_as_of  timestamptz,
    PRIMARY KEY (collection_id, source, time_window)
);

-- Rollups: open, low, high and close of the value over each bucket, from
-- the history rows that overlap it (a run of a value counts for every bucket
-- it overlaps). One row per bucket and currency: a series whose currency
-- changes has two rows in the bucket of the change. low and high ignore "no
-- floor" (NULL); open and close are NULL when the series had no floor then.
CREATE TABLE floor_price_hourly (
    collection_id bigint          NOT NULL REFERENCES collections (id) ON DELETE CASCADE,
    source        text            NOT NULL,
    bucket_start  timestamptz     NOT NULL,
    currency      text            NOT NULL,
    decimals      smallint        NOT NULL,
    open          numeric(78, 18),
    low           numeric(78, 18),
    high          numeric(78, 18),
    close         numeric(78, 18),
    PRIMARY KEY (collection_id, source, bucket_start, currency)
) PARTITION BY RANGE (bucket_start);

CREATE TABLE floor_price_daily (
    collection_id bigint          NOT NULL REFERENCES collections (id) ON DELETE CASCADE,
    source        text            NOT NULL,
    bucket_start  timestamptz     NOT NULL,
    currency      text            NOT NULL,
    decimals      smallint        NOT NULL,
    open          numeric(78, 18),
    low           numeric(78, 18),
    high          numeric(78, 18),
    close         numeric(78, 18),
    PRIMARY KEY (collection_id, source, bucket_start, currency)
);

-- sales is the closing row's sales count.
CREATE TABLE volume_hourly (
    collection_id bigint          NOT NULL REFERENCES collections (id) ON DELETE CASCADE,
    source        text            NOT NULL,
    time_window   text            NOT NULL,
    bucket_start  timestamptz     NOT NULL,
    currency      text            NOT NULL,
    decimals      smallint        NOT NULL,
    open          numeric(78, 18) NOT NULL,
    low           numeric(78, 18) NOT NULL,
    high          numeric(78, 18) NOT NULL,
    close         numeric(78, 18) NOT NULL,
    sales         bigint,
    PRIMARY KEY (collection_id, source, time_window, bucket_start, currency)
) PARTITION BY RANGE (bucket_start);

CREATE TABLE volume_daily (
    collection_id bigint          NOT NULL REFERENCES collections (id) ON DELETE CASCADE,
    source        text            NOT NULL,
    time_window   text            NOT NULL,
    bucket_start  timestamptz     NOT NULL,
    currency      text            NOT NULL,
    decimals      smallint        NOT NULL,
    open          numeric(78, 18) NOT NULL,
    low           numeric(78, 18) NOT NULL,
    high          numeric(78, 18) NOT NULL,
    close         numeric(78, 18) NOT NULL,
    sales         bigint,
    PRIMARY KEY (collection_id, source, time_window, bucket_start, currency)
);
CREATE INDEX floor_price_daily_bucket_idx ON floor_price_daily (bucket_start);
CREATE INDEX volume_daily_bucket_idx ON volume_daily (bucket_start);

-- Rollup progress per target table: every bucket before done_until is
-- rolled up; within the bucket at done_until, collections with an id up to
-- after_collection are.
CREATE TABLE history_rollup_state (
    target           text        PRIMARY KEY CHECK (target IN ('floor_price_hourly', 'volume_hourly', 'floor_price_daily', 'volume_daily')),
    done_until       timestamptz NOT NULL,
    after_collection bigint      NOT NULL DEFAULT 0
);

-- Single flight of the stats call: one row per collection and source. A
-- floor or volume job takes the lease before it calls upstream; a job of
-- the other kind finding the lease taken waits, then uses the stored
-- response when it was fetched in its round.
CREATE TABLE stats_fetches (
    collection_id bigint      NOT NULL REFERENCES collections (id) ON DELETE CASCADE,
    source        text        NOT NULL,
    fetched_at    timestamptz,
    response      jsonb,
    lease_job     bigint,
    lease_until   timestamptz,
    PRIMARY KEY (collection_id, source)
);

-- Partitions around now; the maintain_history job keeps creating them ahead.
SELECT nftsync_ensure_partitions('floor_price_history', 'day', now() - interval '1 day', now() + interval '4 days');
SELECT nftsync_ensure_partitions('volume_history', 'day', now() - interval '1 day', now() + interval '4 days');
SELECT nftsync_ensure_partitions('floor_price_hourly', 'week', now() - interval '1 week', now() + interval '2 weeks');
SELECT nftsync_ensure_partitions('volume_hourly', 'week', now() - interval '1 week', now() + interval '2 weeks');

-- Carry the old per-tick snapshots over, compressed into runs of unchanged
-- values split at UTC days. Volume rows without a currency (an old defect)
-- are not carried over.
SELECT nftsync_ensure_partitions('floor_price_history', 'day', min(fetched_at), max(fetched_at) + interval '1 second')
FROM floor_price_snapshots HAVING count(*) > 0;
SELECT nftsync_ensure_partitions('volume_history', 'day', min(fetched_at), max(fetched_at) + interval '1 second')
FROM volume_snapshots HAVING count(*) > 0;

INSERT INTO floor_price_history (collection_id, source, first_seen_at, last_seen_at, amount, currency, decimals)
SELECT collection_id, source, min(fetched_at), max(fetched_at), amount, currency, decimals
FROM (
    SELECT *, sum(starts) OVER (PARTITION BY collection_id, source ORDER BY fetched_at) AS run
    FROM (
        SELECT s.*, CASE WHEN (amount, currency, decimals) IS NOT DISTINCT FROM
                              (lag(amount) OVER w, lag(currency) OVER w, lag(decimals) OVER w)
                          AND date_trunc('day', fetched_at AT TIME ZONE 'UTC') = date_trunc('day', lag(fetched_at) OVER w AT TIME ZONE 'UTC')
                         THEN 0 ELSE 1 END AS starts
        FROM floor_price_snapshots s
        WHERE currency <> ''
        WINDOW w AS (PARTITION BY collection_id, source ORDER BY fetched_at)
    ) marked
) runs
GROUP BY collection_id, source, run, amount, currency, decimals;

INSERT INTO volume_history (collection_id, source, time_window, first_seen_at, last_seen_at, amount, currency, decimals, sales)
SELECT collection_id, source, time_window, min(fetched_at), max(fetched_at), amount, currency, decimals, sales
FROM (
    SELECT *, sum(starts) OVER (PARTITION BY collection_id, source, time_window ORDER BY fetched_at) AS run
    FROM (
        SELECT s.*, CASE WHEN (amount, currency, decimals, sales) IS NOT DISTINCT FROM
                              (lag(amount) OVER w, lag(currency) OVER w, lag(decimals) OVER w, lag(sales) OVER w)
                          AND date_trunc('day', fetched_at AT TIME ZONE 'UTC') = date_trunc('day', lag(fetched_at) OVER w AT TIME ZONE 'UTC')
                         THEN 0 ELSE 1 END AS starts
        FROM volume_snapshots s
        WHERE currency <> ''
        WINDOW w AS (PARTITION BY collection_id, source, time_window ORDER BY fetched_at)
    ) marked
) runs
GROUP BY collection_id, source, time_window, run, amount, currency, decimals, sales;

INSERT INTO floor_price_latest (collection_id, source, amount, currency, decimals, owners, changed_at, row_from, last_seen_at, source_as_of)
SELECT DISTINCT ON (s.collection_id, s.source) s.collection_id, s.source, s.amount, s.currency, s.decimals, s.owners,
       h.first_seen_at, h.first_seen_at, s.fetched_at, s.source_as_of
FROM floor_price_snapshots s
JOIN floor_price_history h ON h.collection_id = s.collection_id AND h.source = s.source AND h.last_seen_at = s.fetched_at
ORDER BY s.collection_id, s.source, s.fetched_at DESC;

INSERT INTO volume_latest (collection_id, source, time_window, amount, currency, decimals, sales, owners, changed_at, row_from, last_seen_at, source_as_of)
SELECT DISTINCT ON (s.collection_id, s.source, s.time_window) s.collection_id, s.source, s.time_window, s.amount, s.currency,
       s.decimals, s.sales, s.owners, h.first_seen_at, h.first_seen_at, s.fetched_at, s.source_as_of
FROM volume_snapshots s
JOIN volume_history h ON h.collection_id = s.collection_id AND h.source = s.source AND h.time_window = s.time_window
                     AND h.last_seen_at = s.fetched_at
ORDER BY s.collection_id, s.source, s.time_window, s.fetched_at DESC;

DROP VIEW floor_price_current;
DROP VIEW volume_current;
DROP TABLE floor_price_snapshots;
DROP TABLE volume_snapshots;

-- The current value per collection and source (and window), as before;
-- fetched_at is the latest observation.
CREATE VIEW floor_price_current AS
SELECT collection_id, source, amount, currency, decimals, owners, last_seen_at AS fetched_at, source_as_of, changed_at
FROM floor_price_latest;

CREATE VIEW volume_current AS
SELECT collection_id, source, time_window, amount, currency, decimals, sales, owners, last_seen_at AS fetched_at, source_as_of, changed_at
FROM volume_latest;
