-- The client API pages a collection's tokens rarest first: keyset
-- (rank, token_pk) within the current run. This index gives that order
-- directly, so a page of 50 reads 50 index entries instead of the run's
-- every row followed by a sort, and carries the per-token results so the
-- page needs no visit to token_rarity's heap. It supersedes the
-- (run_id, rank) index, which only the API read.
CREATE INDEX token_rarity_page_idx ON token_rarity (run_id, rank, token_pk) INCLUDE (score, unique_count, trait_count);
DROP INDEX token_rarity_rank_idx;

-- collection(slug:) and tokens(collection:) look a collection up by slug
-- whatever its source (the lowest id first).
CREATE INDEX collections_slug_idx ON collections (slug, id);
