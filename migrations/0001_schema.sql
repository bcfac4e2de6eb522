-- nftsync's schema: every table, view and index of a new installation.
--
-- The runner (migrations.go) applies this file once, as version 1, after
-- River's own migrations and after functions.sql (the SQL functions, which
-- this file's partition setup calls); the lookup rows of refresh kinds and
-- sources come from catalog.sql, generated from jobs/catalog.go. Until the
-- first release this file is edited in place. A change after a release goes
-- in a new numbered file (0002_<what>.sql) that upgrades a database this
-- file created; see CONTRIBUTING.md. db/schema.sql is the resulting schema
-- as pg_dump prints it, generated for readers.
--
-- Every write path is an idempotent upsert on a natural key.

-- Lookup tables of the catalogue (jobs/catalog.go). Their rows are written
-- by catalog.sql on every change of the catalogue; other tables refer to
-- them by foreign key instead of listing the names in CHECK constraints.

-- refresh_kinds: what a collection can have refreshed on a schedule
-- (collection_schedules), routed to sources (collection_routes) and asked
-- for by nftsync_enqueue_refresh. position is the planning order.
CREATE TABLE refresh_kinds (
    refresh_kind             text     PRIMARY KEY CHECK (refresh_kind ~ '^[a-z][a-z_]*$'),
    position                 smallint NOT NULL,
    default_interval_seconds integer  NOT NULL CHECK (default_interval_seconds > 0),
    -- The freshness goal: the age the last successful refresh may reach
    -- (overridable per collection in collection_schedules).
    target_age_seconds       integer  NOT NULL CHECK (target_age_seconds > 0),
    meaning                  text     NOT NULL DEFAULT ''
);

-- refresh_kind_jobs: the job that asks a source for a refresh kind. The
-- collection's own source (own_source) has one job per refresh kind;
-- another routed source (a marketplace subgraph) is asked by the job of the
-- row with own_source false, when there is one. unique_by_source: the
-- source takes part in the job's uniqueness (one job per routed source).
-- These rows are the Go types' own (jobs/jobargs: Kind, InsertOpts); the
-- planner refuses a row its types disagree with.
CREATE TABLE refresh_kind_jobs (
    refresh_kind     text     NOT NULL REFERENCES refresh_kinds (refresh_kind),
    own_source       boolean  NOT NULL,
    job_kind         text     NOT NULL,
    job_queue        text     NOT NULL,
    max_attempts     smallint NOT NULL CHECK (max_attempts > 0),
    unique_by_source boolean  NOT NULL,
    PRIMARY KEY (refresh_kind, own_source)
);

-- sources: the kinds of upstream nftsync reads. A configured source is
-- named after its kind ('opensea', 'token_uri') or, for marketplace
-- subgraphs, 'subgraph:<marketplace>'.
CREATE TABLE sources (
    source         text PRIMARY KEY,
    client_package text NOT NULL,
    meaning        text NOT NULL DEFAULT ''
);

-- The refresh kinds each source can serve.
CREATE TABLE source_refresh_kinds (
    source       text NOT NULL REFERENCES sources (source),
    refresh_kind text NOT NULL REFERENCES refresh_kinds (refresh_kind),
    PRIMARY KEY (source, refresh_kind)
);

-- Core: tracked collections, their per-refresh-kind schedule, metadata,
-- tokens with traits, rarity results and data-quality events.


CREATE TABLE collections (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    source        text        NOT NULL,
    slug          text        NOT NULL CHECK (slug <> ''),
    chain         text        NOT NULL DEFAULT 'ethereum',
    -- 1 (highest) .. 4, as River priorities.
    priority      smallint    NOT NULL DEFAULT 2 CHECK (priority BETWEEN 1 AND 4),
    -- active: scheduled; paused: by an operator; failed: a permanent upstream
    -- error (unknown slug, rejected key) stopped scheduling until fixed.
    status        text        NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'paused', 'failed')),
    status_reason text        NOT NULL DEFAULT '',
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    -- Where the collection's per-token traits come from: OpenSea's
    -- single-NFT endpoint or the token's metadata_url.
    traits_source text        NOT NULL DEFAULT 'opensea' CHECK (traits_source IN ('opensea', 'token_uri')),
    UNIQUE (source, slug)
);
-- collection(slug:) and tokens(collection:) look a collection up by slug
-- whatever its source (the lowest id first).
CREATE INDEX collections_slug_idx ON collections (slug, id);

