-- Batched writes of the stream consumer (internal/streamer): one statement
-- per kind of row for everything collected in a flush interval.

-- name: TokensMarkMetadataUpdated :many
-- Marks tokens whose metadata changed upstream (the stream's
-- item_metadata_updated) due for a trait fetch: their listed updated_at
-- moves to the event's time, so TokenTraitsDue selects them. Returns the
-- collections with a token marked (tokens not synced yet are skipped: the
-- token sync lists them with their traits due anyway).
UPDATE tokens t
SET source_updated_at = u.at
FROM (SELECT unnest(@collection_ids::bigint[]) AS collection_id, unnest(@contracts::text[]) AS contract,
             unnest(@token_ids::text[]) AS token_id, unnest(@ats::timestamptz[]) AS at) AS u
WHERE t.collection_id = u.collection_id AND t.contract = u.contract AND t.token_id = u.token_id
  AND (t.source_updated_at IS NULL OR t.source_updated_at < u.at)
RETURNING t.collection_id;
