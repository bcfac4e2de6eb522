-- Core schema: tracked collections, their per-kind refresh schedule, market
-- snapshots (floor and volume history), metadata, tokens with traits, rarity
-- results and data-quality events. Every write path is an idempotent upsert
-- on a natural key.

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
    UNIQUE (source, slug)
);

CREATE TABLE collection_contracts (
    collection_id bigint NOT NULL REFERENCES collections (id) ON DELETE CASCADE,
    chain         text   NOT NULL,
    address       text   NOT NULL CHECK (address = lower(address)),
    PRIMARY KEY (collection_id, chain, address)
);

-- One row per (collection, data kind): how often to refresh it and when it is
-- next due. The planner claims due rows with FOR UPDATE SKIP LOCKED.
CREATE TABLE collection_schedules (
    collection_id    bigint      NOT NULL REFERENCES collections (id) ON DELETE CASCADE,
    kind             text        NOT NULL CHECK (kind IN ('floor_price', 'volume', 'metadata', 'tokens')),
    interval_seconds integer     NOT NULL CHECK (interval_seconds > 0),
    next_due_at      timestamptz NOT NULL DEFAULT now(),
    last_planned_at  timestamptz,
    last_success_at  timestamptz,
    PRIMARY KEY (collection_id, kind)
);
CREATE INDEX collection_schedules_due_idx ON collection_schedules (next_due_at);

-- Floor price history. amount NULL means the source reported no floor.
-- as_of_bucket is the planned refresh time carried by the job, so a retried
-- job upserts the same row instead of adding one.
CREATE TABLE floor_price_snapshots (
    collection_id bigint        NOT NULL REFERENCES collections (id) ON DELETE CASCADE,
    source        text          NOT NULL,
    as_of_bucket  timestamptz   NOT NULL,
    amount        numeric(78, 18) CHECK (amount >= 0),
    currency      text          NOT NULL,
    decimals      smallint      NOT NULL CHECK (decimals BETWEEN 0 AND 36),
    owners        bigint        CHECK (owners >= 0),
    fetched_at    timestamptz   NOT NULL,
    source_as_of  timestamptz,
    PRIMARY KEY (collection_id, source, as_of_bucket)
);

CREATE TABLE volume_snapshots (
    collection_id bigint        NOT NULL REFERENCES collections (id) ON DELETE CASCADE,
    source        text          NOT NULL,
    time_window   text          NOT NULL CHECK (time_window IN ('1d', '7d', '30d', 'all')),
    as_of_bucket  timestamptz   NOT NULL,
    amount        numeric(78, 18) NOT NULL CHECK (amount >= 0),
    currency      text          NOT NULL,
    decimals      smallint      NOT NULL CHECK (decimals BETWEEN 0 AND 36),
    sales         bigint        CHECK (sales >= 0),
    owners        bigint        CHECK (owners >= 0),
    fetched_at    timestamptz   NOT NULL,
    source_as_of  timestamptz,
    PRIMARY KEY (collection_id, source, time_window, as_of_bucket)
);

CREATE INDEX floor_price_snapshots_latest_idx ON floor_price_snapshots (collection_id, source, fetched_at DESC);
CREATE INDEX volume_snapshots_latest_idx ON volume_snapshots (collection_id, source, time_window, fetched_at DESC);

-- The latest snapshot per collection and source.
CREATE VIEW floor_price_current AS
SELECT DISTINCT ON (collection_id, source) *
FROM floor_price_snapshots
ORDER BY collection_id, source, fetched_at DESC;

CREATE VIEW volume_current AS
SELECT DISTINCT ON (collection_id, source, time_window) *
FROM volume_snapshots
ORDER BY collection_id, source, time_window, fetched_at DESC;

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
    fetched_at        timestamptz NOT NULL
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
    PRIMARY KEY (collection_id, contract, token_id)
);

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
CREATE INDEX token_rarity_rank_idx ON token_rarity (run_id, rank);

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
