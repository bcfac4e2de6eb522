-- Trait provenance per token: which source produced a token's stored traits.
-- fetched_at is traits_checked_at and the source's own as-of time is
-- traits_as_of (the listed updated_at the traits belong to). Values: the
-- per-token source that fetched them ('opensea': the single-NFT endpoint,
-- 'token_uri': the token's metadata_url), or '<source>:list' when the list
-- answer carried them ('opensea:list'); '' = no traits stored yet.
ALTER TABLE tokens ADD COLUMN traits_source text NOT NULL DEFAULT '';

-- Backfill. A list answer that carried traits stamped traits_checked_at with
-- the list's fetched_at; a later list without traits leaves traits_checked_at
-- alone, and a per-token fetch stamps its own time, so equal times mean the
-- list. Otherwise the traits came from the per-token source of the last run
-- that started fetching traits before they were checked, or, with no such
-- run, the collection's current traits source.
UPDATE tokens t
SET traits_source = CASE
    WHEN t.traits_checked_at = t.fetched_at THEN c.source || ':list'
    ELSE COALESCE((SELECT r.traits_source FROM token_sync_runs r
                   WHERE r.collection_id = t.collection_id AND r.traits_source <> ''
                     AND r.traits_started_at <= t.traits_checked_at
                   ORDER BY r.traits_started_at DESC LIMIT 1), c.traits_source)
    END
FROM collections c
WHERE c.id = t.collection_id AND t.traits_known;
