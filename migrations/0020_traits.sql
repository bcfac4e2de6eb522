-- Per-token trait fetching. The list endpoint gives identifiers, metadata_url
-- and updated_at; traits come one token at a time from the collection's trait
-- source (OpenSea's single-NFT endpoint or the token's metadata_url).

-- Where a collection's per-token traits come from.
ALTER TABLE collections
    ADD COLUMN traits_source text NOT NULL DEFAULT 'opensea' CHECK (traits_source IN ('opensea', 'token_uri'));

-- traits_checked_at: when the token's traits were last fetched (or read from a
-- list answer that carried them); NULL = never. traits_as_of: the listed
-- updated_at the stored traits belong to; a token is due for a fetch when it
-- was never checked or its listed updated_at moved. traits_error: why the
-- last fetch failed for this token ('' when it did not).
ALTER TABLE tokens
    ADD COLUMN traits_checked_at timestamptz,
    ADD COLUMN traits_as_of      timestamptz,
    ADD COLUMN traits_error      text NOT NULL DEFAULT '';
UPDATE tokens SET traits_checked_at = fetched_at, traits_as_of = source_updated_at WHERE traits_known;
CREATE INDEX tokens_traits_due_idx ON tokens (collection_id, id)
    WHERE traits_checked_at IS NULL OR traits_as_of IS DISTINCT FROM source_updated_at;

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
    PRIMARY KEY (collection_id, run)
);