CREATE TABLE collection_contracts (
    collection_id bigint NOT NULL REFERENCES collections (id) ON DELETE CASCADE,
    chain         text   NOT NULL,
    address       text   NOT NULL CHECK (address = lower(address)),
    PRIMARY KEY (collection_id, chain, address)
);

-- One row per (collection, refresh kind): how often to refresh it and when
-- it is next due. The planner claims due rows with FOR UPDATE SKIP LOCKED.
CREATE TABLE collection_schedules (
    collection_id    bigint      NOT NULL REFERENCES collections (id) ON DELETE CASCADE,
    kind             text        NOT NULL REFERENCES refresh_kinds (refresh_kind),
    interval_seconds integer     NOT NULL CHECK (interval_seconds > 0),
    next_due_at      timestamptz NOT NULL DEFAULT now(),
    last_planned_at  timestamptz,
    last_success_at  timestamptz,
    -- The freshness target of this pair; NULL: the refresh kind's
    -- (refresh_kinds.target_age_seconds).
    target_age_seconds integer   CHECK (target_age_seconds > 0),
    PRIMARY KEY (collection_id, kind)
);
CREATE INDEX collection_schedules_due_idx ON collection_schedules (next_due_at);

CREATE TABLE collection_metadata (
    collection_id     bigint      PRIMARY KEY REFERENCES collections (id) ON DELETE CASCADE,
    source            text        NOT NULL,
    name              text        NOT NULL,
    description       text        NOT NULL DEFAULT '',
    image_url         text        NOT NULL DEFAULT '',
    banner_image_url  text        NOT NULL DEFAULT '',
    external_url      text        NOT NULL DEFAULT '',
    category          text        NOT NULL DEFAULT '',
    safelist_status   text        NOT NULL DEFAULT '',
    total_supply      bigint,
    unique_item_count bigint,
    currency          text        NOT NULL DEFAULT '',
    currency_decimals smallint,
    created_date      text        NOT NULL DEFAULT '',
    raw               jsonb       NOT NULL,
    fetched_at        timestamptz NOT NULL,
    -- The source's own as-of time of the answer (a subgraph's head block).
    source_as_of      timestamptz
);

CREATE TABLE tokens (
    -- Surrogate key for compact references (token_rarity); the natural key
    -- is the primary key below.
    id                bigint      NOT NULL GENERATED ALWAYS AS IDENTITY UNIQUE,
    collection_id     bigint      NOT NULL REFERENCES collections (id) ON DELETE CASCADE,
    contract          text        NOT NULL,
    token_id          text        NOT NULL CHECK (token_id ~ '^[0-9]+$'),
    token_standard    text        NOT NULL DEFAULT '',
    name              text        NOT NULL DEFAULT '',
    image_url         text        NOT NULL DEFAULT '',
    metadata_url      text        NOT NULL DEFAULT '',
    -- false when the source returned no traits field or null (unknown),
    -- true when it returned a list (possibly empty).
    traits_known      boolean     NOT NULL,
    source_updated_at timestamptz,
    fetched_at        timestamptz NOT NULL,
    -- The token sync run that last saw this token; tokens not seen by a
    -- completed run are gone upstream and are deleted.
    sync_run          bigint      NOT NULL,
    raw               jsonb       NOT NULL,
    -- traits_checked_at: when the token's traits were last fetched (or read
    -- from a list answer that carried them); NULL = never. traits_as_of: the
    -- listed updated_at the stored traits belong to; a token is due for a
    -- fetch when it was never checked or its listed updated_at moved.
    -- traits_error: why the last fetch failed for this token ('' when it did
    -- not).
    traits_checked_at timestamptz,
    traits_as_of      timestamptz,
    traits_error      text        NOT NULL DEFAULT '',
    -- Which source produced the stored traits: the per-token source that
    -- fetched them ('opensea': the single-NFT endpoint, 'token_uri': the
    -- token's metadata_url), or '<source>:list' when the list answer carried
    -- them ('opensea:list'); '' = no traits stored yet.
    traits_source     text        NOT NULL DEFAULT '',
    -- The source answered and said nothing about the token's traits
    -- ("traits": null, or a metadata document without attributes:
    -- unrevealed tokens, broken metadata). Such a token is "unknown": left
    -- out of rarity and unranked, fetched again when its listed updated_at
    -- moves. The four trait states: pending (traits_checked_at IS NULL or
    -- traits_as_of <> source_updated_at), known (traits_known), unknown
    -- (traits_unknown), failed (traits_error <> '').
    traits_unknown    boolean     NOT NULL DEFAULT false,
    CONSTRAINT tokens_traits_known_or_unknown CHECK (NOT (traits_known AND traits_unknown)),
    PRIMARY KEY (collection_id, contract, token_id)
);
CREATE INDEX tokens_traits_due_idx ON tokens (collection_id, id)
    WHERE traits_checked_at IS NULL OR traits_as_of IS DISTINCT FROM source_updated_at;
