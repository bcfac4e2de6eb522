-- Tokens whose traits the source does not know, and batch trait lookups.
--
-- A token is in one of four trait states:
--   pending  never fetched, or its listed updated_at moved since
--            (traits_checked_at IS NULL or traits_as_of <> source_updated_at);
--   known    the source answered a list of traits, possibly empty
--            (traits_known);
--   unknown  the source answered, and said nothing about traits: "traits":
--            null, or a metadata document without attributes
--            (traits_unknown); the token is left out of rarity and unranked;
--   failed   the fetch failed for good (traits_error <> '').
-- An unknown token is fetched again when its listed updated_at moves, like
-- every other token; when it then has traits it joins the next rarity run.
ALTER TABLE tokens
    ADD COLUMN traits_unknown boolean NOT NULL DEFAULT false,
    ADD CONSTRAINT tokens_traits_known_or_unknown CHECK (NOT (traits_known AND traits_unknown));

-- Before this migration an unknown answer was recorded as a failed fetch
-- with this message (jobs/fetch_traits.go); those tokens are unknown.
UPDATE tokens SET traits_unknown = true, traits_error = ''
WHERE NOT traits_known AND traits_error = 'the answer has no traits (null or absent)';

-- What a rarity run left unranked: tokens whose traits the source does not
-- know (unknown_count), and tokens whose traits were not fetched or whose
-- fetch failed, which a run only leaves out under NFTSYNC_RARITY_MIN_COVERAGE
-- below 1 (missing_count). token_count is the ranked tokens.
ALTER TABLE rarity_runs
    ADD COLUMN unknown_count integer NOT NULL DEFAULT 0,
    ADD COLUMN missing_count integer NOT NULL DEFAULT 0;

-- The coverage share on token_sync_runs is now of the tokens whose traits
-- the source can tell (known + pending + failed); unknown tokens of the run
-- at completion are kept beside it.
ALTER TABLE token_sync_runs
    ADD COLUMN traits_unknown bigint NOT NULL DEFAULT 0;

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
