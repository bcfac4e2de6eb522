-- Several sources per collection: which sources exist and what they serve,
-- per-collection routing of each data kind to sources, cross-source checks,
-- and the source's own as-of time on metadata.

-- Sources the workers are configured with. Every worker writes its own
-- configuration at start (the last one started wins). kinds are the data
-- kinds the source can serve; default_kinds those it serves every
-- collection that has no route of its own for that kind.
CREATE TABLE indexer_sources (
    source        text        PRIMARY KEY,
    kinds         text[]      NOT NULL,
    default_kinds text[]      NOT NULL,
    updated_at    timestamptz NOT NULL DEFAULT now(),
    CHECK (kinds <@ ARRAY['floor_price', 'volume', 'metadata', 'tokens']),
    CHECK (default_kinds <@ kinds)
);

-- A collection's own choice of sources for a kind. Without a row the kind
-- comes from the collection's own source plus every source that serves the
-- kind by default.
CREATE TABLE collection_routes (
    collection_id bigint      NOT NULL REFERENCES collections (id) ON DELETE CASCADE,
    kind          text        NOT NULL CHECK (kind IN ('floor_price', 'volume', 'metadata', 'tokens')),
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

ALTER TABLE collection_metadata ADD COLUMN source_as_of timestamptz;