-- token(collection, tokenId) and tokens(orderBy: TOKEN_ID): numeric order of
-- the uint256 token id, with the surrogate key as tie breaker.
CREATE INDEX tokens_collection_token_id_idx ON tokens (collection_id, token_id);
CREATE INDEX tokens_collection_numeric_id_idx ON tokens (collection_id, (token_id::numeric), id);

-- One row per trait occurrence; ordinal keeps duplicate trait names of one
-- token apart.
CREATE TABLE token_traits (
    collection_id bigint   NOT NULL,
    contract      text     NOT NULL,
    token_id      text     NOT NULL,
    ordinal       smallint NOT NULL,
    trait_type    text     NOT NULL,
    value_text    text     NOT NULL,
    -- JSON type the source sent the value as: string, number or boolean.
    value_kind    text     NOT NULL DEFAULT 'string' CHECK (value_kind IN ('string', 'number', 'boolean')),
    value_numeric numeric,
    display_type  text     NOT NULL DEFAULT '',
    max_value     text     NOT NULL DEFAULT '',
    raw           jsonb    NOT NULL,
    PRIMARY KEY (collection_id, contract, token_id, ordinal),
    FOREIGN KEY (collection_id, contract, token_id) REFERENCES tokens (collection_id, contract, token_id) ON DELETE CASCADE
);
CREATE INDEX token_traits_value_idx ON token_traits (collection_id, trait_type, value_text);

-- Progress of the paginated token sync. cursor is persisted after every page
-- so a crashed job resumes where it stopped.
CREATE TABLE token_sync_state (
    collection_id bigint      PRIMARY KEY REFERENCES collections (id) ON DELETE CASCADE,
    run           bigint      NOT NULL,
    cursor        text        NOT NULL DEFAULT '',
    pages         integer     NOT NULL DEFAULT 0,
    tokens_seen   bigint      NOT NULL DEFAULT 0,
    started_at    timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL,
    completed_at  timestamptz
);

-- One row per token sync run: what it cost upstream and how far its trait
-- fetch got. list_pages and trait_calls count answered upstream calls.
CREATE TABLE token_sync_runs (
    collection_id       bigint      NOT NULL REFERENCES collections (id) ON DELETE CASCADE,
    run                 bigint      NOT NULL,
    started_at          timestamptz NOT NULL,
    listed_at           timestamptz,          -- the list's last page was stored
    list_pages          integer     NOT NULL DEFAULT 0,
    tokens_listed       bigint      NOT NULL DEFAULT 0,
    traits_source       text        NOT NULL DEFAULT '',
    traits_started_at   timestamptz,
    traits_due          bigint      NOT NULL DEFAULT 0, -- tokens due when the trait fetch started
    traits_fetched      bigint      NOT NULL DEFAULT 0,
    traits_failed       bigint      NOT NULL DEFAULT 0,
    trait_calls         bigint      NOT NULL DEFAULT 0,
    traits_completed_at timestamptz,
    -- Share of the collection's tokens with known traits when rarity was
    -- enqueued for this run (NULL: not enqueued, coverage below the minimum).
    rarity_coverage     double precision,
    updated_at          timestamptz NOT NULL,
    -- Tokens whose traits the source does not know, at completion; the
    -- coverage share above is of the other tokens.
    traits_unknown      bigint      NOT NULL DEFAULT 0,
    PRIMARY KEY (collection_id, run)
);

-- The batch size that last worked for a trait source's batch lookup
-- (OpenSea's POST /api/v2/nfts/batch states no maximum): fetch_traits starts
-- from its configured size and halves it when the source answers that a
-- batch is too large, recording the halved size here so that every replica
-- and the next job start from it. A size learned more than a day ago is
-- probed again from the configured size (the source may have raised its
-- limit).
CREATE TABLE trait_batch_sizes (
    source     text        PRIMARY KEY,
    size       integer     NOT NULL CHECK (size >= 1),
    refused    integer     NOT NULL CHECK (refused > size), -- the smallest size refused as too large
    learned_at timestamptz NOT NULL
);


-- One row per (collection, method): the current rarity computation. Each
-- computation gets a new run_id; its per-token results live in token_rarity
-- under that id, and the previous run's rows are deleted in the same
-- transaction that switches run_id.
CREATE SEQUENCE rarity_run_seq;

CREATE TABLE rarity_runs (
    collection_id   bigint           NOT NULL REFERENCES collections (id) ON DELETE CASCADE,
    method          text             NOT NULL,
    run_id          bigint           NOT NULL UNIQUE,
    version         text             NOT NULL,
    input_hash      text             NOT NULL,
    entropy         double precision NOT NULL,
    token_count     integer          NOT NULL,
    excluded_traits jsonb            NOT NULL DEFAULT '[]',
    notes           jsonb            NOT NULL DEFAULT '{}',
    computed_at     timestamptz      NOT NULL,
    -- Which data the run was computed from, so that a computation that read
    -- older data never replaces a newer run (two compute_rarity jobs may
    -- overlap: one per token sync run). sync_run: the last completed token
    -- sync run (token_sync_state.run) visible in the snapshot the run was
    -- computed from, 0 when the collection had never completed a sync;
    -- snapshot_xmax: the xmax of that REPEATABLE READ snapshot (the first
    -- transaction id not yet assigned when it was taken), which orders two
    -- runs computed from the same sync run. A run replaces the stored one
    -- only if (sync_run, snapshot_xmax) is not older.
    sync_run        bigint           NOT NULL DEFAULT 0,
    snapshot_xmax   bigint           NOT NULL DEFAULT 0,
    -- What the run left unranked: tokens whose traits the source does not
    -- know (unknown_count), and tokens whose traits were not fetched or
    -- failed, which a run leaves out only under NFTSYNC_RARITY_MIN_COVERAGE
    -- below 1 (missing_count). token_count is the ranked tokens.
    unknown_count   integer          NOT NULL DEFAULT 0,
    missing_count   integer          NOT NULL DEFAULT 0,
    PRIMARY KEY (collection_id, method)
);

-- Per-token results of a run: score, rank, unique-attribute count and trait
-- count; method, version and input hash are the run's. Keys are integers and
-- each run writes fresh keys, so the bulk COPY of a 100k-token collection
-- stays cheap. No foreign keys for the same reason: rows belong to their
-- run and are deleted with it.
CREATE TABLE token_rarity (
    run_id        bigint           NOT NULL,
    token_pk      bigint           NOT NULL, -- tokens.id
    score         double precision NOT NULL,
    rank          integer          NOT NULL CHECK (rank >= 1),
    unique_count  integer          NOT NULL,
    trait_count   integer          NOT NULL,
    PRIMARY KEY (run_id, token_pk)
);
-- The client API pages a collection's tokens rarest first: keyset
-- (rank, token_pk) within the current run. This index gives that order
-- directly and carries the per-token results, so a page of 50 reads 50
-- index entries and no heap.
CREATE INDEX token_rarity_page_idx ON token_rarity (run_id, rank, token_pk) INCLUDE (score, unique_count, trait_count);

-- Every token's current rarity per method, with the run's provenance.
CREATE VIEW token_rarity_current AS
SELECT t.collection_id, t.contract, t.token_id, rr.method, rr.version, rr.input_hash,
       r.score, r.rank, r.unique_count, r.trait_count, rr.computed_at
FROM rarity_runs rr
JOIN token_rarity r ON r.run_id = rr.run_id
JOIN tokens t ON t.id = r.token_pk;

-- Per trait value counts and frequencies behind the last rarity run.
CREATE TABLE trait_value_stats (
    collection_id bigint           NOT NULL REFERENCES collections (id) ON DELETE CASCADE,
    method        text             NOT NULL,
    trait_type    text             NOT NULL,
    value         text             NOT NULL,
    is_null       boolean          NOT NULL DEFAULT false,
    count         integer          NOT NULL,
    frequency     double precision NOT NULL,
    PRIMARY KEY (collection_id, method, trait_type, value, is_null)
);

-- Invalid upstream data that was rejected, and why. Nothing in the payload is
-- stored beyond a bounded excerpt.
CREATE TABLE data_quality_events (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    collection_id bigint REFERENCES collections (id) ON DELETE CASCADE,
    source        text        NOT NULL,
    kind          text        NOT NULL,
    operation     text        NOT NULL,
    message       text        NOT NULL,
    job_id        bigint,
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX data_quality_events_collection_idx ON data_quality_events (collection_id, created_at);

-- The view collection_freshness (achieved freshness of every collection and
-- refresh kind) follows collection_streams below: a live stream keeps a floor
-- fresh.

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
    -- a live or bulk request refused lately comes back for a token by
    -- then: spare requests (audits) are refused until it lies behind.
    demand_until        timestamptz,
    created_at          timestamptz      NOT NULL DEFAULT clock_timestamp(),
    updated_at          timestamptz      NOT NULL DEFAULT clock_timestamp(),
    -- A key upstream rejected (401/403) is taken out of the pool until
    -- key_rejected_until (its bucket is paused at least as long); NULL or
    -- past means the key is usable. It tells "no usable key" (every key of a
    -- source rejected) apart from a rate-limit pause.
    key_rejected_until  timestamptz,
    -- Budgets read from the upstream's rate-limit headers: an adaptive
    -- bucket takes its rate and burst from what its API key reports in
    -- X-RateLimit-Limit (requests per window) and X-RateLimit-Reset (the
    -- window, estimated as the longest time to a reset seen for that
    -- limit), shared by every replica; until the first answer it runs at
    -- one request per second. An explicit rate or burst stays an upper cap
    -- (rate_cap, burst_cap; NULL: none).
    adaptive            boolean          NOT NULL DEFAULT false,
    rate_cap            double precision CHECK (rate_cap > 0 AND rate_cap < 'Infinity'),
    burst_cap           double precision CHECK (burst_cap >= 1 AND burst_cap < 'Infinity'),
    -- The budget the key reported: reported_limit requests per
    -- reported_window seconds, last adopted at reported_at.
    reported_limit      bigint           CHECK (reported_limit > 0),
    reported_window     double precision CHECK (reported_window > 0),
    reported_at         timestamptz,
    -- The pacing derived from it before the caps: paced_burst + paced_rate
    -- x window never exceeds reported_limit, so no window of the key's
    -- length (aligned or not) sees more requests than the key allows.
    paced_rate          double precision CHECK (paced_rate > 0 AND paced_rate < 'Infinity'),
    paced_burst         double precision CHECK (paced_burst >= 1 AND paced_burst < 'Infinity')
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
    class       text        CHECK (class IN ('priority', 'live', 'bulk', 'spare')),
    holder      text,
    acquired_at timestamptz,
    expires_at  timestamptz,
    PRIMARY KEY (bucket_key, slot)
) WITH (fillfactor = 50);

-- Lease identifiers, so a late release never frees a slot re-leased after
-- its lease expired.
CREATE SEQUENCE rate_limit_lease_id_seq;

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
-- and cover one day, week (starting Monday) or month; nftsync_ensure_partitions
-- and nftsync_drop_partitions (functions.sql) create and drop them.

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

-- The current value per collection and source (and window); fetched_at is
-- the latest observation.
CREATE VIEW floor_price_current AS
SELECT collection_id, source, amount, currency, decimals, owners, last_seen_at AS fetched_at, source_as_of, changed_at
FROM floor_price_latest;

CREATE VIEW volume_current AS
SELECT collection_id, source, time_window, amount, currency, decimals, sales, owners, last_seen_at AS fetched_at, source_as_of, changed_at
FROM volume_latest;

-- The volume of a collection over all marketplace subgraphs together, per
-- window and currency. Marketplaces cover disjoint trades (each indexes its
-- own exchange contracts), so their figures add up; OpenSea's own totals
-- (source 'opensea') are never part of it, since its trades are the Seaport
-- subgraph's. sources names the marketplaces summed; a marketplace that
-- never traded the collection has no row and adds nothing. fetched_at is
-- the oldest of the summed observations (the total is no fresher than its
-- stalest part), source_as_of the oldest head-block time.
CREATE VIEW volume_all_marketplaces AS
SELECT collection_id, time_window, currency, max(decimals) AS decimals,
       sum(amount) AS amount, sum(sales) AS sales,
       array_agg(source ORDER BY source) AS sources,
       min(last_seen_at) AS fetched_at, min(source_as_of) AS source_as_of
FROM volume_latest
WHERE source LIKE 'subgraph:%'
GROUP BY collection_id, time_window, currency;

-- Live market data from OpenSea's Stream API: which replica listens to
-- which collections (shard leases), each collection's stream state, and the
-- sales ledger fed by item_sold events and the events backfill.
--
-- Collections are spread over a fixed number of shards (collection id
-- modulo the shard count). Each shard is held by at most one replica under
-- a lease (internal/shard): renewed every few seconds, released on a
-- graceful stop, free to take once lease_until has passed, so a dead
-- replica's shards move to a live one within about the TTL plus one renew
-- period.

-- One row per shard (0 .. shard count - 1). owner is the replica holding
-- the lease (NULL: free); the lease is valid while lease_until lies in the
-- future. acquired_at: when the current owner took it.
CREATE TABLE stream_shards (
    shard        integer     PRIMARY KEY CHECK (shard >= 0),
    owner        text        CHECK (owner <> ''),
    lease_until  timestamptz,
    acquired_at  timestamptz,
    updated_at   timestamptz NOT NULL,
    CHECK ((owner IS NULL) = (lease_until IS NULL))
);

-- Live replicas of the stream consumer: each renews its row with every
-- lease renewal; a replica whose lease_until has passed counts as gone (its
-- row is deleted by the next replica that looks). The fair share of a
-- replica is computed over the live rows. max_shards: the most shards the
-- replica may hold (its API keys bound its connections; NULL: no cap).
CREATE TABLE stream_replicas (
    replica      text        PRIMARY KEY CHECK (replica <> ''),
    started_at   timestamptz NOT NULL,
    heartbeat_at timestamptz NOT NULL,
    lease_until  timestamptz NOT NULL,
    max_shards   integer     CHECK (max_shards >= 0)
);

-- The stream state of each collection a replica has joined (or tried to).
--   state: joining (topic join sent), live (joined, events flow), down (the
--   connection or the topic is lost; the planner polls the floor as usual).
--   owner: the replica that wrote the state; shard: the collection's shard
--   when the state was written (NULL before any shard row existed).
--   since: when the state last changed; updated_at: the latest mark (the
--   consumer marks live collections again every 15 s, so a live row whose
--   updated_at is older than the liveness TTL belongs to a dead replica).
--   last_event_at / last_event_sent_at: when the latest event was stored and
--   the upstream's sent_at of it.
--   bootstrapped_at: the last refill of the book over REST.
--   needs_bootstrap: a reconcile found the stream's floor different from
--   /stats; the owner re-bootstraps the book and clears it.
--   sales_covered_since: the start of the gap-free sales ledger (NULL: no
--   gap-free window; a reconnect whose backfill could not close the gap
--   sets it anew).
CREATE TABLE collection_streams (
    collection_id       bigint      PRIMARY KEY REFERENCES collections (id) ON DELETE CASCADE,
    shard               integer     CHECK (shard >= 0),
    state               text        NOT NULL CHECK (state IN ('joining', 'live', 'down')),
    owner               text        NOT NULL,
    since               timestamptz NOT NULL,
    last_event_at       timestamptz,
    last_event_sent_at  timestamptz,
    bootstrapped_at     timestamptz,
    needs_bootstrap     boolean     NOT NULL DEFAULT false,
    sales_covered_since timestamptz,
    updated_at          timestamptz NOT NULL
);
CREATE INDEX collection_streams_owner_idx ON collection_streams (owner) WHERE needs_bootstrap;

-- Achieved freshness of every tracked collection and refresh kind: the age
-- of the last successful refresh (NULL when none yet), its target (the
-- pair's own, else the refresh kind's), and how far past the target it is
-- (overdue_seconds <= 0 means fresh). mode says how the data is kept:
-- 'live' for a floor a stream keeps current (collection_streams live and
-- marked within the last 60 s, the consumer marking every 15 s), and for
-- the volume of such a collection whose sales ledger has covered the last
-- day (sales_covered_since at or before now - 1 day: the 1-day window is
-- live from the ledger, the longer ones come with the floor's reconcile);
-- the last success of a live pair is the latest of the last poll and the
-- last live mark; 'polled' otherwise; live_marked_at is then the stream's
-- last live mark.
CREATE VIEW collection_freshness AS
SELECT c.id AS collection_id, c.source, c.slug, c.status, s.kind,
       COALESCE(s.target_age_seconds, t.target_age_seconds) AS target_age_seconds,
       e.last_success_at,
       EXTRACT(EPOCH FROM (now() - e.last_success_at))::float8 AS age_seconds,
       (EXTRACT(EPOCH FROM (now() - e.last_success_at)) - COALESCE(s.target_age_seconds, t.target_age_seconds))::float8 AS overdue_seconds,
       (e.last_success_at IS NULL
        OR now() - e.last_success_at > make_interval(secs => COALESCE(s.target_age_seconds, t.target_age_seconds))) AS stale,
       e.mode, cs.updated_at AS live_marked_at
FROM collection_schedules s
JOIN collections c ON c.id = s.collection_id
LEFT JOIN refresh_kinds t ON t.refresh_kind = s.kind
LEFT JOIN collection_streams cs ON cs.collection_id = s.collection_id
    AND (s.kind = 'floor_price' OR (s.kind = 'volume' AND cs.sales_covered_since <= now() - interval '1 day'))
    AND cs.state = 'live' AND cs.updated_at > now() - interval '60 seconds'
CROSS JOIN LATERAL (
    SELECT CASE WHEN cs.collection_id IS NULL THEN s.last_success_at
                ELSE GREATEST(s.last_success_at, cs.updated_at) END::timestamptz AS last_success_at,
           CASE WHEN cs.collection_id IS NULL THEN 'polled' ELSE 'live' END AS mode
) e;

-- The sales ledger: one row per sale, from the stream's item_sold events
-- and the events endpoint's sale events (source names which). One
-- transaction may fill several orders, so a sale is (tx_hash, order_hash);
-- order_hash is '' when the source gives none. amount is the total paid in
-- currency (exact, scaled by decimals); eth_price the price of one unit of
-- currency in ETH when the source told it (NULL: unknown).
CREATE TABLE sales (
    id            bigint          NOT NULL GENERATED ALWAYS AS IDENTITY UNIQUE,
    collection_id bigint          NOT NULL REFERENCES collections (id) ON DELETE CASCADE,
    tx_hash       text            NOT NULL CHECK (tx_hash <> ''),
    order_hash    text            NOT NULL,
    chain         text            NOT NULL,
    contract      text            NOT NULL,
    token_id      text            NOT NULL CHECK (token_id ~ '^[0-9]+$'),
    amount        numeric(78, 18) NOT NULL CHECK (amount >= 0),
    currency      text            NOT NULL CHECK (currency <> ''),
    decimals      smallint        NOT NULL CHECK (decimals BETWEEN 0 AND 36),
    eth_price     numeric         CHECK (eth_price >= 0),
    quantity      bigint          NOT NULL DEFAULT 1 CHECK (quantity >= 1),
    sold_at       timestamptz     NOT NULL,
    buyer         text            NOT NULL DEFAULT '',
    seller        text            NOT NULL DEFAULT '',
    source        text            NOT NULL,
    inserted_at   timestamptz     NOT NULL DEFAULT now(),
    PRIMARY KEY (collection_id, tx_hash, order_hash)
);
-- recentSales and the ledger's 1-day volume: newest first per collection.
CREATE INDEX sales_collection_sold_idx ON sales (collection_id, sold_at DESC, id DESC);
-- lastSale per token.
CREATE INDEX sales_token_idx ON sales (collection_id, contract, token_id, sold_at DESC, id DESC);

-- Client API: an audit log of operator actions (GraphQL mutations and the
-- CLI share it).

-- One row per operator action: who (actor), what (action, detail), on which
-- collection (id and slug, kept after the collection is untracked), and the
-- River jobs a refresh inserted in the same transaction. The refresh cooldown
-- reads the latest 'refresh' row of a collection.
CREATE TABLE admin_audit (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    actor         text        NOT NULL,
    action        text        NOT NULL,
    collection_id bigint,
    slug          text        NOT NULL DEFAULT '',
    detail        jsonb       NOT NULL DEFAULT '{}',
    job_ids       bigint[]    NOT NULL DEFAULT '{}',
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX admin_audit_collection_idx ON admin_audit (collection_id, action, created_at DESC);

-- Several sources per collection: which sources are configured and what
-- they serve, per-collection routing of each refresh kind to sources, and
-- cross-source checks.

-- Sources the workers are configured with. Every worker writes its own
-- configuration at start (the last one started wins). kinds are the refresh
-- kinds the source can serve; default_kinds those it serves every
-- collection that has no route of its own for that kind.
CREATE TABLE indexer_sources (
    source        text        PRIMARY KEY,
    kinds         text[]      NOT NULL,
    default_kinds text[]      NOT NULL,
    updated_at    timestamptz NOT NULL DEFAULT now(),
    CHECK (default_kinds <@ kinds)
);
-- Every element of kinds must be a refresh kind (an array cannot have a
-- foreign key; the trigger checks it instead).
CREATE TRIGGER indexer_sources_kinds_check BEFORE INSERT OR UPDATE OF kinds ON indexer_sources
    FOR EACH ROW EXECUTE FUNCTION nftsync_check_refresh_kinds();

-- A collection's own choice of sources for a kind. Without a row the kind
-- comes from the collection's own source plus every source that serves the
-- kind by default.
CREATE TABLE collection_routes (
    collection_id bigint      NOT NULL REFERENCES collections (id) ON DELETE CASCADE,
    kind          text        NOT NULL REFERENCES refresh_kinds (refresh_kind),
    sources       text[]      NOT NULL CHECK (cardinality(sources) > 0),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (collection_id, kind)
);

-- One comparison of the same figure from two sources per refresh round:
-- source a (the reference, e.g. OpenSea's own 1-day volume) against source b
-- (e.g. the Seaport subgraph's estimate, with the bounds its daily totals
-- allow). agree is false when a lies outside b's bounds (or b itself when
-- b has none) widened by the relative tolerance; such a check also records
-- one data-quality event.
CREATE TABLE source_cross_checks (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    collection_id  bigint          NOT NULL REFERENCES collections (id) ON DELETE CASCADE,
    metric         text            NOT NULL,
    round          timestamptz     NOT NULL,
    source_a       text            NOT NULL,
    value_a        numeric(78, 18) NOT NULL,
    fetched_at_a   timestamptz     NOT NULL,
    source_b       text            NOT NULL,
    value_b        numeric(78, 18) NOT NULL,
    low_b          numeric(78, 18),
    high_b         numeric(78, 18),
    fetched_at_b   timestamptz     NOT NULL,
    source_as_of_b timestamptz,
    tolerance      numeric         NOT NULL CHECK (tolerance >= 0),
    agree          boolean         NOT NULL,
    checked_at     timestamptz     NOT NULL DEFAULT now(),
    UNIQUE (collection_id, metric, source_a, source_b, round)
);
CREATE INDEX source_cross_checks_disagree_idx ON source_cross_checks (checked_at) WHERE NOT agree;

-- Per-collection data version for the API's response cache, and change
-- notifications for its subscriptions.
--
-- Every statement that writes data the client API serves bumps the version
-- of each collection it touched, in the writing transaction (statement-level
-- triggers with transition tables, so writers need no code for it). The API
-- caches a response with the versions of the collections it read, read
-- before the data; it serves the cached response only while those versions
-- are unchanged, so a cached answer is never stale past a commit. The bump
-- holds the version row's lock until commit; one transaction bumps a
-- collection at most once, and a statement bumps its collections in id
-- order, so writers of different collections never wait for each other.
--
-- tokens_version counts the subset of those writes that token answers can
-- see: everything but floors, volumes, data-quality events and routes (see
-- nftsync_bump_data_versions). The API caches a tokens(...) or token(...)
-- answer by it, so a floor observed every few seconds does not throw away
-- the collection's cached page of tokens with their traits.
CREATE TABLE collection_data_versions (
    collection_id bigint  PRIMARY KEY REFERENCES collections (id) ON DELETE CASCADE,
    version       bigint  NOT NULL DEFAULT 1 CHECK (version >= 1),
    changed_xact  xid8    NOT NULL,
    tokens_version      bigint NOT NULL DEFAULT 1 CHECK (tokens_version >= 1),
    tokens_changed_xact xid8
);

-- The data-version triggers on every table nftsync_api_data_tables()
-- names (functions.sql). Idempotent: run it again after changing the list.
DO $$
DECLARE
    t record;
    ev text;
BEGIN
    FOR t IN SELECT * FROM nftsync_api_data_tables() LOOP
        FOREACH ev IN ARRAY ARRAY['insert', 'update', 'delete'] LOOP
            EXECUTE format('DROP TRIGGER IF EXISTS nftsync_data_version_%s ON %I', ev, t.table_name);
            EXECUTE format('CREATE TRIGGER nftsync_data_version_%s AFTER %s ON %I REFERENCING %s TABLE AS changed '
                           'FOR EACH STATEMENT EXECUTE FUNCTION nftsync_touch_data_versions(%L)',
                           ev, upper(ev), t.table_name, CASE ev WHEN 'delete' THEN 'OLD' ELSE 'NEW' END, t.collection_ids);
        END LOOP;
    END LOOP;
END
$$;
